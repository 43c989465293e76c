//! The Landlock part of a box's description: path rules, port lists,
//! scopes. Plain data; the engine that builds the ruleset is
//! [`crate::landlock`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Access granted beneath a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathRule {
    /// The path (a host path, resolved when the sandbox is spawned).
    pub path: PathBuf,
    /// Read files and list directories.
    pub read: bool,
    /// Write, truncate, create, remove, rename, device ioctls.
    pub write: bool,
    /// Execute (implies read, which loaders need).
    pub exec: bool,
}

/// Landlock configuration of a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LandlockConfig {
    /// Restrict the filesystem (set by any path rule).
    pub(crate) fs: bool,
    /// Path rules.
    pub(crate) paths: Vec<PathRule>,
    /// `Some`: restrict TCP bind to these ports.
    pub(crate) bind_ports: Option<Vec<u16>>,
    /// `Some`: restrict TCP connect to these ports.
    pub(crate) connect_ports: Option<Vec<u16>>,
    /// No connecting to abstract unix sockets made outside the box.
    pub(crate) scope_abstract_unix: bool,
    /// No signals to processes outside the box.
    pub(crate) scope_signals: bool,
    /// Apply what the kernel offers instead of failing.
    pub(crate) best_effort: bool,
}

impl LandlockConfig {
    pub(crate) fn requested(&self) -> bool {
        self.fs
            || self.bind_ports.is_some()
            || self.connect_ports.is_some()
            || self.scope_abstract_unix
            || self.scope_signals
    }
}

/// The Landlock ABI that scopes abstract sockets and signals (Linux 6.12).
pub(crate) const SCOPE_ABI: i32 = 6;
