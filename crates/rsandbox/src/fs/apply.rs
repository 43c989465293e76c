//! Child side: apply a [`MountPlan`] with raw syscalls on prepared data.
//!
//! Runs between clone and exec in a copy of a possibly multithreaded parent:
//! no allocation, no locks, no std I/O. Every failure is an errno.

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;

use super::plan::{Action, Create, MountPlan, Op, Root, Src, Target};
use crate::error::{step, ChildError, ChildResult, Stage};
use crate::sys::errno;
use crate::sys::mount::{
    fsconfig, fsmount, fsopen, make_root_rprivate, mount_setattr, move_mount_fds,
    move_mount_to_path, open_tree, openat2, pivot_root, AT_EMPTY_PATH, AT_RECURSIVE,
    FSCONFIG_CMD_CREATE, FSCONFIG_SET_FD, FSCONFIG_SET_FLAG, FSCONFIG_SET_STRING, MOUNT_ATTR_NODEV,
    MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY, OPEN_TREE_CLOEXEC, OPEN_TREE_CLONE,
    RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS,
};

/// An fd closed on drop (`-1`: nothing). Allocation-free.
struct Fd(RawFd);

impl Drop for Fd {
    fn drop(&mut self) {
        if self.0 >= 0 {
            // SAFETY: we own this descriptor.
            unsafe { libc::close(self.0) };
        }
    }
}

type R<T = ()> = Result<T, i32>;

fn ok(r: i32) -> R {
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

fn fd(r: RawFd) -> R<Fd> {
    if r < 0 {
        Err(errno())
    } else {
        Ok(Fd(r))
    }
}

fn is_dir(fd: RawFd) -> bool {
    // SAFETY: fstat on an open fd with a zeroed stack out-parameter.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFDIR
    }
}

/// Open `rel` inside `root`, never leaving it.
fn open_in(root: RawFd, rel: &CStr, flags: i32) -> RawFd {
    openat2(
        root,
        rel,
        libc::O_PATH | libc::O_CLOEXEC | flags,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    )
}

/// Re-open a host source and check it is the inode the parent saw (once:
/// the child may have opened it already, see `MountPlan::open_sources`).
fn open_src(src: &Src) -> R {
    if src.fd.load(Ordering::Relaxed) >= 0 {
        return Ok(());
    }
    // SAFETY: valid C string; the result is a fresh fd or -1.
    let f = fd(unsafe {
        libc::open(
            src.path.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: fstat on an open fd with a zeroed stack out-parameter.
    let same = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(f.0, &mut st) == 0 && st.st_dev == src.dev && st.st_ino == src.ino
    };
    if !same {
        // Replaced since the parent checked it (a planted symlink?).
        return Err(libc::ESTALE);
    }
    src.fd.store(f.0, Ordering::Relaxed);
    std::mem::forget(f);
    Ok(())
}

/// Replace a bind source's fd by a detached copy of its tree, taken now:
/// cloned later, once the new root is attached on the stage, a source
/// holding the stage (`/tmp` bound recursively, `/` bound elsewhere)
/// would bring the new root along instead of what the host has there.
fn detach_src(src: &Src, recursive: bool) -> R {
    let tree = clone_tree(src.raw(), recursive, 0)?;
    let old = src.fd.swap(tree.0, Ordering::Relaxed);
    std::mem::forget(tree);
    drop(Fd(old));
    Ok(())
}

fn close_src(src: &Src) {
    let f = src.fd.swap(-1, Ordering::Relaxed);
    drop(Fd(f));
}

/// Every host source of an op.
fn for_each_src(action: &Action, mut f: impl FnMut(&Src) -> R) -> R {
    match action {
        Action::Bind { src, .. } => f(src),
        Action::Overlay { lowers, upper, .. } => {
            for l in lowers {
                f(l)?;
            }
            if let Some((u, w)) = upper {
                f(u)?;
                f(w)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Whether `name` in `dir` is a symlink to exactly `target` (read into a
/// stack buffer: no allocation after clone).
fn same_link(dir: RawFd, name: &CStr, target: &CStr) -> bool {
    let mut buf = [0u8; 4096];
    // SAFETY: readlinkat writes at most buf.len() bytes into buf.
    let n = unsafe { libc::readlinkat(dir, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    n >= 0 && (n as usize) < buf.len() && &buf[..n as usize] == target.to_bytes()
}

/// Walk to the parent directory of the last component, creating missing
/// directories when `mk`. Returns `Fd(-1)` when the parent is the root.
fn walk_parent(root: RawFd, t: &Target, mk: bool, mode: Option<u32>) -> R<Fd> {
    let n = t.names.len();
    let mut parent = Fd(-1);
    // bubblewrap's parents of a directory made with a mode: owner rwx,
    // r-x for the classes with any bit in it.
    let pmode = mode.map(|m| {
        0o700 | if m & 0o070 != 0 { 0o050 } else { 0 } | if m & 0o007 != 0 { 0o005 } else { 0 }
    });
    for i in 0..n.saturating_sub(1) {
        let mut f = open_in(root, &t.prefixes[i], libc::O_DIRECTORY);
        if f < 0 && errno() == libc::ENOENT && mk {
            let pfd = if parent.0 < 0 { root } else { parent.0 };
            mkdir_mode(pfd, &t.names[i], pmode)?;
            f = open_in(root, &t.prefixes[i], libc::O_DIRECTORY);
        }
        parent = fd(f)?;
    }
    Ok(parent)
}

/// `mkdirat(dir, name)`, an existing one accepted; a new one gets exactly
/// `mode` when given (set through the new directory's fd: no umask, and
/// never a name swapped for a symlink), else `0o755` less the umask.
fn mkdir_mode(dir: RawFd, name: &CStr, mode: Option<u32>) -> R {
    // SAFETY: valid C string (one component, no slash or `..`).
    let r = unsafe { libc::mkdirat(dir, name.as_ptr(), mode.unwrap_or(0o755) & 0o777) };
    if r < 0 {
        return if errno() == libc::EEXIST {
            Ok(())
        } else {
            Err(errno())
        };
    }
    let Some(m) = mode else { return Ok(()) };
    // SAFETY: valid C string, one component; the result is a fresh fd or -1.
    let f = fd(unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })?;
    super::node::chmod_fd(f.0, m)
}

/// Resolve (and create if asked) the last component. `None`: missing and
/// optional. A component to create is made first, an existing one kept
/// (`EEXIST`, which the kernel reports before `EROFS` or `EACCES`), then
/// opened: most of them are mount points of a view just made, which a
/// first lookup would only find missing.
fn resolve(root: RawFd, op: &Op, parent: &Fd) -> R<Option<Fd>> {
    let t = &op.target;
    let Some(last) = t.prefixes.last() else {
        return fd(open_in(root, c".", libc::O_DIRECTORY)).map(Some);
    };
    let name = &t.names[t.names.len() - 1];
    let pfd = if parent.0 < 0 { root } else { parent.0 };
    let flags = if op.real_dir { libc::O_NOFOLLOW } else { 0 };
    match op.create {
        Create::No => {}
        Create::Dir => mkdir_mode(pfd, name, op.mode)?,
        Create::File => make_mount_file(pfd, name)?,
    }
    let f = open_in(root, last, flags);
    if f < 0 && errno() == libc::ENOENT && op.create == Create::No && op.optional {
        return Ok(None);
    }
    let f = fd(f)?;
    if op.real_dir && !is_dir(f.0) {
        return Err(libc::ENOTDIR);
    }
    Ok(Some(f))
}

/// An empty file `name` in `pfd` for a file bind, an existing one kept
/// (never following a link).
fn make_mount_file(pfd: RawFd, name: &CStr) -> R {
    // SAFETY: valid C string, one component; never follows a link.
    let r = unsafe {
        libc::openat(
            pfd,
            name.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            // A mount point only (covered by the bind): read-only, as
            // bubblewrap makes it.
            0o444,
        )
    };
    if r < 0 && errno() != libc::EEXIST {
        return Err(errno());
    }
    drop(Fd(r));
    Ok(())
}

/// A new filesystem: `fsopen`, options, create, `fsmount`.
fn new_fs(fstype: &CStr, opts: &[(&CStr, Option<&CStr>)], attrs: u64) -> R<Fd> {
    let s = fd(fsopen(fstype))?;
    for (k, v) in opts {
        let cmd = if v.is_some() {
            FSCONFIG_SET_STRING
        } else {
            FSCONFIG_SET_FLAG
        };
        ok(fsconfig(s.0, cmd, Some(k), *v, 0))?;
    }
    ok(fsconfig(s.0, FSCONFIG_CMD_CREATE, None, None, 0))?;
    fd(fsmount(s.0, attrs))
}

/// Clone the tree at `from` (detached) with `set` attributes.
fn clone_tree(from: RawFd, recursive: bool, set: u64) -> R<Fd> {
    let mut flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    let t = fd(open_tree(from, c"", flags))?;
    if set != 0 {
        ok(mount_setattr(t.0, recursive, set, 0))?;
    }
    Ok(t)
}

/// Enter a nested user namespace and a copy of the mount namespace in it,
/// which locks every mount of the view (see [`MountPlan::lock`]), and map
/// this process's own ids there, through `own_proc` (its `/proc/<pid>`
/// directory: the map files opened after the `unshare` are the new
/// namespace's). After `pivot_root`: the kernel refuses to pivot into a
/// locked mount.
fn lock_view(lock: &super::plan::ViewLock, own_proc: RawFd) -> ChildResult {
    let err = |d: u32| move |e: i32| ChildError::new(Stage::LockView, d, e);
    // SAFETY: unshare with constant flags; this process is single-threaded.
    ok(unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) })
        .map_err(err(step::LOCK_UNSHARE))?;
    write_at(own_proc, c"setgroups", b"deny").map_err(err(step::LOCK_SETGROUPS))?;
    write_at(own_proc, c"uid_map", lock.uid_map.as_bytes()).map_err(err(step::LOCK_UID_MAP))?;
    write_at(own_proc, c"gid_map", lock.gid_map.as_bytes()).map_err(err(step::LOCK_GID_MAP))
}

/// `/proc/self` of the current root, as an `O_PATH` directory fd.
fn open_own_proc() -> RawFd {
    // SAFETY: a valid C string; the result is a fresh fd or -1.
    unsafe {
        libc::open(
            c"/proc/self".as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    }
}

/// Write `data` to the existing file `name` under `dir` in one `write`.
fn write_at(dir: RawFd, name: &CStr, data: &[u8]) -> R {
    // SAFETY: a valid C string; the result is a fresh fd or -1.
    let f = fd(unsafe { libc::openat(dir, name.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) })?;
    // SAFETY: data is a valid buffer of its length; f is open.
    let n = unsafe { libc::write(f.0, data.as_ptr().cast(), data.len()) };
    if n < 0 {
        return Err(errno());
    }
    Ok(())
}

impl MountPlan {
    /// Apply the plan. Runs in the child, as PID 1 of the box when there is a
    /// PID namespace, after the network and UTS setup.
    ///
    /// # Safety
    /// Only raw syscalls on prepared data: callable after clone.
    pub(crate) unsafe fn apply(&self) -> ChildResult {
        // A copy of the template is private already (made so, recursively,
        // once built): this walk of every mount would change nothing.
        let r = self.template.is_some() || make_root_rprivate() == 0;
        if !r {
            return Err(ChildError::last(Stage::MountPrivate, 0));
        }
        let res = self.build();
        // Close the sources whatever happened (they are CLOEXEC anyway).
        if let Root::Dir(s) = &self.root {
            close_src(s);
        }
        close_src(&self.null);
        for o in &self.ops {
            let _ = for_each_src(&o.action, |s| {
                close_src(s);
                Ok(())
            });
        }
        res
    }

    /// Open every host source (the rootfs, bind and overlay sources, the
    /// host's `/dev/null`) by its path in this process's mount namespace,
    /// unless opened already. The child calls this before it takes the
    /// box's identity (see `Plan::ns_root_uid`): a source the caller named
    /// is looked up with the caller's own host ids (a root caller's
    /// `mktemp -d`, mode 0700, can be bound), its content is then reached
    /// as the box.
    ///
    /// # Safety
    /// Only raw syscalls on prepared data: callable after clone.
    pub(crate) unsafe fn open_sources(&self) -> ChildResult {
        let pivot = |d: u32| move |e: i32| ChildError::new(Stage::PivotRoot, d, e);
        if let Root::Dir(s) = &self.root {
            open_src(s).map_err(pivot(step::ROOT_SOURCE))?;
        }
        open_src(&self.null).map_err(|e| ChildError::new(Stage::Mount, u32::MAX, e))?;
        for (i, o) in self.ops.iter().enumerate() {
            for_each_src(&o.action, open_src)
                .map_err(|e| ChildError::new(Stage::Mount, i as u32, e))?;
        }
        Ok(())
    }

    /// Replace each bind source by a detached copy of its tree (see
    /// [`detach_src`]), once the box's mounts are private (`apply`), before
    /// the new root is attached. Copies taken earlier (when the child opens
    /// the sources before its identity switch, while its mounts still share
    /// propagation with the caller's) made Linux 6.1 refuse the box's
    /// mounts with EINVAL (the kernel-matrix VM); 6.18 took them.
    fn detach_sources(&self) -> ChildResult {
        for (i, o) in self.ops.iter().enumerate() {
            if let Action::Bind { src, recursive, .. } = &o.action {
                detach_src(src, *recursive)
                    .map_err(|e| ChildError::new(Stage::Mount, i as u32, e))?;
            }
        }
        Ok(())
    }

    fn build(&self) -> ChildResult {
        let pivot = |d: u32| move |e: i32| ChildError::new(Stage::PivotRoot, d, e);
        // Open every host source before the new root covers the stage.
        // SAFETY: raw syscalls on prepared data.
        unsafe { self.open_sources()? };
        self.detach_sources()?;

        let tree = match (&self.root, &self.template) {
            (_, Some(t)) => clone_view(t.view_id),
            (Root::Tmpfs, None) => root_tmpfs(),
            (Root::Dir(s), None) => {
                let mut set = MOUNT_ATTR_NOSUID;
                if self.root_ro_first {
                    set |= MOUNT_ATTR_RDONLY;
                }
                if self.root_nodev {
                    set |= MOUNT_ATTR_NODEV;
                }
                clone_tree(s.raw(), true, set)
            }
        }
        .map_err(pivot(step::ROOT_TREE))?;
        ok(move_mount_to_path(tree.0, &self.stage)).map_err(pivot(step::ROOT_ATTACH))?;

        for (i, o) in self.ops.iter().enumerate() {
            self.run(tree.0, o)
                .map_err(|e| ChildError::new(Stage::Mount, i as u32, e))?;
        }
        if self.root_ro {
            ok(mount_setattr(tree.0, false, MOUNT_ATTR_RDONLY, 0))
                .map_err(pivot(step::ROOT_READ_ONLY))?;
        }
        // SAFETY: plain syscalls on an open fd and static C strings.
        unsafe {
            ok(libc::fchdir(tree.0)).map_err(pivot(step::ROOT_ENTER))?;
        }
        // This process's /proc directory, through the caller's /proc (the
        // view may have none): the locked view's maps are written there.
        let own_proc = match &self.lock {
            Some(_) => Some(
                fd(open_own_proc())
                    .map_err(|e| ChildError::new(Stage::LockView, step::LOCK_OWN_PROC, e))?,
            ),
            None => None,
        };
        // SAFETY: plain syscalls on static C strings.
        unsafe {
            ok(pivot_root(c".", c".")).map_err(pivot(step::PIVOT))?;
            ok(libc::umount2(c".".as_ptr(), libc::MNT_DETACH))
                .map_err(pivot(step::OLD_ROOT_DETACH))?;
            ok(libc::chdir(c"/".as_ptr())).map_err(pivot(step::ROOT_CHDIR))?;
        }
        match (&self.lock, own_proc) {
            (Some(lock), Some(dir)) => lock_view(lock, dir.0),
            _ => Ok(()),
        }
    }

    /// Build the template's view (see `template.rs`) in the calling
    /// thread's new, private mount namespace; returns an fd of the view's
    /// root. On failure: what failed and the errno.
    ///
    /// The view is mounted on `holder/view`, `holder` being a private tmpfs
    /// on the stage, and the stage's own tree is put back on top of the
    /// holder: the view is then reachable only through the returned fd (or
    /// a working directory set from it), and it has no mount of the host's
    /// under it, so cloning it recursively copies the view alone.
    ///
    /// # Safety
    /// Only in a private mount namespace of the calling thread's own.
    pub(crate) unsafe fn build_template(&self, slim: bool) -> Result<RawFd, (&'static str, i32)> {
        open_src(&self.null).map_err(|e| ("open /dev/null", e))?;
        for o in &self.ops {
            for_each_src(&o.action, open_src)
                .and_then(|()| match &o.action {
                    Action::Bind { src, recursive, .. } => detach_src(src, *recursive),
                    _ => Ok(()),
                })
                .map_err(|e| ("open a host entry", e))?;
        }
        let res = if slim {
            self.build_slim_template()
        } else {
            self.build_template_view()
        };
        close_src(&self.null);
        for o in &self.ops {
            let _ = for_each_src(&o.action, |s| {
                close_src(s);
                Ok(())
            });
        }
        res
    }

    fn build_template_view(&self) -> Result<RawFd, (&'static str, i32)> {
        let orig = fd(open_tree(
            libc::AT_FDCWD,
            &self.stage,
            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE,
        ))
        .map_err(|e| ("clone the stage's tree", e))?;
        let holder = small_tmpfs(
            c"4k",
            c"0700",
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
        )
        .map_err(|e| ("mount the holder", e))?;
        // SAFETY: a static C string relative to the holder's root fd.
        ok(unsafe { libc::mkdirat(holder.0, c"view".as_ptr(), 0o700) })
            .map_err(|e| ("make the view's mount point", e))?;
        ok(move_mount_to_path(holder.0, &self.stage)).map_err(|e| ("attach the holder", e))?;
        let spot = fd(open_in(holder.0, c"view", libc::O_DIRECTORY))
            .map_err(|e| ("open the view's mount point", e))?;
        let tree = root_tmpfs().map_err(|e| ("mount the view's root", e))?;
        ok(move_mount_fds(tree.0, spot.0)).map_err(|e| ("attach the view", e))?;
        for o in &self.ops {
            self.run(tree.0, o).map_err(|e| ("mount a host entry", e))?;
        }
        ok(mount_setattr(tree.0, false, MOUNT_ATTR_RDONLY, 0))
            .map_err(|e| ("make the view read-only", e))?;
        ok(move_mount_to_path(orig.0, &self.stage)).map_err(|e| ("cover the holder", e))?;
        let view = tree.0;
        std::mem::forget(tree);
        Ok(view)
    }

    /// The slim template: the namespace keeps only what a box without
    /// host sources needs, so that each box copies and detaches a few
    /// mounts instead of the host's whole tree: a tmpfs root (the *shell*)
    /// holding the view, the host's `/proc` and `/sys` (the kernel lets a
    /// user namespace mount a new proc or sysfs only where a fully visible
    /// one exists),
    /// `/dev/null` (for masks) and the stage directory. The host's tree is
    /// detached once the view is built.
    fn build_slim_template(&self) -> Result<RawFd, (&'static str, i32)> {
        let proc = fd(open_tree(
            libc::AT_FDCWD,
            c"/proc",
            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE,
        ))
        .map_err(|e| ("clone /proc", e))?;
        // And the host's sysfs, for the same reason (a box's fresh /sys).
        let sys = fd(open_tree(
            libc::AT_FDCWD,
            c"/sys",
            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC,
        ))
        .map_err(|e| ("clone /sys", e))?;
        let null = clone_tree(self.null.raw(), false, 0).map_err(|e| ("clone /dev/null", e))?;
        let shell = small_tmpfs(
            c"64k",
            c"0755",
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
        )
        .map_err(|e| ("mount the shell", e))?;
        make_shell_entries(shell.0, &self.stage)?;
        ok(move_mount_to_path(shell.0, &self.stage)).map_err(|e| ("attach the shell", e))?;
        let at = |rel: &CStr| fd(open_in(shell.0, rel, 0));
        for (what, rel, tree) in [
            ("attach /proc", c"proc", &proc),
            ("attach /sys", c"sys", &sys),
            ("attach /dev/null", c"dev/null", &null),
        ] {
            let spot = at(rel).map_err(|e| ("open a mount point in the shell", e))?;
            ok(move_mount_fds(tree.0, spot.0)).map_err(|e| (what, e))?;
        }
        let spot = at(c"view").map_err(|e| ("open the view's mount point", e))?;
        let tree = root_tmpfs().map_err(|e| ("mount the view's root", e))?;
        ok(move_mount_fds(tree.0, spot.0)).map_err(|e| ("attach the view", e))?;
        for o in &self.ops {
            self.run(tree.0, o).map_err(|e| ("mount a host entry", e))?;
        }
        ok(mount_setattr(tree.0, false, MOUNT_ATTR_RDONLY, 0))
            .map_err(|e| ("make the view read-only", e))?;
        ok(mount_setattr(shell.0, false, MOUNT_ATTR_RDONLY, 0))
            .map_err(|e| ("make the shell read-only", e))?;
        // SAFETY: plain syscalls on an open fd and static C strings, in
        // this thread's own mount namespace and fs_struct.
        unsafe {
            ok(libc::fchdir(shell.0)).map_err(|e| ("enter the shell", e))?;
            ok(pivot_root(c".", c".")).map_err(|e| ("pivot into the shell", e))?;
            ok(libc::umount2(c".".as_ptr(), libc::MNT_DETACH))
                .map_err(|e| ("detach the host's tree", e))?;
            ok(libc::chdir(c"/".as_ptr())).map_err(|e| ("enter the shell", e))?;
        }
        let view = tree.0;
        std::mem::forget(tree);
        Ok(view)
    }

    /// One operation, relative to the new root `root`.
    fn run(&self, root: RawFd, op: &Op) -> R {
        let t = &op.target;
        if t.names.is_empty() {
            // The root itself: only remount_ro("/") is accepted here.
            return match op.action {
                Action::RemountRo => ok(mount_setattr(root, true, MOUNT_ATTR_RDONLY, 0)),
                _ => Err(libc::EINVAL),
            };
        }
        let makes_node = matches!(
            op.action,
            Action::Symlink { .. } | Action::File { .. } | Action::Mknod { .. }
        );
        if t.names.len() > 1 && !makes_node {
            if let Some(dst) = open_existing(root, op)? {
                return self.act(root, op, dst);
            }
        }
        let makes_parents = op.create != Create::No || makes_node;
        let parent = match walk_parent(root, t, makes_parents, op.mode) {
            Err(libc::ENOENT) if op.optional => return Ok(()),
            r => r?,
        };
        let pfd = if parent.0 < 0 { root } else { parent.0 };
        let name = t.names.last().map_or(c".", |n| n.as_c_str());
        if makes_node {
            return make_node(pfd, name, &op.action);
        }
        let Some(dst) = resolve(root, op, &parent)? else {
            return Ok(());
        };
        drop(parent);
        self.act(root, op, dst)
    }

    /// The mount part of `op`, on its resolved destination `dst`.
    fn act(&self, root: RawFd, op: &Op, dst: Fd) -> R {
        let t = &op.target;
        match &op.action {
            Action::Bind {
                src,
                readonly,
                recursive,
                nodev,
            } => bind(src.raw(), *recursive, *readonly, *nodev, &dst),
            Action::Fs {
                fstype,
                opts,
                attrs,
            } => {
                let m = new_fs_or_empty(fstype, opts, *attrs, op.optional)?;
                ok(move_mount_fds(m.0, dst.0))
            }
            Action::Attach { mount } => ok(move_mount_fds(
                std::os::fd::AsRawFd::as_raw_fd(mount),
                dst.0,
            )),
            Action::Dir => Ok(()),
            Action::Mask => self.mask(&dst),
            Action::RemountRo => {
                let tree = clone_tree(dst.0, true, MOUNT_ATTR_RDONLY)?;
                ok(move_mount_fds(tree.0, dst.0))
            }
            Action::SetRo => ok(mount_setattr(dst.0, false, MOUNT_ATTR_RDONLY, 0)),
            Action::Chmod { mode } => super::node::chmod_fd(dst.0, *mode),
            Action::Overlay {
                lowers,
                upper,
                userxattr,
            } => {
                let prefix = &t.prefixes[t.prefixes.len() - 1];
                mount_overlay(root, prefix, dst, lowers, upper.as_ref(), *userxattr)
            }
            Action::Symlink { .. } | Action::File { .. } | Action::Mknod { .. } => Ok(()),
        }
    }

    /// Hide `dst`: an empty read-only directory over a directory, a
    /// read-only copy of the prepared `/dev/null` over anything else.
    fn mask(&self, dst: &Fd) -> R {
        let m = if is_dir(dst.0) {
            empty_dir()?
        } else {
            clone_tree(
                self.null.raw(),
                false,
                MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
            )?
        };
        ok(move_mount_fds(m.0, dst.0))
    }
}

/// Attach the bind source `tree` (a detached copy already, see detach_src)
/// on `dst`, nosuid always, read-only and nodev as asked: the attributes
/// are set on the detached tree before it is attached.
fn bind(tree: RawFd, recursive: bool, readonly: bool, nodev: bool, dst: &Fd) -> R {
    let mut set = MOUNT_ATTR_NOSUID;
    if readonly {
        set |= MOUNT_ATTR_RDONLY;
    }
    if nodev {
        set |= MOUNT_ATTR_NODEV;
    }
    ok(mount_setattr(tree, recursive, set, 0))?;
    ok(move_mount_fds(tree, dst.0))
}

/// The slim template's shell entries: the mount points of the host's
/// `/proc`, `/sys` and `/dev/null`, the view's, and every prefix of the
/// stage directory (one of /tmp, /mnt, /var/tmp, /run).
fn make_shell_entries(shell: RawFd, stage: &CStr) -> Result<(), (&'static str, i32)> {
    let mkdir = |name: &CStr| {
        // SAFETY: a valid C string relative to the shell's root fd.
        let r = unsafe { libc::mkdirat(shell, name.as_ptr(), 0o755) };
        if r < 0 && errno() != libc::EEXIST {
            return Err(errno());
        }
        Ok(())
    };
    for d in [c"proc", c"sys", c"dev", c"view"] {
        mkdir(d).map_err(|e| ("make the shell's directories", e))?;
    }
    let stage = stage.to_bytes();
    let mut buf = [0u8; 16];
    for (i, &b) in stage.iter().enumerate().skip(1) {
        if b == b'/' || i + 1 == stage.len() {
            let end = if b == b'/' { i } else { i + 1 };
            let len = end - 1;
            if len + 1 > buf.len() {
                return Err(("make the stage", libc::ENAMETOOLONG));
            }
            buf[..len].copy_from_slice(&stage[1..end]);
            buf[len] = 0;
            let name = CStr::from_bytes_until_nul(&buf[..=len])
                .map_err(|_| ("make the stage", libc::EINVAL))?;
            mkdir(name).map_err(|e| ("make the stage", e))?;
        }
    }
    let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC;
    // SAFETY: a static C string relative to the shell's root fd.
    let r = unsafe { libc::openat(shell, c"dev/null".as_ptr(), flags, 0o644) };
    drop(fd(r).map_err(|e| ("make the shell's /dev/null", e))?);
    Ok(())
}

/// The destination of `op` when it exists already (the view's mount
/// points, /proc entries), opened at once without a walk over its parents.
fn open_existing(root: RawFd, op: &Op) -> R<Option<Fd>> {
    let t = &op.target;
    let flags = if op.real_dir { libc::O_NOFOLLOW } else { 0 };
    let f = open_in(root, &t.prefixes[t.prefixes.len() - 1], flags);
    if f < 0 {
        return Ok(None);
    }
    let dst = Fd(f);
    if op.real_dir && !is_dir(dst.0) {
        return Err(libc::ENOTDIR);
    }
    Ok(Some(dst))
}

/// A symlink, file or device node `name` in the directory `pfd`.
fn make_node(pfd: RawFd, name: &CStr, action: &Action) -> R {
    match action {
        Action::Symlink { target } => {
            // SAFETY: valid C strings; one component relative to pfd.
            let r = unsafe { libc::symlinkat(target.as_ptr(), pfd, name.as_ptr()) };
            if r < 0 && errno() == libc::EEXIST && same_link(pfd, name, target) {
                // Already this very link (bubblewrap's --symlink is
                // idempotent): nothing to do.
                return Ok(());
            }
            ok(r)
        }
        Action::File { data } => {
            let flags =
                libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
            // SAFETY: valid C string, one component; never follows a link.
            let f = fd(unsafe { libc::openat(pfd, name.as_ptr(), flags, 0o644) })?;
            crate::sys::write_all(f.0, data).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
        }
        Action::Mknod {
            mode,
            dev,
            uid,
            gid,
        } => {
            // Mode and owner set through the node itself, never by a name a
            // writer of the directory could swap (see node.rs).
            super::node::make(pfd, name, *mode, *dev, *uid, *gid)
        }
        _ => Err(libc::EINVAL),
    }
}

/// A new filesystem from the plan's options (at most 6, the plan makes 4
/// at most: kept on the stack, no allocation). Where the kernel refuses
/// the default view's sysfs (`optional`: no fully visible sysfs in this
/// namespace), an empty read-only directory, never the host's.
fn new_fs_or_empty(
    fstype: &CStr,
    opts: &[(CString, Option<CString>)],
    attrs: u64,
    optional: bool,
) -> R<Fd> {
    let mut o: [(&CStr, Option<&CStr>); 6] = [(c"", None); 6];
    let n = opts.len().min(o.len());
    for (slot, (k, v)) in o.iter_mut().zip(opts.iter()) {
        *slot = (k.as_c_str(), v.as_deref());
    }
    match new_fs(fstype, &o[..n], attrs) {
        Err(libc::EPERM) if optional => empty_dir(),
        r => r,
    }
}

/// An overlay of the plan's fd layers on `dst` (reached again through
/// `prefix` in `root`). Without a kept upper, a private tmpfs mounted on
/// the destination holds upper/ and work/; the overlay then goes on top of
/// it, and both vanish with the box.
fn mount_overlay(
    root: RawFd,
    prefix: &CStr,
    dst: Fd,
    lowers: &[Src],
    upper: Option<&(Src, Src)>,
    userxattr: bool,
) -> R {
    let (_tmp, up, work) = match upper {
        Some((u, w)) => (None, fd(dup(u.raw()))?, fd(dup(w.raw()))?),
        None => {
            let (top, u, w) = private_upper(root, prefix, &dst)?;
            (Some(top), u, w)
        }
    };
    let s = fd(fsopen(c"overlay"))?;
    let set_fd = |key: &CStr, v: RawFd| ok(fsconfig(s.0, FSCONFIG_SET_FD, Some(key), None, v));
    for l in lowers {
        set_fd(c"lowerdir+", l.raw())?;
    }
    set_fd(c"upperdir", up.0)?;
    set_fd(c"workdir", work.0)?;
    if userxattr {
        ok(fsconfig(
            s.0,
            FSCONFIG_SET_FLAG,
            Some(c"userxattr"),
            None,
            0,
        ))?;
    }
    ok(fsconfig(s.0, FSCONFIG_CMD_CREATE, None, None, 0))?;
    let m = fd(fsmount(s.0, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV))?;
    // Re-resolve: the destination now shows the tmpfs (or is unchanged
    // with a kept upper); mount on top of it.
    let top = fd(open_in(root, prefix, 0))?;
    ok(move_mount_fds(m.0, top.0))
}

/// A private tmpfs on `dst` with `upper/` and `work/` in it: (the tmpfs,
/// upper, work).
fn private_upper(root: RawFd, prefix: &CStr, dst: &Fd) -> R<(Fd, Fd, Fd)> {
    let m = root_tmpfs()?;
    ok(move_mount_fds(m.0, dst.0))?;
    let top = fd(open_in(root, prefix, 0))?;
    // SAFETY: valid C strings, relative to the fresh tmpfs.
    unsafe {
        ok(libc::mkdirat(top.0, c"upper".as_ptr(), 0o755))?;
        ok(libc::mkdirat(top.0, c"work".as_ptr(), 0o755))?;
    }
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // SAFETY: valid C strings relative to an open dir fd.
    let (u, w) = unsafe {
        (
            libc::openat(top.0, c"upper".as_ptr(), flags),
            libc::openat(top.0, c"work".as_ptr(), flags),
        )
    };
    Ok((top, fd(u)?, fd(w)?))
}

/// The default view's root: a fresh tmpfs.
/// A size-limited tmpfs (the template's holder and shell, masks).
/// An empty read-only tmpfs: what a masked directory shows.
fn empty_dir() -> R<Fd> {
    small_tmpfs(
        c"4k",
        c"0555",
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
    )
}

fn small_tmpfs(size: &CStr, mode: &CStr, attrs: u64) -> R<Fd> {
    new_fs(
        c"tmpfs",
        &[
            (c"source", Some(c"tmpfs")),
            (c"size", Some(size)),
            (c"mode", Some(mode)),
        ],
        attrs,
    )
}

fn root_tmpfs() -> R<Fd> {
    new_fs(
        c"tmpfs",
        &[(c"source", Some(c"tmpfs")), (c"mode", Some(c"0755"))],
        MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
    )
}

/// Clone the template's view: the working directory the launcher's
/// template lane gave us, checked to be the view (`(dev, ino)` of its root)
/// so that a clone from any other directory fails instead of exposing it.
fn clone_view(view_id: (u64, u64)) -> R<Fd> {
    // SAFETY: stat of a static C string into a zeroed stack out-parameter.
    let here = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        ok(libc::stat(c".".as_ptr(), &mut st))?;
        (st.st_dev, st.st_ino)
    };
    if here != view_id {
        return Err(libc::ESTALE);
    }
    fd(open_tree(
        libc::AT_FDCWD,
        c"",
        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE,
    ))
}

fn dup(fd: RawFd) -> RawFd {
    // SAFETY: F_DUPFD_CLOEXEC on an open fd.
    unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) }
}
