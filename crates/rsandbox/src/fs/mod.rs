//! The filesystem view of the box: the mount plan.
//!
//! Every sandbox with a mount namespace ([`Sandbox::mount_ns`]) gets its own
//! root, built from scratch and entered with `pivot_root`; the old root is
//! detached, so nothing of the host is reachable except what was mounted in
//! on purpose.
//!
//! # Roots
//!
//! * [`Sandbox::rootfs`]`(dir)`: `dir` (recursively bound) becomes `/`. It is
//!   made read-only once every step is applied ([`Sandbox::rootfs_rw`] keeps
//!   it writable). Missing mount points are created in `dir`, as bubblewrap
//!   does: give the tree the directories you mount on, or mount a tmpfs
//!   first. When the tree has real `proc` and `dev` directories, a fresh
//!   `/proc` (same rule as below) and a minimal `/dev` are mounted on them,
//!   as container runtimes do, unless a step names `/proc` or `/dev` (to
//!   keep the tree's own `/dev`, `ro_bind("<dir>/dev", "/dev")`). Mounts
//!   already under `dir` on the host stay as they are (not made
//!   read-only).
//! * **The default view**, used when a mount namespace is requested without a
//!   rootfs (even with no other filesystem option — `mount_ns()` alone gives
//!   this isolation):
//!   - the host's `/`, **read-only**: a tmpfs root holding the host's
//!     top-level directories and files, each bound read-only recursively
//!     (`nosuid`), and its top-level symlinks (`/bin -> usr/bin`) recreated;
//!     the host's `/proc`, `/dev`, `/tmp` and `/run` are not bound at all
//!     (so they cannot be uncovered by unmounting what replaces them);
//!   - an empty tmpfs on `/run`, so host daemons' sockets (docker, dbus)
//!     are out of reach (abstract sockets need [`Sandbox::net_ns`]);
//!   - a fresh `/proc` when the box has a PID namespace, or when it has no
//!     user namespace (then `/proc` shows the caller's PID namespace); a user
//!     namespace without a PID namespace may not mount proc, and gets an
//!     empty read-only `/proc` instead — the host's is never exposed;
//!   - a minimal `/dev` (see [`Sandbox::dev`]);
//!   - the box's `/sys`, never the host's: a fresh read-only sysfs when the
//!     box has a network namespace of its own (its interfaces under
//!     `/sys/class/net`, Docker's masked `/sys` paths hidden,
//!     `/sys/fs/cgroup` the box's own cgroup or empty), else an empty
//!     read-only `/sys`
//!     (`fs/sysfs.rs`; the enforcement report's `filesystem:sys` entry);
//!   - a private, empty, writable tmpfs on `/tmp`;
//!   - the host's private data masked ([`hidden_host_paths`]: `/root`,
//!     `/home`, `/etc/shadow`, the SSH host keys...), whoever the caller;
//!     a step on or under one of them (or replacing a parent) puts it back.
//!
//!   A step whose destination is one of these defaults (`/proc`, `/dev`,
//!   `/tmp`, `/run`, or a top-level host entry such as `/usr`) replaces it
//!   (e.g. `tmpfs("/tmp", size)` for a bounded `/tmp`). Other destinations
//!   must exist on the host (its tree is read-only), be top-level, or lie
//!   under an earlier writable step (tmpfs, overlay, `bind`, `dir`); a
//!   writable host directory is `bind(dir, dir)`.
//!
//! # Steps
//!
//! Steps are applied in the order given: [`bind`](Sandbox::bind),
//! [`ro_bind`](Sandbox::ro_bind), [`tmpfs`](Sandbox::tmpfs),
//! [`proc`](Sandbox::proc), [`dev`](Sandbox::dev), [`dir`](Sandbox::dir),
//! [`symlink`](Sandbox::symlink), [`file`](Sandbox::file),
//! [`overlay`](Sandbox::overlay), [`mask`](Sandbox::mask),
//! [`remount_ro`](Sandbox::remount_ro).
//!
//! Whenever a proc filesystem is mounted, Docker's masked paths (`kcore`,
//! `keys`, `timer_list`, `sched_debug`, `latency_stats`, `acpi`, `scsi`, ...)
//! are hidden (`/dev/null` or an empty read-only tmpfs on top), and `sys`,
//! `sysrq-trigger`, `irq`, `bus`, `fs` are made read-only.
//!
//! # Mechanics and symlink safety
//!
//! * `/` is made `MS_REC|MS_PRIVATE` before anything else, so nothing
//!   propagates to the host.
//! * Bind sources are opened (`O_PATH`) in the parent: the final component
//!   must not be a symlink, and the child mounts that very fd (`open_tree`),
//!   never a re-resolved path.
//! * Destinations are resolved in the child with `openat2(RESOLVE_IN_ROOT |
//!   RESOLVE_NO_MAGICLINKS)` against the new root, so a symlink planted in a
//!   rootfs (even `/x -> /`) resolves inside the new root. Missing components
//!   are created with `mkdirat` relative to the already resolved parent fd.
//!   Mounts are attached with `move_mount` onto those fds. `/proc` and `/dev`
//!   destinations must be real directories (no symlink in the last
//!   component).
//! * Read-only binds are made read-only recursively with `mount_setattr`;
//!   only `MOUNT_ATTR_RDONLY` (and `NOSUID`) are set, so flags locked by a
//!   user namespace (`nodev`, `noexec` of the source) are preserved.
//! * For a root caller (privileged in the initial user namespace) and a box
//!   with a user namespace, the shared part of the default view (the tmpfs root, the read-only binds of
//!   the host's top-level entries, the `/dev` skeleton) is built once per
//!   process in a *template* mount namespace; each box's mount namespace is
//!   an in-kernel copy of it, so the child only mounts the per-box `/proc`,
//!   `/dev/pts`, `/dev/shm`, `/tmp`, `/run` and the caller's steps. Copied
//!   into the box's user namespace, those mounts are locked by the kernel:
//!   the box's root can neither remount them read-write nor unmount them.
//!   The template follows the host (rebuilt after a mount change or a change
//!   of `/`); `RSANDBOX_NO_TEMPLATE=1` in the environment turns it off. See
//!   `fs/template.rs`.
//! * Works rootless: in a user namespace device nodes are bind mounts of the
//!   host's `/dev/null`, `/dev/zero`, ..., never `mknod`; `/dev/pts` is a new
//!   devpts instance with `ptmxmode=0666`.
//!
//! Needs Linux ≥ 5.12 (`openat2`, the new mount API, `mount_setattr`;
//! checked before spawn, [`Error::Unsupported`](crate::Error) otherwise);
//! [`overlay`](Sandbox::overlay) needs Linux ≥ 6.8 (`lowerdir+` layers given
//! as fds).
//!
//! # Errors
//!
//! Bad input is an [`Error::InvalidConfig`](crate::Error) naming the builder
//! method and the path, before anything is spawned. A failure in the child
//! is an [`Error::Spawn`](crate::Error) at stage
//! [`Mount`](crate::Stage::Mount) (detail: the index of the primitive
//! operation; the message names its path), [`MountPrivate`](crate::Stage),
//! or [`PivotRoot`](crate::Stage) (detail 0: re-open the rootfs, 1: build
//! the root, 2: attach it, 3: make it read-only, 4–7: `fchdir`,
//! `pivot_root`, detach the old root, `chdir("/")`).
//!
//! Prepared in the parent (`MountPlan::prepare`), applied in the
//! child with raw syscalls only.

mod apply;
mod hidden;
mod node;
mod plan;
pub(crate) mod sysfs;
mod template;
#[cfg(test)]
mod tests;
mod validate;

use std::path::{Path, PathBuf};

use crate::ns::Namespace;
use crate::sys::mount::{openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};
use crate::Sandbox;

pub use hidden::{hidden_host_paths, HIDDEN_HOST_PATHS};
pub(crate) use hidden::{hidden_host_steps, is_hidden_mask, reveals_hidden};
pub(crate) use plan::MountPlan;
pub use template::last_error as template_error;
pub(crate) use template::Template;
pub(crate) use validate::validate;

pub use crate::config::fs::*;

impl Sandbox {
    fn fs_step(mut self, step: MountStep) -> Self {
        self.fs.steps.push(step);
        self
    }

    /// Use host directory `dir` as the box's `/` (read-only once the steps
    /// are applied). Needs [`mount_ns`](Self::mount_ns).
    pub fn rootfs(mut self, dir: impl Into<PathBuf>) -> Self {
        self.fs.rootfs = Some(dir.into());
        self.fs.rootfs_writable = false;
        self
    }
    /// Like [`rootfs`](Self::rootfs), but `/` stays writable (writes land in
    /// `dir` on the host).
    pub fn rootfs_rw(mut self, dir: impl Into<PathBuf>) -> Self {
        self.fs.rootfs = Some(dir.into());
        self.fs.rootfs_writable = true;
        self
    }
    /// Bind host path `src` onto `dst` in the box, writable, recursively.
    pub fn bind(self, src: impl Into<PathBuf>, dst: impl Into<PathBuf>) -> Self {
        self.fs_step(MountStep::Bind {
            src: src.into(),
            dst: dst.into(),
            readonly: false,
            nodev: false,
        })
    }
    /// Bind host path `src` onto `dst` in the box, read-only, recursively.
    pub fn ro_bind(self, src: impl Into<PathBuf>, dst: impl Into<PathBuf>) -> Self {
        self.fs_step(MountStep::Bind {
            src: src.into(),
            dst: dst.into(),
            readonly: true,
            nodev: false,
        })
    }
    /// Like [`bind`](Self::bind), with device nodes unusable under `dst`
    /// (`nodev`, recursively).
    pub fn bind_nodev(self, src: impl Into<PathBuf>, dst: impl Into<PathBuf>) -> Self {
        self.fs_step(MountStep::Bind {
            src: src.into(),
            dst: dst.into(),
            readonly: false,
            nodev: true,
        })
    }
    /// Like [`ro_bind`](Self::ro_bind), with device nodes unusable under
    /// `dst` (`nodev`, recursively).
    pub fn ro_bind_nodev(self, src: impl Into<PathBuf>, dst: impl Into<PathBuf>) -> Self {
        self.fs_step(MountStep::Bind {
            src: src.into(),
            dst: dst.into(),
            readonly: true,
            nodev: true,
        })
    }
    /// Mount a tmpfs of `size_bytes` bytes (> 0) on `dst`.
    pub fn tmpfs(self, dst: impl Into<PathBuf>, size_bytes: u64) -> Self {
        self.fs_step(MountStep::Tmpfs {
            dst: dst.into(),
            size: size_bytes,
            source: None,
            mode: None,
        })
    }
    /// Mount a fresh proc on `dst` (with Docker's masks).
    pub fn proc(self, dst: impl Into<PathBuf>) -> Self {
        self.fs_step(MountStep::Proc { dst: dst.into() })
    }
    /// Mount a minimal /dev on `dst` (see [`MountStep::Dev`]).
    pub fn dev(self, dst: impl Into<PathBuf>) -> Self {
        self.fs_step(MountStep::Dev { dst: dst.into() })
    }
    /// Mount a fresh mqueue on `dst` (see [`MountStep::Mqueue`]; rootless,
    /// it needs `ipc_ns()`).
    pub fn mqueue(self, dst: impl Into<PathBuf>) -> Self {
        self.fs_step(MountStep::Mqueue { dst: dst.into() })
    }
    /// Mount a fresh read-only sysfs on `dst` (see [`MountStep::Sysfs`];
    /// rootless, it needs `net_ns()`).
    pub fn sysfs(self, dst: impl Into<PathBuf>) -> Self {
        self.fs_step(MountStep::Sysfs { dst: dst.into() })
    }
    /// Create directory `dst` (and missing parents).
    pub fn dir(self, dst: impl Into<PathBuf>) -> Self {
        self.fs_step(MountStep::Dir {
            dst: dst.into(),
            mode: None,
        })
    }
    /// Create directory `dst` with permission bits `mode` if it is missing
    /// (see [`MountStep::Dir`]).
    pub fn dir_mode(self, dst: impl Into<PathBuf>, mode: u32) -> Self {
        self.fs_step(MountStep::Dir {
            dst: dst.into(),
            mode: Some(mode),
        })
    }
    /// Create symlink `dst` pointing to `target`.
    pub fn symlink(self, target: impl Into<PathBuf>, dst: impl Into<PathBuf>) -> Self {
        self.fs_step(MountStep::Symlink {
            target: target.into(),
            dst: dst.into(),
        })
    }
    /// Create file `dst` holding `data`.
    pub fn file(self, dst: impl Into<PathBuf>, data: impl Into<Vec<u8>>) -> Self {
        self.fs_step(MountStep::File {
            dst: dst.into(),
            data: data.into(),
        })
    }
    /// Create device node (or fifo) `dst`: see [`MountStep::Device`].
    #[allow(clippy::too_many_arguments)]
    pub fn device(
        self,
        dst: impl Into<PathBuf>,
        kind: DeviceKind,
        major: u32,
        minor: u32,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Self {
        self.fs_step(MountStep::Device {
            dst: dst.into(),
            kind,
            major,
            minor,
            mode,
            uid,
            gid,
        })
    }
    /// Overlay `lowers` (topmost first) on `dst`; writes go to a tmpfs that
    /// is discarded when the box ends.
    pub fn overlay<I, P>(self, lowers: I, dst: impl Into<PathBuf>) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.fs_step(MountStep::Overlay {
            lowers: lowers.into_iter().map(Into::into).collect(),
            dst: dst.into(),
            upper: None,
            work: None,
        })
    }
    /// Overlay `lowers` on `dst`; writes persist in host directory `upper`
    /// (`work`: an empty directory on the same filesystem).
    pub fn overlay_persist<I, P>(
        self,
        lowers: I,
        upper: impl Into<PathBuf>,
        work: impl Into<PathBuf>,
        dst: impl Into<PathBuf>,
    ) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.fs_step(MountStep::Overlay {
            lowers: lowers.into_iter().map(Into::into).collect(),
            dst: dst.into(),
            upper: Some(upper.into()),
            work: Some(work.into()),
        })
    }
    /// Hide `path` in the box.
    pub fn mask(self, path: impl Into<PathBuf>) -> Self {
        self.fs_step(MountStep::Mask { path: path.into() })
    }
    /// Make `path` (and the mounts under it) read-only.
    pub fn remount_ro(self, path: impl Into<PathBuf>) -> Self {
        self.fs_step(MountStep::RemountRo { path: path.into() })
    }
    /// Give existing `path` in the box the permission bits `mode`.
    pub fn chmod(self, path: impl Into<PathBuf>, mode: u32) -> Self {
        self.fs_step(MountStep::Chmod {
            path: path.into(),
            mode,
        })
    }
    /// bubblewrap's filesystem model, for a caller that describes the
    /// whole view itself: nothing is added to the steps. Without a
    /// rootfs, `/` is an empty writable tmpfs (no host entry, no `/proc`,
    /// `/dev`, `/tmp` or `/run` unless a step makes them) and two steps
    /// may use the same destination (the later covers the earlier). With a
    /// rootfs, no `/proc` or `/dev` is mounted on it, and a read-only one
    /// is made read-only recursively *before* the steps, as
    /// `bwrap --ro-bind DIR /` does (missing mount points in it are then
    /// an error, not created in `dir`).
    pub fn bare_fs(mut self, on: bool) -> Self {
        self.fs.bare = on;
        self
    }
    /// Make device nodes unusable in the rootfs (`nodev`, recursively,
    /// before the steps), as bubblewrap's `--bind DIR /` does.
    pub fn rootfs_nodev(mut self, on: bool) -> Self {
        self.fs.rootfs_nodev = on;
        self
    }
    /// Append an already built step.
    pub fn mount_step(self, step: MountStep) -> Self {
        self.fs_step(step)
    }
    /// The filesystem configuration.
    pub fn fs_config(&self) -> &FsConfig {
        &self.fs
    }
}

/// Whether the box builds its filesystem (see [`Sandbox::builds_fs`]).
pub(crate) fn builds_fs(sb: &Sandbox) -> bool {
    sb.builds_fs()
}

/// Whether the box mounts a fresh proc on its own `/proc` (a proc step,
/// the default view's or one of the description's).
pub(crate) fn mounts_root_proc(sb: &Sandbox) -> bool {
    builds_fs(sb)
        && effective_steps(sb)
            .iter()
            .any(|s| normalize(s.dst()).is_some_and(|dst| plan::is_root_proc(s, &dst)))
}

/// The directory the box's `/` comes from (see [`Sandbox::program_root`]).
pub(crate) fn program_root(sb: &Sandbox) -> Option<PathBuf> {
    sb.program_root()
}

/// Whether `path` (absolute, inside the box) is made by a mount step, so the
/// parent cannot check it on the host before spawn.
pub(crate) fn creates_path(sb: &Sandbox, path: &Path) -> bool {
    is_under_any(&created_paths(sb), path)
}

/// The box paths its mount steps make (new mounts, masks, symlinks), which
/// the parent cannot check on the host. Computing them reads the host's
/// top level and hidden paths, so a caller that looks up many programs for
/// one description (the pool) computes them once.
pub(crate) fn created_paths(sb: &Sandbox) -> Vec<PathBuf> {
    if !builds_fs(sb) {
        return Vec::new();
    }
    effective_steps(sb)
        .iter()
        .filter_map(|s| match normalize(s.dst()) {
            // A host path bound onto itself looks the same from the host.
            _ if s.is_identity_bind() => None,
            Some(d) if s.mounts_new() || matches!(s, MountStep::Symlink { .. }) => Some(d),
            _ => None,
        })
        .collect()
}

/// Whether `path` is at or under one of `created` (see [`created_paths`]).
pub(crate) fn is_under_any(created: &[PathBuf], path: &Path) -> bool {
    normalize(path).is_some_and(|p| created.iter().any(|d| p.starts_with(d)))
}

/// The steps really applied: the default view's (unless replaced by a user
/// step with the same destination), then the user's.
pub(crate) fn effective_steps(sb: &Sandbox) -> Vec<MountStep> {
    let mut out = Vec::new();
    if sb.fs.bare {
        return sb.fs.steps.clone();
    }
    let user_dsts: Vec<PathBuf> = sb
        .fs
        .steps
        .iter()
        .filter_map(|s| normalize(s.dst()))
        .collect();
    let want_path = |p: &Path| !user_dsts.iter().any(|d| d == p);
    let want = |p: &str| want_path(Path::new(p));
    let can_proc = sb.has_ns(Namespace::Pid) || !sb.has_ns(Namespace::User);
    match &sb.fs.rootfs {
        None => {
            // The host's top-level entries, read-only, except what the box
            // gets fresh: /proc, /dev, /tmp, and /run (an empty tmpfs, so
            // host daemons' sockets are out of reach).
            out.extend(host_top_steps(want_path));
            out.extend(hidden_host_steps(&sb.fs.steps));
            if want("/sys") {
                out.extend(sysfs::default_steps(sb));
            }
            if want("/proc") {
                if can_proc {
                    out.push(MountStep::Proc {
                        dst: "/proc".into(),
                    });
                } else {
                    out.push(MountStep::Mask {
                        path: "/proc".into(),
                    });
                }
            }
            if want("/dev") {
                out.push(MountStep::Dev { dst: "/dev".into() });
            }
            for p in ["/tmp", "/run"] {
                if want(p) {
                    out.push(MountStep::Tmpfs {
                        dst: p.into(),
                        size: 0,
                        source: None,
                        mode: None,
                    });
                }
            }
        }
        Some(root) => {
            let real_dir = |p: &str| {
                std::fs::symlink_metadata(root.join(p)).is_ok_and(|m| m.file_type().is_dir())
            };
            if want("/proc") && can_proc && real_dir("proc") {
                out.push(MountStep::Proc {
                    dst: "/proc".into(),
                });
            }
            if want("/dev") && real_dir("dev") {
                out.push(MountStep::Dev { dst: "/dev".into() });
            }
        }
    }
    out.extend(sb.fs.steps.iter().cloned());
    out
}

/// The default view's steps for the host's top-level entries `want`ed: a
/// read-only bind of each directory and file, each symlink recreated; not
/// `/proc`, `/dev`, `/tmp`, `/run`, `/sys` (the box gets its own).
pub(crate) fn host_top_steps(want: impl Fn(&Path) -> bool) -> Vec<MountStep> {
    let mut out = Vec::new();
    for (name, kind) in host_top_level().iter() {
        let dst = Path::new("/").join(name);
        if ["proc", "dev", "tmp", "run", "sys"].contains(&name.as_str()) || !want(&dst) {
            continue;
        }
        out.push(match kind {
            TopKind::Link(target) => MountStep::Symlink {
                target: target.clone(),
                dst,
            },
            TopKind::Other => MountStep::Bind {
                src: dst.clone(),
                dst,
                readonly: true,
                nodev: false,
            },
        });
    }
    out
}

#[derive(Debug)]
enum TopKind {
    Link(PathBuf),
    Other,
}

type TopLevel = std::sync::Arc<Vec<(String, TopKind)>>;

/// The entries of the host's `/`, sorted by name; cached per process and
/// re-read when `/` changes (its device, inode, mtime or ctime: adding,
/// removing or renaming an entry updates them). Several callers per spawn
/// (validation, program lookup, the plan) need the list.
fn host_top_level() -> TopLevel {
    type Stamp = (u64, u64, i64, i64, i64, i64);
    static CACHE: std::sync::Mutex<Option<(Stamp, TopLevel)>> = std::sync::Mutex::new(None);
    // SAFETY: stat of a static C string into a zeroed stack out-parameter.
    let stamp = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::stat(c"/".as_ptr(), &mut st) == 0).then_some((
            st.st_dev,
            st.st_ino,
            st.st_mtime,
            st.st_mtime_nsec,
            st.st_ctime,
            st.st_ctime_nsec,
        ))
    };
    let mut g = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let (Some(stamp), Some((s, list))) = (stamp, g.as_ref()) {
        if *s == stamp {
            return list.clone();
        }
    }
    let list = std::sync::Arc::new(read_host_top_level());
    *g = stamp.map(|s| (s, list.clone()));
    list
}

fn read_host_top_level() -> Vec<(String, TopKind)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/") {
        for e in rd.flatten() {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            let Ok(ft) = e.file_type() else { continue };
            let kind = if ft.is_symlink() {
                match std::fs::read_link(e.path()) {
                    Ok(t) => TopKind::Link(t),
                    Err(_) => continue,
                }
            } else if ft.is_dir() || ft.is_file() {
                TopKind::Other
            } else {
                continue;
            };
            out.push((name, kind));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Check that `inside` (absolute, as the box sees it) names an executable
/// regular file, resolved in the rootfs without ever leaving it (an absolute
/// symlink such as `/bin/sh -> /bin/busybox` is followed inside the rootfs,
/// not on the host). Without a rootfs, the host's root is used. Used by
/// `spawn::plan::resolve_program` to find the program before spawn.
pub(crate) fn check_executable_in_box(sb: &Sandbox, inside: &Path) -> std::io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let root = program_root(sb).unwrap_or_else(|| PathBuf::from("/"));
    let root_fd =
        validate::open_dir(&root).map_err(|_| std::io::Error::from_raw_os_error(libc::ENOENT))?;
    let rel = validate::rel_cstring(inside);
    let fd = openat2(
        root_fd.as_raw_fd(),
        &rel,
        libc::O_PATH | libc::O_CLOEXEC,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    );
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        // Without openat2 (kernels before 5.6, or valgrind, which does not
        // know it) the host's own root can still be checked by path: there
        // is no box root for a symlink to escape from.
        if e.raw_os_error() == Some(libc::ENOSYS) && root == Path::new("/") {
            return check_executable_by_path(inside);
        }
        return Err(e);
    }
    // SAFETY: fd is fresh and ours.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: fstat on an open fd with a zeroed out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(std::io::Error::from_raw_os_error(libc::EACCES));
    }
    // SAFETY: faccessat2 on an open fd with a static empty path.
    let r = unsafe {
        libc::syscall(
            libc::SYS_faccessat2,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::X_OK,
            libc::AT_EMPTY_PATH,
        )
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOSYS) {
            let link = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
            return check_executable_by_path(&link);
        }
        return Err(e);
    }
    Ok(())
}

/// The plain check: a regular file the caller may execute.
fn check_executable_by_path(path: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::from_raw_os_error(libc::EACCES));
    }
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: c is a valid C string.
    if unsafe { libc::access(c.as_ptr(), libc::X_OK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
