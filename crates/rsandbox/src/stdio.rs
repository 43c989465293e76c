//! Where the payload's standard streams go.

use std::os::fd::RawFd;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A standard stream of the payload.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stdio {
    /// The caller's own stream.
    #[default]
    Inherit,
    /// `/dev/null`.
    Null,
    /// A pipe; the caller's end is on the [`Child`](crate::Child).
    Pipe,
    /// A file descriptor of the caller (borrowed: it is duplicated at spawn
    /// and must stay open until `spawn` returns).
    Fd(RawFd),
    /// A file on the host: opened for reading (stdin) or created/truncated
    /// for writing (stdout/stderr) at spawn.
    File(PathBuf),
    /// A file on the host, opened for appending (stdout/stderr).
    Append(PathBuf),
    /// stderr only: wherever stdout goes (the shell's `2>&1`).
    Stdout,
}
