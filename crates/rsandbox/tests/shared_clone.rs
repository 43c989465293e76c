//! The box's first process shares the caller's memory until its exec
//! (`CLONE_VM | CLONE_VFORK`, `sys/vfork.rs`), so a spawn costs the same
//! from a small caller and from one holding gigabytes. These tests hold the
//! promises that make that sound: the box is as isolated as before, and the
//! caller is left exactly as it was (its dumpability, its signal handlers
//! and mask), even when signals hit the child during its setup.

mod common;

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::Mutex;

use common::*;
use rsandbox::{Command, IdMap, Sandbox, Stdio};

/// The tests here change this process's signal handlers and signal its
/// children (the `nobody` reruns among them): one at a time.
static ALONE: Mutex<()> = Mutex::new(());

/// `both!`, with the `nobody` rerun under [`ALONE`] too.
macro_rules! alone_both {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn caller() {
                let _g = ALONE.lock().unwrap_or_else(|p| p.into_inner());
                let f: fn() = $body;
                f()
            }
            #[test]
            fn nobody() {
                let _g = ALONE.lock().unwrap_or_else(|p| p.into_inner());
                rerun_as_nobody(concat!(stringify!($name), "::caller"));
            }
        }
    };
}

fn sh(sb: &Sandbox, script: &str) -> rsandbox::Output {
    sb.clone()
        .stdout(Stdio::Pipe)
        .stderr(Stdio::Pipe)
        .output(&Command::from_argv(["/bin/sh", "-c", script]))
        .unwrap()
}

alone_both!(a_strict_box_shares_memory_and_is_isolated, || {
    let sb = Sandbox::strict();
    let c = sb.spawn(&Command::new("/bin/true")).unwrap();
    assert!(c.cloned_sharing_memory(), "the strict box was copied");
    // What the payload sees is the strict box, unchanged.
    let o = sh(
        &sb,
        "echo pid=$$; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; \
         ls /proc | grep -c '^[0-9]'; cat /proc/1/cmdline | tr '\\0' ' '",
    );
    let t = text(&o.stdout);
    assert!(o.outcome.success(), "{t}{}", text(&o.stderr));
    assert!(t.contains("CapEff:\t0000000000000000"), "{t}");
    assert!(t.contains("NoNewPrivs:\t1"), "{t}");
    assert!(t.contains("Seccomp:\t2"), "{t}");
    // Its own PID namespace: the init, the shell, ls, grep (and cat's
    // neighbours at most), never the host's processes.
    let procs: usize = t.lines().nth(4).unwrap().trim().parse().unwrap();
    assert!(procs <= 6, "{t}");
});

/// A pipe for a start gate: (read end, write end).
fn gate_pipe() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let mut fds = [-1; 2];
    // SAFETY: pipe2 writes two fds into the array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both fds are fresh and ours.
    unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    }
}

// A box held at a start gate (a warm pool's box is one) shares the caller's
// memory when its init waits at the gate, after the init's exec, and is
// released by its byte as before; its filter is on when it runs. Without
// the init the payload itself would wait before its exec, with the caller's
// cloning thread suspended: that box is copied.
alone_both!(a_box_its_init_holds_at_a_gate_shares_memory, || {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    for (as_pid1, shares) in [(false, true), (true, false)] {
        let (r, mut w) = gate_pipe();
        let c = Sandbox::strict()
            .payload_as_pid1(as_pid1)
            .start_gate(r.as_raw_fd())
            .stdout(Stdio::Pipe)
            .spawn(&Command::from_argv([
                "/bin/sh",
                "-c",
                "echo released; grep ^Seccomp: /proc/self/status",
            ]))
            .unwrap();
        drop(r);
        assert_eq!(
            c.cloned_sharing_memory(),
            shares,
            "payload as pid 1: {as_pid1}"
        );
        w.write_all(b"x").unwrap();
        let o = c.wait_with_output().unwrap();
        assert!(o.outcome.success(), "{:?}", o.outcome);
        assert_eq!(text(&o.stdout), "released\nSeccomp:\t2\n");
    }
});

/// A box whose ids the parent maps (a range: root only) shares memory too:
/// the caller's thread writes the maps while the cloning thread waits for
/// the exec. The child moves to another kernel uid there, which resets the
/// shared `mm`'s dumpability: the caller gets its own back.
#[test]
fn ids_the_parent_maps_are_mapped_while_the_clone_waits() {
    let _g = ALONE.lock().unwrap_or_else(|p| p.into_inner());
    if !is_root() {
        eprintln!("a range of ids needs root: nothing to check");
        return;
    }
    let range = IdMap {
        inside: 0,
        outside: 100_000,
        count: 65_536,
    };
    let sb = Sandbox::strict()
        .uid_map(range)
        .gid_map(range)
        .uid(1000)
        .gid(1000);
    assert_eq!(dumpable(), 1);
    for _ in 0..20 {
        let o = sh(&sb, "id -u; id -g; echo x > /tmp/f; stat -c %u /tmp/f");
        assert!(o.outcome.success(), "{}", text(&o.stderr));
        assert_eq!(text(&o.stdout), "1000\n1000\n1000\n");
    }
    let mut c = sb.spawn(&Command::from_argv(["/bin/sleep", "5"])).unwrap();
    assert!(c.cloned_sharing_memory());
    // The host sees the box's process as 101000, not as root.
    let status = std::fs::read_to_string(format!("/proc/{}/status", c.pid())).unwrap();
    c.kill().unwrap();
    c.wait().unwrap();
    // uid 1000 inside is 100000 + 1000 outside, in all four uid fields.
    assert!(
        status
            .lines()
            .any(|l| l == "Uid:\t101000\t101000\t101000\t101000"),
        "{status}"
    );
    // The default strict box of a root caller: its ids map to nobody
    // (issue 19), a map the parent writes; it shares memory as well.
    let c = Sandbox::strict().spawn(&Command::new("/bin/true")).unwrap();
    assert!(c.cloned_sharing_memory());
    assert_eq!(dumpable(), 1, "the caller lost its dumpability");
}

/// A box without a user namespace, or one that joins a namespace, is
/// cloned as a copy (the kernel refuses a user namespace to a process
/// sharing its memory, and any other puts it beside processes it did not
/// make). Joining the host's namespaces needs root.
#[test]
fn a_box_that_joins_a_namespace_is_copied() {
    let _g = ALONE.lock().unwrap_or_else(|p| p.into_inner());
    if !is_root() {
        eprintln!("joining the host's UTS namespace needs root: nothing to check");
        return;
    }
    let sb = Sandbox::new()
        .mount_ns()
        .join_ns(rsandbox::Namespace::Uts, "/proc/self/ns/uts");
    let o = sh(&sb, "true");
    assert!(o.outcome.success(), "{}", text(&o.stderr));
    let c = sb.spawn(&Command::new("/bin/true")).unwrap();
    assert!(!c.cloned_sharing_memory());
}

static MAIN_PID: AtomicI32 = AtomicI32::new(0);
static RAN_ELSEWHERE: AtomicBool = AtomicBool::new(false);
static RAN_HERE: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_usr1(_: libc::c_int) {
    // SAFETY: getpid is async-signal-safe.
    if unsafe { libc::getpid() } != MAIN_PID.load(Ordering::Relaxed) {
        // Only a child sharing our memory can make this store visible.
        RAN_ELSEWHERE.store(true, Ordering::Relaxed);
    } else {
        RAN_HERE.fetch_add(1, Ordering::Relaxed);
    }
}

fn install_usr1() {
    // SAFETY: a plain handler installed with a zeroed, typed sigaction.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
}

fn current_usr1_handler() -> usize {
    // SAFETY: query only.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGUSR1, std::ptr::null(), &mut old);
        old.sa_sigaction
    }
}

fn thread_mask() -> Vec<i32> {
    // SAFETY: query only; sigismember on the returned set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_SETMASK, std::ptr::null(), &mut set);
        (1..32)
            .filter(|&s| libc::sigismember(&set, s) == 1)
            .collect()
    }
}

fn dumpable() -> i32 {
    // SAFETY: prctl query.
    unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) }
}

/// Children of this process listed by the kernel (boxes still setting up
/// among them), read from every thread's `children` file.
fn our_children() -> Vec<libc::pid_t> {
    let mut out = Vec::new();
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let f = t.path().join("children");
        if let Ok(s) = std::fs::read_to_string(f) {
            out.extend(s.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
        }
    }
    out
}

alone_both!(the_caller_is_left_as_it_was, || {
    // SAFETY: trivial getter.
    MAIN_PID.store(unsafe { libc::getpid() }, Ordering::Relaxed);
    install_usr1();
    let handler = current_usr1_handler();
    // SAFETY: blocks SIGUSR2 in this thread only (a mask the spawn must
    // hand back as it was).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR2);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    let mask = thread_mask();
    assert_eq!(dumpable(), 1);

    // A thread sends SIGUSR1 to every child of this process it sees, boxes
    // in their setup among them (sharing this process's memory there):
    // the caller's handler must never run in one.
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let hammer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sent = 0usize;
            while !stop.load(Ordering::Relaxed) {
                for pid in our_children() {
                    // SAFETY: a signal to a child this process started.
                    unsafe { libc::kill(pid, libc::SIGUSR1) };
                    sent += 1;
                }
            }
            sent
        })
    };
    let sb = Sandbox::strict();
    let mut shared = 0;
    for _ in 0..200 {
        // A box hit in its setup fails to spawn or ends by the signal:
        // both are fine here; only where the handler ran matters.
        if let Ok(mut c) = sb.spawn(&Command::from_argv(["/bin/sleep", "0.01"])) {
            shared += usize::from(c.cloned_sharing_memory());
            let _ = c.wait();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let sent = hammer.join().unwrap();
    assert!(sent > 0, "no child was ever seen");
    assert!(shared > 0, "no box shared memory");
    assert!(
        !RAN_ELSEWHERE.load(Ordering::Relaxed),
        "the caller's handler ran in a child"
    );
    // The caller: still dumpable, same handler, same mask.
    assert_eq!(dumpable(), 1, "the caller lost its dumpability");
    assert_eq!(current_usr1_handler(), handler);
    assert_eq!(thread_mask(), mask);
});
