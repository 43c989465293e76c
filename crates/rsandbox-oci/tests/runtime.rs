//! The runtime command driven like an engine drives it: a busybox bundle
//! through create / start / state / kill / pause / resume / delete, as root.
//!
//! Needs root and a static busybox (`apt-get install busybox-static`); a
//! test that cannot run says why and fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rsandbox-oci");

fn require_root() {
    // SAFETY: trivial getter.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "these tests run containers and need root"
    );
}

fn busybox() -> PathBuf {
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
struct Env {
    dir: PathBuf,
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

fn config(args: &[&str]) -> serde_json::Value {
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
    fn new(name: &str, args: &[&str]) -> Env {
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
        let env = Env { dir };
        env.set_config(&config(args));
        env
    }

    fn set_config(&self, cfg: &serde_json::Value) {
        std::fs::write(self.dir.join("bundle/config.json"), cfg.to_string()).unwrap();
    }

    fn bundle(&self) -> PathBuf {
        self.dir.join("bundle")
    }

    /// Run the runtime; (exit ok, stdout, stderr). The container's stdio
    /// goes to `out.txt`.
    fn rt(&self, args: &[&str]) -> (bool, String, String) {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("out.txt"))
            .unwrap();
        let root = self.dir.join("root");
        let mut cmd = Command::new(BIN);
        cmd.arg("--root").arg(&root).args(args);
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

    fn create(&self, id: &str) {
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

    fn state(&self, id: &str) -> serde_json::Value {
        let (ok, out, err) = self.rt(&["state", id]);
        assert!(ok, "state failed: {err}");
        serde_json::from_str(&out).unwrap()
    }

    fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap().to_string()
    }

    fn wait_status(&self, id: &str, want: &str) {
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

    fn output(&self) -> String {
        std::fs::read_to_string(self.dir.join("out.txt")).unwrap_or_default()
    }
}

/// Cgroup directories named `id` anywhere under /sys/fs/cgroup/*/rsandbox-oci.
fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
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

fn pid_alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let st = s[s.rfind(')').unwrap() + 2..].chars().next().unwrap();
            st != 'Z'
        })
        .unwrap_or(false)
}

#[test]
fn lifecycle_create_start_state_delete() {
    let env = Env::new(
        "life",
        &[
            "sh",
            "-c",
            "echo hello; hostname; cat /proc/sys/net/ipv4/ping_group_range; \
             hostname other 2>/dev/null || echo sethostname-denied; echo $$",
        ],
    );
    let id = "it-life";
    env.create(id);
    let st = env.state(id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["ociVersion"], "1.2.0");
    assert_eq!(st["annotations"]["org.example.test"], "yes");
    let pid = st["pid"].as_i64().unwrap();
    let pid_file = std::fs::read_to_string(env.dir.join(format!("{id}.pid"))).unwrap();
    assert_eq!(pid_file.trim(), pid.to_string());
    assert!(pid_alive(pid));
    assert!(!cgroup_dirs(id).is_empty(), "the container has a cgroup");
    // Nothing ran yet.
    std::thread::sleep(Duration::from_millis(100));
    assert!(!env.output().contains("hello"), "ran before start");

    let (ok, _, err) = env.rt(&["start", id]);
    assert!(ok, "start: {err}");
    env.wait_status(id, "stopped");
    let out = env.output();
    assert!(
        out.contains("hello\nbox\n0\t0\nsethostname-denied\n2\n"),
        "{out}"
    );
    // Started once only.
    let (ok, _, err) = env.rt(&["start", id]);
    assert!(!ok && err.contains("stopped"), "{err}");

    let (ok, _, err) = env.rt(&["delete", id]);
    assert!(ok, "delete: {err}");
    assert!(!env.dir.join("root").join(id).exists(), "state left behind");
    assert!(cgroup_dirs(id).is_empty(), "cgroup left behind");
    let (ok, _, err) = env.rt(&["state", id]);
    assert!(!ok && err.contains("does not exist"), "{err}");
}

#[test]
fn mounts_have_the_configured_types_and_sources() {
    let env = Env::new(
        "mounts",
        &["sh", "-c", "cat /proc/self/mountinfo; ls /sys/class/net"],
    );
    let id = "it-mounts";
    env.create(id);
    let (ok, _, err) = env.rt(&["start", id]);
    assert!(ok, "start: {err}");
    env.wait_status(id, "stopped");
    let out = env.output();
    let (ok, _, err) = env.rt(&["delete", id]);
    assert!(ok, "delete: {err}");
    // What runtime-tools' runtimetest checks: each mount's type and source.
    for (point, typ, source) in [
        ("/proc", "proc", "proc"),
        ("/dev", "tmpfs", "tmpfs"),
        ("/dev/pts", "devpts", "devpts"),
        ("/dev/shm", "tmpfs", "shm"),
        ("/tmp", "tmpfs", "tmpfs"),
        ("/dev/mqueue", "mqueue", "mqueue"),
        ("/sys", "sysfs", "sysfs"),
    ] {
        let line = out
            .lines()
            .find(|l| l.split(' ').nth(4) == Some(point))
            .unwrap_or_else(|| panic!("{point} not mounted:\n{out}"));
        let tail = line.split_once(" - ").map(|(_, t)| t).unwrap_or("");
        assert!(
            tail.starts_with(&format!("{typ} {source} ")),
            "{point}: {line}"
        );
    }
    // A fresh sysfs shows the container's network namespace.
    assert!(out.lines().any(|l| l == "lo"), "{out}");
    assert!(!out.lines().any(|l| l == "eth0"), "{out}");
}

#[test]
fn kill_running_container_and_force_delete() {
    let env = Env::new("kill", &["sleep", "100"]);
    let id = "it-kill";
    env.create(id);
    let (ok, _, err) = env.rt(&["start", id]);
    assert!(ok, "{err}");
    assert_eq!(env.status(id), "running");
    let (ok, _, err) = env.rt(&["delete", id]);
    assert!(
        !ok && err.contains("running"),
        "delete of a running container: {err}"
    );
    let (ok, _, err) = env.rt(&["kill", id, "TERM"]);
    assert!(ok, "{err}");
    env.wait_status(id, "stopped");
    let (ok, _, err) = env.rt(&["kill", id, "KILL"]);
    assert!(!ok && err.contains("not running"), "{err}");
    let (ok, _, err) = env.rt(&["delete", id]);
    assert!(ok, "{err}");

    // --force kills a live one.
    env.create(id);
    let (ok, _, _) = env.rt(&["start", id]);
    assert!(ok);
    let pid = env.state(id)["pid"].as_i64().unwrap();
    let (ok, _, err) = env.rt(&["delete", "--force", id]);
    assert!(ok, "{err}");
    assert!(!pid_alive(pid));
    assert!(cgroup_dirs(id).is_empty());
}

#[test]
fn created_container_can_be_killed_and_deleted() {
    let env = Env::new("created", &["sh", "-c", "echo should-not-run"]);
    let id = "it-created";
    env.create(id);
    let pid = env.state(id)["pid"].as_i64().unwrap();
    let (ok, _, err) = env.rt(&["kill", id, "9"]);
    assert!(ok, "{err}");
    env.wait_status(id, "stopped");
    let (ok, _, err) = env.rt(&["delete", id]);
    assert!(ok, "{err}");
    assert!(!pid_alive(pid));
    assert!(!env.output().contains("should-not-run"));
    // delete of a created (never started) container, without kill first.
    env.create(id);
    let (ok, _, err) = env.rt(&["delete", id]);
    assert!(ok, "{err}");
    assert!(cgroup_dirs(id).is_empty());
}

#[test]
fn pause_resume_list_ps() {
    let env = Env::new("pause", &["sleep", "100"]);
    let id = "it-pause";
    env.create(id);
    assert!(env.rt(&["start", id]).0);
    let (ok, _, err) = env.rt(&["pause", id]);
    assert!(ok, "{err}");
    assert_eq!(env.status(id), "paused");
    let (ok, out, _) = env.rt(&["list"]);
    assert!(ok && out.contains(id) && out.contains("paused"), "{out}");
    let (ok, out, _) = env.rt(&["list", "--format", "json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["id"], id);
    let (ok, out, _) = env.rt(&["ps", "--format", "json", id]);
    assert!(ok);
    let pids: Vec<i64> = serde_json::from_str(&out).unwrap();
    assert_eq!(pids.len(), 2, "init and sleep: {pids:?}");
    let (ok, _, err) = env.rt(&["resume", id]);
    assert!(ok, "{err}");
    assert_eq!(env.status(id), "running");
    let (ok, _, err) = env.rt(&["kill", "--all", id, "KILL"]);
    assert!(ok, "{err}");
    env.wait_status(id, "stopped");
    assert!(env.rt(&["delete", id]).0);
}

#[test]
fn memory_limit_is_in_the_cgroup() {
    let env = Env::new("mem", &["sleep", "100"]);
    let id = "it-mem";
    env.create(id);
    let mut found = false;
    for d in cgroup_dirs(id) {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            for f in ["memory.max", "memory.limit_in_bytes"] {
                if let Ok(s) = std::fs::read_to_string(e.path().join(f)) {
                    assert_eq!(s.trim(), "67108864");
                    found = true;
                }
            }
        }
    }
    assert!(found, "no memory limit file under {:?}", cgroup_dirs(id));

    // update: flags and a LinuxResources file.
    let (ok, _, err) = env.rt(&["update", "--memory", "33554432", id]);
    assert!(ok, "{err}");
    let res = env.dir.join("res.json");
    std::fs::write(&res, r#"{"pids": {"limit": 10}}"#).unwrap();
    let (ok, _, err) = env.rt(&["update", "--resources", res.to_str().unwrap(), id]);
    assert!(ok, "{err}");
    let (mut mem, mut pids) = (false, false);
    for d in cgroup_dirs(id) {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            for f in ["memory.max", "memory.limit_in_bytes"] {
                if let Ok(s) = std::fs::read_to_string(e.path().join(f)) {
                    assert_eq!(s.trim(), "33554432");
                    mem = true;
                }
            }
            if let Ok(s) = std::fs::read_to_string(e.path().join("pids.max")) {
                assert_eq!(s.trim(), "10");
                pids = true;
            }
        }
    }
    assert!(mem && pids, "updated limits not found");
    assert!(env.rt(&["delete", "--force", id]).0);
}

#[test]
fn errors_are_clear_and_logged() {
    let env = Env::new("errors", &["true"]);
    let log = env.dir.join("log.json");
    let id = "it-errors";
    // A duplicate id.
    env.create(id);
    let (ok, _, _) = env.rt(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        "--bundle",
        env.bundle().to_str().unwrap(),
        id,
    ]);
    assert!(!ok);
    let line = std::fs::read_to_string(&log).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
    assert_eq!(v["level"], "error");
    assert!(v["msg"].as_str().unwrap().contains("already exists"), "{v}");
    assert!(env.rt(&["delete", id]).0);

    // A refused field leaves nothing behind.
    let mut cfg = config(&["true"]);
    cfg["hooks"] = serde_json::json!({"prestart": [{"path": "/bin/true"}]});
    env.set_config(&cfg);
    let (ok, _, _) = env.rt(&["create", "--bundle", env.bundle().to_str().unwrap(), id]);
    assert!(!ok);
    assert!(env.output().contains("hooks"), "{}", env.output());
    assert!(!env.dir.join("root").join(id).exists());
    assert!(cgroup_dirs(id).is_empty());

    let (ok, _, err) = env.rt(&["state", "nope"]);
    assert!(!ok && err.contains("does not exist"), "{err}");
    let (ok, _, err) = env.rt(&["kill", "nope", "KILL"]);
    assert!(!ok && err.contains("does not exist"), "{err}");
    let (ok, _, err) = env.rt(&["state", "../x"]);
    assert!(!ok && err.contains("invalid container id"), "{err}");
}

#[test]
fn exec_joins_the_running_container() {
    let env = Env::new("exec", &["sleep", "100"]);
    let id = "it-exec";
    env.create(id);
    let (ok, _, err) = env.rt(&["exec", id, "true"]);
    assert!(!ok && err.contains("created"), "exec before start: {err}");
    assert!(env.rt(&["start", id]).0);
    let (ok, out, err) = env.rt(&[
        "exec",
        id,
        "sh",
        "-c",
        "echo $$; hostname; cat /proc/1/comm",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, "3\nbox\nrsandbox-init\n");
    let (ok, _, _) = env.rt(&["exec", id, "sh", "-c", "exit 5"]);
    assert!(!ok);
    let o = Command::new(BIN)
        .arg("--root")
        .arg(env.dir.join("root"))
        .args(["exec", id, "sh", "-c", "exit 5"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(5));
    // --process, --detach, --pid-file.
    let mut proc = config(&["sleep", "50"])["process"].clone();
    proc["env"] = serde_json::json!(["PATH=/bin", "X=1"]);
    let pf = env.dir.join("proc.json");
    std::fs::write(&pf, proc.to_string()).unwrap();
    let pid_file = env.dir.join("exec.pid");
    let (ok, _, err) = env.rt(&[
        "exec",
        "--process",
        pf.to_str().unwrap(),
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        id,
    ]);
    assert!(ok, "{err}");
    let pid: i64 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pid_alive(pid));
    // In the container's cgroups (its limits bind it), not the runtime's.
    let init = env.state(id)["pid"].as_i64().unwrap();
    let cgroups = |p: i64| std::fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap();
    assert_eq!(cgroups(pid), cgroups(init), "the exec'd process's cgroups");
    assert!(env.rt(&["delete", "--force", id]).0);
    let until = Instant::now() + Duration::from_secs(5);
    while pid_alive(pid) {
        assert!(Instant::now() < until, "exec'd process outlived delete");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn interfaces(dev: &str) -> Vec<String> {
    let mut v: Vec<String> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|s| s.trim().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn network_namespace_joined_by_path() {
    let env = Env::new("join", &["cat", "/proc/net/dev"]);
    let mut cfg = config(&["cat", "/proc/net/dev"]);
    // Join this test's own network namespace (the host's, read-only use).
    let me = std::process::id();
    cfg["linux"]["namespaces"][1] =
        serde_json::json!({"type": "network", "path": format!("/proc/{me}/ns/net")});
    cfg["linux"].as_object_mut().unwrap().remove("sysctl");
    env.set_config(&cfg);
    let id = "it-join";
    env.create(id);
    assert!(env.rt(&["start", id]).0);
    env.wait_status(id, "stopped");
    let host = std::fs::read_to_string("/proc/net/dev").unwrap();
    assert_eq!(interfaces(&env.output()), interfaces(&host));
    assert!(env.rt(&["delete", id]).0);
}

#[test]
fn features_and_version() {
    let o = Command::new(BIN).arg("features").output().unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ociVersionMax"], "1.2.0");
    assert!(v["linux"]["namespaces"].as_array().unwrap().len() >= 7);
    let o = Command::new(BIN).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("spec: 1.2.0"));
}
