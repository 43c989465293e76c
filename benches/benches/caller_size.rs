//! Spawn + reap of a strict box (`/bin/true`) from a caller holding 0, 1 and
//! 4 GiB of touched heap, beside `std::process::Command` from the same
//! caller: a spawn must cost the same whatever the caller's size (the box's
//! first process shares the caller's memory until its exec instead of
//! copying its page tables; `sys/vfork.rs`). Issue 17's bar: the 4 GiB
//! figure at most 1.2× the 0 figure.
//!
//! `cargo bench -p rsandbox-benches --bench caller_size` (needs ~5 GiB of
//! free memory); `RSANDBOX_NO_VFORK=1` before it measures the copying clone.

use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion};
use rsandbox_benches::*;

fn by_caller_size(c: &mut Criterion) {
    let mut g = c.benchmark_group("caller_size");
    g.sample_size(30);
    let sb = strict();
    let cmd = rsandbox::Command::new(PAYLOAD);
    // Two spawns outside the timing: validation, then the machinery a
    // process's second spawn starts (template view, netns pool).
    for _ in 0..2 {
        run_box(&sb, &cmd);
    }
    let mut ballast: Vec<Vec<u8>> = Vec::new();
    for gib in [0usize, 1, 4] {
        while ballast.len() < gib {
            // Touched: every page is mapped, as in a process that used it.
            ballast.push(vec![1u8; 1 << 30]);
        }
        std::hint::black_box(&ballast);
        g.bench_function(format!("strict, caller {gib} GiB"), |b| {
            b.iter(|| run_box(&sb, &cmd))
        });
        g.bench_function(format!("std::process::Command, caller {gib} GiB"), |b| {
            b.iter(|| run_cmd(&mut Command::new(PAYLOAD)))
        });
    }
    g.finish();
}

criterion_group!(benches, by_caller_size);
criterion_main!(benches);
