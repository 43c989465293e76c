//! rsandbox-oci under containerd, through the runc shim v2
//! (`io.containerd.runc.v2`): the path a Kubernetes `RuntimeClass` takes.
//! containerd 1.6 is Debian's package (`scripts/setup.sh` installs it).
//!
//! The test starts its own containerd: its config, `root`, `state` and
//! socket in a fresh scratch directory, the CRI plugin and the plugins
//! that write outside those directories (`/opt/containerd`) disabled. It
//! runs in a mount namespace of its own (`unshare -m --propagation
//! private`) with a private tmpfs on `/run`, where the shim v2 keeps its
//! sockets (`/run/containerd/s`) whatever `state` says; the shims it starts
//! share that namespace, so their mounts never reach the host. A system
//! containerd, if any, is never used or stopped. `ctr run --runc-binary
//! rsandbox-oci --runc-root SCRATCH --rootfs DIR` runs containers from a
//! busybox root with cgroups under a parent of the test's own.
//!
//! A guard kills the test's containerd (by pid) and the shims naming the
//! scratch directory, and removes the cgroups and the scratch directory,
//! even when an assertion fails.
//!
//! Needs root (containerd does), containerd and a static busybox; it fails
//! (naming the package) when they are missing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rsandbox-oci");
/// Seconds one ctr command may take before it is killed.
const TIMEOUT: &str = "30";
/// The memory limit of the containers: 32 MiB.
const MEMORY: &str = "33554432";
/// 128 MiB in one buffer: OOM-killed under `MEMORY` (the shell reports 137).
const DD: &str = "dd if=/dev/zero of=/dev/null bs=128M count=1 2>/dev/null; echo dd=$?";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The test's containerd: killed, with what it started, on drop.
struct Containerd {
    child: Child,
    dir: PathBuf,
    cgroup_parent: String,
}

impl Containerd {
    fn sock(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    /// Start containerd in a private mount namespace; wait for its socket.
    fn start(dir: &Path, cgroup_parent: &str) -> Containerd {
        std::fs::create_dir_all(dir.join("fifo")).unwrap();
        let config = dir.join("config.toml");
        std::fs::write(&config, config_toml(dir)).unwrap();
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let script = format!(
            "mount -t tmpfs -o mode=0755 tmpfs /run && exec containerd --config '{}'",
            config.display()
        );
        let child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("run unshare (util-linux)");
        let c = Containerd {
            child,
            dir: dir.to_path_buf(),
            cgroup_parent: cgroup_parent.to_string(),
        };
        let until = Instant::now() + Duration::from_secs(20);
        while c.ctr_raw(&["version"]).status.code() != Some(0) {
            assert!(
                Instant::now() < until,
                "containerd did not answer on {}:\n{}",
                c.sock().display(),
                c.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    /// Run ctr on the test's socket and namespace, under `timeout`.
    fn ctr_raw(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .args(["-k", "5", TIMEOUT, "ctr", "--address"])
            .arg(self.sock())
            .args(["--namespace", "rsbtest"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run ctr (through coreutils' timeout)")
    }

    /// Run ctr; its exit code must be `code`. Returns stdout.
    fn expect(&self, code: i32, args: &[&str]) -> String {
        let o = self.ctr_raw(args);
        assert_eq!(
            o.status.code(),
            Some(code),
            "ctr {args:?}: {} (expected exit code {code})\nstdout: {}\nstderr: {}\n\
             containerd log:\n{}",
            o.status,
            text(&o.stdout),
            text(&o.stderr),
            self.log()
        );
        text(&o.stdout)
    }

    fn ok(&self, args: &[&str]) -> String {
        self.expect(0, args)
    }

    /// `ctr run` of the busybox root as container `id` with rsandbox-oci,
    /// the test's runc root, a cgroup under the test's parent and the
    /// memory limit.
    fn run(&self, code: i32, opts: &[&str], id: &str, argv: &[&str]) -> String {
        let cgroup = format!("{}/{id}", self.cgroup_parent);
        let runc_root = self.runc_root();
        let rootfs = self.dir.join("rootfs");
        let fifo = self.fifo_dir();
        let mut a = vec!["run", "--fifo-dir", fifo.to_str().unwrap()];
        a.extend_from_slice(&["--runc-binary", BIN, "--runc-root"]);
        a.push(runc_root.to_str().unwrap());
        // No image, so no image config: PATH as an image would set it
        // (runc, too, finds no `sh` without it).
        a.extend_from_slice(&["--env", "PATH=/bin"]);
        a.extend_from_slice(&["--cgroup", &cgroup, "--memory-limit", MEMORY]);
        a.extend_from_slice(opts);
        a.extend_from_slice(&["--rootfs", rootfs.to_str().unwrap(), id]);
        a.extend_from_slice(argv);
        self.expect(code, &a)
    }

    /// Where ctr makes the stdio fifos (by default `/run/containerd/fifo`
    /// on the host).
    fn fifo_dir(&self) -> PathBuf {
        self.dir.join("fifo")
    }

    /// `ctr task exec` in container `id`.
    fn exec(&self, code: i32, id: &str, exec_id: &str, argv: &[&str]) -> String {
        let fifo = self.fifo_dir();
        let mut a = vec!["task", "exec", "--fifo-dir", fifo.to_str().unwrap()];
        a.extend_from_slice(&["--exec-id", exec_id, id]);
        a.extend_from_slice(argv);
        self.expect(code, &a)
    }

    fn runc_root(&self) -> PathBuf {
        self.dir.join("runc-root")
    }

    /// Mount points under the scratch dir in containerd's namespace (where
    /// the shims and the containers' parents live).
    fn mounts_in_its_namespace(&self) -> Vec<String> {
        let mi = format!("/proc/{}/mountinfo", self.child.id());
        std::fs::read_to_string(mi)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| Path::new(m).starts_with(&self.dir))
            .collect()
    }
}

impl Drop for Containerd {
    /// Kill containerd by pid, then the shims it started (they name the
    /// scratch dir on their command line), then what is left in the
    /// test's cgroups; remove the cgroups and the scratch dir.
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: kill of the containerd this test started.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let until = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for (p, _) in processes_naming(&self.dir) {
            // SAFETY: kill of a shim of the test's containerd.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        remove_cgroups(&self.cgroup_parent);
        let until = Instant::now() + Duration::from_secs(5);
        while !processes_naming(&self.dir).is_empty() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// containerd's config: everything under `dir`; no CRI, no `/opt`
/// plugin, no snapshotter that probes the host's filesystems or modules.
fn config_toml(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "version = 2\n\
         root = \"{d}/root\"\n\
         state = \"{d}/state\"\n\
         disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.internal.v1.opt\", \
         \"io.containerd.snapshotter.v1.aufs\", \"io.containerd.snapshotter.v1.btrfs\", \
         \"io.containerd.snapshotter.v1.devmapper\", \"io.containerd.snapshotter.v1.zfs\", \
         \"io.containerd.tracing.processor.v1.otlp\"]\n\
         [grpc]\n  address = \"{d}/containerd.sock\"\n\
         [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\
         [debug]\n  address = \"\"\n"
    )
}

/// Every cgroup directory at and below `parent`, in every hierarchy,
/// deepest first.
fn cgroup_dirs(parent: &str) -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&e.path(), out);
            }
        }
        out.push(d.to_path_buf());
    }
    let mut out = Vec::new();
    let rel = parent.trim_start_matches('/');
    for h in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let d = h.path().join(rel);
        if d.is_dir() {
            walk(&d, &mut out);
        }
    }
    let d = Path::new("/sys/fs/cgroup").join(rel);
    if d.join("cgroup.procs").exists() && !out.contains(&d) {
        walk(&d, &mut out);
    }
    out
}

/// Pids in any cgroup at or below `parent`.
fn cgroup_pids(parent: &str) -> Vec<i32> {
    let mut v: Vec<i32> = cgroup_dirs(parent)
        .iter()
        .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
        .flat_map(|s| s.lines().filter_map(|l| l.parse().ok()).collect::<Vec<_>>())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Kill what is left in the test's cgroups and remove them.
fn remove_cgroups(parent: &str) {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let pids = cgroup_pids(parent);
        if pids.is_empty() || Instant::now() > until {
            break;
        }
        for p in pids {
            // SAFETY: kill of a process in the test's own cgroup.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for d in cgroup_dirs(parent) {
        let _ = std::fs::remove_dir(d);
    }
}

/// Processes whose command line names `dir` (the shims' do), except
/// this test's own.
fn processes_naming(dir: &Path) -> Vec<(i32, String)> {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = text(&cmd).replace('\0', " ");
            (pid != me && cmd.contains(&needle)).then_some((pid, cmd))
        })
        .collect()
}

fn installed(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The busybox root the containers run.
fn prepare_rootfs(dir: &Path) {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "proc", "dev", "sys", "tmp", "etc", "run"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("a static busybox is needed: apt-get install -y busybox-static");
    std::fs::copy(bb, rootfs.join("bin/busybox")).unwrap();
    for a in [
        "sh", "echo", "cat", "sleep", "dd", "ps", "readlink", "hostname", "wc",
    ] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
    }
}

/// Wait until `ctr task ls` shows `id` in `status` (columns: TASK PID
/// STATUS).
fn wait_status(c: &Containerd, id: &str, status: &str) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let ls = c.ok(&["task", "ls"]);
        let row = |l: &str| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() == 3 && f[0] == id && f[2] == status
        };
        if ls.lines().any(row) {
            return;
        }
        assert!(Instant::now() < until, "task {id} not {status}:\n{ls}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Processes in `ps -o pid,args` output, header left out.
fn ps_rows(out: &str) -> Vec<(u32, String)> {
    out.lines()
        .filter_map(|l| {
            let (pid, args) = l.trim().split_once(' ')?;
            Some((pid.parse().ok()?, args.trim().to_string()))
        })
        .collect()
}

/// Whether every process in `ps` is the container's: its init
/// (rsandbox-init, pid 1, when the payload is not pid 1) or one whose
/// command line contains one of `ours`.
fn only_ours(ps: &str, ours: &[&str]) -> bool {
    let rows = ps_rows(ps);
    rows.first().is_some_and(|r| r.0 == 1)
        && rows
            .iter()
            .all(|(_, args)| args == "rsandbox-init" || ours.iter().any(|o| args.contains(o)))
}

/// The host's file holding the memory limit of the cgroup a process
/// inside names in its `/proc/self/cgroup` (no cgroup namespace: host
/// paths), on cgroup v1 or v2.
fn memory_limit_file(proc_cgroup: &str) -> PathBuf {
    let field = |l: &str| {
        l.splitn(3, ':')
            .nth(2)
            .map(|p| p.trim_start_matches('/').to_string())
    };
    if let Some(p) = proc_cgroup
        .lines()
        .find(|l| l.split(':').nth(1) == Some("memory"))
    {
        return Path::new("/sys/fs/cgroup/memory")
            .join(field(p).unwrap())
            .join("memory.limit_in_bytes");
    }
    let p = proc_cgroup
        .lines()
        .find(|l| l.starts_with("0::"))
        .expect("a cgroup v2 line");
    Path::new("/sys/fs/cgroup")
        .join(field(p).unwrap())
        .join("memory.max")
}

/// `ctr run` to completion: output, exit code, namespaces, memory limit.
fn run_to_completion(c: &Containerd) {
    let script =
        "ps -o pid,args; echo pid=$$; readlink /proc/self/ns/pid; readlink /proc/self/ns/uts; \
                  hostname; exit 3";
    let out = c.run(3, &["--rm"], "c1", &["sh", "-c", script]);
    let (ps, rest) = out.split_once("\npid=").expect("ps, then pid=");
    assert!(
        only_ours(ps, &["sh -c ps"]),
        "only the container's processes:\n{ps}"
    );
    let lines: Vec<&str> = rest.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    let sh = ps_rows(ps).into_iter().find(|r| r.1.starts_with("sh -c"));
    assert_eq!(
        sh.map(|r| r.0.to_string()).as_deref(),
        Some(lines[0]),
        "$$: {out}"
    );
    let host_pid = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let host_uts = std::fs::read_link("/proc/self/ns/uts").unwrap();
    assert_ne!(Path::new(lines[1]), host_pid, "the host's pid namespace");
    assert_ne!(Path::new(lines[2]), host_uts, "the host's uts namespace");
    // ctr sets no hostname: the new uts namespace starts as a copy.
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(lines[3], host_name.trim(), "hostname: {out}");

    // The memory limit holds: 128 MiB under 32 MiB is OOM-killed.
    let out = c.run(0, &["--rm"], "c2", &["sh", "-c", DD]);
    assert_eq!(out, "dd=137\n", "dd should be OOM-killed under 32 MiB");
}

/// Read from inside: the pids limit of the process's own cgroup (cgroup
/// v1 `pids:` line, else the v2 `0::` one), through the cgroup mount.
const PIDS_MAX: &str = "p=$(grep :pids: /proc/self/cgroup); \
    if [ -n \"$p\" ]; then f=/sys/fs/cgroup/pids${p#*:pids:}/pids.max; \
    else p=$(grep ^0:: /proc/self/cgroup); f=/sys/fs/cgroup${p#0::}/pids.max; fi; \
    echo pids.max=$(cat $f)";

/// `ctr run --config`: a whole OCI spec, as an engine (the CRI plugin for
/// a Kubernetes pod) writes it, from `ctr oci spec` with a hostname, a
/// pids limit and a cgroup mount.
fn run_with_spec(c: &Containerd) {
    let mut spec: serde_json::Value = serde_json::from_str(&c.ok(&["oci", "spec"])).unwrap();
    spec["root"] = serde_json::json!({ "path": c.dir.join("rootfs") });
    spec["hostname"] = "rsb-box".into();
    spec["process"]["args"] = serde_json::json!(["sh", "-c", format!("hostname; {PIDS_MAX}")]);
    spec["process"]["env"] = serde_json::json!(["PATH=/bin"]);
    spec["linux"]["cgroupsPath"] = format!("{}/c4", c.cgroup_parent).into();
    spec["linux"]["resources"]["pids"] = serde_json::json!({ "limit": 16 });
    spec["mounts"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "ro"]
        }));
    let path = c.dir.join("spec.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    let (fifo, runc_root) = (c.fifo_dir(), c.runc_root());
    let out = c.ok(&[
        "run",
        "--rm",
        "--fifo-dir",
        fifo.to_str().unwrap(),
        "--runc-binary",
        BIN,
        "--runc-root",
        runc_root.to_str().unwrap(),
        "--config",
        path.to_str().unwrap(),
        "c4",
    ]);
    assert_eq!(
        out, "rsb-box\npids.max=16\n",
        "hostname and pids limit inside"
    );
}

/// `ctr run -d`, `task exec`, `task kill`, `task delete`.
fn detached(c: &Containerd) {
    c.run(0, &["-d"], "c3", &["sleep", "100"]);
    wait_status(c, "c3", "RUNNING");
    let cg = format!("{}/c3", c.cgroup_parent);
    let pids = cgroup_pids(&cg);
    assert!(
        !pids.is_empty(),
        "no process in the container's cgroup {cg}"
    );

    let out = c.exec(4, "c3", "e1", &["sh", "-c", "ps -o pid,args; exit 4"]);
    assert!(
        only_ours(&out, &["sleep 100", "ps -o"]),
        "exec's ps:\n{out}"
    );
    assert!(out.contains("sleep 100"), "exec sees the payload:\n{out}");
    // The exec'd process is in the container's cgroup, whose limit is
    // the one asked for, and holds.
    let inside = c.exec(0, "c3", "e2", &["cat", "/proc/self/cgroup"]);
    let limit = memory_limit_file(&inside);
    assert!(
        limit.to_string_lossy().contains(cg.trim_start_matches('/')),
        "the exec'd process is outside {cg}:\n{inside}"
    );
    let l = std::fs::read_to_string(&limit).unwrap();
    assert_eq!(l.trim(), MEMORY, "{}", limit.display());
    let out = c.exec(0, "c3", "e3", &["sh", "-c", DD]);
    assert_eq!(
        out, "dd=137\n",
        "exec: dd should be OOM-killed under 32 MiB"
    );

    // SIGTERM, as the kubelet sends first: rsandbox-init passes it on.
    c.ok(&["task", "kill", "c3"]);
    wait_status(c, "c3", "STOPPED");
    c.ok(&["task", "delete", "c3"]);
    c.ok(&["container", "delete", "c3"]);
    for p in &pids {
        assert!(!Path::new(&format!("/proc/{p}")).exists(), "pid {p} left");
    }
}

/// After the containers: nothing of theirs is left.
fn nothing_left(c: &Containerd) {
    let tasks = c.ok(&["task", "ls", "-q"]);
    assert!(tasks.trim().is_empty(), "tasks left: {tasks}");
    let cs = c.ok(&["container", "ls", "-q"]);
    assert!(cs.trim().is_empty(), "containers left: {cs}");
    let state: Vec<_> = std::fs::read_dir(c.runc_root())
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|ns| std::fs::read_dir(ns.path()).into_iter().flatten().flatten())
        .map(|e| e.path())
        .collect();
    assert!(state.is_empty(), "rsandbox-oci state left: {state:?}");
    let procs = cgroup_pids(&c.cgroup_parent);
    assert!(
        procs.is_empty(),
        "processes left in the test's cgroups: {procs:?}"
    );
    let parent = Path::new(&c.cgroup_parent).file_name().unwrap();
    let cgs: Vec<_> = cgroup_dirs(&c.cgroup_parent)
        .into_iter()
        .filter(|d| d.file_name() != Some(parent))
        .collect();
    assert!(cgs.is_empty(), "container cgroups left: {cgs:?}");
    let shims: Vec<_> = processes_naming(&c.dir)
        .into_iter()
        .filter(|(p, _)| *p != c.child.id() as i32)
        .collect();
    // The shim of a deleted task exits; give it a moment.
    let until = Instant::now() + Duration::from_secs(5);
    let mut left = shims;
    while !left.is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
        left = processes_naming(&c.dir)
            .into_iter()
            .filter(|(p, _)| *p != c.child.id() as i32)
            .collect();
    }
    assert!(left.is_empty(), "processes left: {left:?}");
    let m = c.mounts_in_its_namespace();
    assert!(m.is_empty(), "mounts left in containerd's namespace: {m:?}");
}

#[test]
fn containerd_runs_containers_with_rsandbox_oci() {
    // SAFETY: trivial getter.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "needs root (containerd does)");
    assert!(
        installed("containerd") && installed("ctr"),
        "containerd is not installed: apt-get install -y --no-install-recommends containerd \
         (scripts/setup.sh does)"
    );
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("rsandbox-oci-containerd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    prepare_rootfs(&dir);
    let cgroup_parent = format!("/rsandbox-oci-containerd-test-{}", std::process::id());
    let c = Containerd::start(&dir, &cgroup_parent);
    run_to_completion(&c);
    run_with_spec(&c);
    detached(&c);
    nothing_left(&c);
    drop(c);
    assert!(
        cgroup_dirs(&cgroup_parent).is_empty(),
        "cgroups not removed"
    );
    assert!(!dir.exists(), "scratch dir not removed");
    eprintln!("containerd end to end: {:.1?}", started.elapsed());
}
