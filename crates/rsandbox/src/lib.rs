//! rsandbox: an embeddable Linux sandbox.
//!
//! Describe a box with the [`Sandbox`] builder, then spawn a [`Command`] in it.
//! [`Sandbox::new`] is a plain builder: it isolates nothing until layers are
//! added, one by one as here; [`Sandbox::strict`] is the preset with every
//! hardening layer on (all namespaces, no capability, no_new_privs, the
//! default seccomp profile, an allow-list: see [`seccomp::profile`]).
//!
//! ```no_run
//! use rsandbox::{Command, Sandbox};
//! let outcome = Sandbox::new()
//!     .pid_ns()
//!     .mount_ns()
//!     .spawn(&Command::new("/bin/true"))?
//!     .wait()?;
//! assert!(outcome.success());
//! # Ok::<(), rsandbox::Error>(())
//! ```
//!
//! The box is made of kernel primitives only (namespaces, cgroups, rlimits,
//! seccomp, Landlock, capabilities). See `DESIGN.md` for the launch pipeline.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod caps;
pub mod cgroup;
mod child;
mod command;
pub mod config;
pub use spawn::degrade;
pub mod egress;
mod error;
pub mod features;
pub mod fs;
pub mod identity;
mod idmap;
pub mod image;
pub mod landlock;
pub mod limits;
pub mod logs;
mod memfd;
pub mod net;
mod netns;
mod netpool;
mod ns;
mod pool;
mod preset;
mod profile;
mod report;
mod run;
mod sandbox;
pub mod seccomp;
mod spawn;
mod stdio;
pub mod sys;
pub mod template;

pub use caps::CapSet;
pub use cgroup::devices::DeviceRule;
pub use child::{Child, ExitStatus, Outcome, Output, Reason};
pub use command::Command;
pub use error::{ChildError, Error, Result, Stage};
pub use identity::{BoxIdentity, UNPRIVILEGED_ID};
pub use idmap::IdMap;
pub use image::{Image, ImageError};
pub use logs::{CappedOutput, Line, LogLine, LogStream};
pub use netns::NetNs;
pub use ns::Namespace;
pub use pool::{Pool, POOL_MAX};
pub use profile::ProfileFormat;
pub use report::SpawnTiming;
pub use report::{Enforcement, EnforcementReport, LayerReport};
pub use sandbox::Sandbox;
pub use stdio::Stdio;
