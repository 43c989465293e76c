//! Leaks, measured on the whole process: open fds before and after many
//! spawns and many rejected spawns. The tests of this binary hold one lock so
//! that no other test's fds are counted.

mod common;

use std::sync::Mutex;

use common::*;
use rsandbox::{Command, Sandbox, Stdio};

static ALONE: Mutex<()> = Mutex::new(());

#[test]
fn many_threads_many_sandboxes_leak_nothing_as_nobody() {
    let _g = ALONE.lock().unwrap_or_else(|p| p.into_inner());
    rerun_as_nobody("many_threads_many_sandboxes_leak_nothing");
}

/// `threads` threads each spawn `n` boxes of `sb` echoing their index, and
/// check the output; no fd of this process may be left over after.
fn spawn_in_threads_leaks_no_fd(sb: Sandbox, threads: usize, n: usize) {
    let _g = ALONE.lock().unwrap_or_else(|p| p.into_inner());
    let before = open_fds();
    let sb = sb.stdout(Stdio::Pipe);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let sb = sb.clone();
            std::thread::spawn(move || {
                for i in 0..n {
                    let out = sb
                        .output(&Command::new("/bin/echo").arg(i.to_string()))
                        .unwrap();
                    assert!(out.outcome.success());
                    assert_eq!(out.stdout, format!("{i}\n").into_bytes());
                }
            })
        })
        .collect();
    for t in handles {
        t.join().unwrap();
    }
    assert_eq!(open_fds(), before, "fds leaked");
}

#[test]
fn many_threads_many_sandboxes_leak_nothing() {
    spawn_in_threads_leaks_no_fd(Sandbox::new().user_ns().pid_ns(), 8, 100);
}

/// Boxes with cgroup limits (the child joins its v1 hierarchies through
/// `tasks` fds the parent opened) leak no fd either.
#[test]
fn sandboxes_with_cgroup_limits_leak_nothing() {
    if !v1_self_join_host() {
        return;
    }
    spawn_in_threads_leaks_no_fd(
        Sandbox::new()
            .user_ns()
            .pid_ns()
            .cgroup_ns()
            .memory_limit(64 << 20)
            .pids_limit(64),
        2,
        20,
    );
}

#[test]
fn rejected_spawns_leak_nothing_as_nobody() {
    let _g = ALONE.lock().unwrap_or_else(|p| p.into_inner());
    rerun_as_nobody("rejected_spawns_leak_nothing");
}

#[test]
fn rejected_spawns_leak_nothing() {
    let _g = ALONE.lock().unwrap_or_else(|p| p.into_inner());
    let before = open_fds();
    for _ in 0..50 {
        let sb = Sandbox::new().stdout(Stdio::Pipe).stderr(Stdio::Pipe);
        assert!(sb.spawn(&Command::new("no-such-program")).is_err());
        assert!(sb
            .clone()
            .cwd("/no/such/dir")
            .spawn(&Command::new("/bin/true"))
            .is_err());
        assert!(sb
            .env("A=B", "c")
            .spawn(&Command::new("/bin/true"))
            .is_err());
    }
    assert_eq!(open_fds(), before, "a rejected spawn leaked fds");
}

/// Strict boxes take network namespaces the pool made ahead (as root): the
/// pool keeps a fixed few fds (its namespaces and its thread's home), and
/// nothing else is left once it has refilled.
#[test]
fn strict_sandboxes_leak_nothing_beyond_the_netns_pool() {
    let _g = ALONE.lock().unwrap_or_else(|p| p.into_inner());
    let strict = Sandbox::strict().stdout(Stdio::Pipe);
    let run = |n: usize| {
        for _ in 0..n {
            let out = strict.output(&Command::new("/bin/true")).unwrap();
            assert!(out.outcome.success(), "{:?}", out.outcome);
        }
    };
    // Warm: the template, the pool thread and its namespaces exist.
    run(3);
    let settled = |want: Option<usize>| {
        let mut n = open_fds();
        for _ in 0..200 {
            std::thread::sleep(std::time::Duration::from_millis(10));
            let now = open_fds();
            if now == n && want.is_none_or(|w| w == now) {
                return now;
            }
            n = now;
        }
        n
    };
    let before = settled(None);
    std::thread::scope(|s| {
        s.spawn(|| run(40));
        s.spawn(|| run(40));
    });
    assert_eq!(settled(Some(before)), before, "fds leaked");
}
