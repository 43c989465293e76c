//! Fixtures for the filesystem tests: temporary directories, a busybox-static
//! root, and re-running a test as the unprivileged user `nobody`.
#![allow(dead_code)]

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rsandbox::{Command, Output, Sandbox};

/// Prefix of every temporary directory the tests create in /tmp.
pub const TMP_PREFIX: &str = "rsbx-fs-test-";

/// Env var set when the test binary re-runs itself as `nobody`.
pub const AS_NOBODY: &str = "RSANDBOX_AS_NOBODY";

/// Whether this process is the `nobody` re-run.
pub fn as_nobody() -> bool {
    std::env::var_os(AS_NOBODY).is_some_and(|v| v == "1")
}

/// Whether the caller is root (euid 0).
pub fn is_root() -> bool {
    // SAFETY: trivial getter.
    unsafe { libc::geteuid() == 0 }
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

/// A root filesystem holding busybox-static and its applets, plus a few
/// directories the tests mount on, and two hostile symlinks:
/// `/lnk -> /` and `/up -> ../../../../..`.
pub struct BusyboxRoot {
    pub dir: TempDir,
}

impl BusyboxRoot {
    pub fn new() -> BusyboxRoot {
        let bb = Path::new("/bin/busybox");
        assert!(
            bb.is_file(),
            "/bin/busybox is missing: the filesystem tests need a static busybox \
             (Debian: apt-get install -y busybox-static)"
        );
        let dir = TempDir::new("root");
        for d in ["bin", "proc", "dev", "tmp", "mnt", "data", "etc"] {
            std::fs::DirBuilder::new()
                .mode(0o755)
                .create(dir.join(d))
                .unwrap();
        }
        std::fs::copy(bb, dir.join("bin/busybox")).unwrap();
        std::fs::set_permissions(
            dir.join("bin/busybox"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let list = std::process::Command::new(bb)
            .arg("--list")
            .output()
            .expect("run busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let applet = applet.trim();
            if applet.is_empty() || applet == "busybox" || applet.contains('/') {
                continue;
            }
            let _ = std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet));
        }
        std::fs::write(dir.join("BUSYBOX_ROOT"), "marker\n").unwrap();
        std::os::unix::fs::symlink("/", dir.join("lnk")).unwrap();
        std::os::unix::fs::symlink("../../../../..", dir.join("up")).unwrap();
        BusyboxRoot { dir }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// The base box for a scenario: mount + PID namespaces; when not root, a
/// user namespace where the payload is uid 0.
pub fn base() -> Sandbox {
    let sb = Sandbox::new().mount_ns().pid_ns();
    if is_root() {
        sb
    } else {
        sb.user_ns().uid(0).gid(0)
    }
}

/// Run `script` with `/bin/sh -c` and return the output; panics on a spawn
/// error, printing it.
pub fn sh(sb: &Sandbox, script: &str) -> Output {
    sb.output(&Command::from_argv(["/bin/sh", "-c", script]))
        .unwrap_or_else(|e| panic!("spawn failed: {e}\nscript: {script}"))
}

/// stdout + stderr as one string.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Re-run the test `name` of this binary as `nobody` (uid/gid 65534, no
/// groups) and assert it passed. The binary is copied into a fresh
/// world-readable directory first: the checkout need not be readable.
pub fn run_as_nobody(name: &str) {
    assert!(
        is_root(),
        "running a test as nobody needs root (setpriv); run the suite as root"
    );
    let exe = std::env::current_exe().unwrap();
    let dir = TempDir::new("bin");
    let copy = dir.join("fs-test");
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
        if tries < 20 && String::from_utf8_lossy(&out.stderr).contains("Text file busy") {
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

/// Define a scenario run twice: as the caller, and as nobody.
#[macro_export]
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn as_caller() {
                let f: fn() = $body;
                f()
            }
            #[test]
            fn as_nobody() {
                if fs_fixtures::as_nobody() {
                    return;
                }
                fs_fixtures::run_as_nobody(concat!(stringify!($name), "::as_caller"));
            }
        }
    };
}
