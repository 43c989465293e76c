//! The runtime command driven like an engine drives it: a busybox bundle
//! through create / start / state / kill / pause / resume / delete, as root.
//!
//! Needs root and a static busybox (`apt-get install busybox-static`); a
//! test that cannot run says why and fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

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

    env.start_to_end(id);
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
    env.start_to_end(id);
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

/// The values in file `file` (any of the names given: v1 or v2) of the
/// container's cgroup, with the directory they came from: its own
/// directories when `core` is false, else the core's below them.
fn cgroup_values(id: &str, files: &[&str], core: bool) -> Vec<(PathBuf, String)> {
    let mut dirs = cgroup_dirs(id);
    if core {
        dirs = dirs
            .iter()
            .flat_map(|d| std::fs::read_dir(d).unwrap().flatten())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
    }
    let mut out = Vec::new();
    for d in dirs {
        for f in files {
            if let Ok(s) = std::fs::read_to_string(d.join(f)) {
                out.push((d.join(f), s.trim().to_string()));
            }
        }
    }
    out
}

/// Assert that some file of `files` was found and each holds `want`.
fn assert_values(id: &str, files: &[&str], core: bool, want: &[&str]) {
    let got = cgroup_values(id, files, core);
    assert!(!got.is_empty(), "no {files:?} in {:?}", cgroup_dirs(id));
    for (f, v) in &got {
        assert!(
            want.contains(&v.as_str()),
            "{}: {v}, want {want:?}",
            f.display()
        );
    }
}

/// `linux.resources` values the core's builder has no method for (memory
/// reservation) and the config's exact cpu values land, at create, in the
/// container's own directory and the core's below; `update --cpu-quota`
/// (with the default period) and `--pids-limit` land in the core's, in
/// each hierarchy's format, and a negative quota lifts the limit.
#[test]
fn resources_and_update_flags_land_in_the_cgroup() {
    let env = Env::new("upd", &["sleep", "100"]);
    let mut cfg = config(&["sleep", "100"]);
    cfg["linux"]["resources"]["memory"]["reservation"] = serde_json::json!(16777216);
    cfg["linux"]["resources"]["cpu"] =
        serde_json::json!({"quota": 50000, "period": 100000, "shares": 512});
    env.set_config(&cfg);
    let id = "it-upd";
    env.create(id);
    for core in [false, true] {
        let low = ["memory.soft_limit_in_bytes", "memory.low"];
        assert_values(id, &low, core, &["16777216"]);
        assert_values(id, &["cpu.shares", "cpu.weight"], core, &["512", "20"]);
        let quota = ["cpu.cfs_quota_us", "cpu.max"];
        assert_values(id, &quota, core, &["50000", "50000 100000"]);
    }

    let (ok, _, err) = env.rt(&["update", "--cpu-quota", "20000", "--pids-limit", "7", id]);
    assert!(ok, "{err}");
    let quota = ["cpu.cfs_quota_us", "cpu.max"];
    assert_values(id, &quota, true, &["20000", "20000 100000"]);
    assert_values(id, &["cpu.cfs_period_us"], true, &["100000"]);
    assert_values(id, &["pids.max"], true, &["7"]);
    let (ok, _, err) = env.rt(&["update", "--cpu-quota", "-1", id]);
    assert!(ok, "{err}");
    assert_values(id, &quota, true, &["-1", "max 100000"]);
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
    cfg["mounts"][0] = serde_json::json!({"destination": "/x", "type": "nfs", "source": "a"});
    env.set_config(&cfg);
    let (ok, _, _) = env.rt(&["create", "--bundle", env.bundle().to_str().unwrap(), id]);
    assert!(!ok);
    assert!(env.output().contains("\"nfs\""), "{}", env.output());
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
    let o = Command::new(bin())
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
    env.start_to_end(id);
    let host = std::fs::read_to_string("/proc/net/dev").unwrap();
    assert_eq!(interfaces(&env.output()), interfaces(&host));
    assert!(env.rt(&["delete", id]).0);
}

#[test]
fn features_and_version() {
    let o = Command::new(bin()).arg("features").output().unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ociVersionMax"], "1.2.0");
    assert!(v["linux"]["namespaces"].as_array().unwrap().len() >= 7);
    let o = Command::new(bin()).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("spec: 1.2.0"));
}

/// `process.user` with a non-root uid, additional groups and a umask;
/// the bounding set as listed (one unknown name ignored, as runc does); `noNewPrivileges: false` with a seccomp filter leaves
/// no_new_privs off while the filter is in force; `oomScoreAdj` applied.
#[test]
fn process_user_caps_no_new_privs_oom() {
    let env = Env::new("user", &["true"]);
    let mut cfg = config(&[
        "sh",
        "-c",
        "grep -E '^(Uid|Gid|Groups|CapEff|CapBnd|NoNewPrivs):' /proc/self/status; umask; \
         cat /proc/self/oom_score_adj; hostname x 2>/dev/null || echo sethostname-denied",
    ]);
    cfg["process"]["user"] =
        serde_json::json!({"uid": 10, "gid": 10, "additionalGids": [5], "umask": 23});
    cfg["process"]["noNewPrivileges"] = false.into();
    cfg["process"]["oomScoreAdj"] = 300.into();
    cfg["process"]["capabilities"]["bounding"]
        .as_array_mut()
        .unwrap()
        .push("CAP_TEST".into());
    let out = run_to_end(&env, "it-user", &cfg);
    for want in [
        "Uid:\t10\t10\t10\t10",
        "Gid:\t10\t10\t10\t10",
        "Groups:\t5",
        // CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29)
        // bound; none effective for uid 10 after exec (no ambient), as runc.
        "CapEff:\t0000000000000000",
        "CapBnd:\t0000000020000420",
        "NoNewPrivs:\t0",
        "0027",
        "300",
        "sethostname-denied",
    ] {
        assert!(out.contains(want), "{want:?} missing: {out}");
    }
}

/// `linux.devices`: nodes made in the container's /dev with their type,
/// numbers, mode and owner; `cpus`/`mems`: the process runs on that cpuset.
#[test]
fn devices_and_cpuset() {
    let env = Env::new("dev", &["true"]);
    for a in ["ls", "grep"] {
        std::os::unix::fs::symlink("busybox", env.bundle().join("rootfs/bin").join(a)).unwrap();
    }
    let mut cfg = config(&[
        "sh",
        "-c",
        "ls -ln /dev/test1 /dev/test3; grep Cpus_allowed_list /proc/self/status",
    ]);
    cfg["linux"]["devices"] = serde_json::json!([
        {"path": "/dev/test1", "type": "c", "major": 10, "minor": 666,
         "fileMode": 416, "uid": 0, "gid": 5},
        {"path": "/dev/test3", "type": "p", "major": 0, "minor": 0, "fileMode": 420}
    ]);
    cfg["linux"]["resources"]["cpu"] = serde_json::json!({"cpus": "0", "mems": "0"});
    let out = run_to_end(&env, "it-dev", &cfg);
    let line = |name: &str| {
        out.lines()
            .find(|l| l.ends_with(name))
            .unwrap_or_else(|| panic!("{name} missing: {out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    let t1 = line("/dev/test1");
    assert_eq!((t1[0], t1[2], t1[3]), ("crw-r-----", "0", "5"), "{out}");
    assert_eq!((t1[4], t1[5]), ("10,", "666"), "{out}");
    assert!(line("/dev/test3")[0].starts_with("prw-r--r--"), "{out}");
    assert!(out.contains("Cpus_allowed_list:\t0\n"), "{out}");
}

/// `linux.resources.devices` denying /dev/zero, with CAP_MKNOD kept:
/// /dev/null works while /dev/zero and a node made for it (or for a disk)
/// cannot be opened; on a host with the v1 devices controller the rules
/// are in the container's own `devices.list`.
#[test]
fn resources_devices_deny_dev_zero() {
    devices_scenario("devcg", false);
}

/// The same enforced by the eBPF device program (pure cgroup v2's path),
/// through the runtime's test hook on a hybrid host.
#[test]
fn resources_devices_deny_dev_zero_by_ebpf() {
    devices_scenario("devbpf", true);
}

fn devices_scenario(name: &str, ebpf: bool) {
    let mut env = Env::new(name, &["true"]);
    if ebpf {
        env.vars.push(("RSANDBOX_OCI_DEVICES_EBPF", "1"));
    }
    for a in ["mknod", "head", "wc"] {
        std::os::unix::fs::symlink("busybox", env.bundle().join("rootfs/bin").join(a)).unwrap();
    }
    let mut cfg = config(&[
        "sh",
        "-c",
        "echo x > /dev/null && echo NULL_OK; \
         head -c 1 /dev/zero >/dev/null && echo ZERO_READ; \
         mknod /mnt/z c 1 5 && echo MKNOD_OK; head -c 1 /mnt/z >/dev/null && echo MADE_READ; \
         mknod /mnt/sda b 8 0 && head -c 1 /mnt/sda >/dev/null && echo DISK_READ; \
         echo END",
    ]);
    for set in ["bounding", "effective", "permitted"] {
        cfg["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push("CAP_MKNOD".into());
    }
    // The nodes are made on the host's disk (a tmpfs is nodev: every
    // open refused anyway), in a directory of the test's own.
    let scratch = env.dir.join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    cfg["mounts"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!(
            {"destination": "/mnt", "type": "bind", "source": scratch, "options": ["rbind", "rw"]}
        ));
    std::fs::create_dir_all(env.bundle().join("rootfs/mnt")).unwrap();
    cfg["linux"]["resources"]["devices"] = serde_json::json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
        {"allow": false, "type": "c", "major": 1, "minor": 5, "access": "rwm"}
    ]);
    let root = Path::new("/sys/fs/cgroup/devices");
    let have = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(" - cgroup ") && l.contains("devices"));
    let id = &format!("it-{name}");
    env.set_config(&cfg);
    env.create(id);
    let own = root.join("rsandbox-oci").join(id).join("devices.list");
    let list = std::fs::read_to_string(&own).unwrap_or_default();
    env.start_to_end(id);
    let (ok, _, err) = env.rt(&["delete", id]);
    assert!(ok, "delete: {err}");
    assert!(cgroup_dirs(id).is_empty(), "cgroup left behind");
    let out = env.output();
    assert!(out.contains("NULL_OK") && out.contains("END"), "{out}");
    if have {
        // The config's allow first, then the defaults; 1:5 denied again.
        let lines: Vec<&str> = list.lines().collect();
        assert_eq!(lines.first(), Some(&"c 10:229 rwm"), "{list}");
        assert!(lines.contains(&"c 1:3 rwm"), "{list}");
        assert!(!lines.iter().any(|l| l.starts_with("c 1:5 ")), "{list}");
    }
    assert!(!out.contains("not enforced"), "{out}");
    assert!(out.contains("MKNOD_OK"), "{out}");
    for bad in ["ZERO_READ", "MADE_READ", "DISK_READ"] {
        assert!(!out.contains(bad), "{bad}: {out}");
    }
    assert_eq!(out.matches("Operation not permitted").count(), 3, "{out}");
}

/// A user namespace whose maps leave host root unmapped (0 → 1000): the
/// container starts (its /dev is made with mapped ids) and runs as 0.
#[test]
fn user_namespace_with_the_runtime_unmapped() {
    let env = Env::new("userns", &["true"]);
    let mut cfg = config(&["sh", "-c", "id -u; cat /proc/self/uid_map"]);
    cfg["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"type": "user"}));
    cfg["linux"]["uidMappings"] =
        serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 2000}]);
    cfg["linux"]["gidMappings"] =
        serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 3000}]);
    let out = run_to_end(&env, "it-userns", &cfg);
    let mut l = out.lines();
    assert_eq!(l.next(), Some("0"), "{out}");
    let map: Vec<&str> = l.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(map, ["0", "1000", "2000"], "{out}");
}

/// `linux.resources.network` is enforced through net_cls / net_prio, or
/// refused where the host has no such hierarchy (as runc does).
#[test]
fn network_classid_enforced_or_refused() {
    let env = Env::new("netcls", &["sleep", "100"]);
    let mut cfg = config(&["sleep", "100"]);
    cfg["linux"]["resources"]["network"] = serde_json::json!({"classID": 1048577});
    env.set_config(&cfg);
    let id = "it-netcls";
    let have = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(" - cgroup ") && l.contains("net_cls"));
    let (ok, _, _) = env.rt(&["create", "--bundle", env.bundle().to_str().unwrap(), id]);
    if have {
        assert!(ok, "create: {}", env.output());
        let found = cgroup_dirs(id).iter().any(|d| {
            std::fs::read_to_string(d.join("net_cls.classid")).is_ok_and(|s| s.trim() == "1048577")
        });
        assert!(found, "no net_cls.classid under {:?}", cgroup_dirs(id));
        assert!(env.rt(&["delete", "--force", id]).0);
    } else {
        assert!(!ok);
        assert!(env.output().contains("net_cls"), "{}", env.output());
        assert!(cgroup_dirs(id).is_empty(), "cgroup left behind");
        assert!(!env.dir.join("root").join(id).exists(), "state left behind");
    }
}

/// Hooks: each kind runs at its point of the lifecycle with the state on
/// stdin (createContainer a host program in the container's uts namespace,
/// startContainer inside the container, where the hook's path is the
/// container's busybox); a failing createRuntime hook fails `create` and
/// leaves nothing behind.
#[test]
fn hooks_run_with_the_state_on_stdin() {
    let env = Env::new("hooks", &["true"]);
    let log = env.dir.join("hooks.log");
    let host_hook = |name: &str| {
        serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c",
            format!("read s; echo \"{name} $s\" >> {}", log.display())]})
    };
    let mut cfg = config(&["true"]);
    cfg["hooks"] = serde_json::json!({
        "createRuntime": [host_hook("createRuntime")],
        "prestart": [host_hook("prestart")],
        "createContainer": [{"path": "/bin/sh",
            "args": ["sh", "-c", format!("read s; hostname > {}/h; test -n \"$s\"",
                env.dir.display())]}],
        "startContainer": [{"path": "/bin/true"}],
        "poststart": [host_hook("poststart")],
        "poststop": [host_hook("poststop")]
    });
    run_to_end(&env, "it-hooks", &cfg);
    let h = std::fs::read_to_string(env.dir.join("h")).unwrap();
    assert_eq!(h, "box\n", "createContainer: the container's hostname");
    let text = std::fs::read_to_string(&log).unwrap();
    let states: Vec<(String, serde_json::Value)> = text
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_string(), serde_json::from_str(v).unwrap())
        })
        .collect();
    let kinds: Vec<&str> = states.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["createRuntime", "prestart", "poststart", "poststop"],
        "{text}"
    );
    for (k, st) in &states {
        assert_eq!(st["id"], "it-hooks", "{k}");
        assert_eq!(st["annotations"]["org.example.test"], "yes", "{k}");
    }
    assert_eq!(states[1].1["status"], "created");
    assert_eq!(states[2].1["status"], "running");
    assert_eq!(states[3].1["status"], "stopped");

    cfg["hooks"] = serde_json::json!({"createRuntime": [{"path": "/bin/false"}]});
    env.set_config(&cfg);
    let id = "it-hooks-fail";
    let (ok, _, _) = env.rt(&["create", "--bundle", env.bundle().to_str().unwrap(), id]);
    assert!(!ok);
    assert!(
        env.output().contains("hooks.createRuntime[0]"),
        "{}",
        env.output()
    );
    assert!(cgroup_dirs(id).is_empty(), "cgroup left behind");
    assert!(!env.dir.join("root").join(id).exists(), "state left behind");
}

/// The hooks that run at start and delete are the ones config.json had at
/// `create` (runtime-spec: later changes to the config do not affect the
/// container), saved in the state.
#[test]
fn hooks_are_the_ones_of_create_time() {
    let env = Env::new("hooks-at-create", &["true"]);
    let log = env.dir.join("hooks.log");
    let hook = |name: &str| {
        serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c",
            format!("echo {name} >> {}", log.display())]})
    };
    let mut cfg = config(&["true"]);
    cfg["hooks"] = serde_json::json!({
        "poststart": [hook("poststart-at-create")],
        "poststop": [hook("poststop-at-create")]
    });
    env.set_config(&cfg);
    let id = "it-hooks-at-create";
    env.create(id);
    cfg["hooks"] = serde_json::json!({
        "poststart": [hook("poststart-changed")],
        "poststop": [hook("poststop-changed")]
    });
    env.set_config(&cfg);
    env.start_to_end(id);
    assert!(env.rt(&["delete", id]).0);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(text, "poststart-at-create\npoststop-at-create\n");
}

/// An absolute program missing from the rootfs: `create` succeeds and the
/// container fails at `start` with a message on its stderr (runc 1.1's
/// behaviour; the program is looked for at exec).
#[test]
fn missing_program_fails_at_start() {
    let env = Env::new("noprog", &["/no/such/program"]);
    let id = "it-noprog";
    env.create(id);
    env.start_to_end(id);
    let out = env.output();
    assert!(
        out.contains("rsandbox: exec /no/such/program failed: errno 2"),
        "{out}"
    );
    assert!(env.rt(&["delete", id]).0);
}
