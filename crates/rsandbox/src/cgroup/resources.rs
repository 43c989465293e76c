//! Limits written into cgroup directories that already exist, in whichever
//! format each hierarchy takes: an OCI runtime's `linux.resources` at
//! `create` and its `update`, on a container whose cgroups it holds.
//!
//! The box's own cgroup (see the module above) is made from the builder's
//! limits; this is the other way in, for a caller that walks directories
//! itself. [`Resources`] is plain data; [`Resources::writes`] renders it
//! into the files of cgroup v1 and v2 (a pure function, tested without a
//! cgroup); [`write`] puts each value in every directory that has the
//! file. A directory of a v1 hierarchy has the v1 names and a cgroup2 one
//! the v2 names, so one list serves both and each directory takes its own.

use std::collections::BTreeSet;
use std::path::Path;

use crate::cgroup::write_file;
use crate::config::limits::CPU_PERIOD_US;
use crate::error::Error;

/// A limit that may be lifted. The OCI runtime spec says "negative:
/// unlimited"; [`Bound::from_i64`] reads that convention, and rendering
/// writes `max` (cgroup v2) or `-1` (cgroup v1) for [`Bound::Max`].
/// (Named apart from [`report::Limit`](crate::report::Limit), which names
/// a builder knob.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// No limit.
    Max,
    /// This many bytes, processes or microseconds.
    Value(u64),
}

impl Bound {
    /// The runtime spec's convention: a negative value is unlimited.
    pub fn from_i64(v: i64) -> Bound {
        u64::try_from(v).map_or(Bound::Max, Bound::Value)
    }

    /// The cgroup v2 form: `max` or the number.
    fn v2(self) -> String {
        match self {
            Bound::Max => "max".into(),
            Bound::Value(v) => v.to_string(),
        }
    }

    /// The cgroup v1 form: `-1` or the number.
    fn v1(self) -> String {
        match self {
            Bound::Max => "-1".into(),
            Bound::Value(v) => v.to_string(),
        }
    }
}

/// Cgroup limits for directories that exist; `None` (or `false`) leaves a
/// knob as it is. Each field names the files it goes to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resources {
    /// Memory in bytes: v2 `memory.max`, v1 `memory.limit_in_bytes`.
    pub memory: Option<Bound>,
    /// Memory reservation in bytes: v2 `memory.low`, v1
    /// `memory.soft_limit_in_bytes`.
    pub memory_low: Option<Bound>,
    /// Memory plus swap in bytes (the runtime spec's meaning): v1
    /// `memory.memsw.limit_in_bytes`; v2 `memory.swap.max` takes the swap
    /// alone, this less [`memory`](Self::memory) when that is set.
    pub swap: Option<Bound>,
    /// v1 `memory.swappiness` (cgroup v2 has none).
    pub swappiness: Option<u64>,
    /// Turn the OOM killer off: v1 `memory.oom_control` (v2 has none).
    pub disable_oom_killer: bool,
    /// Processes: `pids.max`.
    pub pids: Option<Bound>,
    /// CPU shares (v1 `cpu.shares`, 2..=262144); v2 `cpu.weight` gets
    /// [`shares_to_weight`] of it.
    pub cpu_shares: Option<u64>,
    /// CFS period in microseconds: v1 `cpu.cfs_period_us`, and the second
    /// field of v2 `cpu.max` (100000 when unset) when a quota is written.
    pub cpu_period: Option<u64>,
    /// CFS quota in microseconds per period: v1 `cpu.cfs_quota_us`, v2
    /// `cpu.max` ("quota period").
    pub cpu_quota: Option<Bound>,
    /// Realtime period in microseconds: v1 `cpu.rt_period_us`.
    pub cpu_rt_period: Option<u64>,
    /// Realtime runtime in microseconds: v1 `cpu.rt_runtime_us`.
    pub cpu_rt_runtime: Option<Bound>,
    /// `cpuset.cpus`, e.g. `"0-3,6"`.
    pub cpuset_cpus: Option<String>,
    /// `cpuset.mems`.
    pub cpuset_mems: Option<String>,
}

/// One value for one cgroup file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWrite {
    /// The controller the file belongs to (`memory`, `pids`, `cpu`,
    /// `cpuset`): [`Mode::Strict`] wants each asked-for one written.
    pub controller: &'static str,
    /// The file name, v1 or v2.
    pub file: &'static str,
    /// What to write.
    pub value: String,
}

/// runc's conversion of cgroup v1 `cpu.shares` (2..=262144) to a cgroup v2
/// `cpu.weight` (1..=10000), the one copy of the formula.
pub fn shares_to_weight(shares: u64) -> u64 {
    1 + (shares.clamp(2, 262144) - 2) * 9999 / 262142
}

impl Resources {
    /// Every file write, v1 and v2 names both, in the order to make them
    /// within a directory (a v1 period before its quota).
    pub fn writes(&self) -> Vec<FileWrite> {
        let mut out = Vec::new();
        self.memory_writes(&mut out);
        if let Some(p) = self.pids {
            push(&mut out, "pids", "pids.max", p.v2());
        }
        self.cpu_writes(&mut out);
        out
    }

    fn memory_writes(&self, out: &mut Vec<FileWrite>) {
        const M: &str = "memory";
        if let Some(l) = self.memory {
            push(out, M, "memory.limit_in_bytes", l.v1());
            push(out, M, "memory.max", l.v2());
        }
        if let Some(l) = self.memory_low {
            push(out, M, "memory.soft_limit_in_bytes", l.v1());
            push(out, M, "memory.low", l.v2());
        }
        if let Some(s) = self.swap {
            push(out, M, "memory.memsw.limit_in_bytes", s.v1());
            let swap_alone = match (s, self.memory) {
                (Bound::Value(s), Some(Bound::Value(m))) if m > 0 => {
                    Bound::Value(s.saturating_sub(m))
                }
                (s, _) => s,
            };
            push(out, M, "memory.swap.max", swap_alone.v2());
        }
        if let Some(v) = self.swappiness {
            push(out, M, "memory.swappiness", v.to_string());
        }
        if self.disable_oom_killer {
            push(out, M, "memory.oom_control", "1".into());
        }
    }

    fn cpu_writes(&self, out: &mut Vec<FileWrite>) {
        if let Some(v) = self.cpu_rt_period {
            push(out, "cpu", "cpu.rt_period_us", v.to_string());
        }
        if let Some(v) = self.cpu_rt_runtime {
            push(out, "cpu", "cpu.rt_runtime_us", v.v1());
        }
        if let Some(v) = &self.cpuset_cpus {
            push(out, "cpuset", "cpuset.cpus", v.clone());
        }
        if let Some(v) = &self.cpuset_mems {
            push(out, "cpuset", "cpuset.mems", v.clone());
        }
        if let Some(sh) = self.cpu_shares {
            push(out, "cpu", "cpu.shares", sh.to_string());
            push(out, "cpu", "cpu.weight", shares_to_weight(sh).to_string());
        }
        if let Some(p) = self.cpu_period {
            push(out, "cpu", "cpu.cfs_period_us", p.to_string());
        }
        if let Some(q) = self.cpu_quota {
            push(out, "cpu", "cpu.cfs_quota_us", q.v1());
            let period = self.cpu_period.unwrap_or(CPU_PERIOD_US);
            push(out, "cpu", "cpu.max", format!("{} {period}", q.v2()));
        }
    }
}

fn push(out: &mut Vec<FileWrite>, controller: &'static str, file: &'static str, value: String) {
    out.push(FileWrite {
        controller,
        file,
        value,
    });
}

/// How [`write`] treats what it cannot do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A change asked of a running container: a file that exists and
    /// refuses its value is an error, and so is a controller asked for
    /// that no directory has.
    Strict,
    /// Values added to a cgroup the caller made, beside limits it already
    /// has: a file that is missing or refuses its value is skipped.
    BestEffort,
}

/// Why [`write`] failed ([`Mode::Strict`] only).
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A limit of this controller was asked for and none of the
    /// directories has the controller's files.
    #[error("no {controller} cgroup to change (was it created with a {controller} limit?)")]
    NoController {
        /// `memory`, `pids`, `cpu` or `cpuset`.
        controller: &'static str,
    },
    /// A file that exists refused its value.
    #[error(transparent)]
    Write(#[from] Error),
}

/// Write `r` into every directory of `dirs` that has the file, directory by
/// directory in the order given (a parent before its children), each file
/// in [`Resources::writes`]' order. See [`Mode`] for what fails.
pub fn write(dirs: &[&Path], r: &Resources, mode: Mode) -> Result<(), WriteError> {
    let writes = r.writes();
    let mut done = BTreeSet::new();
    for dir in dirs {
        for w in &writes {
            let f = dir.join(w.file);
            if !f.exists() {
                continue;
            }
            match write_file(&f, &w.value) {
                Ok(()) => {
                    done.insert(w.controller);
                }
                Err(e) if mode == Mode::Strict => return Err(e.into()),
                Err(_) => {}
            }
        }
    }
    match writes.iter().find(|w| !done.contains(w.controller)) {
        Some(w) if mode == Mode::Strict => Err(WriteError::NoController {
            controller: w.controller,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The (file, value) pairs of `r`'s writes.
    fn files(r: &Resources) -> Vec<(&'static str, String)> {
        r.writes().into_iter().map(|w| (w.file, w.value)).collect()
    }

    fn pairs(v: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        v.iter().map(|(f, s)| (*f, s.to_string())).collect()
    }

    #[test]
    fn nothing_asked_writes_nothing() {
        assert!(Resources::default().writes().is_empty());
    }

    #[test]
    fn negative_reads_as_unlimited() {
        assert_eq!(Bound::from_i64(-1), Bound::Max);
        assert_eq!(Bound::from_i64(i64::MIN), Bound::Max);
        assert_eq!(Bound::from_i64(0), Bound::Value(0));
        assert_eq!(Bound::from_i64(7), Bound::Value(7));
    }

    #[test]
    fn memory_in_both_formats() {
        let r = Resources {
            memory: Some(Bound::Value(1 << 20)),
            ..Default::default()
        };
        let want = [
            ("memory.limit_in_bytes", "1048576"),
            ("memory.max", "1048576"),
        ];
        assert_eq!(files(&r), pairs(&want));
        let r = Resources {
            memory: Some(Bound::Max),
            ..Default::default()
        };
        let want = [("memory.limit_in_bytes", "-1"), ("memory.max", "max")];
        assert_eq!(files(&r), pairs(&want));
    }

    #[test]
    fn reservation_swappiness_and_oom_killer() {
        let r = Resources {
            memory_low: Some(Bound::Value(4096)),
            swappiness: Some(10),
            disable_oom_killer: true,
            ..Default::default()
        };
        let want = [
            ("memory.soft_limit_in_bytes", "4096"),
            ("memory.low", "4096"),
            ("memory.swappiness", "10"),
            ("memory.oom_control", "1"),
        ];
        assert_eq!(files(&r), pairs(&want));
        let low_max = Resources {
            memory_low: Some(Bound::Max),
            ..Default::default()
        };
        assert_eq!(files(&low_max)[1], ("memory.low", "max".to_string()));
    }

    #[test]
    fn swap_is_memory_plus_swap_on_v1_and_swap_alone_on_v2() {
        let with_memory = Resources {
            memory: Some(Bound::Value(100)),
            swap: Some(Bound::Value(300)),
            ..Default::default()
        };
        let w = files(&with_memory);
        assert_eq!(w[2], ("memory.memsw.limit_in_bytes", "300".to_string()));
        assert_eq!(w[3], ("memory.swap.max", "200".to_string()));
        // Less than the memory limit: no swap, never a wrap-around.
        let below = Resources {
            memory: Some(Bound::Value(300)),
            swap: Some(Bound::Value(100)),
            ..Default::default()
        };
        assert_eq!(files(&below)[3], ("memory.swap.max", "0".to_string()));
        // No memory limit (or an unlimited one): the value as given.
        for memory in [None, Some(Bound::Max), Some(Bound::Value(0))] {
            let r = Resources {
                memory,
                swap: Some(Bound::Value(300)),
                ..Default::default()
            };
            assert!(files(&r).contains(&("memory.swap.max", "300".to_string())));
        }
        let unlimited = Resources {
            memory: Some(Bound::Value(100)),
            swap: Some(Bound::Max),
            ..Default::default()
        };
        let w = files(&unlimited);
        assert_eq!(w[2], ("memory.memsw.limit_in_bytes", "-1".to_string()));
        assert_eq!(w[3], ("memory.swap.max", "max".to_string()));
    }

    #[test]
    fn pids_in_both_formats() {
        let r = Resources {
            pids: Some(Bound::Value(10)),
            ..Default::default()
        };
        assert_eq!(files(&r), pairs(&[("pids.max", "10")]));
        let r = Resources {
            pids: Some(Bound::Max),
            ..Default::default()
        };
        assert_eq!(files(&r), pairs(&[("pids.max", "max")]));
    }

    #[test]
    fn quota_with_the_default_period_and_period_first_on_v1() {
        let r = Resources {
            cpu_quota: Some(Bound::Value(50_000)),
            ..Default::default()
        };
        let want = [("cpu.cfs_quota_us", "50000"), ("cpu.max", "50000 100000")];
        assert_eq!(files(&r), pairs(&want));
        let r = Resources {
            cpu_quota: Some(Bound::Max),
            cpu_period: Some(20_000),
            ..Default::default()
        };
        let want = [
            ("cpu.cfs_period_us", "20000"),
            ("cpu.cfs_quota_us", "-1"),
            ("cpu.max", "max 20000"),
        ];
        assert_eq!(files(&r), pairs(&want));
        // A period alone: v1's file only (v2 keeps it beside the quota).
        let r = Resources {
            cpu_period: Some(20_000),
            ..Default::default()
        };
        assert_eq!(files(&r), pairs(&[("cpu.cfs_period_us", "20000")]));
    }

    #[test]
    fn shares_and_their_weight() {
        let r = Resources {
            cpu_shares: Some(1024),
            ..Default::default()
        };
        let want = [("cpu.shares", "1024"), ("cpu.weight", "39")];
        assert_eq!(files(&r), pairs(&want));
    }

    #[test]
    fn shares_map_onto_the_weight_range_like_runc() {
        assert_eq!(shares_to_weight(0), 1);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(shares_to_weight(u64::MAX), 10000);
    }

    #[test]
    fn realtime_and_cpuset() {
        let r = Resources {
            cpu_rt_period: Some(1_000_000),
            cpu_rt_runtime: Some(Bound::Max),
            cpuset_cpus: Some("0-1".into()),
            cpuset_mems: Some("0".into()),
            ..Default::default()
        };
        let want = [
            ("cpu.rt_period_us", "1000000"),
            ("cpu.rt_runtime_us", "-1"),
            ("cpuset.cpus", "0-1"),
            ("cpuset.mems", "0"),
        ];
        assert_eq!(files(&r), pairs(&want));
        let c: Vec<_> = r.writes().iter().map(|w| w.controller).collect();
        assert_eq!(c, ["cpu", "cpu", "cpuset", "cpuset"]);
    }

    /// A plain directory stands in for a cgroup: [`write`] writes only
    /// files that exist, so the test makes the ones a v2 cgroup would have.
    fn fake_cgroup(name: &str, files: &[&str]) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("rsandbox-res-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        for f in files {
            std::fs::write(d.join(f), "").unwrap();
        }
        d
    }

    #[test]
    fn strict_writes_existing_files_and_names_a_missing_controller() {
        let d = fake_cgroup("strict", &["memory.max", "pids.max"]);
        let r = Resources {
            memory: Some(Bound::Value(4096)),
            pids: Some(Bound::Max),
            ..Default::default()
        };
        write(&[&d], &r, Mode::Strict).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("memory.max")).unwrap(),
            "4096"
        );
        assert_eq!(std::fs::read_to_string(d.join("pids.max")).unwrap(), "max");
        assert!(!d.join("memory.limit_in_bytes").exists(), "made a file");
        let cpu = Resources {
            cpu_quota: Some(Bound::Value(1000)),
            ..r
        };
        let e = write(&[&d], &cpu, Mode::Strict).unwrap_err();
        assert!(
            matches!(e, WriteError::NoController { controller: "cpu" }),
            "{e}"
        );
        assert!(e.to_string().contains("no cpu cgroup"), "{e}");
        // Best effort skips what is missing.
        write(&[&d], &cpu, Mode::BestEffort).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }
}
