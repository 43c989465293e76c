//! The seccomp part of a box's description: where its filter comes from.
//! Plain data; the policy IR is [`crate::seccomp::SeccompPolicy`] and the
//! engine that compiles and installs it is [`crate::seccomp`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::seccomp_policy::SeccompPolicy;

/// Where the policy comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeccompSource {
    /// The built-in default profile.
    Default,
    /// A policy built in code.
    Policy(SeccompPolicy),
    /// An OCI / Docker JSON profile, as text.
    OciJson(String),
    /// An OCI / Docker JSON profile, read at spawn time.
    OciFile(PathBuf),
    /// A compiled classic BPF program (`struct sock_filter`s, as bytes),
    /// installed as given (bubblewrap's `--seccomp FD`).
    Bpf(Vec<u8>),
}

/// Seccomp configuration of a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeccompConfig {
    /// `None`: no filter.
    pub(crate) source: Option<SeccompSource>,
}
