//! The filesystem view of the box: the mount plan.
//!
//! Prepared in the parent ([`MountPlan::prepare`]), applied in the child
//! ([`MountPlan::apply`]) with raw syscalls only.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{ChildError, ChildResult, Result, Stage};
use crate::ns::Namespace;
use crate::Sandbox;

/// Filesystem configuration of a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FsConfig {}

/// Mount work prepared in the parent for the child.
#[derive(Debug)]
pub(crate) struct MountPlan {
    proc: bool,
}

impl MountPlan {
    /// Validate the filesystem configuration and prepare every path the child
    /// needs. `None` when the sandbox has no mount namespace.
    pub(crate) fn prepare(sb: &Sandbox) -> Result<Option<MountPlan>> {
        if !sb.has_ns(Namespace::Mount) {
            return Ok(None);
        }
        Ok(Some(MountPlan {
            proc: sb.has_ns(Namespace::Pid),
        }))
    }

    /// Apply the plan. Runs in the child, as PID 1 of the box when there is a
    /// PID namespace, after the network and UTS setup.
    ///
    /// # Safety
    /// Only raw syscalls on prepared data: callable after clone.
    pub(crate) unsafe fn apply(&self) -> ChildResult {
        // SAFETY: static C strings, NULL data; the syscalls only read them.
        unsafe {
            if libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
            {
                return Err(ChildError::last(Stage::MountPrivate, 0));
            }
            if self.proc
                && libc::mount(
                    c"proc".as_ptr(),
                    c"/proc".as_ptr(),
                    c"proc".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    std::ptr::null(),
                ) != 0
            {
                return Err(ChildError::last(Stage::Proc, 0));
            }
        }
        Ok(())
    }
}

/// The directory the box's `/` comes from, for looking up the program before
/// spawn: `None` means the host's own root.
pub(crate) fn program_root(_sb: &Sandbox) -> Option<PathBuf> {
    None
}

/// Whether `path` (absolute, inside the box) is made by a mount step, so the
/// parent cannot check it on the host before spawn.
pub(crate) fn creates_path(_sb: &Sandbox, _path: &std::path::Path) -> bool {
    false
}

/// Validate the filesystem configuration (called before anything is spawned).
pub(crate) fn validate(_sb: &Sandbox) -> Result<()> {
    Ok(())
}

impl MountPlan {
    /// The destination of mount step `idx`, for error messages.
    pub(crate) fn step_path(&self, _idx: u32) -> Option<PathBuf> {
        None
    }
}
