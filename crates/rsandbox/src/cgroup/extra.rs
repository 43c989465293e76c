//! Cgroup knobs beyond memory, pids and cpu: cpusets, block I/O weights and
//! throttles, and the v1 network controllers (`net_cls` class id,
//! `net_prio` priorities), and device rules (v1 `devices` or a v2 eBPF
//! program, in [`devices`]). OCI runtimes need them
//! (`linux.resources`).
//!
//! Each knob is written where the kernel has it; a knob the host lacks (no
//! hierarchy with the controller, or no such file: `blkio.weight` needs an
//! I/O scheduler with weights) is an error, never silently dropped.

use std::path::Path;

use crate::cgroup::devices;
use crate::cgroup::write_file;
use crate::error::{Error, Result};
use crate::report::Limit;
use crate::Sandbox;

pub use crate::config::limits::{CgroupExtra, IoThrottle};

impl IoThrottle {
    fn v1_file(self) -> &'static str {
        match self {
            IoThrottle::ReadBps => "blkio.throttle.read_bps_device",
            IoThrottle::WriteBps => "blkio.throttle.write_bps_device",
            IoThrottle::ReadIops => "blkio.throttle.read_iops_device",
            IoThrottle::WriteIops => "blkio.throttle.write_iops_device",
        }
    }
    fn v2_key(self) -> &'static str {
        match self {
            IoThrottle::ReadBps => "rbps",
            IoThrottle::WriteBps => "wbps",
            IoThrottle::ReadIops => "riops",
            IoThrottle::WriteIops => "wiops",
        }
    }
}

/// Extra cgroup builder methods.
impl Sandbox {
    /// Run on these CPUs only (cpuset, e.g. `"0-1,3"`).
    pub fn cpuset_cpus(mut self, cpus: impl Into<String>) -> Self {
        self.limits.extra.cpus = Some(cpus.into());
        self
    }
    /// Allocate memory on these NUMA nodes only (cpuset, e.g. `"0"`).
    pub fn cpuset_mems(mut self, mems: impl Into<String>) -> Self {
        self.limits.extra.mems = Some(mems.into());
        self
    }
    /// Block I/O weight, 10..=1000 (v1 `blkio.weight` or `blkio.bfq.weight`,
    /// v2 `io.weight` or `io.bfq.weight`: needs a scheduler with weights).
    pub fn blkio_weight(mut self, weight: u16) -> Self {
        self.limits.extra.io_weight = Some(weight);
        self
    }
    /// Block I/O weight on device `major:minor`.
    pub fn blkio_weight_device(mut self, major: u32, minor: u32, weight: u16) -> Self {
        self.limits
            .extra
            .io_weight_device
            .push((major, minor, weight));
        self
    }
    /// Throttle device `major:minor` (v1 `blkio.throttle.*`, v2 `io.max`).
    pub fn blkio_throttle(mut self, which: IoThrottle, major: u32, minor: u32, rate: u64) -> Self {
        self.limits
            .extra
            .io_throttle
            .push((which, major, minor, rate));
        self
    }
    /// Tag the box's packets with this class id (cgroup v1 `net_cls`).
    pub fn net_classid(mut self, classid: u32) -> Self {
        self.limits.extra.net_classid = Some(classid);
        self
    }
    /// Priority of the box's traffic on interface `ifname` (cgroup v1
    /// `net_prio`).
    pub fn net_priority(mut self, ifname: impl Into<String>, prio: u32) -> Self {
        self.limits.extra.net_prio.push((ifname.into(), prio));
        self
    }
}

impl CgroupExtra {
    /// The v1 controllers these knobs need.
    pub(crate) fn v1_controllers(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.has_cpuset() {
            v.push("cpuset");
        }
        if self.has_io() {
            v.push("blkio");
        }
        if self.net_classid.is_some() {
            v.push("net_cls");
        }
        if !self.net_prio.is_empty() {
            v.push("net_prio");
        }
        if !self.devices.is_empty() {
            v.push("devices");
        }
        v
    }

    /// The v2 controllers these knobs need; `net_cls`/`net_prio` have no v2
    /// counterpart (an error on a pure v2 host). Device rules need no v2
    /// controller: an eBPF program (see `Cgroup::create_in`).
    pub(crate) fn v2_controllers(&self) -> Result<Vec<&'static str>> {
        if self.net_classid.is_some() || !self.net_prio.is_empty() {
            return Err(Error::Unsupported {
                feature: "cgroup net_cls / net_prio".into(),
                detail: "cgroup v2 has no network controllers (use nftables with the \
                         cgroup path instead)"
                    .into(),
            });
        }
        let mut v = Vec::new();
        if self.has_cpuset() {
            v.push("cpuset");
        }
        if self.has_io() {
            v.push("io");
        }
        Ok(v)
    }

    /// Names of the builder methods behind a v1 controller, for reports.
    pub(crate) fn limits_of(&self, ctrl: &str) -> Vec<Limit> {
        match ctrl {
            "cpuset" if self.has_cpuset() => vec![Limit::Cpuset],
            "blkio" if self.has_io() => vec![Limit::Blkio],
            "net_cls" if self.net_classid.is_some() => vec![Limit::NetClassid],
            "net_prio" if !self.net_prio.is_empty() => vec![Limit::NetPriority],
            "devices" if !self.devices.is_empty() => vec![Limit::DeviceRules],
            _ => Vec::new(),
        }
    }

    /// Write the knobs of v1 `controller` into its directory `dir`.
    pub(crate) fn write_v1(&self, controller: &str, dir: &Path) -> Result<()> {
        match controller {
            "cpuset" => {
                // A new v1 cpuset starts empty and takes no task: fill the
                // ancestors (and this one) from their parents first.
                fill_cpuset(dir)?;
                if let Some(c) = &self.cpus {
                    write_file(&dir.join("cpuset.cpus"), c)?;
                }
                if let Some(m) = &self.mems {
                    write_file(&dir.join("cpuset.mems"), m)?;
                }
            }
            "blkio" => {
                let weight = pick(dir, &["blkio.weight", "blkio.bfq.weight"]);
                let weight_dev = pick(dir, &["blkio.weight_device", "blkio.bfq.weight_device"]);
                if let Some(w) = self.io_weight {
                    write_file(&need(weight, dir, "blkio weight")?, &w.to_string())?;
                }
                for (ma, mi, w) in &self.io_weight_device {
                    let f = need(weight_dev.clone(), dir, "blkio weight per device")?;
                    write_file(&f, &format!("{ma}:{mi} {w}"))?;
                }
                for (which, ma, mi, rate) in &self.io_throttle {
                    write_file(&dir.join(which.v1_file()), &format!("{ma}:{mi} {rate}"))?;
                }
            }
            "net_cls" => {
                if let Some(id) = self.net_classid {
                    write_file(&dir.join("net_cls.classid"), &id.to_string())?;
                }
            }
            "devices" => devices::write_v1(&self.devices, dir)?,
            "net_prio" => {
                for (ifname, prio) in &self.net_prio {
                    write_file(&dir.join("net_prio.ifpriomap"), &format!("{ifname} {prio}"))?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Write the knobs into the v2 directory `dir`.
    pub(crate) fn write_v2(&self, dir: &Path) -> Result<()> {
        if let Some(c) = &self.cpus {
            write_file(&dir.join("cpuset.cpus"), c)?;
        }
        if let Some(m) = &self.mems {
            write_file(&dir.join("cpuset.mems"), m)?;
        }
        if self.io_weight.is_some() || !self.io_weight_device.is_empty() {
            let f = need(pick(dir, &["io.weight", "io.bfq.weight"]), dir, "io weight")?;
            if let Some(w) = self.io_weight {
                write_file(&f, &format!("default {w}"))?;
            }
            for (ma, mi, w) in &self.io_weight_device {
                write_file(&f, &format!("{ma}:{mi} {w}"))?;
            }
        }
        for (which, ma, mi, rate) in &self.io_throttle {
            write_file(
                &dir.join("io.max"),
                &format!("{ma}:{mi} {}={rate}", which.v2_key()),
            )?;
        }
        Ok(())
    }
}

/// The first of `names` that exists in `dir`.
fn pick(dir: &Path, names: &[&str]) -> Option<std::path::PathBuf> {
    names.iter().map(|n| dir.join(n)).find(|p| p.exists())
}

fn need(p: Option<std::path::PathBuf>, dir: &Path, what: &str) -> Result<std::path::PathBuf> {
    p.ok_or_else(|| Error::Unsupported {
        feature: format!("cgroup {what}"),
        detail: format!(
            "{} has no weight file: the block devices' I/O scheduler has no \
             weights (use bfq) or the kernel lacks them",
            dir.display()
        ),
    })
}

/// Give an empty v1 cpuset (and its empty ancestors) its parent's cpus
/// and mems, top-down.
pub fn fill_cpuset(dir: &Path) -> Result<()> {
    let read = |d: &Path, f: &str| std::fs::read_to_string(d.join(f)).unwrap_or_default();
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    if !parent.join("cpuset.cpus").exists() {
        return Ok(());
    }
    for f in ["cpuset.cpus", "cpuset.mems"] {
        if read(dir, f).trim().is_empty() {
            if read(parent, f).trim().is_empty() {
                fill_cpuset(parent)?;
            }
            write_file(&dir.join(f), read(parent, f).trim())?;
        }
    }
    Ok(())
}
