//! Resource limits seen from inside the box: cgroup memory/pids/cpu limits,
//! rlimits, wall-clock and CPU-time limits, and the Outcome that reports
//! them; cleanup seen from outside; bad input refused before spawn.
//!
//! Run as root on the hybrid host (v1 controllers real, cgroup2 at
//! /sys/fs/cgroup/unified). The `nobody_*` tests are `#[ignore]`d and run by
//! `rootless_scenarios` as uid 65534 from a copy of this binary.

#[path = "common/cgroup_dirs.rs"]
mod cgroup_dirs;
#[path = "common/guard.rs"]
mod guard;

use std::path::{Path, PathBuf};

use cgroup_dirs::our_cgroup_dirs;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rsandbox::cgroup::{v2, Layout};
use rsandbox::limits::{duration_from_secs, Resource};
use rsandbox::{Command, Error, Reason, Sandbox, Stdio};

/// Limits tests share 2 CPUs and the cgroup trees: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn sh(script: &str) -> Command {
    Command::from_argv(["/bin/sh", "-c", script])
}

fn py(script: &str) -> Command {
    Command::from_argv(["/usr/bin/python3", "-c", script])
}

fn stdout_of(o: &rsandbox::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn is_root() -> bool {
    // SAFETY: trivial getter.
    unsafe { libc::geteuid() == 0 }
}

/// Pids of live processes whose environment holds `marker`.
fn marked_processes(marker: &str) -> Vec<i32> {
    let needle = format!("RSBX_MARK={marker}");
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) {
            if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
                // Zombies awaiting their reaper have an empty environ; a
                // match is a live process.
                v.push(pid);
            }
        }
    }
    v
}

/// Wait (bounded) until no process carries `marker`.
fn assert_no_marked_processes(marker: &str) {
    let until = Instant::now() + Duration::from_secs(3);
    loop {
        let left = marked_processes(marker);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < until, "processes left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn marker(tag: &str) -> String {
    format!("{tag}-{}-{:?}", std::process::id(), Instant::now())
        .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "")
}

// ---------------------------------------------------------------- memory

#[test]
fn memory_touching_200mib_under_64mib_is_out_of_memory() {
    assert!(
        is_root(),
        "the cgroup tests need root on this host (v1 hierarchy)"
    );
    let _g = serial();
    let out = Sandbox::new()
        .pid_ns()
        .memory_limit(64 << 20)
        .output(&py("b = b'x' * (200 << 20)\nprint('survived', len(b))"))
        .unwrap();
    let o = &out.outcome;
    assert_eq!(o.reason, Reason::OutOfMemory, "{o:?}");
    assert!(o.oom_killed());
    assert!(!stdout_of(&out).contains("survived"));
    let cg = o.cgroup.as_ref().expect("cgroup stats");
    assert!(cg.oom_kills.unwrap() >= 1, "{cg:?}");
    let peak = cg.memory_peak.unwrap();
    assert!(peak <= 64 << 20, "peak {peak} over the limit");
    assert!(
        peak > 32 << 20,
        "peak {peak}: the payload never got near the limit"
    );
    assert!(cg.unapplied.is_empty());
    assert!(our_cgroup_dirs().is_empty(), "{:?}", our_cgroup_dirs());
}

#[test]
fn memory_untouched_1gib_mapping_is_fine() {
    let _g = serial();
    let out = Sandbox::new()
        .memory_limit(64 << 20)
        .output(&py(
            "import mmap\nm = mmap.mmap(-1, 1 << 30)\nm[0] = 1\nm[(1 << 30) - 1] = 1\nprint('ok')",
        ))
        .unwrap();
    assert_eq!(out.outcome.reason, Reason::Exited, "{:?}", out);
    assert!(out.outcome.success());
    assert_eq!(stdout_of(&out).trim(), "ok");
    let cg = out.outcome.cgroup.unwrap();
    assert_eq!(cg.oom_kills, Some(0));
    assert!(cg.memory_peak.unwrap() < 64 << 20);
}

// ---------------------------------------------------------------- pids

#[test]
fn fork_bomb_under_pids_limit_gets_eagain_and_host_stays_fine() {
    let _g = serial();
    // A bounded bomb: at most 200 forks, each child sleeps; the parent
    // reports how many it got before EAGAIN.
    let script = r#"
import os, sys, time, errno
n = 0
err = None
for i in range(200):
    try:
        pid = os.fork()
    except OSError as e:
        err = errno.errorcode[e.errno]
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    n += 1
print(n, err)
sys.stdout.flush()
"#;
    let started = Instant::now();
    let out = Sandbox::new()
        .pid_ns()
        .pids_limit(32)
        .timeout(Duration::from_secs(20))
        .output(&py(script))
        .unwrap();
    let text = stdout_of(&out);
    let mut it = text.split_whitespace();
    let n: u32 = it.next().unwrap().parse().unwrap();
    assert_eq!(it.next(), Some("EAGAIN"), "{text}");
    // init + python + forks ≤ 32.
    assert!((20..=31).contains(&n), "forked {n}");
    assert!(out.outcome.success(), "{:?}", out.outcome);
    let cg = out.outcome.cgroup.unwrap();
    assert!(cg.pids_peak.unwrap() <= 32, "{cg:?}");
    // The host is fine: a process outside starts at once, and the sleeping
    // children died with the box (the outcome came long before 30 s).
    assert!(started.elapsed() < Duration::from_secs(15));
    let t = Instant::now();
    assert!(std::process::Command::new("/bin/true")
        .status()
        .unwrap()
        .success());
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(our_cgroup_dirs().is_empty());
}

#[test]
fn real_fork_bomb_is_contained() {
    let _g = serial();
    let mark = marker("bomb");
    let o = Sandbox::new()
        .pids_limit(32)
        .env("RSBX_MARK", &mark)
        .stderr(Stdio::Null)
        .timeout(Duration::from_secs(2))
        .status(&sh("b() { b | b & }; b; sleep 100"))
        .unwrap();
    assert_eq!(o.reason, Reason::WallTimeLimit, "{o:?}");
    assert!(o.cgroup.unwrap().pids_peak.unwrap() <= 32);
    assert_no_marked_processes(&mark);
    assert!(our_cgroup_dirs().is_empty());
}

// ---------------------------------------------------------------- cpu

#[test]
fn cpu_limit_half_a_core_uses_about_half_the_wall_time() {
    let _g = serial();
    // Two spinning threads would use 2 cores unlimited; the quota caps the
    // tree at 0.5. Bounds are generous: this checks behaviour, not speed.
    let script = "import time\nt = time.time()\nwhile time.time() - t < 2.0: pass\n";
    let o = Sandbox::new().cpu_limit(0.5).status(&py(script)).unwrap();
    assert!(o.success(), "{o:?}");
    let cpu = o.cgroup.as_ref().unwrap().cpu_time.unwrap();
    let ratio = cpu.as_secs_f64() / o.wall_time.as_secs_f64();
    assert!(
        (0.15..=0.7).contains(&ratio),
        "cpu {cpu:?} over wall {:?}: ratio {ratio}",
        o.wall_time
    );
}

#[test]
fn cpu_weight_is_accepted() {
    let _g = serial();
    let o = Sandbox::new().cpu_weight(50).status(&sh("exit 0")).unwrap();
    assert!(o.success());
    assert!(std::fs::read_dir("/sys/fs/cgroup/cpu").is_ok());
}

#[test]
fn cpu_time_limit_ends_as_cpu_time_limit() {
    let _g = serial();
    let o = Sandbox::new()
        .cpu_time_limit(Duration::from_secs(1))
        .timeout(Duration::from_secs(20))
        .status(&sh("while :; do :; done"))
        .unwrap();
    assert_eq!(o.reason, Reason::CpuTimeLimit, "{o:?}");
    assert_eq!(o.signal(), Some(libc::SIGXCPU));
    let used = o.user_time + o.system_time;
    // RLIMIT_CPU is checked on scheduler ticks; rusage rounds differently.
    assert!(used >= Duration::from_millis(700), "{used:?}");
    // A payload that ignores SIGXCPU is killed at the hard limit (+1 s).
    let o = Sandbox::new()
        .cpu_time_limit(Duration::from_secs(1))
        .timeout(Duration::from_secs(20))
        .status(&sh("trap '' XCPU; while :; do :; done"))
        .unwrap();
    assert_eq!(o.reason, Reason::CpuTimeLimit, "{o:?}");
    assert_eq!(o.signal(), Some(libc::SIGKILL));
}

#[test]
fn cpu_time_limit_counts_the_whole_tree_with_a_cgroup() {
    let _g = serial();
    // Two spinners: each stays under the per-process RLIMIT_CPU, the tree
    // does not; the cgroup watch kills the tree.
    let o = Sandbox::new()
        .accounting(true)
        .cpu_time_limit(Duration::from_secs(1))
        .timeout(Duration::from_secs(30))
        .status(&sh("(while :; do :; done) & (while :; do :; done) & wait"))
        .unwrap();
    assert_eq!(o.reason, Reason::CpuTimeLimit, "{o:?}");
    let cpu = o
        .cgroup
        .as_ref()
        .and_then(|c| c.cpu_time)
        .expect("cgroup cpu time");
    assert!(cpu >= Duration::from_secs(1), "{cpu:?}");
}

// ---------------------------------------------------------------- wall time

fn timeout_case(script: &str, grace: Option<Duration>) {
    let mark = marker("timeout");
    let mut sb = Sandbox::new()
        .memory_limit(256 << 20)
        .env("RSBX_MARK", &mark)
        .timeout(Duration::from_secs(1));
    if let Some(g) = grace {
        sb = sb.grace(g);
    }
    let started = Instant::now();
    let o = sb.status(&sh(script)).unwrap();
    assert_eq!(o.reason, Reason::WallTimeLimit, "{o:?}");
    assert!(o.timed_out());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(o.wall_time >= Duration::from_secs(1));
    assert_no_marked_processes(&mark);
    assert!(our_cgroup_dirs().is_empty());
}

#[test]
fn timeout_on_sleep_is_wall_time_limit_and_leaves_nothing() {
    let _g = serial();
    timeout_case("sleep 100 & sleep 100", None);
    // Without a cgroup too: the process group does the job.
    let mark = marker("timeout-nocg");
    let o = Sandbox::new()
        .env("RSBX_MARK", &mark)
        .timeout(Duration::from_secs(1))
        .status(&sh("sleep 100"))
        .unwrap();
    assert_eq!(o.reason, Reason::WallTimeLimit);
    assert_no_marked_processes(&mark);
}

#[test]
fn timeout_on_sigterm_ignoring_payload_is_wall_time_limit() {
    let _g = serial();
    timeout_case(
        "trap '' TERM; sleep 100 & while :; do sleep 1; done",
        Some(Duration::from_millis(300)),
    );
    // With a PID namespace.
    let o = Sandbox::new()
        .pid_ns()
        .pids_limit(64)
        .timeout(Duration::from_secs(1))
        .grace(Duration::from_millis(200))
        .status(&sh("trap '' TERM; while :; do sleep 1; done"))
        .unwrap();
    assert_eq!(o.reason, Reason::WallTimeLimit, "{o:?}");
}

// ---------------------------------------------------------------- rlimits

fn rlimit_nofile_gives_emfile() {
    let out = Sandbox::new()
        .rlimit_nofile(16)
        .output(&py(
            "import os, errno\nfds = []\ntry:\n    while True: fds.append(os.open('/dev/null', os.O_RDONLY))\nexcept OSError as e:\n    print(errno.errorcode[e.errno], len(fds))",
        ))
        .unwrap();
    let s = stdout_of(&out);
    assert!(s.starts_with("EMFILE "), "{s} {:?}", out.outcome);
    let n: usize = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(n < 16, "{n}");
}

fn rlimit_fsize_gives_sigxfsz_and_efbig(dir: &Path) {
    let f = dir.join("big");
    let o = Sandbox::new()
        .rlimit_fsize(10_000)
        .stderr(Stdio::Null)
        .status(&Command::from_argv([
            "/usr/bin/dd".into(),
            "if=/dev/zero".into(),
            format!("of={}", f.display()),
            "bs=1000".into(),
            "count=100".into(),
        ]))
        .unwrap();
    assert_eq!(o.signal(), Some(libc::SIGXFSZ), "{o:?}");
    assert_eq!(o.reason, Reason::Signaled);
    assert_eq!(std::fs::metadata(&f).unwrap().len(), 10_000);
    let out = Sandbox::new()
        .rlimit_fsize(10_000)
        .output(&py(&format!(
            "import signal, os, errno\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n\
             fd = os.open('{}', os.O_WRONLY | os.O_TRUNC)\nos.write(fd, b'x' * 10000)\n\
             try:\n    os.write(fd, b'x')\nexcept OSError as e:\n    print(errno.errorcode[e.errno])",
            f.display()
        )))
        .unwrap();
    assert_eq!(stdout_of(&out).trim(), "EFBIG", "{:?}", out);
    let _ = std::fs::remove_file(&f);
}

fn rlimit_as_gives_enomem() {
    let out = Sandbox::new()
        .rlimit_as(256 << 20)
        .output(&py(
            "import mmap, errno\ntry:\n    mmap.mmap(-1, 1 << 30)\n    print('mapped')\nexcept OSError as e:\n    print(errno.errorcode[e.errno])",
        ))
        .unwrap();
    assert_eq!(stdout_of(&out).trim(), "ENOMEM", "{:?}", out);
}

fn rlimit_core_is_zero_by_default_and_soft_below_hard() {
    let out = Sandbox::new()
        .rlimit(Resource::Stack, 4 << 20, 8 << 20)
        .output(&sh("ulimit -c; ulimit -Ss; ulimit -Hs"))
        .unwrap();
    assert_eq!(stdout_of(&out), "0\n4096\n8192\n");
}

#[test]
fn rlimits_seen_from_inside() {
    let _g = serial();
    rlimit_nofile_gives_emfile();
    let dir = tempdir("fsize");
    rlimit_fsize_gives_sigxfsz_and_efbig(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    rlimit_as_gives_enomem();
    rlimit_core_is_zero_by_default_and_soft_below_hard();
}

#[test]
fn raising_a_hard_rlimit_is_a_privilege_error_before_spawn() {
    // Root here lacks CAP_SYS_RESOURCE and the nofile hard limit is 20000.
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one struct.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur) }, 0);
    if cur.rlim_max == libc::RLIM_INFINITY {
        return; // nothing above unlimited
    }
    let caps = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = caps
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    let e = Sandbox::new().rlimit_nofile(cur.rlim_max + 1).validate();
    if eff & (1 << 24) == 0 {
        assert!(matches!(e, Err(Error::Privilege { .. })), "{e:?}");
    } else {
        assert!(e.is_ok());
    }
}

// ---------------------------------------------------------------- cleanup

#[test]
fn three_hundred_sandboxes_leave_nothing_behind() {
    let _g = serial();
    let mark = marker("many");
    for i in 0..300 {
        let mut sb = Sandbox::new()
            .memory_limit(64 << 20)
            .pids_limit(16)
            .env("RSBX_MARK", &mark)
            .stdout(Stdio::Null)
            .stderr(Stdio::Null);
        if i % 3 == 0 {
            sb = sb.pid_ns();
        }
        let cmd = match i % 10 {
            0 => {
                sb = sb.timeout(Duration::from_millis(50));
                sh("sleep 10 & sleep 10")
            }
            1 | 2 => sh("exit 3"),
            3 => Command::new("/nonexistent/program"),
            4 => sh("sleep 10 & exit 0"),
            _ => sh("true"),
        };
        match sb.spawn(&cmd) {
            Ok(mut c) => {
                let o = c.wait().unwrap();
                match i % 10 {
                    0 => assert_eq!(o.reason, Reason::WallTimeLimit),
                    1 | 2 => assert_eq!(o.exit_code(), Some(3)),
                    _ => {}
                }
            }
            Err(e) => assert_eq!(i % 10, 3, "{e}"),
        }
    }
    assert_no_marked_processes(&mark);
    let left = our_cgroup_dirs();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn dropped_child_and_explicit_kill_remove_the_cgroup() {
    let _g = serial();
    let mark = marker("drop");
    let c = Sandbox::new()
        .memory_limit(64 << 20)
        .env("RSBX_MARK", &mark)
        .spawn(&sh("sleep 100 & sleep 100"))
        .unwrap();
    assert!(!our_cgroup_dirs().is_empty());
    drop(c);
    assert_no_marked_processes(&mark);
    assert!(our_cgroup_dirs().is_empty());

    let mut c = Sandbox::new()
        .pids_limit(10)
        .env("RSBX_MARK", &mark)
        .spawn(&sh("sleep 100 & sleep 100"))
        .unwrap();
    c.kill().unwrap();
    let o = c.wait().unwrap();
    assert_eq!(o.reason, Reason::Killed);
    assert_no_marked_processes(&mark);
    assert!(our_cgroup_dirs().is_empty());
}

#[test]
fn stale_cgroup_of_a_dead_parent_is_swept() {
    let _g = serial();
    // A dead pid: a child we started and reaped.
    let mut p = std::process::Command::new("/bin/true").spawn().unwrap();
    let dead = p.id();
    p.wait().unwrap();
    let l = Layout::detect().unwrap();
    let parent = l.v1_self_dir("pids").unwrap();
    let stale = parent.join(format!("rsandbox-{dead}-7"));
    std::fs::create_dir(&stale).unwrap();
    let o = Sandbox::new().pids_limit(8).status(&sh("true")).unwrap();
    let exists = stale.exists();
    let _ = std::fs::remove_dir(&stale);
    assert!(o.success());
    // The sweep runs once per parent directory per process: another test
    // may have swept before this dir existed; then sweep in a fresh process.
    if exists {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "--ignored", "sweep_helper", "--test-threads=1"])
            .env("RSBX_STALE", &stale)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
#[ignore = "run by stale_cgroup_of_a_dead_parent_is_swept"]
fn sweep_helper() {
    let stale = PathBuf::from(std::env::var_os("RSBX_STALE").unwrap());
    std::fs::create_dir(&stale).unwrap();
    let o = Sandbox::new().pids_limit(8).status(&sh("true")).unwrap();
    assert!(o.success());
    assert!(!stale.exists(), "stale cgroup {stale:?} not swept");
}

// ---------------------------------------------------------------- devices

/// The v1 `devices` hierarchy's root, when this host mounts one.
fn devices_hierarchy() -> Option<PathBuf> {
    Layout::detect().unwrap().v1_mounts.get("devices").cloned()
}

#[test]
fn device_rules_refuse_opening_a_made_node() {
    let Some(root) = devices_hierarchy() else {
        eprintln!(
            "SKIP device_rules_refuse_opening_a_made_node: no cgroup v1 devices \
             hierarchy on this host (pure cgroup v2: device rules are Error::Unsupported)"
        );
        return;
    };
    assert!(is_root(), "the device cgroup test needs root (mknod)");
    let _g = serial();
    let before = std::fs::read_dir(&root).unwrap().count();
    // The nodes are made in a scratch directory of the host's disk (a
    // tmpfs of the box would be mounted nodev: every open refused anyway).
    let dir = tempdir("devices");
    let script = format!(
        "cd {}
         echo hi > /dev/null && echo NULL_OK
         grep devices /proc/self/cgroup
         mknod zero c 1 5 && echo MKNOD_OK
         head -c 1 zero 2>&1 >/dev/null
         head -c 1 /dev/zero 2>&1 >/dev/null
         mknod sda b 8 0 2>&1 || echo MKNOD_BLOCK_REFUSED",
        dir.display()
    );
    // Deny everything, then allow /dev/null, and mknod of character
    // devices (so the made node exists and only its open is refused).
    let child = Sandbox::new()
        .keep_caps(["CAP_MKNOD"])
        .device_rules([
            rsandbox::DeviceRule::deny_all(),
            rsandbox::DeviceRule::allow('c', Some(1), Some(3), "rwm"),
            rsandbox::DeviceRule::allow('c', None, None, "m"),
        ])
        .stdout(Stdio::Pipe)
        .stderr(Stdio::Pipe)
        .spawn(&sh(&script));
    let child = child.inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&dir);
    });
    let child = child.unwrap();
    let devices = child
        .enforcement()
        .layers
        .iter()
        .find(|l| l.layer == "limit:devices")
        .cloned()
        .expect("a limit:devices layer");
    let out = child.wait_with_output().unwrap();
    // Without the rules, the same made node opens (the refusal is the
    // cgroup's, not the filesystem's or the capabilities').
    let _ = std::fs::remove_file(dir.join("zero"));
    let o = Sandbox::new()
        .keep_caps(["CAP_MKNOD"])
        .output(&sh(&format!(
            "cd {} && mknod zero c 1 5 && head -c 3 zero | wc -c",
            dir.display()
        )))
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        devices.enforcement,
        rsandbox::Enforcement::Full,
        "{devices:?}"
    );
    assert!(
        devices
            .applied
            .starts_with("cgroup v1 devices: deny by default; allowed: "),
        "{devices:?}"
    );
    let t = stdout_of(&out);
    for want in ["NULL_OK", "rsandbox-", "MKNOD_OK", "MKNOD_BLOCK_REFUSED"] {
        assert!(t.contains(want), "missing {want}:\n{t}");
    }
    // Both opens of c 1:5 (the made node and the host's /dev/zero), and the
    // block mknod: refused by the device cgroup (EPERM).
    assert_eq!(
        t.matches("Operation not permitted").count(),
        3,
        "expected EPERM from both opens of 1:5 and the block mknod:\n{t}"
    );
    assert_eq!(stdout_of(&o).trim(), "3", "{o:?}");
    assert!(our_cgroup_dirs().is_empty(), "{:?}", our_cgroup_dirs());
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), before);
}

/// The eBPF device program (pure cgroup v2's enforcement), seen from a
/// root box with a mount namespace: the rules' verdicts on opening the
/// box's /dev/null (c 1:3) and /dev/zero (c 1:5), under a default deny and
/// a default allow, with partial access (an open is allowed only when every
/// requested access is), and /dev/null opening without rules. `hook`: use
/// the test hook (a hybrid host, where the program goes to the `unified`
/// hierarchy); the pure-v2 VM runs it without. `parent`: cgroup_parent.
fn ebpf_device_rules_hold(hook: bool, parent: Option<&str>) {
    use rsandbox::DeviceRule as R;
    let run = |rules: Vec<R>, script: &str| {
        let mut sb = Sandbox::new().mount_ns();
        if let Some(p) = parent {
            sb = sb.cgroup_parent(p);
        }
        if !rules.is_empty() {
            sb = sb.device_rules(rules).device_rules_via_ebpf(hook);
        }
        let child = sb
            .stdout(Stdio::Pipe)
            .stderr(Stdio::Pipe)
            .spawn(&sh(script))
            .unwrap();
        let layer = child.enforcement().layer("limit:devices").cloned().unwrap();
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            stdout_of(&out),
            String::from_utf8_lossy(&out.stderr)
        );
        (layer, text)
    };
    // Each line: NAME_OK when the access worked, else the shell's error.
    let probe = "cat /dev/null && echo NULL_READ_OK
                 echo x > /dev/null && echo NULL_WRITE_OK
                 head -c 1 /dev/zero | wc -c
                 echo x > /dev/zero && echo ZERO_WRITE_OK";
    // Refusals of `dev`, as dash, coreutils or busybox (the VM) word them.
    let denied = |t: &str, dev: &str| {
        t.lines()
            .filter(|l| l.contains(dev) && l.ends_with("Operation not permitted"))
            .count()
    };
    // Default deny, /dev/zero readable only.
    let (layer, t) = run(
        vec![R::deny_all(), R::allow('c', Some(1), Some(5), "r")],
        probe,
    );
    assert_eq!(layer.enforcement, rsandbox::Enforcement::Full, "{layer:?}");
    assert!(
        layer.applied.contains("eBPF BPF_CGROUP_DEVICE"),
        "{layer:?}"
    );
    assert!(layer.applied.contains("allowed: c 1:5 r"), "{layer:?}");
    assert_eq!(denied(&t, "/dev/null"), 2, "{t}");
    assert_eq!(denied(&t, "/dev/zero"), 1, "{t}");
    assert!(t.starts_with("1\n"), "{t}");
    assert!(!t.contains("_OK"), "{t}");
    // Default allow, /dev/null denied for writing only.
    // (A number past i32::MAX: the verifier takes its 32-bit compare.)
    let rules = vec![
        R::deny('c', Some(1), Some(3), "w"),
        R::deny('b', Some(3_000_000_000), None, "rwm"),
    ];
    let (layer, t) = run(rules, probe);
    assert!(
        layer.applied.contains("allow by default; denied: c 1:3 w"),
        "{layer:?}"
    );
    assert!(t.contains("NULL_READ_OK"), "{t}");
    assert_eq!(denied(&t, "/dev/null"), 1, "{t}");
    assert!(t.contains("ZERO_WRITE_OK"), "{t}");
    // Everything denied but /dev/zero: `cat /dev/null` fails with EPERM,
    // `head -c1 /dev/zero` works.
    let (_, t) = run(
        vec![R::deny_all(), R::allow('c', Some(1), Some(5), "rwm")],
        "cat /dev/null || echo NULL_DENIED; head -c1 /dev/zero | wc -c",
    );
    assert!(t.contains("NULL_DENIED\n1\n"), "{t}");
    assert_eq!(denied(&t, "/dev/null"), 1, "{t}");
    // Without rules, the same box opens /dev/null.
    let (layer, t) = run(vec![], "cat /dev/null && echo NULL_READ_OK");
    assert_eq!(layer.enforcement, rsandbox::Enforcement::NotRequested);
    assert_eq!(t, "NULL_READ_OK\n");
    assert!(our_cgroup_dirs().is_empty(), "{:?}", our_cgroup_dirs());
}

/// The v2 path on this hybrid host, through the test hook: the program is
/// attached to the box's directory in the `unified` hierarchy.
#[test]
fn ebpf_device_rules_on_the_unified_hierarchy() {
    let l = Layout::detect().unwrap();
    assert!(is_root(), "loading an eBPF device program needs root");
    assert!(
        l.v2_mount.is_some(),
        "no cgroup2 hierarchy on this host: {l:?}"
    );
    let _g = serial();
    ebpf_device_rules_hold(true, None);
    // What `rsandbox check` and rsandbox-oci are told ahead agrees.
    use rsandbox::cgroup::devices::enforcement;
    assert_eq!(enforcement(true), Ok("eBPF (cgroup v2)"));
}

#[test]
fn bad_device_rules_are_refused_before_spawn() {
    for (rule, what) in [
        (rsandbox::DeviceRule::allow('x', None, None, "r"), "kind"),
        (
            rsandbox::DeviceRule::allow('c', Some(1), Some(3), "rwx"),
            "access",
        ),
        (rsandbox::DeviceRule::deny('b', None, None, ""), "access"),
    ] {
        let e = Sandbox::new()
            .device_rules([rule])
            .status(&sh("true"))
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidConfig { .. }) && e.to_string().contains(what),
            "{e}"
        );
    }
    // A node of the box's own filesystem whose mknod the rules deny: it may
    // be made before or after the box joins the cgroup, so it is refused
    // up front; with `m` allowed it is made.
    let with_node = |rules: Vec<rsandbox::DeviceRule>| {
        Sandbox::new()
            .mount_ns()
            .tmpfs("/mnt", 1 << 20)
            .device(
                "/mnt/foo",
                rsandbox::fs::DeviceKind::Char,
                10,
                666,
                0o600,
                0,
                0,
            )
            .device_rules(rules)
            .output(&sh("ls -ln /mnt/foo"))
    };
    let e = with_node(vec![rsandbox::DeviceRule::deny_all()]).unwrap_err();
    assert!(
        matches!(e, Error::InvalidConfig { .. }) && e.to_string().contains("/mnt/foo"),
        "{e}"
    );
    if devices_hierarchy().is_some() && is_root() {
        let _g = serial();
        let o = with_node(vec![
            rsandbox::DeviceRule::deny_all(),
            rsandbox::DeviceRule::allow('c', Some(10), Some(666), "m"),
        ])
        .unwrap();
        assert!(stdout_of(&o).starts_with("crw------- "), "{o:?}");
        assert!(our_cgroup_dirs().is_empty(), "{:?}", our_cgroup_dirs());
    }
}

// ---------------------------------------------------------------- cgroup namespace

/// A box with its own cgroup namespace sees its own cgroup as `/` in every
/// hierarchy it was put in: on v1 the child joins its hierarchies before it
/// makes the namespace (one made at clone would be rooted in the caller's
/// v1 cgroups).
#[test]
fn cgroup_ns_is_rooted_at_the_box_cgroup() {
    let _g = serial();
    let l = Layout::detect().unwrap();
    for user_ns in [false, true] {
        let mut sb = Sandbox::new()
            .pid_ns()
            .cgroup_ns()
            .memory_limit(64 << 20)
            .pids_limit(64);
        if user_ns {
            sb = sb.user_ns();
        }
        let out = sb.output(&sh("cat /proc/self/cgroup")).unwrap();
        assert!(out.outcome.success(), "{out:?}");
        let text = stdout_of(&out);
        let path_of = |ctrl: &str| {
            text.lines()
                .find_map(|line| {
                    let mut f = line.splitn(3, ':');
                    let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
                    ctrls
                        .split(',')
                        .any(|c| c == ctrl)
                        .then(|| path.to_string())
                })
                .unwrap_or_else(|| panic!("no {ctrl:?} line in\n{text}"))
        };
        if l.v1_mounts.contains_key("memory") {
            assert_eq!(path_of("memory"), "/", "user_ns {user_ns}:\n{text}");
            assert_eq!(path_of("pids"), "/", "user_ns {user_ns}:\n{text}");
        } else {
            println!("no cgroup v1 memory hierarchy here: checking the cgroup2 line only");
        }
        if l.is_pure_v2() || l.v2_mount.is_some() {
            assert_eq!(path_of(""), "/", "user_ns {user_ns}:\n{text}");
        }
    }
    assert!(our_cgroup_dirs().is_empty(), "{:?}", our_cgroup_dirs());
}

// ---------------------------------------------------------------- v2

#[test]
fn v2_mechanics_on_the_unified_hierarchy() {
    let _g = serial();
    let l = Layout::detect().unwrap();
    let Some(unified) = l.v2_mount.clone() else {
        panic!("this host has a cgroup2 hierarchy at /sys/fs/cgroup/unified");
    };
    let mark = marker("v2");
    // accounting only: on the hybrid host this is a v2-only cgroup, placed
    // by CLONE_INTO_CGROUP.
    let mut c = Sandbox::new()
        .accounting(true)
        .env("RSBX_MARK", &mark)
        .stdout(Stdio::Pipe)
        .spawn(&sh(
            "grep '^0::' /proc/self/cgroup; sleep 100 & sleep 100 & i=0; \
             while [ $i -lt 200000 ]; do i=$((i+1)); done; echo spun; wait",
        ))
        .unwrap();
    let mut line = String::new();
    {
        use std::io::BufRead;
        let mut r = std::io::BufReader::new(c.stdout.as_mut().unwrap());
        r.read_line(&mut line).unwrap();
        let mut spun = String::new();
        r.read_line(&mut spun).unwrap();
        assert_eq!(spun.trim(), "spun");
    }
    let rel = line.trim().strip_prefix("0::").unwrap().to_string();
    let name = format!("rsandbox-{}-", std::process::id());
    assert!(rel.contains(&name), "{line}");
    let dir = unified.join(rel.trim_start_matches('/'));
    assert!(dir.join("cgroup.kill").exists());
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
    assert!(procs.lines().count() >= 3, "{procs}");
    c.kill().unwrap();
    let o = c.wait().unwrap();
    assert_eq!(o.reason, Reason::Killed);
    let cg = o.cgroup.unwrap();
    assert!(cg.cpu_time.unwrap() > Duration::from_millis(10), "{cg:?}");
    assert_no_marked_processes(&mark);
    assert!(!dir.exists());
}

#[test]
fn v2_limit_files_on_a_fake_tree() {
    let dir = tempdir("fakev2");
    for f in [
        "memory.max",
        "memory.swap.max",
        "pids.max",
        "cpu.max",
        "cpu.weight",
        "cgroup.subtree_control",
    ] {
        std::fs::write(dir.join(f), "max\n").unwrap();
    }
    std::fs::write(dir.join("cgroup.subtree_control"), "").unwrap();
    std::fs::write(
        dir.join("cgroup.controllers"),
        "cpuset cpu io memory pids\n",
    )
    .unwrap();
    let sb = Sandbox::new()
        .memory_limit(64 << 20)
        .pids_limit(32)
        .cpu_limit(0.5)
        .cpu_weight(200);
    let cl = sb.limits().cgroup_limits();
    assert!(v2::missing_controllers(&dir, &cl).is_empty());
    v2::enable_controllers(&dir, &v2::needed_controllers(&cl)).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap(),
        "+memory +pids +cpu"
    );
    v2::write_limits(&dir, &cl).unwrap();
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    assert_eq!(read("memory.max"), (64u64 << 20).to_string());
    assert_eq!(read("memory.swap.max"), "0");
    assert_eq!(read("pids.max"), "32");
    assert_eq!(read("cpu.max"), "50000 100000");
    assert_eq!(read("cpu.weight"), "200");
    // Stats from the v2 files.
    std::fs::write(dir.join("memory.peak"), "12345\n").unwrap();
    std::fs::write(
        dir.join("memory.events"),
        "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("cpu.stat"),
        "usage_usec 1500000\nuser_usec 1000000\n",
    )
    .unwrap();
    std::fs::write(dir.join("pids.peak"), "7\n").unwrap();
    let st = v2::read_stats(&dir);
    assert_eq!(st.memory_peak, Some(12345));
    assert_eq!(st.oom_kills, Some(1));
    assert_eq!(st.cpu_time, Some(Duration::from_millis(1500)));
    assert_eq!(st.pids_peak, Some(7));
    // A missing controller is reported.
    std::fs::write(dir.join("cgroup.controllers"), "cpu memory\n").unwrap();
    assert_eq!(v2::missing_controllers(&dir, &cl), vec!["pids"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn layout_detection_from_injected_texts() {
    let pure = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
    let root = Path::new("/fake/root");
    let l = Layout::parse(
        pure,
        "0::/user.slice/user-1000.slice/session-2.scope\n",
        Some(root),
    );
    assert!(l.is_pure_v2());
    assert_eq!(
        l.v2_self_dir().unwrap(),
        Path::new("/fake/root/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope")
    );
    let hybrid = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let me = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let h = Layout::parse(&hybrid, &me, None);
    assert!(!h.is_pure_v2());
    assert_eq!(
        h.v2_mount.as_deref(),
        Some(Path::new("/sys/fs/cgroup/unified"))
    );
    assert_eq!(
        h.v1_mounts.get("memory").map(PathBuf::as_path),
        Some(Path::new("/sys/fs/cgroup/memory"))
    );
    assert!(h
        .v1_self_dir("memory")
        .unwrap()
        .starts_with("/sys/fs/cgroup/memory"));
    assert_eq!(Layout::detect().unwrap(), h);
    // Co-mounted v1 controllers (cpu,cpuacct) and escaped paths.
    let co = "40 31 0:37 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
              41 31 0:38 / /sys/fs/cgroup/with\\040space rw - cgroup cgroup rw,pids\n";
    let c = Layout::parse(co, "3:cpu,cpuacct:/a\n2:pids:/b\n", None);
    assert_eq!(c.v1_mounts["cpu"], c.v1_mounts["cpuacct"]);
    assert_eq!(
        c.v1_self_dir("cpuacct").unwrap(),
        Path::new("/sys/fs/cgroup/cpu,cpuacct/a")
    );
    assert_eq!(
        c.v1_self_dir("pids").unwrap(),
        Path::new("/sys/fs/cgroup/with space/b")
    );
}

// ---------------------------------------------------------------- bad input

#[test]
fn bad_input_is_a_typed_error_before_spawn() {
    fn field_of(sb: Sandbox) -> String {
        let spawn = sb.spawn(&Command::new("/bin/true"));
        let Err(Error::InvalidConfig { field, .. }) = spawn else {
            panic!("{spawn:?}");
        };
        let Err(Error::InvalidConfig { field: f2, .. }) = sb.validate() else {
            panic!("validate accepted it");
        };
        assert_eq!(field, f2);
        field
    }
    let s = || Sandbox::new();
    assert_eq!(field_of(s().memory_limit(0)), "memory_limit");
    assert_eq!(field_of(s().memory_limit(4096)), "memory_limit");
    assert_eq!(field_of(s().pids_limit(0)), "pids_limit");
    for c in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.001] {
        assert_eq!(field_of(s().cpu_limit(c)), "cpu_limit", "{c}");
    }
    assert_eq!(field_of(s().cpu_weight(0)), "cpu_weight");
    assert_eq!(field_of(s().cpu_weight(10_001)), "cpu_weight");
    assert_eq!(field_of(s().timeout(Duration::ZERO)), "timeout");
    assert_eq!(field_of(s().timeout(Duration::MAX)), "timeout");
    assert_eq!(
        field_of(s().cpu_time_limit(Duration::ZERO)),
        "cpu_time_limit"
    );
    assert_eq!(
        field_of(s().timeout(Duration::from_secs(1)).grace(Duration::ZERO)),
        "grace"
    );
    assert_eq!(field_of(s().grace(Duration::from_secs(1))), "grace");
    assert_eq!(
        field_of(s().rlimit(Resource::Nofile, 20, 10)),
        "rlimit RLIMIT_NOFILE"
    );
    assert_eq!(field_of(s().rlimit_nofile(0)), "rlimit RLIMIT_NOFILE");
    assert_eq!(field_of(s().rlimit_as(0)), "rlimit RLIMIT_AS");
    assert_eq!(field_of(s().cgroup_parent("")), "cgroup_parent");
    assert_eq!(field_of(s().cgroup_parent("a/../../b")), "cgroup_parent");
    for v in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300] {
        let e = duration_from_secs("timeout", v).unwrap_err();
        assert!(
            matches!(e, Error::InvalidConfig { ref field, .. } if field == "timeout"),
            "{v}: {e}"
        );
    }
    assert_eq!(
        duration_from_secs("timeout", 1.5).unwrap(),
        Duration::from_millis(1500)
    );
    // A missing cgroup parent is named (spawn-time: it needs the host).
    if is_root() {
        let e = s()
            .pids_limit(8)
            .cgroup_parent("no-such-parent-rsbx")
            .spawn(&Command::new("/bin/true"))
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidConfig { ref field, ref reason } if field == "cgroup_parent" && reason.contains("no-such-parent-rsbx")),
            "{e:?}"
        );
    }
    // Zero is meaningful for some rlimits.
    assert!(s().rlimit_fsize(0).rlimit_core(0).validate().is_ok());
    // Serde round trip of the limits.
    let sb = s().memory_limit(1 << 30).rlimit_nofile(100).cpu_limit(1.5);
    let j = serde_json::to_string(&sb).unwrap();
    let back: Sandbox = serde_json::from_str(&j).unwrap();
    assert_eq!(back, sb);
}

// ---------------------------------------------------------------- rootless

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "rsbx-{tag}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() ^ (std::ptr::addr_of!(SERIAL) as u128)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
    d
}

#[test]
fn rootless_scenarios() {
    assert!(
        is_root(),
        "this test drives the rootless scenarios and needs root"
    );
    let dir = tempdir("nobody");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.join("limits-test");
    std::fs::copy(std::env::current_exe().unwrap(), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A delegated cgroup for nobody (v1 memory and pids): a child of our
    // own cgroup, chowned to 65534 (directory, cgroup.procs, tasks).
    let deleg = format!("rsbx-deleg-{}", std::process::id());
    let l = Layout::detect().unwrap();
    let mut deleg_dirs = Vec::new();
    for ctrl in ["memory", "pids"] {
        let d = l.v1_self_dir(ctrl).unwrap().join(&deleg);
        std::fs::create_dir(&d).unwrap();
        for p in [d.clone(), d.join("cgroup.procs"), d.join("tasks")] {
            std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
        }
        deleg_dirs.push(d);
    }
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["--ignored", "--test-threads=1", "nobody_"])
        .current_dir("/tmp")
        .env("RSBX_NOBODY", "1")
        .env("RSBX_DELEG", &deleg)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    for d in &deleg_dirs {
        let sub: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().unwrap().is_dir())
            .map(|e| e.path())
            .collect();
        let _ = std::fs::remove_dir(d);
        assert!(sub.is_empty(), "left in the delegated cgroup: {sub:?}");
    }
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("test result: ok. 5 passed"), "{text}");
}

fn assert_nobody() {
    assert!(
        std::env::var_os("RSBX_NOBODY").is_some(),
        "run by rootless_scenarios"
    );
    // SAFETY: trivial getter.
    assert_eq!(unsafe { libc::geteuid() }, 65534);
}

#[test]
#[ignore = "run by rootless_scenarios as nobody"]
fn nobody_cgroup_limit_without_delegation_is_a_privilege_error() {
    assert_nobody();
    let e = Sandbox::new()
        .memory_limit(64 << 20)
        .spawn(&sh("true"))
        .unwrap_err();
    let Error::Privilege {
        ref action,
        ref fix,
        ..
    } = e
    else {
        panic!("{e:?}");
    };
    assert!(action.contains("/sys/fs/cgroup/"), "{e}");
    assert!(fix.contains("Delegate=yes"), "{e}");
    assert!(fix.contains("best_effort"), "{e}");
}

/// Without CAP_SYS_ADMIN the eBPF device program cannot be loaded: a typed
/// privilege error before anything is made, or with best_effort a box that
/// runs and a report that says the rules are not enforced, and why. On the
/// hybrid host through the test hook; in the pure-v2 VM (no hook needed)
/// as well.
#[test]
#[ignore = "run by rootless_scenarios as nobody"]
fn nobody_ebpf_device_rules_are_a_privilege_error() {
    assert_nobody();
    let rules = [
        rsandbox::DeviceRule::deny_all(),
        rsandbox::DeviceRule::allow('c', Some(1), Some(3), "rwm"),
    ];
    let sb = Sandbox::new()
        .user_ns()
        .device_rules(rules)
        .device_rules_via_ebpf(true);
    // Told ahead, as `rsandbox check` and rsandbox-oci ask.
    let ahead = rsandbox::cgroup::devices::enforcement(true).unwrap_err();
    assert!(ahead.contains("missing privilege CAP_SYS_ADMIN"), "{ahead}");
    let e = sb.clone().spawn(&sh("true")).unwrap_err();
    let Error::Privilege {
        ref privilege,
        ref action,
        ref fix,
    } = e
    else {
        panic!("{e:?}");
    };
    assert!(privilege.contains("CAP_SYS_ADMIN"), "{e}");
    assert!(action.contains("eBPF device filter"), "{e}");
    assert!(fix.contains("best_effort"), "{e}");
    let child = sb
        .best_effort(true)
        .stdout(Stdio::Pipe)
        .spawn(&sh("echo ran"))
        .unwrap();
    let dev = child.enforcement().layer("limit:devices").cloned().unwrap();
    assert_eq!(
        dev.enforcement,
        rsandbox::Enforcement::NotEnforced,
        "{dev:?}"
    );
    assert!(dev.applied.contains("CAP_SYS_ADMIN"), "{dev:?}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout_of(&out), "ran\n", "{out:?}");
}

#[test]
#[ignore = "run by rootless_scenarios as nobody"]
fn nobody_best_effort_runs_and_reports_unapplied_limits() {
    assert_nobody();
    let mut c = Sandbox::new()
        .user_ns()
        .pid_ns()
        .memory_limit(64 << 20)
        .pids_limit(32)
        .best_effort(true)
        .stdout(Stdio::Null)
        .spawn(&sh("exit 0"))
        .unwrap();
    let before = c.unapplied_limits();
    assert!(
        before.iter().any(|u| u.starts_with("memory_limit")),
        "{before:?}"
    );
    assert!(
        before.iter().any(|u| u.starts_with("pids_limit")),
        "{before:?}"
    );
    let o = c.wait().unwrap();
    assert!(o.success(), "{o:?}");
    let cg = o.cgroup.unwrap();
    assert_eq!(cg.unapplied.len(), 2, "{cg:?}");
    assert_eq!(c.unapplied_limits(), cg.unapplied);
}

#[test]
#[ignore = "run by rootless_scenarios as nobody"]
fn nobody_rlimits_and_timeouts_work() {
    assert_nobody();
    rlimit_nofile_gives_emfile();
    let dir = tempdir("nobody-fsize");
    rlimit_fsize_gives_sigxfsz_and_efbig(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    rlimit_as_gives_enomem();
    rlimit_core_is_zero_by_default_and_soft_below_hard();
    let o = Sandbox::new()
        .user_ns()
        .pid_ns()
        .timeout(Duration::from_secs(1))
        .grace(Duration::from_millis(100))
        .status(&sh("trap '' TERM; sleep 100"))
        .unwrap();
    assert_eq!(o.reason, Reason::WallTimeLimit);
}

#[test]
#[ignore = "run by rootless_scenarios as nobody"]
fn nobody_delegated_cgroup_enforces_limits() {
    assert_nobody();
    let deleg = std::env::var("RSBX_DELEG").unwrap();
    // Without the delegated parent: a privilege error; with it: enforced.
    let out = Sandbox::new()
        .user_ns()
        .pid_ns()
        .cgroup_parent(&deleg)
        .memory_limit(64 << 20)
        .pids_limit(32)
        .output(&py("b = b'x' * (200 << 20)\nprint('survived')"))
        .unwrap();
    assert_eq!(out.outcome.reason, Reason::OutOfMemory, "{out:?}");
    let cg = out.outcome.cgroup.unwrap();
    assert!(cg.unapplied.is_empty(), "{cg:?}");
    assert!(cg.memory_peak.unwrap() <= 64 << 20);
    let out = Sandbox::new()
        .cgroup_parent(&deleg)
        .pids_limit(8)
        .output(&sh(
            "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done; echo done",
        ))
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fork"), "{err} {:?}", out.outcome);
    assert!(out.outcome.cgroup.unwrap().pids_peak.unwrap() <= 8);
}

// ---------------------------------------------------------------- pure v2 (VM)
//
// These run inside a pure-cgroup2 VM (Debian's 6.1 kernel under
// `qemu-system-x86_64 -M microvm`, booted with `cgroup_no_v1=all`), whose
// init mounts cgroup2 on /sys/fs/cgroup, enables memory, pids and cpu at the
// root, creates an empty `/boxes` with them enabled, moves itself into the
// leaf `/init` and runs `<this binary> --ignored vm_`. Payloads are
// /bin/sh and coreutils (busybox) only. Drivers: `scripts/test-vm.sh` (the
// whole VM suite), `tests/vm/run-pure-v2.py` (these alone; see there).

fn assert_in_vm() {
    assert!(
        std::env::var_os("RSBX_VM").is_some(),
        "run by the pure-v2 VM driver (tests/vm/run-pure-v2.py)"
    );
    assert!(Layout::detect().unwrap().is_pure_v2());
}

#[test]
#[ignore = "runs in the pure-v2 VM"]
fn vm_no_internal_processes_rule_is_a_clear_error() {
    assert_in_vm();
    // The caller sits in /init: its own cgroup holds a process, so v2
    // forbids enabling controllers for children there.
    let e = Sandbox::new()
        .memory_limit(64 << 20)
        .spawn(&sh("true"))
        .unwrap_err();
    assert!(matches!(e, Error::Privilege { .. }), "{e:?}");
    assert!(e.to_string().contains("no internal processes"), "{e}");
    assert!(e.to_string().contains("/sys/fs/cgroup/init"), "{e}");
    // So with a threaded controller alone, which the kernel would let the
    // caller's cgroup enable (then refusing the clone into the child).
    let e = Sandbox::new()
        .pids_limit(16)
        .spawn(&sh("true"))
        .unwrap_err();
    assert!(e.to_string().contains("no internal processes"), "{e}");
    let on = std::fs::read_to_string("/sys/fs/cgroup/init/cgroup.subtree_control").unwrap();
    assert!(
        !on.contains("pids"),
        "the caller's cgroup was changed: {on}"
    );
    // best_effort runs and says what was not applied.
    let o = Sandbox::new()
        .memory_limit(64 << 20)
        .best_effort(true)
        .status(&sh("true"))
        .unwrap();
    assert!(o.success());
    assert_eq!(o.cgroup.unwrap().unapplied.len(), 1);
}

/// No v1 devices hierarchy: device rules are enforced by the eBPF device
/// program, without any hook, seen from inside a root box.
#[test]
#[ignore = "runs in the pure-v2 VM"]
fn vm_device_rules_are_enforced_by_ebpf() {
    assert_in_vm();
    ebpf_device_rules_hold(false, Some("/boxes"));
}

#[test]
#[ignore = "runs in the pure-v2 VM"]
fn vm_memory_limit_is_oom_with_swap_off() {
    assert_in_vm();
    let out = Sandbox::new()
        .cgroup_parent("/boxes")
        .memory_limit(64 << 20)
        .output(&sh(
            "cat /proc/self/cgroup; d=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup); \
             cat $d/memory.max $d/memory.swap.max; \
             exec dd if=/dev/zero of=/dev/null bs=200M count=1 2>/dev/null",
        ))
        .unwrap();
    let text = stdout_of(&out);
    let mut lines = text.lines();
    let cg = lines.next().unwrap();
    assert!(cg.starts_with("0::/boxes/rsandbox-"), "{text}");
    assert_eq!(lines.next(), Some("67108864"), "{text}");
    assert_eq!(lines.next(), Some("0"), "{text}");
    assert_eq!(out.outcome.reason, Reason::OutOfMemory, "{out:?}");
    let st = out.outcome.cgroup.unwrap();
    assert!(st.oom_kills.unwrap() >= 1);
    assert!(st.memory_peak.unwrap() <= 64 << 20);
    let o = Sandbox::new()
        .cgroup_parent("/sys/fs/cgroup/boxes")
        .memory_limit(64 << 20)
        .status(&sh(
            "dd if=/dev/zero of=/dev/null bs=16M count=4 2>/dev/null",
        ))
        .unwrap();
    assert_eq!(o.reason, Reason::Exited, "{o:?}");
    assert_eq!(o.cgroup.unwrap().oom_kills, Some(0));
}

#[test]
#[ignore = "runs in the pure-v2 VM"]
fn vm_pids_cpu_timeout_and_cleanup() {
    assert_in_vm();
    let out = Sandbox::new()
        .cgroup_parent("/boxes")
        .pids_limit(8)
        .output(&sh(
            "n=0; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 3 & n=$((n+1)); done; \
             echo started",
        ))
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("fork"),
        "{out:?}"
    );
    assert!(out.outcome.cgroup.unwrap().pids_peak.unwrap() <= 8);

    let o = Sandbox::new()
        .cgroup_parent("/boxes")
        .cpu_limit(0.5)
        .cpu_weight(50)
        .status(&sh("i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"))
        .unwrap();
    assert!(o.success());
    let cpu = o.cgroup.as_ref().unwrap().cpu_time.unwrap();
    let ratio = cpu.as_secs_f64() / o.wall_time.as_secs_f64();
    assert!(ratio < 0.75, "cpu {cpu:?} wall {:?}", o.wall_time);

    let mark = marker("vm");
    let o = Sandbox::new()
        .cgroup_parent("/boxes")
        .pids_limit(16)
        .env("RSBX_MARK", &mark)
        .timeout(Duration::from_secs(1))
        .status(&sh("trap '' TERM; sleep 100 & sleep 100"))
        .unwrap();
    assert_eq!(o.reason, Reason::WallTimeLimit);
    assert_no_marked_processes(&mark);

    for i in 0..50 {
        let sb = Sandbox::new()
            .cgroup_parent("/boxes")
            .pids_limit(8)
            .memory_limit(32 << 20)
            .timeout(Duration::from_millis(100));
        let _ = sb.status(&sh(if i % 2 == 0 { "sleep 5 &" } else { "sleep 5" }));
    }
    let left: Vec<_> = std::fs::read_dir("/sys/fs/cgroup/boxes")
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Drives the `vm_*` tests in a pure-v2 VM of its own. The test command runs
/// them through `scripts/test-vm.sh` (with the rest of the suite); this is
/// the quick way to run only these, by hand:
/// `RSANDBOX_VM_KERNEL=target/vm-cache/vmlinux-... cargo test --test limits pure_v2_vm -- --ignored`.
#[test]
#[ignore = "scripts/test-vm.sh runs the vm_* tests; by hand: set RSANDBOX_VM_KERNEL and pass --ignored"]
fn pure_v2_vm() {
    let kernel = std::env::var_os("RSANDBOX_VM_KERNEL")
        .expect("set RSANDBOX_VM_KERNEL to an uncompressed vmlinux (see scripts/test-vm.sh)");
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vm/run-pure-v2.py");
    let out = std::process::Command::new("python3")
        .arg(driver)
        .arg(kernel)
        .arg(std::env::current_exe().unwrap())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    // The vm_* tests ran (a filter matching none would pass with 0).
    assert!(text.contains("test result: ok."), "{text}");
    assert!(!text.contains("test result: ok. 0 passed"), "{text}");
}

#[test]
#[ignore = "runs in the pure-v2 VM (named to run last: it moves the test process)"]
fn vm_z_move_self_to_leaf_then_own_cgroup_works() {
    assert_in_vm();
    let own = rsandbox::cgroup::move_self_to_leaf("caller")
        .unwrap()
        .unwrap();
    assert_eq!(own, Path::new("/sys/fs/cgroup/init"));
    let me = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    assert_eq!(me.trim(), "0::/init/caller");
    let out = Sandbox::new()
        .memory_limit(64 << 20)
        .pids_limit(16)
        .output(&sh(
            "cat /proc/self/cgroup; exec dd if=/dev/zero of=/dev/null bs=200M count=1",
        ))
        .unwrap();
    assert!(stdout_of(&out).starts_with("0::/init/rsandbox-"), "{out:?}");
    assert_eq!(out.outcome.reason, Reason::OutOfMemory);
    assert!(rsandbox::cgroup::move_self_to_leaf("../x").is_err());
}

#[test]
fn move_self_to_leaf_is_a_no_op_off_pure_v2() {
    if Layout::detect().unwrap().is_pure_v2() {
        eprintln!("pure v2 host: covered by vm_z_move_self_to_leaf_then_own_cgroup_works");
        return;
    }
    assert_eq!(rsandbox::cgroup::move_self_to_leaf("caller").unwrap(), None);
}
