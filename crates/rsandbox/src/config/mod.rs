//! The description of a box, as plain data at the bottom of the crate:
//! each concern's part of [`crate::Sandbox`] (capabilities, identity,
//! Landlock, limits, device rules, networking, seccomp). The engines that
//! enforce a part import it from here; nothing here imports an engine, the
//! launch pipeline or the report. The engines re-export their part, so the
//! public paths (`rsandbox::caps::CapsConfig`, ...) stay as they were.

pub mod caps;
pub mod devices;
pub mod egress;
pub(crate) mod env_serde;
pub mod fs;
pub mod identity;
pub mod landlock;
pub mod limits;
pub mod net;
pub mod seccomp;
pub mod seccomp_policy;
