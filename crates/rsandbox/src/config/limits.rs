//! Resource limits as described: cgroup limits (memory, pids, cpu and the
//! other knobs), rlimits, wall-clock and CPU-time limits. Plain data and
//! its checks; [`crate::cgroup`] and [`crate::limits`] enforce it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::devices::{self, DeviceRule};
use crate::error::{Error, Result};

/// The smallest memory limit accepted: below this not even `execve` of a
/// small static binary fits, and the kernel would OOM-kill at once.
pub const MIN_MEMORY: u64 = 1 << 20;

/// The CFS period used for [`Sandbox::cpu_limit`](crate::Sandbox::cpu_limit), in microseconds.
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
    pub(crate) extra: CgroupExtra,
    /// Enforce device rules with the cgroup v2 eBPF program even where a
    /// v1 `devices` hierarchy exists (a test hook, see
    /// [`Sandbox::device_rules_via_ebpf`](crate::Sandbox::device_rules_via_ebpf)); not serialized.
    #[serde(skip)]
    pub(crate) devices_ebpf: bool,
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
            check_pids(p)?;
        }
        if let Some(c) = self.cpu {
            check_cpu(c)?;
        }
        if let Some(w) = self.cpu_weight {
            if !(1..=10_000).contains(&w) {
                return Err(Error::invalid(
                    "cpu_weight",
                    format!("{w}: must be in 1..=10000"),
                ));
            }
        }
        self.rlimits.iter().try_for_each(check_rlimit)?;
        if let Some(p) = &self.cgroup_parent {
            check_cgroup_parent(p)?;
        }
        Ok(())
    }
}

/// A pids limit counts the payload itself, and the kernel file takes an
/// i64.
fn check_pids(p: u64) -> Result<()> {
    if p == 0 {
        return Err(Error::invalid(
            "pids_limit",
            "must be at least 1 (the payload itself is a process)",
        ));
    }
    if p > i64::MAX as u64 {
        return Err(Error::invalid("pids_limit", "too large"));
    }
    Ok(())
}

/// A cpu limit in cores: finite, positive, at least the kernel's minimum
/// quota (1 ms per 100 ms period) and not absurdly large.
fn check_cpu(c: f64) -> Result<()> {
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
    Ok(())
}

/// An rlimit the kernel would take but that makes no sense: soft above
/// hard, or 0 where the payload could not even start.
fn check_rlimit(r: &Rlimit) -> Result<()> {
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
    Ok(())
}

/// The cgroup parent is a path below a cgroup root: it must name
/// something, and `..` could climb out of the tree the box is given.
fn check_cgroup_parent(p: &Path) -> Result<()> {
    if p.as_os_str().is_empty() {
        return Err(Error::invalid("cgroup_parent", "empty path"));
    }
    if p.components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(Error::invalid("cgroup_parent", "must not contain '..'"));
    }
    Ok(())
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
    pub extra: CgroupExtra,
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

/// Which throttle of [`Sandbox::blkio_throttle`](crate::Sandbox::blkio_throttle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IoThrottle {
    /// Bytes per second read.
    ReadBps,
    /// Bytes per second written.
    WriteBps,
    /// Read operations per second.
    ReadIops,
    /// Write operations per second.
    WriteIops,
}

/// The extra cgroup knobs of a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CgroupExtra {
    /// `cpuset.cpus` (e.g. `0-1,3`).
    pub(crate) cpus: Option<String>,
    /// `cpuset.mems`.
    pub(crate) mems: Option<String>,
    /// Block I/O weight, 10..=1000.
    pub(crate) io_weight: Option<u16>,
    /// Per-device weights: (major, minor, weight).
    pub(crate) io_weight_device: Vec<(u32, u32, u16)>,
    /// Throttles: (which, major, minor, rate).
    pub(crate) io_throttle: Vec<(IoThrottle, u32, u32, u64)>,
    /// `net_cls.classid`.
    pub(crate) net_classid: Option<u32>,
    /// `net_prio.ifpriomap` lines: (interface, priority).
    pub(crate) net_prio: Vec<(String, u32)>,
    /// Device rules, in order (v1 `devices`, or the v2 eBPF program).
    pub(crate) devices: Vec<DeviceRule>,
}

impl CgroupExtra {
    /// Whether any knob is set.
    fn any(&self) -> bool {
        *self != CgroupExtra::default()
    }

    pub(crate) fn has_cpuset(&self) -> bool {
        self.cpus.is_some() || self.mems.is_some()
    }

    pub(crate) fn has_io(&self) -> bool {
        self.io_weight.is_some()
            || !self.io_weight_device.is_empty()
            || !self.io_throttle.is_empty()
    }

    /// Check values; errors name the builder method.
    fn validate(&self) -> Result<()> {
        let list = |field: &str, s: &Option<String>| -> Result<()> {
            match s {
                Some(s)
                    if s.is_empty()
                        || !s.chars().all(|c| c.is_ascii_digit() || ",-".contains(c)) =>
                {
                    Err(Error::invalid(
                        field,
                        format!("{s:?} is not a list like \"0-1,3\""),
                    ))
                }
                _ => Ok(()),
            }
        };
        list("cpuset_cpus", &self.cpus)?;
        list("cpuset_mems", &self.mems)?;
        let weights = self
            .io_weight
            .iter()
            .chain(self.io_weight_device.iter().map(|d| &d.2));
        for w in weights {
            if !(10..=1000).contains(w) {
                return Err(Error::invalid(
                    "blkio_weight",
                    format!("{w} is outside 10..=1000"),
                ));
            }
        }
        for (ifname, _) in &self.net_prio {
            if ifname.is_empty() || ifname.len() > 15 || ifname.contains([' ', '\n', '/']) {
                return Err(Error::invalid(
                    "net_priority",
                    format!("bad interface name {ifname:?}"),
                ));
            }
        }
        devices::validate(&self.devices)
    }
}
