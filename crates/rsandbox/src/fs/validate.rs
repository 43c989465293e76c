//! Everything a user can get wrong in the filesystem configuration, checked
//! in the parent before anything is spawned. Errors name the path at fault.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{effective_steps, normalize, FsConfig, MountStep};
use crate::error::{Error, Result};
use crate::ns::Namespace;
use crate::sys::mount::{openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};
use crate::Sandbox;

/// What an existing path in the new root is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    Other,
}

fn has_nul(p: &Path) -> bool {
    p.as_os_str().as_bytes().contains(&0)
}

/// Validate the filesystem configuration (called before anything is spawned).
pub(crate) fn validate(sb: &Sandbox) -> Result<()> {
    if !super::builds_fs(sb) {
        if sb.fs != FsConfig::default() {
            return Err(Error::invalid(
                "fs",
                "rootfs and mount steps need a mount namespace: add mount_ns()",
            ));
        }
        return Ok(());
    }
    let view = View::new(sb)?;
    let mut seen: Vec<(PathBuf, usize)> = Vec::new();
    for (i, step) in view.steps.iter().enumerate() {
        // The default view's own steps are right by construction (made from
        // the host's entries): only the caller's are checked, against them.
        let Some(user_idx) = i.checked_sub(view.first_user) else {
            continue;
        };
        let dst = destination(step, &view.proc_dsts)?;
        check_unique(sb, &view, step, &dst, &seen)?;
        seen.push((dst.clone(), user_idx));
        let at = view.place(i, &dst);
        if check_step(step, &dst, &at, &view)? == Exists::NotNeeded {
            continue;
        }
        if view.default_view && !at.shadowed && !at.writable_parent && at.existing.is_none() {
            return Err(Error::invalid(
                step.kind(),
                format!(
                    "destination {} does not exist on the host, whose root the default \
                     view mounts read-only: mount a tmpfs on a parent first, or use rootfs()",
                    dst.display()
                ),
            ));
        }
    }
    Ok(())
}

/// What the steps are checked against: the new root as the host shows it,
/// the description's namespaces, every step (the default view's first).
struct View {
    root_fd: OwnedFd,
    default_view: bool,
    /// bubblewrap's empty root: nothing exists but what the steps make.
    empty_root: bool,
    user_ns: bool,
    pid_ns: bool,
    /// Namespaces of the box's own, new or joined (then the kernel judges).
    own_ns: Vec<Namespace>,
    steps: Vec<MountStep>,
    /// The index of the caller's first step.
    first_user: usize,
    /// Where a proc is mounted (its process entries cannot be covered).
    proc_dsts: Vec<PathBuf>,
}

/// What the new root holds at one step's destination.
struct Place {
    /// An earlier mount covers it: the host says nothing about it.
    shadowed: bool,
    /// An earlier writable mount above it lets the box make it.
    writable_parent: bool,
    existing: Option<Kind>,
}

/// Whether a step needs its destination to exist (or be makeable).
#[derive(PartialEq, Eq)]
enum Exists {
    Needed,
    NotNeeded,
}

impl View {
    fn new(sb: &Sandbox) -> Result<View> {
        let root = match &sb.fs.rootfs {
            Some(r) => rootfs_dir(r)?,
            None => PathBuf::from("/"),
        };
        let steps = effective_steps(sb);
        let first_user = steps.len() - sb.fs.steps.len();
        let mut proc_dsts: Vec<PathBuf> = steps
            .iter()
            .filter_map(|s| match s {
                MountStep::Proc { dst } => normalize(dst),
                _ => None,
            })
            .collect();
        proc_dsts.push(PathBuf::from("/proc"));
        let own_ns = [Namespace::Ipc, Namespace::Net]
            .into_iter()
            .filter(|ns| sb.has_ns(*ns) || sb.join_ns.iter().any(|(k, _)| k == ns))
            .collect();
        Ok(View {
            root_fd: open_dir(&root)?,
            default_view: sb.fs.rootfs.is_none() && !sb.fs.bare,
            empty_root: sb.fs.rootfs.is_none() && sb.fs.bare,
            user_ns: sb.has_ns(Namespace::User),
            pid_ns: sb.has_ns(Namespace::Pid),
            own_ns,
            steps,
            first_user,
            proc_dsts,
        })
    }

    /// What the new root holds at `dst`, step `i`'s destination. Binds of
    /// a host path onto itself (the default view's) show the same tree and
    /// do not shadow.
    fn place(&self, i: usize, dst: &Path) -> Place {
        let strictly_under =
            |s: &MountStep| normalize(s.dst()).is_some_and(|d| dst.starts_with(&d) && d != dst);
        let earlier = &self.steps[..i];
        let shadowed = earlier
            .iter()
            .any(|s| s.mounts_new() && !s.is_identity_bind() && strictly_under(s));
        let writable_parent = (self.default_view && dst.parent() == Some(Path::new("/")))
            || earlier.iter().any(|s| {
                strictly_under(s)
                    && matches!(
                        s,
                        MountStep::Tmpfs { .. }
                            | MountStep::Overlay { .. }
                            | MountStep::Dir { .. }
                            | MountStep::Bind {
                                readonly: false,
                                ..
                            }
                    )
            });
        let existing = if shadowed || self.empty_root {
            None
        } else {
            kind_in_root(self.root_fd.as_raw_fd(), dst)
        };
        Place {
            shadowed,
            writable_parent,
            existing,
        }
    }

    /// Whether the host (or rootfs) has a say at `dst`.
    fn seen(&self, at: &Place) -> bool {
        !at.shadowed && !self.empty_root
    }
}

/// The rootfs directory, checked.
fn rootfs_dir(r: &Path) -> Result<PathBuf> {
    if has_nul(r) {
        return Err(Error::invalid("rootfs", "path contains a NUL byte"));
    }
    match std::fs::metadata(r) {
        Err(e) => Err(Error::invalid("rootfs", format!("{}: {e}", r.display()))),
        Ok(m) if !m.is_dir() => Err(Error::invalid(
            "rootfs",
            format!("{} is not a directory", r.display()),
        )),
        Ok(_) => Ok(r.to_path_buf()),
    }
}

/// The step's destination, normalized: absolute, without `..`, not the
/// root, not over the box's own process entries in a proc.
fn destination(step: &MountStep, proc_dsts: &[PathBuf]) -> Result<PathBuf> {
    let kind = step.kind();
    let raw = step.dst();
    if has_nul(raw) {
        return Err(Error::invalid(
            kind,
            format!("destination {:?} contains a NUL byte", raw),
        ));
    }
    if !raw.is_absolute() {
        return Err(Error::invalid(
            kind,
            format!(
                "destination {} must be an absolute path inside the box",
                raw.display()
            ),
        ));
    }
    let Some(dst) = normalize(raw) else {
        return Err(Error::invalid(
            kind,
            format!("destination {} must not contain '..'", raw.display()),
        ));
    };
    if dst == Path::new("/") && !matches!(step, MountStep::RemountRo { .. }) {
        return Err(Error::invalid(
            kind,
            "destination / is the root itself: use rootfs() to choose it",
        ));
    }
    for p in proc_dsts {
        check_not_process_entry(kind, &dst, p)?;
    }
    Ok(dst)
}

/// Refuse a destination inside `proc`'s `self`, `thread-self` or a pid
/// directory.
fn check_not_process_entry(kind: &str, dst: &Path, proc: &Path) -> Result<()> {
    let Ok(rest) = dst.strip_prefix(proc) else {
        return Ok(());
    };
    let Some(first) = rest.components().next().map(|c| c.as_os_str().to_owned()) else {
        return Ok(());
    };
    let f = first.as_bytes();
    if f == b"self" || f == b"thread-self" || f.iter().all(u8::is_ascii_digit) {
        return Err(Error::invalid(
            kind,
            format!(
                "destination {} is inside {}/{}, the box's own process \
                 entries: mounting over them is refused",
                dst.display(),
                proc.display(),
                first.to_string_lossy()
            ),
        ));
    }
    Ok(())
}

/// Two steps that make the same path are refused (masks, read-only
/// remounts and mode changes apply to what is there; bubblewrap's empty
/// root allows repeats, as bubblewrap does).
fn check_unique(
    sb: &Sandbox,
    view: &View,
    step: &MountStep,
    dst: &Path,
    seen: &[(PathBuf, usize)],
) -> Result<()> {
    let modifies = matches!(
        step,
        MountStep::Mask { .. } | MountStep::RemountRo { .. } | MountStep::Chmod { .. }
    );
    if sb.fs.bare || modifies {
        return Ok(());
    }
    match seen.iter().find(|(d, _)| d == dst) {
        Some((_, j)) => Err(Error::invalid(
            step.kind(),
            format!(
                "destination {} is already used by step {} ({}); \
                 two steps cannot make the same path",
                dst.display(),
                j,
                view.steps[view.first_user + j].kind()
            ),
        )),
        None => Ok(()),
    }
}

/// The checks of one kind of step.
fn check_step(step: &MountStep, dst: &Path, at: &Place, view: &View) -> Result<Exists> {
    let kind = step.kind();
    match step {
        MountStep::Bind { src, .. } => check_bind(kind, src, dst, at.existing)?,
        MountStep::Tmpfs {
            size, source, mode, ..
        } => check_tmpfs(kind, dst, *size, source.as_deref(), *mode)?,
        MountStep::Proc { .. }
        | MountStep::Dev { .. }
        | MountStep::Mqueue { .. }
        | MountStep::Sysfs { .. } => check_special_fs(step, dst, at, view)?,
        MountStep::Symlink { target, .. } => check_symlink(kind, target, dst, at, view)?,
        MountStep::Overlay {
            lowers,
            upper,
            work,
            ..
        } => check_overlay(kind, dst, lowers, upper.as_deref(), work.as_deref(), at)?,
        MountStep::File { .. } if at.existing.is_some() => {
            return Err(Error::invalid(
                kind,
                format!("{} already exists: file() only creates", dst.display()),
            ))
        }
        MountStep::Dir { mode: Some(m), .. } => check_mode(kind, dst, *m)?,
        MountStep::Dir { .. } | MountStep::File { .. } => {}
        MountStep::Device { mode, kind: k, .. } => check_device(kind, dst, *mode, *k, view)?,
        MountStep::Chmod { mode, .. } => {
            check_mode(kind, dst, *mode)?;
            return Ok(Exists::NotNeeded);
        }
        MountStep::Mask { .. } | MountStep::RemountRo { .. } => return Ok(Exists::NotNeeded),
    }
    Ok(Exists::Needed)
}

fn check_mode(kind: &str, dst: &Path, mode: u32) -> Result<()> {
    if mode > 0o7777 {
        return Err(Error::invalid(
            kind,
            format!("mode {mode:#o} of {} is above 0o7777", dst.display()),
        ));
    }
    Ok(())
}

/// A bind's source exists, is no symlink, and matches the destination's
/// type (file onto file, directory onto directory).
fn check_bind(kind: &str, src: &Path, dst: &Path, existing: Option<Kind>) -> Result<()> {
    if has_nul(src) {
        return Err(Error::invalid(kind, "source contains a NUL byte"));
    }
    let meta = std::fs::symlink_metadata(src).map_err(|e| {
        Error::invalid(
            kind,
            format!("source {} cannot be used: {e}", src.display()),
        )
    })?;
    if meta.file_type().is_symlink() {
        return Err(Error::invalid(
            kind,
            format!(
                "source {} is a symlink; bind its target, or recreate the link \
                 with symlink()",
                src.display()
            ),
        ));
    }
    let (s, d) = (src.display(), dst.display());
    let msg = match (meta.is_dir(), existing) {
        (false, Some(Kind::Dir)) => format!("cannot bind file {s} onto directory {d}"),
        (true, Some(Kind::Other)) => format!("cannot bind directory {s} onto non-directory {d}"),
        _ => return Ok(()),
    };
    Err(Error::invalid(kind, msg))
}

fn check_tmpfs(
    kind: &str,
    dst: &Path,
    size: u64,
    source: Option<&str>,
    mode: Option<u32>,
) -> Result<()> {
    if size == 0 {
        return Err(Error::invalid(
            kind,
            format!("size of the tmpfs on {} must be > 0", dst.display()),
        ));
    }
    if mode.is_some_and(|m| m > 0o7777) {
        return Err(Error::invalid(
            kind,
            format!(
                "mode of the tmpfs on {} must be at most 0o7777",
                dst.display()
            ),
        ));
    }
    if let Some(s) = source {
        if s.is_empty() || s.len() > 255 || s.bytes().any(|b| b == 0 || b == b'\n') {
            return Err(Error::invalid(
                kind,
                format!(
                    "source {s:?} of the tmpfs on {} must be 1 to 255 bytes, \
                     without NUL or newline",
                    dst.display()
                ),
            ));
        }
    }
    Ok(())
}

/// proc, dev, mqueue, sysfs: the namespaces the kernel ties them to, and a
/// real directory to mount on.
fn check_special_fs(step: &MountStep, dst: &Path, at: &Place, view: &View) -> Result<()> {
    let kind = step.kind();
    // The kernel ties mqueue to the IPC namespace and sysfs to the network
    // namespace: in a user namespace it refuses (EPERM) to mount them for
    // namespaces it does not own.
    let needs = match step {
        MountStep::Mqueue { .. } => Some((Namespace::Ipc, "an IPC", "ipc_ns()")),
        MountStep::Sysfs { .. } => Some((Namespace::Net, "a network", "net_ns()")),
        _ => None,
    };
    if let Some((ns, what, method)) = needs {
        if view.user_ns && !view.own_ns.contains(&ns) {
            return Err(Error::invalid(
                kind,
                format!(
                    "mounting {kind} on {} in a user namespace needs {what} \
                     namespace: add {method}",
                    dst.display()
                ),
            ));
        }
    }
    if matches!(step, MountStep::Proc { .. }) && view.user_ns && !view.pid_ns {
        return Err(Error::invalid(
            kind,
            format!(
                "mounting proc on {} in a user namespace needs a PID \
                 namespace: add pid_ns()",
                dst.display()
            ),
        ));
    }
    if view.seen(at) && existing_is_not_real_dir(view.root_fd.as_raw_fd(), dst) {
        return Err(Error::invalid(
            kind,
            format!("destination {} must be a real directory", dst.display()),
        ));
    }
    Ok(())
}

/// A symlink only creates (or finds the same link there), with a target.
fn check_symlink(kind: &str, target: &Path, dst: &Path, at: &Place, view: &View) -> Result<()> {
    let link = view
        .seen(at)
        .then(|| link_in_root(view.root_fd.as_raw_fd(), dst))
        .flatten();
    if let Some(t) = &link {
        if t.as_slice() != target.as_os_str().as_bytes() {
            return Err(Error::invalid(
                kind,
                format!(
                    "Can't make symlink at {}: existing destination is {}",
                    dst.display(),
                    String::from_utf8_lossy(t)
                ),
            ));
        }
    }
    if at.existing.is_some() && link.is_none() {
        return Err(Error::invalid(
            kind,
            format!("{} already exists: symlink() only creates", dst.display()),
        ));
    }
    if target.as_os_str().is_empty() || has_nul(target) {
        return Err(Error::invalid(
            kind,
            format!(
                "target of link {} must be non-empty without NUL bytes",
                dst.display()
            ),
        ));
    }
    Ok(())
}

/// An overlay: lowers, both or neither of upper and work, all existing
/// directories, onto a directory.
fn check_overlay(
    kind: &str,
    dst: &Path,
    lowers: &[PathBuf],
    upper: Option<&Path>,
    work: Option<&Path>,
    at: &Place,
) -> Result<()> {
    if lowers.is_empty() {
        return Err(Error::invalid(
            kind,
            format!("overlay on {} needs at least one lower", dst.display()),
        ));
    }
    if upper.is_some() != work.is_some() {
        return Err(Error::invalid(
            kind,
            format!("overlay on {} needs both upper and work", dst.display()),
        ));
    }
    let dirs = lowers.iter().map(PathBuf::as_path).chain(upper).chain(work);
    for d in dirs {
        if has_nul(d) || !std::fs::metadata(d).is_ok_and(|m| m.is_dir()) {
            return Err(Error::invalid(
                kind,
                format!(
                    "overlay directory {} does not exist or is not a directory",
                    d.display()
                ),
            ));
        }
    }
    if at.existing == Some(Kind::Other) {
        return Err(Error::invalid(
            kind,
            format!("overlay destination {} is not a directory", dst.display()),
        ));
    }
    Ok(())
}

/// A device node: its mode, and in a user namespace (where the kernel
/// refuses mknod of devices) a host device to bind instead.
fn check_device(
    kind: &str,
    dst: &Path,
    mode: u32,
    k: super::DeviceKind,
    view: &View,
) -> Result<()> {
    check_mode(kind, dst, mode)?;
    if !view.user_ns || k == super::DeviceKind::Fifo {
        return Ok(());
    }
    let host = std::fs::symlink_metadata(dst);
    let is_device = host.is_ok_and(|m| {
        use std::os::unix::fs::FileTypeExt;
        m.file_type().is_char_device() || m.file_type().is_block_device()
    });
    if !is_device {
        return Err(Error::invalid(
            kind,
            format!(
                "{}: in a user namespace the kernel refuses mknod of \
                 devices, and the host has no device there to bind",
                dst.display()
            ),
        ));
    }
    Ok(())
}

/// Open a directory `O_PATH`.
pub(crate) fn open_dir(p: &Path) -> Result<OwnedFd> {
    let c = CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::invalid("rootfs", "path contains a NUL byte"))?;
    // SAFETY: c is a valid C string; the result is a fresh fd or -1.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(Error::last_os("open directory", Some(p.to_path_buf())));
    }
    // SAFETY: fd is fresh and ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `dst` relative to the root, as a C string (`.` for the root itself).
pub(crate) fn rel_cstring(dst: &Path) -> CString {
    let rel = dst.strip_prefix("/").unwrap_or(dst);
    let bytes = if rel.as_os_str().is_empty() {
        b".".to_vec()
    } else {
        rel.as_os_str().as_bytes().to_vec()
    };
    CString::new(bytes).unwrap_or_else(|_| c".".into())
}

fn stat_kind(fd: i32) -> Option<Kind> {
    // SAFETY: fstat on a valid fd with a zeroed out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    Some(if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        Kind::Dir
    } else {
        Kind::Other
    })
}

/// What `dst` is inside the root (following symlinks inside it only).
fn kind_in_root(root: i32, dst: &Path) -> Option<Kind> {
    let rel = rel_cstring(dst);
    let fd = openat2(
        root,
        &rel,
        libc::O_PATH | libc::O_CLOEXEC,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    );
    if fd < 0 {
        return None;
    }
    // SAFETY: fd is fresh and ours.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    stat_kind(fd.as_raw_fd())
}

/// The target of `dst` in the root when it is a symlink (its parents
/// resolved inside the root).
fn link_in_root(root: i32, dst: &Path) -> Option<Vec<u8>> {
    let rel = rel_cstring(dst);
    let fd = openat2(
        root,
        &rel,
        libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    );
    if fd < 0 {
        return None;
    }
    // SAFETY: fd is fresh and ours.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut buf = vec![0u8; 4096];
    // SAFETY: readlinkat of an O_PATH symlink fd with an empty path, into
    // a buffer of buf.len() bytes.
    let n = unsafe {
        libc::readlinkat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| {
        buf.truncate(n as usize);
        buf
    })
}

/// Whether `dst` exists in the root but is not a directory reached without
/// a symlink in its last component.
fn existing_is_not_real_dir(root: i32, dst: &Path) -> bool {
    let rel = rel_cstring(dst);
    let fd = openat2(
        root,
        &rel,
        libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    );
    if fd < 0 {
        return false;
    }
    // SAFETY: fd is fresh and ours.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    stat_kind(fd.as_raw_fd()) != Some(Kind::Dir)
}
