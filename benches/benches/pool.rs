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
//! `cargo bench -p rsandbox-benches --bench pool`

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use rsandbox_benches::*;

/// Boxes the pool keeps ready.
const READY: usize = 8;

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
    drop(pool);
    g.bench_function("std::process::Command /bin/true + wait", |b| {
        b.iter(|| run_cmd(&mut Command::new(PAYLOAD)))
    });
    g.bench_function("strict spawn /bin/true + wait", |b| {
        b.iter(|| run_box(&sb, &cmd))
    });
    g.finish();
}

criterion_group!(benches, pooled);
criterion_main!(benches);
