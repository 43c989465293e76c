//! The seccomp policy IR (actions, argument comparisons, rules), which the
//! frontends ([`super::oci`], [`super::profile`]) produce and the backend
//! compiles. It is part of the description, so it lives in
//! [`crate::config::seccomp_policy`]; this path is kept for callers.

pub use crate::config::seccomp_policy::{Action, ArgCmp, CmpOp, Rule, SeccompPolicy};
