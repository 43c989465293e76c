//! Child side: a device node (or FIFO) made in a directory the box may
//! share with others, given its mode and owner without ever following a
//! symlink.
//!
//! `mknodat` never follows one, but setting the mode by name afterwards
//! would (`fchmodat` has no working nofollow flag before Linux 6.6): a
//! writer of the directory who swaps the new node for a symlink between
//! the two calls would have the host file it points to chmod'ed. So the
//! node is opened once, `O_PATH|O_NOFOLLOW`, checked to be the node just
//! made (type and device number), and changed through that fd only:
//! `fchmodat2(fd, "", AT_EMPTY_PATH)` (Linux 6.6), else `chmod` of
//! `/proc/self/fd/N` (what glibc's `fchmodat` nofollow emulation does),
//! and `fchownat(fd, "", AT_EMPTY_PATH)`.
//!
//! Raw syscalls on prepared data only: it runs between clone and exec.

use std::ffi::CStr;
use std::os::fd::RawFd;

use crate::sys::errno;

type R<T = ()> = Result<T, i32>;

/// `fchmodat2` (Linux 6.6); the libc crate has no constant for it yet.
const SYS_FCHMODAT2: libc::c_long = 452;

/// Make node `name` in directory `dir` (`mode` carries the type), then
/// give it exactly `mode & 0o7777`, `uid` and `gid`.
pub(super) fn make(
    dir: RawFd,
    name: &CStr,
    mode: libc::mode_t,
    dev: libc::dev_t,
    uid: libc::uid_t,
    gid: libc::gid_t,
) -> R {
    // SAFETY: (whole block) raw syscalls on a C string and fds we own.
    unsafe {
        if libc::mknodat(dir, name.as_ptr(), mode, dev) < 0 {
            return Err(errno());
        }
        let node = libc::openat(
            dir,
            name.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        );
        if node < 0 {
            return Err(errno());
        }
        let r = set(node, mode, dev, uid, gid);
        libc::close(node);
        r
    }
}

/// Check that `node` is what `make` made, then set its mode and owner.
fn set(node: RawFd, mode: libc::mode_t, dev: libc::dev_t, uid: u32, gid: u32) -> R {
    // SAFETY: (whole block) fstat into a zeroed stack struct; chmod and
    // chown syscalls on our fd.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(node, &mut st) < 0 {
            return Err(errno());
        }
        let kind = mode & libc::S_IFMT;
        let is_dev = kind == libc::S_IFCHR || kind == libc::S_IFBLK;
        if st.st_mode & libc::S_IFMT != kind || (is_dev && st.st_rdev != dev) {
            // Replaced since mknodat (a planted symlink?).
            return Err(libc::ESTALE);
        }
        chmod_fd(node, mode & 0o7777)?;
        if libc::fchownat(node, c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH) < 0 {
            return Err(errno());
        }
    }
    Ok(())
}

/// Give the file `node` (an `O_PATH` fd, never a symlink's target by
/// name) the permission bits `perm`: `fchmodat2(fd, "", AT_EMPTY_PATH)`
/// (Linux 6.6), else `chmod` of `/proc/self/fd/N`.
pub(super) fn chmod_fd(node: RawFd, perm: libc::mode_t) -> R {
    // SAFETY: chmod syscalls on our fd and a C string on the stack.
    unsafe {
        let r = libc::syscall(
            SYS_FCHMODAT2,
            node,
            c"".as_ptr(),
            perm,
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        );
        if r < 0 {
            let e = errno();
            if e != libc::ENOSYS && e != libc::EINVAL {
                return Err(e);
            }
            let mut path = [0u8; 32];
            if libc::chmod(crate::sys::fd::proc_fd_path(node, &mut path).as_ptr(), perm) < 0 {
                return Err(errno());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node whose name was swapped for a symlink between mknodat and
    /// the mode change: the change never reaches the link's target.
    #[test]
    fn a_swapped_node_is_refused_and_its_target_untouched() {
        let dir = std::env::temp_dir().join(format!("rsandbox-node-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        let d = std::fs::File::open(&dir).unwrap();
        use std::os::fd::AsRawFd;
        // A FIFO made, then replaced by a symlink to the victim (what a
        // racing writer of the directory would do), then `set` on it.
        make(d.as_raw_fd(), c"n", libc::S_IFIFO | 0o644, 0, 0, 0).unwrap();
        std::fs::remove_file(dir.join("n")).unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("n")).unwrap();
        // What a chmod by name did (the previous code): the victim's mode.
        // SAFETY: fchmodat on our dir fd and a C string.
        let r = unsafe { libc::fchmodat(d.as_raw_fd(), c"n".as_ptr(), 0o640, 0) };
        assert_eq!(r, 0);
        let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640, "a chmod by name follows the link");
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        // SAFETY: openat on our dir fd; the result is ours.
        let node = unsafe {
            libc::openat(
                d.as_raw_fd(),
                c"n".as_ptr(),
                libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        assert!(node >= 0);
        assert_eq!(set(node, libc::S_IFIFO | 0o777, 0, 0, 0), Err(libc::ESTALE));
        // SAFETY: closing our fd.
        unsafe { libc::close(node) };
        let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
        // And a node made normally gets exactly its mode despite the umask.
        make(d.as_raw_fd(), c"f", libc::S_IFIFO | 0o666, 0, 0, 0).unwrap();
        let mode = std::fs::symlink_metadata(dir.join("f"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(mode, 0o666);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
