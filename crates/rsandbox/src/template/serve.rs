//! The payload side: [`serve_forks`], called by the template's code at its
//! ready point. The template process stays in it for good; each fork
//! returns from it, in the new box, with the request's argument.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::protocol::{self, Reply, EXITED, FD_ENV, FORKED, READY, REQUEST_LEN};

/// Serve fork requests on the socket named by `RSANDBOX_TEMPLATE_FD`.
///
/// Returns `Ok(arg)` only in a forked child, whose stdin, stdout and stderr
/// are then the caller's fds for that fork and which no longer holds the
/// template's socket. In the template itself it never returns: when the
/// caller closes the socket it kills its live children, reaps them and
/// exits 0. `Err` means the environment names no usable socket (the
/// program was not started by `Sandbox::template`).
pub fn serve_forks() -> io::Result<u64> {
    let sock = template_fd()?;
    protocol::send(sock, &protocol::reply_bytes(&reply(READY, 0, 0)), &[])?;
    let mut kids: Vec<(i32, RawFd)> = Vec::new();
    loop {
        let mut polls = poll_set(sock, &kids);
        // SAFETY: polls is a live array of pollfd of the given length.
        let n = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        reap_ready(sock, &polls[1..], &mut kids)?;
        if polls[0].revents != 0 {
            if let Some(arg) = serve_one(sock, &mut kids)? {
                // In the fork: leave the template's buffers unfreed, so the
                // library itself neither allocates nor frees after fork.
                std::mem::forget(polls);
                std::mem::forget(kids);
                return Ok(arg);
            }
        }
    }
}

/// The socket fd from the environment.
fn template_fd() -> io::Result<RawFd> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{FD_ENV} is not set to an fd"),
        )
    };
    let v = std::env::var(FD_ENV).map_err(|_| bad())?;
    let fd: RawFd = v.parse().map_err(|_| bad())?;
    // SAFETY: F_GETFD only queries the fd.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(bad());
    }
    Ok(fd)
}

fn reply(kind: u32, pid: i32, status: i32) -> Reply {
    Reply { kind, pid, status }
}

fn poll_set(sock: RawFd, kids: &[(i32, RawFd)]) -> Vec<libc::pollfd> {
    let mut v = vec![libc::pollfd {
        fd: sock,
        events: libc::POLLIN,
        revents: 0,
    }];
    v.extend(kids.iter().map(|&(_, fd)| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }));
    v
}

/// Reap every child whose pidfd polled readable and report its status.
fn reap_ready(sock: RawFd, polls: &[libc::pollfd], kids: &mut Vec<(i32, RawFd)>) -> io::Result<()> {
    for p in polls.iter().filter(|p| p.revents != 0) {
        let Some(i) = kids.iter().position(|&(_, fd)| fd == p.fd) else {
            continue;
        };
        let (pid, fd) = kids.swap_remove(i);
        let status = reap(fd);
        // SAFETY: fd is our pidfd, closed once here.
        unsafe { libc::close(fd) };
        protocol::send(
            sock,
            &protocol::reply_bytes(&reply(EXITED, pid, status)),
            &[],
        )?;
    }
    Ok(())
}

/// waitid on a pidfd; the raw wait status (`W*` macros' encoding).
fn reap(pidfd: RawFd) -> i32 {
    // SAFETY: siginfo_t is plain data, filled by waitid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: P_PIDFD (3) with our own child's pidfd.
    let r = unsafe {
        libc::waitid(
            3 as libc::idtype_t,
            pidfd as libc::id_t,
            &mut info,
            libc::WEXITED,
        )
    };
    if r < 0 {
        return 0x7f00; // "stopped" encoding: never a real exit here
    }
    // SAFETY: waitid filled a SIGCHLD siginfo.
    let st = unsafe { info.si_status() };
    match info.si_code {
        libc::CLD_EXITED => (st & 0xff) << 8,
        libc::CLD_DUMPED => st | 0x80,
        _ => st,
    }
}

/// Read one request and fork for it. `Some(arg)` in the child.
fn serve_one(sock: RawFd, kids: &mut Vec<(i32, RawFd)>) -> io::Result<Option<u64>> {
    let mut buf = [0u8; REQUEST_LEN];
    let (n, fds) = protocol::recv(sock, &mut buf)?;
    if n == 0 {
        shut_down(kids);
    }
    if n != REQUEST_LEN || fds.len() != 3 {
        return Ok(None); // a malformed request is dropped (its fds close)
    }
    let arg = u64::from_ne_bytes(buf);
    // SAFETY: fork; the child only makes raw syscalls before returning.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        become_child(sock, &fds, kids);
        std::mem::forget(fds); // their numbers were closed raw above
        return Ok(Some(arg));
    }
    drop(fds);
    let pidfd = crate::sys::pidfd_open(pid)?;
    kids.push((pid, pidfd));
    protocol::send(
        sock,
        &protocol::reply_bytes(&reply(FORKED, pid, 0)),
        &[pidfd],
    )?;
    Ok(None)
}

/// In the forked child: die with the template, take the request's stdio,
/// drop the template's fds. Raw syscalls only.
fn become_child(sock: RawFd, fds: &[OwnedFd], kids: &[(i32, RawFd)]) {
    // SAFETY: plain syscalls on fds this process holds.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        for (i, fd) in fds.iter().enumerate() {
            libc::dup2(fd.as_raw_fd(), i as RawFd);
        }
        for fd in fds {
            if fd.as_raw_fd() > 2 {
                libc::close(fd.as_raw_fd());
            }
        }
        for &(_, fd) in kids {
            libc::close(fd);
        }
        libc::close(sock);
    }
}

/// The caller closed the socket: kill and reap every child, then exit.
fn shut_down(kids: &[(i32, RawFd)]) -> ! {
    for &(_, fd) in kids {
        // SAFETY: signal and reap our own children through their pidfds.
        unsafe {
            libc::syscall(libc::SYS_pidfd_send_signal, fd, libc::SIGKILL, 0usize, 0u32);
        }
        reap(fd);
    }
    // SAFETY: ends the template process.
    unsafe { libc::_exit(0) }
}
