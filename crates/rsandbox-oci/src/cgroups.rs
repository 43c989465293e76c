//! The container's cgroup: a directory of our own (from `linux.cgroupsPath`
//! or `/rsandbox-oci/<id>`) in every hierarchy, under which the core makes
//! its `rsandbox-*` cgroup. Only directories we created are ever removed,
//! and only processes found in them are ever signalled.

use std::path::{Path, PathBuf};

use rsandbox::cgroup::resources::{self, Mode, WriteError};
use rsandbox::cgroup::Resources;
use rsandbox::features::cgroup_mounts;

use crate::error::{OciError, Res};

/// A hierarchy the core may use: its version, mount point and controllers.
struct Hierarchy {
    version: u8,
    path: PathBuf,
    controllers: Vec<String>,
}

/// The hierarchies the core may use: cgroup2, and v1 hierarchies with
/// controllers it has knobs for. Read once per command (every cgroup
/// operation needs them; the mount table does not change under us).
fn hierarchies() -> &'static [Hierarchy] {
    static MOUNTS: std::sync::OnceLock<Vec<Hierarchy>> = std::sync::OnceLock::new();
    MOUNTS.get_or_init(read_mounts)
}

/// Mount points of [`hierarchies`], with their versions.
pub fn mounts() -> Vec<(u8, PathBuf)> {
    hierarchies()
        .iter()
        .map(|h| (h.version, h.path.clone()))
        .collect()
}

fn read_mounts() -> Vec<Hierarchy> {
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
        .map(|m| Hierarchy {
            version: m.version,
            path: PathBuf::from(m.path),
            controllers: m.controllers,
        })
        .collect()
}

/// Whether hierarchy `h` lacks controller `c`, so that none of `c`'s
/// files can be in it (v2: not in the mount's `cgroup.controllers`, which
/// bounds every directory below it).
fn lacks(h: &Hierarchy, c: &str) -> bool {
    !h.controllers.iter().any(|x| x == c)
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
    let hs = hierarchies();
    let pure_v2 = hs.len() == 1 && hs[0].version == 2;
    for h in hs {
        let mut cur = h.path.clone();
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
                    if !lacks(h, "cpuset") && cur.join("cpuset.cpus").exists() {
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

/// The core's directories: every directory under ours, in every hierarchy
/// (parents before children).
fn core_dirs(rel: &Path) -> Vec<PathBuf> {
    let relp = rel.strip_prefix("/").unwrap_or(rel);
    let mut sub = Vec::new();
    for (_, m) in mounts() {
        let top = m.join(relp);
        let mut all = Vec::new();
        if top.is_dir() {
            walk(&top, &mut all);
        }
        sub.extend(all.into_iter().filter(|d| d != &top));
    }
    sub
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
    // The core's directories, deepest first.
    let mut sub = core_dirs(rel);
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

/// Write `r` into the container's cgroups (the core's directories under
/// ours), in whichever format each hierarchy takes (the core's
/// [`write`](rsandbox::cgroup::resources::write), strict). Errors if a
/// file refuses its value, or a limit was asked for and no directory took it.
pub fn update(rel: &Path, r: &Resources) -> Res<()> {
    let dirs = core_dirs(rel);
    let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    resources::write(&dirs, r, Mode::Strict).map_err(|e| match e {
        WriteError::NoController { controller: what } => OciError::cgroup(
            rel,
            format!(
                "update: the container has no {what} cgroup to change (was it created \
                 with a {what} limit?)"
            ),
        ),
        WriteError::Write(source) => OciError::Limits {
            context: "update",
            source,
        },
    })
}

/// `linux.resources` written, best effort, into every directory of the
/// container's cgroup (its own, where engines and runtime-tools read them
/// for an absolute `cgroupsPath`, and the core's below, where the process
/// is, read for a relative one), with the knobs the core has no builder
/// method for and the config's exact values (the core converts cpu shares
/// through a v2 weight). Limits of a parent apply to its children.
pub fn write_all(rel: &Path, r: &Resources) {
    let writes = r.writes();
    if writes.is_empty() {
        return;
    }
    // Only the hierarchies that may hold one of the files: one without
    // any of the controllers written has none of them.
    let relp = rel.strip_prefix("/").unwrap_or(rel);
    let mut dirs = Vec::new();
    for h in hierarchies() {
        if writes.iter().all(|w| lacks(h, w.controller)) {
            continue;
        }
        let top = h.path.join(relp);
        if top.is_dir() {
            walk(&top, &mut dirs);
        }
    }
    let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    // Best effort never fails: a missing or refusing file is skipped.
    let _ = resources::write(&dirs, r, Mode::BestEffort);
}
