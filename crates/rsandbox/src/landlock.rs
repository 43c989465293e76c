//! Landlock: path and port rules, created in the parent, applied in the child.

use serde::{Deserialize, Serialize};

use crate::error::{ChildResult, Result};
use crate::Sandbox;

/// Landlock configuration of a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LandlockConfig {}

/// A ruleset prepared in the parent.
#[derive(Debug)]
pub(crate) struct LandlockPlan {}

impl LandlockPlan {
    /// Create the ruleset; `None` when no rule is requested.
    pub(crate) fn prepare(_sb: &Sandbox) -> Result<Option<LandlockPlan>> {
        Ok(None)
    }
    /// `landlock_restrict_self` in the child.
    ///
    /// # Safety
    /// Raw syscalls on prepared data only.
    pub(crate) unsafe fn apply(&self) -> ChildResult {
        Ok(())
    }
}
