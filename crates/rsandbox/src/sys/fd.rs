//! File-descriptor helpers the parent uses while preparing a spawn: fds
//! numbered above the ones the child wires into place, close-on-exec; and
//! the `/proc/self/fd/N` path of an fd, formatted without allocating.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};

/// `fd` itself when its number is at least `min`, else a close-on-exec
/// duplicate at or above `min` (and `fd` is closed). Fds made after the
/// plan (pipes, rulesets) can take any free number, a passed target's too.
pub(crate) fn fd_at_least(fd: OwnedFd, min: RawFd) -> Result<OwnedFd> {
    if fd.as_raw_fd() >= min {
        Ok(fd)
    } else {
        dup_cloexec(fd.as_raw_fd(), min)
    }
}

/// A close-on-exec duplicate of `fd` numbered at least `min`.
pub(crate) fn dup_cloexec(fd: RawFd, min: RawFd) -> Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor we then own.
    let r = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) };
    if r < 0 {
        return Err(Error::last_os(format!("duplicate fd {fd}"), None));
    }
    // SAFETY: r is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// A close-on-exec pipe whose ends are numbered at least `min` (see
/// `Plan::min_fd`: the child uses them after its dup2 calls).
pub(crate) fn pipe_cloexec(what: &str, min: RawFd) -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two fds into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::last_os(format!("create {what} pipe"), None));
    }
    // SAFETY: both are fresh descriptors we own.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((fd_at_least(r, min)?, fd_at_least(w, min)?))
}

/// `/proc/self/fd/<fd>` as a C string in `buf`, without allocating (for a
/// child after clone).
pub(crate) fn proc_fd_path(fd: RawFd, buf: &mut [u8; 32]) -> &CStr {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let len = super::write_decimal(u64::from(fd.unsigned_abs()), &mut buf[PREFIX.len()..]);
    buf[PREFIX.len() + len] = 0;
    CStr::from_bytes_until_nul(&buf[..]).unwrap_or(c"/proc/self/fd/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fd_paths() {
        let mut b = [0u8; 32];
        assert_eq!(proc_fd_path(0, &mut b), c"/proc/self/fd/0");
        assert_eq!(proc_fd_path(7, &mut b), c"/proc/self/fd/7");
        assert_eq!(
            proc_fd_path(1234567890, &mut b),
            c"/proc/self/fd/1234567890"
        );
    }
}
