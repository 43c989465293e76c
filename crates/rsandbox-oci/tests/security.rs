//! The escapes and weaknesses of the security review (issue 15), each
//! reproduced against the runtime: every test here fails on the tree the
//! review was done on, and passes once the finding is fixed.
//!
//! As root (containers need it), with probes run as `nobody` where the
//! attacker is another local user. Needs a static busybox.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// `args` run as nobody (uid and gid 65534, no groups).
fn as_nobody(args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(args)
        .output()
        .expect("setpriv (util-linux)")
}

/// F11: the state is the runtime's alone. Another user can neither read a
/// container's state (hooks' environments) nor open, and so `flock`, its
/// lock, which would block `state`, `kill`, `delete`... on it forever;
/// also when the root directory already existed with a looser mode.
#[test]
fn state_is_private_and_its_lock_cannot_be_held_by_others() {
    let env = Env::new("private", &["sleep", "100"]);
    let mut cfg = config(&["sleep", "100"]);
    cfg["hooks"] = serde_json::json!({"poststop": [
        {"path": "/bin/true", "env": ["API_TOKEN=s3cr3t"]}]});
    env.set_config(&cfg);
    let root = env.dir.join("root");
    env.create("it-private");
    // An older runtime (or an admin) made the root world-readable.
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.create("it-private2");
    assert_eq!(mode(&env.dir), 0o755, "the probe must reach the root");
    for id in ["it-private", "it-private2"] {
        let dir = root.join(id);
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        for f in ["lock", "state.json"] {
            assert_eq!(mode(&dir.join(f)), 0o600, "{id}/{f}");
        }
        let lock = dir.join("lock");
        let o = as_nobody(&["flock", "-x", "-n", lock.to_str().unwrap(), "true"]);
        assert!(
            !o.status.success(),
            "nobody took the lock of {id}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("Permission denied"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let o = as_nobody(&["cat", dir.join("state.json").to_str().unwrap()]);
        assert!(!o.status.success(), "nobody read the state of {id}");
        assert!(!String::from_utf8_lossy(&o.stdout).contains("s3cr3t"));
        assert_eq!(env.status(id), "created");
    }
}

/// F12: `linux.cgroupsPath` with `..` or naming the root cgroup is refused,
/// and so is a cgroup that already holds a process: `delete` (which kills
/// what its cgroup holds) then leaves that process alone.
#[test]
fn cgroups_path_is_checked() {
    let env = Env::new("cgpath", &["true"]);
    for (path, want) in [
        ("/../../../x", "\"..\""),
        ("/a/../../b", "\"..\""),
        ("../x", "\"..\""),
        ("/", "root cgroup"),
        ("/./", "root cgroup"),
    ] {
        let mut cfg = config(&["true"]);
        cfg["linux"]["cgroupsPath"] = path.into();
        env.set_config(&cfg);
        let (ok, _, _) = env.rt(&[
            "create",
            "--bundle",
            env.bundle().to_str().unwrap(),
            "it-cg",
        ]);
        assert!(!ok, "cgroupsPath {path:?} accepted");
        assert!(env.output().contains(want), "{path}: {}", env.output());
        assert!(!env.dir.join("root/it-cg").exists(), "state left behind");
    }

    // A cgroup of the test's own (cgroup2), holding a process.
    let v2 = unified_mount();
    let name = format!("rsandbox-oci-it-foreign-{}", std::process::id());
    let foreign = v2.join(&name);
    std::fs::create_dir(&foreign).unwrap();
    let mut victim = Command::new("sleep").arg("100").spawn().unwrap();
    std::fs::write(foreign.join("cgroup.procs"), victim.id().to_string()).unwrap();
    let mut cfg = config(&["true"]);
    cfg["linux"]["cgroupsPath"] = format!("/{name}").into();
    env.set_config(&cfg);
    let (ok, _, _) = env.rt(&[
        "create",
        "--bundle",
        env.bundle().to_str().unwrap(),
        "it-cg2",
    ]);
    let created = ok;
    if ok {
        // Before the fix: accepted, and delete killed the victim.
        let _ = env.rt(&["delete", "--force", "it-cg2"]);
    }
    let alive = victim.try_wait().unwrap().is_none();
    let _ = victim.kill();
    let _ = victim.wait();
    let _ = std::fs::remove_dir(&foreign);
    assert!(!created, "a cgroup holding a process was accepted");
    assert!(alive, "the foreign process was killed");
    assert!(
        env.output().contains("is not empty: 1 process(es) found"),
        "{}",
        env.output()
    );

    // Two containers given one cgroup: the second is refused, the first
    // keeps running.
    let mut cfg = config(&["sleep", "100"]);
    cfg["linux"]["cgroupsPath"] = format!("/rsandbox-oci-it-shared-{}", std::process::id()).into();
    env.set_config(&cfg);
    env.create("it-cg3");
    let (ok, _, _) = env.rt(&[
        "create",
        "--bundle",
        env.bundle().to_str().unwrap(),
        "it-cg4",
    ]);
    assert!(!ok, "a second container in one cgroup");
    assert_eq!(env.status("it-cg3"), "created");
    assert!(env.rt(&["delete", "--force", "it-cg3"]).0);
}

fn unified_mount() -> PathBuf {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mi.lines()
        .find(|l| l.contains(" - cgroup2 "))
        .and_then(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .expect("a cgroup2 hierarchy")
}

/// F13: `--pid-file` in a directory another user can write: symlinks
/// planted at the pid file and at the temporary path the runtime used to
/// write through are replaced or avoided, never followed.
#[test]
fn pid_file_never_follows_a_planted_symlink() {
    let env = Env::new("pidfile", &["sleep", "100"]);
    let shared = env.dir.join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let victim = env.dir.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let pid_file = shared.join("c.pid");
    for p in [pid_file.clone(), shared.join("c.rsandbox-tmp")] {
        std::os::unix::fs::symlink(&victim, &p).unwrap();
    }
    let id = "it-pidfile";
    let (ok, _, _) = env.rt(&[
        "create",
        "--bundle",
        env.bundle().to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        id,
    ]);
    assert!(ok, "create: {}", env.output());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let meta = std::fs::symlink_metadata(&pid_file).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the pid file is still a symlink"
    );
    let pid = env.state(id)["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    assert!(env.rt(&["delete", "--force", id]).0);
}

/// F4: a `createContainer` hook's path resolves on the host (the runtime's
/// namespace), never in the image: an image that ships the hook's path
/// gets nothing run, and create fails saying so.
#[test]
fn create_container_hook_is_never_the_images_program() {
    let env = Env::new("evilhook", &["true"]);
    let evil = env.bundle().join("rootfs/bin/evilhook");
    std::fs::write(&evil, "#!/bin/sh\necho ran > /tmp/evil\n").unwrap();
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(!Path::new("/bin/evilhook").exists());
    let mut cfg = config(&["true"]);
    cfg["hooks"] = serde_json::json!({"createContainer": [{"path": "/bin/evilhook"}]});
    env.set_config(&cfg);
    let id = "it-evilhook";
    let (ok, _, _) = env.rt(&["create", "--bundle", env.bundle().to_str().unwrap(), id]);
    assert!(!ok, "a hook from the image was run: {}", env.output());
    assert!(
        env.output().contains("hooks.createContainer[0]")
            && env.output().contains("runtime's namespace"),
        "{}",
        env.output()
    );
    assert!(!env.dir.join("root").join(id).exists(), "state left behind");
}

/// F4: a `createContainer` hook is the host's program (a script of the
/// test's own, which the image does not have), run in the container's
/// namespaces but its mount namespace, and in the container's cgroups.
#[test]
fn create_container_hook_runs_in_the_containers_namespaces_and_cgroups() {
    let env = Env::new("cchook", &["sleep", "100"]);
    let rec = env.dir.join("rec");
    let hook = env.dir.join("hook.sh");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nexec > {}\nhostname\nreadlink /proc/self/ns/net /proc/self/ns/pid\n\
             cat /proc/self/cgroup\n",
            rec.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cfg = config(&["sleep", "100"]);
    // Without a cgroup namespace, /proc/self/cgroup shows whole paths.
    cfg["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "cgroup");
    cfg["hooks"] = serde_json::json!({"createContainer": [{"path": hook}]});
    env.set_config(&cfg);
    let id = "it-cchook";
    env.create(id);
    let pid = env.state(id)["pid"].as_i64().unwrap();
    let text = std::fs::read_to_string(&rec).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("box"), "{text}");
    for ns in ["net", "pid"] {
        let want = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        assert_eq!(lines.next(), Some(want.to_str().unwrap()), "{ns}: {text}");
    }
    let cgroups: String = lines.map(|l| format!("{l}\n")).collect();
    assert_eq!(
        cgroups,
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap(),
        "the hook's cgroups"
    );
    assert!(env.rt(&["delete", "--force", id]).0);
}

/// F4 (the same class): a `startContainer` hook comes from the image, so
/// it runs as the container's process would (its capabilities,
/// no_new_privs, seccomp filter and cgroups), never with the runtime's.
#[test]
fn start_container_hook_has_only_the_containers_privileges() {
    let env = Env::new("schook", &["true"]);
    std::os::unix::fs::symlink("busybox", env.bundle().join("rootfs/bin/grep")).unwrap();
    let mut cfg = config(&["sh", "-c", "cat /tmp/hook; cat /proc/self/cgroup"]);
    cfg["hooks"] = serde_json::json!({"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c",
        "grep -E '^(CapEff|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status > /tmp/hook; \
         cat /proc/self/cgroup >> /tmp/hook"]}]});
    let out = run_to_end(&env, "it-schook", &cfg);
    for want in [
        // CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE: the config's.
        "CapEff:\t0000000020000420",
        "CapPrm:\t0000000020000420",
        "NoNewPrivs:\t1",
        "Seccomp:\t2",
    ] {
        assert!(out.contains(want), "{want:?}: {out}");
    }
    // The hook's cgroups (first) are the container process's (after).
    let cg: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("::") || l.contains(":/"))
        .collect();
    assert!(!cg.is_empty() && cg.len().is_multiple_of(2), "{out}");
    let (hook, proc) = cg.split_at(cg.len() / 2);
    assert_eq!(hook, proc, "{out}");
}

/// Docker's (runc's) 14 default capabilities: mask a80425fb.
const DOCKER_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The capability lines of /proc/self/status in `out`, as (name, mask).
fn cap_lines(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter(|l| l.starts_with("Cap"))
        .filter_map(|l| l.split_once(":\t"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn docker_caps_config(args: &[&str], uid: u32) -> serde_json::Value {
    let mut cfg = config(args);
    cfg["process"]["user"] = serde_json::json!({"uid": uid, "gid": uid});
    cfg["process"]["capabilities"] = serde_json::json!({
        "bounding": DOCKER_CAPS, "effective": DOCKER_CAPS, "permitted": DOCKER_CAPS
    });
    cfg
}

/// F5: a `USER 1000` container with Docker's 14 capabilities holds none of
/// them (inheritable, permitted, effective, ambient all 0) and only the
/// bounding set, as under runc; as root it gets what the config lists; an
/// ambient capability is there only when listed. `exec -u 1000` into a
/// root container gets none either.
#[test]
fn capability_sets_apply_separately() {
    let env = Env::new("caps", &["true"]);
    std::os::unix::fs::symlink("busybox", env.bundle().join("rootfs/bin/grep")).unwrap();
    let show = ["sh", "-c", "grep ^Cap /proc/self/status"];
    let zero = "0000000000000000";
    let out = run_to_end(&env, "it-caps-user", &docker_caps_config(&show, 1000));
    let want: Vec<(String, String)> = [
        ("CapInh", zero),
        ("CapPrm", zero),
        ("CapEff", zero),
        ("CapBnd", "00000000a80425fb"),
        ("CapAmb", zero),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(cap_lines(&out), want, "USER 1000: {out}");

    std::fs::write(env.dir.join("out.txt"), "").unwrap();
    let out = run_to_end(&env, "it-caps-root", &docker_caps_config(&show, 0));
    let all = "00000000a80425fb";
    let want: Vec<(String, String)> = [
        ("CapInh", zero),
        ("CapPrm", all),
        ("CapEff", all),
        ("CapBnd", all),
        ("CapAmb", zero),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(cap_lines(&out), want, "root: {out}");

    std::fs::write(env.dir.join("out.txt"), "").unwrap();
    let mut cfg = docker_caps_config(&show, 1000);
    cfg["process"]["capabilities"]["inheritable"] = serde_json::json!(["CAP_NET_BIND_SERVICE"]);
    cfg["process"]["capabilities"]["ambient"] = serde_json::json!(["CAP_NET_BIND_SERVICE"]);
    let out = run_to_end(&env, "it-caps-amb", &cfg);
    let nbs = "0000000000000400";
    let want: Vec<(String, String)> = [
        ("CapInh", nbs),
        ("CapPrm", nbs),
        ("CapEff", nbs),
        ("CapBnd", "00000000a80425fb"),
        ("CapAmb", nbs),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(cap_lines(&out), want, "ambient listed: {out}");

    // exec -u 1000 into a root container.
    env.set_config(&docker_caps_config(&["sleep", "100"], 0));
    let id = "it-caps-exec";
    env.create(id);
    assert!(env.rt(&["start", id]).0);
    let (ok, out, err) = env.rt(&[
        "exec",
        "--user",
        "1000:1000",
        id,
        "grep",
        "^Cap",
        "/proc/self/status",
    ]);
    assert!(ok, "{err}");
    let eff = cap_lines(&out);
    assert!(
        eff.iter()
            .filter(|(k, _)| k != "CapBnd")
            .all(|(_, v)| v == zero),
        "exec -u 1000: {out}"
    );
    assert!(env.rt(&["delete", "--force", id]).0);
}

/// Every descendant of `pid` (through `/proc/P/task/P/children`).
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let kids =
            std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
        for k in kids.split_whitespace().filter_map(|k| k.parse().ok()) {
            out.push(k);
            todo.push(k);
        }
    }
    out
}

/// `tests/data/probe.c` built static into `dir/probe`.
fn build_probe(dir: &Path) -> PathBuf {
    let src = dir.join("probe.c");
    std::fs::write(&src, include_str!("data/probe.c")).unwrap();
    let out = dir.join("probe");
    let st = Command::new("cc")
        .args(["-O1", "-static", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("cc (gcc, libc6-dev) builds the probe");
    assert!(st.success(), "compiling the probe failed");
    out
}

fn sha256(p: &Path) -> String {
    let o = Command::new("sha256sum").arg(p).output().unwrap();
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout)
        .split(' ')
        .next()
        .unwrap()
        .to_string()
}

/// `key=value` of a probe's output.
fn probe_value<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("{key} missing: {out}"))
}

/// Whether a process's exe link names the runtime's file (not a sealed
/// view: a memfd, or the binary's name alone on a detached overlay).
fn is_runtime_file(link: &str, runtime: &Path) -> bool {
    link.starts_with(runtime.parent().unwrap().to_str().unwrap())
}

/// The probe's verdicts on its target: never the runtime's file, never
/// written, no memory or environment of a runtime process reached.
fn assert_attack_failed(out: &str, runtime: &Path, what: &str) {
    let link = probe_value(out, "exe_link");
    assert!(
        !is_runtime_file(link, runtime),
        "{what}: /proc/PID/exe is the runtime's file: {out}"
    );
    assert_ne!(probe_value(out, "exe_write"), "WROTE", "{what}: {out}");
    assert!(
        probe_value(out, "mem_write").starts_with('E'),
        "{what}: /proc/PID/mem opened for writing: {out}"
    );
    assert!(
        probe_value(out, "environ").starts_with('E'),
        "{what}: /proc/PID/environ read: {out}"
    );
}

/// F2 (CVE-2019-5736's class): a container root with Docker's 14
/// capabilities attacks its pid 1, from the container's process and from
/// an `exec`'d one: `/proc/1/exe` is never the runtime's file and is not
/// writable, `/proc/1/mem` does not open for writing, `/proc/1/environ`
/// does not read; and a process `exec` leaves in the container's
/// namespaces runs from a sealed view, not the runtime's file. The
/// runtime (a copy, so a successful attack harms nothing else) has the
/// same bytes afterwards. The runtime's way as root: a read-only overlay.
#[test]
fn container_root_cannot_reach_the_runtime_binary() {
    attack_the_runtime("exe", false);
}

/// The same with the runtime running from a sealed memfd copy (its way
/// where it cannot mount an overlay; forced by its test hook).
#[test]
fn container_root_cannot_reach_the_runtime_binary_memfd() {
    attack_the_runtime("exe-memfd", true);
}

fn attack_the_runtime(name: &str, memfd: bool) {
    let mut env = Env::new(name, &["true"]);
    if memfd {
        env.vars.push(("RSANDBOX_OCI_SEALED_EXE", "memfd"));
    }
    let rt_dir = env.dir.join("rt");
    std::fs::create_dir(&rt_dir).unwrap();
    let runtime = rt_dir.join("rsandbox-oci");
    std::fs::copy(bin(), &runtime).unwrap();
    env.bin = runtime.clone();
    let before = sha256(&runtime);
    let probe = build_probe(&env.dir);
    std::fs::copy(&probe, env.bundle().join("rootfs/bin/probe")).unwrap();

    let id = format!("it-{name}");
    let out = run_to_end(
        &env,
        &id,
        &docker_caps_config(&["/bin/probe", "attack", "1"], 0),
    );
    assert_attack_failed(&out, &runtime, "container process against pid 1");

    env.set_config(&docker_caps_config(&["sleep", "100"], 0));
    let id = &format!("it-{name}-exec");
    env.create(id);
    assert!(env.rt(&["start", id]).0);
    let (ok, out, err) = env.rt(&["exec", id, "/bin/probe", "attack", "1"]);
    assert!(ok, "{err}");
    assert_attack_failed(&out, &runtime, "exec'd process against pid 1");
    // `exec` itself (whose forks enter the container) runs from the sealed
    // view, seen from the host while it waits for its process; and so do
    // the processes it left in the container's namespaces.
    let mut exec = Command::new(&env.bin)
        .arg("--root")
        .arg(env.dir.join("root"))
        .args(["exec", id, "sleep", "100"])
        .envs(env.vars.iter().copied())
        .spawn()
        .unwrap();
    let exec_pid = exec.id();
    let mut tree = Vec::new();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < until {
        tree = descendants(exec_pid);
        if tree.iter().any(|p| {
            std::fs::read_link(format!("/proc/{p}/exe")).is_ok_and(|e| e.ends_with("busybox"))
        }) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let exes: Vec<PathBuf> = std::iter::once(exec_pid)
        .chain(tree)
        .filter_map(|p| std::fs::read_link(format!("/proc/{p}/exe")).ok())
        .collect();
    let _ = exec.kill();
    let _ = exec.wait();
    assert!(exes.iter().any(|e| e.ends_with("busybox")), "{exes:?}");
    let sealed = if memfd { "/memfd:" } else { "/rsandbox-oci" };
    assert!(
        exes[0].to_string_lossy().starts_with(sealed),
        "exec runs {:?}, not the sealed view: {exes:?}",
        exes[0]
    );
    for e in &exes {
        assert!(
            !is_runtime_file(&e.to_string_lossy(), &runtime),
            "a process of exec runs the runtime's file: {exes:?}"
        );
    }
    let init = env.state(id)["pid"].as_i64().unwrap();
    let init_exe = std::fs::read_link(format!("/proc/{init}/exe")).unwrap();
    assert!(
        init_exe.to_string_lossy().starts_with("/memfd:"),
        "{init_exe:?}"
    );
    assert!(
        !is_runtime_file(&init_exe.to_string_lossy(), &runtime),
        "the container's pid 1 runs the runtime's file: {}",
        init_exe.display()
    );
    assert!(env.rt(&["delete", "--force", id]).0);
    assert_eq!(sha256(&runtime), before, "the runtime binary was changed");
}

/// `create` runs from the sealed view exactly where a container's process
/// could see its forks: with the host's PID namespace, or with
/// createContainer hooks (an `exec`'d process may be in the container
/// while they run); in a PID namespace of the container's own it does not
/// re-execute (nothing of the container runs yet). A createRuntime hook,
/// a child of `create`, reads which file `create` runs.
#[test]
fn create_runs_sealed_where_a_container_process_could_see_its_forks() {
    let env = Env::new("sealed-create", &["true"]);
    let record = env.dir.join("create-exe");
    let reader = serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c",
        format!("readlink /proc/$PPID/exe > {}", record.display())]});
    let runtime = Path::new(&env.bin).to_path_buf();
    let case = |id: &str, cfg: serde_json::Value, sealed: bool| {
        let _ = std::fs::remove_file(&record);
        run_to_end(&env, id, &cfg);
        let exe = std::fs::read_to_string(&record).expect("the hook ran");
        assert_eq!(
            !is_runtime_file(exe.trim(), &runtime),
            sealed,
            "{id}: create ran {exe:?}"
        );
    };
    let mut own = config(&["true"]);
    own["hooks"] = serde_json::json!({"createRuntime": [reader.clone()]});
    case("it-sealed-own-pid", own.clone(), false);

    let mut host_pid = own.clone();
    let nss = host_pid["linux"]["namespaces"].as_array_mut().unwrap();
    nss.retain(|n| n["type"] != "pid");
    case("it-sealed-host-pid", host_pid, true);

    let mut with_hook = own;
    with_hook["hooks"]["createContainer"] = serde_json::json!([{"path": "/bin/true"}]);
    case("it-sealed-cc-hook", with_hook, true);
}

/// The fd a runtime sends (SCM_RIGHTS) on the first connection to `l`.
fn recv_fd(l: &std::os::unix::net::UnixListener) -> std::os::fd::OwnedFd {
    use std::os::fd::{AsRawFd, FromRawFd};
    let (conn, _) = l.accept().unwrap();
    let mut data = [0u8; 64];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: a zeroed msghdr pointing at live buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    // SAFETY: recvmsg into the buffers above.
    let n = unsafe { libc::recvmsg(conn.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
    // SAFETY: the control buffer holds the runtime's one SCM_RIGHTS header.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        assert!(!c.is_null() && (*c).cmsg_type == libc::SCM_RIGHTS);
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
        std::os::fd::OwnedFd::from_raw_fd(fd)
    }
}

/// The devpts instance (st_dev) a pty master's terminals belong to.
fn pty_instance(master: &std::os::fd::OwnedFd) -> u64 {
    use std::os::fd::AsRawFd;
    // SAFETY: TIOCGPTPEER on our master returns a new fd (closed below).
    let slave = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDONLY | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    assert!(
        slave >= 0,
        "TIOCGPTPEER: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: fstat into a zeroed struct; closing our fd.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        assert_eq!(libc::fstat(slave, &mut st), 0);
        libc::close(slave);
        st.st_dev
    }
}

/// Read what the container wrote on its terminal until `want` shows up
/// (or the terminal closes).
fn read_pty(master: &std::os::fd::OwnedFd, want: &str) -> String {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let mut f = std::fs::File::from(master.try_clone().unwrap());
    let mut all = String::new();
    let mut buf = [0u8; 4096];
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !all.contains(want) && std::time::Instant::now() < until {
        let mut p = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one stack pollfd.
        if unsafe { libc::poll(&mut p, 1, 200) } <= 0 {
            continue;
        }
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => all.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    all
}

/// F17: the terminal comes from the container's own devpts (as with runc),
/// at `create` and at `exec -t`: `tty` names it in the container, and its
/// terminals are not the host's devpts instance.
#[test]
fn terminals_come_from_the_containers_own_devpts() {
    let env = Env::new("tty", &["true"]);
    for a in ["tty", "stat"] {
        std::os::unix::fs::symlink("busybox", env.bundle().join("rootfs/bin").join(a)).unwrap();
    }
    let host_pts = std::fs::metadata("/dev/pts").map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.dev()
    });
    let sock = env.dir.join("console.sock");
    let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let mut cfg = config(&["sh", "-c", "tty; echo DONE; sleep 100"]);
    cfg["process"]["terminal"] = true.into();
    env.set_config(&cfg);
    let id = "it-tty";
    let (ok, _, _) = env.rt(&[
        "create",
        "--bundle",
        env.bundle().to_str().unwrap(),
        "--console-socket",
        sock.to_str().unwrap(),
        id,
    ]);
    assert!(ok, "create: {}", env.output());
    let master = recv_fd(&l);
    assert!(env.rt(&["start", id]).0);
    let out = read_pty(&master, "DONE");
    assert!(out.contains("/dev/pts/0"), "tty in the container: {out:?}");
    let mine = pty_instance(&master);
    if let Ok(h) = host_pts {
        assert_ne!(mine, h, "the terminal is the host's devpts");
    }
    let pid = env.state(id)["pid"].as_i64().unwrap();
    let theirs = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/proc/{pid}/root/dev/pts"))
            .unwrap()
            .dev()
    };
    assert_eq!(mine, theirs, "the terminal is not the container's /dev/pts");

    // exec -t: a terminal of the same instance.
    let proc = serde_json::json!({
        "terminal": true, "user": {"uid": 0, "gid": 0}, "cwd": "/",
        "args": ["sh", "-c", "tty; echo EXECDONE"], "env": ["PATH=/bin"]
    });
    let pf = env.dir.join("proc.json");
    std::fs::write(&pf, proc.to_string()).unwrap();
    let rt = env.bin.clone();
    let root = env.dir.join("root");
    let child = std::thread::spawn(move || {
        Command::new(rt)
            .arg("--root")
            .arg(root)
            .args(["exec", "--tty", "--console-socket"])
            .arg(sock)
            .arg("--process")
            .arg(pf)
            .arg(id)
            .output()
            .unwrap()
    });
    let emaster = recv_fd(&l);
    let out = read_pty(&emaster, "EXECDONE");
    let o = child.join().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("/dev/pts/1"), "tty in exec: {out:?}");
    assert_eq!(pty_instance(&emaster), theirs, "exec's terminal");
    assert!(env.rt(&["delete", "--force", id]).0);
}

/// F10: an SELinux label or AppArmor profile is never accepted with a
/// warning (the confinement would be silently lost): create fails saying
/// why (here, where neither LSM is on or where one is), and leaves nothing.
#[test]
fn lsm_labels_are_refused_not_dropped() {
    let env = Env::new("lsm", &["true"]);
    for (i, (set, key, field)) in [
        ("process", "apparmorProfile", "process.apparmorProfile"),
        ("process", "selinuxLabel", "process.selinuxLabel"),
        ("linux", "mountLabel", "linux.mountLabel"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut cfg = config(&["true"]);
        cfg[set][key] = "system_u:system_r:container_t:s0".into();
        env.set_config(&cfg);
        let id = format!("it-lsm{i}");
        let (ok, _, _) = env.rt(&["create", "--bundle", env.bundle().to_str().unwrap(), &id]);
        assert!(!ok, "{field} accepted: {}", env.output());
        let out = env.output();
        assert!(
            out.contains(&format!(
                "{field}: \"system_u:system_r:container_t:s0\" asks for"
            )),
            "{out}"
        );
        assert!(
            !env.dir.join("root").join(&id).exists(),
            "state left behind"
        );
        assert!(cgroup_dirs(&id).is_empty(), "cgroup left behind");
    }
}
