//! The escapes of the 2026-12 security review (`shared/SECURITY-REVIEW.md`),
//! each reproduced as the review did it and refused. Every `both!` scenario
//! runs as the caller (root in CI) and as `nobody`.
//!
//! - F1: a working directory that leaves the root through a process's fd
//!   (runc CVE-2024-21626);
//! - F3: a PID 1 that is a copy of the caller (its memory, environment and
//!   fds readable, unfiltered);
//! - F8: die-with-parent lost after a uid switch;
//! - F9: a payload forging its own outcome through PID 1's status pipe.

mod common;

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::time::Duration;

use common::*;
use rsandbox::{Command, Error, ExitStatus, Sandbox, Stage};

fn sh(script: &str) -> Command {
    Command::from_argv(["/bin/sh", "-c", script])
}

/// The strict preset, as the CLI's `rsandbox run` uses it.
fn strict() -> Sandbox {
    Sandbox::strict()
}

/// Whether spawning with `cwd` was refused, before spawn (the cwd field) or
/// by the child resolving it (the cwd stage); panics if the box ran.
fn refused(sb: &Sandbox, cwd: &str) -> bool {
    match sb
        .clone()
        .cwd(cwd)
        .output(&sh("cat ../proc/1/comm; ls ../../../.."))
    {
        Err(Error::InvalidConfig { field, .. }) => field == "cwd",
        Err(Error::Spawn {
            stage: Stage::Cwd, ..
        }) => true,
        Err(other) => panic!("cwd {cwd}: unexpected error {other:?}"),
        Ok(o) => panic!(
            "cwd {cwd}: the box ran ({:?}): {}{}",
            o.outcome.reason,
            text(&o.stdout),
            text(&o.stderr)
        ),
    }
}

// F1: `rsandbox run --cwd /proc/self/fd/38` landed in the template's view,
// whose `..` held the host's /proc. Every process-fd cwd is refused, for
// every fd number a caller may hold, with host directories held open.
both!(cwd_through_a_process_fd_is_refused, || {
    let sb = strict();
    // The first strict box builds the template view (the review's fd 38).
    assert!(sb
        .output(&Command::new("/bin/true"))
        .unwrap()
        .outcome
        .success());
    let held: Vec<std::fs::File> = ["/", "/proc", "/etc", "/sys/fs/cgroup"]
        .iter()
        .filter_map(|p| std::fs::File::open(p).ok())
        .collect();
    assert!(!held.is_empty());
    for n in 0..64 {
        for cwd in [
            format!("/proc/self/fd/{n}"),
            format!("/proc/thread-self/fd/{n}"),
            format!("/proc/1/fd/{n}"),
            format!("/proc/self/fd/{n}/.."),
            format!("/tmp/../proc/self/fd/{n}"),
        ] {
            assert!(refused(&sb, &cwd), "{cwd}");
        }
    }
    for cwd in [
        "/proc/self/cwd",
        "/proc/self/root",
        "/proc/1/root",
        "/proc/self/task/1/cwd",
    ] {
        assert!(refused(&sb, cwd), "{cwd}");
    }
});

// F1 through a symlink: validation follows a host symlink, so a link that
// another user planted in a shared directory passes it; the child resolves
// the cwd in the box's root without magic links and refuses it.
both!(
    cwd_through_a_planted_symlink_is_refused_by_the_child,
    || {
        let dir = TempDir::new("cwdlink");
        for n in 0..48 {
            symlink(format!("/proc/self/fd/{n}"), dir.join(format!("fd{n}"))).unwrap();
        }
        symlink("/proc/1/cwd", dir.join("init-cwd")).unwrap();
        let sb = strict().bind(dir.path(), "/work");
        assert!(sb
            .output(&Command::new("/bin/true"))
            .unwrap()
            .outcome
            .success());
        for n in 0..48 {
            assert!(refused(&sb, &format!("/work/fd{n}")), "fd{n}");
        }
        assert!(refused(&sb, "/work/init-cwd"));
        // An ordinary symlink is followed, inside the box's root.
        symlink("/etc", dir.join("etc")).unwrap();
        let o = sb.clone().cwd("/work/etc").output(&sh("pwd -P")).unwrap();
        assert!(o.outcome.success(), "{o:?}");
        assert_eq!(text(&o.stdout).trim(), "/etc");
    }
);

/// What a payload can learn or do to PID 1.
const PROBE_PID1: &str = r#"
cat /proc/1/environ >/dev/null 2>&1 && echo ENVIRON-READ
for f in /proc/1/fd/*; do readlink "$f" >/dev/null 2>&1 && echo "LINK-READ $f"; done
readlink /proc/1/exe >/dev/null 2>&1 && echo EXE-READ
(exec 3</proc/1/mem) 2>/dev/null && echo MEM-OPENED
(exec 3<>/proc/1/mem) 2>/dev/null && echo MEM-OPENED-RW
(exec 3>>/proc/1/exe) 2>/dev/null && echo EXE-OPENED-W
for f in /proc/1/fd/*; do (printf x >"$f") 2>/dev/null && echo "WROTE $f"; done
grep -E '^(Seccomp|CapEff|CapPrm|CapAmb|NoNewPrivs):' /proc/1/status
echo comm=$(cat /proc/1/comm)
"#;

// F3: PID 1 was a dumpable, unfiltered copy of the caller: the payload read
// the caller's environment and memory and ran code in it. Now PID 1 is the
// exec'd init: non-dumpable, no capabilities, filtered.
both!(pid_1_gives_the_payload_nothing, || {
    let o = strict().output(&sh(PROBE_PID1)).unwrap();
    assert!(o.outcome.success(), "{o:?}");
    let t = text(&o.stdout);
    for bad in [
        "ENVIRON-READ",
        "LINK-READ",
        "EXE-READ",
        "MEM-OPENED",
        "EXE-OPENED",
        "WROTE",
    ] {
        assert!(!t.contains(bad), "{bad} in:\n{t}");
    }
    for want in [
        "Seccomp:\t2",
        "CapEff:\t0000000000000000",
        "CapPrm:\t0000000000000000",
        "CapAmb:\t0000000000000000",
        "NoNewPrivs:\t1",
        "comm=rsandbox-init",
    ] {
        assert!(t.contains(want), "no {want} in:\n{t}");
    }
});

// F3, a box that keeps its capabilities (CAP_SYS_PTRACE in its own user
// namespace): it may read PID 1, which holds only the payload's own argv
// and environment, and has no capability and a filter of its own.
both!(
    pid_1_of_a_box_keeping_caps_holds_only_the_payloads_data,
    || {
        let sb = Sandbox::new()
            .user_ns()
            .pid_ns()
            .mount_ns()
            .env("BOXVAR", "x");
        let o = sb
            .output(&sh(
                "set +e; echo ENV; tr '\\0' '\\n' </proc/1/environ; echo END; \
             grep -E '^(Seccomp|CapEff):' /proc/1/status; \
             readlink /proc/1/exe; true",
            ))
            .unwrap();
        assert!(o.outcome.success(), "{o:?}");
        let t = text(&o.stdout);
        let env = t
            .split("ENV\n")
            .nth(1)
            .and_then(|r| r.split("END\n").next())
            .unwrap();
        // Readable where the box's root is the init's owner (a root caller's
        // box); a nobody caller's box cannot even read it.
        assert!(
            env.lines().any(|l| l == "BOXVAR=x") || text(&o.stderr).contains("Permission denied"),
            "{t}"
        );
        for (k, _) in std::env::vars() {
            if !matches!(k.as_str(), "PATH" | "HOME" | "TERM") {
                assert!(
                    !env.contains(&format!("{k}=")),
                    "the caller's {k} in:\n{env}"
                );
            }
        }
        assert!(t.contains("Seccomp:\t2"), "{t}");
        assert!(t.contains("CapEff:\t0000000000000000"), "{t}");
        // Readable where the environment was.
        assert!(
            t.contains("/memfd:rsandbox-init") || text(&o.stderr).contains("Permission denied"),
            "{t}"
        );
    }
);

// F3 from the host: the box's PID 1 is the small init program, its exe a
// sealed memfd, its environment the payload's, its memory a few pages.
#[test]
fn pid_1_seen_from_the_host_is_the_init_program() {
    if !is_root() {
        println!("skipped: reading another process's /proc entries needs root");
        return;
    }
    let child = strict()
        .env("BOXVAR", "y")
        .spawn(&Command::from_argv(["/bin/sleep", "100"]))
        .unwrap();
    let pid = child.pid();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(
        exe.to_string_lossy().starts_with("/memfd:rsandbox-init"),
        "{exe:?}"
    );
    let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let env = text(&env);
    assert!(env.contains("BOXVAR=y"), "{env:?}");
    for (k, _) in std::env::vars() {
        if k != "PATH" && k != "HOME" && k != "TERM" {
            assert!(
                !env.contains(&format!("{k}=")),
                "the caller's {k} in {env:?}"
            );
        }
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap();
    assert!(rss_kb < 1024, "init VmRSS {rss_kb} kB");
    assert!(status.contains("Seccomp:\t2"), "{status}");
    drop(child);
}

// F9: the payload wrote a fake status into PID 1's status pipe and was
// reported `exited 0` although SIGKILLed. Strict boxes cannot reach the
// pipe; a box that keeps CAP_SYS_PTRACE can, and its forgery disagrees with
// the init's own exit status, so it is not believed.
both!(the_payload_cannot_forge_its_outcome, || {
    let forge =
        r#"for f in /proc/1/fd/*; do printf '\0\0\0\0' >"$f"; done 2>/dev/null; kill -9 $$"#;
    for sb in [strict(), Sandbox::new().user_ns().pid_ns().mount_ns()] {
        let o = sb.output(&sh(forge)).unwrap();
        assert_eq!(o.outcome.status, ExitStatus::Signaled(9), "{:?}", o.outcome);
    }
    // The genuine statuses still come through exactly.
    let o = strict().output(&sh("exit 7")).unwrap();
    assert_eq!(o.outcome.status, ExitStatus::Exited(7));
    let o = strict().output(&sh("exit 200")).unwrap();
    assert_eq!(o.outcome.status, ExitStatus::Exited(200));
});

/// Helper process for `a_killed_caller_leaves_no_box_after_a_uid_switch`:
/// spawns a box that switches uid, prints its pid, and waits to be killed.
#[test]
fn helper_uid_switch_then_wait() {
    let Some(mode) = std::env::var_os("RSANDBOX_HELPER_F8") else {
        return;
    };
    let sb = if is_root() {
        Sandbox::new().uid(1000).gid(1000)
    } else {
        Sandbox::new().user_ns().uid(1000).gid(1000)
    };
    let sb = if mode == "pid" { sb.pid_ns() } else { sb };
    let sb = if mode == "pid" && is_root() {
        sb.user_ns()
            .uid_map(rsandbox::IdMap::new(1000, 1000, 1))
            .gid_map(rsandbox::IdMap::new(1000, 1000, 1))
    } else {
        sb
    };
    // The program itself, not through a shell: a box without a PID
    // namespace is one process to the death signal.
    // No stdio of ours in the box: a box that outlived its caller (the
    // bug) must fail the test, not hold its pipes open and hang it.
    let child = sb
        .stdout(rsandbox::Stdio::Null)
        .stderr(rsandbox::Stdio::Null)
        .spawn(&Command::from_argv(["/bin/sleep", "1000"]))
        .unwrap();
    println!("BOXPID {}", child.pid());
    std::thread::sleep(Duration::from_secs(1000));
}

fn caller_killed_after_a_uid_switch(mode: &str) {
    use std::io::BufRead;
    let mut helper = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "helper_uid_switch_then_wait", "--nocapture"])
        .env("RSANDBOX_HELPER_F8", mode)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = std::io::BufReader::new(helper.stdout.take().unwrap());
    let pid: i32 = loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "helper printed no pid"
        );
        if let Some(p) = line.strip_prefix("BOXPID ") {
            break p.trim().parse().unwrap();
        }
    };
    let fd = rsandbox::sys::pidfd_open(pid).expect("the box runs");
    // SAFETY: a fresh pidfd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // The caller dies without a chance to clean up.
    helper.kill().unwrap();
    helper.wait().unwrap();
    assert_all_dead(&[(pid, fd)]);
}

// F8: the kernel clears the death signal when the box's credentials change;
// a SIGKILLed caller used to leave the box running.
both!(a_killed_caller_leaves_no_box_after_a_uid_switch, || {
    caller_killed_after_a_uid_switch("plain");
    caller_killed_after_a_uid_switch("pid");
});
