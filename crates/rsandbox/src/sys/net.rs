//! Network interface calls made inside a new network namespace.

use crate::error::{step, ChildError, ChildResult, Stage};
use crate::sys::check;

/// Bring `lo` up in the current network namespace: the box's child does it
/// after its clone, and [`crate::NetNs::new`] for a shared namespace.
/// Raw syscalls only (the child calls it).
pub(crate) fn loopback_up() -> ChildResult {
    // SAFETY: socket/ioctl/close on a zeroed, correctly typed ifreq.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        check(fd, Stage::Loopback, step::LO_SOCKET)?;
        let mut ifr: libc::ifreq = std::mem::zeroed();
        ifr.ifr_name[0] = b'l' as libc::c_char;
        ifr.ifr_name[1] = b'o' as libc::c_char;
        let r = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut ifr);
        if r < 0 {
            let e = ChildError::last(Stage::Loopback, step::LO_GET_FLAGS);
            libc::close(fd);
            return Err(e);
        }
        ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        let r = libc::ioctl(fd, libc::SIOCSIFFLAGS, &ifr);
        let e = ChildError::last(Stage::Loopback, step::LO_SET_FLAGS);
        libc::close(fd);
        if r < 0 {
            return Err(e);
        }
    }
    Ok(())
}
