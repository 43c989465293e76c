//! A real engine end to end: podman (Debian's package, as
//! `scripts/setup.sh` installs it), with rsandbox-oci registered as a
//! runtime in a `containers.conf`, runs an image imported from a busybox
//! root: `run --rm`, `run -d` + `exec` + `ps` + `stop` + `rm`,
//! `--network none`, `--memory`, terminals.
//!
//! podman drives the runtime as an engine does (its recorded sequence):
//! `create --bundle B --pid-file P ID` from conmon, `start ID`,
//! `kill ID 15` (then 9), `delete --force ID`, and
//! `exec --process F --detach --pid-file P ID`.
//!
//! The host is not changed: every podman command runs on one thread in a
//! private mount namespace, where podman's state directories outside the
//! test's own (`/run/rsandbox-oci`, the runtime's default root, and
//! `/var/lib/containers`, where podman 4.3 keeps its blob cache whatever
//! `--root` says) are private tmpfs mounts, and podman's own mounts (shm)
//! vanish with the namespace. Storage, run, tmp and network config
//! directories are the test's; cgroups live under a `--cgroup-parent` of
//! the test's own, removed at the end; the only network is `none`.
//!
//! Needs root, podman and a static busybox; it fails (naming the package)
//! when they are missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rsandbox-oci");
const IMAGE: &str = "localhost/rsandbox-oci-test-bb";
/// Seconds one podman command may take before it is killed.
const TIMEOUT: &str = "60";

/// Directories podman uses outside its `--root`/`--runroot`/`--tmpdir`,
/// hidden behind private tmpfs mounts in the test's mount namespace.
const SHADOWED: [&str; 2] = ["/run/rsandbox-oci", "/var/lib/containers"];

/// The test's scratch directory and cgroup parent.
struct Podman {
    dir: PathBuf,
    /// `--cgroup-parent` of every container (conmon's cgroup is
    /// `<parent>/conmon`).
    cgroup_parent: String,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Podman {
    /// Run podman; panics if it timed out.
    fn cmd(&self, args: &[&str]) -> Output {
        let o = self.cmd_raw(args);
        if o.status.code() == Some(124) {
            panic!(
                "podman {args:?} timed out after {TIMEOUT} s\nstdout: {}\nstderr: {}",
                text(&o.stdout),
                text(&o.stderr)
            );
        }
        o
    }

    /// Run podman under `timeout`, with the test's private configuration.
    fn cmd_raw(&self, args: &[&str]) -> Output {
        // In the scratch dir: conmon writes an `oom` file in its cwd.
        Command::new("timeout")
            .args(["-k", "5", TIMEOUT, "podman"])
            .current_dir(&self.dir)
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .env("TMPDIR", self.dir.join("tmp"))
            .arg("--root")
            .arg(self.dir.join("storage"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .arg("--tmpdir")
            .arg(self.dir.join("podman-tmp"))
            .args(["--storage-driver", "vfs"])
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(args)
            .output()
            .expect("run podman (through coreutils' timeout)")
    }

    /// Run podman; its exit code must be `code`. Returns stdout.
    fn expect(&self, code: i32, args: &[&str]) -> String {
        let o = self.cmd(args);
        assert_eq!(
            o.status.code(),
            Some(code),
            "podman {args:?}: {} (expected exit code {code})\nstdout: {}\nstderr: {}",
            o.status,
            text(&o.stdout),
            text(&o.stderr)
        );
        text(&o.stdout)
    }

    fn ok(&self, args: &[&str]) -> String {
        self.expect(0, args)
    }

    /// `podman run` with the test's cgroup parent and no network.
    fn run(&self, code: i32, opts: &[&str], argv: &[&str]) -> String {
        let mut a = vec![
            "run",
            "--network",
            "none",
            "--cgroup-parent",
            &self.cgroup_parent,
        ];
        a.extend_from_slice(opts);
        a.push(IMAGE);
        a.extend_from_slice(argv);
        self.expect(code, &a)
    }

    /// The container cgroups (`libpod-<id>`) left under the test's parent.
    fn container_cgroups(&self) -> Vec<PathBuf> {
        cgroup_dirs(&self.cgroup_parent)
            .into_iter()
            .filter(|d| {
                d.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("libpod-"))
            })
            .collect()
    }
}

impl Drop for Podman {
    /// Runs on the namespace's thread: stop what a failed test left, then
    /// unmount podman's mounts under the scratch dir.
    fn drop(&mut self) {
        let _ = self.cmd_raw(&["rm", "-af", "-t", "0"]);
        for m in mounts_under(&self.dir).iter().rev() {
            let c = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: umount2 of a mount in this thread's private namespace.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
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

/// Mount points at or below `dir` in this thread's mount namespace.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/thread-self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(PathBuf::from))
        .filter(|m| m.starts_with(dir))
        .collect()
}

/// Processes whose command line names `dir` (conmon's does).
fn processes_naming(dir: &Path) -> Vec<(i32, String)> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = text(&cmd).replace('\0', " ");
            cmd.contains(&needle).then_some((pid, cmd))
        })
        .collect()
}

/// Make the `SHADOWED` directories that do not exist (their mount points);
/// returns them, to be removed (empty on the host) at the end.
fn make_shadow_points() -> Vec<PathBuf> {
    let mut created = Vec::new();
    for d in SHADOWED {
        if !Path::new(d).exists() {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("mkdir {d}: {e}"));
            created.push(PathBuf::from(d));
        }
    }
    created
}

/// Move this thread into a private mount namespace with private tmpfs
/// mounts on `SHADOWED`.
fn enter_private_mount_ns() {
    // SAFETY: unshare of this thread's fs attributes and mount namespace,
    // then mounts in that new namespace only (made private first).
    unsafe {
        assert_eq!(
            libc::unshare(libc::CLONE_NEWNS | libc::CLONE_FS),
            0,
            "unshare(CLONE_NEWNS): {}",
            std::io::Error::last_os_error()
        );
        assert_eq!(
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ),
            0
        );
    }
    for d in SHADOWED {
        let c = std::ffi::CString::new(d).unwrap();
        // SAFETY: a tmpfs mount in this thread's private namespace.
        let r = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                c.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                c"mode=0700".as_ptr().cast(),
            )
        };
        assert_eq!(r, 0, "tmpfs on {d}: {}", std::io::Error::last_os_error());
    }
}

fn podman_installed() -> bool {
    Command::new("podman")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Build the busybox root, its tar and the `containers.conf`.
fn prepare(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    for d in ["tmp", "podman-tmp", "net"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("a static busybox is needed: apt-get install -y busybox-static");
    std::fs::copy(bb, rootfs.join("bin/busybox")).unwrap();
    for a in [
        "sh", "echo", "cat", "sleep", "dd", "true", "false", "ps", "readlink", "grep",
    ] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
    }
    let d = dir.display();
    std::fs::write(
        dir.join("containers.conf"),
        format!(
            "[containers]\n\
             default_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
             [engine]\n\
             runtime = \"rsandbox\"\n\
             image_copy_tmp_dir = \"{d}/tmp\"\n\
             [engine.runtimes]\n\
             rsandbox = [\"{BIN}\"]\n\
             runtime_supports_json = [\"rsandbox\"]\n\
             [network]\n\
             network_config_dir = \"{d}/net\"\n"
        ),
    )
    .unwrap();
    let tar = dir.join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .expect("run tar");
    assert!(st.success(), "tar of the busybox root: {st}");
    tar
}

/// Interface names in a `/proc/net/dev`.
fn interfaces(dev: &str) -> Vec<String> {
    dev.lines()
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.trim().to_string()))
        .collect()
}

/// The scenarios, on the namespace's thread.
fn scenarios(p: &Podman, tar: &Path) {
    p.ok(&["import", tar.to_str().unwrap(), IMAGE]);

    // run --rm: output, exit code, a pid namespace of its own.
    let out = p.run(3, &["--rm"], &["sh", "-c", "echo hi-$$; exit 3"]);
    assert_eq!(out, "hi-2\n", "run --rm output");

    // --network none: a network namespace of its own, with only lo.
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    let out = p.run(
        0,
        &["--rm"],
        &["sh", "-c", "readlink /proc/self/ns/net; cat /proc/net/dev"],
    );
    let (ns, dev) = out.split_once('\n').expect("readlink, then /proc/net/dev");
    assert_ne!(Path::new(ns), host_net, "--network none: the host's netns");
    assert_eq!(interfaces(dev), ["lo"], "--network none: {dev}");

    // -t: a terminal through the console socket.
    let out = p.run(
        0,
        &["--rm", "-t"],
        &["sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo is-tty"],
    );
    assert!(out.contains("is-tty"), "run -t: {out:?}");

    // --memory is enforced: 128 MiB in one buffer under a 32 MiB limit is
    // OOM-killed (SIGKILL: the shell around dd reports 137); the same
    // under 256 MiB succeeds.
    let dd = "dd if=/dev/zero of=/dev/null bs=128M count=1 2>/dev/null; echo dd=$?";
    let out = p.run(0, &["--rm", "--memory", "32m"], &["sh", "-c", dd]);
    assert_eq!(
        out, "dd=137\n",
        "dd should be OOM-killed under --memory 32m"
    );
    let out = p.run(0, &["--rm", "--memory", "256m"], &["sh", "-c", dd]);
    assert_eq!(out, "dd=0\n", "dd fits under --memory 256m");
    // The container's own process OOM-killed: podman reports 137.
    p.run(
        137,
        &["--rm", "--memory", "32m"],
        &["dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1"],
    );

    // run -d, ps, exec, stop, rm.
    let id = p.run(
        0,
        &["-d", "--name", "rsb-d", "--memory", "32m"],
        &["sleep", "100"],
    );
    let id = id.trim();
    assert_eq!(id.len(), 64, "run -d prints the container id: {id:?}");
    let ps = p.ok(&[
        "ps",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Names}} {{.State}}",
    ]);
    assert!(
        ps.lines().any(|l| l.starts_with(&format!("{id} rsb-d Up"))),
        "podman ps should show {id} rsb-d Up:\n{ps}"
    );
    let out = p.expect(4, &["exec", "rsb-d", "sh", "-c", "echo exec-$$; exit 4"]);
    assert!(
        out.strip_prefix("exec-")
            .is_some_and(|n| n.trim().parse::<u32>().is_ok_and(|n| n > 2)),
        "exec output: {out:?}"
    );
    // The exec'd process is in the container: it sees `sleep 100` in its
    // pid namespace, and the container's network namespace.
    let out = p.ok(&[
        "exec",
        "rsb-d",
        "sh",
        "-c",
        "ps -o pid,args; cat /proc/net/dev",
    ]);
    assert!(out.contains("sleep 100"), "exec's ps: {out}");
    assert_eq!(
        interfaces(out.split_once("Inter-").map_or("", |x| x.1)),
        ["lo"],
        "{out}"
    );
    // The exec'd process is in the container's cgroup: the container's
    // memory limit holds for it too.
    let out = p.ok(&["exec", "rsb-d", "sh", "-c", dd]);
    assert_eq!(
        out, "dd=137\n",
        "exec: dd should be OOM-killed under the container's --memory 32m"
    );
    let out = p.ok(&[
        "exec",
        "-t",
        "rsb-d",
        "sh",
        "-c",
        "[ -t 0 ] && echo exec-tty",
    ]);
    assert!(out.contains("exec-tty"), "exec -t: {out:?}");
    let t = Instant::now();
    p.ok(&["stop", "-t", "5", "rsb-d"]);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "stop should end the container with SIGTERM, before the 5 s grace"
    );
    let state = p.ok(&["inspect", "--format", "{{.State.Status}}", "rsb-d"]);
    assert_eq!(state.trim(), "exited", "after stop");
    p.ok(&["rm", "rsb-d"]);
    let ps = p.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!ps.contains("rsb-d"), "after rm: {ps}");

    // Nothing of the runtime's is left: no state, no container cgroup.
    let left: Vec<_> = std::fs::read_dir(SHADOWED[0])
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "rsandbox-oci state left: {left:?}");
    let cg = p.container_cgroups();
    assert!(cg.is_empty(), "container cgroups left: {cg:?}");
}

#[test]
fn podman_runs_containers_with_rsandbox_oci() {
    // SAFETY: trivial getter.
    assert_eq!(unsafe { libc::geteuid() }, 0, "needs root");
    assert!(
        podman_installed(),
        "podman is not installed: apt-get install -y --no-install-recommends podman \
         (scripts/setup.sh does)"
    );
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("rsandbox-oci-podman-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cgroup_parent = format!("/rsandbox-oci-podman-test-{}", std::process::id());
    let tar = prepare(&dir);

    let created = make_shadow_points();
    let (d, cg) = (dir.clone(), cgroup_parent.clone());
    // A panic anywhere on the thread (the scenarios, the clean-up of its
    // Drop) comes back as Err from join, after which the clean-up below
    // still runs.
    let result = std::thread::spawn(move || {
        enter_private_mount_ns();
        let p = Podman {
            dir: d,
            cgroup_parent: cg,
        };
        scenarios(&p, &tar);
    })
    .join();

    // Back in the host's namespace: podman's conmons are gone (they exit
    // with their containers), cgroups and the scratch dir are removed.
    let until = Instant::now() + Duration::from_secs(5);
    let mut procs = processes_naming(&dir);
    while !procs.is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
        procs = processes_naming(&dir);
    }
    let cgroup_procs = cgroup_pids(&cgroup_parent);
    remove_cgroups(&cgroup_parent);
    let cgroups_left = cgroup_dirs(&cgroup_parent);
    let _ = std::fs::remove_dir_all(&dir);
    for d in created.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    assert!(procs.is_empty(), "processes left: {procs:?}");
    assert!(
        cgroup_procs.is_empty(),
        "processes left in the test's cgroups: {cgroup_procs:?}"
    );
    assert!(
        cgroups_left.is_empty(),
        "cgroups not removed: {cgroups_left:?}"
    );
    assert!(mounts_under(&dir).is_empty(), "mounts left on the host");
    eprintln!("podman end to end: {:.1?}", started.elapsed());
}
