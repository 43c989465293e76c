//! Resource limits: cgroup limits (memory, pids, cpu), rlimits, wall-clock
//! and CPU-time limits.
//!
//! Everything here is plain data on the [`Sandbox`] builder; it is checked by
//! [`Sandbox::validate`] (so before any process exists) and enforced by the
//! [`cgroup`](crate::cgroup) module (in the parent) and by [`RlimitPlan`] (in
//! the child, between clone and exec).

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{ChildError, ChildResult, Error, Result, Stage};
use crate::Sandbox;

pub use crate::config::limits::*;

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
    /// Limit the memory of the whole tree to `bytes` (cgroup `memory.max`,
    /// or `memory.limit_in_bytes` on v1). Swap is off for the box, so the
    /// limit is real: going over it ends as
    /// [`Reason::OutOfMemory`](crate::Reason::OutOfMemory).
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.limits.memory = Some(bytes);
        self
    }
    /// Limit the number of processes and threads of the whole tree (cgroup
    /// `pids.max`): `fork` fails with EAGAIN beyond it.
    pub fn pids_limit(mut self, n: u64) -> Self {
        self.limits.pids = Some(n);
        self
    }
    /// Limit CPU bandwidth to `cores` CPUs (e.g. 0.5: half of one CPU), as a
    /// CFS quota over a 100 ms period.
    pub fn cpu_limit(mut self, cores: f64) -> Self {
        self.limits.cpu = Some(cores);
        self
    }
    /// Relative CPU weight, 1..=10000 (default 100), against sibling cgroups.
    pub fn cpu_weight(mut self, w: u64) -> Self {
        self.limits.cpu_weight = Some(w);
        self
    }
    /// Set rlimit `resource` to `soft`/`hard` ([`UNLIMITED`] for none). Hard
    /// limits can only be lowered (raising needs `CAP_SYS_RESOURCE`).
    pub fn rlimit(mut self, resource: Resource, soft: u64, hard: u64) -> Self {
        self.limits.rlimits.retain(|r| r.resource != resource);
        self.limits.rlimits.push(Rlimit {
            resource,
            soft,
            hard,
        });
        self
    }
    /// `RLIMIT_NOFILE`, soft = hard = `n`.
    pub fn rlimit_nofile(self, n: u64) -> Self {
        self.rlimit(Resource::Nofile, n, n)
    }
    /// `RLIMIT_FSIZE`, soft = hard = `bytes`.
    pub fn rlimit_fsize(self, bytes: u64) -> Self {
        self.rlimit(Resource::Fsize, bytes, bytes)
    }
    /// `RLIMIT_AS`, soft = hard = `bytes`.
    pub fn rlimit_as(self, bytes: u64) -> Self {
        self.rlimit(Resource::As, bytes, bytes)
    }
    /// `RLIMIT_STACK`, soft = hard = `bytes`.
    pub fn rlimit_stack(self, bytes: u64) -> Self {
        self.rlimit(Resource::Stack, bytes, bytes)
    }
    /// `RLIMIT_CORE`, soft = hard = `bytes` (the default in a box is 0).
    pub fn rlimit_core(self, bytes: u64) -> Self {
        self.rlimit(Resource::Core, bytes, bytes)
    }
    /// `RLIMIT_CPU`, soft = `secs`, hard = `secs + 1` (SIGXCPU, then SIGKILL).
    pub fn rlimit_cpu(self, secs: u64) -> Self {
        self.rlimit(Resource::Cpu, secs, secs.saturating_add(1))
    }
    /// Limit CPU time: each process of the box gets `d` (rounded up to whole
    /// seconds, `RLIMIT_CPU`); going over it ends as
    /// [`Reason::CpuTimeLimit`](crate::Reason::CpuTimeLimit).
    pub fn cpu_time_limit(mut self, d: Duration) -> Self {
        self.limits.cpu_time = Some(d);
        self
    }
    /// Create the box's cgroup under `path` instead of directly under the
    /// caller's own cgroup: a relative path is relative to the caller's own
    /// cgroup in each hierarchy (e.g. a delegated `"sandboxes"` child); an
    /// absolute one is a cgroup path from the hierarchy root (`/my.slice`)
    /// or a directory under a cgroup mount (`/sys/fs/cgroup/my.slice`).
    pub fn cgroup_parent(mut self, path: impl Into<PathBuf>) -> Self {
        self.limits.cgroup_parent = Some(path.into());
        self
    }
    /// Give the box its own cgroup even when no cgroup limit is set, for
    /// usage accounting ([`Outcome::cgroup`](crate::Outcome::cgroup)) and a
    /// reliable kill of the whole tree.
    pub fn accounting(mut self, on: bool) -> Self {
        self.limits.accounting = on;
        self
    }
    /// The configured limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

/// Whether the caller has `CAP_SYS_RESOURCE` in its effective set (one
/// `capget`, not a read of `/proc/self/status`: this runs at every spawn).
fn has_sys_resource() -> bool {
    crate::sys::caps::has_effective_cap(crate::sys::caps::CAP_SYS_RESOURCE)
}

fn current(resource: Resource) -> Result<libc::rlimit> {
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit struct.
    if unsafe { libc::getrlimit(resource.raw() as _, &mut cur) } != 0 {
        return Err(Error::last_os(format!("read {}", resource.name()), None));
    }
    Ok(cur)
}

/// The rlimits to set: the explicit ones, `RLIMIT_CORE` 0 unless given
/// (a crashing payload should not write the host a core file), and the
/// CPU-time limit as `RLIMIT_CPU` (soft = ceil(seconds), hard = soft + 1,
/// so SIGXCPU comes before SIGKILL) unless an explicit one is lower.
fn wanted(l: &Limits) -> Vec<Rlimit> {
    let mut wanted: Vec<Rlimit> = l.rlimits.clone();
    if !wanted.iter().any(|r| r.resource == Resource::Core) {
        wanted.push(Rlimit {
            resource: Resource::Core,
            soft: 0,
            hard: 0,
        });
    }
    if let Some(d) = l.cpu_time {
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        match wanted.iter_mut().find(|r| r.resource == Resource::Cpu) {
            Some(r) => {
                r.soft = r.soft.min(secs);
                r.hard = r.hard.min(secs + 1).max(r.soft);
            }
            None => wanted.push(Rlimit {
                resource: Resource::Cpu,
                soft: secs,
                hard: secs + 1,
            }),
        }
    }
    wanted
}

/// `r` in the kernel's terms. Without CAP_SYS_RESOURCE a hard limit can
/// only go down: raising it is an error when the caller asked for it
/// (`explicit`), and is clamped to the current hard limit otherwise.
fn raw_item(r: &Rlimit, explicit: bool, privileged: bool) -> Result<(u32, libc::rlimit)> {
    let cur = current(r.resource)?;
    let to_raw = |v: u64| {
        if v == UNLIMITED {
            libc::RLIM_INFINITY
        } else {
            v as libc::rlim_t
        }
    };
    let (mut soft, mut hard) = (to_raw(r.soft), to_raw(r.hard));
    if hard > cur.rlim_max && !privileged {
        if explicit {
            return Err(Error::Privilege {
                privilege: "CAP_SYS_RESOURCE".into(),
                action: format!(
                    "raise the hard {} from {} to {}",
                    r.resource.name(),
                    fmt_rlim(cur.rlim_max),
                    fmt_rlim(hard)
                ),
                fix: format!(
                    "ask for at most {} (the caller's hard limit), or raise it \
                     before starting the caller",
                    fmt_rlim(cur.rlim_max)
                ),
            });
        }
        // Implicit (cpu_time_limit hard = soft + 1): clamp.
        hard = cur.rlim_max;
        soft = soft.min(hard);
    }
    let raw = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    Ok((r.resource.raw(), raw))
}

/// rlimits prepared for the child: a fixed list of (resource, values).
#[derive(Debug)]
pub(crate) struct RlimitPlan {
    items: Vec<(u32, libc::rlimit)>,
}

impl RlimitPlan {
    /// Validate and prepare; `None` when there is nothing to set.
    ///
    /// `RLIMIT_CORE` is 0 unless set explicitly. A CPU-time limit becomes
    /// `RLIMIT_CPU` (soft = ceil(seconds), hard = soft + 1) unless an
    /// explicit, lower `RLIMIT_CPU` is set.
    pub(crate) fn prepare(sb: &Sandbox) -> Result<Option<RlimitPlan>> {
        let l = &sb.limits;
        l.validate()?;
        let privileged = has_sys_resource();
        let mut items = Vec::new();
        for r in wanted(l) {
            let explicit = l.rlimits.iter().any(|x| x.resource == r.resource);
            items.push(raw_item(&r, explicit, privileged)?);
        }
        Ok(Some(RlimitPlan { items }))
    }

    /// Apply in the child.
    ///
    /// # Safety
    /// Raw syscalls on prepared data only: no allocation.
    pub(crate) unsafe fn apply(&self) -> ChildResult {
        for (res, lim) in &self.items {
            // SAFETY: setrlimit reads one valid rlimit struct.
            if unsafe { libc::setrlimit(*res as _, lim) } != 0 {
                return Err(ChildError::last(Stage::Rlimit, *res));
            }
        }
        Ok(())
    }
}

fn fmt_rlim(v: libc::rlim_t) -> String {
    if v == libc::RLIM_INFINITY {
        "unlimited".into()
    } else {
        v.to_string()
    }
}

/// The name of rlimit resource number `raw` (for error messages).
pub(crate) fn rlimit_name(raw: u32) -> &'static str {
    const NAMES: [&str; 16] = [
        "RLIMIT_CPU",
        "RLIMIT_FSIZE",
        "RLIMIT_DATA",
        "RLIMIT_STACK",
        "RLIMIT_CORE",
        "RLIMIT_RSS",
        "RLIMIT_NPROC",
        "RLIMIT_NOFILE",
        "RLIMIT_MEMLOCK",
        "RLIMIT_AS",
        "RLIMIT_LOCKS",
        "RLIMIT_SIGPENDING",
        "RLIMIT_MSGQUEUE",
        "RLIMIT_NICE",
        "RLIMIT_RTPRIO",
        "RLIMIT_RTTIME",
    ];
    NAMES.get(raw as usize).copied().unwrap_or("RLIMIT_?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_parse() {
        for r in Resource::ALL {
            assert_eq!(Resource::parse(r.name()).unwrap(), r);
            let short = &r.name()["RLIMIT_".len()..];
            assert_eq!(Resource::parse(short).unwrap(), r);
            assert_eq!(Resource::parse(&short.to_ascii_lowercase()).unwrap(), r);
        }
        match Resource::parse("bogus") {
            Err(Error::InvalidConfig { field, reason }) => {
                assert_eq!(field, "rlimit");
                assert!(reason.contains("nofile"), "{reason}");
            }
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }
}
