//! Raw wrappers over the mount API syscalls libc does not wrap: `openat2`,
//! `open_tree`, `move_mount`, `fsopen`/`fsconfig`/`fsmount` and
//! `mount_setattr`. Each is one syscall, no allocation: usable in the child.
//!
//! They return the raw result (`-1` and errno on failure), like libc.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `OPEN_TREE_CLONE`.
pub(crate) const OPEN_TREE_CLONE: u32 = 1;
/// `OPEN_TREE_CLOEXEC` (= `O_CLOEXEC`).
pub(crate) const OPEN_TREE_CLOEXEC: u32 = libc::O_CLOEXEC as u32;
/// `AT_RECURSIVE`.
pub(crate) const AT_RECURSIVE: u32 = 0x8000;
/// `AT_EMPTY_PATH`.
pub(crate) const AT_EMPTY_PATH: u32 = libc::AT_EMPTY_PATH as u32;

/// `MOVE_MOUNT_F_EMPTY_PATH`.
pub(crate) const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x04;
/// `MOVE_MOUNT_T_EMPTY_PATH`.
pub(crate) const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

/// `FSOPEN_CLOEXEC`.
pub(crate) const FSOPEN_CLOEXEC: u32 = 1;
/// `FSMOUNT_CLOEXEC`.
pub(crate) const FSMOUNT_CLOEXEC: u32 = 1;
/// `FSCONFIG_SET_FLAG`.
pub(crate) const FSCONFIG_SET_FLAG: u32 = 0;
/// `FSCONFIG_SET_STRING`.
pub(crate) const FSCONFIG_SET_STRING: u32 = 1;
/// `FSCONFIG_SET_FD`.
pub(crate) const FSCONFIG_SET_FD: u32 = 5;
/// `FSCONFIG_CMD_CREATE`.
pub(crate) const FSCONFIG_CMD_CREATE: u32 = 6;

/// `MOUNT_ATTR_RDONLY`.
pub(crate) const MOUNT_ATTR_RDONLY: u64 = 0x1;
/// `MOUNT_ATTR_NOSUID`.
pub(crate) const MOUNT_ATTR_NOSUID: u64 = 0x2;
/// `MOUNT_ATTR_NODEV`.
pub(crate) const MOUNT_ATTR_NODEV: u64 = 0x4;
/// `MOUNT_ATTR_NOEXEC`.
pub(crate) const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// `RESOLVE_NO_MAGICLINKS`.
pub(crate) const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
/// `RESOLVE_IN_ROOT`.
pub(crate) const RESOLVE_IN_ROOT: u64 = 0x10;

/// `struct open_how`.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `struct mount_attr`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `openat2(dirfd, path, {flags, 0, resolve})`.
///
/// With `RESOLVE_IN_ROOT`, a path holding `..` (or a symlink to one) fails
/// with `EAGAIN` when any mount or rename happened anywhere on the system
/// during the walk (the kernel cannot prove the walk stayed inside): that
/// is retried, a bounded number of times.
pub(crate) fn openat2(dirfd: RawFd, path: &CStr, flags: i32, resolve: u64) -> RawFd {
    let how = OpenHow {
        flags: flags as u64,
        mode: 0,
        resolve,
    };
    let mut tries = 0;
    loop {
        // SAFETY: path is a valid C string and how a valid open_how of the
        // given size; the kernel only reads both.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            ) as RawFd
        };
        tries += 1;
        if fd >= 0 || tries >= 64 || crate::sys::errno() != libc::EAGAIN {
            return fd;
        }
    }
}

/// `mount --make-rprivate /`: nothing mounted from here on propagates to
/// (or from) the namespace this one was copied from. Returns 0 or -1.
pub(crate) fn make_root_rprivate() -> i32 {
    // SAFETY: static C strings, NULL data; the syscall only reads them.
    unsafe {
        libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    }
}

/// `open_tree(dirfd, path, flags)`.
pub(crate) fn open_tree(dirfd: RawFd, path: &CStr, flags: u32) -> RawFd {
    // SAFETY: path is a valid C string; integer arguments otherwise.
    unsafe { libc::syscall(libc::SYS_open_tree, dirfd, path.as_ptr(), flags) as RawFd }
}

/// `move_mount(from_fd, "", to_fd, "", F_EMPTY_PATH | T_EMPTY_PATH)`.
pub(crate) fn move_mount_fds(from: RawFd, to: RawFd) -> i32 {
    // SAFETY: static empty C strings; integer arguments otherwise.
    unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from,
            c"".as_ptr(),
            to,
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        ) as i32
    }
}

/// `move_mount(from_fd, "", AT_FDCWD, to_path, F_EMPTY_PATH)`.
pub(crate) fn move_mount_to_path(from: RawFd, to: &CStr) -> i32 {
    // SAFETY: valid C strings; integer arguments otherwise.
    unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from,
            c"".as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        ) as i32
    }
}

/// `fsopen(fstype, FSOPEN_CLOEXEC)`.
pub(crate) fn fsopen(fstype: &CStr) -> RawFd {
    // SAFETY: fstype is a valid C string.
    unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) as RawFd }
}

/// `fsconfig(fd, cmd, key, value, aux)` with an optional string value.
pub(crate) fn fsconfig(
    fd: RawFd,
    cmd: u32,
    key: Option<&CStr>,
    value: Option<&CStr>,
    aux: i32,
) -> i32 {
    let k = key.map_or(std::ptr::null(), |k| k.as_ptr());
    let v = value.map_or(std::ptr::null(), |v| v.as_ptr());
    // SAFETY: key and value are NULL or valid C strings.
    unsafe { libc::syscall(libc::SYS_fsconfig, fd, cmd, k, v, aux) as i32 }
}

/// `fsmount(fd, FSMOUNT_CLOEXEC, attrs)`.
pub(crate) fn fsmount(fd: RawFd, attrs: u64) -> RawFd {
    // SAFETY: integer arguments.
    unsafe { libc::syscall(libc::SYS_fsmount, fd, FSMOUNT_CLOEXEC, attrs as u32) as RawFd }
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], {set, clr})`.
pub(crate) fn mount_setattr(fd: RawFd, recursive: bool, set: u64, clr: u64) -> i32 {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = AT_EMPTY_PATH | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: attr is a valid mount_attr of the given size; empty C string.
    unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        ) as i32
    }
}

/// `pivot_root(new, old)`.
pub(crate) fn pivot_root(new: &CStr, old: &CStr) -> i32 {
    // SAFETY: valid C strings.
    unsafe { libc::syscall(libc::SYS_pivot_root, new.as_ptr(), old.as_ptr()) as i32 }
}

/// A detached, read-only (and nosuid, nodev, noexec) sysfs of the calling
/// thread's network namespace: a sysfs shows the devices of the namespace
/// it was made in. For the parent (a box attaches it with `move_mount`).
pub(crate) fn detached_sysfs() -> io::Result<OwnedFd> {
    let ctx = owned(fsopen(c"sysfs"))?;
    let c = ctx.as_raw_fd();
    if fsconfig(c, FSCONFIG_SET_STRING, Some(c"source"), Some(c"sysfs"), 0) != 0
        || fsconfig(c, FSCONFIG_CMD_CREATE, None, None, 0) != 0
    {
        return Err(io::Error::last_os_error());
    }
    let attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    owned(fsmount(c, attrs))
}

/// A syscall's fd result, owned, or its error.
fn owned(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor the kernel just returned to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
