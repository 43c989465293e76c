//! A real engine end to end: podman, with rsandbox-oci registered as a
//! runtime in a `containers.conf`, runs an image imported from a busybox
//! root. Storage, run and tmp dirs are private to the test; only
//! `--network none` is used, so the host's network is never touched.
//!
//! Needs root, podman and a static busybox: it is opt-in (`cargo test -p
//! rsandbox-oci --test podman -- --ignored` after `apt-get install -y
//! podman`), not part of the default test command, and fails when podman is
//! missing rather than passing without running.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_rsandbox-oci");

struct Podman {
    dir: PathBuf,
    /// conmon's `libpod_parent` cgroups that existed before the test.
    cgroups_before: Vec<PathBuf>,
}

/// Every `<hierarchy>/libpod_parent` that exists now.
fn libpod_cgroups() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("libpod_parent"))
        .collect();
    v.push(PathBuf::from("/sys/fs/cgroup/libpod_parent"));
    v.retain(|p| p.is_dir());
    v
}

impl Podman {
    fn cmd(&self, args: &[&str]) -> Output {
        // In the scratch dir: conmon leaves an `oom` file in its cwd
        // after an OOM kill.
        let o = Command::new("timeout")
            .current_dir(&self.dir)
            .arg("120")
            .arg("podman")
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .arg("--root")
            .arg(self.dir.join("storage"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .arg("--tmpdir")
            .arg(self.dir.join("tmp"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(args)
            .output()
            .unwrap();
        eprintln!(
            "podman {args:?}: {}\n{}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        o
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd(&["rm", "-af", "-t", "0"]);
        let _ = self.cmd(&["rmi", "-af"]);
        let _ = std::fs::remove_dir_all(&self.dir);
        // podman (conmon) leaves its cgroups: remove the ones it made here.
        for d in libpod_cgroups()
            .iter()
            .filter(|d| !self.cgroups_before.contains(d))
        {
            let _ = std::fs::remove_dir(d.join("conmon"));
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn podman_installed() -> bool {
    Command::new("podman")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
#[ignore = "end-to-end with podman: apt-get install -y podman, then run with --ignored"]
fn podman_runs_containers_with_rsandbox_oci() {
    assert!(
        podman_installed(),
        "podman is not installed: apt-get install -y podman"
    );
    // SAFETY: trivial getter.
    assert_eq!(unsafe { libc::geteuid() }, 0, "needs root");
    let dir = std::env::temp_dir().join(format!("rsandbox-oci-podman-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rootfs = dir.join("rootfs");
    for d in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is needed");
    std::fs::copy(bb, rootfs.join("bin/busybox")).unwrap();
    for a in ["sh", "echo", "cat", "sleep", "dd", "true", "false"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
    }
    std::fs::write(
        dir.join("containers.conf"),
        format!(
            "[containers]\n\
             default_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
             [engine]\n\
             runtime = \"rsandbox\"\n\
             [engine.runtimes]\n\
             rsandbox = [\"{BIN}\"]\n\
             runtime_supports_json = [\"rsandbox\"]\n"
        ),
    )
    .unwrap();
    let tar = dir.join("rootfs.tar");
    assert!(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap()
        .success());
    let p = Podman {
        dir,
        cgroups_before: libpod_cgroups(),
    };
    let image = "localhost/rsandbox-oci-test-bb";
    assert!(p
        .cmd(&["import", tar.to_str().unwrap(), image])
        .status
        .success());

    // run --rm, output and exit code.
    let o = p.cmd(&[
        "run",
        "--rm",
        "--network",
        "none",
        image,
        "sh",
        "-c",
        "echo hi-$$; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hi-2\n");

    // -t: a terminal through the console socket.
    let o = p.cmd(&[
        "run",
        "--rm",
        "-t",
        "--network",
        "none",
        image,
        "sh",
        "-c",
        "[ -t 0 ] && [ -t 1 ] && echo is-tty",
    ]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("is-tty"));

    // --memory is enforced: 64 MiB in one buffer under a 32 MiB limit.
    let o = p.cmd(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--memory",
        "32m",
        image,
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=64M",
        "count=1",
    ]);
    assert_eq!(o.status.code(), Some(137), "dd should be OOM-killed");
    let o = p.cmd(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--memory",
        "256m",
        image,
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=64M",
        "count=1",
    ]);
    assert!(o.status.success());

    // run -d, ps, stop, rm.
    let o = p.cmd(&[
        "run",
        "-d",
        "--name",
        "rsb-d",
        "--network",
        "none",
        image,
        "sleep",
        "100",
    ]);
    assert!(o.status.success());
    let o = p.cmd(&["ps"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("rsb-d"));
    let o = p.cmd(&["exec", "rsb-d", "sh", "-c", "echo exec-$$; exit 4"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("exec-"));
    let o = p.cmd(&[
        "exec",
        "-t",
        "rsb-d",
        "sh",
        "-c",
        "[ -t 0 ] && echo exec-tty",
    ]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("exec-tty"));
    assert!(p.cmd(&["stop", "-t", "2", "rsb-d"]).status.success());
    assert!(p.cmd(&["rm", "rsb-d"]).status.success());
    let o = p.cmd(&["ps", "-a"]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("rsb-d"));
}
