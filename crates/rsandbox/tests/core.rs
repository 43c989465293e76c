//! Core isolation, the Child handle and bad input, seen from inside the box.
//! Every `both!` scenario runs as the caller (root in CI) and as `nobody`.

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use common::*;
use rsandbox::{Command, Error, ExitStatus, IdMap, Reason, Sandbox, Stdio};

fn sh(script: &str) -> Command {
    Command::from_argv(["/bin/sh", "-c", script])
}

/// The namespaces an unprivileged caller needs to make the others.
fn base() -> Sandbox {
    Sandbox::new().user_ns()
}

fn run(sb: &Sandbox, script: &str) -> rsandbox::Output {
    let out = sb.output(&sh(script)).expect("spawn");
    assert!(
        out.outcome.success(),
        "payload failed: {:?}\nstdout: {}\nstderr: {}",
        out.outcome,
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

both!(pid_namespace_shows_only_the_box, || {
    let sb = base().pid_ns().mount_ns();
    let out = run(
        &sb,
        "echo ppid=$PPID; for p in /proc/[0-9]*; do echo pid=${p#/proc/}; done",
    );
    let s = text(&out.stdout);
    assert!(
        s.contains("ppid=1\n"),
        "payload's parent is not the init: {s}"
    );
    let pids: Vec<u32> = s
        .lines()
        .filter_map(|l| l.strip_prefix("pid="))
        .map(|p| p.parse().unwrap())
        .collect();
    // The init (1), the shell (2); nothing of the host.
    assert_eq!(pids, vec![1, 2], "{s}");
});

both!(hostname_is_private, || {
    let host_before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let sb = base().uts_ns().hostname("inside-box");
    let out = run(&sb, "cat /proc/sys/kernel/hostname");
    assert_eq!(text(&out.stdout), "inside-box\n");
    let host_after = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(host_before, host_after);
    assert_ne!(host_after.trim(), "inside-box");
});

both!(user_namespace_maps_ids, || {
    // SAFETY: trivial getters.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let sb = base().uid(1000).gid(1001);
    let out = run(
        &sb,
        "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map",
    );
    let s = text(&out.stdout);
    let lines: Vec<Vec<&str>> = s.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["1000"], "{s}");
    assert_eq!(lines[1], ["1001"], "{s}");
    assert_eq!(lines[2], ["1000", &uid.to_string(), "1"], "{s}");
    assert_eq!(lines[3], ["1001", &gid.to_string(), "1"], "{s}");

    // Default: the caller's own ids.
    let out = run(&base(), "id -u");
    assert_eq!(text(&out.stdout).trim(), uid.to_string());
});

both!(network_namespace_has_only_loopback, || {
    let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = host.local_addr().unwrap().port();
    let sb = base().net_ns();
    let script = format!(
        r#"
import socket, fcntl, struct
print(sorted(open('/proc/net/dev').read().split('\n')[2:-1] and
      [l.split(':')[0].strip() for l in open('/proc/net/dev').read().split('\n')[2:-1]]))
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()
c = socket.create_connection(s.getsockname(), timeout=5); a, _ = s.accept()
c.sendall(b'ping'); print('inside', a.recv(4).decode())
flags = struct.unpack('16sH', fcntl.ioctl(c.fileno(), 0x8913, struct.pack('16sH', b'lo', 0)))[1]
print('lo-up', bool(flags & 1))
try:
    socket.create_connection(('127.0.0.1', {port}), timeout=2); print('host reachable')
except OSError as e:
    print('host unreachable')
"#
    );
    let out = sb
        .output(&Command::from_argv(["/usr/bin/python3", "-c", &script]))
        .unwrap();
    let s = text(&out.stdout);
    assert!(out.outcome.success(), "{s}{}", text(&out.stderr));
    assert!(s.contains("['lo']"), "{s}");
    assert!(s.contains("inside ping"), "{s}");
    assert!(s.contains("lo-up True"), "{s}");
    assert!(s.contains("host unreachable"), "{s}");
    // Control: the host listener is reachable from outside the box.
    std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
});

both!(ipc_namespace_hides_host_segments, || {
    // SAFETY: a private 4 KiB segment, removed below.
    let id = unsafe { libc::shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT | 0o600) };
    assert!(id >= 0);
    let list = "cat /proc/sysvipc/shm | awk 'NR>1 {print $2}'";
    let outside = run(&base(), list);
    let inside = run(&base().ipc_ns(), list);
    // SAFETY: removing the segment we created.
    unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
    assert!(
        text(&outside.stdout)
            .split_whitespace()
            .any(|s| s == id.to_string()),
        "control: segment {id} not visible without ipc ns: {}",
        text(&outside.stdout)
    );
    assert!(
        !text(&inside.stdout)
            .split_whitespace()
            .any(|s| s == id.to_string()),
        "segment {id} visible in the box: {}",
        text(&inside.stdout)
    );
});

both!(environment_is_exactly_configured, || {
    let sb = Sandbox::new().env("FOO", "bar baz").env("EMPTY", "");
    let out = sb.output(&Command::new("/usr/bin/env")).unwrap();
    let mut got: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    got.sort();
    assert_eq!(
        got,
        [
            "EMPTY=",
            "FOO=bar baz",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        ]
    );
    let out = Sandbox::new()
        .env_clear()
        .env("ONLY", "1")
        .output(&Command::new("/usr/bin/env"))
        .unwrap();
    assert_eq!(text(&out.stdout), "ONLY=1\n");
    std::env::set_var("RSANDBOX_INHERITED", "yes");
    let out = Sandbox::new()
        .inherit_env()
        .env_remove("HOME")
        .output(&Command::new("/usr/bin/env"))
        .unwrap();
    let s = text(&out.stdout);
    assert!(s.contains("RSANDBOX_INHERITED=yes\n"), "{s}");
    assert!(!s.lines().any(|l| l.starts_with("HOME=")), "{s}");
});

both!(only_passed_fds_are_open, || {
    // A non-CLOEXEC fd the payload must not see, and one passed on purpose.
    // SAFETY: open without O_CLOEXEC on purpose; closed by OwnedFd.
    let leaked = unsafe { libc::open(c"/etc/hostname".as_ptr(), libc::O_RDONLY) };
    assert!(leaked >= 3);
    // SAFETY: fresh fd.
    let leaked = unsafe { OwnedFd::from_raw_fd(leaked) };
    let (mut r, mut w) = std::io::pipe().unwrap();
    w.write_all(b"passed-data").unwrap();
    drop(w);
    let sb = Sandbox::new().pass_fd(r.as_raw_fd(), 7);
    // The glob's own directory fd is closed again when `-e` tests it.
    let out = run(
        &sb,
        "for f in /proc/$$/fd/*; do [ -e \"$f\" ] && printf '%s ' \"${f##*/}\"; done; cat <&7",
    );
    assert_eq!(text(&out.stdout), "0 1 2 7 passed-data");
    drop(leaked);
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
});

// Passed targets on every low number: the launch pipes and the Landlock
// ruleset, made after the plan, would take one of those numbers if the
// library did not move them above the targets, and the child's dup2 calls
// would then overwrite them (the payload's status lost, the box killed).
both!(passed_targets_on_low_numbers_keep_the_launch_fds, || {
    let (mut r, mut w) = std::io::pipe().unwrap();
    w.write_all(b"low-ok").unwrap();
    drop(w);
    // best_effort: Linux 6.1 (the VM) has Landlock ABI 2; the ruleset fd
    // exists either way.
    let mut sb = base()
        .pid_ns()
        .landlock_read("/")
        .landlock_exec("/")
        .best_effort(true);
    for target in 3..=40 {
        sb = sb.pass_fd(r.as_raw_fd(), target);
    }
    let out = run(
        &sb,
        "n=0; for f in /proc/self/fd/*; do [ -e \"$f\" ] && n=$((n+1)); done; echo $n; cat <&9",
    );
    assert_eq!(text(&out.stdout), "41\nlow-ok");
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
});

both!(exit_codes_and_signals_map_exactly, || {
    for sb in [Sandbox::new(), base().pid_ns()] {
        for code in [0, 1, 255] {
            let o = sb.status(&sh(&format!("exit {code}"))).unwrap();
            assert_eq!(o.status, ExitStatus::Exited(code));
            assert_eq!(o.code(), code);
            assert_eq!(o.reason, Reason::Exited);
        }
        for sig in [libc::SIGKILL, libc::SIGSEGV, libc::SIGTERM] {
            let o = sb.status(&sh(&format!("kill -{sig} $$"))).unwrap();
            assert_eq!(o.status, ExitStatus::Signaled(sig), "{sb:?}");
            assert_eq!(o.code(), 128 + sig);
            assert_eq!(o.reason, Reason::Signaled);
        }
    }
});

both!(kill_on_drop_kills_the_whole_tree, || {
    for sb in [base().pid_ns(), Sandbox::new()] {
        let child = sb
            .stdout(Stdio::Pipe)
            .spawn(&sh("sleep 1000 & sleep 1000 & echo started; wait"))
            .unwrap();
        let mut child = child;
        let mut line = [0u8; 8];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut line)
            .unwrap();
        let mut tree = descendants(child.pid());
        let fd = rsandbox::sys::pidfd_open(child.pid()).unwrap();
        // SAFETY: a fresh pidfd we own.
        tree.push((child.pid(), unsafe { OwnedFd::from_raw_fd(fd) }));
        assert!(tree.len() >= 3, "expected the shell and two sleeps");
        drop(child);
        assert_all_dead(&tree);
    }
});

both!(wait_timeout_then_kill_leaves_nothing, || {
    let mut child = base()
        .pid_ns()
        .spawn(&sh("sleep 1000 & sleep 1000"))
        .unwrap();
    assert!(child
        .wait_timeout(Duration::from_millis(200))
        .unwrap()
        .is_none());
    let tree = descendants(child.pid());
    assert!(!tree.is_empty());
    assert!(child.try_wait().unwrap().is_none());
    child.kill().unwrap();
    let o = child.wait().unwrap();
    assert_eq!(o.status, ExitStatus::Signaled(libc::SIGKILL));
    assert_eq!(o.reason, Reason::Killed);
    assert_all_dead(&tree);
    // A second wait returns the same outcome.
    assert_eq!(child.wait().unwrap(), o);
});

both!(timeout_kills_and_reports, || {
    let sb = base().pid_ns().timeout(Duration::from_millis(300));
    let o = sb.status(&sh("trap '' TERM; sleep 100")).unwrap();
    assert_eq!(o.reason, Reason::WallTimeLimit);
    assert!(o.timed_out());
    // With grace: SIGTERM reaches the payload, which exits by itself.
    let sb = base()
        .pid_ns()
        .timeout(Duration::from_millis(300))
        .grace(Duration::from_secs(20));
    let o = sb
        .status(&sh("trap 'exit 42' TERM; sleep 100 & wait"))
        .unwrap();
    assert_eq!(o.status, ExitStatus::Exited(42), "{o:?}");
});

both!(init_reaps_orphans, || {
    let sb = base().pid_ns().mount_ns();
    let out = run(
        &sb,
        "i=0; while [ $i -lt 500 ]; do (sleep 0.01 &); i=$((i+1)); done; sleep 1; \
         z=0; n=0; for s in /proc/[0-9]*/stat; do read -r l < $s 2>/dev/null || continue; \
         n=$((n+1)); set -- $l; [ \"$3\" = Z ] && z=$((z+1)); done; echo zombies=$z seen=$n",
    );
    let s = text(&out.stdout);
    let seen: u32 = s.trim().rsplit("seen=").next().unwrap().parse().unwrap();
    // The scan really read the box's processes (init, the shell, ...).
    assert!(seen >= 2, "{s}");
    assert!(s.starts_with("zombies=0 "), "{s}");
});

both!(init_forwards_signals, || {
    let mut child = base()
        .pid_ns()
        .stdout(Stdio::Pipe)
        .spawn(&sh(
            "trap 'echo got-hup; exit 3' HUP; echo ready; while :; do sleep 0.05; done",
        ))
        .unwrap();
    let mut buf = [0u8; 6];
    child.stdout.as_mut().unwrap().read_exact(&mut buf).unwrap();
    child.signal(libc::SIGHUP).unwrap();
    let o = child.wait().unwrap();
    assert_eq!(o.status, ExitStatus::Exited(3));
    let mut rest = String::new();
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_to_string(&mut rest)
        .unwrap();
    assert_eq!(rest, "got-hup\n");
});

both!(stderr_merges_into_stdout, || {
    let child = Sandbox::new()
        .stdout(Stdio::Pipe)
        .stderr(Stdio::Stdout)
        .spawn(&sh("echo out; echo err >&2; echo out2"))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.outcome.success());
    assert_eq!(text(&out.stdout), "out\nerr\nout2\n");
    assert!(out.stderr.is_empty());
});

both!(output_captures_both_streams_without_deadlock, || {
    // 1 MiB on each stream: more than a pipe holds, so a sequential reader
    // would deadlock.
    let out = run(
        &Sandbox::new(),
        "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2",
    );
    assert_eq!(out.stdout.len(), 1 << 20);
    assert_eq!(out.stderr.len(), 1 << 20);
});

both!(spawning_thread_exit_does_not_kill_the_box, || {
    // PR_SET_PDEATHSIG fires when the *thread* that cloned exits: the
    // launcher thread must shield boxes spawned from short-lived threads.
    let child = std::thread::spawn(|| {
        Sandbox::new()
            .user_ns()
            .pid_ns()
            .stdout(Stdio::Pipe)
            .spawn(&sh("sleep 0.5; echo alive"))
            .unwrap()
    })
    .join()
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.outcome.success(), "{:?}", out.outcome);
    assert_eq!(text(&out.stdout), "alive\n");
});

both!(box_without_die_with_parent_is_cloned_by_its_thread, || {
    // No death signal to tie to a long-lived thread: cloned by the calling
    // thread itself (no launcher hop), it outlives that thread and is
    // waited for from another one.
    let child = std::thread::spawn(|| {
        let c = Sandbox::new()
            .user_ns()
            .pid_ns()
            .die_with_parent(false)
            .stdout(Stdio::Pipe)
            .spawn(&sh("sleep 0.3; echo alive"))
            .unwrap();
        let me = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let tid: i32 = me.split_whitespace().next().unwrap().parse().unwrap();
        // The thread that cloned it is its parent (not rsandbox-launcher).
        let kids = std::fs::read_to_string(format!("/proc/self/task/{tid}/children")).unwrap();
        assert!(
            kids.split_whitespace().any(|p| p == c.pid().to_string()),
            "not a child of the spawning thread: {kids:?}"
        );
        c
    })
    .join()
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.outcome.success(), "{:?}", out.outcome);
    assert_eq!(text(&out.stdout), "alive\n");
});

/// Helper process for `box_dies_with_its_parent`: spawns a box, prints its
/// pid, and exits without waiting.
#[test]
fn helper_spawn_and_exit() {
    if std::env::var_os("RSANDBOX_HELPER_DIE").is_none() {
        return;
    }
    let child = base()
        .pid_ns()
        .kill_on_drop(false)
        .spawn(&sh("sleep 1000"))
        .unwrap();
    println!("BOXPID {}", child.pid());
    std::mem::forget(child);
    std::process::exit(0);
}

#[test]
fn box_dies_with_its_parent() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "helper_spawn_and_exit", "--nocapture"])
        .env("RSANDBOX_HELPER_DIE", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let s = text(&out.stdout);
    let pid: i32 = s
        .lines()
        .find_map(|l| l.strip_prefix("BOXPID "))
        .unwrap_or_else(|| panic!("helper printed no pid: {s}"))
        .trim()
        .parse()
        .unwrap();
    // The helper has exited; its box must die (it was reparented, so we can
    // only watch it through a pidfd, if it still exists at all).
    if let Ok(fd) = rsandbox::sys::pidfd_open(pid) {
        // SAFETY: a fresh pidfd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        assert_all_dead(&[(pid, fd)]);
    }
}

fn invalid_field(e: Error) -> String {
    match e {
        Error::InvalidConfig { field, .. } => field,
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

both!(bad_input_is_rejected_before_spawn, || {
    let t = Command::new("/bin/true");
    let cases: Vec<(Sandbox, Command, &str)> = vec![
        (
            Sandbox::new(),
            Command::from_argv(Vec::<String>::new()),
            "program",
        ),
        (Sandbox::new(), Command::new("/bin/tr\0ue"), "program"),
        (
            Sandbox::new(),
            Command::new("/bin/true").arg("a\0b"),
            "argument 1",
        ),
        (Sandbox::new().env("A", "x\0y"), t.clone(), "env"),
        (Sandbox::new().env("", "x"), t.clone(), "env"),
        (Sandbox::new().env("A=B", "x"), t.clone(), "env"),
        (Sandbox::new().hostname("h"), t.clone(), "hostname"),
        (
            base().uts_ns().hostname("x".repeat(65)),
            t.clone(),
            "hostname",
        ),
        (Sandbox::new().cwd("relative/dir"), t.clone(), "cwd"),
        (Sandbox::new().cwd("/nonexistent/dir"), t.clone(), "cwd"),
        (Sandbox::new().cwd("/tm\0p"), t.clone(), "cwd"),
        (Sandbox::new().pass_fd(0, 1), t.clone(), "pass_fd"),
        (Sandbox::new().pass_fd(987, 5), t.clone(), "pass_fd"),
        (Sandbox::new().stdout(Stdio::Fd(988)), t.clone(), "stdout"),
        (Sandbox::new().timeout(Duration::ZERO), t.clone(), "timeout"),
        (Sandbox::new().stdout(Stdio::Stdout), t.clone(), "stdout"),
        (
            Sandbox::new().uid_map(IdMap::new(0, 0, 1)),
            t.clone(),
            "uid_map",
        ),
    ];
    for (sb, cmd, field) in cases {
        let e = sb.spawn(&cmd).unwrap_err();
        assert_eq!(invalid_field(e), field, "{sb:?} {cmd:?}");
    }
    // Ranges of the description alone: `validate` says so too.
    for (sb, field) in [
        (Sandbox::new().umask(0o1000), "umask"),
        (Sandbox::new().oom_score_adj(1001), "oom_score_adj"),
        (Sandbox::new().oom_score_adj(-1001), "oom_score_adj"),
    ] {
        assert_eq!(invalid_field(sb.validate().unwrap_err()), field);
        assert_eq!(invalid_field(sb.spawn(&t).unwrap_err()), field);
    }
    let e = Sandbox::new()
        .spawn(&Command::new("definitely-not-a-program"))
        .unwrap_err();
    assert!(matches!(e, Error::ProgramNotFound { .. }), "{e:?}");
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    let e = Sandbox::new()
        .spawn(&Command::new("/nonexistent/prog"))
        .unwrap_err();
    assert!(matches!(e, Error::ProgramNotFound { .. }), "{e:?}");
});

#[test]
fn unprivileged_caller_gets_privilege_errors() {
    if is_root() {
        common::rerun_as_nobody("unprivileged_caller_gets_privilege_errors");
        return;
    }
    let t = Command::new("/bin/true");
    // Mapping ids other than our own needs CAP_SETUID.
    let e = base().uid_map(IdMap::new(0, 0, 1)).spawn(&t).unwrap_err();
    match e {
        Error::Privilege { privilege, fix, .. } => {
            assert_eq!(privilege, "CAP_SETUID");
            assert!(fix.contains("root"), "{fix}");
        }
        other => panic!("expected a privilege error, got {other:?}"),
    }
    // A shared network namespace needs CAP_SYS_ADMIN; net_ns() does not.
    match rsandbox::NetNs::new().unwrap_err() {
        Error::Privilege { privilege, fix, .. } => {
            assert_eq!(privilege, "CAP_SYS_ADMIN");
            assert!(fix.contains("net_ns()"), "{fix}");
        }
        other => panic!("expected a privilege error, got {other:?}"),
    }
    // Namespaces without a user namespace need CAP_SYS_ADMIN.
    let e = Sandbox::new().pid_ns().spawn(&t).unwrap_err();
    match e {
        Error::Privilege { privilege, fix, .. } => {
            assert_eq!(privilege, "CAP_SYS_ADMIN");
            assert!(fix.contains("user_ns"), "{fix}");
        }
        other => panic!("expected a privilege error, got {other:?}"),
    }
}

#[test]
fn serde_round_trip() {
    let sb = Sandbox::new()
        .all_ns()
        .hostname("h")
        .env("A", "1")
        .timeout(Duration::from_secs(3));
    let json = serde_json::to_string(&sb).unwrap();
    let back: Sandbox = serde_json::from_str(&json).unwrap();
    assert_eq!(back, sb);
    let e = serde_json::from_str::<Sandbox>(r#"{"bogus": 1}"#).unwrap_err();
    assert!(e.to_string().contains("bogus"), "{e}");
}

#[test]
fn accepts_std_command() {
    let mut c = std::process::Command::new("/bin/echo");
    c.args(["from", "std"]);
    let out = Sandbox::new().output(&Command::from(&c)).unwrap();
    assert_eq!(text(&out.stdout), "from std\n");
}

both!(time_namespace_is_new, || {
    let host = std::fs::read_link("/proc/self/ns/time").unwrap();
    let out = run(&base().time_ns(), "readlink /proc/self/ns/time");
    let inside = text(&out.stdout);
    assert!(inside.starts_with("time:["), "{inside}");
    assert_ne!(inside.trim(), host.to_str().unwrap());
});

both!(cgroup_namespace_hides_the_host_path, || {
    let host = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let out = run(&base().cgroup_ns(), "cat /proc/self/cgroup");
    let inside = text(&out.stdout);
    // Every hierarchy's path is the namespace root.
    for line in inside.lines() {
        assert!(line.ends_with(":/"), "{inside}\n(host: {host})");
    }
    assert_eq!(inside.lines().count(), host.lines().count());
});

both!(background_processes_die_with_the_payload, || {
    // Without a PID namespace the payload's process group is killed when it
    // exits, as the kernel does for the whole namespace with one.
    for sb in [Sandbox::new(), base().pid_ns()] {
        let mut child = sb
            .stdin(Stdio::Pipe)
            .stdout(Stdio::Pipe)
            .spawn(&sh("sleep 1000 & echo started; read -r _; exit 0"))
            .unwrap();
        let mut line = [0u8; 8];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut line)
            .unwrap();
        let tree = descendants(child.pid());
        assert!(!tree.is_empty(), "the background sleep was not found");
        // Let the payload exit (its stdin reaches EOF).
        drop(child.stdin.take());
        let o = child.wait().unwrap();
        assert!(o.success(), "{o:?}");
        assert_all_dead(&tree);
    }
});

/// Root asking for another uid with a keep list (an OCI runtime's
/// `process.user` with `capabilities`): the kept capabilities survive the
/// switch, the others are gone from every set, the groups and umask are
/// the ones asked for, and oom_score_adj is set.
#[test]
fn root_to_uid_keeps_caps_groups_umask_oom() {
    if !is_root() {
        return;
    }
    let sb = Sandbox::new()
        .pid_ns()
        .uid(10)
        .gid(10)
        .groups([5, 7])
        .umask(0o027)
        .oom_score_adj(500)
        .keep_caps(["CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let out = run(
        &sb,
        "grep -E '^(Cap(Eff|Prm|Bnd|Amb)|Uid|Gid|Groups):' /proc/self/status; \
         umask; cat /proc/self/oom_score_adj",
    );
    let s = text(&out.stdout);
    // CAP_KILL (5) and CAP_NET_BIND_SERVICE (10).
    for set in ["CapEff", "CapPrm", "CapBnd", "CapAmb"] {
        assert!(
            s.lines()
                .any(|l| l.starts_with(set) && l.ends_with("0000000000000420")),
            "{set}: {s}"
        );
    }
    assert!(s.contains("Uid:\t10\t10\t10\t10"), "{s}");
    assert!(s.contains("Gid:\t10\t10\t10\t10"), "{s}");
    assert!(s.contains("Groups:\t5 7"), "{s}");
    assert!(s.contains("0027"), "{s}");
    assert!(s.lines().any(|l| l == "500"), "{s}");
}

/// no_new_privs(false) with a seccomp filter and dropped capabilities: the
/// filter is installed before the drop, is in force, and no_new_privs stays
/// off (runc's behaviour for `noNewPrivileges: false`).
#[test]
fn seccomp_without_no_new_privs() {
    if !is_root() {
        return;
    }
    use rsandbox::seccomp::{Action, SeccompPolicy};
    let policy = SeccompPolicy::new(Action::Allow)
        .deny("mkdirat", libc::EACCES)
        .deny("mkdir", libc::EACCES);
    let sb = Sandbox::new()
        .mount_ns()
        .pid_ns()
        .tmpfs("/tmp", 1 << 20)
        .drop_caps()
        .no_new_privs(false)
        .seccomp(policy);
    let out = run(
        &sb,
        "grep NoNewPrivs /proc/self/status; mkdir /tmp/x 2>/dev/null || echo denied",
    );
    let s = text(&out.stdout);
    assert!(s.contains("NoNewPrivs:\t0"), "{s}");
    assert!(s.contains("denied"), "{s}");
}

/// A user namespace whose maps leave the (root) caller unmapped but map 0
/// (an OCI `linux.uidMappings` such as 0 → 1000): the child becomes 0 of
/// the namespace first, so the files the setup makes (the /dev nodes'
/// mount points) have mapped owners.
#[test]
fn user_ns_with_the_caller_unmapped() {
    if !is_root() {
        return;
    }
    let sb = Sandbox::new()
        .user_ns()
        .mount_ns()
        .pid_ns()
        .uid_map(IdMap::new(0, 1000, 2000))
        .gid_map(IdMap::new(0, 1000, 3000))
        .dev("/dev");
    let out = run(
        &sb,
        "id -u; id -g; cat /proc/self/uid_map; test -c /dev/null",
    );
    let s = text(&out.stdout);
    let mut l = s.lines();
    assert_eq!(l.next(), Some("0"), "{s}");
    assert_eq!(l.next(), Some("0"), "{s}");
    assert!(s.contains("1000"), "{s}");
}

/// A joined mount namespace with a rootfs: the filesystem is built in it
/// (an OCI mount namespace given by path), not in a new one.
#[test]
fn rootfs_built_in_a_joined_mount_namespace() {
    if !is_root() {
        return;
    }
    let mut holder = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sleep", "30"])
        .spawn()
        .expect("unshare");
    let pid = holder.id();
    let ns = format!("/proc/{pid}/ns/mnt");
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while std::fs::read_link(&ns).ok() == std::fs::read_link("/proc/self/ns/mnt").ok() {
        assert!(std::time::Instant::now() < until, "unshare did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let want = std::fs::read_link(&ns).unwrap();
    let sb = Sandbox::new()
        .pid_ns()
        .join_ns(rsandbox::Namespace::Mount, &ns)
        .rootfs("/")
        .tmpfs("/tmp", 1 << 20);
    // Our tmpfs, told apart from a host /tmp under the recursive bind of /
    // by its size.
    let out = run(
        &sb,
        "readlink /proc/self/ns/mnt; grep ' /tmp ' /proc/self/mountinfo | grep -c size=1024k",
    );
    let _ = holder.kill();
    let _ = holder.wait();
    let s = text(&out.stdout);
    let mut l = s.lines();
    assert_eq!(l.next(), Some(want.to_str().unwrap()), "{s}");
    assert_eq!(l.next(), Some("1"), "{s}");
}

/// `readlink /proc/self/ns/net` as the box sees it, plus whether `lo` is
/// its only interface and is up.
fn box_net(sb: &Sandbox) -> (String, String) {
    let script = r#"
import os, socket, fcntl, struct
print(os.readlink('/proc/self/ns/net'))
devs = [l.split(':')[0].strip() for l in open('/proc/net/dev').read().split('\n')[2:-1]]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack('16sH', fcntl.ioctl(s.fileno(), 0x8913, struct.pack('16sH', b'lo', 0)))[1]
print(sorted(devs), 'up' if flags & 1 else 'down')
"#;
    let out = sb
        .output(&Command::from_argv(["/usr/bin/python3", "-c", script]))
        .unwrap();
    let s = text(&out.stdout);
    assert!(out.outcome.success(), "{s}{}", text(&out.stderr));
    let mut lines = s.lines();
    (
        lines.next().unwrap_or_default().to_string(),
        lines.next().unwrap_or_default().to_string(),
    )
}

fn net_ns_of(path: &str) -> String {
    std::fs::read_link(path)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The network namespace of rsandbox's launcher thread, when it runs.
fn launcher_net_ns() -> Option<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .find_map(|t| {
            let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
            (comm.trim() == "rsandbox-launch")
                .then(|| net_ns_of(&format!("{}/ns/net", t.path().display())))
        })
}

#[test]
fn shared_net_namespace_is_joined_by_every_box() {
    if !is_root() {
        return; // the unprivileged case: unprivileged_caller_gets_privilege_errors
    }
    let host = net_ns_of("/proc/thread-self/ns/net");
    let shared = rsandbox::NetNs::new().unwrap();
    let want = format!("net:[{}]", shared.inode());
    assert_ne!(want, host);
    // A strict box with the default root view, and a bare one.
    let strict = Sandbox::strict().mount_ns().net_ns_shared(&shared);
    assert_eq!(
        strict
            .enforcement_report()
            .unwrap()
            .layers
            .iter()
            .find(|l| l.layer == "namespace:net")
            .unwrap()
            .applied,
        format!("shared namespace {want}")
    );
    let mut strict_no_net = Sandbox::new()
        .user_ns()
        .pid_ns()
        .mount_ns()
        .net_ns_shared(&shared);
    for sb in [&strict, &Sandbox::new().net_ns_shared(&shared)] {
        let (ns, lo) = box_net(sb);
        assert_eq!(ns, want, "the box is in the shared namespace");
        assert_eq!(lo, "['lo'] up");
    }
    let (ns, _) = box_net(&strict_no_net);
    assert_eq!(ns, want);
    // Cloned by this thread itself (no launcher hop without die-with-parent).
    let (ns, _) = box_net(&strict_no_net.clone().die_with_parent(false));
    assert_eq!(ns, want);
    // The launching threads went back home.
    assert_eq!(net_ns_of("/proc/thread-self/ns/net"), host);
    assert_eq!(launcher_net_ns().as_deref().unwrap_or(host.as_str()), host);
    // The last of net_ns() and net_ns_shared() wins; joining one as well
    // is refused.
    strict_no_net = strict_no_net.net_ns();
    assert!(strict_no_net.shared_net_ns().is_none());
    assert!(!Sandbox::strict()
        .net_ns_shared(&shared)
        .has_ns(rsandbox::Namespace::Net));
    let e = Sandbox::new()
        .net_ns_shared(&shared)
        .join_ns(rsandbox::Namespace::Net, "/proc/self/ns/net")
        .spawn(&Command::new("/bin/true"))
        .unwrap_err();
    assert_eq!(invalid_field(e), "net_ns_shared");
    // Without the option: a box of its own, or the host's.
    let own = Sandbox::new().user_ns().net_ns();
    let (ns, lo) = box_net(&own);
    assert!(ns != want && ns != host, "{ns}");
    assert_eq!(lo, "['lo'] up");
    let (ns, _) = box_net(&Sandbox::new().user_ns());
    assert_eq!(ns, host);
    // Boxes in one shared namespace see each other: a listener made by one
    // box is reachable from the next (the documented trade-off).
    let mut server = Sandbox::new()
        .user_ns()
        .net_ns_shared(&shared)
        .stdout(Stdio::Pipe)
        .spawn(&Command::from_argv([
            "/usr/bin/python3",
            "-c",
            "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.bind('\\0rsandbox-shared-net')\n\
             s.listen()\nprint('ready', flush=True)\nc,_=s.accept()\nc.sendall(b'hi')",
        ]))
        .unwrap();
    let mut ready = [0u8; 6];
    server
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut ready)
        .unwrap();
    let out = run(
        &Sandbox::new().user_ns().net_ns_shared(&shared),
        "python3 -c \"import socket;s=socket.socket(socket.AF_UNIX);\
         s.connect('\\0rsandbox-shared-net');print(s.recv(2).decode())\"",
    );
    assert_eq!(text(&out.stdout), "hi\n");
    assert!(server.wait().unwrap().success());
    // Not in profiles: a live fd is not a description.
    let json = serde_json::to_string(&strict).unwrap();
    let back: Sandbox = serde_json::from_str(&json).unwrap();
    assert!(back.shared_net_ns().is_none());
    let mut plain = Sandbox::strict().mount_ns();
    plain = plain.net_ns_shared(&shared);
    assert_eq!(plain, strict);
    assert_ne!(back, strict);
}

/// The network namespace a box sees, whether its `lo` is up (a local
/// route for 127.0.0.1 exists only then) and the interfaces its `/sys`
/// lists; `hold` keeps the box running until its stdin closes.
fn box_net_sh(sb: &Sandbox, hold: bool) -> (rsandbox::Child, String) {
    let script = "readlink /proc/self/ns/net; \
                  if grep -q 127.0.0.1 /proc/net/fib_trie; then echo up; else echo down; fi; \
                  echo $(ls /sys/class/net); \
                  if [ -n \"$HOLD\" ]; then read x || true; fi";
    let mut c = sb
        .clone()
        .env("HOLD", if hold { "1" } else { "" })
        .stdin(Stdio::Pipe)
        .stdout(Stdio::Pipe)
        .spawn(&sh(script))
        .unwrap();
    let mut seen = String::new();
    let out = c.stdout.as_mut().unwrap();
    let mut b = [0u8; 1];
    while seen.matches('\n').count() < 3 && out.read(&mut b).unwrap() == 1 {
        seen.push(b[0] as char);
    }
    (c, seen)
}

// A strict box's network namespace may be one the pool made ahead
// (crate::netpool): still new for each box, `lo` up, never shared, and
// the box's own root has no capability over it either way.
both!(
    strict_boxes_take_fresh_network_namespaces_made_ahead,
    || {
        let host = net_ns_of("/proc/thread-self/ns/net");
        let made_ahead = |c: &mut rsandbox::Child| {
            let o = c.wait().unwrap();
            assert!(o.success(), "{o:?}");
            o.enforcement
                .layer("namespace:net")
                .unwrap()
                .applied
                .clone()
        };
        // The first spawn starts the pool; a spawn later takes a spare.
        let mut seen_spare = false;
        for _ in 0..if is_root() { 200 } else { 3 } {
            let (mut c, seen) = box_net_sh(&Sandbox::strict(), false);
            let mut lines = seen.lines();
            let ns = lines.next().unwrap().to_string();
            assert!(ns.starts_with("net:[") && ns != host, "{seen}");
            assert_eq!(lines.next(), Some("up"), "lo is up in every box");
            // Its /sys is of its own namespace (a spare's sysfs was made in it).
            assert_eq!(lines.next(), Some("lo"), "{seen}");
            let applied = made_ahead(&mut c);
            if applied.contains("made ahead") {
                seen_spare = true;
                break;
            }
            assert_eq!(applied, "new namespace");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            seen_spare,
            is_root(),
            "root callers get spares; unprivileged ones cannot enter them"
        );
        // Two live boxes: two namespaces, neither the host's nor the other's.
        std::thread::sleep(Duration::from_millis(50));
        let (mut a, seen_a) = box_net_sh(&Sandbox::strict(), true);
        std::thread::sleep(Duration::from_millis(50));
        let (mut b, seen_b) = box_net_sh(&Sandbox::strict(), true);
        let ns_a = seen_a.lines().next().unwrap().to_string();
        let ns_b = seen_b.lines().next().unwrap().to_string();
        assert!(
            ns_a != ns_b && ns_a != host && ns_b != host,
            "{ns_a} {ns_b}"
        );
        drop(a.stdin.take());
        drop(b.stdin.take());
        made_ahead(&mut a);
        made_ahead(&mut b);
        // A box that keeps capabilities (or asks for a sysfs) owns its
        // namespace, as without the pool.
        for sb in [
            Sandbox::new().user_ns().net_ns(),
            Sandbox::strict().keep_caps(["CAP_NET_BIND_SERVICE"]),
        ] {
            let (mut c, seen) = box_net_sh(&sb, false);
            assert_eq!(seen.lines().nth(1), Some("up"), "{seen}");
            assert_eq!(made_ahead(&mut c), "new namespace");
        }
        // The launching threads went back home.
        assert_eq!(net_ns_of("/proc/thread-self/ns/net"), host);
        assert_eq!(launcher_net_ns().as_deref().unwrap_or(host.as_str()), host);
    }
);

#[test]
fn parent_writes_the_maps_a_child_cannot() {
    if !is_root() {
        return; // mapping a range needs CAP_SETUID: a privilege error then
    }
    // Two lines: beyond what a process may map for itself, so the parent
    // writes them and the child waits for it before setting up.
    let sb = base()
        .uid_map(IdMap::new(0, 0, 1))
        .uid_map(IdMap::new(1, 100_000, 1000))
        .gid_map(IdMap::new(0, 0, 1))
        .gid_map(IdMap::new(1, 100_000, 1000))
        .uid(7)
        .gid(8)
        .pid_ns()
        .mount_ns();
    let out = run(
        &sb,
        "id -u; id -g; cat /proc/self/uid_map; touch /tmp/f; stat -c %u /tmp/f",
    );
    let s = text(&out.stdout);
    let words: Vec<&str> = s.split_whitespace().collect();
    assert_eq!(
        words,
        ["7", "8", "0", "0", "1", "1", "100000", "1000", "7"],
        "{s}"
    );
}

// The payload's own last step fails after the init made it (with a PID
// namespace it shares the init's memory until exec): the exec error still
// reaches the caller as the payload's.
both!(an_exec_failure_after_the_init_is_reported, || {
    let dir = TempDir::new("noexec");
    let bad = dir.join("not-a-program");
    // Written by a process of its own: an fd of ours inherited by another
    // test's clone would make the exec fail with ETXTBSY instead.
    let made = std::process::Command::new("/bin/sh")
        .args(["-c", "printf 'garbage\\000' > \"$0\" && chmod 755 \"$0\""])
        .arg(&bad)
        .status()
        .unwrap();
    assert!(made.success());
    for sb in [base().pid_ns(), base()] {
        for _ in 0..5 {
            // Only execve itself says ENOEXEC: the error came from the box.
            match sb.spawn(&Command::new(&bad)).unwrap_err() {
                Error::ProgramNotFound { source, .. } => {
                    assert_eq!(source.raw_os_error(), Some(libc::ENOEXEC), "{sb:?}");
                }
                other => panic!("expected the payload's exec error, got {other:?}"),
            }
        }
    }
});

#[test]
fn a_child_failing_early_reports_its_own_error() {
    // The child sets up while the parent attaches the cgroup: a child that
    // fails first (here: joining a namespace it has no privilege over,
    // from inside its user namespace) is gone before the go byte is
    // written; its own error must still be the one reported (not EPIPE,
    // nor a SIGPIPE in a host that does not ignore it).
    let sb = base()
        .pid_ns()
        .join_ns(rsandbox::Namespace::Uts, "/proc/self/ns/uts");
    // The race needs a cgroup the parent attaches after the clone: a v1
    // hierarchy (a v2 cgroup is joined by clone3 itself, and on a pure v2
    // host a limit also needs a delegated leaf).
    let sb = if has_v1_memory() {
        sb.memory_limit(64 << 20)
    } else {
        sb
    };
    for _ in 0..20 {
        match sb.spawn(&Command::new("/bin/true")).unwrap_err() {
            Error::Spawn { stage, .. } => assert_eq!(stage, rsandbox::Stage::Setns),
            other => panic!("expected the child's setns error, got {other:?}"),
        }
    }
}

// payload_as_pid1: no init; the payload is PID 1, its exit status is the
// box's, and the namespace (with any child left) ends with it.
both!(payload_as_pid1_has_no_init, || {
    let sb = base().pid_ns().mount_ns().payload_as_pid1(true);
    let out = run(
        &sb,
        "echo pid=$$; for p in /proc/[0-9]*; do echo proc=${p#/proc/}; done",
    );
    let s = text(&out.stdout);
    assert!(s.starts_with("pid=1\n"), "{s}");
    assert!(s.contains("proc=1\n") && !s.contains("proc=2\n"), "{s}");
    let o = sb.output(&sh("sleep 100 & exit 5")).unwrap();
    assert_eq!(o.outcome.status, ExitStatus::Exited(5));
    for bad in [
        Sandbox::new().payload_as_pid1(true),
        base().payload_as_pid1(true),
    ] {
        let e = bad.spawn(&sh("true")).unwrap_err();
        assert!(e.to_string().contains("payload_as_pid1"), "{e}");
    }
});
