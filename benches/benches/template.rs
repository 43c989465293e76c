//! Forks from a template (issue #18): fork + wait of a box forked from a
//! ready template, against `std::process::Command` of `/bin/true`, in one
//! run. The template is this bench binary itself, re-run with `ROLE` set:
//! it calls `serve_forks`, and each fork exits 0 at once (the trivial step).
//! Two postures: sandlock's (no namespaces; seccomp default profile and
//! no_new_privs applied to the template box, inherited by each fork), and
//! forks with namespaces of their own (user, pid, mount with a fresh
//! `/proc`, net with `lo` up, ipc, uts, the last four unshared by the fork
//! itself; capabilities dropped; the default profile's answers restored in
//! each fork by the tightening filter). Each posture again with a memory and a
//! pids limit in the description: each fork then gets a cgroup of its own
//! (made, joined through the gate, read and removed per fork; root only).
//! And namespaced forks of a `Sandbox::strict()` template box, which masks
//! its `/proc`: each fork mounts its own read-only and binds the box's
//! masks over it again (docs/template.md).
//!
//! Two rows measure throughput rather than one box at a time: the
//! namespaced fork with [`IN_FLIGHT`] forks running at once (a fork is
//! asked for before the oldest is waited on), and the kernel's own floor
//! for the same namespaces, raw `clone` of user, pid, mount, net, ipc and
//! uts namespaces whose child `_exit`s at once, with as many in flight.
//! The floor is what no sandbox can beat on this kernel: the ratio of the
//! fork rows to it is rsandbox's own share.
//!
//! `cargo bench -p rsandbox-benches --bench template`

use std::process::Command;

use criterion::{criterion_group, Criterion, Throughput};
use rsandbox::template::{Template, TemplateOptions};
use rsandbox::Sandbox;
use rsandbox_benches::{floor, *};

const ROLE: &str = "RSANDBOX_BENCH_TEMPLATE_ROLE";

/// Forks (or raw clones) running at once in the throughput rows: enough
/// to keep both cores of a small machine busy.
const IN_FLIGHT: usize = 4;

fn forks(c: &mut Criterion) {
    let mut g = c.benchmark_group("template");
    g.throughput(Throughput::Elements(1));
    g.bench_function("std::process::Command", |b| {
        b.iter(|| run_cmd(&mut Command::new(PAYLOAD)))
    });
    let exe = rsandbox::Command::new(std::env::current_exe().expect("current_exe"));
    let sb = Sandbox::new()
        .no_new_privs(true)
        .seccomp_default()
        .env(ROLE, "serve");
    // Namespaced forks need a capless template box (a root caller's box
    // keeps its capabilities otherwise).
    let limited = sb.clone().memory_limit(256 << 20).pids_limit(64);
    let postures = [
        (
            "template fork (sandlock posture)",
            sb.clone(),
            TemplateOptions::new(),
        ),
        (
            "template fork (sandlock posture, own cgroup)",
            limited.clone(),
            TemplateOptions::new(),
        ),
        (
            "template fork (own namespaces)",
            sb.drop_caps(),
            TemplateOptions::new().fork_namespaces(true),
        ),
        (
            "template fork (own namespaces, own cgroup)",
            limited.drop_caps(),
            TemplateOptions::new().fork_namespaces(true),
        ),
        (
            "template fork (own namespaces, strict box: /proc masked)",
            strict_box(),
            TemplateOptions::new().fork_namespaces(true),
        ),
    ];
    for (name, sb, opts) in postures {
        match sb.template_with(&exe, &opts) {
            Ok(t) => {
                g.bench_function(name, |b| b.iter(|| fork_and_wait(&t)));
                if name == "template fork (own namespaces)" {
                    let row = format!("{name}, {IN_FLIGHT} in flight");
                    g.bench_function(row, |b| {
                        b.iter_custom(|n| {
                            in_flight(n, IN_FLIGHT, || t.fork(0).expect("fork"), wait_forked)
                        })
                    });
                }
            }
            Err(e) => skip(name, &e.to_string()),
        }
    }
    let floor = format!("kernel floor: raw clone of the same namespaces, {IN_FLIGHT} in flight");
    g.bench_function(floor, |b| {
        b.iter_custom(|n| {
            let start = || floor::clone_child(floor::SIX_NAMESPACES, None);
            in_flight(n, IN_FLIGHT, start, floor::reap)
        })
    });
    g.finish();
}

/// `Sandbox::strict()` (its own root view, a masked `/proc`) with this
/// bench binary's directory bound where it is.
fn strict_box() -> Sandbox {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().expect("the binary's directory");
    Sandbox::strict().ro_bind(dir, dir).env(ROLE, "serve")
}

fn wait_forked(mut f: rsandbox::template::ForkedBox) {
    assert!(f.wait().expect("wait").success());
}

fn fork_and_wait(t: &Template) {
    let mut f = t.fork(0).expect("fork");
    assert!(f.wait().expect("wait").success());
}

criterion_group!(benches, forks);

fn main() {
    if std::env::var_os(ROLE).is_some() {
        // The template: ready at once; each fork exits 0.
        match rsandbox::template::serve_forks() {
            // SAFETY: ends the fork without running anything else.
            Ok(_) => unsafe { libc::_exit(0) },
            Err(e) => panic!("serve_forks: {e}"),
        }
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
