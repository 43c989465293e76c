//! Byte relays between the box's side of a connection and the upstream
//! side: `splice(2)` through a pipe, one thread per direction, so the
//! bytes never pass through user space.

use std::io;
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Pipe capacity asked for (the kernel may give less).
const PIPE_SIZE: libc::c_int = 1 << 20;

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors we own; F_SETPIPE_SZ is only a hint.
    unsafe {
        libc::fcntl(fds[1], libc::F_SETPIPE_SZ, PIPE_SIZE);
        Ok((OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])))
    }
}

fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    loop {
        // SAFETY: splice between two open fds, no offsets.
        let n = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_MOVE,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Copy `from` to `to` until EOF, then half-close `to`.
fn pump(from: &TcpStream, to: &TcpStream) {
    let Ok((r, w)) = pipe() else {
        return;
    };
    loop {
        let n = match splice(from.as_raw_fd(), w.as_raw_fd(), PIPE_SIZE as usize) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut left = n;
        while left > 0 {
            match splice(r.as_raw_fd(), to.as_raw_fd(), left) {
                Ok(0) | Err(_) => {
                    let _ = from.shutdown(Shutdown::Read);
                    return;
                }
                Ok(m) => left -= m,
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Relay both ways between `a` and `b` until both directions end; returns
/// when done (the second direction runs on a thread of its own).
pub(crate) fn both(a: TcpStream, b: TcpStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let t = std::thread::Builder::new()
        .name("rsandbox-egress-relay".into())
        // A splice loop: a small stack is plenty.
        .stack_size(64 << 10)
        .spawn(move || pump(&b2, &a2));
    pump(&a, &b);
    if let Ok(t) = t {
        let _ = t.join();
    }
}

/// Close `s` with a reset (SO_LINGER 0): the box sees its connection
/// refused rather than ended.
pub(crate) fn reset(s: TcpStream) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt with a correctly sized linger struct.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as u32,
        );
    }
    drop(s);
}
