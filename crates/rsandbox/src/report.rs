//! The enforcement report: for each layer of the box, what was asked and
//! what this kernel really applied.
//!
//! Strict by default: a layer that was requested but cannot be enforced
//! fails [`Sandbox::validate`] / `spawn` with [`Error::Unsupported`] or
//! [`Error::Privilege`]. With `best_effort(true)` the box is spawned anyway
//! and the report says what is missing ([`Enforcement::Partial`] or
//! [`Enforcement::NotEnforced`]).
//!
//! [`Error::Unsupported`]: crate::Error::Unsupported
//! [`Error::Privilege`]: crate::Error::Privilege

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Sandbox;

/// How much of a requested layer is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    /// Everything requested is enforced.
    Full,
    /// Some of it (see `applied`).
    Partial,
    /// Requested, but nothing of it is enforced (best effort only).
    NotEnforced,
    /// Not requested.
    NotRequested,
}

/// One layer of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerReport {
    /// The layer: `namespace:pid`, `seccomp`, `landlock`, `capabilities`,
    /// `no_new_privs`, `securebits`, `limit:memory`...
    pub layer: String,
    /// What the description asked for.
    pub requested: String,
    /// What is really applied.
    pub applied: String,
    /// The verdict.
    pub enforcement: Enforcement,
}

impl LayerReport {
    /// A layer that was not asked for.
    pub fn not_requested(layer: impl Into<String>) -> LayerReport {
        LayerReport {
            layer: layer.into(),
            requested: "no".into(),
            applied: "no".into(),
            enforcement: Enforcement::NotRequested,
        }
    }
    /// A layer fully applied as asked.
    pub fn full(layer: impl Into<String>, what: impl Into<String>) -> LayerReport {
        let what = what.into();
        LayerReport {
            layer: layer.into(),
            requested: what.clone(),
            applied: what,
            enforcement: Enforcement::Full,
        }
    }
}

/// What a sandbox really enforces, layer by layer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnforcementReport {
    /// The layers, in pipeline order.
    pub layers: Vec<LayerReport>,
}

impl EnforcementReport {
    /// The entry for `layer`.
    pub fn layer(&self, layer: &str) -> Option<&LayerReport> {
        self.layers.iter().find(|l| l.layer == layer)
    }
    /// Add (or replace) a layer's entry.
    pub fn push(&mut self, entry: LayerReport) {
        if let Some(l) = self.layers.iter_mut().find(|l| l.layer == entry.layer) {
            *l = entry;
        } else {
            self.layers.push(entry);
        }
    }
    /// True when every requested layer is fully enforced.
    pub fn fully_enforced(&self) -> bool {
        self.layers
            .iter()
            .all(|l| matches!(l.enforcement, Enforcement::Full | Enforcement::NotRequested))
    }
    /// The requested layers that are not fully enforced.
    pub fn gaps(&self) -> impl Iterator<Item = &LayerReport> {
        self.layers.iter().filter(|l| {
            matches!(
                l.enforcement,
                Enforcement::Partial | Enforcement::NotEnforced
            )
        })
    }

    /// Add the cgroup limits: each requested one is fully applied unless the
    /// cgroup setup (in best-effort mode) listed it as unapplied.
    /// `devices_applied` says how the device rules are enforced (the v1
    /// controller or the eBPF program, and the rules' final state).
    pub(crate) fn add_limits(
        &mut self,
        sb: &Sandbox,
        unapplied: &[Unapplied],
        devices_applied: Option<&str>,
    ) {
        let l = sb.limits();
        let asked = [
            (
                "memory",
                Limit::Memory,
                l.memory().map(|b| format!("{b} bytes")),
            ),
            (
                "pids",
                Limit::Pids,
                l.pids().map(|n| format!("{n} processes")),
            ),
            ("cpu", Limit::Cpu, l.cpu().map(|c| format!("{c} cores"))),
            (
                "cpu_weight",
                Limit::CpuWeight,
                l.cpu_weight().map(|w| format!("weight {w}")),
            ),
            (
                "devices",
                Limit::DeviceRules,
                Some(l.extra.devices.len())
                    .filter(|n| *n > 0)
                    .map(|n| format!("{n} device rules")),
            ),
        ];
        for (name, limit, req) in asked {
            let layer = format!("limit:{name}");
            let Some(req) = req else {
                self.push(LayerReport::not_requested(layer));
                continue;
            };
            match unapplied.iter().find(|u| u.limit == limit) {
                Some(why) => self.push(LayerReport {
                    layer,
                    requested: req,
                    applied: format!("no ({why})"),
                    enforcement: Enforcement::NotEnforced,
                }),
                None => {
                    let mut entry = LayerReport::full(layer, req);
                    if let (Some(how), "devices") = (devices_applied, name) {
                        entry.applied = how.to_string();
                    }
                    self.push(entry)
                }
            }
        }
    }
}

impl fmt::Display for EnforcementReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.layers {
            writeln!(
                f,
                "{:<18} {:<13} requested: {}; applied: {}",
                l.layer,
                format!("{:?}", l.enforcement),
                l.requested,
                l.applied
            )?;
        }
        Ok(())
    }
}

/// When each stage of one spawn ended, as offsets from the call to `spawn`.
///
/// Marks follow the launch pipeline; stages a box does not use (no mount
/// namespace, no PID namespace...) are absent. Child-side marks come from
/// the child's own clock reads (`CLOCK_MONOTONIC`, shared by all
/// processes), so "child running" may precede "clone returned".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpawnTiming {
    /// (stage, time since `spawn` was called when it ended), in pipeline
    /// order.
    pub marks: Vec<(&'static str, Duration)>,
}

impl SpawnTiming {
    /// Time from the call to `spawn` until exec succeeded.
    pub fn total(&self) -> Duration {
        self.marks.last().map_or(Duration::ZERO, |m| m.1)
    }

    /// Each stage's own duration: (stage, end of stage − end of previous).
    pub fn stages(&self) -> Vec<(&'static str, Duration)> {
        let mut prev = Duration::ZERO;
        self.marks
            .iter()
            .map(|&(n, t)| {
                let d = t.saturating_sub(prev);
                prev = prev.max(t);
                (n, d)
            })
            .collect()
    }
}

impl fmt::Display for SpawnTiming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, d) in self.stages() {
            writeln!(f, "{name:>30} {:>9.1} µs", d.as_secs_f64() * 1e6)?;
        }
        write!(
            f,
            "{:>30} {:>9.1} µs",
            "total",
            self.total().as_secs_f64() * 1e6
        )
    }
}

/// A cgroup limit of a description, named in messages by the builder
/// method that sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// [`Sandbox::memory_limit`](crate::Sandbox::memory_limit).
    Memory,
    /// [`Sandbox::pids_limit`](crate::Sandbox::pids_limit).
    Pids,
    /// [`Sandbox::cpu_limit`](crate::Sandbox::cpu_limit).
    Cpu,
    /// [`Sandbox::cpu_weight`](crate::Sandbox::cpu_weight).
    CpuWeight,
    /// The cpuset knobs.
    Cpuset,
    /// The block I/O weights and throttles.
    Blkio,
    /// [`Sandbox::net_classid`](crate::Sandbox::net_classid).
    NetClassid,
    /// [`Sandbox::net_priority`](crate::Sandbox::net_priority).
    NetPriority,
    /// [`Sandbox::device_rules`](crate::Sandbox::device_rules).
    DeviceRules,
}

impl Limit {
    /// The builder method's name, as messages and reports give it.
    pub fn setter(self) -> &'static str {
        match self {
            Limit::Memory => "memory_limit",
            Limit::Pids => "pids_limit",
            Limit::Cpu => "cpu_limit",
            Limit::CpuWeight => "cpu_weight",
            Limit::Cpuset => "cpuset",
            Limit::Blkio => "blkio",
            Limit::NetClassid => "net_classid",
            Limit::NetPriority => "net_priority",
            Limit::DeviceRules => "device_rules",
        }
    }
}

/// A limit asked for and not applied (best effort), with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unapplied {
    /// Which limit.
    pub limit: Limit,
    /// Why it is not in force.
    pub reason: String,
}

impl fmt::Display for Unapplied {
    /// `"memory_limit: <reason>"`, the form of
    /// [`Child::unapplied_limits`](crate::Child::unapplied_limits).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.limit.setter(), self.reason)
    }
}
