use super::*;

/// A runc-`spec`-like config for a bundle in `dir` (rootfs `dir/rootfs`).
fn sample() -> serde_json::Value {
    serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh", "-c", "true"],
            "env": ["PATH=/bin:/usr/bin", "TERM=xterm"],
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
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {
                "memory": {"limit": 67108864},
                "pids": {"limit": 32},
                "cpu": {"quota": 50000, "period": 100000}
            },
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"],
            "sysctl": {"net.ipv4.ping_group_range": "0 0"},
            "seccomp": {
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
            }
        },
        "annotations": {"org.example": "yes"}
    })
}

struct Bundle(PathBuf);
impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn bundle(cfg: &serde_json::Value) -> Bundle {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "rsandbox-oci-spec-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    for d in ["rootfs/bin", "rootfs/proc", "rootfs/dev", "rootfs/sys"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy("/bin/sh", dir.join("rootfs/bin/sh")).unwrap();
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    Bundle(dir)
}

fn map_json(cfg: &serde_json::Value) -> Res<Mapped> {
    let b = bundle(cfg);
    let (spec, warnings) = load(&b.0)?;
    let mut m = map(&spec, &b.0)?;
    m.warnings.extend(warnings);
    Ok(m)
}

#[test]
fn sample_maps_every_field() {
    let m = map_json(&sample()).unwrap();
    let sb = &m.sandbox;
    use rsandbox::Namespace::*;
    for ns in [Pid, Net, Ipc, Uts, Mount, Cgroup] {
        assert!(sb.has_ns(ns), "{ns:?}");
    }
    assert!(!sb.has_ns(User));
    let fs = sb.fs_config();
    assert!(fs.rootfs.as_ref().unwrap().ends_with("rootfs"));
    assert!(!fs.rootfs_writable);
    let kinds: Vec<String> = fs.steps.iter().map(|s| format!("{s:?}")).collect();
    let all = kinds.join("\n");
    assert!(all.contains("Proc { dst: \"/proc\" }"), "{all}");
    assert!(all.contains("Dev { dst: \"/dev\" }"), "{all}");
    assert!(
        all.contains(
            "Tmpfs { dst: \"/dev/shm\", size: 67108864, source: Some(\"shm\"), \
             mode: Some(1023) }"
        ),
        "{all}"
    );
    assert!(all.contains("Mqueue { dst: \"/dev/mqueue\" }"), "{all}");
    assert!(all.contains("Sysfs { dst: \"/sys\" }"), "{all}");
    assert!(all.contains("Mask { path: \"/proc/kcore\" }"), "{all}");
    assert!(all.contains("RemountRo { path: \"/proc/sys\" }"), "{all}");
    assert!(
        all.contains("src: \"/sys/fs/cgroup\", dst: \"/sys/fs/cgroup\", readonly: true"),
        "{all}"
    );
    assert_eq!(sb.limits().memory(), Some(64 << 20));
    assert_eq!(sb.limits().pids(), Some(32));
    assert_eq!(sb.limits().cpu(), Some(0.5));
    assert_eq!(sb.limits().rlimits().len(), 1);
    let caps = serde_json::to_value(sb.caps_config()).unwrap();
    assert_eq!(caps["drop"], true);
    assert_eq!(
        caps["sets"]["bounding"],
        serde_json::json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
    );
    assert_eq!(caps["no_new_privs"], true);
    assert!(sb.seccomp_config().policy().unwrap().is_some());
    assert_eq!(
        m.sysctls,
        vec![(
            "net",
            "net.ipv4.ping_group_range".to_string(),
            "0 0".to_string()
        )]
    );
    assert_eq!(
        m.annotations.get("org.example").map(String::as_str),
        Some("yes")
    );
    let env = sb.resolved_env();
    assert!(env.contains(&("TERM".into(), "xterm".into())));
    assert!(env.contains(&("PATH".into(), "/bin:/usr/bin".into())));
    assert_eq!(env.len(), 2);
    assert!(!m.warnings.iter().any(|w| w.contains("mqueue")));
    assert!(m.warnings.iter().any(|w| w.contains("/sys/fs/cgroup")));
}

fn refused(f: impl FnOnce(&mut serde_json::Value), needle: &str) {
    let mut cfg = sample();
    f(&mut cfg);
    let e = map_json(&cfg).unwrap_err().to_string();
    assert!(e.contains(needle), "{e:?} lacks {needle:?}");
}

#[test]
fn refusals_name_the_field() {
    refused(
        |c| {
            c["linux"]["namespaces"][0] =
                serde_json::json!({"type": "user", "path": "/proc/1/ns/user"})
        },
        "joining the user namespace by path",
    );
    refused(
        |c| c["linux"]["sysctl"] = serde_json::json!({"kernel.panic": "1"}),
        "not namespaced",
    );
    refused(
        |c| c["mounts"][0] = serde_json::json!({"destination": "/x", "type": "nfs", "source": "a"}),
        "type \"nfs\"",
    );
    refused(
        |c| {
            c["process"]["rlimits"] =
                serde_json::json!([{"type": "RLIMIT_RTPRIO", "hard": 1, "soft": 1}])
        },
        "process.rlimits",
    );
    refused(
        |c| c["linux"]["seccomp"]["defaultAction"] = "SCMP_ACT_NOTIFY".into(),
        "seccomp",
    );
}

/// A field rsandbox-oci does not implement and a field that is wrong are
/// told apart by their error's kind, not by its text.
#[test]
fn refusals_say_which_kind() {
    let mut cfg = sample();
    cfg["mounts"][0] = serde_json::json!({"destination": "/x", "type": "nfs", "source": "a"});
    let e = map_json(&cfg).unwrap_err();
    assert!(
        matches!(&e, OciError::Unsupported { field, .. } if field == "mounts"),
        "{e:?}"
    );
    let mut cfg = sample();
    cfg["linux"]["sysctl"] = serde_json::json!({"kernel.panic": "1"});
    let e = map_json(&cfg).unwrap_err();
    assert!(
        matches!(&e, OciError::Spec { field, .. } if field == "linux.sysctl"),
        "{e:?}"
    );
}

#[test]
fn user_namespace_maps_and_writable_root() {
    let mut cfg = sample();
    cfg["root"]["readonly"] = false.into();
    cfg["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"type": "user"}));
    cfg["linux"]["uidMappings"] =
        serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    cfg["linux"]["gidMappings"] =
        serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let m = map_json(&cfg).unwrap();
    assert!(m.sandbox.has_ns(rsandbox::Namespace::User));
    assert!(m.sandbox.fs_config().rootfs_writable);
    // The sample has its own ipc and network namespaces.
    let all = format!("{:?}", m.sandbox.fs_config().steps);
    assert!(all.contains("Mqueue {") && all.contains("Sysfs {"), "{all}");
}

#[test]
fn user_namespace_without_ipc_and_net_keeps_the_fallbacks() {
    let mut cfg = sample();
    cfg["linux"]["namespaces"] = serde_json::json!([
        {"type": "pid"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}
    ]);
    cfg["linux"]["uidMappings"] =
        serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    cfg["linux"]["gidMappings"] =
        serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    cfg["linux"].as_object_mut().unwrap().remove("sysctl");
    let m = map_json(&cfg).unwrap();
    let all = format!("{:?}", m.sandbox.fs_config().steps);
    assert!(
        !all.contains("Mqueue {") && !all.contains("Sysfs {"),
        "{all}"
    );
    assert!(
        all.contains("src: \"/sys\", dst: \"/sys\", readonly: true"),
        "{all}"
    );
    let w = m.warnings.join("\n");
    assert!(w.contains("mqueue on /dev/mqueue not mounted"), "{w}");
    assert!(w.contains("sysfs on /sys: the host's /sys is bound"), "{w}");
}

#[test]
fn no_capabilities_drops_all() {
    let mut cfg = sample();
    cfg["process"]
        .as_object_mut()
        .unwrap()
        .remove("capabilities");
    let m = map_json(&cfg).unwrap();
    let caps = serde_json::to_value(m.sandbox.caps_config()).unwrap();
    assert_eq!(caps["drop"], true);
    assert_eq!(caps["keep"], serde_json::json!([]));
}

#[test]
fn without_a_mount_namespace_the_filesystem_is_the_hosts() {
    let mut cfg = sample();
    cfg["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}, {"type": "uts"}]);
    cfg["linux"].as_object_mut().unwrap().remove("sysctl");
    let m = map_json(&cfg).unwrap();
    let fs = m.sandbox.fs_config();
    assert!(fs.rootfs.is_none() && fs.steps.is_empty(), "{fs:?}");
    assert!(!m.sandbox.has_ns(rsandbox::Namespace::Mount));
    let w = m.warnings.join("\n");
    assert!(w.contains("no mount namespace"), "{w}");
}

/// LSM labels are refused whether or not the host has the LSM (never
/// accepted with a warning: the confinement would be silently lost).
#[test]
fn lsm_labels_are_always_refused() {
    for (set, field) in [
        (("process", "apparmorProfile"), "process.apparmorProfile"),
        (("process", "selinuxLabel"), "process.selinuxLabel"),
        (("linux", "mountLabel"), "linux.mountLabel"),
    ] {
        let mut cfg = sample();
        cfg[set.0][set.1] = "system_u:object_r:x_t:s0".into();
        let e = map_json(&cfg).unwrap_err().to_string();
        assert!(e.starts_with(field), "{e}");
    }
}

#[test]
fn unknown_capabilities_are_ignored_with_a_warning() {
    let mut cfg = sample();
    cfg["process"]["capabilities"]["bounding"]
        .as_array_mut()
        .unwrap()
        .push("CAP_TEST".into());
    let m = map_json(&cfg).unwrap();
    let w = m.warnings.join("\n");
    assert!(
        w.contains("process.capabilities.bounding: \"CAP_TEST\""),
        "{w}"
    );
    let caps = serde_json::to_value(m.sandbox.caps_config()).unwrap();
    assert_eq!(
        caps["sets"]["bounding"],
        serde_json::json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
    );
}

/// The five sets map one by one (not collapsed into one kept list that the
/// core would raise into ambient); an ambient capability the kernel cannot
/// raise is left out with a warning, as runc does.
#[test]
fn capability_sets_are_kept_apart() {
    let mut cfg = sample();
    cfg["process"]["capabilities"] = serde_json::json!({
        "bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"],
        "effective": ["CAP_KILL"],
        "permitted": ["CAP_KILL", "CAP_CHOWN"],
        "inheritable": ["CAP_CHOWN"],
        "ambient": ["CAP_CHOWN", "CAP_KILL"]
    });
    let m = map_json(&cfg).unwrap();
    let sets = m.sandbox.caps_config().sets().unwrap();
    use rsandbox::CapSet as S;
    assert_eq!(
        sets.get(S::Bounding),
        ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"]
    );
    assert_eq!(sets.get(S::Effective), ["CAP_KILL"]);
    assert_eq!(sets.get(S::Permitted), ["CAP_CHOWN", "CAP_KILL"]);
    assert_eq!(sets.get(S::Inheritable), ["CAP_CHOWN"]);
    assert_eq!(sets.get(S::Ambient), ["CAP_CHOWN"]);
    let w = m.warnings.join("\n");
    assert!(w.contains("ambient: CAP_KILL not also permitted"), "{w}");
    assert!(m.sandbox.caps_config().keep().is_empty());
}

#[test]
fn no_new_privileges_is_explicit_both_ways() {
    let mut cfg = sample();
    let m = map_json(&cfg).unwrap();
    assert_eq!(
        serde_json::to_value(m.sandbox.caps_config()).unwrap()["no_new_privs"],
        true
    );
    cfg["process"]["noNewPrivileges"] = false.into();
    let m = map_json(&cfg).unwrap();
    assert_eq!(
        serde_json::to_value(m.sandbox.caps_config()).unwrap()["no_new_privs"],
        false
    );
}

#[test]
fn unknown_syscalls_are_dropped_with_a_warning() {
    let mut cfg = sample();
    cfg["linux"]["seccomp"]["syscalls"] = serde_json::json!([
        {"names": ["no_such_call", "kexec_load"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["another_unknown"], "action": "SCMP_ACT_ERRNO"}
    ]);
    let m = map_json(&cfg).unwrap();
    let w = m.warnings.join("\n");
    assert!(w.contains("no_such_call, another_unknown"), "{w}");
    let p = m.sandbox.seccomp_config().policy().unwrap().unwrap();
    assert_eq!(format!("{p:?}").matches("kexec_load").count(), 1);
}

#[test]
fn network_namespace_joined_by_path() {
    let mut cfg = sample();
    cfg["linux"]["namespaces"][1] =
        serde_json::json!({"type": "network", "path": "/proc/self/ns/net"});
    let m = map_json(&cfg).unwrap();
    assert!(!m.sandbox.has_ns(rsandbox::Namespace::Net));
    let v = serde_json::to_value(&m.sandbox).unwrap();
    assert_eq!(
        v["join_ns"],
        serde_json::json!([["net", "/proc/self/ns/net"]])
    );
}

#[test]
fn mount_namespace_joined_by_path_builds_the_rootfs_there() {
    let mut cfg = sample();
    cfg["linux"]["namespaces"][4] =
        serde_json::json!({"type": "mount", "path": "/proc/self/ns/mnt"});
    let m = map_json(&cfg).unwrap();
    assert!(!m.sandbox.has_ns(rsandbox::Namespace::Mount));
    assert!(m.sandbox.fs_config().rootfs.is_some());
    let v = serde_json::to_value(&m.sandbox).unwrap();
    assert_eq!(
        v["join_ns"],
        serde_json::json!([["mount", "/proc/self/ns/mnt"]])
    );
}

#[test]
fn sizes_parse() {
    assert_eq!(parse_size("65536k"), Some(64 << 20));
    assert_eq!(parse_size("1g"), Some(1 << 30));
    assert_eq!(parse_size("100"), Some(100));
    assert_eq!(parse_size("x"), None);
}
