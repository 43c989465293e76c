//! Parent side: turn the validated steps into a flat list of primitive
//! operations holding every C string and fd the child needs.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use super::{effective_steps, normalize, MountStep, Template};
use crate::error::{Error, Result};
use crate::ns::Namespace;
use crate::sys::mount::{
    MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY,
};
use crate::Sandbox;

/// Docker's masked /proc paths: hidden under `/dev/null` or an empty
/// read-only tmpfs.
pub(crate) const PROC_MASKED: &[&str] = &[
    "acpi",
    "asound",
    "interrupts",
    "kcore",
    "keys",
    "latency_stats",
    "timer_list",
    "timer_stats",
    "sched_debug",
    "scsi",
];

/// Docker's read-only /proc paths.
pub(crate) const PROC_READONLY: &[&str] = &["bus", "fs", "irq", "sys", "sysrq-trigger"];

/// Device nodes of the minimal /dev, bound from the host's.
pub(crate) const DEV_NODES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// A destination inside the new root, split for a component-wise walk.
#[derive(Debug)]
pub(crate) struct Target {
    /// Relative paths of every prefix: `a`, `a/b`, `a/b/c`.
    pub prefixes: Vec<CString>,
    /// The components: `a`, `b`, `c`.
    pub names: Vec<CString>,
}

/// How to make the last component when it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    /// It must exist (or the op is skipped when optional).
    No,
    /// `mkdirat`.
    Dir,
    /// An empty file (a mount point for a file bind).
    File,
}

/// A host object to mount, identified in the parent and re-opened in the
/// child: a parent fd belongs to the parent's mount namespace, which the
/// kernel refuses to clone from (`check_mnt`), so the child opens `path`
/// again (`O_PATH|O_NOFOLLOW`, before the new root hides anything) and checks
/// it is the very inode the parent validated.
#[derive(Debug)]
pub(crate) struct Src {
    pub path: CString,
    pub dev: u64,
    pub ino: u64,
    /// A directory (not followed: a symlink is not one), as the parent saw it.
    pub is_dir: bool,
    /// The child's fd, set by the child (in its own copy of memory, or in
    /// the caller's when it shares it until its exec: this spawn's plan
    /// only, never read back by the parent).
    pub fd: AtomicI32,
}

impl Src {
    fn new(field: &str, p: &Path) -> Result<Src> {
        let fd = open_src(field, p)?;
        // SAFETY: zeroed stat is a valid out-parameter; fd is open.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
            return Err(Error::last_os(
                format!("stat {field} source"),
                Some(p.into()),
            ));
        }
        Ok(Src {
            path: c(p.as_os_str().as_bytes()),
            dev: st.st_dev,
            ino: st.st_ino,
            is_dir: st.st_mode & libc::S_IFMT == libc::S_IFDIR,
            fd: AtomicI32::new(-1),
        })
    }

    /// A directory given by the caller: symlinks in it are the caller's
    /// choice, so it is canonicalized first.
    fn dir(field: &str, p: &Path) -> Result<Src> {
        let canon = std::fs::canonicalize(p)
            .map_err(|e| Error::io(format!("resolve {field} directory"), Some(p.into()), e))?;
        Src::new(field, &canon)
    }

    /// The fd the child opened.
    pub fn raw(&self) -> RawFd {
        self.fd.load(Ordering::Relaxed)
    }
}

/// A primitive operation.
#[derive(Debug)]
pub(crate) enum Action {
    /// Clone the tree at `src` and attach it.
    Bind {
        src: Src,
        readonly: bool,
        recursive: bool,
        nodev: bool,
    },
    /// A new filesystem from `fsopen`.
    Fs {
        fstype: &'static CStr,
        /// `(key, Some(value))` as a string, `(key, None)` as a flag.
        opts: Vec<(CString, Option<CString>)>,
        attrs: u64,
    },
    /// Just make sure the directory exists.
    Dir,
    /// `symlinkat(target, parent, name)`.
    Symlink { target: CString },
    /// Create the file (exclusively) and write `data`.
    File { data: Vec<u8> },
    /// `mknodat`, then `fchmodat` (the umask is not applied) and
    /// `fchownat`.
    Mknod {
        mode: u32,
        dev: libc::dev_t,
        uid: u32,
        gid: u32,
    },
    /// Hide: empty read-only tmpfs on a directory, `/dev/null` otherwise.
    Mask,
    /// Bind the path onto itself and make it read-only recursively.
    RemountRo,
    /// Set the permission bits of the existing path.
    Chmod { mode: u32 },
    /// `mount_setattr(RDONLY)` on the mount rooted at the target.
    SetRo,
    /// An overlay with fd-based layers.
    Overlay {
        lowers: Vec<Src>,
        /// Host upper and work directories (`None`: a private tmpfs).
        upper: Option<(Src, Src)>,
        userxattr: bool,
    },
    /// Attach a detached mount the parent made (`move_mount`; the fd is
    /// numbered above the passed fds' targets).
    Attach { mount: OwnedFd },
}

/// One operation on one destination.
#[derive(Debug)]
pub(crate) struct Op {
    pub target: Target,
    pub create: Create,
    /// Skip silently when the destination is missing.
    pub optional: bool,
    /// The last component must be a directory reached without a symlink.
    pub real_dir: bool,
    pub action: Action,
    /// The destination in the box, for messages.
    pub path: PathBuf,
    /// Permission bits of a directory this op makes (and, derived, of its
    /// missing parents); `None`: `0o755`, less the umask.
    pub mode: Option<u32>,
}

/// Where `/` comes from.
#[derive(Debug)]
pub(crate) enum Root {
    /// A fresh tmpfs (the default view binds the host's top-level
    /// entries into it), read-only once the steps are applied.
    Tmpfs,
    /// A directory opened in the parent.
    Dir(Src),
}

/// Mount work prepared in the parent for the child.
#[derive(Debug)]
pub(crate) struct MountPlan {
    pub root: Root,
    /// Make the root mount read-only after the steps.
    pub root_ro: bool,
    /// Make the root and every mount under it read-only before the steps
    /// (bubblewrap's `--ro-bind DIR /`).
    pub root_ro_first: bool,
    /// Make the root and every mount under it `nodev` before the steps.
    pub root_nodev: bool,
    /// An existing host directory the new root is attached on before
    /// `pivot_root` (inside the private mount namespace).
    pub stage: CString,
    pub ops: Vec<Op>,
    /// The host's `/dev/null`, for masks.
    pub null: Src,
    /// The template holding the shared part of the default view (the
    /// child then clones it instead of building it: see `template.rs`).
    pub template: Option<Arc<Template>>,
    /// Lock the view before entering it (see [`MountPlan::lock`]).
    pub lock: Option<ViewLock>,
}

/// The id maps of the nested user namespace that locks a view: one line
/// each, the child's own ids mapped to themselves (`"ID ID 1"`), which the
/// kernel lets a process write for itself.
#[derive(Debug)]
pub(crate) struct ViewLock {
    pub uid_map: CString,
    pub gid_map: CString,
}

fn c(bytes: &[u8]) -> CString {
    // Validation rejected NUL bytes in every path already.
    CString::new(bytes).unwrap_or_default()
}

fn opt(k: &str, v: Option<&str>) -> (CString, Option<CString>) {
    (c(k.as_bytes()), v.map(|v| c(v.as_bytes())))
}

fn target(dst: &Path) -> Target {
    let mut prefixes = Vec::new();
    let mut names = Vec::new();
    let mut acc = PathBuf::new();
    for comp in dst.components().skip(1) {
        acc.push(comp);
        prefixes.push(c(acc.as_os_str().as_bytes()));
        names.push(c(comp.as_os_str().as_bytes()));
    }
    Target { prefixes, names }
}

/// Open a host path `O_PATH` without following a symlink in its last
/// component.
fn open_src(field: &str, p: &Path) -> Result<OwnedFd> {
    let cs = CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::invalid(field, "path contains a NUL byte"))?;
    // SAFETY: cs is a valid C string; the result is a fresh fd or -1.
    let fd = unsafe {
        libc::open(
            cs.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(Error::last_os(
            format!("open {field} source"),
            Some(p.into()),
        ));
    }
    // SAFETY: fd is fresh and ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl super::template::ViewBuilder for MountPlan {
    unsafe fn build_view(&self, slim: bool) -> std::result::Result<RawFd, (&'static str, i32)> {
        // SAFETY: the caller's contract (a private mount namespace of its own).
        unsafe { self.build_template(slim) }
    }
}

impl MountPlan {
    /// Lock every mount of the view, for a box that may undo them: one
    /// whose user namespace maps host root and that may hold
    /// `CAP_SYS_ADMIN` there could unmount a `/proc` mask or make a
    /// read-only bind writable, and then write as host root (security
    /// review F6). The kernel locks the mounts of a mount namespace copied
    /// into a less privileged user namespace (`MNT_LOCKED`, and read-only,
    /// nodev, nosuid, noexec locked where set): so the child, once the
    /// view is built and before entering it, makes a nested user namespace
    /// mapping its own `uid` and `gid` to themselves, and a mount namespace
    /// with it. The payload runs there with the capabilities the
    /// description leaves it, over its mount namespace only: the network,
    /// UTS and IPC namespaces stay the outer user namespace's.
    pub(crate) fn lock(&mut self, uid: u32, gid: u32) {
        let line = |id: u32| c(format!("{id} {id} 1").as_bytes());
        self.lock = Some(ViewLock {
            uid_map: line(uid),
            gid_map: line(gid),
        });
    }

    /// Show the box's own cgroup under its `/sys/fs/cgroup`: a read-only
    /// cgroup2 of its cgroup namespace (rooted at the box's cgroup) on the
    /// default view's fresh sysfs, where the box has both. Skipped where
    /// the directory is missing; an empty directory where the kernel
    /// refuses the mount.
    pub(crate) fn show_own_cgroup(&mut self) {
        let fresh_sys = self.ops.iter().any(|o| {
            o.path == Path::new("/sys")
                && match &o.action {
                    Action::Fs { fstype, .. } => *fstype == c"sysfs",
                    Action::Attach { .. } => true,
                    _ => false,
                }
        });
        if fresh_sys {
            let ro = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
            let cgroup2 = Action::Fs {
                fstype: c"cgroup2",
                opts: vec![opt("source", Some("cgroup2"))],
                attrs: ro,
            };
            let mut o = op(Path::new("/sys/fs/cgroup"), Create::No, cgroup2);
            o.optional = true;
            self.ops.push(o);
        }
    }

    /// The parent's fds the child uses (it closes all others first thing):
    /// the detached mounts it attaches.
    pub(crate) fn inherited_fds(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.ops.iter().filter_map(|o| match &o.action {
            Action::Attach { mount } => Some(mount.as_raw_fd()),
            _ => None,
        })
    }

    /// Attach `sysfs`, a detached sysfs the parent made in the box's
    /// network namespace (`crate::netpool`), where the plan would mount a
    /// new one on `/sys`: the box's user namespace does not own that
    /// namespace, so the kernel would refuse it the mount.
    pub(crate) fn attach_sysfs(&mut self, sysfs: OwnedFd) {
        let fresh = self.ops.iter_mut().find(|o| {
            o.path == Path::new("/sys")
                && matches!(o.action, Action::Fs { fstype, .. } if fstype == c"sysfs")
        });
        if let Some(op) = fresh {
            op.action = Action::Attach { mount: sysfs };
        }
    }

    /// Validate the filesystem configuration and prepare every path the child
    /// needs. `None` when the sandbox has no mount namespace. `shared`: the
    /// template may serve the view (else it is built per box).
    pub(crate) fn prepare(sb: &Sandbox, shared: bool) -> Result<Option<MountPlan>> {
        if !super::builds_fs(sb) {
            return Ok(None);
        }
        check_kernel()?;
        let user_ns = sb.has_ns(Namespace::User);
        let root = match &sb.fs.rootfs {
            Some(dir) => Root::Dir(Src::dir("rootfs", dir)?),
            None => Root::Tmpfs,
        };
        let stage = stage()?;
        let null = Src::new("mask", Path::new("/dev/null"))?;
        let template = shared
            .then(|| {
                super::template::for_sandbox(sb, |hidden| {
                    MountPlan::for_template(hidden).map_err(|e| e.to_string())
                })
            })
            .flatten();

        let ops = compile_steps(sb, template.as_deref(), user_ns)?;
        Ok(Some(MountPlan {
            root,
            // bubblewrap's empty root stays writable; its read-only rootfs
            // is made so before the steps (`root_ro_first`).
            root_ro: !sb.fs.rootfs_writable && !sb.fs.bare,
            root_ro_first: !sb.fs.rootfs_writable && sb.fs.bare && sb.fs.rootfs.is_some(),
            root_nodev: sb.fs.rootfs_nodev && sb.fs.rootfs.is_some(),
            stage: c(stage.as_bytes()),
            ops,
            null,
            template,
            lock: None,
        }))
    }

    /// The plan of the template's view (see `template.rs`): the host's
    /// top-level entries (read-only binds, symlinks), the mount points of
    /// the per-box `/proc`, `/tmp`, `/run` and `/sys`, and a read-only `/dev`
    /// skeleton with its nodes, links and the `pts` and `shm` mount points.
    /// `hidden`: the host paths masked in it (see `fs::hidden_host_paths`).
    pub(crate) fn for_template(hidden: &[PathBuf]) -> Result<MountPlan> {
        check_kernel()?;
        let mut ops = Vec::new();
        for step in super::host_top_steps(|_| true) {
            let dst = normalize(step.dst()).unwrap_or_else(|| PathBuf::from("/"));
            compile(&step, &dst, false, &mut ops)?;
        }
        for d in ["/proc", "/tmp", "/run", "/sys"] {
            ops.push(op(Path::new(d), Create::Dir, Action::Dir));
        }
        for path in hidden {
            let step = MountStep::Mask { path: path.clone() };
            compile(&step, path, false, &mut ops)?;
        }
        let dev = Path::new("/dev");
        dev_skeleton(dev, &mut ops)?;
        for d in ["pts", "shm"] {
            ops.push(op(&dev.join(d), Create::Dir, Action::Dir));
        }
        ops.push(op(dev, Create::No, Action::SetRo));
        Ok(MountPlan {
            root: Root::Tmpfs,
            root_ro: true,
            root_ro_first: false,
            root_nodev: false,
            stage: c(stage()?.as_bytes()),
            ops,
            null: Src::new("mask", Path::new("/dev/null"))?,
            template: None,
            lock: None,
        })
    }

    /// The template this plan clones its root from, if any.
    pub(crate) fn template(&self) -> Option<&Arc<Template>> {
        self.template.as_ref()
    }

    /// The destination of operation `idx`, for error messages.
    pub(crate) fn step_path(&self, idx: u32) -> Option<PathBuf> {
        self.ops.get(idx as usize).map(|o| o.path.clone())
    }
}

/// Whether a fresh proc may have `/proc/<name>` (a masked or read-only
/// entry): false only when the host's `/proc` is a full procfs without it,
/// as kernels built without the feature (`kcore`, `sysrq-trigger`,
/// `scsi`...) lack it in every proc instance. A `subset=pid` proc (no
/// `meminfo`, no `sys`) says nothing: then every entry is kept. Saves the
/// child two failed lookups per absent entry. Checked once per process.
fn proc_has(name: &str) -> bool {
    static PRESENT: std::sync::OnceLock<Option<Vec<&'static str>>> = std::sync::OnceLock::new();
    let present = PRESENT.get_or_init(|| {
        // SAFETY: statfs of a static C string into a zeroed out-parameter.
        let is_proc = unsafe {
            let mut st: libc::statfs = std::mem::zeroed();
            libc::statfs(c"/proc".as_ptr(), &mut st) == 0 && st.f_type == libc::PROC_SUPER_MAGIC
        };
        let full = ["meminfo", "sys", "self"]
            .iter()
            .all(|e| std::fs::symlink_metadata(Path::new("/proc").join(e)).is_ok());
        (is_proc && full).then(|| {
            PROC_MASKED
                .iter()
                .chain(PROC_READONLY)
                .copied()
                .filter(|m| std::fs::symlink_metadata(Path::new("/proc").join(m)).is_ok())
                .collect()
        })
    });
    present.as_ref().is_none_or(|p| p.contains(&name))
}

/// An existing host directory the new root is attached on before
/// `pivot_root` (inside the private mount namespace).
fn stage() -> Result<&'static str> {
    ["/tmp", "/mnt", "/var/tmp", "/run"]
        .into_iter()
        .find(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
        .ok_or_else(|| Error::Unsupported {
            feature: "a mount point for the new root".into(),
            detail: "none of /tmp, /mnt, /var/tmp, /run is a directory on this host".into(),
        })
}

/// The syscalls the child relies on exist (probed once, with arguments that
/// fail harmlessly: ENOSYS means missing).
fn check_kernel() -> Result<()> {
    use crate::sys::mount as sc;
    static MISSING: std::sync::OnceLock<Option<&'static str>> = std::sync::OnceLock::new();
    let missing = *MISSING.get_or_init(|| {
        let enosys = |r: i64| r < 0 && crate::sys::errno() == libc::ENOSYS;
        if enosys(sc::openat2(-1, c"", 0, 0) as i64) {
            return Some("openat2 (Linux 5.6)");
        }
        if enosys(sc::open_tree(-1, c"", 0) as i64) {
            return Some("open_tree/move_mount (Linux 5.2)");
        }
        if enosys(sc::fsopen(c"") as i64) {
            return Some("fsopen/fsmount (Linux 5.2)");
        }
        if enosys(sc::mount_setattr(-1, false, 0, 0) as i64) {
            return Some("mount_setattr (Linux 5.12)");
        }
        None
    });
    match missing {
        Some(what) => Err(Error::Unsupported {
            feature: what.into(),
            detail: "the filesystem view of a mount namespace needs Linux 5.12 or later".into(),
        }),
        None => Ok(()),
    }
}

fn op(dst: &Path, create: Create, action: Action) -> Op {
    Op {
        target: target(dst),
        create,
        optional: false,
        real_dir: false,
        action,
        path: dst.to_path_buf(),
        mode: None,
    }
}

/// Options of a tmpfs named `source` (what `/proc/self/mountinfo` shows,
/// like `mount -t tmpfs <source>`).
fn tmpfs_opts(source: &str, size: u64, mode: &str) -> Vec<(CString, Option<CString>)> {
    let mut v = vec![opt("source", Some(source)), opt("mode", Some(mode))];
    if size > 0 {
        v.push(opt("size", Some(&size.to_string())));
    }
    v
}

/// The ops of one mount step at `dst`, appended to `ops`. Each kind of
/// step has its own small builder, so this match reads as the table of
/// what every step becomes.
fn compile(step: &MountStep, dst: &Path, user_ns: bool, ops: &mut Vec<Op>) -> Result<()> {
    match step {
        MountStep::Bind {
            src,
            readonly,
            nodev,
            ..
        } => ops.push(bind_op(step.kind(), src, dst, *readonly, *nodev)?),
        MountStep::Tmpfs {
            size, source, mode, ..
        } => ops.push(tmpfs_op(dst, *size, source.as_deref(), *mode)),
        MountStep::Proc { .. } => proc_ops(dst, ops),
        MountStep::Dev { .. } => dev_ops(dst, ops)?,
        MountStep::Mqueue { .. } => ops.push(kernel_fs_op(dst, c"mqueue", 0)),
        MountStep::Sysfs { .. } => sysfs_ops(dst, ops),
        MountStep::Dir { mode, .. } => ops.push(dir_op(dst, *mode)),
        MountStep::Chmod { mode, .. } => {
            ops.push(op(dst, Create::No, Action::Chmod { mode: *mode }))
        }
        MountStep::Symlink { target, .. } => ops.push(symlink_op(dst, target)),
        MountStep::File { data, .. } => {
            ops.push(op(dst, Create::No, Action::File { data: data.clone() }))
        }
        MountStep::Device { kind, .. } if user_ns && *kind != super::DeviceKind::Fifo => {
            ops.push(host_device_op(step.kind(), dst)?)
        }
        MountStep::Device {
            kind,
            major,
            minor,
            mode,
            uid,
            gid,
            ..
        } => ops.push(mknod_op(
            dst,
            kind.type_bits() | mode,
            libc::makedev(*major, *minor),
            *uid,
            *gid,
        )),
        MountStep::Overlay {
            lowers,
            upper,
            work,
            ..
        } => ops.push(overlay_op(
            dst,
            lowers,
            upper.as_deref(),
            work.as_deref(),
            user_ns,
        )?),
        MountStep::Mask { .. } => masks(dst, [""].iter(), ops),
        MountStep::RemountRo { .. } => ops.push(op(dst, Create::No, Action::RemountRo)),
    }
    Ok(())
}

/// A minimal `/dev` at `dst`: its skeleton and mounts. Made read-only by
/// the caller once the steps under `dst` (which may need to create mount
/// points in it) are done.
fn dev_ops(dst: &Path, ops: &mut Vec<Op>) -> Result<()> {
    dev_skeleton(dst, ops)?;
    dev_mounts(dst, ops);
    Ok(())
}

/// A read-only sysfs at `dst` with Docker's masked paths hidden.
fn sysfs_ops(dst: &Path, ops: &mut Vec<Op>) {
    ops.push(kernel_fs_op(dst, c"sysfs", MOUNT_ATTR_RDONLY));
    masks(dst, super::sysfs::SYS_MASKED.iter(), ops);
}

/// A directory made at `dst` (with `mode` when given).
fn dir_op(dst: &Path, mode: Option<u32>) -> Op {
    let mut o = op(dst, Create::Dir, Action::Dir);
    o.mode = mode;
    o
}

/// A symlink at `dst` pointing to `target`, kept as a C string so the
/// child can make it without allocating.
fn symlink_op(dst: &Path, target: &Path) -> Op {
    let target = c(target.as_os_str().as_bytes());
    op(dst, Create::No, Action::Symlink { target })
}

/// A device node bound from the host's at `dst`: mknod of a device is
/// refused in a user namespace, so the host's node is the only way in.
fn host_device_op(field: &str, dst: &Path) -> Result<Op> {
    let fd = Src::new(field, dst)?;
    let bind = Action::Bind {
        src: fd,
        readonly: false,
        recursive: false,
        nodev: false,
    };
    Ok(op(dst, Create::File, bind))
}

/// A device node (or fifo) made with mknod at `dst`; `mode` holds the
/// node's type bits and permissions.
fn mknod_op(dst: &Path, mode: u32, dev: libc::dev_t, uid: u32, gid: u32) -> Op {
    let node = Action::Mknod {
        mode,
        dev,
        uid,
        gid,
    };
    op(dst, Create::No, node)
}

/// A recursive bind of the host's `src` (a file or a directory).
fn bind_op(field: &str, src: &Path, dst: &Path, readonly: bool, nodev: bool) -> Result<Op> {
    let fd = Src::new(field, src)?;
    // The inode just opened (O_NOFOLLOW), not a second lookup of the path.
    let create = if fd.is_dir { Create::Dir } else { Create::File };
    let bind = Action::Bind {
        src: fd,
        readonly,
        recursive: true,
        nodev,
    };
    Ok(op(dst, create, bind))
}

/// A tmpfs; `/tmp`'s mode is 1777 unless given.
fn tmpfs_op(dst: &Path, size: u64, source: Option<&str>, mode: Option<u32>) -> Op {
    let mode = match mode {
        Some(m) => format!("{m:04o}"),
        None if dst == Path::new("/tmp") => "1777".into(),
        None => "0755".into(),
    };
    let fs = Action::Fs {
        fstype: c"tmpfs",
        opts: tmpfs_opts(source.unwrap_or("tmpfs"), size, &mode),
        attrs: MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
    };
    op(dst, Create::Dir, fs)
}

/// A fresh proc, with Docker's masked and read-only paths that this
/// kernel has.
fn proc_ops(dst: &Path, ops: &mut Vec<Op>) {
    ops.push(kernel_fs_op(dst, c"proc", 0));
    masks(dst, PROC_MASKED.iter().filter(|m| proc_has(m)), ops);
    for m in PROC_READONLY.iter().filter(|m| proc_has(m)) {
        let mut o = op(&dst.join(m), Create::No, Action::RemountRo);
        o.optional = true;
        ops.push(o);
    }
}

/// The name of the proc kept for a template's forks under `/proc`.
const FORKS_PROC: &str = ".forks-proc";

/// Whether `step` mounts the box's `/proc` (at `dst`, normalized).
pub(crate) fn is_root_proc(step: &MountStep, dst: &Path) -> bool {
    matches!(step, MountStep::Proc { .. }) && dst == Path::new("/proc")
}

/// Before the `/proc` of a template box whose namespaced forks mount
/// their own: a read-only proc on a small holder tmpfs, which the box's
/// `/proc` then covers. The kernel lets a user namespace mount a proc
/// only while a proc of its mount namespace is fully visible (no locked
/// mount over any of its entries); the box's own `/proc` is not, once a
/// fork's namespace has locked its masks. This one has nothing over it
/// (the box's `/proc` covers its parent, the holder), so it is, and it
/// is read-only, so every proc mounted in a user namespace under it must
/// be too (`mnt_already_visible`): the forks' own, and any that the
/// template process itself could mount through the holes of its filter.
/// No path reaches it: in a fork's namespace every mount is locked, so
/// the box's `/proc` cannot be taken off it.
fn forks_proc_ops(dst: &Path, ops: &mut Vec<Op>) {
    ops.push(tmpfs_op(dst, 4096, Some("rsandbox-forks"), Some(0o700)));
    ops.push(kernel_fs_op(
        &dst.join(FORKS_PROC),
        c"proc",
        MOUNT_ATTR_RDONLY,
    ));
    ops.push(op(dst, Create::No, Action::SetRo));
}

/// A kernel filesystem named `fstype` (its source too), nosuid, nodev,
/// noexec and `more`, on a real directory.
fn kernel_fs_op(dst: &Path, fstype: &'static CStr, more: u64) -> Op {
    let source = fstype.to_str().unwrap_or_default();
    let mut o = op(
        dst,
        Create::Dir,
        Action::Fs {
            fstype,
            opts: vec![opt("source", Some(source))],
            attrs: MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC | more,
        },
    );
    o.real_dir = true;
    o
}

/// Masks over `dst`'s entries `names` (`""`: `dst` itself), skipped where
/// missing.
fn masks<'a>(dst: &Path, names: impl Iterator<Item = &'a &'a str>, ops: &mut Vec<Op>) {
    for m in names {
        let path = if m.is_empty() {
            dst.to_path_buf()
        } else {
            dst.join(m)
        };
        let mut o = op(&path, Create::No, Action::Mask);
        o.optional = true;
        ops.push(o);
    }
}

/// An overlay of fd layers (Linux 6.8's `lowerdir+`), on a private tmpfs
/// upper layer unless `upper` and `work` are given.
fn overlay_op(
    dst: &Path,
    lowers: &[PathBuf],
    upper: Option<&Path>,
    work: Option<&Path>,
    user_ns: bool,
) -> Result<Op> {
    if !crate::sys::kernel::overlay_fd_layers() {
        let (major, minor) = crate::sys::kernel::version();
        return Err(Error::Unsupported {
            feature: "overlay with layers as fds (lowerdir+, Linux 6.8)".into(),
            detail: format!(
                "this kernel is {major}.{minor}; overlay on {} needs Linux 6.8 or later",
                dst.display()
            ),
        });
    }
    let mut l = Vec::new();
    for d in lowers {
        l.push(Src::dir("overlay", d)?);
    }
    let upper = match (upper, work) {
        (Some(u), Some(w)) => Some((Src::dir("overlay", u)?, Src::dir("overlay", w)?)),
        _ => None,
    };
    let overlay = Action::Overlay {
        lowers: l,
        upper,
        userxattr: user_ns,
    };
    Ok(op(dst, Create::Dir, overlay))
}

/// The operations of every step of `sb` (the default view's first), less
/// what `template` holds already.
fn compile_steps(sb: &Sandbox, template: Option<&Template>, user_ns: bool) -> Result<Vec<Op>> {
    let mut ops = Vec::new();
    // A /dev waiting to be made read-only after the later steps (e.g.
    // mqueue on /dev/mqueue needs its mount point made in it), or just
    // before a step on it or on a parent, which would cover it.
    let mut dev_ro: Vec<PathBuf> = Vec::new();
    let steps = effective_steps(sb);
    let first_user = steps.len() - sb.fs.steps.len();
    for (i, step) in steps.into_iter().enumerate() {
        // Validated: normalize succeeds.
        let dst = normalize(step.dst()).unwrap_or_else(|| PathBuf::from("/"));
        dev_ro.retain(|d| {
            let covered = d.starts_with(&dst);
            if covered {
                ops.push(op(d, Create::No, Action::SetRo));
            }
            !covered
        });
        let default_view = i < first_user;
        if sb.proc_for_forks && is_root_proc(&step, &dst) {
            forks_proc_ops(&dst, &mut ops);
        }
        if let (Some(t), true) = (template, default_view) {
            // The template holds the host's entries (masked ones locked
            // there) and the read-only skeleton of /dev; only the per-box
            // mounts remain.
            match step {
                _ if t.hides(&step) => {}
                MountStep::Bind { .. } | MountStep::Symlink { .. } => {}
                MountStep::Dev { .. } => dev_mounts(&dst, &mut ops),
                _ => compile(&step, &dst, user_ns, &mut ops)?,
            }
            continue;
        }
        compile(&step, &dst, user_ns, &mut ops)?;
        if matches!(step, MountStep::Sysfs { .. }) && default_view {
            default_sysfs_falls_back(&mut ops);
        }
        if matches!(step, MountStep::Dev { .. }) {
            dev_ro.push(dst);
        }
    }
    for d in dev_ro {
        ops.push(op(&d, Create::No, Action::SetRo));
    }
    Ok(ops)
}

/// Mark the default view's sysfs op just compiled (followed by its
/// masks) as falling back to an empty read-only directory where the kernel
/// refuses the mount (`optional` on an `Action::Fs`, see `apply.rs`).
fn default_sysfs_falls_back(ops: &mut [Op]) {
    let sysfs = ops
        .iter_mut()
        .rev()
        .find(|o| matches!(&o.action, Action::Fs { fstype, .. } if *fstype == c"sysfs"));
    if let Some(o) = sysfs {
        o.optional = true;
    }
}

/// The fixed part of a minimal /dev on `dst`: its tmpfs, the device nodes
/// (binds of the host's) and the links.
fn dev_skeleton(dst: &Path, ops: &mut Vec<Op>) -> Result<()> {
    let mut o = op(
        dst,
        Create::Dir,
        Action::Fs {
            fstype: c"tmpfs",
            opts: tmpfs_opts("tmpfs", 1 << 20, "0755"),
            attrs: MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
        },
    );
    o.real_dir = true;
    ops.push(o);
    for n in DEV_NODES {
        let host = Path::new("/dev").join(n);
        let fd = Src::new("dev", &host)?;
        ops.push(op(
            &dst.join(n),
            Create::File,
            Action::Bind {
                src: fd,
                readonly: false,
                recursive: false,
                nodev: false,
            },
        ));
    }
    for (name, to) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        ops.push(op(
            &dst.join(name),
            Create::No,
            Action::Symlink {
                target: c(to.as_bytes()),
            },
        ));
    }
    Ok(())
}

/// The per-box part of a minimal /dev on `dst`: a new devpts instance and
/// a private `shm` tmpfs.
fn dev_mounts(dst: &Path, ops: &mut Vec<Op>) {
    ops.push(op(
        &dst.join("pts"),
        Create::Dir,
        Action::Fs {
            fstype: c"devpts",
            opts: vec![
                opt("source", Some("devpts")),
                opt("newinstance", None),
                opt("ptmxmode", Some("0666")),
                opt("mode", Some("0620")),
            ],
            attrs: MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
        },
    ));
    ops.push(op(
        &dst.join("shm"),
        Create::Dir,
        Action::Fs {
            fstype: c"tmpfs",
            opts: tmpfs_opts("shm", 0, "1777"),
            attrs: MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        },
    ));
}
