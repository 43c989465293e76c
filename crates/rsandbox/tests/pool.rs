//! The warm pool (`Sandbox::pool`), seen from inside pooled boxes: their
//! own pid namespace and init, hostname, /tmp, limits and seccomp filter;
//! each Child's outcome its own; bad commands refused with typed errors
//! before a box is used; a dropped pool leaves no process or fd. Every
//! `both!` scenario runs as the caller (root in CI) and as `nobody`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::*;
use rsandbox::seccomp::{Action, SeccompPolicy};
use rsandbox::{Command, Error, Pool, Sandbox, Stdio};

fn sh(script: &str) -> Command {
    Command::from_argv(["/bin/sh", "-c", script])
}

/// A box description with every namespace a pooled box is tested for,
/// a private /tmp, and a filter that refuses mkdir.
fn described() -> Sandbox {
    let deny_mkdir = SeccompPolicy::new(Action::Allow)
        .deny("mkdir", libc::EPERM)
        .deny("mkdirat", libc::EPERM);
    Sandbox::new()
        .user_ns()
        .pid_ns()
        .mount_ns()
        .uts_ns()
        .hostname("pooled")
        .tmpfs("/tmp", 1 << 20)
        .seccomp(deny_mkdir)
        .stdin(Stdio::Pipe)
        .stdout(Stdio::Pipe)
        .stderr(Stdio::Pipe)
}

/// The tests of this file one at a time (the drop test counts this
/// process's boxes).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// This process's boxes and everything under them (pidfds, with what
/// each runs): the direct children that are a box's init (exec'd from the
/// `rsandbox-init` memfd; non-dumpable, so unreadable to `nobody`), not
/// the `nobody` re-runs of the other tests, and their descendants.
fn our_boxes() -> Vec<(i32, String, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    // SAFETY: trivial getter.
    let me = unsafe { libc::getpid() };
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{me}/task"))
        .unwrap()
        .flatten()
    {
        let kids = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
        for k in kids.split_whitespace() {
            let k: i32 = k.parse().unwrap();
            // By name, which stays readable whoever runs it (its exe may
            // not be, to nobody) and does not vanish while a process exits
            // (a concurrent `::nobody` test's child, say): the box's init
            // and the payload it holds at the gate.
            let exe = std::fs::read_to_string(format!("/proc/{k}/comm")).unwrap_or_default();
            if !(exe.starts_with("rsandbox-init") || exe.starts_with("memfd:rsandbox")) {
                continue;
            }
            if let Ok(fd) = rsandbox::sys::pidfd_open(k) {
                // SAFETY: a fresh pidfd we own.
                out.push((k, exe, unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }));
            }
            for (p, fd) in descendants(k) {
                out.push((p, "(in the box)".into(), fd));
            }
        }
    }
    out
}

/// This process's fds of the kinds a pool holds besides pipes: gate
/// sockets, pidfds, memfds.
fn pool_kind_fds() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|l| l.display().to_string())
        .filter(|l| l.starts_with("socket:") || l.contains("pidfd") || l.contains("memfd:"))
        .collect();
    v.sort();
    v
}

/// The payload's stderr says a call of its was refused with EPERM.
fn assert_refused_with_eperm(stderr: &[u8]) {
    let e = text(stderr);
    assert!(e.contains("Operation not permitted"), "{e}");
}

/// Wait (bounded) until the pool holds `n` ready boxes.
fn wait_ready(pool: &Pool, n: usize) {
    let end = Instant::now() + Duration::from_secs(30);
    while pool.ready() < n {
        assert!(Instant::now() < end, "pool never reached {n} ready boxes");
        std::thread::sleep(Duration::from_millis(10));
    }
}

both!(
    pooled_boxes_are_isolated_and_report_their_own_status,
    || {
        let _g = serial();
        let pool = described().pool(2).unwrap();
        wait_ready(&pool, 2);
        let mut a = pool
            .spawn(&sh("echo a > /tmp/mine; ls -A /tmp; read x; exit 3"))
            .unwrap();
        let layer = a.enforcement().layer("pool").cloned().unwrap();
        assert!(layer.applied.contains("warm pool of 2"), "{layer:?}");
        let mut line = String::new();
        BufReader::new(a.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "mine\n");
        // While A holds its file: B sees its own empty /tmp, its own pids and
        // hostname, and its filter.
        let script = "ls -A /tmp; echo pid=$$ ppid=$PPID; cat /proc/1/comm; \
                  cat /proc/sys/kernel/hostname; mkdir /tmp/d || echo denied; exit 7";
        let b = pool.spawn(&sh(script)).unwrap();
        let out = b.wait_with_output().unwrap();
        let s = text(&out.stdout);
        assert_eq!(
            s,
            "pid=2 ppid=1\nrsandbox-init\npooled\ndenied\n",
            "stderr: {}",
            text(&out.stderr)
        );
        assert_refused_with_eperm(&out.stderr);
        assert_eq!(out.outcome.exit_code(), Some(7), "{:?}", out.outcome);
        a.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
        let o = a.wait().unwrap();
        assert_eq!(o.exit_code(), Some(3), "{o:?}");
    }
);

both!(many_spawns_never_block_and_each_is_its_own, || {
    // More spawns than boxes, back to back: the empty pool spawns
    // directly; every Child's status is its own.
    let _g = serial();
    let pool = described().stdin(Stdio::Null).pool(1).unwrap();
    let mut kids = Vec::new();
    for i in 0..6 {
        kids.push((i, pool.spawn(&sh(&format!("exit {i}"))).unwrap()));
    }
    for (i, mut c) in kids {
        assert!(c.enforcement().layer("pool").is_some());
        assert_eq!(c.wait().unwrap().exit_code(), Some(i));
    }
});

both!(a_limit_applies_in_each_pooled_box, || {
    let _g = serial();
    let pool = described()
        .stdin(Stdio::Null)
        .rlimit_fsize(1000)
        .pool(1)
        .unwrap();
    wait_ready(&pool, 1);
    let out = pool
        .spawn(&sh("head -c 5000 /dev/zero > /tmp/f; echo rc=$?"))
        .unwrap()
        .wait_with_output()
        .unwrap();
    // SIGXFSZ (25) ends head: 128 + 25.
    assert_eq!(text(&out.stdout), "rc=153\n", "{}", text(&out.stderr));
});

/// A pooled box's wait returns at its payload's end, from its init's
/// report: the outcome carries the payload's own status, CPU time and peak
/// memory. The init's exit and the box's cgroup (as root: a pids limit)
/// are finished off the caller's path, and are gone once the pool is.
#[test]
fn a_pooled_outcome_is_the_payloads_and_its_box_still_ends() {
    let _g = serial();
    let sb = described().stdin(Stdio::Null);
    let sb = if is_root() {
        cgroup_dirs::where_boxes_may_go(sb).pids_limit(16)
    } else {
        sb
    };
    let pool = sb.pool(1).unwrap();
    wait_ready(&pool, 1);
    let busy = "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; exit 5";
    let mut child = pool.spawn(&sh(busy)).unwrap();
    let o = child.wait().unwrap();
    assert_eq!(o.exit_code(), Some(5), "{o:?}");
    assert!(o.user_time + o.system_time > Duration::ZERO, "{o:?}");
    assert!(o.max_rss > 0, "{o:?}");
    if is_root() {
        // Its counters (read from files opened when the box was made) are
        // the payload's: the busy loop's CPU time is in them.
        let cg = o.cgroup.as_ref().expect("a cgroup");
        assert!(cg.pids_peak.is_some_and(|p| p >= 2), "{o:?}");
        let cpu = cg.cpu_time.expect("cgroup CPU time");
        assert!(cpu >= (o.user_time + o.system_time) / 2, "{o:?}");
    }
    drop(pool);
    // The init is reaped: its pidfd says it has exited, and it is no
    // child of ours to wait for any more.
    let pidfd = std::os::fd::AsFd::as_fd(&child).as_raw_fd();
    let r = unsafe {
        // SAFETY: waitid on a pidfd we hold, into a zeroed siginfo.
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::waitid(
            libc::P_PIDFD,
            pidfd as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG,
        )
    };
    assert_eq!(r, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::ECHILD)
    );
    assert!(our_boxes().is_empty(), "{:?}", our_boxes());
    assert!(
        cgroup_dirs::our_cgroup_dirs().is_empty(),
        "{:?}",
        cgroup_dirs::our_cgroup_dirs()
    );
}

// A pooled box's filter goes on before the box waits when it lets every
// read, write and close through. One that refuses some reads (here: reads
// of exactly 4 bytes, which is how the gate's message starts) must go on
// after the gate instead: the box still takes its command, and the rule
// holds in the payload.
both!(
    a_filter_that_conditions_reads_goes_on_after_the_gate,
    || {
        use rsandbox::seccomp::{ArgCmp, CmpOp};
        let _g = serial();
        let four_byte_reads = SeccompPolicy::new(Action::Allow).rule_if(
            "read",
            Action::EPERM,
            [ArgCmp::new(2, CmpOp::Eq, 4)],
        );
        let pool = described()
            .stdin(Stdio::Null)
            .seccomp(four_byte_reads)
            .pool(1)
            .unwrap();
        wait_ready(&pool, 1);
        let out = pool
            .spawn(&sh(
                "echo started; dd if=/etc/hostname bs=4 count=1 || echo refused",
            ))
            .unwrap()
            .wait_with_output()
            .unwrap();
        assert_eq!(
            text(&out.stdout),
            "started\nrefused\n",
            "{}",
            text(&out.stderr)
        );
        assert_refused_with_eperm(&out.stderr);
    }
);

/// As root: a pids limit (a cgroup of the box's own) holds in a pooled box.
#[test]
fn a_cgroup_pids_limit_applies_in_each_pooled_box() {
    if !is_root() {
        println!("skipped: cgroup limits need root here");
        return;
    }
    let _g = serial();
    let pool = cgroup_dirs::where_boxes_may_go(described())
        .stdin(Stdio::Null)
        .pids_limit(8)
        .pool(1)
        .unwrap();
    wait_ready(&pool, 1);
    let script = "n=0; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 2>/dev/null & \
                  [ $? = 0 ] && n=$((n+1)); done; kill $(jobs -p) 2>/dev/null; echo done";
    let out = pool.spawn(&sh(script)).unwrap().wait_with_output().unwrap();
    let cg = out.outcome.cgroup.clone().expect("a cgroup");
    let peak = cg.pids_peak.expect("pids peak");
    assert!(peak <= 8, "{cg:?}");
    assert!(
        text(&out.stderr).contains("fork") || text(&out.stderr).contains("Resource"),
        "no fork failed: {}",
        text(&out.stderr)
    );
}

#[test]
fn bad_commands_and_descriptions_are_typed_errors() {
    let _g = serial();
    let pool = described().stdin(Stdio::Null).pool(1).unwrap();
    wait_ready(&pool, 1);
    let e = pool.spawn(&Command::new("/no/such/program")).unwrap_err();
    assert!(matches!(e, Error::ProgramNotFound { .. }), "{e:?}");
    let many = Command::new("/bin/true").args(vec!["x"; 300]);
    let e = pool.spawn(&many).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidConfig { reason, .. } if reason.contains("256")),
        "{e:?}"
    );
    let long = Command::new("/bin/true").arg("a".repeat(40 * 1024));
    let e = pool.spawn(&long).unwrap_err();
    assert!(matches!(e, Error::InvalidConfig { .. }), "{e:?}");
    // No box was used: the ready one is still there.
    assert_eq!(pool.ready(), 1);
    for (sb, n) in [
        (Sandbox::new().user_ns(), 1),
        (Sandbox::new().user_ns().pid_ns().payload_as_pid1(true), 1),
        (described(), 0),
    ] {
        let e = sb.pool(n).unwrap_err();
        assert!(matches!(e, Error::InvalidConfig { .. }), "{e:?}");
    }
}

both!(drop_leaves_no_process_or_fd, || {
    let _g = serial();
    // A first pool made and dropped: what the library opens once per
    // process (the launcher thread's pipes, say) is open before counting.
    drop(described().stdin(Stdio::Null).pool(1).unwrap());
    let fds_before = open_fds();
    let kinds_before = pool_kind_fds();
    let pool = described().stdin(Stdio::Null).pool(3).unwrap();
    wait_ready(&pool, 3);
    let out = pool
        .spawn(&sh("echo used"))
        .unwrap()
        .wait_with_output()
        .unwrap();
    assert_eq!(text(&out.stdout), "used\n");
    wait_ready(&pool, 3);
    // Three boxes: an init and its payload waiting at the gate each (the
    // used box's init may still be ending on the pool's tail thread).
    let end = Instant::now() + Duration::from_secs(5);
    let mut boxes = our_boxes();
    while boxes.len() > 6 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
        boxes = our_boxes();
    }
    assert_eq!(boxes.len(), 6, "{boxes:?}");
    drop(pool);
    let pidfds: Vec<_> = boxes.into_iter().map(|(p, _, fd)| (p, fd)).collect();
    assert_all_dead(&pidfds);
    drop(pidfds);
    let left = our_boxes();
    assert!(left.is_empty(), "left: {left:?}");
    assert_eq!(pool_kind_fds(), kinds_before);
    if as_nobody() {
        // Alone in its process (the caller's run shares it with the other
        // tests' pipes to their `nobody` re-runs): every fd.
        assert_eq!(open_fds(), fds_before);
    }
});

both!(a_thousand_pooled_spawns_leave_nothing, || {
    let _g = serial();
    drop(described().stdin(Stdio::Null).pool(1).unwrap());
    let (fds, kinds) = (open_fds(), pool_kind_fds());
    let (mounts, cgroups) = (mountinfo(), common::cgroup_dirs::our_cgroup_dirs());
    let quiet = described()
        .stdin(Stdio::Null)
        .stdout(Stdio::Null)
        .stderr(Stdio::Null);
    let pool = quiet.pool(2).unwrap();
    let t = Command::new("/bin/true");
    for _ in 0..1000 {
        assert!(pool.spawn(&t).unwrap().wait().unwrap().success());
    }
    drop(pool);
    let left = our_boxes();
    assert!(left.is_empty(), "left: {left:?}");
    assert_eq!(pool_kind_fds(), kinds);
    assert_eq!(mountinfo(), mounts, "the caller's mount table changed");
    assert_eq!(common::cgroup_dirs::our_cgroup_dirs(), cgroups);
    if as_nobody() {
        assert_eq!(open_fds(), fds);
    }
});

/// This process's mount table.
fn mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}
