//! Resource limits: cgroup limits (memory, pids, cpu), rlimits, wall-clock
//! and CPU-time limits.
//!
//! Everything here is plain data on the [`Sandbox`] builder; it is checked by
//! [`Sandbox::validate`] (so before any process exists) and enforced by the
//! [`cgroup`](crate::cgroup) module (in the parent) and by [`RlimitPlan`] (in
//! the child, between clone and exec).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{ChildError, ChildResult, Error, Result, Stage};
use crate::Sandbox;

/// The smallest memory limit accepted: below this not even `execve` of a
/// small static binary fits, and the kernel would OOM-kill at once.
pub const MIN_MEMORY: u64 = 1 << 20;

/// The CFS period used for [`Sandbox::cpu_limit`], in microseconds.
pub const CPU_PERIOD_US: u64 = 100_000;

/// Longest accepted duration (timeouts, CPU time): anything longer is
/// treated as "infinite" and refused; leave the limit unset instead.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// "No limit" for an rlimit value (`RLIM_INFINITY`).
pub const UNLIMITED: u64 = u64::MAX;

/// A resource limited by `setrlimit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Resource {
    /// `RLIMIT_CPU`: CPU seconds per process (SIGXCPU at soft, SIGKILL at hard).
    Cpu,
    /// `RLIMIT_FSIZE`: largest file a process may write (SIGXFSZ / EFBIG).
    Fsize,
    /// `RLIMIT_DATA`: data segment + heap size.
    Data,
    /// `RLIMIT_STACK`: stack size.
    Stack,
    /// `RLIMIT_CORE`: core dump size (0 by default in a sandbox).
    Core,
    /// `RLIMIT_NOFILE`: open file descriptors (EMFILE).
    Nofile,
    /// `RLIMIT_AS`: address space (ENOMEM).
    As,
    /// `RLIMIT_NPROC`: processes of the real uid (counts the whole uid!).
    Nproc,
    /// `RLIMIT_MEMLOCK`: locked memory.
    Memlock,
    /// `RLIMIT_MSGQUEUE`: POSIX message queue bytes.
    Msgqueue,
    /// `RLIMIT_LOCKS`: file locks.
    Locks,
    /// `RLIMIT_SIGPENDING`: queued signals.
    Sigpending,
}

impl Resource {
    /// The kernel's resource number.
    // The constants are c_uint on glibc and c_int on musl.
    #[allow(clippy::unnecessary_cast)]
    pub fn raw(self) -> u32 {
        (match self {
            Resource::Cpu => libc::RLIMIT_CPU,
            Resource::Fsize => libc::RLIMIT_FSIZE,
            Resource::Data => libc::RLIMIT_DATA,
            Resource::Stack => libc::RLIMIT_STACK,
            Resource::Core => libc::RLIMIT_CORE,
            Resource::Nofile => libc::RLIMIT_NOFILE,
            Resource::As => libc::RLIMIT_AS,
            Resource::Nproc => libc::RLIMIT_NPROC,
            Resource::Memlock => libc::RLIMIT_MEMLOCK,
            Resource::Msgqueue => libc::RLIMIT_MSGQUEUE,
            Resource::Locks => libc::RLIMIT_LOCKS,
            Resource::Sigpending => libc::RLIMIT_SIGPENDING,
        }) as u32
    }

    /// The name used in messages, e.g. `RLIMIT_NOFILE`.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Cpu => "RLIMIT_CPU",
            Resource::Fsize => "RLIMIT_FSIZE",
            Resource::Data => "RLIMIT_DATA",
            Resource::Stack => "RLIMIT_STACK",
            Resource::Core => "RLIMIT_CORE",
            Resource::Nofile => "RLIMIT_NOFILE",
            Resource::As => "RLIMIT_AS",
            Resource::Nproc => "RLIMIT_NPROC",
            Resource::Memlock => "RLIMIT_MEMLOCK",
            Resource::Msgqueue => "RLIMIT_MSGQUEUE",
            Resource::Locks => "RLIMIT_LOCKS",
            Resource::Sigpending => "RLIMIT_SIGPENDING",
        }
    }

    /// Every resource, in the kernel's order.
    pub const ALL: [Resource; 12] = [
        Resource::Cpu,
        Resource::Fsize,
        Resource::Data,
        Resource::Stack,
        Resource::Core,
        Resource::Nofile,
        Resource::As,
        Resource::Nproc,
        Resource::Memlock,
        Resource::Msgqueue,
        Resource::Locks,
        Resource::Sigpending,
    ];

    /// Parse a resource name as the bindings and the CLI take it:
    /// `nofile`, `NOFILE` or `RLIMIT_NOFILE` (any case).
    pub fn parse(name: &str) -> Result<Resource> {
        let up = name.to_ascii_uppercase();
        let short = up.strip_prefix("RLIMIT_").unwrap_or(&up);
        Resource::ALL
            .into_iter()
            .find(|r| &r.name()["RLIMIT_".len()..] == short)
            .ok_or_else(|| {
                let names: Vec<&str> = Resource::ALL
                    .iter()
                    .map(|r| &r.name()["RLIMIT_".len()..])
                    .collect();
                Error::invalid(
                    "rlimit",
                    format!(
                        "unknown resource {name:?}; expected one of {} (any case, optional RLIMIT_ prefix)",
                        names.join(", ").to_ascii_lowercase()
                    ),
                )
            })
    }

    /// Whether 0 is a meaningful value (otherwise it is refused: a process
    /// with 0 open files or 0 bytes of address space cannot even exec).
    fn zero_ok(self) -> bool {
        matches!(
            self,
            Resource::Fsize
                | Resource::Core
                | Resource::Memlock
                | Resource::Msgqueue
                | Resource::Locks
                | Resource::Sigpending
        )
    }
}

/// One rlimit: soft and hard values ([`UNLIMITED`] for none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    /// Which resource.
    pub resource: Resource,
    /// The soft limit (what the process gets; it may raise it up to hard).
    pub soft: u64,
    /// The hard limit (the ceiling; only lowered, never raised, in a box).
    pub hard: u64,
}

/// Resource limits of a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Wall-clock limit, enforced by the [`Child`](crate::Child)'s waits.
    pub(crate) timeout: Option<Duration>,
    /// With a timeout: SIGTERM first, then kill the tree after this long.
    pub(crate) grace: Option<Duration>,
    /// Memory limit in bytes (cgroup; swap off).
    pub(crate) memory: Option<u64>,
    /// Process/thread limit (cgroup).
    pub(crate) pids: Option<u64>,
    /// CPU bandwidth in cores (cgroup quota/period).
    pub(crate) cpu: Option<f64>,
    /// CPU weight 1..=10000 (cgroup v2 `cpu.weight`; v1 shares scaled).
    pub(crate) cpu_weight: Option<u64>,
    /// rlimits, at most one per resource (last call wins).
    pub(crate) rlimits: Vec<Rlimit>,
    /// CPU-time limit (RLIMIT_CPU per process, rounded up to seconds).
    pub(crate) cpu_time: Option<Duration>,
    /// Create the box's cgroup under this one instead of the caller's own.
    pub(crate) cgroup_parent: Option<PathBuf>,
    /// Run even when a cgroup limit cannot be applied; report it instead.
    pub(crate) best_effort: bool,
    /// Give the box a cgroup even without cgroup limits (usage accounting,
    /// killing the whole tree).
    pub(crate) accounting: bool,
    /// Cpusets, block I/O, network classes.
    pub(crate) extra: crate::cgroup::extra::CgroupExtra,
    /// Enforce device rules with the cgroup v2 eBPF program even where a
    /// v1 `devices` hierarchy exists (a test hook, see
    /// [`Sandbox::device_rules_via_ebpf`]); not serialized.
    #[serde(skip)]
    pub(crate) devices_ebpf: bool,
}

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

impl Limits {
    /// The wall-clock limit.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
    /// The grace period after SIGTERM.
    pub fn grace(&self) -> Option<Duration> {
        self.grace
    }
    /// The memory limit in bytes.
    pub fn memory(&self) -> Option<u64> {
        self.memory
    }
    /// The pids limit.
    pub fn pids(&self) -> Option<u64> {
        self.pids
    }
    /// The CPU bandwidth limit in cores.
    pub fn cpu(&self) -> Option<f64> {
        self.cpu
    }
    /// The CPU weight.
    pub fn cpu_weight(&self) -> Option<u64> {
        self.cpu_weight
    }
    /// The rlimits set explicitly.
    pub fn rlimits(&self) -> &[Rlimit] {
        &self.rlimits
    }
    /// The CPU-time limit.
    pub fn cpu_time(&self) -> Option<Duration> {
        self.cpu_time
    }
    /// The cgroup parent.
    pub fn cgroup_parent(&self) -> Option<&std::path::Path> {
        self.cgroup_parent.as_deref()
    }
    /// Whether unapplicable cgroup limits are tolerated (and reported).
    pub fn best_effort(&self) -> bool {
        self.best_effort
    }
    /// Whether any limit needs a cgroup.
    pub fn wants_cgroup(&self) -> bool {
        self.accounting
            || self.memory.is_some()
            || self.pids.is_some()
            || self.cpu.is_some()
            || self.cpu_weight.is_some()
            || self.extra.any()
    }
    /// A copy with the cgroup limits only (what the cgroup backends write).
    pub fn cgroup_limits(&self) -> CgroupLimits {
        CgroupLimits {
            memory: self.memory,
            pids: self.pids,
            cpu_quota_us: self.cpu.map(cpu_quota_us),
            cpu_weight: self.cpu_weight,
            extra: self.extra.clone(),
        }
    }

    /// Check every limit; the errors name the builder method at fault.
    pub fn validate(&self) -> Result<()> {
        self.extra.validate()?;
        for (field, d) in [
            ("timeout", self.timeout),
            ("grace", self.grace),
            ("cpu_time_limit", self.cpu_time),
        ] {
            if let Some(d) = d {
                check_duration(field, d)?;
            }
        }
        if self.grace.is_some() && self.timeout.is_none() {
            return Err(Error::invalid("grace", "needs a timeout"));
        }
        if let Some(m) = self.memory {
            if m < MIN_MEMORY {
                return Err(Error::invalid(
                    "memory_limit",
                    format!("{m} bytes is below the minimum of {MIN_MEMORY} bytes (1 MiB)"),
                ));
            }
        }
        if let Some(p) = self.pids {
            if p == 0 {
                return Err(Error::invalid(
                    "pids_limit",
                    "must be at least 1 (the payload itself is a process)",
                ));
            }
            if p > i64::MAX as u64 {
                return Err(Error::invalid("pids_limit", "too large"));
            }
        }
        if let Some(c) = self.cpu {
            if !c.is_finite() || c <= 0.0 {
                return Err(Error::invalid(
                    "cpu_limit",
                    format!("{c} cores: must be a finite number greater than zero"),
                ));
            }
            if cpu_quota_us(c) < 1000 {
                return Err(Error::invalid(
                    "cpu_limit",
                    format!("{c} cores: the kernel needs at least 0.01 cores (1 ms per 100 ms)"),
                ));
            }
            if c > 1_000_000.0 {
                return Err(Error::invalid("cpu_limit", format!("{c} cores: too large")));
            }
        }
        if let Some(w) = self.cpu_weight {
            if !(1..=10_000).contains(&w) {
                return Err(Error::invalid(
                    "cpu_weight",
                    format!("{w}: must be in 1..=10000"),
                ));
            }
        }
        for r in &self.rlimits {
            let field = format!("rlimit {}", r.resource.name());
            if r.soft > r.hard {
                return Err(Error::invalid(
                    field,
                    format!("soft limit {} is above hard limit {}", r.soft, r.hard),
                ));
            }
            if r.soft == 0 && !r.resource.zero_ok() {
                return Err(Error::invalid(
                    field,
                    "0 leaves the payload unable to run; use at least 1",
                ));
            }
        }
        if let Some(p) = &self.cgroup_parent {
            if p.as_os_str().is_empty() {
                return Err(Error::invalid("cgroup_parent", "empty path"));
            }
            if p.components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err(Error::invalid("cgroup_parent", "must not contain '..'"));
            }
        }
        Ok(())
    }
}

/// The cgroup part of [`Limits`], in the units the kernel files take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupLimits {
    /// Bytes.
    pub memory: Option<u64>,
    /// Processes.
    pub pids: Option<u64>,
    /// CFS quota per [`CPU_PERIOD_US`].
    pub cpu_quota_us: Option<u64>,
    /// 1..=10000.
    pub cpu_weight: Option<u64>,
    /// Cpusets, block I/O, network classes.
    pub extra: crate::cgroup::extra::CgroupExtra,
}

fn cpu_quota_us(cores: f64) -> u64 {
    (cores * CPU_PERIOD_US as f64).round() as u64
}

fn check_duration(field: &str, d: Duration) -> Result<()> {
    if d.is_zero() {
        return Err(Error::invalid(field, "must be greater than zero"));
    }
    if d > MAX_DURATION {
        return Err(Error::invalid(
            field,
            "too long (treated as infinite): leave the limit unset instead",
        ));
    }
    Ok(())
}

/// Convert seconds given as a float (C and Python bindings) into a
/// [`Duration`], refusing zero, negative, NaN and infinite values with an
/// error naming `field`.
pub fn duration_from_secs(field: &str, secs: f64) -> Result<Duration> {
    if secs.is_nan() {
        return Err(Error::invalid(field, "NaN is not a duration"));
    }
    if secs.is_infinite() {
        return Err(Error::invalid(
            field,
            "infinite: leave the limit unset instead",
        ));
    }
    if secs <= 0.0 {
        return Err(Error::invalid(
            field,
            format!("{secs}: must be greater than zero"),
        ));
    }
    let d = Duration::try_from_secs_f64(secs).map_err(|e| Error::invalid(field, e.to_string()))?;
    check_duration(field, d)?;
    Ok(d)
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
        let privileged = has_sys_resource();
        let mut items = Vec::with_capacity(wanted.len());
        for r in wanted {
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
                let explicit = l.rlimits.iter().any(|x| x.resource == r.resource);
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
            items.push((
                r.resource.raw(),
                libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                },
            ));
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
