//! What the running kernel is and offers, asked without side effects:
//! its release, the Landlock ABI, overlay's fd layers.

pub(crate) fn uname() -> (String, String) {
    // SAFETY: zeroed utsname is a valid out-parameter.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: u is a live utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return (String::new(), String::new());
    }
    let s = |f: &[libc::c_char]| {
        let b: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&b).into_owned()
    };
    (s(&u.release), s(&u.machine))
}

/// `(major, minor)` of the running kernel, `(0, 0)` when unreadable.
pub(crate) fn version() -> (u32, u32) {
    let (release, _) = uname();
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// Whether overlayfs takes its layers as fds (`lowerdir+` with
/// `FSCONFIG_SET_FD`, Linux 6.8). Known from the version: probing would
/// need `CAP_SYS_ADMIN`.
pub(crate) fn overlay_fd_layers() -> bool {
    version() >= (6, 8)
}

/// The Landlock ABI version (0 when Landlock is unavailable).
pub(crate) fn landlock_abi() -> u32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_long = 1;
    // SAFETY: the version query takes NULL, 0 and the flag; no fd is created.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if r < 0 {
        0
    } else {
        r as u32
    }
}
