//! The cgroup v2 backend: limit files, stats, `cgroup.kill`.

use std::path::Path;
use std::time::Duration;

use crate::cgroup::{read_kv, read_u64, write_file, CgroupStats};
use crate::config::limits::{CgroupLimits, CPU_PERIOD_US};
use crate::error::Result;

/// The controllers `l` needs enabled in the parent's `cgroup.subtree_control`.
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
    v.extend(l.extra.v2_controllers().unwrap_or_default());
    v
}

/// The controllers missing from `parent`'s `cgroup.controllers`.
pub fn missing_controllers(parent: &Path, l: &CgroupLimits) -> Vec<&'static str> {
    let have = std::fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
    let have: Vec<&str> = have.split_whitespace().collect();
    needed_controllers(l)
        .into_iter()
        .filter(|c| !have.contains(c))
        .collect()
}

/// Enable `ctrls` for the children of `parent` (no-op for those already on).
pub fn enable_controllers(parent: &Path, ctrls: &[&str]) -> Result<()> {
    let path = parent.join("cgroup.subtree_control");
    let on = std::fs::read_to_string(&path).unwrap_or_default();
    let on: Vec<&str> = on.split_whitespace().collect();
    let add: Vec<String> = ctrls
        .iter()
        .filter(|c| !on.contains(c))
        .map(|c| format!("+{c}"))
        .collect();
    if add.is_empty() {
        return Ok(());
    }
    write_file(&path, &add.join(" "))
}

/// Write the limit files of `l` into the cgroup directory `dir`:
/// `memory.max` (with `memory.swap.max` = 0 when swap accounting exists),
/// `pids.max`, `cpu.max`, `cpu.weight`.
pub fn write_limits(dir: &Path, l: &CgroupLimits) -> Result<()> {
    if let Some(m) = l.memory {
        write_file(&dir.join("memory.max"), &m.to_string())?;
        let swap = dir.join("memory.swap.max");
        if swap.exists() {
            write_file(&swap, "0")?;
        }
    }
    if let Some(p) = l.pids {
        write_file(&dir.join("pids.max"), &p.to_string())?;
    }
    if let Some(q) = l.cpu_quota_us {
        write_file(&dir.join("cpu.max"), &format!("{q} {CPU_PERIOD_US}"))?;
    }
    if let Some(w) = l.cpu_weight {
        write_file(&dir.join("cpu.weight"), &w.to_string())?;
    }
    l.extra.write_v2(dir)
}

/// Read the usage counters of the cgroup directory `dir` (absent files give
/// `None`).
pub fn read_stats(dir: &Path) -> CgroupStats {
    CgroupStats {
        memory_peak: memory_peak(dir),
        oom_kills: oom_kills(dir),
        cpu_time: cpu_time(dir),
        pids_peak: pids_peak(dir),
        unapplied: Vec::new(),
    }
}

/// Peak memory (`memory.peak`).
pub fn memory_peak(dir: &Path) -> Option<u64> {
    read_u64(&dir.join("memory.peak"))
}

/// OOM kills (`oom_kill` in `memory.events`).
pub fn oom_kills(dir: &Path) -> Option<u64> {
    read_kv(&dir.join("memory.events"), "oom_kill")
}

/// CPU time of the tree (`usage_usec` in `cpu.stat`).
pub fn cpu_time(dir: &Path) -> Option<Duration> {
    read_kv(&dir.join("cpu.stat"), "usage_usec").map(Duration::from_micros)
}

/// Peak pids (`pids.peak`).
pub fn pids_peak(dir: &Path) -> Option<u64> {
    read_u64(&dir.join("pids.peak"))
}

/// Kill every process in `dir` with `cgroup.kill` (kernel ≥ 5.14). False
/// when the file is missing.
pub fn kill(dir: &Path) -> bool {
    std::fs::write(dir.join("cgroup.kill"), "1").is_ok()
}
