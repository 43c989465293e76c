//! Helpers shared by the integration tests.
//!
//! Every isolation scenario runs twice: as the caller (root in CI) and as the
//! unprivileged user `nobody`. The `nobody` run re-executes this test binary
//! under `setpriv`, from a copy in a fresh 0755 temp dir, because `nobody`
//! cannot be assumed to read the checkout.
#![allow(dead_code)]

pub mod cgroup_dirs;
mod guard;

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// uid of the unprivileged user the tests switch to.
pub const NOBODY: u32 = 65534;

/// A cgroup v1 memory hierarchy is mounted (this hybrid host; not the
/// pure-v2 VM).
pub fn has_v1_memory() -> bool {
    Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists()
}

/// Whether the cgroup v1 self-join path (the child writes its own `tasks`
/// files) can run here: root, with a v1 memory hierarchy. On pure cgroup
/// v2 the box is born in its cgroup (CLONE_INTO_CGROUP), there is nothing
/// to self-join, and a limit needs a delegated leaf (covered by the limits
/// tests' vm_* cases). Says why when it cannot.
pub fn v1_self_join_host() -> bool {
    if !is_root() {
        println!("skipped: cgroup limits need root here");
        return false;
    }
    if !has_v1_memory() {
        println!("skipped: no cgroup v1 memory hierarchy (the v1 self-join path)");
        return false;
    }
    true
}

/// True when running as root.
pub fn is_root() -> bool {
    // SAFETY: trivial getter.
    unsafe { libc::geteuid() == 0 }
}

/// Prefix of every scratch directory the tests make in /tmp (and remove).
pub const TMP_PREFIX: &str = "rsandbox-test-";

/// Env var set in a test binary re-run as `nobody`.
pub const AS_NOBODY: &str = "RSANDBOX_AS_NOBODY";

/// Whether this process is the `nobody` re-run.
pub fn as_nobody() -> bool {
    std::env::var_os(AS_NOBODY).is_some_and(|v| v == "1")
}

/// A directory under /tmp, mode 0755, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p = PathBuf::from(format!(
            "/tmp/{TMP_PREFIX}{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&p)
            .unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.0.join(p)
    }
}

/// Make every directory under `p` writable by its owner (overlay work dirs
/// are mode 000), so it can be removed.
fn chmod_tree(p: &Path) {
    let Ok(meta) = std::fs::symlink_metadata(p) else {
        return;
    };
    if meta.is_dir() {
        let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755));
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                chmod_tree(&e.path());
            }
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        chmod_tree(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Re-run the test `name` of this binary as `nobody` (uid/gid 65534, no
/// groups) and assert it passed. The binary is copied into a fresh
/// world-readable directory first: the checkout need not be readable.
pub fn rerun_as_nobody(name: &str) {
    if !is_root() {
        // Already unprivileged: the `caller` variant covers this user.
        eprintln!("not root: the caller variant already runs unprivileged");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let dir = TempDir::new("bin");
    let copy = dir.join("test-bin");
    // Copy with cp(1): a write fd held by this process could leak into a
    // child forked by a concurrent test and make exec fail with ETXTBSY.
    let st = std::process::Command::new("cp")
        .arg(&exe)
        .arg(&copy)
        .status()
        .expect("run cp");
    assert!(st.success(), "cp {} failed", exe.display());
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut tries = 0;
    let out = loop {
        let out = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&copy)
            .args(["--exact", name, "--nocapture", "--test-threads=1"])
            .env(AS_NOBODY, "1")
            .current_dir("/")
            .output()
            .expect("run setpriv");
        tries += 1;
        if tries < 100 && String::from_utf8_lossy(&out.stderr).contains("Text file busy") {
            std::thread::sleep(std::time::Duration::from_millis(50));
            continue;
        }
        break out;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} as nobody failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

/// Define a scenario run as the caller and again as `nobody`.
#[macro_export]
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn caller() {
                let f: fn() = $body;
                f()
            }
            #[test]
            fn nobody() {
                $crate::common::rerun_as_nobody(concat!(stringify!($name), "::caller"));
            }
        }
    };
}

/// Number of open fds of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// pidfds of every descendant of `pid` (host pids), found via
/// /proc/<pid>/task/*/children, so their death can be checked later without
/// pid-reuse races.
pub fn descendants(pid: i32) -> Vec<(i32, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut out = Vec::new();
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let kids = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            for k in kids.split_whitespace() {
                let k: i32 = k.parse().unwrap();
                if let Ok(fd) = rsandbox::sys::pidfd_open(k) {
                    // SAFETY: a fresh pidfd we own.
                    out.push((k, unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }));
                }
                stack.push(k);
            }
        }
    }
    out
}

/// Wait (bounded, so a bug cannot hang the suite) until every pidfd reports
/// that its process exited; panics naming the survivors.
pub fn assert_all_dead(pids: &[(i32, std::os::fd::OwnedFd)]) {
    use std::os::fd::AsRawFd;
    for (pid, fd) in pids {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, 10_000) };
        assert_eq!(r, 1, "process {pid} of the sandbox tree is still alive");
    }
}

/// Output of a payload as a String.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
