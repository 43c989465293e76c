//! Spare namespaced forks: the template keeps [`SPARES`] isolated children
//! made ahead and makes the next as soon as it has handed one over, so the
//! kernel's cost of the namespaces (most of it the network namespace) is
//! paid while the caller runs its forks rather than when it asks for the
//! next one. With the split clone (see `isolate`) most of that cost is
//! the spare's own, so the spares set themselves up on both cores while
//! the template's thread answers the caller; three rather than two, as a
//! spare's set-up waits at times on the kernel's network locks (taken by
//! the teardown of ended forks' namespaces too).
//!
//! The template's memory does not change after its ready point (it only
//! serves), so a child made ahead is the same copy a child made on demand
//! would be. A spare isolates itself at once ([`Isolation::enter`]), says
//! so on a socket of its own (one byte; or the failed step and errno) and
//! waits there for its request: the argument and the three stdio fds
//! (and the gate, when the template is gated: see `protocol::CONFIG_GATE`).

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::isolate::{self, Isolation, Step};
use super::protocol;

/// A child made ahead, isolated or failing, waiting for its request.
pub struct Spare {
    pid: i32,
    pidfd: RawFd,
    /// The template's end of the spare's socket.
    sock: OwnedFd,
}

/// What [`Spare::hand_over`] answers for a spare that ended before it
/// took its request (killed): as if the clone had failed with `ECHILD`.
pub const DIED: (i32, i32) = (Step::Clone as i32, libc::ECHILD);

/// What [`make`] returns.
pub enum Made {
    /// In the child: its request's argument (stdio in place).
    Child(u64),
    /// In the template.
    Spare(Spare),
}

/// How many spares a template of namespaced forks keeps made ahead.
pub const SPARES: usize = 3;

/// The spares made ahead, oldest first.
#[derive(Default)]
pub struct Spares {
    queue: VecDeque<Spare>,
}

impl Spares {
    /// Make spares until there are [`SPARES`]. `Some(arg)` in a child
    /// (which must then free nothing of the template's). A failed clone
    /// stops the filling: the next request makes one on demand and
    /// reports why it cannot.
    pub fn fill(&mut self, sock: RawFd, kids: &[(i32, RawFd)], iso: &Isolation) -> Option<u64> {
        while self.queue.len() < SPARES {
            let close = self.inherited(sock, kids);
            match make(&close, iso) {
                Ok(Made::Child(arg)) => {
                    std::mem::forget(close); // no freeing in the child
                    return Some(arg);
                }
                Ok(Made::Spare(s)) => self.queue.push_back(s),
                Err(_) => break,
            }
        }
        None
    }

    /// The template's fds a new child must close: the template socket,
    /// the pidfds of its forks, and each spare's pidfd and socket (a
    /// fork holding a spare's socket could hand it a request).
    pub fn inherited(&self, sock: RawFd, kids: &[(i32, RawFd)]) -> Vec<RawFd> {
        let mut v = vec![sock];
        v.extend(kids.iter().map(|&(_, fd)| fd));
        for s in &self.queue {
            v.extend([s.pidfd, s.sock.as_raw_fd()]);
        }
        v
    }

    /// The oldest spare.
    pub fn pop(&mut self) -> Option<Spare> {
        self.queue.pop_front()
    }

    /// Kill and reap every spare.
    pub fn discard(&mut self) {
        for s in self.queue.drain(..) {
            s.discard();
        }
    }
}

/// Clone a spare. The fds in `close` are closed in the child, which
/// otherwise keeps to raw syscalls on prepared data.
/// `Err` is the clone's own failure (the template carries on).
pub fn make(close: &[RawFd], iso: &Isolation) -> io::Result<Made> {
    let (ours, theirs) = seqpacket_pair()?;
    let mut pidfd: RawFd = -1;
    // SAFETY: the child only makes raw syscalls on prepared data before
    // returning to the payload.
    let pid = unsafe { isolate::clone(iso.clone_flags(), &mut pidfd) }?;
    if pid == 0 {
        let (o, t) = (ours.as_raw_fd(), theirs.as_raw_fd());
        std::mem::forget((ours, theirs)); // closed raw in the child
        let arg = be_spare(close, o, t, iso);
        return Ok(Made::Child(arg));
    }
    drop(theirs);
    Ok(Made::Spare(Spare {
        pid,
        pidfd,
        sock: ours,
    }))
}

/// The child's side: isolate, report, wait for the request, take its
/// stdio. Never returns if anything fails (it exits).
fn be_spare(close: &[RawFd], ours: RawFd, sock: RawFd, iso: &Isolation) -> u64 {
    // SAFETY: plain syscalls on fds this process holds.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        for &fd in close {
            libc::close(fd);
        }
        libc::close(ours);
    }
    if let Err((step, errno)) = iso.enter() {
        let rec = [step as u32 as i32, errno];
        // SAFETY: sends 8 bytes of a live buffer, then ends the child.
        unsafe {
            libc::send(sock, rec.as_ptr().cast(), 8, libc::MSG_NOSIGNAL);
            libc::_exit(127);
        }
    }
    // SAFETY: one byte from a live buffer.
    unsafe { libc::send(sock, [1u8].as_ptr().cast(), 1, libc::MSG_NOSIGNAL) };
    let arg = take_request(sock);
    // SAFETY: the spare's socket is done with.
    unsafe { libc::close(sock) };
    match arg {
        Some(arg) => arg,
        // SAFETY: no request will come (the template is gone or closing).
        None => unsafe { libc::_exit(0) },
    }
}

/// Receive the request (8 bytes, three fds, and a gate as the fourth when
/// the template is gated) into stack buffers, wait at the gate, and put
/// the stdio fds on 0, 1 and 2. Raw syscalls, no allocation.
fn take_request(sock: RawFd) -> Option<u64> {
    let mut arg = [0u8; 8];
    let mut cbuf = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: arg.as_mut_ptr().cast(),
        iov_len: arg.len(),
    };
    // SAFETY: msghdr is plain data; it points at live stack buffers, and
    // the CMSG macros walk the control buffer the kernel filled.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf);
        let n = loop {
            let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n >= 0 || *libc::__errno_location() != libc::EINTR {
                break n;
            }
        };
        let c = libc::CMSG_FIRSTHDR(&msg);
        if n != 8 || c.is_null() || (*c).cmsg_type != libc::SCM_RIGHTS {
            return None;
        }
        let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / 4;
        let fds: *const RawFd = libc::CMSG_DATA(c).cast();
        if count != 3 && count != 4 {
            return None;
        }
        if count == 4 {
            protocol::wait_gate(fds.add(3).read_unaligned());
        }
        for i in 0..3 {
            libc::dup2(fds.add(i).read_unaligned(), i as RawFd);
        }
        for i in 0..3 {
            let fd = fds.add(i).read_unaligned();
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
    Some(u64::from_ne_bytes(arg))
}

impl Spare {
    /// Hand the request to the spare: its pid and pidfd when it took it,
    /// else the failed step and errno (the spare is then reaped).
    pub fn hand_over(self, arg: u64, fds: &[RawFd]) -> Result<(i32, RawFd), (i32, i32)> {
        let mut rec = [0u8; 8];
        let said = protocol::recv(self.sock.as_raw_fd(), &mut rec).map(|(n, _)| n);
        let failure = match said {
            Ok(1) => match protocol::send(self.sock.as_raw_fd(), &arg.to_ne_bytes(), fds) {
                Ok(()) => return Ok((self.pid, self.pidfd)),
                // It said it was ready, then ended (killed).
                Err(_) => DIED,
            },
            Ok(8) => {
                let word =
                    |i: usize| i32::from_ne_bytes([rec[i], rec[i + 1], rec[i + 2], rec[i + 3]]);
                (word(0), word(4))
            }
            _ => DIED,
        };
        self.discard();
        Err(failure)
    }

    /// Kill and reap the spare, closing its pidfd.
    pub fn discard(self) {
        // SAFETY: signal and reap our own child through its pidfd, closed
        // once here.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd,
                libc::SIGKILL,
                0usize,
                0u32,
            );
        }
        protocol::reap(self.pidfd);
        // SAFETY: as above.
        unsafe { libc::close(self.pidfd) };
    }
}

/// A close-on-exec `SOCK_SEQPACKET` pair.
fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    let ty = libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC;
    // SAFETY: fds is a live [c_int; 2].
    if unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: two fresh fds we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
