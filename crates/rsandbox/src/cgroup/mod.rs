//! Cgroups: one interface over the v1 and v2 backends.

use std::os::fd::RawFd;
use std::time::Duration;

use crate::error::Result;
use crate::Sandbox;

/// What the cgroup saw of the box's resource use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CgroupStats {
    /// Peak memory use in bytes.
    pub memory_peak: Option<u64>,
    /// How many processes the OOM killer killed.
    pub oom_kills: Option<u64>,
    /// CPU time of the whole tree.
    pub cpu_time: Option<Duration>,
    /// Peak number of processes.
    pub pids_peak: Option<u64>,
}

/// A cgroup made for one spawn; removed when dropped.
#[derive(Debug)]
pub(crate) struct Cgroup {}

impl Cgroup {
    /// Create the cgroup the sandbox's limits need, or `None` when it asks
    /// for none.
    pub(crate) fn create(_sb: &Sandbox) -> Result<Option<Cgroup>> {
        Ok(None)
    }
    /// A cgroup2 directory fd for `CLONE_INTO_CGROUP`, when available.
    pub(crate) fn clone_into_fd(&self) -> Option<RawFd> {
        None
    }
    /// Move `pid` into the cgroup (before the child is released to exec).
    pub(crate) fn attach(&self, _pid: libc::pid_t) -> Result<()> {
        Ok(())
    }
    /// Kill every process in the cgroup.
    pub(crate) fn kill(&self) -> std::io::Result<()> {
        Ok(())
    }
    /// Read the usage counters.
    pub(crate) fn stats(&self) -> CgroupStats {
        CgroupStats::default()
    }
    /// Remove the cgroup (idempotent).
    pub(crate) fn remove(&mut self) -> Result<()> {
        Ok(())
    }
}
