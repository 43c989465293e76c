//! Container state kept as JSON under the root directory, one directory per
//! container, guarded by an `flock` so concurrent commands on one container
//! run one after the other.
//!
//! Only the runtime's user may read or lock any of it (as runc keeps its
//! state): the root and each container's directory are made 0700, the lock
//! and `state.json` 0600. The state holds the hooks' environments, and a
//! lock another user could open is a lock another user could hold, which
//! would block every command on that container.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{OciError, Res};

/// What the runtime remembers about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    /// Container id.
    pub id: String,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Pid of the container's first process (host pid namespace).
    pub pid: i32,
    /// Its start time (field 22 of /proc/PID/stat), against pid reuse.
    pub pid_start: u64,
    /// `created` as saved by `create`; reads turn it into `running` once
    /// `start` has released the container (the exec FIFO is gone), so
    /// `start` does not rewrite the state.
    pub status: String,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Annotations from config.json.
    pub annotations: BTreeMap<String, String>,
    /// The container's cgroup path (relative to each hierarchy's root).
    pub cgroup: PathBuf,
    /// Cgroup directories this container created (absolute, in order).
    pub cgroup_created: Vec<PathBuf>,
    /// Rootfs path.
    pub rootfs: PathBuf,
    /// The config's hooks as they were at `create`: the later lifecycle
    /// points run these, whatever config.json says by then (runtime-spec:
    /// changes to the config after create do not affect the container), and
    /// `start` / `delete` need not parse config.json again.
    #[serde(default)]
    pub hooks: Option<oci_spec::runtime::Hooks>,
}

/// Check a container id: a single path component of safe characters.
pub fn check_id(id: &str) -> Res<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'));
    if ok {
        Ok(())
    } else {
        Err(OciError::InvalidId(id.to_string()))
    }
}

/// A locked container directory.
pub struct Locked {
    pub dir: PathBuf,
    _lock: File,
}

/// Wait for the exclusive lock on `f` (the file at `path`).
fn flock(f: &File, path: &Path) -> Res<()> {
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(OciError::io("lock", path, e));
        }
    }
}

/// A new file only the owner may read and write (`O_EXCL`: never an
/// existing file or a symlink planted in its place).
fn create_private(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Make the state root if it is missing. A root made here is the runtime's
/// alone; one that already exists keeps its mode (the containers'
/// directories are 0700 anyway).
pub fn make_root(root: &Path) -> Res<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(|e| OciError::io("create", root, e))
}

impl Locked {
    /// Make a new container directory (an error if the id is taken) and lock it.
    pub fn create(root: &Path, id: &str) -> Res<Locked> {
        check_id(id)?;
        make_root(root)?;
        let dir = root.join(id);
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(OciError::AlreadyExists(id.to_string()))
            }
            Err(e) => return Err(OciError::io("create", dir, e)),
        }
        let lock = dir.join("lock");
        let f = create_private(&lock).map_err(|e| OciError::io("create", &lock, e))?;
        flock(&f, &lock)?;
        Ok(Locked { dir, _lock: f })
    }

    /// Lock an existing container's directory.
    pub fn open(root: &Path, id: &str) -> Res<Locked> {
        check_id(id)?;
        let dir = root.join(id);
        let lock = dir.join("lock");
        let f = File::open(&lock).map_err(|_| OciError::NotFound(id.to_string()))?;
        flock(&f, &lock)?;
        // A concurrent delete may have removed it while we waited.
        if !dir.join("state.json").exists() {
            return Err(OciError::NotFound(id.to_string()));
        }
        Ok(Locked { dir, _lock: f })
    }

    /// Read the saved state.
    pub fn load(&self) -> Res<Saved> {
        read_state(&self.dir)
    }

    /// Write the state atomically (temp file, rename). Not fsynced: the
    /// state lives under /run and means nothing after a reboot, and an
    /// fsync costs about a millisecond where /run is not a tmpfs.
    pub fn save(&self, s: &Saved) -> Res<()> {
        let tmp = self.dir.join("state.json.tmp");
        let path = self.dir.join("state.json");
        let err = |e| OciError::io("write the state", &path, e);
        // A temp file left by a command that died mid-save is ours to drop.
        let _ = std::fs::remove_file(&tmp);
        let mut f = create_private(&tmp).map_err(err)?;
        let text = serde_json::to_vec(s).map_err(|e| OciError::json("serialize the state", e))?;
        f.write_all(&text).map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)
    }
}

/// The exec FIFO in a container's directory: the container's process
/// waits on it until `start`, which removes it.
pub fn exec_fifo(dir: &Path) -> PathBuf {
    dir.join("exec.fifo")
}

/// Read `dir/state.json` without locking (for `list`).
pub fn read_state(dir: &Path) -> Res<Saved> {
    let p = dir.join("state.json");
    let text = std::fs::read_to_string(&p).map_err(|e| OciError::io("read", &p, e))?;
    let mut s: Saved = serde_json::from_str(&text)
        .map_err(|e| OciError::json(format!("parse {}", p.display()), e))?;
    if s.status == "created" && !exec_fifo(dir).exists() {
        s.status = "running".into();
    }
    Ok(s)
}

/// `(state char, start time)` of a pid, from /proc/PID/stat.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `(state char, start time)` from the text of a `/proc/PID/stat`.
pub fn parse_stat(s: &str) -> Option<(char, u64)> {
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.first()?.chars().next()?, f.get(19)?.parse().ok()?))
}

/// Whether the container's first process is alive (not a zombie, and the
/// same process as at create).
pub fn alive(s: &Saved) -> bool {
    matches!(proc_stat(s.pid), Some((st, start)) if st != 'Z' && st != 'X' && start == s.pid_start)
}

/// The time now as RFC 3339 (UTC, nanoseconds).
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}
