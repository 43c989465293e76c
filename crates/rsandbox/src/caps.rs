//! Capabilities, securebits and no_new_privs.

use serde::{Deserialize, Serialize};

use crate::error::{ChildResult, Result};
use crate::Sandbox;

/// Privilege configuration of a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CapsConfig {}

/// Capability sets prepared for the child.
#[derive(Debug)]
pub(crate) struct CapsPlan {}

impl CapsPlan {
    /// Prepare; `None` when privileges are left as they are.
    pub(crate) fn prepare(_sb: &Sandbox) -> Result<Option<CapsPlan>> {
        Ok(None)
    }
    /// Apply in the child (drop capabilities, lock securebits, no_new_privs).
    ///
    /// # Safety
    /// Raw syscalls on prepared data only.
    pub(crate) unsafe fn apply(&self) -> ChildResult {
        Ok(())
    }
}
