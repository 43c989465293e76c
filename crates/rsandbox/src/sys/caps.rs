//! Capability ABI: the `capget`/`capset` structs (one copy), the numbers
//! the privilege checks use, and the caller's effective set.

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit data words per set.
pub(crate) const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Capability numbers (linux/capability.h) used by the privilege checks.
pub(crate) const CAP_SETGID: u32 = 6;
/// `CAP_SETUID`.
pub(crate) const CAP_SETUID: u32 = 7;
/// `CAP_SETPCAP`.
pub(crate) const CAP_SETPCAP: u32 = 8;
/// `CAP_SYS_CHROOT`.
pub(crate) const CAP_SYS_CHROOT: u32 = 18;
/// `CAP_SYS_ADMIN`.
pub(crate) const CAP_SYS_ADMIN: u32 = 21;
/// `CAP_SYS_RESOURCE`.
pub(crate) const CAP_SYS_RESOURCE: u32 = 24;

/// `struct __user_cap_header_struct`.
#[repr(C)]
pub(crate) struct CapHeader {
    pub version: u32,
    pub pid: libc::c_int,
}

/// `struct __user_cap_data_struct`: one of the two words of each set.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct CapData {
    pub effective: u32,
    pub permitted: u32,
    pub inheritable: u32,
}

impl CapHeader {
    /// The header for this thread (pid 0), version 3.
    pub(crate) fn this_thread() -> CapHeader {
        CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        }
    }
}

/// `capset` on the calling thread: effective, permitted, inheritable, as
/// 64-bit masks. Raw syscall, no allocation (the child calls it).
pub(crate) fn capset3(eff: u64, perm: u64, inh: u64) -> libc::c_long {
    let mut hdr = CapHeader::this_thread();
    let data = [
        CapData {
            effective: eff as u32,
            permitted: perm as u32,
            inheritable: inh as u32,
        },
        CapData {
            effective: (eff >> 32) as u32,
            permitted: (perm >> 32) as u32,
            inheritable: (inh >> 32) as u32,
        },
    ];
    // SAFETY: capset reads a header and two data structs from our stack.
    unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) }
}

/// Does the caller have `cap` in its effective set?
///
/// One `capget` syscall (this thread's credentials, which the launcher
/// thread shares): it runs several times per spawn, so no /proc parsing.
pub(crate) fn has_effective_cap(cap: u32) -> bool {
    let mut hdr = CapHeader::this_thread();
    let mut data = [CapData::default(); 2];
    // SAFETY: capget fills a header and two data structs of the v3 layout.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
    if r != 0 || cap >= 64 {
        return false;
    }
    data[(cap / 32) as usize].effective & (1u32 << (cap % 32)) != 0
}
