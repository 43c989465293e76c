//! Resource limits: rlimits, wall-clock and CPU-time limits.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{ChildResult, Result};
use crate::Sandbox;

/// Resource limits of a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Wall-clock limit, enforced by the [`Child`](crate::Child)'s waits.
    pub(crate) timeout: Option<Duration>,
    /// With a timeout: SIGTERM first, then kill the tree after this long.
    pub(crate) grace: Option<Duration>,
}

impl Sandbox {
    /// Kill the whole tree once it has run this long (wall clock); the
    /// [`Outcome`](crate::Outcome) then says the wall-time limit was hit.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.limits.timeout = Some(d);
        self
    }
    /// With a timeout: send SIGTERM first and kill the tree `d` later.
    pub fn grace(mut self, d: Duration) -> Self {
        self.limits.grace = Some(d);
        self
    }
    /// The configured limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

impl Limits {
    /// The wall-clock limit.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
    /// The grace period after SIGTERM.
    pub fn grace(&self) -> Option<Duration> {
        self.grace
    }
}

/// rlimits prepared for the child.
#[derive(Debug)]
pub(crate) struct RlimitPlan {}

impl RlimitPlan {
    /// Validate and prepare; `None` when there is nothing to set.
    pub(crate) fn prepare(sb: &Sandbox) -> Result<Option<RlimitPlan>> {
        validate_time(sb)?;
        Ok(None)
    }
    /// Apply in the child.
    ///
    /// # Safety
    /// Raw syscalls on prepared data only.
    pub(crate) unsafe fn apply(&self) -> ChildResult {
        Ok(())
    }
}

fn validate_time(sb: &Sandbox) -> Result<()> {
    for (field, d) in [("timeout", sb.limits.timeout), ("grace", sb.limits.grace)] {
        if let Some(d) = d {
            if d.is_zero() {
                return Err(crate::Error::invalid(field, "must be greater than zero"));
            }
        }
    }
    Ok(())
}
