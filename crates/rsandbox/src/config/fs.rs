//! The filesystem part of a box's description: the root, the ordered mount
//! steps, device nodes. Plain data and its lexical checks; [`crate::fs`]
//! plans and applies it.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Filesystem configuration of a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FsConfig {
    /// Host directory that becomes `/` (`None`: the default view).
    pub rootfs: Option<PathBuf>,
    /// Keep the rootfs writable (default: read-only once steps are applied).
    pub rootfs_writable: bool,
    /// Mount steps, applied in order.
    pub steps: Vec<MountStep>,
    /// bubblewrap's model (see [`Sandbox::bare_fs`]): nothing is added to
    /// the steps.
    pub bare: bool,
    /// Device nodes unusable in the rootfs (`nodev`, recursively).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rootfs_nodev: bool,
}

/// One mount step. Destinations are absolute paths inside the box.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum MountStep {
    /// Bind host path `src` (recursively) onto `dst`.
    Bind {
        /// Host path (its last component must not be a symlink).
        src: PathBuf,
        /// Destination in the box.
        dst: PathBuf,
        /// Read-only, recursively.
        #[serde(default)]
        readonly: bool,
        /// Device nodes unusable (`nodev`), recursively, as bubblewrap's
        /// `--bind` and `--ro-bind` make them (its `--dev-bind` does not).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        nodev: bool,
    },
    /// A tmpfs of `size` bytes (`nosuid,nodev`).
    Tmpfs {
        /// Destination in the box.
        dst: PathBuf,
        /// Size limit in bytes (> 0).
        size: u64,
        /// The source `/proc/self/mountinfo` shows, as `mount -t tmpfs
        /// <source>` (`None`: `tmpfs`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
        /// Permissions of its root, at most `0o7777` (`None`: `0o1777` on
        /// `/tmp`, `0o755` elsewhere).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<u32>,
    },
    /// A fresh proc filesystem (needs a PID namespace in a user namespace).
    Proc {
        /// Destination in the box (a real directory).
        dst: PathBuf,
    },
    /// A minimal /dev: null, zero, full, random, urandom, tty, a new devpts
    /// instance (`pts/`, `ptmx`), `shm/` (tmpfs), and the `fd`, `stdin`,
    /// `stdout`, `stderr` links; read-only apart from `pts` and `shm`, once
    /// the later steps under it (e.g. [`MountStep::Mqueue`] on
    /// `/dev/mqueue`) have made their mount points.
    Dev {
        /// Destination in the box (a real directory).
        dst: PathBuf,
    },
    /// A fresh POSIX message queue filesystem (`nosuid,nodev,noexec`),
    /// showing the box's IPC namespace (needs one in a user namespace).
    Mqueue {
        /// Destination in the box (a real directory).
        dst: PathBuf,
    },
    /// A fresh sysfs, read-only (`nosuid,nodev,noexec`), showing the box's
    /// network namespace (needs one in a user namespace).
    Sysfs {
        /// Destination in the box (a real directory).
        dst: PathBuf,
    },
    /// A directory (mode 0755, or `mode`), with missing parents. An
    /// existing directory is left as it is.
    Dir {
        /// Destination in the box.
        dst: PathBuf,
        /// Permission bits of the directory if it is made (at most
        /// `0o7777`); missing parents then get `0o700` plus `r-x` for the
        /// group and others that have any bit in it, as bubblewrap does.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<u32>,
    },
    /// A symlink `dst -> target`.
    Symlink {
        /// What the link points to (any string).
        target: PathBuf,
        /// The link in the box.
        dst: PathBuf,
    },
    /// A file holding `data` (mode 0644), written into whatever is mounted at
    /// its parent (put it under a tmpfs to keep the rootfs untouched).
    File {
        /// Destination in the box.
        dst: PathBuf,
        /// Contents.
        data: Vec<u8>,
    },
    /// A device node (or fifo) made with `mknod` (outside a user namespace;
    /// in one, where the kernel refuses `mknod` of devices, the host's node
    /// at the same path is bound instead, as runc does), then given `mode`
    /// and owner. Put it under a tmpfs such as [`MountStep::Dev`]'s.
    Device {
        /// Destination in the box.
        dst: PathBuf,
        /// Character, block or fifo.
        kind: DeviceKind,
        /// Major number (0 for a fifo).
        major: u32,
        /// Minor number (0 for a fifo).
        minor: u32,
        /// Permission bits, at most `0o7777`.
        mode: u32,
        /// Owner uid (in the box).
        uid: u32,
        /// Owner gid (in the box).
        gid: u32,
    },
    /// An overlay of `lowers` (first is topmost) on `dst`. Writes go to a
    /// tmpfs discarded on exit, or to `upper` (with `work` on the same
    /// filesystem) where they persist.
    Overlay {
        /// Lower directories on the host, topmost first.
        lowers: Vec<PathBuf>,
        /// Destination in the box.
        dst: PathBuf,
        /// Host directory keeping the writes (`None`: a discarded tmpfs).
        #[serde(default)]
        upper: Option<PathBuf>,
        /// Overlay work directory (needed with `upper`, same filesystem).
        #[serde(default)]
        work: Option<PathBuf>,
    },
    /// Hide `path`: an empty read-only tmpfs on a directory, `/dev/null` on
    /// anything else. A missing path is left alone.
    Mask {
        /// Path in the box.
        path: PathBuf,
    },
    /// Make `path` (and every mount under it) read-only.
    RemountRo {
        /// Path in the box.
        path: PathBuf,
    },
    /// Give existing `path` the permission bits `mode` (symlinks in it are
    /// followed inside the box's root).
    Chmod {
        /// Path in the box.
        path: PathBuf,
        /// Permission bits, at most `0o7777`.
        mode: u32,
    },
}

/// The kind of a [`MountStep::Device`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// A character device (`c`).
    Char,
    /// A block device (`b`).
    Block,
    /// A named pipe (`p`).
    Fifo,
}

impl DeviceKind {
    /// The `S_IF*` file type bits.
    pub(crate) fn type_bits(self) -> u32 {
        match self {
            DeviceKind::Char => libc::S_IFCHR,
            DeviceKind::Block => libc::S_IFBLK,
            DeviceKind::Fifo => libc::S_IFIFO,
        }
    }
}

impl MountStep {
    /// The path in the box the step acts on.
    pub fn dst(&self) -> &Path {
        match self {
            MountStep::Bind { dst, .. }
            | MountStep::Tmpfs { dst, .. }
            | MountStep::Proc { dst }
            | MountStep::Dev { dst }
            | MountStep::Mqueue { dst }
            | MountStep::Sysfs { dst }
            | MountStep::Dir { dst, .. }
            | MountStep::Symlink { dst, .. }
            | MountStep::File { dst, .. }
            | MountStep::Device { dst, .. }
            | MountStep::Overlay { dst, .. } => dst,
            MountStep::Mask { path }
            | MountStep::RemountRo { path }
            | MountStep::Chmod { path, .. } => path,
        }
    }

    /// Whether the step mounts something new at its destination (so paths
    /// under it come from the step, not from the root).
    pub(crate) fn mounts_new(&self) -> bool {
        !matches!(
            self,
            MountStep::Mask { .. }
                | MountStep::RemountRo { .. }
                | MountStep::Symlink { .. }
                | MountStep::Chmod { .. }
        )
    }

    /// A bind of a host path onto the same path (the default view's).
    pub(crate) fn is_identity_bind(&self) -> bool {
        match self {
            MountStep::Bind { src, dst, .. } => {
                normalize(src).is_some() && normalize(src) == normalize(dst)
            }
            _ => false,
        }
    }

    /// The builder method name, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            MountStep::Bind {
                readonly: false, ..
            } => "bind",
            MountStep::Bind { readonly: true, .. } => "ro_bind",
            MountStep::Tmpfs { .. } => "tmpfs",
            MountStep::Proc { .. } => "proc",
            MountStep::Dev { .. } => "dev",
            MountStep::Mqueue { .. } => "mqueue",
            MountStep::Sysfs { .. } => "sysfs",
            MountStep::Dir { .. } => "dir",
            MountStep::Symlink { .. } => "symlink",
            MountStep::File { .. } => "file",
            MountStep::Device { .. } => "device",
            MountStep::Overlay { .. } => "overlay",
            MountStep::Mask { .. } => "mask",
            MountStep::RemountRo { .. } => "remount_ro",
            MountStep::Chmod { .. } => "chmod",
        }
    }
}

/// `path` made canonical lexically: absolute, no `.`, no `..`, no repeated
/// or trailing slash. `None` when relative or holding `..`.
pub(crate) fn normalize(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() {
        return None;
    }
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// How an OCI image became the box's root (see `crate::image`): what the
/// enforcement report says about it, and the tree each box gets a private
/// copy of where the overlay is unavailable. Not part of profiles: a
/// profile keeps the read-only root and steps only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRoot {
    /// The report's `applied` text.
    pub applied: String,
    /// Copy this flattened tree per box (`from`) into a fresh directory of
    /// `into`, and make it the box's writable root.
    pub copy: Option<(PathBuf, PathBuf)>,
}
