//! Cgroups: one interface over the v1 and v2 backends.
//!
//! A box that asks for a cgroup limit (or [`accounting`](crate::Sandbox::accounting))
//! gets its own cgroup, named `rsandbox-<pid>-<n>`, created under the
//! caller's own cgroup (from `/proc/self/cgroup`) unless
//! [`cgroup_parent`](crate::Sandbox::cgroup_parent) says otherwise.
//!
//! - Pure v2 (`/sys/fs/cgroup` is cgroup2): one directory; the controllers
//!   are enabled in the parent's `cgroup.subtree_control`; the child is
//!   placed by `CLONE_INTO_CGROUP`; `cgroup.kill` kills the tree.
//! - Hybrid / v1: one directory per needed v1 controller (memory, pids,
//!   cpu, cpuset, blkio, net_cls, net_prio, devices), and one in the
//!   cgroup2 `unified` hierarchy when there is one (reliable `cgroup.kill`,
//!   and `cpu.stat` for the CPU time; without a cgroup2 hierarchy a v1
//!   cpuacct directory gives it). The
//!   child joins the v1 directories itself, first thing after clone (see
//!   `join.rs`), and is placed in the `unified` one by `CLONE_INTO_CGROUP`.
//!
//! Device rules: where a v1 `devices` hierarchy is mounted (hybrid, v1),
//! its controller enforces them; elsewhere an eBPF device program
//! (`devices_bpf.rs`) is loaded before anything is created and attached
//! to the box's cgroup2 directory (on a hybrid without v1 `devices`, the
//! `unified` one, which the box must then join) before the clone.
//!
//! Cgroups left by a parent that was killed are swept by the next run: a
//! `rsandbox-<pid>-<n>` directory whose `<pid>` is dead is emptied and
//! removed.

mod bpf;
mod counters;
mod create;
pub mod detect;
pub mod devices;
mod devices_bpf;
pub mod extra;
mod join;
pub mod resources;
pub mod v1;
pub mod v2;

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use detect::Layout;
pub(crate) use join::SelfJoin;
pub use resources::Resources;

use crate::config::limits::CgroupLimits;
use crate::error::{Error, Result};
use crate::report::{Limit, Unapplied};
use crate::Sandbox;

pub(crate) use counters::{read_kv, read_u64, Counters};

/// What the cgroup saw of the box's resource use.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CgroupStats {
    /// Peak memory use in bytes.
    pub memory_peak: Option<u64>,
    /// How many processes the OOM killer killed.
    pub oom_kills: Option<u64>,
    /// CPU time of the whole tree.
    pub cpu_time: Option<Duration>,
    /// Peak number of processes.
    pub pids_peak: Option<u64>,
    /// Limits that were asked for but not applied (only with
    /// [`best_effort`](crate::Sandbox::best_effort)), each with the reason,
    /// e.g. `"memory_limit: cannot create /sys/fs/cgroup/...: Permission denied"`.
    #[serde(default)]
    pub unapplied: Vec<String>,
}

/// On pure cgroup v2, move the calling process into the leaf `leaf` of its
/// own cgroup and enable the memory, pids and cpu controllers (those the
/// cgroup offers) for its children, so sandboxes can then be created under
/// the caller's own cgroup without breaking v2's "no internal processes"
/// rule. Typical use: first thing in a program started by
/// `systemd-run --user --scope -p Delegate=yes`. Moves the whole process
/// (every thread). Returns the cgroup sandboxes will be created under, or
/// `None` when the machine is not pure v2 (nothing to do).
pub fn move_self_to_leaf(leaf: &str) -> Result<Option<PathBuf>> {
    if leaf.is_empty() || leaf.contains('/') || leaf == "." || leaf == ".." {
        return Err(Error::invalid("leaf", "a single cgroup name is needed"));
    }
    detect::invalidate_cache();
    let layout = Layout::detect().map_err(|e| Error::io("read the cgroup layout", None, e))?;
    if !layout.is_pure_v2() {
        return Ok(None);
    }
    let own = layout.v2_self_dir().ok_or_else(|| {
        Error::io(
            "find the caller's cgroup",
            None,
            io::ErrorKind::NotFound.into(),
        )
    })?;
    let dir = own.join(leaf);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) if is_privilege_errno(&e) => {
            return Err(Error::Privilege {
                privilege: "a writable (delegated) cgroup".into(),
                action: format!("create cgroup {}: {e}", dir.display()),
                fix: DELEGATION_FIX.into(),
            })
        }
        Err(e) => return Err(Error::io("create cgroup", Some(dir), e)),
    }
    // SAFETY: trivial getter.
    let me = unsafe { libc::getpid() };
    write_file(&dir.join("cgroup.procs"), &me.to_string())?;
    detect::invalidate_cache();
    let have = std::fs::read_to_string(own.join("cgroup.controllers")).unwrap_or_default();
    let want: Vec<&str> = ["memory", "pids", "cpu"]
        .into_iter()
        .filter(|c| have.split_whitespace().any(|h| h == *c))
        .collect();
    v2::enable_controllers(&own, &want)?;
    *SELF_PARENT.lock().unwrap_or_else(|p| p.into_inner()) = Some(own.clone());
    Ok(Some(own))
}

/// Set by [`move_self_to_leaf`]: the cgroup the caller left, where its
/// sandboxes go by default (pure v2).
static SELF_PARENT: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Which hierarchy a directory belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    V2,
    V1(&'static str),
}

#[derive(Debug)]
struct Dir {
    path: PathBuf,
    kind: Kind,
    /// A helper (cpuacct, the v2 `unified` dir of a hybrid): not needed by
    /// any limit, so failing to attach to it is tolerated.
    helper: bool,
    /// Whether the child is in it (false once a helper attach failed).
    in_use: AtomicBool,
    /// The child joins it itself (see [`join`]), not the parent.
    child_joins: bool,
    /// Its counter files, opened ahead (see [`Cgroup::open_counters`]).
    counters: std::sync::OnceLock<counters::Opened>,
}

/// A cgroup made for one spawn; removed when dropped.
#[derive(Debug)]
pub(crate) struct Cgroup {
    /// Every directory created, in creation order.
    dirs: Vec<Dir>,
    /// An fd on the v2 directory, for `CLONE_INTO_CGROUP`.
    v2_fd: Option<OwnedFd>,
    /// Limits asked for but not applied (best effort).
    unapplied: Vec<Unapplied>,
    /// How the device rules are enforced, for the enforcement report.
    devices_applied: Option<String>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);
static SWEPT: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// The fix suggested when no writable cgroup is found.
const DELEGATION_FIX: &str = "run as root, or start the caller in a delegated cgroup \
    (`systemd-run --user --scope -p Delegate=yes <program>` on cgroup v2) and \
    pass cgroup_parent(<a writable cgroup with no processes>), or set \
    best_effort(true) to run without these limits";

fn is_privilege_errno(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS)
    )
}

/// Write `data` to a cgroup file, with an error naming it.
pub(crate) fn write_file(path: &Path, data: &str) -> Result<()> {
    use std::io::Write;
    // No O_CREAT: a missing file means a controller is not enabled, which
    // must not read as a permission problem (cgroupfs refuses creation).
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(data.as_bytes()))
        .map_err(|e| {
            if is_privilege_errno(&e) {
                Error::Privilege {
                    privilege: "a writable (delegated) cgroup".into(),
                    action: format!("write {data:?} to {}: {e}", path.display()),
                    fix: DELEGATION_FIX.into(),
                }
            } else {
                Error::io(
                    format!("write {data:?} to cgroup file"),
                    Some(path.into()),
                    e,
                )
            }
        })
}

/// The pids listed in `dir/cgroup.procs`.
fn procs(dir: &Path) -> Vec<libc::pid_t> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

fn pid_alive(pid: libc::pid_t) -> bool {
    // SAFETY: kill with signal 0 only checks for existence.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Kill every process in `dirs`, repeatedly, until they are empty (bounded).
fn kill_dirs(dirs: &[&Path]) -> bool {
    for v2 in dirs {
        if v2.join("cgroup.kill").exists() {
            v2::kill(v2);
        }
    }
    let until = Instant::now() + Duration::from_secs(2);
    loop {
        let mut any = false;
        for d in dirs {
            for pid in procs(d) {
                any = true;
                // SAFETY: kill with integer arguments; the pid is in a
                // cgroup we created, so it is one of ours.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        if !any {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Kill every process in the cgroup directories `dirs` (`cgroup.kill`
/// where the kernel has it, which also catches processes forked meanwhile;
/// then SIGKILL to whatever is listed, repeatedly) until they are empty.
/// False if some are left after about 2 s. Public so the OCI runtime
/// kills a container's tree the way the core kills a box's.
pub fn kill_all(dirs: &[&Path]) -> bool {
    kill_dirs(dirs)
}

/// rmdir with retries while the kernel still counts dying processes.
/// Public so the OCI runtime removes its directories the same way.
pub fn rmdir_retry(path: &Path, kill_first: bool, patience: Duration) -> io::Result<()> {
    let until = Instant::now() + patience;
    loop {
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < until => {
                if kill_first {
                    kill_dirs(&[path]);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Remove `rsandbox-<pid>-<n>` directories under `parent` whose creator
/// `<pid>` is dead (a parent killed before it could clean up). Once per
/// parent directory per process.
fn sweep_stale(parent: &Path) {
    {
        let mut g = SWEPT.lock().unwrap_or_else(|p| p.into_inner());
        if !g
            .get_or_insert_with(HashSet::new)
            .insert(parent.to_path_buf())
        {
            return;
        }
    }
    let Ok(rd) = std::fs::read_dir(parent) else {
        return;
    };
    // SAFETY: trivial getter.
    let me = unsafe { libc::getpid() };
    for ent in rd.flatten() {
        let name = ent.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("rsandbox-")) else {
            continue;
        };
        let Some(pid) = rest
            .split_once('-')
            .and_then(|(p, _)| p.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        if pid == me || pid <= 0 || pid_alive(pid) {
            continue;
        }
        let _ = rmdir_retry(&ent.path(), true, Duration::from_millis(500));
    }
}

/// Resolve the parent directory in one hierarchy mounted at `mount`, for a
/// caller at `self_path` and an optional `cgroup_parent`.
///
/// A relative `cgroup_parent` is relative to the caller's own cgroup in each
/// hierarchy; an absolute one is a cgroup path from the hierarchy's root,
/// or a filesystem path under any cgroup mount.
fn parent_in(
    mount: &Path,
    self_path: Option<&Path>,
    cgroup_parent: Option<&Path>,
    layout: &Layout,
) -> PathBuf {
    let own = detect::join_abs(mount, self_path.unwrap_or(Path::new("/")));
    match cgroup_parent {
        Some(p) if p.is_relative() => own.join(p),
        Some(p) => {
            // An absolute filesystem path under any cgroup mount: take the
            // cgroup path relative to that mount.
            let mounts = layout.v2_mount.iter().chain(layout.v1_mounts.values());
            for m in mounts {
                if let Ok(rel) = p.strip_prefix(m) {
                    return detect::join_abs(mount, rel);
                }
            }
            detect::join_abs(mount, p)
        }
        None => own,
    }
}

/// The limits a controller enforces.
fn limits_of(ctrl: &str, l: &CgroupLimits) -> Vec<Limit> {
    let mut v = Vec::new();
    match ctrl {
        "memory" => v.extend(l.memory.map(|_| Limit::Memory)),
        "pids" => v.extend(l.pids.map(|_| Limit::Pids)),
        "cpu" => {
            v.extend(l.cpu_quota_us.map(|_| Limit::Cpu));
            v.extend(l.cpu_weight.map(|_| Limit::CpuWeight));
        }
        other => v.extend(l.extra.limits_of(other)),
    }
    v
}

impl Cgroup {
    /// Create the cgroup the sandbox's limits need, or `None` when it asks
    /// for none.
    pub(crate) fn create(sb: &Sandbox) -> Result<Option<Cgroup>> {
        if !sb.limits.wants_cgroup() {
            return Ok(None);
        }
        sb.limits.validate()?;
        let read = |e| Error::io("read the cgroup layout", None, e);
        let layout = Layout::cached().map_err(read)?;
        match Cgroup::create_in(sb, &layout) {
            Ok(cg) => Ok(Some(cg)),
            Err(e) => {
                // The cache may be stale (the caller was moved by someone
                // else): detect afresh, and retry once if the layout changed.
                detect::invalidate_cache();
                match Layout::cached() {
                    Ok(fresh) if fresh != layout => Cgroup::create_in(sb, &fresh).map(Some),
                    _ => Err(e),
                }
            }
        }
    }

    fn mkdir(&mut self, dir: &Path, kind: Kind) -> Result<()> {
        self.mkdir_as(dir, kind, false)
    }

    fn mkdir_as(&mut self, dir: &Path, kind: Kind, helper: bool) -> Result<()> {
        match std::fs::create_dir(dir) {
            Ok(()) => {
                self.dirs.push(Dir {
                    path: dir.to_path_buf(),
                    kind,
                    helper,
                    in_use: AtomicBool::new(true),
                    child_joins: false,
                    counters: std::sync::OnceLock::new(),
                });
                Ok(())
            }
            Err(e) if is_privilege_errno(&e) => Err(Error::Privilege {
                privilege: "a writable (delegated) cgroup".into(),
                action: format!("create cgroup {}: {e}", dir.display()),
                fix: DELEGATION_FIX.into(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let parent = dir.parent().unwrap_or(dir);
                Err(Error::invalid(
                    "cgroup_parent",
                    format!("{} does not exist: create it first", parent.display()),
                ))
            }
            Err(e) => Err(Error::io("create cgroup", Some(dir.to_path_buf()), e)),
        }
    }

    /// The limits asked for but not applied (best effort).
    pub(crate) fn unapplied(&self) -> &[Unapplied] {
        &self.unapplied
    }

    /// How the device rules are enforced (`None`: not asked for, or not
    /// applied).
    pub(crate) fn devices_applied(&self) -> Option<&str> {
        self.devices_applied.as_deref()
    }

    /// The directories of this cgroup (one per hierarchy).
    pub(crate) fn paths(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().map(|d| d.path.as_path())
    }

    /// A cgroup2 directory fd for `CLONE_INTO_CGROUP`, when available.
    pub(crate) fn clone_into_fd(&self) -> Option<RawFd> {
        self.v2_fd.as_ref().map(|f| f.as_raw_fd())
    }

    /// Move `pid` into every directory the clone did not place it in and
    /// the child does not join itself (before the child is released to
    /// fork or exec). `into_cgroup`: `CLONE_INTO_CGROUP` placed it in the
    /// v2 directory.
    pub(crate) fn attach(&self, pid: libc::pid_t, into_cgroup: bool) -> Result<()> {
        for d in self.parent_attaches(into_cgroup) {
            match write_file(&d.path.join("cgroup.procs"), &pid.to_string()) {
                Ok(()) => {}
                // e.g. a rootless caller with a delegated v1 cgroup cannot
                // move itself within the root-owned `unified` hierarchy.
                Err(_) if d.helper => d.in_use.store(false, Ordering::Relaxed),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// CPU time of the tree so far (the tree-wide CPU-time check in
    /// `Child::wait_step`).
    pub(crate) fn cpu_time(&self) -> Option<Duration> {
        self.stats().cpu_time
    }

    /// Kill every process in the cgroup.
    pub(crate) fn kill(&self) -> io::Result<()> {
        let dirs: Vec<&Path> = self.paths().collect();
        if dirs.is_empty() || kill_dirs(&dirs) {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "processes kept appearing in the sandbox's cgroup",
            ))
        }
    }

    /// After the reap: kill what is left of the tree, unless a cgroup2
    /// directory the child was attached to reports `populated 0` in
    /// `cgroup.events` (nothing of the tree is left in it, the usual case
    /// once the PID-1 init has exited). Anything that left that directory
    /// but stayed in a v1 one still makes `remove`'s rmdir fail with EBUSY,
    /// which kills and retries.
    pub(crate) fn kill_leftovers(&self) -> io::Result<()> {
        let empty = self
            .dirs
            .iter()
            .find(|d| d.kind == Kind::V2 && d.in_use.load(Ordering::Relaxed))
            .and_then(|d| read_kv(d.path.as_path(), "cgroup.events", "populated"))
            == Some(0);
        if empty {
            return Ok(());
        }
        self.kill()
    }

    /// Open the counter files [`stats`](Self::stats) reads, so that it
    /// reads them without walking the hierarchy's paths: for a box made
    /// ahead of its use (a warm pool's), whose end is on the caller's path.
    /// One fd per file until the cgroup is removed.
    pub(crate) fn open_counters(&self) {
        for d in self
            .dirs
            .iter()
            .filter(|d| d.in_use.load(Ordering::Relaxed))
        {
            let _ = d.counters.set(counters::open(&d.path, &d.kind));
        }
    }

    /// Read the usage counters. v1 directories first; the cgroup2
    /// directory then fills only what they left unknown (on a hybrid its
    /// memory and pids files do not exist and cpuacct gives the CPU time,
    /// so the reads that cannot matter are skipped).
    pub(crate) fn stats(&self) -> CgroupStats {
        let mut s = CgroupStats {
            unapplied: self.unapplied.iter().map(ToString::to_string).collect(),
            ..CgroupStats::default()
        };
        let in_use = || {
            self.dirs
                .iter()
                .filter(|d| d.in_use.load(Ordering::Relaxed))
        };
        for d in in_use() {
            match d.kind {
                Kind::V2 => {}
                Kind::V1("memory") => {
                    let (peak, ooms) = v1::memory_stats(d);
                    s.memory_peak = peak;
                    s.oom_kills = ooms;
                }
                Kind::V1("pids") => s.pids_peak = v1::pids_peak(d),
                Kind::V1(_) => s.cpu_time = s.cpu_time.or(v1::cpu_time(d)),
            }
        }
        for d in in_use().filter(|d| d.kind == Kind::V2) {
            let p = d;
            if s.memory_peak.is_none() {
                s.memory_peak = v2::memory_peak(p);
            }
            if s.oom_kills.is_none() {
                s.oom_kills = v2::oom_kills(p);
            }
            if s.pids_peak.is_none() {
                s.pids_peak = v2::pids_peak(p);
            }
            if s.cpu_time.is_none() {
                s.cpu_time = v2::cpu_time(p);
            }
        }
        s
    }

    /// Remove the cgroup (idempotent): kill what is left, then rmdir every
    /// directory, retrying briefly while the kernel finishes the exits.
    pub(crate) fn remove(&mut self) -> Result<()> {
        let mut first_err = None;
        let mut left = Vec::new();
        for d in self.dirs.drain(..).rev() {
            if let Err(e) = rmdir_retry(&d.path, true, Duration::from_secs(2)) {
                first_err.get_or_insert(Error::io("remove cgroup", Some(d.path.clone()), e));
                left.push(d);
            }
        }
        left.reverse();
        self.dirs = left;
        self.v2_fd = None;
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// On drop without a wait: remove what is empty, never kill (a box
    /// spawned with `kill_on_drop(false)` keeps running; its cgroup is
    /// swept by a later run once this process is gone).
    fn remove_quiet(&mut self) {
        for d in self.dirs.iter().rev() {
            let _ = rmdir_retry(&d.path, false, Duration::from_millis(50));
        }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        self.remove_quiet();
    }
}

fn open_dir(dir: &Path) -> Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| Error::invalid("cgroup_parent", "contains a NUL byte"))?;
    // SAFETY: open on a valid C string.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(Error::last_os("open cgroup directory", Some(dir.into())));
    }
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
