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

impl Stage {
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
    #[error("sandbox setup failed at stage '{stage}'{}: {source}", fmt_detail(path, *detail))]
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

fn fmt_detail(path: &Option<PathBuf>, detail: u32) -> String {
    match path {
        Some(p) => format!(" ({}, step {detail})", p.display()),
        None => String::new(),
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
