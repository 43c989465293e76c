//! The payload side: [`serve_forks`], called by the template's code at its
//! ready point. The template process stays in it for good; each fork
//! returns from it, in the new box, with the request's argument.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::isolate::{Isolation, Step};
use super::protocol::{
    self, Reply, CONFIG_GATE, CONFIG_KNOWN, CONFIG_LANDLOCK, CONFIG_MAX, CONFIG_NAMESPACES,
    CONFIG_PROC, CONFIG_SPLIT, EXITED, FAILED, FD_ENV, FORKED, READY, REQUEST_LEN,
};
use super::spare::{self, Made, Spares};

/// Serve fork requests on the socket named by `RSANDBOX_TEMPLATE_FD`.
///
/// Returns `Ok(arg)` only in a forked child, whose stdin, stdout and stderr
/// are then the caller's fds for that fork and which no longer holds the
/// template's socket. In the template itself it never returns: when the
/// caller closes the socket it kills its live children, reaps them and
/// exits 0. `Err` means the environment names no usable socket (the
/// program was not started by `Sandbox::template`).
///
/// In a template made with `TemplateOptions::fork_namespaces`, the fork
/// returns as pid 1 of its own namespaces, without capabilities, under
/// the description's seccomp filter (see `isolate`). It is made with a raw
/// `clone`, so glibc's fork handlers do not run: call this with no other
/// thread holding a lock (malloc's included), best with no other thread.
pub fn serve_forks() -> io::Result<u64> {
    let sock = template_fd()?;
    let (flags, iso) = read_config(sock)?;
    let ready = reply(READY, 0, flags as i32);
    protocol::send(sock, &protocol::reply_bytes(&ready), &[])?;
    // A gated request carries a fourth fd (see `CONFIG_GATE`).
    let nfds = 3 + usize::from(flags & CONFIG_GATE != 0);
    let mut kids: Vec<(i32, RawFd)> = Vec::new();
    let mut spares = Spares::default();
    if let Some(arg) = iso.as_ref().and_then(|i| spares.fill(sock, &kids, i)) {
        // In the fork: free nothing of the template's.
        std::mem::forget(kids);
        std::mem::forget(iso);
        std::mem::forget(spares);
        return Ok(arg);
    }
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
            if let Some(arg) = serve_one(sock, &mut kids, iso.as_ref(), &mut spares, nfds)? {
                // In the fork: leave the template's buffers unfreed, so the
                // library itself neither allocates nor frees after fork.
                std::mem::forget(polls);
                std::mem::forget(kids);
                std::mem::forget(iso);
                std::mem::forget(spares);
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

/// The caller's `CONFIG` message, queued before the box started (so it
/// is there without waiting; a caller sends no request before `READY`):
/// the flags this version understood, and the prepared isolation when
/// forks get namespaces. None queued: plain, ungated forks.
fn read_config(sock: RawFd) -> io::Result<(u32, Option<Isolation>)> {
    let mut buf = vec![0u8; CONFIG_MAX];
    let (n, fds) = match protocol::recv_with(sock, &mut buf, libc::MSG_DONTWAIT) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((0, None)),
        Err(e) => return Err(e),
    };
    if n == 0 {
        return Ok((0, None)); // the caller is gone: the serving loop sees EOF
    }
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "a bad template CONFIG message");
    let (flags, filter) = protocol::parse_config(&buf[..n]).ok_or_else(bad)?;
    let split = flags & CONFIG_SPLIT != 0;
    // The Landlock ruleset forks apply comes as the message's one fd.
    let landlock = match (flags & CONFIG_LANDLOCK != 0, fds.into_iter().next()) {
        (true, None) => return Err(bad()),
        (true, fd) => fd,
        (false, _) => None,
    };
    let masked_proc = flags & CONFIG_PROC != 0;
    let iso = (flags & CONFIG_NAMESPACES != 0)
        .then(|| Isolation::prepare(filter, split, landlock, masked_proc));
    Ok((flags & CONFIG_KNOWN, iso))
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
        let status = protocol::reap(fd);
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

/// Read one request (`nfds` fds: stdio, and the gate when gated) and fork
/// for it. `Some(arg)` in the child.
fn serve_one(
    sock: RawFd,
    kids: &mut Vec<(i32, RawFd)>,
    iso: Option<&Isolation>,
    spares: &mut Spares,
    nfds: usize,
) -> io::Result<Option<u64>> {
    let mut buf = [0u8; REQUEST_LEN];
    let (n, fds) = protocol::recv(sock, &mut buf)?;
    if n == 0 {
        spares.discard();
        shut_down(kids);
    }
    if n != REQUEST_LEN || fds.len() != nfds {
        return Ok(None); // a malformed request is dropped (its fds close)
    }
    let arg = u64::from_ne_bytes(buf);
    match iso {
        None => plain_one(sock, kids, arg, fds),
        Some(iso) => namespaced_one(sock, kids, iso, spares, arg, fds),
    }
}

/// A namespaced fork for one request: the oldest spare made ahead takes
/// it (or one made now, if there is none or all died), then spares are
/// made again while the caller runs this one. `Some(arg)` in the child.
fn namespaced_one(
    sock: RawFd,
    kids: &mut Vec<(i32, RawFd)>,
    iso: &Isolation,
    spares: &mut Spares,
    arg: u64,
    fds: Vec<OwnedFd>,
) -> io::Result<Option<u64>> {
    // A fixed array: the on-demand child below walks it (no freeing there).
    let mut all = [-1; 4];
    for (slot, fd) in all.iter_mut().zip(&fds) {
        *slot = fd.as_raw_fd();
    }
    let raw = &all[..fds.len()];
    // A spare that died (killed) is skipped for the next.
    let handed = std::iter::from_fn(|| spares.pop())
        .map(|s| s.hand_over(arg, raw))
        .find(|r| *r != Err(spare::DIED));
    let handed = match handed {
        Some(r) => r,
        None => {
            let close = spares.inherited(sock, kids);
            match spare::make(&close, iso) {
                Ok(Made::Child(arg)) => {
                    // In the fork: the template's copies of this request's
                    // fds go (its stdio came over the spare's socket).
                    for &fd in raw {
                        // SAFETY: fds this process inherited, closed once.
                        unsafe { libc::close(fd) };
                    }
                    std::mem::forget((fds, close));
                    return Ok(Some(arg));
                }
                Ok(Made::Spare(s)) => s.hand_over(arg, raw),
                Err(e) => Err((Step::Clone as i32, e.raw_os_error().unwrap_or(0))),
            }
        }
    };
    drop(fds);
    answer(sock, kids, handed)?;
    Ok(spares.fill(sock, kids, iso))
}

/// FORKED with the child's pidfd (kept to reap it), or FAILED with the
/// step and errno.
fn answer(
    sock: RawFd,
    kids: &mut Vec<(i32, RawFd)>,
    handed: Result<(i32, RawFd), (i32, i32)>,
) -> io::Result<()> {
    match handed {
        Ok((pid, pidfd)) => {
            kids.push((pid, pidfd));
            let forked = reply(FORKED, pid, 0);
            protocol::send(sock, &protocol::reply_bytes(&forked), &[pidfd])
        }
        Err((step, errno)) => {
            let failed = reply(FAILED, step, errno);
            protocol::send(sock, &protocol::reply_bytes(&failed), &[])
        }
    }
}

/// A plain fork for one request.
fn plain_one(
    sock: RawFd,
    kids: &mut Vec<(i32, RawFd)>,
    arg: u64,
    fds: Vec<OwnedFd>,
) -> io::Result<Option<u64>> {
    let (pid, pidfd) = match plain_fork(sock, &fds, kids)? {
        Forked::Child => {
            std::mem::forget(fds); // their numbers were closed raw in the child
            return Ok(Some(arg));
        }
        Forked::Parent(pid, pidfd) => (pid, pidfd),
    };
    drop(fds);
    kids.push((pid, pidfd));
    protocol::send(
        sock,
        &protocol::reply_bytes(&reply(FORKED, pid, 0)),
        &[pidfd],
    )?;
    Ok(None)
}

/// Where a fork returns.
enum Forked {
    /// In the child.
    Child,
    /// In the template: the child's pid and pidfd.
    Parent(i32, RawFd),
}

/// `fork()`.
fn plain_fork(sock: RawFd, fds: &[OwnedFd], kids: &[(i32, RawFd)]) -> io::Result<Forked> {
    // SAFETY: fork; the child only makes raw syscalls before returning.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        become_child(sock, fds, kids);
        return Ok(Forked::Child);
    }
    Ok(Forked::Parent(pid, crate::sys::pidfd_open(pid)?))
}

/// In the forked child: die with the template, wait at the gate if the
/// request has one (a fourth fd: see `CONFIG_GATE`), take the request's
/// stdio, drop the template's fds. Raw syscalls only.
fn become_child(sock: RawFd, fds: &[OwnedFd], kids: &[(i32, RawFd)]) {
    // SAFETY: plain syscalls on fds this process holds.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
    }
    if let Some(gate) = fds.get(3) {
        protocol::wait_gate(gate.as_raw_fd());
    }
    // SAFETY: plain syscalls on fds this process holds.
    unsafe {
        for (i, fd) in fds.iter().take(3).enumerate() {
            libc::dup2(fd.as_raw_fd(), i as RawFd);
        }
        for fd in fds.iter().take(3) {
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
        protocol::reap(fd);
    }
    // SAFETY: ends the template process.
    unsafe { libc::_exit(0) }
}
