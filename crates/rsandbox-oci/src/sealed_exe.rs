//! The runtime re-executes itself from a sealed view of its binary before
//! any of its processes enters a container (CVE-2019-5736's class).
//!
//! Every process the runtime puts into a container starts as a fork of the
//! runtime (the core's child before its exec, `exec`'s process and its
//! waiter, the hooks' processes, and the container's first process until
//! it execs). While it is one, `/proc/PID/exe` names the runtime's binary:
//! a container root that reaches it (a dumpable process, or one it may
//! ptrace) could open the host's `rsandbox-oci` for writing and replace
//! it. So `exec`, `create` (and `start` when it runs startContainer hooks)
//! first `execveat` themselves, same arguments and environment, from a
//! view of the binary nothing can write, and never hold the host file
//! again. `create` does so only where a container's process could see
//! its forks (`commands::create::needs_sealed_view`: the host's or a
//! joined PID namespace, or createContainer hooks); in a PID namespace of
//! the container's own nothing of the container runs yet while `create`
//! does. As runc 1.2 does (`libcontainer/exeseal`), two ways:
//!
//! - where the runtime may mount (root): a detached, read-only overlayfs
//!   whose only layers are the binary's directory and an empty one (a
//!   lower-only overlay refuses every write, and there is no way from its
//!   file back to the layer below). No copy: a few syscalls.
//! - otherwise: a memfd copy of `/proc/self/exe`, sealed (no write,
//!   shrink, grow or reseal; no change of its exec bits where the kernel
//!   has `F_SEAL_EXEC`), runc's `cloned_binary`, youki's and crun's
//!   practice. It costs a copy of the binary per command.
//!
//! `RSANDBOX_OCI_SEALED_EXE=memfd` in the environment takes the memfd way
//! even as root (a test hook: both are exercised here).

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use crate::error::{OciError, Res};

/// Set in the environment of the re-executed runtime: if it still does not
/// run from a sealed view, something is wrong, and looping would not help.
const MARK: &str = "_RSANDBOX_OCI_SEALED_EXE";

/// The test hook choosing the memfd way.
const FORCE: &str = "RSANDBOX_OCI_SEALED_EXE";

const OVERLAYFS_SUPER_MAGIC: libc::c_long = 0x794c_7630;
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;

/// The seals of the copy: nothing can write it, shrink or grow it, or
/// remove a seal.
const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

fn os(what: &str) -> OciError {
    OciError::last_os(what)
}

/// A step of making the view that failed for a reason other than an errno.
fn other(what: &str, why: &str) -> OciError {
    OciError::os_other(what, why)
}

/// Whether `f` is a memfd carrying [`SEALS`], or a file of a read-only
/// overlayfs mount (what [`overlay_view`] makes).
fn is_sealed(f: &File) -> bool {
    // SAFETY: fcntl(F_GET_SEALS) on our fd; an error (not a memfd) is -1.
    let seals = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GET_SEALS) };
    if seals >= 0 {
        return seals & SEALS == SEALS;
    }
    // SAFETY: fstatfs and fstatvfs on our fd into zeroed structs.
    unsafe {
        let mut fs: libc::statfs = std::mem::zeroed();
        let mut vfs: libc::statvfs = std::mem::zeroed();
        libc::fstatfs(f.as_raw_fd(), &mut fs) == 0
            && fs.f_type == OVERLAYFS_SUPER_MAGIC
            && libc::fstatvfs(f.as_raw_fd(), &mut vfs) == 0
            && vfs.f_flag & libc::ST_RDONLY != 0
    }
}

/// Make sure this process runs from a sealed view of the runtime's
/// binary: return at once if it was re-executed from one; otherwise make
/// one and re-execute it (this call then never returns, unless with an
/// error). `scratch`: an existing directory that is neither the binary's
/// nor above or below it (the state root), the overlay's empty layer. Call
/// it before any side effect of the command: the command starts over.
pub fn ensure(scratch: &Path) -> Res<()> {
    ensure_sealed(scratch).map_err(|e| OciError::SealedExe(Box::new(e)))
}

/// [`ensure`], its errors not yet said to be about the sealed view.
fn ensure_sealed(scratch: &Path) -> Res<()> {
    let exe =
        File::open("/proc/self/exe").map_err(|e| OciError::io("open", "/proc/self/exe", e))?;
    if std::env::var_os(MARK).is_some() {
        if !is_sealed(&exe) {
            return Err(other(
                "re-executed from it",
                "/proc/self/exe is not sealed: refusing to go on",
            ));
        }
        // Our own marker; not for the container or the hooks.
        std::env::remove_var(MARK);
        return Ok(());
    }
    let view = match std::env::var_os(FORCE) {
        Some(v) if v == "memfd" => sealed_copy(&exe)?,
        _ => match overlay_view(scratch) {
            Ok(v) => v,
            // Not root, no overlayfs, a deleted binary, overlapping
            // directories: the copy.
            Err(_) => sealed_copy(&exe)?,
        },
    };
    drop(exe);
    reexec(&view)
}

/// `s` as an overlayfs `lowerdir` entry (`:` and `\` escaped, as runc).
fn escape_lower(s: &str) -> String {
    s.replace('\\', "\\\\").replace(':', "\\:")
}

/// The runtime's binary (`O_PATH`) through a new detached, read-only,
/// lower-only overlayfs of its directory over `scratch` (runc 1.2's
/// `sealedOverlayfs`).
fn overlay_view(scratch: &Path) -> Res<OwnedFd> {
    let real = std::fs::read_link("/proc/self/exe")
        .map_err(|e| OciError::io("read the link", "/proc/self/exe", e))?;
    let utf8 = |p: &Path| {
        p.to_str()
            .ok_or_else(|| other("overlay", "a path is not UTF-8"))
            .map(str::to_string)
    };
    let real = utf8(&real)?;
    if real.ends_with(" (deleted)") {
        return Err(other("overlay", "the binary was replaced since it started"));
    }
    let real = Path::new(&real);
    let (dir, name) = match (real.parent(), real.file_name()) {
        (Some(d), Some(n)) => (d, n),
        _ => return Err(other("overlay", "the binary has no directory")),
    };
    let lower = format!(
        "{}:{}",
        escape_lower(&utf8(dir)?),
        escape_lower(&utf8(scratch)?)
    );
    let c = |s: &str| CString::new(s).map_err(|_| other("overlay", "a NUL byte in a path"));
    let (overlay, key, value, xino, off) = (
        c("overlay")?,
        c("lowerdir")?,
        c(&lower)?,
        c("xino")?,
        c("off")?,
    );
    let fd = |r: libc::c_long, what: &str| -> Res<OwnedFd> {
        if r < 0 {
            return Err(os(what));
        }
        // SAFETY: a fresh fd we own.
        Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
    };
    // SAFETY: (whole block) the new mount API on C strings that outlive
    // the calls and fds we own.
    unsafe {
        let ctx = fd(
            libc::syscall(libc::SYS_fsopen, overlay.as_ptr(), FSOPEN_CLOEXEC),
            "fsopen overlay",
        )?;
        let set = |k: &CString, v: &CString| {
            libc::syscall(
                libc::SYS_fsconfig,
                ctx.as_raw_fd(),
                FSCONFIG_SET_STRING,
                k.as_ptr(),
                v.as_ptr(),
                0,
            )
        };
        if set(&key, &value) < 0 {
            return Err(os("overlay lowerdir"));
        }
        // Not needed here; off avoids the kernel's xino warnings.
        set(&xino, &off);
        if libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        ) < 0
        {
            return Err(os("overlay create"));
        }
        let mnt = fd(
            libc::syscall(
                libc::SYS_fsmount,
                ctx.as_raw_fd(),
                FSMOUNT_CLOEXEC,
                MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
            ),
            "fsmount overlay",
        )?;
        let name = c(&name.to_string_lossy())?;
        let exe = libc::openat(
            mnt.as_raw_fd(),
            name.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        );
        fd(exe as libc::c_long, "open the binary through the overlay")
    }
}

/// A sealed memfd holding the bytes of `exe`.
fn sealed_copy(exe: &File) -> Res<OwnedFd> {
    let name = c"rsandbox-oci (sealed)";
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: memfd_create on a C string; the fd is ours. MFD_EXEC (6.3)
    // asks for an executable memfd where vm.memfd_noexec would make it
    // not; older kernels refuse the flag (EINVAL) and need none.
    let mut fd = unsafe { libc::memfd_create(name.as_ptr(), base | libc::MFD_EXEC) };
    if fd < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(name.as_ptr(), base) };
    }
    if fd < 0 {
        return Err(os("memfd_create"));
    }
    // SAFETY: a fresh fd we own.
    let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let size = exe
        .metadata()
        .map_err(|e| OciError::io("stat", "/proc/self/exe", e))?
        .len();
    let mut left = size;
    while left > 0 {
        // SAFETY: sendfile between two fds we own, from the current offset.
        let n = unsafe {
            libc::sendfile(
                memfd.as_raw_fd(),
                exe.as_raw_fd(),
                std::ptr::null_mut(),
                left.min(1 << 30) as usize,
            )
        };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(os("copy the binary"));
        }
        if n == 0 {
            return Err(other(
                "copy the binary",
                &format!("it shrank while copied ({left} of {size} bytes missing)"),
            ));
        }
        left -= n as u64;
    }
    // SAFETY: fchmod and fcntl on our memfd with integer arguments.
    unsafe {
        // r-x for its owner, x for the others (runc's mode).
        if libc::fchmod(memfd.as_raw_fd(), 0o511) != 0 {
            return Err(os("chmod"));
        }
        // Kernels before 6.3 have no F_SEAL_EXEC: the other seals suffice.
        libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, libc::F_SEAL_EXEC);
        if libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, SEALS) != 0 {
            return Err(os("seal"));
        }
    }
    Ok(memfd)
}

/// `execveat` the copy with this process's arguments and environment (plus
/// [`MARK`]). Returns only on failure.
fn reexec(copy: &OwnedFd) -> Res<()> {
    let cstrings = |v: Vec<OsString>| -> Res<Vec<CString>> {
        v.into_iter()
            .map(|s| {
                CString::new(s.into_vec())
                    .map_err(|_| other("re-execute", "a NUL byte in argv or env"))
            })
            .collect()
    };
    let argv = cstrings(std::env::args_os().collect())?;
    let mut env: Vec<OsString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            kv
        })
        .collect();
    env.push(format!("{MARK}=1").into());
    let envp = cstrings(env)?;
    let ptrs = |v: &[CString]| -> Vec<*const libc::c_char> {
        v.iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    };
    let (argv_p, envp_p) = (ptrs(&argv), ptrs(&envp));
    // SAFETY: execveat on our memfd with NULL-terminated arrays of C
    // strings that outlive the call; it returns only on failure.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            copy.as_raw_fd(),
            c"".as_ptr(),
            argv_p.as_ptr(),
            envp_p.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Err(os("execveat"))
}
