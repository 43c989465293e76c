//! The container's cgroup: a directory of our own (from `linux.cgroupsPath`
//! or `/rsandbox-oci/<id>`) in every hierarchy, under which the core makes
//! its `rsandbox-*` cgroup. Only directories we created are ever removed,
//! and only processes found in them are ever signalled.

use std::path::{Path, PathBuf};

use rsandbox::features::cgroup_mounts;

use crate::error::{OciError, Res};

/// Mount points of the hierarchies the core may use: cgroup2, and v1
/// hierarchies with controllers it has knobs for. Read once per command (every cgroup
/// operation needs them; the mount table does not change under us).
pub fn mounts() -> Vec<(u8, PathBuf)> {
    static MOUNTS: std::sync::OnceLock<Vec<(u8, PathBuf)>> = std::sync::OnceLock::new();
    MOUNTS.get_or_init(read_mounts).clone()
}

fn read_mounts() -> Vec<(u8, PathBuf)> {
    cgroup_mounts()
        .into_iter()
        .filter(|m| {
            m.version == 2
                || m.controllers.iter().any(|c| {
                    matches!(
                        c.as_str(),
                        "memory"
                            | "pids"
                            | "cpu"
                            | "cpuacct"
                            | "cpuset"
                            | "blkio"
                            | "net_cls"
                            | "net_prio"
                            | "devices"
                    )
                })
        })
        .map(|m| (m.version, PathBuf::from(m.path)))
        .collect()
}

/// Refuse a container cgroup that already holds processes (in any
/// hierarchy, below it included) or that is frozen, as runc does: `delete`
/// and `kill --all` would signal processes that are not the container's,
/// and a frozen one would hold the container stopped.
pub fn check_unused(rel: &Path) -> Res<()> {
    let found = pids(rel);
    if !found.is_empty() {
        return Err(OciError::CgroupInUse {
            path: rel.to_path_buf(),
            reason: format!(
                "not empty: {} process(es) found; give each container a cgroup of its \
                 own (linux.cgroupsPath)",
                found.len()
            ),
        });
    }
    if frozen(rel) {
        return Err(OciError::CgroupInUse {
            path: rel.to_path_buf(),
            reason: "frozen; thaw it or give the container another cgroup".into(),
        });
    }
    Ok(())
}

/// Create `rel` in every hierarchy; returns the directories created (so
/// `delete` removes exactly those). On pure cgroup v2, enables the
/// memory, pids and cpu controllers down to `rel`'s parent.
pub fn create(rel: &Path) -> Res<Vec<PathBuf>> {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    let mut created = Vec::new();
    let ms = mounts();
    let pure_v2 = ms.len() == 1 && ms[0].0 == 2;
    for (_, m) in &ms {
        let mut cur = m.clone();
        for comp in rel.components() {
            if pure_v2 {
                for c in ["+memory", "+pids", "+cpu"] {
                    let _ = std::fs::write(cur.join("cgroup.subtree_control"), c);
                }
            }
            cur.push(comp);
            match std::fs::create_dir(&cur) {
                Ok(()) => {
                    created.push(cur.clone());
                    // A new v1 cpuset is empty and takes no task (nor a
                    // child with cpus): give it its parent's.
                    if cur.join("cpuset.cpus").exists() {
                        if let Err(e) = rsandbox::cgroup::extra::fill_cpuset(&cur) {
                            remove(&created);
                            return Err(OciError::cgroup(
                                &cur,
                                format!("give it its parent's cpus and mems: {e}"),
                            ));
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    remove(&created);
                    return Err(OciError::io("create cgroup", &cur, e));
                }
            }
        }
    }
    Ok(created)
}

/// Move process `pid` (0: this one) into the cgroups listed in `text` (a
/// process's `/proc/PID/cgroup`), in every hierarchy of [`mounts`]. That
/// file names them relative to this process's cgroup namespace, as its
/// `/sys/fs/cgroup` mounts show them.
pub fn join_cgroups(text: &str, pid: i32) -> Res<()> {
    let all = cgroup_mounts();
    let managed = mounts();
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = match (f.next(), f.next(), f.next()) {
            (Some(a), Some(b), Some(c)) => (a, b, c),
            _ => continue,
        };
        let mount = if ctrls.is_empty() {
            all.iter().find(|m| m.version == 2)
        } else {
            let want: Vec<&str> = ctrls.split(',').collect();
            all.iter().find(|m| {
                m.version == 1
                    && m.controllers.len() == want.len()
                    && m.controllers.iter().all(|c| want.contains(&c.as_str()))
            })
        };
        let Some(m) = mount.filter(|m| managed.iter().any(|(_, p)| p == Path::new(&m.path))) else {
            continue;
        };
        let procs = Path::new(&m.path)
            .join(path.trim_start_matches('/'))
            .join("cgroup.procs");
        std::fs::write(&procs, pid.to_string())
            .map_err(|e| OciError::io("join the container's cgroup", &procs, e))?;
    }
    Ok(())
}

/// Every cgroup directory of the container (ours and the core's below).
fn tree(rel: &Path) -> Vec<PathBuf> {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    let mut out = Vec::new();
    for (_, m) in mounts() {
        let top = m.join(rel);
        if top.is_dir() {
            walk(&top, &mut out);
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&e.path(), out);
            }
        }
    }
}

/// Pids in the container's cgroups.
pub fn pids(rel: &Path) -> Vec<i32> {
    let mut v: Vec<i32> = tree(rel)
        .iter()
        .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
        .flat_map(|s| {
            s.lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<_>>()
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The core's kill over every cgroup directory of the container
/// (`cgroup.kill` on the cgroup2 tree, which also catches processes forked
/// meanwhile, then SIGKILL to whatever is listed, until empty); false if
/// some survive its ~2 s.
fn kill_tree(rel: &Path) -> bool {
    let dirs = tree(rel);
    let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    rsandbox::cgroup::kill_all(&dirs)
}

/// Send `sig` to every process in the container's cgroups (SIGKILL through
/// the core's kill).
pub fn signal_all(rel: &Path, sig: i32) {
    if sig == libc::SIGKILL {
        kill_tree(rel);
        return;
    }
    for pid in pids(rel) {
        // SAFETY: kill with integer arguments; the pid is in the
        // container's own cgroup.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Kill everything in the container's cgroups (the core's kill, for about
/// 5 s at most), then remove the core's directories below ours, then ours
/// (`created`, deepest first).
pub fn destroy(rel: &Path, created: &[PathBuf]) -> Res<()> {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !kill_tree(rel) {
        if std::time::Instant::now() > until {
            return Err(OciError::cgroup(
                rel,
                format!(
                    "processes {:?} survive SIGKILL; the cgroup is left in place",
                    pids(rel)
                ),
            ));
        }
    }
    // The core's directories: every directory under ours, deepest first.
    let relp = rel.strip_prefix("/").unwrap_or(rel);
    let mut sub: Vec<PathBuf> = Vec::new();
    for (_, m) in mounts() {
        let top = m.join(relp);
        let mut all = Vec::new();
        if top.is_dir() {
            walk(&top, &mut all);
        }
        sub.extend(all.into_iter().filter(|d| d != &top));
    }
    sub.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for d in &sub {
        rmdir_retry(d)?;
    }
    remove(created);
    Ok(())
}

/// Remove one cgroup directory, waiting out EBUSY while the kernel still
/// counts dying processes (the core's retry loop, without its kill).
fn rmdir_retry(d: &Path) -> Res<()> {
    rsandbox::cgroup::rmdir_retry(d, false, std::time::Duration::from_secs(2))
        .map_err(|e| OciError::io("remove cgroup", d, e))
}

/// runc's conversion of cgroup v1 `cpu.shares` (2..=262144) to a cgroup v2
/// `cpu.weight` (1..=10000); the one copy of the formula in the runtime.
pub fn shares_to_weight(shares: u64) -> u64 {
    1 + (shares.clamp(2, 262144) - 2) * 9999 / 262142
}

/// Remove directories we created, deepest first; one still in use by
/// another container (a shared parent) stays.
pub fn remove(created: &[PathBuf]) {
    for d in created.iter().rev() {
        let _ = rmdir_retry(d);
    }
}

/// The cgroup2 directory of the container, if a cgroup2 hierarchy exists.
fn v2_dir(rel: &Path) -> Option<PathBuf> {
    let relp = rel.strip_prefix("/").unwrap_or(rel);
    mounts()
        .into_iter()
        .find(|(v, _)| *v == 2)
        .map(|(_, m)| m.join(relp))
        .filter(|d| d.join("cgroup.freeze").exists())
}

/// Freeze (`true`) or thaw the container through cgroup2's `cgroup.freeze`
/// (the core's [`freeze`](rsandbox::cgroup::v2::freeze), which waits for
/// the kernel to report the state).
pub fn freeze(rel: &Path, on: bool) -> Res<()> {
    let d = v2_dir(rel).ok_or_else(|| {
        OciError::cgroup(
            rel,
            "pause/resume need a cgroup2 hierarchy (cgroup.freeze); none is mounted here",
        )
    })?;
    rsandbox::cgroup::v2::freeze(&d, on)
        .map_err(|e| OciError::io(if on { "freeze" } else { "thaw" }, &d, e))
}

/// Whether the container's cgroup2 directory is frozen.
pub fn frozen(rel: &Path) -> bool {
    v2_dir(rel).is_some_and(|d| rsandbox::cgroup::v2::frozen(&d))
}

/// New limits for `update --resources`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Update {
    pub memory: Option<i64>,
    pub pids: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpu_shares: Option<u64>,
}

/// Write `u` into the container's cgroups (the core's directories under
/// ours), in whichever format each hierarchy takes. Errors if a limit was
/// asked for and no directory took it.
pub fn update(rel: &Path, u: &Update) -> Res<()> {
    let relp = rel.strip_prefix("/").unwrap_or(rel);
    let mut dirs = Vec::new();
    for (_, m) in mounts() {
        let top = m.join(relp);
        let mut all = Vec::new();
        if top.is_dir() {
            walk(&top, &mut all);
        }
        dirs.extend(all.into_iter().filter(|d| d != &top));
    }
    let max = |v: i64| {
        if v < 0 {
            "max".to_string()
        } else {
            v.to_string()
        }
    };
    let mut writes: Vec<(&str, String, &str)> = Vec::new();
    if let Some(m) = u.memory {
        writes.push(("memory.max", max(m), "memory"));
        writes.push(("memory.limit_in_bytes", m.to_string(), "memory"));
    }
    if let Some(p) = u.pids {
        writes.push(("pids.max", max(p), "pids"));
    }
    if let Some(q) = u.cpu_quota {
        let period = u.cpu_period.unwrap_or(100_000);
        writes.push(("cpu.max", format!("{} {period}", max(q)), "cpu"));
        writes.push(("cpu.cfs_period_us", period.to_string(), "cpu"));
        writes.push(("cpu.cfs_quota_us", q.to_string(), "cpu"));
    }
    if let Some(sh) = u.cpu_shares {
        writes.push(("cpu.weight", shares_to_weight(sh).to_string(), "cpu"));
        writes.push(("cpu.shares", sh.to_string(), "cpu"));
    }
    let mut done = std::collections::BTreeSet::new();
    for (file, value, what) in &writes {
        for d in &dirs {
            let f = d.join(file);
            if f.exists() {
                std::fs::write(&f, value).map_err(|e| OciError::io("write", &f, e))?;
                done.insert(*what);
            }
        }
    }
    for (_, _, what) in &writes {
        if !done.contains(what) {
            return Err(OciError::cgroup(
                rel,
                format!(
                    "update: the container has no {what} cgroup to change (was it created \
                     with a {what} limit?)"
                ),
            ));
        }
    }
    Ok(())
}

/// Write `r` into the container's own directory (`rel`) in every hierarchy
/// that has the file, best effort: the core enforces memory, pids and cpu
/// in its cgroup below; these writes make the values visible where engines
/// and the runtime-spec tests read them (`linux.cgroupsPath`), and add the
/// knobs the core has no builder method for (memory reservation, swap,
/// swappiness, OOM killer). Limits of a parent apply to its children.
/// `linux.resources` written, best effort, into every directory of the
/// container's cgroup (its own, where engines and runtime-tools read them
/// for an absolute `cgroupsPath`, and the core's below, where the process
/// is, read for a relative one), with the knobs the core has no builder
/// method for and the config's exact values (the core converts cpu shares
/// through a v2 weight).
pub fn write_all(rel: &Path, r: &oci_spec::runtime::LinuxResources) {
    let mut writes: Vec<(&str, String)> = Vec::new();
    if let Some(m) = r.memory() {
        if let Some(l) = m.limit() {
            writes.push(("memory.limit_in_bytes", l.to_string()));
            writes.push((
                "memory.max",
                if l < 0 { "max".into() } else { l.to_string() },
            ));
        }
        if let Some(v) = m.reservation() {
            writes.push(("memory.soft_limit_in_bytes", v.to_string()));
            writes.push((
                "memory.low",
                if v < 0 { "max".into() } else { v.to_string() },
            ));
        }
        if let Some(v) = m.swap() {
            writes.push(("memory.memsw.limit_in_bytes", v.to_string()));
            let v2 = match (v, m.limit()) {
                (v, _) if v < 0 => "max".to_string(),
                (v, Some(l)) if l > 0 => v.saturating_sub(l).max(0).to_string(),
                (v, _) => v.to_string(),
            };
            writes.push(("memory.swap.max", v2));
        }
        if let Some(v) = m.swappiness() {
            writes.push(("memory.swappiness", v.to_string()));
        }
        if m.disable_oom_killer() == Some(true) {
            writes.push(("memory.oom_control", "1".into()));
        }
    }
    if let Some(p) = r.pids() {
        let l = p.limit();
        writes.push((
            "pids.max",
            if l <= 0 { "max".into() } else { l.to_string() },
        ));
    }
    if let Some(c) = r.cpu() {
        if let Some(v) = c.realtime_period() {
            writes.push(("cpu.rt_period_us", v.to_string()));
        }
        if let Some(v) = c.realtime_runtime() {
            writes.push(("cpu.rt_runtime_us", v.to_string()));
        }
        if let Some(v) = c.cpus().as_ref().filter(|s| !s.is_empty()) {
            writes.push(("cpuset.cpus", v.clone()));
        }
        if let Some(v) = c.mems().as_ref().filter(|s| !s.is_empty()) {
            writes.push(("cpuset.mems", v.clone()));
        }
        if let Some(sh) = c.shares() {
            writes.push(("cpu.shares", sh.to_string()));
            writes.push(("cpu.weight", shares_to_weight(sh).to_string()));
        }
        if let Some(p) = c.period() {
            writes.push(("cpu.cfs_period_us", p.to_string()));
        }
        if let Some(q) = c.quota() {
            writes.push(("cpu.cfs_quota_us", q.to_string()));
            let per = c.period().unwrap_or(100_000);
            let q2 = if q < 0 {
                "max".to_string()
            } else {
                q.to_string()
            };
            writes.push(("cpu.max", format!("{q2} {per}")));
        }
    }
    for dir in tree(rel) {
        for (file, value) in &writes {
            let f = dir.join(file);
            if f.exists() {
                let _ = std::fs::write(&f, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::shares_to_weight;

    #[test]
    fn shares_map_onto_the_weight_range_like_runc() {
        assert_eq!(shares_to_weight(0), 1);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(shares_to_weight(u64::MAX), 10000);
    }
}
