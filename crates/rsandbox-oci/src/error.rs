//! The runtime's failures, one variant per kind. Each message is what
//! `main` prints after `rsandbox-oci: ` (and logs), so it names the field,
//! container, path or step, and says what to do where there is something
//! to do; the variants let callers and tests tell the kinds apart.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// A failure of the runtime.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// A field of `config.json` (or of a `process` or resources JSON) that
    /// is wrong, or asks for what this host cannot have.
    #[error("{field}: {reason}")]
    Spec { field: String, reason: String },
    /// A valid runtime-spec field that rsandbox-oci does not implement.
    #[error("{field}: {reason}")]
    Unsupported { field: String, reason: String },
    /// A command-line flag or argument that cannot be used as given.
    #[error("{0}")]
    Usage(String),
    /// A container id that is not a safe single path component.
    #[error("invalid container id {0:?}")]
    InvalidId(String),
    /// No container of this id under `--root`.
    #[error("container {0:?} does not exist")]
    NotFound(String),
    /// `create` with an id that is taken.
    #[error("container {0:?} already exists")]
    AlreadyExists(String),
    /// The container's process is gone (or its pid is another's now).
    #[error("container {0:?} is not running")]
    NotRunning(String),
    /// The verb does not apply to a container in this state.
    #[error("cannot {verb} container {id:?} in state {status}{hint}")]
    WrongState {
        verb: &'static str,
        id: String,
        status: &'static str,
        /// Appended as is (e.g. " (use --force)").
        hint: &'static str,
    },
    /// The container's cgroup is used by something else already.
    #[error("the container's cgroup {} is {reason}", path.display())]
    CgroupInUse { path: PathBuf, reason: String },
    /// The container's cgroup cannot do what the verb needs.
    #[error("cgroup {}: {reason}", path.display())]
    Cgroup { path: PathBuf, reason: String },
    /// A file operation on `path` failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A system call (or a step made of a few) failed.
    #[error("{op}: {source}")]
    Os {
        op: String,
        #[source]
        source: io::Error,
    },
    /// JSON that could not be read or written.
    #[error("{what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// The core refused the translated box (a config the core validates).
    #[error("{context}: {source}")]
    Rejected {
        context: &'static str,
        #[source]
        source: rsandbox::Error,
    },
    /// The core could not spawn (or wait for) a process.
    #[error("{context}: {source}")]
    Spawn {
        context: &'static str,
        #[source]
        source: rsandbox::Error,
    },
    /// The core could not write a limit into the container's cgroup.
    #[error("{context}: {source}")]
    Limits {
        context: &'static str,
        #[source]
        source: rsandbox::Error,
    },
    /// A hook failed; `source` says how.
    #[error("hooks.{kind}[{index}] ({}): {source}", path.display())]
    Hook {
        kind: &'static str,
        index: usize,
        path: PathBuf,
        #[source]
        source: Box<OciError>,
    },
    /// A hook's program that may not run: where it must be and is not.
    #[error("{0}")]
    HookProgram(String),
    /// A process of the runtime's (a hook) ended unsuccessfully.
    #[error("failed: {0}")]
    Failed(String),
    /// A process of the runtime's (a hook) ran past its timeout.
    #[error("timed out after {0:?}")]
    TimedOut(Duration),
    /// The runtime could not re-execute itself from a sealed view of its
    /// binary (see `sealed_exe`), so it does not go on.
    #[error("sealed view of the runtime: {0}")]
    SealedExe(#[source] Box<OciError>),
}

/// The runtime's result.
pub type Res<T> = Result<T, OciError>;

impl OciError {
    /// A refused or wrong config field.
    pub fn spec(field: impl Into<String>, reason: impl Into<String>) -> Self {
        OciError::Spec {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A config field rsandbox-oci does not implement.
    pub fn unsupported(field: impl Into<String>, reason: impl Into<String>) -> Self {
        OciError::Unsupported {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A failed file operation on `path`.
    pub fn io(op: impl Into<String>, path: impl Into<PathBuf>, source: io::Error) -> Self {
        OciError::Io {
            op: op.into(),
            path: path.into(),
            source,
        }
    }

    /// A failed system call, with its `errno` (call right after it).
    pub fn last_os(op: impl Into<String>) -> Self {
        OciError::Os {
            op: op.into(),
            source: io::Error::last_os_error(),
        }
    }

    /// A step that failed for a reason that is not an `errno`.
    pub fn os_other(op: impl Into<String>, why: &str) -> Self {
        OciError::Os {
            op: op.into(),
            source: io::Error::other(why.to_string()),
        }
    }

    /// JSON that could not be parsed or written, with what it was.
    pub fn json(what: impl Into<String>, source: serde_json::Error) -> Self {
        OciError::Json {
            what: what.into(),
            source,
        }
    }

    /// A cgroup of the container that cannot do what is asked.
    pub fn cgroup(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        OciError::Cgroup {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The printed messages keep the wording the runtime has always
    /// printed (engines and the tests match on parts of it).
    #[test]
    fn messages_read_as_before() {
        assert_eq!(
            OciError::NotFound("c1".into()).to_string(),
            "container \"c1\" does not exist"
        );
        let e = OciError::WrongState {
            verb: "delete",
            id: "c1".into(),
            status: "running",
            hint: " (use --force)",
        };
        assert_eq!(
            e.to_string(),
            "cannot delete container \"c1\" in state running (use --force)"
        );
        let e = OciError::Hook {
            kind: "prestart",
            index: 0,
            path: "/bin/false".into(),
            source: Box::new(OciError::Failed("exit status: 1".into())),
        };
        assert_eq!(
            e.to_string(),
            "hooks.prestart[0] (/bin/false): failed: exit status: 1"
        );
        let e = OciError::io(
            "read",
            "/b/config.json",
            io::Error::from_raw_os_error(libc::ENOENT),
        );
        assert!(e.to_string().starts_with("read /b/config.json: "), "{e}");
        assert!(std::error::Error::source(&e).is_some());
    }
}
