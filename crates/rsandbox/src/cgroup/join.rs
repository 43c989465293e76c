//! The child joins its cgroup v1 hierarchies itself.
//!
//! Moving a process into a cgroup by writing its pid into `cgroup.procs`
//! takes the kernel's global `cgroup_threadgroup_rwsem` for writing, which
//! waits for an RCU grace period: slow, with multi-millisecond tails on a
//! busy machine. A single-threaded process writing `0` ("myself") into a v1
//! `tasks` file moves only itself and does not take that lock
//! (`cgroup_procs_write_start`). The child right after clone is
//! single-threaded, so the parent opens each v1 directory's `tasks` before
//! the clone and the child writes `0` into it first thing. The kernel
//! checks the write against the opener's credentials (`file->f_cred`, since
//! Linux 5.16), so it works from inside the box's new user namespace.
//!
//! A cgroup2 directory cannot be joined that way (its `cgroup.threads`
//! moves threads only within a threaded subtree): the clone places the child
//! there (`CLONE_INTO_CGROUP`).

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::{open_dir, Cgroup, Dir, Kind};

/// One v1 hierarchy the child joins: its `tasks` file, open for writing.
#[derive(Debug)]
pub(crate) struct SelfJoin {
    pub fd: OwnedFd,
    /// The `tasks` file, for messages.
    pub path: PathBuf,
}

impl Cgroup {
    /// Open the `tasks` file of every v1 directory for the child to join it
    /// itself; a directory whose `tasks` cannot be opened (a delegation
    /// that chowned only `cgroup.procs`) stays with the parent's attach.
    /// When the child joins every v1 directory, the `unified` v2 directory
    /// of a hybrid layout is joined by `CLONE_INTO_CGROUP`, so the parent
    /// has nothing left to do after the clone.
    pub(crate) fn open_self_joins(&mut self) -> Vec<SelfJoin> {
        let mut joins = Vec::new();
        for d in self
            .dirs
            .iter_mut()
            .filter(|d| matches!(d.kind, Kind::V1(_)))
        {
            let path = d.path.join("tasks");
            if let Some(fd) = open_write(&path) {
                d.child_joins = true;
                joins.push(SelfJoin { fd, path });
            }
        }
        let v1_all_joined = self
            .dirs
            .iter()
            .all(|d| d.child_joins || d.kind == Kind::V2);
        if !joins.is_empty() && v1_all_joined && self.v2_fd.is_none() {
            if let Some(d) = self.dirs.iter().find(|d| d.kind == Kind::V2) {
                self.v2_fd = open_dir(&d.path).ok();
            }
        }
        joins
    }

    /// Whether the parent must still write the child's pid into some
    /// directory after the clone (`into_cgroup`: `CLONE_INTO_CGROUP` places
    /// it in the v2 one).
    pub(crate) fn parent_attach_needed(&self, into_cgroup: bool) -> bool {
        self.parent_attaches(into_cgroup).next().is_some()
    }

    /// The directories the parent must still write the child's pid into.
    pub(super) fn parent_attaches(&self, into_cgroup: bool) -> impl Iterator<Item = &Dir> {
        self.dirs
            .iter()
            .filter(move |d| !(d.child_joins || into_cgroup && d.kind == Kind::V2))
    }

    /// Whether the v2 directory `CLONE_INTO_CGROUP` targets is only a
    /// helper (the `unified` directory of a hybrid layout): a clone refused
    /// for it is retried without, and the parent attaches it best effort.
    pub(crate) fn clone_into_helper(&self) -> bool {
        self.dirs.iter().any(|d| d.kind == Kind::V2 && d.helper)
    }
}

/// Open `path` write-only, close-on-exec; `None` on any failure.
fn open_write(path: &Path) -> Option<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: open on a valid C string.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    // SAFETY: a fresh fd we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}
