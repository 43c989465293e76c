//! The default seccomp profile's cost: the allow-list (now) against the
//! deny-list it replaced (72 rules, default Allow; rebuilt here as a
//! policy), measured in one run so that only ratios are compared.
//!
//! - "seccomp only": a box with nothing but the filter (and no_new_privs),
//!   so the filter's load is most of the difference;
//! - "strict": `Sandbox::strict()` with the default root view and limits
//!   (the README's strict row), with one profile or the other.
//!
//! `cargo bench -p rsandbox-benches --bench seccomp`; the per-stage split
//! (the "signals + seccomp" stage is the filter's install) comes from
//! `cargo run --release -p rsandbox-benches --example seccomp_stage`.

use criterion::{criterion_group, criterion_main, Criterion};
use rsandbox::Sandbox;
use rsandbox_benches::*;

fn profiles(c: &mut Criterion) {
    let mut g = c.benchmark_group("seccomp");
    let cmd = rsandbox::Command::new(PAYLOAD);
    let rows = [
        (
            "seccomp only, deny-list (before)",
            Sandbox::new().seccomp(previous_default_profile()),
        ),
        (
            "seccomp only, allow-list (default)",
            Sandbox::new().seccomp_default(),
        ),
        (
            "strict, deny-list (before)",
            strict().seccomp(previous_default_profile()),
        ),
        ("strict, allow-list (default)", strict()),
    ];
    for (name, sb) in rows {
        // One spawn outside the timing: validates the box and compiles
        // (caches) its filter.
        if let Err(e) = sb.status(&cmd) {
            skip(name, &e.to_string());
            continue;
        }
        g.bench_function(name, |b| b.iter(|| run_box(&sb, &cmd)));
    }
    g.finish();
}

criterion_group!(benches, profiles);
criterion_main!(benches);
