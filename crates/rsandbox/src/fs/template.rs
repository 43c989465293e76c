//! The template mount namespace: the default root view, built once per
//! process instead of once per box.
//!
//! Building the default view costs about a hundred mount syscalls in the
//! child (a tmpfs root, one read-only recursive bind per host top-level
//! entry, the `/dev` nodes...), plus the parent's host lookups. For a caller
//! privileged in the initial user namespace (root) whose box has a user
//! namespace, that part of the view is built once, in a private mount
//! namespace of its own (the *template*), kept alive by an nsfs fd:
//!
//! * a helper thread `unshare(CLONE_FS|CLONE_NEWNS)`s, makes `/` recursively
//!   private (nothing reaches the host) and builds the view, read-only,
//!   reachable only through an fd. There are two kinds:
//!   - the *slim* template, for boxes without host sources (most): the view
//!     is built on a small tmpfs (the *shell*) that then becomes the
//!     template's root, the host's tree detached; the shell keeps only the
//!     host's `/proc` (a user namespace may mount a new proc only where a
//!     fully visible one exists), `/dev/null` (for masks) and the stage
//!     directory. Each box copies and detaches ~50 mounts, not the host's
//!     whole tree;
//!   - the *full* template, for boxes with a bind or overlay source (opened
//!     by path in the box's namespace) or a sysfs: the host's tree stays; a
//!     small private tmpfs (the *holder*) is mounted on the stage directory
//!     (`/tmp`), the view built on `holder/view`, and the host's own stage
//!     tree (cloned beforehand) put back on top of the holder, so paths in
//!     the template are the host's;
//! * the launcher's template lane (a long-lived thread with its own
//!   `fs_struct`) `setns`es into the template and `fchdir`s into the view
//!   before `clone3(CLONE_NEWNS...)`, so the box's new mount namespace is an
//!   in-kernel copy of the template, with the view as its working directory.
//!   The box has a user namespace, so the kernel locks every copied mount
//!   (`MNT_LOCKED`, `MNT_LOCK_READONLY`): the box's root can neither unmount
//!   a bind to uncover what is below nor remount it read-write;
//! * the child clones the view (`open_tree(OPEN_TREE_CLONE|AT_RECURSIVE)` on
//!   its working directory, checked to be the view), mounts only what is
//!   per box (`/proc` for its PID namespace, `/dev/pts`, `/dev/shm`, `/tmp`,
//!   `/run`, the caller's steps) and pivots into it as before, detaching the
//!   rest (the shell or holder, the host's `/proc` or tree) with the old
//!   root. The box's root may unmount its own `/proc`: below is the view's
//!   empty directory, never the host's proc.
//!
//! The template is rebuilt when it may be stale: the caller's mount
//! namespace changed (another thread in another namespace), a mount or
//! unmount happened in it (`poll` on its `/proc/thread-self/mountinfo`), or
//! the host's `/` changed (its `mtime`/`ctime`: an entry added, removed or
//! replaced). A box the template cannot serve (a rootfs, a step on `/dev` or
//! on a top-level path other than `/tmp`, `/run`, `/proc`, a relative bind
//! source, no user namespace, an unprivileged caller) takes the per-box
//! path; so does every box when the template cannot be built (the reason:
//! [`template_error`](crate::fs::template_error)), or with
//! `RSANDBOX_NO_TEMPLATE=1` in the environment.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::{normalize, MountStep};
use crate::ns::Namespace;
use crate::sys::caps::{has_effective_cap, CAP_SYS_ADMIN, CAP_SYS_CHROOT};
use crate::sys::mount::make_root_rprivate;
use crate::Sandbox;

/// The inode number of the initial user namespace (`PROC_USER_INIT_INO`).
const INIT_USER_NS_INO: u64 = 0xEFFF_FFFD;

/// A built template: the namespace and the view in it.
#[derive(Debug)]
pub(crate) struct Template {
    /// nsfs fd of the template mount namespace.
    ns: OwnedFd,
    /// The view's root (an fd into the template namespace).
    view: OwnedFd,
    /// `(st_dev, st_ino)` of the view's root: the child checks that its
    /// working directory is this very directory before cloning it.
    pub(crate) view_id: (u64, u64),
    /// What the template was built from.
    key: Key,
    /// `/proc/thread-self/mountinfo` of the source namespace, opened before
    /// the template was copied from it: `poll` reports any mount change.
    changes: OwnedFd,
    /// The host paths masked in the view (see `fs::hidden_host_paths`):
    /// masked there, they are locked in every box.
    hidden: Vec<PathBuf>,
}

/// The state of the host the template reflects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    /// `(st_dev, st_ino)` of the caller's mount namespace.
    mnt_ns: (u64, u64),
    /// `/`: dev, ino, mtime, ctime (with nanoseconds).
    root: (u64, u64, i64, i64, i64, i64),
}

fn stat(path: &std::ffi::CStr) -> Option<libc::stat> {
    // SAFETY: a valid C string and a zeroed stack out-parameter.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::stat(path.as_ptr(), &mut st) == 0).then_some(st)
    }
}

impl Key {
    fn now() -> Option<Key> {
        let ns = stat(c"/proc/thread-self/ns/mnt")?;
        let r = stat(c"/")?;
        Some(Key {
            mnt_ns: (ns.st_dev, ns.st_ino),
            root: (
                r.st_dev,
                r.st_ino,
                r.st_mtime,
                r.st_mtime_nsec,
                r.st_ctime,
                r.st_ctime_nsec,
            ),
        })
    }
}

impl Template {
    /// Whether a mount or unmount happened in the source namespace since
    /// the template was built (one `poll`, no wait).
    fn stale(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.changes.as_raw_fd(),
            events: libc::POLLPRI,
            revents: 0,
        };
        // SAFETY: poll on one valid pollfd, zero timeout.
        let r = unsafe { libc::poll(&mut p, 1, 0) };
        r != 0 || p.revents != 0
    }

    /// Whether `step` is a default-view mask the template already holds.
    pub(crate) fn hides(&self, step: &MountStep) -> bool {
        super::is_hidden_mask(step, &self.hidden)
    }

    /// Move the calling thread into the template, working directory on the
    /// view. The thread must not share its `fs_struct` (`unshare(CLONE_FS)`
    /// first): only the launcher's template lane calls this.
    pub(crate) fn enter(&self) -> std::io::Result<()> {
        // SAFETY: setns/fchdir on fds we own; they change only this
        // thread's mount namespace, root and cwd (its fs_struct is private).
        unsafe {
            if libc::setns(self.ns.as_raw_fd(), libc::CLONE_NEWNS) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::fchdir(self.view.as_raw_fd()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// One template of the process and, when it could not be built, why.
struct Slot {
    template: Option<Arc<Template>>,
    /// The key a build failed for: not retried until the host changes.
    failed: Option<(Key, String)>,
}

/// The slim template (index 0) and the full one (index 1).
static CACHE: Mutex<[Slot; 2]> = Mutex::new([
    Slot {
        template: None,
        failed: None,
    },
    Slot {
        template: None,
        failed: None,
    },
]);

/// Why the last build of the default view's template mount namespace
/// failed, if it did: boxes then build their view themselves (slower, same
/// result). `None` also when no template was needed or the caller is not
/// root.
pub fn last_error() -> Option<String> {
    let g = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    g.iter()
        .find_map(|s| s.failed.as_ref().map(|(_, e)| e.clone()))
}

/// Whether `sb` needs the host's tree in its mount namespace: a bind or
/// overlay source is opened by path in the box's namespace, and a sysfs is
/// mounted (in a user namespace) only where a fully visible one exists.
/// Otherwise the slim template serves it.
fn needs_host_tree(sb: &Sandbox) -> bool {
    sb.fs.steps.iter().any(|s| {
        matches!(
            s,
            MountStep::Bind { .. } | MountStep::Overlay { .. } | MountStep::Sysfs { .. }
        )
    })
}

/// Whether the caller may build and enter a template: root in the initial
/// user namespace (`setns` into a namespace it owns needs `CAP_SYS_ADMIN`
/// and `CAP_SYS_CHROOT` there). Checked per spawn: a thread may drop
/// capabilities.
fn caller_privileged() -> bool {
    static INIT_NS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let in_init = *INIT_NS
        .get_or_init(|| stat(c"/proc/self/ns/user").is_some_and(|s| s.st_ino == INIT_USER_NS_INO));
    in_init && has_effective_cap(CAP_SYS_ADMIN) && has_effective_cap(CAP_SYS_CHROOT)
}

/// Whether the template can serve `sb`: the default view, and no step that
/// would write into the template's (shared, read-only) part of it. And a
/// user namespace: only then does the kernel lock the copied mounts; a box
/// of the caller's own (real) root could remount the view's shared tmpfs
/// read-write and leave files for the next boxes.
fn servable(sb: &Sandbox) -> bool {
    if !sb.has_ns(Namespace::Mount)
        || !sb.has_ns(Namespace::User)
        || sb.fs.rootfs.is_some()
        || sb.fs.bare
    {
        return false;
    }
    // The template masks every hidden host path; a step putting one back
    // builds its view per box.
    if !sb.fs.steps.is_empty() && super::reveals_hidden(&sb.fs.steps, &super::hidden_host_paths()) {
        return false;
    }
    sb.fs.steps.iter().all(step_servable)
}

/// Whether one step leaves the template's shared part alone: its host
/// sources absolute, nothing under
/// `/dev`, and at the top level only the per-box mount points, where a
/// step mounts on the template's directory instead of the default.
fn step_servable(s: &MountStep) -> bool {
    let Some(dst) = normalize(s.dst()) else {
        return false;
    };
    let mut comps = dst.components().skip(1);
    let top = comps.next().map(|c| c.as_os_str().to_owned());
    let top_level = comps.next().is_none();
    if !host_srcs_absolute(s) {
        return false;
    }
    match top {
        // `/` itself: only remount_ro passes validation.
        None => true,
        Some(t) if t == "dev" => false,
        Some(t) if top_level => {
            let own = t == "tmp" || t == "run" || t == "proc";
            own && match s {
                MountStep::Bind { src, .. } => std::fs::metadata(src).is_ok_and(|m| m.is_dir()),
                MountStep::Tmpfs { .. }
                | MountStep::Proc { .. }
                | MountStep::Overlay { .. }
                | MountStep::Mqueue { .. }
                | MountStep::Sysfs { .. }
                | MountStep::Dir { .. }
                | MountStep::Mask { .. }
                | MountStep::RemountRo { .. } => true,
                _ => false,
            }
        }
        Some(_) => true,
    }
}

/// Whether every host path a bind or overlay step reads is absolute.
fn host_srcs_absolute(s: &MountStep) -> bool {
    match s {
        MountStep::Bind { src, .. } => src.is_absolute(),
        MountStep::Overlay {
            lowers,
            upper,
            work,
            ..
        } => lowers
            .iter()
            .chain(upper.iter())
            .chain(work.iter())
            .all(|p| p.is_absolute()),
        _ => true,
    }
}

/// What makes a template's view inside the template's own new mount
/// namespace. The mount plan (`fs::plan`) implements it: the template only
/// decides when a view is built, holds it and serves it.
pub(crate) trait ViewBuilder: Send + 'static {
    /// Build the view; returns its root fd.
    ///
    /// # Safety
    /// Only in a private mount namespace of the calling thread's own.
    unsafe fn build_view(&self, slim: bool) -> Result<RawFd, (&'static str, i32)>;
}

/// The template to use for `sb`, built (or rebuilt) if needed with the view
/// `prepare` makes for the host paths to hide; `None`: take the per-box path.
pub(crate) fn for_sandbox<B: ViewBuilder>(
    sb: &Sandbox,
    prepare: impl FnOnce(&[PathBuf]) -> Result<B, String>,
) -> Option<Arc<Template>> {
    if std::env::var_os("RSANDBOX_NO_TEMPLATE").is_some_and(|v| v == "1")
        || !servable(sb)
        || !caller_privileged()
    {
        return None;
    }
    let key = Key::now()?;
    let full = needs_host_tree(sb);
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let g = &mut cache[usize::from(full)];
    if let Some(t) = &g.template {
        if t.key == key && !t.stale() {
            return Some(t.clone());
        }
    }
    g.template = None;
    if g.failed.as_ref().is_some_and(|(k, _)| *k == key) {
        return None;
    }
    match build(key, full, prepare) {
        Ok(t) => {
            let t = Arc::new(t);
            g.template = Some(t.clone());
            g.failed = None;
            Some(t)
        }
        Err(e) => {
            g.failed = Some((key, e));
            None
        }
    }
}

/// Build a template from the caller's mount namespace (`full`: keeping the
/// host's tree in it).
fn build<B: ViewBuilder>(
    key: Key,
    full: bool,
    prepare: impl FnOnce(&[PathBuf]) -> Result<B, String>,
) -> Result<Template, String> {
    // Opened here, in the source namespace, before the copy: a change made
    // after this point is reported by `stale`.
    let changes = open(c"/proc/thread-self/mountinfo", libc::O_RDONLY)
        .map_err(|e| format!("open /proc/thread-self/mountinfo: {e}"))?;
    let hidden = super::hidden_host_paths();
    let plan = prepare(&hidden)?;
    let built = std::thread::Builder::new()
        .name("rsandbox-template".into())
        .spawn(move || build_in_new_ns(&plan, full))
        .map_err(|e| format!("start the template thread: {e}"))?
        .join()
        .map_err(|_| "the template thread panicked".to_string())??;
    let (ns, view) = built;
    // SAFETY: fstat on an fd we own, zeroed stack out-parameter.
    let st = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(view.as_raw_fd(), &mut st) != 0 {
            return Err(format!(
                "stat the template view: {}",
                std::io::Error::last_os_error()
            ));
        }
        st
    };
    Ok(Template {
        ns,
        view,
        view_id: (st.st_dev, st.st_ino),
        key,
        changes,
        hidden,
    })
}

/// On a throwaway thread: a private mount namespace holding the view.
fn build_in_new_ns(plan: &impl ViewBuilder, full: bool) -> Result<(OwnedFd, OwnedFd), String> {
    // SAFETY: unshare and mount with constant arguments; they affect only
    // this thread (its own fs_struct and new mount namespace).
    unsafe {
        if libc::unshare(libc::CLONE_FS | libc::CLONE_NEWNS) != 0 {
            return Err(format!(
                "unshare a mount namespace: {}",
                std::io::Error::last_os_error()
            ));
        }
        if make_root_rprivate() != 0 {
            return Err(format!(
                "make / private: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    // SAFETY: runs on this thread only, with the plan's prepared data.
    let view = unsafe { plan.build_view(!full) }.map_err(|(what, errno)| {
        format!(
            "build the template view ({what}): {}",
            std::io::Error::from_raw_os_error(errno)
        )
    })?;
    // Everything private again, the view and the holder included, so the
    // children may skip this walk (see `MountPlan::apply`).
    if make_root_rprivate() != 0 {
        return Err(format!(
            "make the template private: {}",
            std::io::Error::last_os_error()
        ));
    }
    let ns = open(c"/proc/thread-self/ns/mnt", libc::O_RDONLY)
        .map_err(|e| format!("open the template namespace: {e}"))?;
    // SAFETY: view is a fresh fd returned to us.
    Ok((ns, unsafe { OwnedFd::from_raw_fd(view) }))
}

fn open(path: &std::ffi::CStr, flags: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: a valid C string; the result is a fresh fd or -1.
    let fd: RawFd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is fresh and ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
