//! What the runtime's integration tests share: a busybox bundle in a
//! scratch directory, the runtime driven like an engine drives it, and
//! helpers to look at cgroups and processes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_rsandbox-oci");

/// The runtime under test: the one cargo built, or
/// `RSANDBOX_OCI_TEST_BIN` (`scripts/test.sh` runs the lifecycle tests
/// again on the static build of `scripts/build-static.sh`).
pub fn bin() -> PathBuf {
    std::env::var_os("RSANDBOX_OCI_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(BIN))
}

pub fn require_root() {
    assert_eq!(
        // SAFETY: trivial getter.
        unsafe { libc::geteuid() },
        0,
        "these tests run containers and need root"
    );
}

pub fn busybox() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        let out = Command::new("file").arg(p).output();
        if Path::new(p).exists()
            && out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("statically"))
        {
            return p.into();
        }
    }
    panic!("a static busybox is needed: apt-get install -y busybox-static");
}

/// A scratch directory holding the bundle and the runtime's root.
pub struct Env {
    pub dir: PathBuf,
    /// Environment of every runtime command.
    pub vars: Vec<(&'static str, &'static str)>,
    /// The runtime binary run (default: the one cargo built).
    pub bin: PathBuf,
}

impl Drop for Env {
    fn drop(&mut self) {
        // Best effort: force-delete whatever a failed test left.
        if let Ok(rd) = std::fs::read_dir(self.dir.join("root")) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = self.rt(&["delete", "--force", &id]);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn config(args: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "box",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"memory": {"limit": 67108864}, "pids": {"limit": 64}},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": ["/proc/kcore", "/proc/keys"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"],
            "sysctl": {"net.ipv4.ping_group_range": "0 0"},
            "seccomp": {
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
            }
        },
        "annotations": {"org.example.test": "yes"}
    })
}

impl Env {
    pub fn new(name: &str, args: &[&str]) -> Env {
        require_root();
        let dir =
            std::env::temp_dir().join(format!("rsandbox-oci-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let rootfs = dir.join("bundle/rootfs");
        for d in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy(busybox(), rootfs.join("bin/busybox")).unwrap();
        for a in ["sh", "echo", "cat", "sleep", "hostname", "id", "ps", "true"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
        }
        let env = Env {
            dir,
            vars: Vec::new(),
            bin: bin(),
        };
        env.set_config(&config(args));
        env
    }

    pub fn set_config(&self, cfg: &serde_json::Value) {
        std::fs::write(self.dir.join("bundle/config.json"), cfg.to_string()).unwrap();
    }

    pub fn bundle(&self) -> PathBuf {
        self.dir.join("bundle")
    }

    /// Run the runtime; (exit ok, stdout, stderr). The container's stdio
    /// goes to `out.txt`.
    pub fn rt(&self, args: &[&str]) -> (bool, String, String) {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("out.txt"))
            .unwrap();
        let root = self.dir.join("root");
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root")
            .arg(&root)
            .args(args)
            .envs(self.vars.iter().copied());
        let o = if args.first() == Some(&"create") || args.contains(&"--detach") {
            // The container inherits create's stdio: send it to a file and
            // wait for create only.
            let st = cmd
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .status()
                .unwrap();
            return (st.success(), String::new(), String::new());
        } else {
            cmd.output().unwrap()
        };
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    pub fn create(&self, id: &str) {
        let pid_file = self.dir.join(format!("{id}.pid"));
        let (ok, _, _) = self.rt(&[
            "create",
            "--bundle",
            self.bundle().to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            id,
        ]);
        assert!(ok, "create failed: {}", self.output());
    }

    pub fn state(&self, id: &str) -> serde_json::Value {
        let (ok, out, err) = self.rt(&["state", id]);
        assert!(ok, "state failed: {err}");
        serde_json::from_str(&out).unwrap()
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap().to_string()
    }

    pub fn wait_status(&self, id: &str, want: &str) {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.status(id);
            if s == want {
                return;
            }
            assert!(Instant::now() < until, "status {s}, wanted {want}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `start ID`, which must succeed, then wait until the container stopped.
    pub fn start_to_end(&self, id: &str) {
        let (ok, _, err) = self.rt(&["start", id]);
        assert!(ok, "start: {err}");
        self.wait_status(id, "stopped");
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir.join("out.txt")).unwrap_or_default()
    }
}

/// Cgroup directories named `id` anywhere under /sys/fs/cgroup/*/rsandbox-oci.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for m in rd.flatten() {
            let d = m.path().join("rsandbox-oci").join(id);
            if d.exists() {
                v.push(d);
            }
        }
    }
    let pure = Path::new("/sys/fs/cgroup/rsandbox-oci").join(id);
    if pure.exists() {
        v.push(pure);
    }
    v
}

pub fn pid_alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let st = s[s.rfind(')').unwrap() + 2..].chars().next().unwrap();
            st != 'Z'
        })
        .unwrap_or(false)
}

/// Run `cfg` to completion as container `id`; the container's output.
pub fn run_to_end(env: &Env, id: &str, cfg: &serde_json::Value) -> String {
    env.set_config(cfg);
    env.create(id);
    env.start_to_end(id);
    let (ok, _, err) = env.rt(&["delete", id]);
    assert!(ok, "delete: {err}");
    assert!(cgroup_dirs(id).is_empty(), "cgroup left behind");
    env.output()
}
