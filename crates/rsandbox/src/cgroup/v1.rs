//! The cgroup v1 backend: one directory per controller hierarchy.

use std::path::Path;
use std::time::Duration;

use crate::cgroup::{read_kv, read_u64, write_file, Counters};
use crate::config::limits::{CgroupLimits, CPU_PERIOD_US};
use crate::error::Result;

/// The v1 controllers `l` needs.
pub fn needed_controllers(l: &CgroupLimits) -> Vec<&'static str> {
    let mut v = Vec::new();
    if l.memory.is_some() {
        v.push("memory");
    }
    if l.pids.is_some() {
        v.push("pids");
    }
    if l.cpu_quota_us.is_some() || l.cpu_weight.is_some() {
        v.push("cpu");
    }
    v.extend(l.extra.v1_controllers());
    v
}

/// Write the limits of `controller` into its cgroup directory `dir`.
/// Memory: `memory.limit_in_bytes`, then `memory.memsw.limit_in_bytes` to
/// the same value (swap off) when swap accounting exists.
pub fn write_limits(controller: &str, dir: &Path, l: &CgroupLimits) -> Result<()> {
    match controller {
        "memory" => {
            if let Some(m) = l.memory {
                write_file(&dir.join("memory.limit_in_bytes"), &m.to_string())?;
                let memsw = dir.join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    write_file(&memsw, &m.to_string())?;
                } else {
                    let _ = std::fs::write(dir.join("memory.swappiness"), "0");
                }
            }
        }
        "pids" => {
            if let Some(p) = l.pids {
                write_file(&dir.join("pids.max"), &p.to_string())?;
            }
        }
        "cpu" => {
            if let Some(q) = l.cpu_quota_us {
                write_file(&dir.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
                write_file(&dir.join("cpu.cfs_quota_us"), &q.to_string())?;
            }
            if let Some(w) = l.cpu_weight {
                // v2 weight 100 is v1 shares 1024; shares ≥ 2.
                let shares = (w * 1024 / 100).max(2);
                write_file(&dir.join("cpu.shares"), &shares.to_string())?;
            }
        }
        other => l.extra.write_v1(other, dir)?,
    }
    Ok(())
}

/// Peak memory (`memory.max_usage_in_bytes`) and OOM kills
/// (`memory.oom_control`) of a memory cgroup.
pub(crate) fn memory_stats(dir: &(impl Counters + ?Sized)) -> (Option<u64>, Option<u64>) {
    (
        read_u64(dir, "memory.max_usage_in_bytes"),
        read_kv(dir, "memory.oom_control", "oom_kill"),
    )
}

/// CPU time of a cpuacct cgroup (`cpuacct.usage`, ns).
pub(crate) fn cpu_time(dir: &(impl Counters + ?Sized)) -> Option<Duration> {
    read_u64(dir, "cpuacct.usage").map(Duration::from_nanos)
}

/// Peak pids of a pids cgroup (`pids.peak`, recent kernels).
pub(crate) fn pids_peak(dir: &(impl Counters + ?Sized)) -> Option<u64> {
    read_u64(dir, "pids.peak")
}
