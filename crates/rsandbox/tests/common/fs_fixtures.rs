//! Fixtures for the filesystem tests: a busybox-static root and shortcuts.
//! Temporary directories and the `nobody` re-run come from `common`.
#![allow(dead_code)]

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use rsandbox::{Command, Output, Sandbox};

use super::common::{is_root, TempDir};

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
