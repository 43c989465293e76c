//! Seccomp: a syscall policy compiled to BPF in the parent, installed last in
//! the child.

use serde::{Deserialize, Serialize};

use crate::error::{ChildResult, Result};
use crate::Sandbox;

/// Seccomp configuration of a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeccompConfig {}

/// A compiled filter, ready to install.
#[derive(Debug)]
pub(crate) struct SeccompProgram {}

impl SeccompProgram {
    /// Compile the policy; `None` when no filter is requested.
    pub(crate) fn prepare(_sb: &Sandbox) -> Result<Option<SeccompProgram>> {
        Ok(None)
    }
    /// Install the filter. Runs in the child, last before exec.
    ///
    /// # Safety
    /// Raw syscalls on prepared data only.
    pub(crate) unsafe fn install(&self) -> ChildResult {
        Ok(())
    }
}
