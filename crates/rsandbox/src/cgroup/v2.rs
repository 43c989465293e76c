//! The cgroup v2 backend: limit files, stats, `cgroup.kill`, `cgroup.freeze`.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cgroup::{read_kv, read_u64, write_file, CgroupStats, Counters};
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

/// Whether `dir` is a non-root cgroup that holds processes: cgroup v2's
/// "no internal processes" rule then forbids it children with domain
/// controllers (EBUSY), and with only threaded ones (pids, cpu) enabling
/// them turns it into a thread root whose new children are invalid
/// domains (`clone3` into one fails with EOPNOTSUPP). The root cgroup,
/// which has no `cgroup.type`, is exempt.
pub fn holds_processes(dir: &Path) -> bool {
    dir.join("cgroup.type").exists()
        && std::fs::read_to_string(dir.join("cgroup.procs")).is_ok_and(|p| !p.trim().is_empty())
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
pub(crate) fn memory_peak(dir: &(impl Counters + ?Sized)) -> Option<u64> {
    read_u64(dir, "memory.peak")
}

/// OOM kills (`oom_kill` in `memory.events`).
pub(crate) fn oom_kills(dir: &(impl Counters + ?Sized)) -> Option<u64> {
    read_kv(dir, "memory.events", "oom_kill")
}

/// CPU time of the tree (`usage_usec` in `cpu.stat`).
pub(crate) fn cpu_time(dir: &(impl Counters + ?Sized)) -> Option<Duration> {
    read_kv(dir, "cpu.stat", "usage_usec").map(Duration::from_micros)
}

/// Peak pids (`pids.peak`).
pub(crate) fn pids_peak(dir: &(impl Counters + ?Sized)) -> Option<u64> {
    read_u64(dir, "pids.peak")
}

/// Kill every process in `dir` with `cgroup.kill` (kernel ≥ 5.14). False
/// when the file is missing.
pub fn kill(dir: &Path) -> bool {
    std::fs::write(dir.join("cgroup.kill"), "1").is_ok()
}

/// How long [`freeze`] waits for the kernel to report the new state.
const FREEZE_PATIENCE: Duration = Duration::from_secs(2);

/// Freeze (`on`) or thaw every process of the cgroup directory `dir` and
/// its descendants through `cgroup.freeze` (kernel ≥ 5.2), then wait until
/// `cgroup.events` reports `frozen` in the new state: the kernel freezes
/// asynchronously, so a caller that went on at once could still see (or
/// be seen by) running processes. `NotFound` when `dir` or the file is
/// missing (no cgroup2 freezer there); `TimedOut` when the state is not
/// reached within 2 s (a thawed cgroup stays frozen while an ancestor is).
pub fn freeze(dir: &Path, on: bool) -> io::Result<()> {
    use std::io::Write;
    // No O_CREAT: cgroupfs files are never created, only written.
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.freeze"))?
        .write_all(if on { b"1" } else { b"0" })?;
    let until = Instant::now() + FREEZE_PATIENCE;
    while frozen(dir) != on {
        if Instant::now() >= until {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "cgroup.events did not report \"frozen {}\" within {FREEZE_PATIENCE:?}",
                    u8::from(on)
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Whether the cgroup directory `dir` is frozen (`frozen 1` in its
/// `cgroup.events`; itself or through an ancestor). False when the file
/// is missing.
pub fn frozen(dir: &Path) -> bool {
    read_kv(dir, "cgroup.events", "frozen") == Some(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::detect::Layout;

    /// Clock ticks of CPU time (user + system) `pid` has used.
    fn cpu_ticks(pid: u32) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    }

    /// A busy process in a cgroup of the test's own: frozen, it gets no
    /// CPU time and the kernel reports it frozen; thawed, it runs again;
    /// `kill_all` then empties the cgroup, which is removed.
    #[test]
    fn freeze_stops_and_thaw_resumes_a_cgroup_then_kill_all_empties_it() {
        // SAFETY: trivial getter.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: moving a process into a new cgroup needs root");
            return;
        }
        let layout = Layout::detect().unwrap();
        let base = layout
            .v2_self_dir()
            .expect("a cgroup2 hierarchy (cgroup.freeze)");
        let dir = base.join(format!("rsandbox-test-freeze-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let mut busy = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        let pid = busy.id();
        // Every step is recorded and checked after the clean-up, so a
        // failure never leaves the busy process behind.
        let moved = std::fs::write(dir.join("cgroup.procs"), pid.to_string());
        let froze = freeze(&dir, true);
        let was_frozen = frozen(&dir);
        let before = cpu_ticks(pid);
        std::thread::sleep(Duration::from_millis(200));
        let still = cpu_ticks(pid);
        let thaw = freeze(&dir, false);
        let thawed = !frozen(&dir);
        let until = Instant::now() + Duration::from_secs(10);
        while cpu_ticks(pid) == still && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        let ran = cpu_ticks(pid) > still;

        let killed = crate::cgroup::kill_all(&[&dir]);
        if !killed || moved.is_err() {
            let _ = busy.kill();
        }
        let status = busy.wait().unwrap();
        let removed = crate::cgroup::rmdir_retry(&dir, false, Duration::from_secs(2));
        moved.unwrap();
        froze.unwrap();
        assert!(was_frozen, "cgroup.events does not say frozen");
        assert_eq!(before, still, "a frozen process ran");
        thaw.unwrap();
        assert!(thawed && ran, "the thawed process did not run again");
        assert!(killed, "kill_all left processes");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        removed.unwrap();
    }

    #[test]
    fn freeze_without_a_cgroup_is_not_found() {
        let e = freeze(Path::new("/nonexistent/rsandbox-test"), true).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(!frozen(Path::new("/nonexistent/rsandbox-test")));
    }
}
