//! Proves the no-allocation rule of the child: this binary's global
//! allocator aborts when called in any process other than the test process,
//! so a child that allocates between clone and exec (or a PID-1 init that
//! allocates) dies with SIGABRT instead of running the payload.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI32, Ordering};

use rsandbox::{Command, ExitStatus, Sandbox, Stdio};

struct GuardAlloc;

static PARENT: AtomicI32 = AtomicI32::new(0);

fn guard() {
    let parent = PARENT.load(Ordering::Relaxed);
    // SAFETY: raw getpid (glibc's cached pid is stale after a raw clone).
    let me = unsafe { libc::syscall(libc::SYS_getpid) } as i32;
    if parent != 0 && me != parent {
        let msg = b"rsandbox: allocation in the child between clone and exec\n";
        // SAFETY: write to stderr and abort: both async-signal-safe.
        unsafe {
            libc::write(2, msg.as_ptr().cast(), msg.len());
            libc::abort();
        }
    }
}

// SAFETY: delegates to the system allocator after the check.
unsafe impl GlobalAlloc for GuardAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        guard();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        guard();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        guard();
        // SAFETY: forwarded; p was allocated by System with l.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        guard();
        // SAFETY: forwarded; p was allocated by System with l.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: GuardAlloc = GuardAlloc;

fn arm() {
    // SAFETY: raw getpid.
    PARENT.store(
        unsafe { libc::syscall(libc::SYS_getpid) } as i32,
        Ordering::Relaxed,
    );
}

/// Control: the guard really fires in a forked child that allocates.
#[test]
fn guard_catches_an_allocating_child() {
    arm();
    // SAFETY: fork in a test; the child allocates on purpose and must abort.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let v = vec![1u8; 1000];
        std::hint::black_box(v);
        // SAFETY: only reached if the guard failed.
        unsafe { libc::_exit(0) };
    }
    let mut st = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut st, 0) };
    assert!(libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGABRT);
}

/// The whole pipeline, every namespace, passed fds, pipes, env, cwd, the
/// init: the payload runs, so nothing in the child allocated.
#[test]
fn child_routine_does_not_allocate() {
    arm();
    let (r, mut w) = std::io::pipe().unwrap();
    std::io::Write::write_all(&mut w, b"fd-ok").unwrap();
    drop(w);
    let sb = Sandbox::new()
        .all_ns()
        .hostname("noalloc")
        .env("X", "1")
        .cwd("/tmp")
        .pass_fd(std::os::fd::AsRawFd::as_raw_fd(&r), 9)
        .stdin(Stdio::Null);
    let out = sb
        .output(&Command::from_argv([
            "/bin/sh",
            "-c",
            "echo $X $(cat /proc/sys/kernel/hostname) $PWD $(cat <&9)",
        ]))
        .unwrap();
    assert_eq!(
        out.outcome.status,
        ExitStatus::Exited(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1 noalloc /tmp fd-ok\n"
    );
    // A failing stage reports through the error pipe without allocating.
    let e = Sandbox::new()
        .user_ns()
        .cwd("/tmp")
        .spawn(&Command::new("/etc/hostname"))
        .unwrap_err();
    assert!(
        matches!(e, rsandbox::Error::ProgramNotFound { .. }),
        "{e:?}"
    );
}

/// The cgroup v1 self-join (and the cgroup namespace made after it) stays
/// within the rule too, and leaves the payload no `tasks` fd.
#[test]
fn cgroup_self_join_does_not_allocate() {
    // The same gate as common::v1_self_join_host, which this binary cannot
    // include: common installs its own global allocator, and so does this.
    // SAFETY: trivial getter.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: cgroup limits need root here");
        return;
    }
    if !std::path::Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists() {
        // Pure cgroup v2: the box is born in its cgroup (CLONE_INTO_CGROUP),
        // there is nothing to self-join, and a limit needs a delegated leaf
        // (covered by the limits tests' vm_* cases).
        println!("skipped: no cgroup v1 memory hierarchy (the v1 self-join path)");
        return;
    }
    arm();
    let out = Sandbox::new()
        .user_ns()
        .pid_ns()
        .cgroup_ns()
        .memory_limit(64 << 20)
        .pids_limit(64)
        .stdin(Stdio::Null)
        .output(&Command::from_argv([
            "/bin/sh",
            "-c",
            "for f in /proc/self/fd/*; do [ -e \"$f\" ] && printf '%s ' \"${f##*/}\"; done; true",
        ]))
        .unwrap();
    assert_eq!(
        out.outcome.status,
        ExitStatus::Exited(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0 1 2 ");
}

/// Egress: the box's first process makes the gateway's sockets and installs
/// the notification filter within the rule too, and the payload is left
/// none of those fds (nor the socket pair's).
#[test]
fn egress_setup_does_not_allocate() {
    arm();
    let out = Sandbox::strict()
        .egress(rsandbox::egress::EgressPolicy::new().allow_domain("a.test"))
        .stdin(Stdio::Null)
        .output(&Command::from_argv([
            "/bin/sh",
            "-c",
            "for f in /proc/self/fd/*; do [ -e \"$f\" ] && printf '%s ' \"${f##*/}\"; done; true",
        ]))
        .unwrap();
    assert_eq!(
        out.outcome.status,
        ExitStatus::Exited(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0 1 2 ");
}
