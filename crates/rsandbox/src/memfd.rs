//! Sealed memfds: a file only this process made, that nothing can change
//! afterwards, not even its owner. The box's init program and the payload's
//! seccomp filter reach the box's init this way.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{Error, Result};

/// A sealed memfd.
#[derive(Debug)]
pub(crate) struct SealedFile {
    fd: OwnedFd,
}

/// `MFD_EXEC`.
const MFD_EXEC: libc::c_uint = 0x10;

const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

impl SealedFile {
    /// Copy `bytes` into a new memfd named `name` and seal it: nothing can
    /// change it afterwards, not even its owner.
    pub(crate) fn new(name: &std::ffi::CStr, bytes: &[u8]) -> Result<SealedFile> {
        let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
        // MFD_EXEC (Linux 6.3): executable even where vm.memfd_noexec makes
        // memfds non-executable by default; older kernels refuse the flag.
        // SAFETY: memfd_create with a valid C string.
        let mut fd = unsafe { libc::memfd_create(name.as_ptr(), flags | MFD_EXEC) };
        if fd < 0 && crate::sys::errno() == libc::EINVAL {
            // SAFETY: as above.
            fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
        }
        if fd < 0 {
            return Err(Error::last_os("create a memfd", None));
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        crate::sys::write_all(fd.as_raw_fd(), bytes)
            .map_err(|e| Error::io("fill a memfd", None, e))?;
        // SAFETY: fcntl on our own fd.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } != 0 {
            return Err(Error::last_os("seal a memfd", None));
        }
        Ok(SealedFile { fd })
    }

    /// The fd, for whoever holds the file.
    pub(crate) fn into_fd(self) -> OwnedFd {
        self.fd
    }
}
