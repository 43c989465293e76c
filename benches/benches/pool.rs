//! The warm pool (issue 18): spawn + reap of `/bin/true` from a pool of
//! strict boxes, beside `std::process::Command` and a direct strict spawn,
//! in one run (ratios between them are what the bar reads:
//! pooled ≤ 1.5× Command).
//!
//! A criterion loop takes boxes back to back, faster than one refill thread
//! makes them on 2 cores, so the pooled figure is the sustained rate: warm
//! boxes while they last, direct spawns when the pool is empty. The share
//! of warm spawns is printed after it. A second figure times one warm
//! spawn at a time from a full pool (the pool refilled, untimed, between
//! iterations): the latency a caller that spawns less often than the
//! refill sees; a third lets the machine settle 20 ms before each.
//!
//! A pooled wait ends when the box's init reports the payload's end; the
//! init's exit and the box's cgroup removal run on the pool's tail thread
//! (see `rsandbox::pool`), which the timed loop does not wait for, as the
//! caller does not.
//!
//! Two rows measure throughput instead: [`IN_FLIGHT`] boxes running at
//! once (the next asked for before the oldest is waited on), from the pool
//! and spawned directly, in boxes per second on the machine's cores, beside
//! `Command` and the kernel's floor (a raw clone into the strict box's seven
//! namespaces that execs `/bin/true`, nothing else) with as many in flight.
//!
//! `cargo bench -p rsandbox-benches --bench pool`

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use rsandbox_benches::{floor, *};

/// Boxes the pool keeps ready.
const READY: usize = 8;

/// Boxes running at once in the throughput rows.
const IN_FLIGHT: usize = 4;

fn pooled(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool");
    g.sample_size(30);
    let sb = strict();
    let cmd = rsandbox::Command::new(PAYLOAD);
    run_box(&sb, &cmd);
    let pool = sb.pool(READY).expect("make the pool");
    let (warm, all) = (AtomicUsize::new(0), AtomicUsize::new(0));
    g.bench_function("pool.spawn(/bin/true) + wait", |b| {
        b.iter(|| {
            let mut child = pool.spawn(&cmd).expect("pooled spawn");
            let layer = child.enforcement().layer("pool").expect("a pool layer");
            if layer.applied.starts_with("warm pool") && !layer.applied.contains("empty") {
                warm.fetch_add(1, Ordering::Relaxed);
            }
            all.fetch_add(1, Ordering::Relaxed);
            let o = child.wait().expect("wait");
            assert!(o.success(), "{o:?}");
        })
    });
    eprintln!(
        "pool: {} of {} spawns took a warm box",
        warm.load(Ordering::Relaxed),
        all.load(Ordering::Relaxed)
    );
    // One warm box per iteration: wait (untimed) until the pool is full,
    // then time the release, the exec and the reap. The second figure
    // also lets the machine settle 20 ms first (the last box's teardown in
    // the kernel, a refill's last steps): a caller spawning now and then.
    for (name, settle) in [
        ("pool.spawn(/bin/true) + wait, from a full pool", 0),
        (
            "pool.spawn(/bin/true) + wait, from a full pool idle 20 ms",
            20,
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    while pool.ready() < READY {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    std::thread::sleep(Duration::from_millis(settle));
                    let t = Instant::now();
                    let o = pool.spawn(&cmd).expect("pooled spawn").wait();
                    total += t.elapsed();
                    assert!(o.expect("wait").success());
                }
                total
            })
        });
    }
    g.bench_function(format!("pool.spawn, {IN_FLIGHT} in flight"), |b| {
        b.iter_custom(|n| in_flight(n, IN_FLIGHT, || pool.spawn(&cmd).expect("spawn"), reap))
    });
    drop(pool);
    g.bench_function(format!("strict spawn, {IN_FLIGHT} in flight"), |b| {
        b.iter_custom(|n| in_flight(n, IN_FLIGHT, || sb.spawn(&cmd).expect("spawn"), reap))
    });
    g.bench_function(
        format!("std::process::Command, {IN_FLIGHT} in flight"),
        |b| {
            let spawn = || Command::new(PAYLOAD).spawn().expect("spawn");
            let reap = |mut c: std::process::Child| assert!(c.wait().expect("wait").success());
            b.iter_custom(|n| in_flight(n, IN_FLIGHT, spawn, reap))
        },
    );
    let exec = floor::Exec::new(PAYLOAD);
    let row = format!(
        "kernel floor: raw clone of the strict box's namespaces + exec, {IN_FLIGHT} in flight"
    );
    g.bench_function(row, |b| {
        let start = || floor::clone_child(floor::SEVEN_NAMESPACES, Some(&exec));
        b.iter_custom(|n| in_flight(n, IN_FLIGHT, start, floor::reap))
    });
    g.bench_function("std::process::Command /bin/true + wait", |b| {
        b.iter(|| run_cmd(&mut Command::new(PAYLOAD)))
    });
    g.bench_function("strict spawn /bin/true + wait", |b| {
        b.iter(|| run_box(&sb, &cmd))
    });
    g.finish();
}

fn reap(mut child: rsandbox::Child) {
    let o = child.wait().expect("wait");
    assert!(o.success(), "{o:?}");
}

criterion_group!(benches, pooled);
criterion_main!(benches);
