//! One error type for the whole library.
//!
//! Every variant says *what* failed and, where it helps, *where* (the stage of
//! the launch pipeline, the path, the errno) and *what to do* (the privilege to
//! obtain, the field to fix). The C and Python bindings map these variants to
//! their own conventions, so the variants are part of the stable surface.

use std::fmt;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The `Result` of every fallible rsandbox call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A stage of the pre-exec routine that runs in the child between clone and
/// exec. A failure in the child is reported as one of these plus an errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u32)]
#[non_exhaustive]
pub enum Stage {
    /// Waiting for the parent to release the child (after writing id maps).
    Sync = 1,
    /// `PR_SET_PDEATHSIG`.
    DeathSignal,
    /// Switching to the uid/gid inside the user namespace.
    Identity,
    /// `setsid`.
    Session,
    /// Bringing up the loopback interface in a new network namespace.
    Loopback,
    /// `sethostname` in the new UTS namespace.
    Hostname,
    /// Making every mount private before touching any.
    MountPrivate,
    /// One step of the mount plan (the detail is the step index).
    Mount,
    /// `pivot_root` into the new root and detaching the old one.
    PivotRoot,
    /// Mounting a fresh `/proc`.
    Proc,
    /// `chdir` to the working directory.
    Cwd,
    /// Setting resource limits.
    Rlimit,
    /// Wiring stdin/stdout/stderr and passed fds.
    Fds,
    /// Dropping capabilities and locking securebits.
    Capabilities,
    /// `PR_SET_NO_NEW_PRIVS`.
    NoNewPrivs,
    /// Applying the Landlock ruleset.
    Landlock,
    /// Installing the seccomp filter.
    Seccomp,
    /// Forking the payload from the PID-1 init.
    InitFork,
    /// Resetting signal mask and dispositions.
    Signals,
    /// `execve` of the payload.
    Exec,
    /// Joining an existing namespace (`setns`; the detail is its index).
    Setns,
    /// Writing `/proc/self/oom_score_adj`.
    OomScoreAdj,
    /// The child writing its own id maps (detail 0: `setgroups`, 1:
    /// `uid_map`, 2: `gid_map`).
    IdMaps,
    /// The child joining its cgroup v1 hierarchies (writing `0` into their
    /// `tasks`) or creating its cgroup namespace after that; the detail is
    /// the index of the hierarchy in the box's cgroup, or `u32::MAX` for
    /// `unshare(CLONE_NEWCGROUP)`.
    Cgroup,
    /// Starting the box's init: `execveat` of the embedded init program
    /// (detail 0), or the init's own set-up (detail 1: its control line, 2:
    /// reading the seccomp filter, 3: `signalfd`, 4: the timing page).
    Init,
    /// Locking the box's view: a nested user and mount namespace, so that
    /// every mount of the view is locked (detail 0: `unshare`, 1:
    /// `setgroups`, 2: `uid_map`, 3: `gid_map`; see `MountPlan::lock`).
    LockView,
}

/// The step of a stage that failed: the `detail` of [`Error::Spawn`].
/// Some stages count (the mount plan's step, the namespace joined, the
/// target fd, the capability dropped or raised); the others name their
/// steps here, so that the child reports them and [`Stage::step`] names
/// them back in messages.
pub mod step {
    // Stage::PivotRoot
    /// Open the root directory's source.
    pub const ROOT_SOURCE: u32 = 0;
    /// Make the root's tree (template copy, tmpfs or directory clone).
    pub const ROOT_TREE: u32 = 1;
    /// Attach the root's tree at the stage directory.
    pub const ROOT_ATTACH: u32 = 2;
    /// Make the root read-only.
    pub const ROOT_READ_ONLY: u32 = 3;
    /// Enter the new root (`fchdir`).
    pub const ROOT_ENTER: u32 = 4;
    /// `pivot_root`.
    pub const PIVOT: u32 = 5;
    /// Detach the old root.
    pub const OLD_ROOT_DETACH: u32 = 6;
    /// `chdir("/")` in the new root.
    pub const ROOT_CHDIR: u32 = 7;
    // Stage::Cwd
    /// `chdir` by path (no `openat2`).
    pub const CWD_BY_PATH: u32 = 0;
    /// Open the root to resolve the working directory in.
    pub const CWD_OPEN_ROOT: u32 = 1;
    /// Open the working directory inside the root.
    pub const CWD_OPEN: u32 = 2;
    /// Enter it (`fchdir`).
    pub const CWD_ENTER: u32 = 3;
    /// It is reachable from the root.
    pub const CWD_REACHABLE: u32 = 4;
    // Stage::Identity
    /// `setgroups`.
    pub const SETGROUPS: u32 = 0;
    /// `setresgid` to the box's gid.
    pub const SETRESGID: u32 = 1;
    /// `setresuid` to the box's uid.
    pub const SETRESUID: u32 = 2;
    /// `setresgid` to the namespace's set-up gid.
    pub const NS_ROOT_GID: u32 = 10;
    /// `setresuid` to the namespace's set-up uid.
    pub const NS_ROOT_UID: u32 = 11;
    // Stage::Fds (below 100: the target fd)
    /// Mark the gaps between passed fds close-on-exec.
    pub const CLOEXEC_GAPS: u32 = 100;
    /// Mark every fd above the passed ones close-on-exec.
    pub const CLOEXEC_REST: u32 = 101;
    /// Make fd 0 the controlling terminal.
    pub const CONTROLLING_TTY: u32 = 200;
    // Stage::Capabilities (below 100: the capability dropped from the
    // bounding set; from 200: 200 + the ambient capability raised)
    /// Clear the ambient set.
    pub const CLEAR_AMBIENT: u32 = 100;
    /// `capset` of the kept capabilities, before the securebits lock.
    pub const CAPSET_KEPT: u32 = 101;
    /// Lock the securebits.
    pub const LOCK_SECUREBITS: u32 = 102;
    /// `capset` of the kept capabilities, last.
    pub const CAPSET_FINAL: u32 = 103;
    /// Keep capabilities across the uid switch (`PR_SET_KEEPCAPS`).
    pub const KEEP_CAPS: u32 = 104;
    /// `capset` of the sets given one by one.
    pub const CAPSET_SETS: u32 = 105;
    /// Clear `PR_SET_KEEPCAPS` again.
    pub const CLEAR_KEEP_CAPS: u32 = 106;
    /// The first ambient raise (200 + the capability).
    pub const AMBIENT_RAISE: u32 = 200;
    // Stage::Loopback
    /// Open a socket for the interface ioctls.
    pub const LO_SOCKET: u32 = 0;
    /// Read `lo`'s flags.
    pub const LO_GET_FLAGS: u32 = 1;
    /// Set `lo` up.
    pub const LO_SET_FLAGS: u32 = 2;
    // Stage::DeathSignal
    /// Arm the death signal.
    pub const ARM: u32 = 0;
    /// Arm it again after the identity switch.
    pub const REARM: u32 = 1;
    // Stage::OomScoreAdj (and other files the child writes)
    /// Open the file.
    pub const FILE_OPEN: u32 = 0;
    /// Write it.
    pub const FILE_WRITE: u32 = 1;
    // Stage::NoNewPrivs
    /// Before the seccomp filter.
    pub const FOR_SECCOMP: u32 = 0;
    /// Before the Landlock domain.
    pub const FOR_LANDLOCK: u32 = 1;
    // Stage::Init, from the child (the init's own set-up reports 1 to 4)
    /// `execveat` of the embedded init.
    pub const EXEC_INIT: u32 = 0;
    // Stage::LockView
    /// The nested user and mount namespaces (`unshare`).
    pub const LOCK_UNSHARE: u32 = 0;
    /// `setgroups` deny.
    pub const LOCK_SETGROUPS: u32 = 1;
    /// The nested `uid_map`.
    pub const LOCK_UID_MAP: u32 = 2;
    /// The nested `gid_map`.
    pub const LOCK_GID_MAP: u32 = 3;
    /// Open this process's `/proc` directory.
    pub const LOCK_OWN_PROC: u32 = 4;
}

impl Stage {
    /// The name of the step `detail` of this stage, where the stage names
    /// its steps (see [`step`]).
    pub fn step(self, detail: u32) -> Option<&'static str> {
        use step::*;
        Some(match (self, detail) {
            (Stage::PivotRoot, ROOT_SOURCE) => "open the root directory",
            (Stage::PivotRoot, ROOT_TREE) => "make the root's tree",
            (Stage::PivotRoot, ROOT_ATTACH) => "attach the root",
            (Stage::PivotRoot, ROOT_READ_ONLY) => "make the root read-only",
            (Stage::PivotRoot, ROOT_ENTER) => "enter the new root",
            (Stage::PivotRoot, PIVOT) => "pivot_root",
            (Stage::PivotRoot, OLD_ROOT_DETACH) => "detach the old root",
            (Stage::PivotRoot, ROOT_CHDIR) => "chdir to the new root",
            (Stage::Cwd, CWD_BY_PATH) => "chdir by path",
            (Stage::Cwd, CWD_OPEN_ROOT) => "open the root",
            (Stage::Cwd, CWD_OPEN) => "open the working directory in the root",
            (Stage::Cwd, CWD_ENTER) => "enter the working directory",
            (Stage::Cwd, CWD_REACHABLE) => "the working directory is outside the root",
            (Stage::Identity, SETGROUPS) => "setgroups",
            (Stage::Identity, SETRESGID) => "setresgid",
            (Stage::Identity, SETRESUID) => "setresuid",
            (Stage::Identity, NS_ROOT_GID) => "setresgid to the set-up gid",
            (Stage::Identity, NS_ROOT_UID) => "setresuid to the set-up uid",
            (Stage::Fds, CLOEXEC_GAPS | CLOEXEC_REST) => "mark fds close-on-exec",
            (Stage::Fds, CONTROLLING_TTY) => "make fd 0 the controlling terminal",
            (Stage::Capabilities, CLEAR_AMBIENT) => "clear the ambient set",
            (Stage::Capabilities, CAPSET_KEPT | CAPSET_FINAL | CAPSET_SETS) => "capset",
            (Stage::Capabilities, LOCK_SECUREBITS) => "lock the securebits",
            (Stage::Capabilities, KEEP_CAPS | CLEAR_KEEP_CAPS) => "PR_SET_KEEPCAPS",
            (Stage::Loopback, LO_SOCKET) => "open a socket",
            (Stage::Loopback, LO_GET_FLAGS) => "read lo's flags",
            (Stage::Loopback, LO_SET_FLAGS) => "set lo up",
            (Stage::DeathSignal, REARM) => "arm it again after the identity switch",
            (Stage::OomScoreAdj, FILE_OPEN) => "open",
            (Stage::OomScoreAdj, FILE_WRITE) => "write",
            (Stage::NoNewPrivs, FOR_SECCOMP) => "before the seccomp filter",
            (Stage::NoNewPrivs, FOR_LANDLOCK) => "before Landlock",
            (Stage::LockView, LOCK_UNSHARE) => "unshare the nested user and mount namespaces",
            (Stage::LockView, LOCK_SETGROUPS) => "deny setgroups",
            (Stage::LockView, LOCK_UID_MAP) => "write the nested uid_map",
            (Stage::LockView, LOCK_GID_MAP) => "write the nested gid_map",
            (Stage::LockView, LOCK_OWN_PROC) => "open /proc/self",
            _ => return None,
        })
    }

    /// Decode the number carried in an error record.
    pub fn from_u32(v: u32) -> Option<Stage> {
        use Stage::*;
        const ALL: [Stage; 26] = [
            Sync,
            DeathSignal,
            Identity,
            Session,
            Loopback,
            Hostname,
            MountPrivate,
            Mount,
            PivotRoot,
            Proc,
            Cwd,
            Rlimit,
            Fds,
            Capabilities,
            NoNewPrivs,
            Landlock,
            Seccomp,
            InitFork,
            Signals,
            Exec,
            Setns,
            OomScoreAdj,
            IdMaps,
            Cgroup,
            Init,
            LockView,
        ];
        ALL.into_iter().find(|s| *s as u32 == v)
    }

    /// A short human name, used in messages.
    pub fn name(self) -> &'static str {
        use Stage::*;
        match self {
            Sync => "sync with parent",
            DeathSignal => "die-with-parent",
            Identity => "switch uid/gid",
            Session => "setsid",
            Loopback => "bring up loopback",
            Hostname => "sethostname",
            MountPrivate => "make mounts private",
            Mount => "mount",
            PivotRoot => "pivot_root",
            Proc => "mount /proc",
            Cwd => "chdir",
            Rlimit => "setrlimit",
            Fds => "set up fds",
            Capabilities => "drop capabilities",
            NoNewPrivs => "no_new_privs",
            Landlock => "landlock",
            Seccomp => "seccomp",
            InitFork => "fork payload from init",
            Signals => "reset signals",
            Exec => "execve",
            Setns => "join namespace",
            OomScoreAdj => "set oom_score_adj",
            IdMaps => "write own id maps",
            Cgroup => "join cgroup",
            Init => "start the box's init",
            LockView => "lock the view's mounts",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that can go wrong, from configuration to the child's last stage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid; nothing was spawned.
    #[error("invalid {field}: {reason}")]
    InvalidConfig {
        /// The builder field (or CLI flag) at fault.
        field: String,
        /// Why it is invalid and what is accepted.
        reason: String,
    },

    /// The caller lacks a privilege the configuration needs.
    #[error("missing privilege {privilege} to {action}: {fix}")]
    Privilege {
        /// The privilege, e.g. `CAP_SYS_ADMIN` or `a delegated cgroup`.
        privilege: String,
        /// What needed it.
        action: String,
        /// How to obtain it or avoid needing it.
        fix: String,
    },

    /// The kernel (or this machine) lacks a feature the configuration needs.
    #[error("unsupported: {feature}: {detail}")]
    Unsupported {
        /// The feature, e.g. `time namespace` or `Landlock ABI 4`.
        feature: String,
        /// What was detected and what can be done.
        detail: String,
    },

    /// The program to run does not exist (or is not executable) in the box.
    #[error("program not found: {}: {source}", program.display())]
    ProgramNotFound {
        /// The program as given.
        program: PathBuf,
        /// ENOENT, EACCES, ...
        #[source]
        source: io::Error,
    },

    /// The child failed at a stage between clone and exec.
    #[error("sandbox setup failed at stage '{stage}'{}: {source}", fmt_detail(*stage, path, *detail))]
    Spawn {
        /// The failing stage.
        stage: Stage,
        /// Stage-specific detail, e.g. the mount step index.
        detail: u32,
        /// The path involved, when the stage has one.
        path: Option<PathBuf>,
        /// The errno the child saw.
        #[source]
        source: io::Error,
    },

    /// A host-side operation failed (pipes, clone, id maps, cgroup files...).
    #[error("{op}{}: {source}", fmt_path(path))]
    Io {
        /// What was being done.
        op: String,
        /// The path involved, if any.
        path: Option<PathBuf>,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

fn fmt_path(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!(" ({})", p.display()),
        None => String::new(),
    }
}

fn fmt_detail(stage: Stage, path: &Option<PathBuf>, detail: u32) -> String {
    match (path, stage.step(detail)) {
        (Some(p), _) => format!(" ({}, step {detail})", p.display()),
        (None, Some(step)) => format!(" ({step})"),
        (None, None) => String::new(),
    }
}

impl Error {
    /// Shorthand for [`Error::InvalidConfig`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::InvalidConfig {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Io`] from the current errno.
    pub fn last_os(op: impl Into<String>, path: Option<PathBuf>) -> Error {
        Error::Io {
            op: op.into(),
            path,
            source: io::Error::last_os_error(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(op: impl Into<String>, path: Option<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            op: op.into(),
            path,
            source,
        }
    }

    /// The errno behind this error, when there is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::ProgramNotFound { source, .. }
            | Error::Spawn { source, .. }
            | Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// The stage of the launch pipeline, for errors raised in the child.
    pub fn stage(&self) -> Option<Stage> {
        match self {
            Error::Spawn { stage, .. } => Some(*stage),
            Error::ProgramNotFound { .. } => Some(Stage::Exec),
            _ => None,
        }
    }
}

/// A failure inside the child, before exec: written to the error pipe as a
/// fixed-size record, so the child needs no allocation to report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct ChildError {
    /// A [`Stage`] as `u32`.
    pub stage: u32,
    /// Stage-specific detail (e.g. the mount step index).
    pub detail: u32,
    /// The errno.
    pub errno: i32,
}

impl ChildError {
    /// A record for `stage` with the current errno.
    ///
    /// Safe to call in the child: reads errno through libc, no allocation.
    #[inline]
    pub fn last(stage: Stage, detail: u32) -> ChildError {
        ChildError {
            stage: stage as u32,
            detail,
            // SAFETY: __errno_location returns this thread's errno slot.
            errno: unsafe { *libc::__errno_location() },
        }
    }

    /// A record for `stage` with an explicit errno.
    #[inline]
    pub fn new(stage: Stage, detail: u32, errno: i32) -> ChildError {
        ChildError {
            stage: stage as u32,
            detail,
            errno,
        }
    }
}

/// The result type of code that runs in the child between clone and exec.
pub type ChildResult<T = ()> = std::result::Result<T, ChildError>;

#[cfg(test)]
mod tests {
    use super::*;
    use rsandbox_init::proto;

    /// The init writes the pipeline's own error records: same layout, same
    /// stage numbers.
    #[test]
    fn the_init_speaks_the_same_records() {
        assert_eq!(
            std::mem::size_of::<ChildError>(),
            std::mem::size_of::<proto::Record>()
        );
        for (stage, n) in [
            (Stage::NoNewPrivs, proto::STAGE_NO_NEW_PRIVS),
            (Stage::Seccomp, proto::STAGE_SECCOMP),
            (Stage::InitFork, proto::STAGE_INIT_FORK),
            (Stage::Signals, proto::STAGE_SIGNALS),
            (Stage::Exec, proto::STAGE_EXEC),
            (Stage::Init, proto::STAGE_INIT),
        ] {
            assert_eq!(stage as u32, n, "{stage}");
            assert_eq!(Stage::from_u32(n), Some(stage));
        }
    }
}

#[cfg(test)]
mod step_tests {
    use super::*;

    #[test]
    fn a_named_step_is_in_the_message_and_a_counted_one_is_not() {
        let e = |stage, detail| Error::Spawn {
            stage,
            detail,
            path: None,
            source: io::Error::from_raw_os_error(libc::EINVAL),
        };
        let m = e(Stage::PivotRoot, step::PIVOT).to_string();
        assert!(m.contains("stage 'pivot_root' (pivot_root):"), "{m}");
        let m = e(Stage::LockView, step::LOCK_UID_MAP).to_string();
        assert!(m.contains("(write the nested uid_map)"), "{m}");
        // A mount step is counted, and named by its path when it has one.
        let m = e(Stage::Mount, 3).to_string();
        assert!(
            m.starts_with("sandbox setup failed at stage 'mount': "),
            "{m}"
        );
        assert_eq!(Stage::Capabilities.step(12), None);
    }
}
