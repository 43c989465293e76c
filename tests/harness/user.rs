//! Who runs a surface: root, or nobody (`setpriv`), and the world-readable
//! scratch directories a run needs (nobody cannot be assumed to read the
//! checkout, so what it runs is copied into one first).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::scenario::Places;

/// The user a surface runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum User {
    /// The caller (root in CI).
    Root,
    /// uid/gid 65534 without groups. A caller that is not root already is
    /// unprivileged and runs these itself.
    Nobody,
}

impl User {
    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            User::Root => "root",
            User::Nobody => "nobody",
        }
    }

    /// A command running `program` as this user, from `/`, with a plain
    /// environment.
    pub fn command(self, program: &Path) -> Command {
        let mut cmd = if self == User::Nobody && is_root() {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .current_dir("/");
        cmd
    }
}

/// True when running as root.
pub fn is_root() -> bool {
    // SAFETY: a getter without side effects.
    unsafe { libc::geteuid() == 0 }
}

/// A fresh directory under /tmp, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new directory with permission bits `mode` (0755: anyone may read
    /// what is copied in; 0777: anyone may write).
    pub fn new(tag: &str, mode: u32) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = PathBuf::from(format!(
            "/tmp/rsandbox-tests-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        TempDir(p)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A path inside it.
    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.0.join(p)
    }

    /// Copy `src` (a file) in as `name`, readable and executable by anyone.
    pub fn copy_in(&self, src: &Path, name: &str) -> PathBuf {
        let dst = self.join(name);
        // cp(1): a write fd this process held could leak into a child forked
        // by a concurrent test and make exec fail with ETXTBSY.
        let ok = Command::new("cp")
            .arg(src)
            .arg(&dst)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "cp {} {}", src.display(), dst.display());
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755)).unwrap();
        dst
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The host side of one run: the `{data}` directory and the directory of
/// the `{marker}`s, one marker per scenario.
#[derive(Debug)]
pub struct Host {
    data: TempDir,
    marks: TempDir,
}

impl Host {
    /// Fresh directories for one run.
    pub fn new() -> Host {
        let data = TempDir::new("data", 0o755);
        let hello = data.join("hello");
        std::fs::write(&hello, "hello from the host\n").unwrap();
        std::fs::set_permissions(&hello, std::fs::Permissions::from_mode(0o644)).unwrap();
        Host {
            data,
            marks: TempDir::new("marks", 0o777),
        }
    }

    /// The placeholders of `scenario`.
    pub fn places(&self, scenario: &str) -> Places {
        Places {
            data: self.data.path().to_owned(),
            marker: self.marks.join(scenario),
        }
    }
}

impl Default for Host {
    fn default() -> Self {
        Host::new()
    }
}
