//! One container's life through an OCI runtime's command line, as an
//! engine drives it (podman's recorded sequence, through conmon):
//! `create --bundle B --pid-file P ID`, `start ID`, wait for the
//! container's process to exit, `delete --force ID`. The bundle is the
//! busybox one of `scripts/bench.sh` (`/bin/true`; pid, net, ipc, uts,
//! mount and cgroup namespaces; memory and pids limits), the same for
//! rsandbox-oci, crun and runc.
//!
//! `cargo bench -p rsandbox-benches --bench oci` as root, after
//! `cargo build --release -p rsandbox-oci` (`scripts/bench.sh` does both
//! and builds the bundle). `scripts/bench-chart.py` prints the medians as
//! ratios to crun.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use rsandbox_benches::oci::{lifecycle, runtime_bin, Scratch};
use rsandbox_benches::*;

fn oci(c: &mut Criterion) {
    let bundle = assets().join("bundle");
    if !bundle.join("config.json").is_file() {
        skip(
            "oci lifecycle",
            &format!("no OCI bundle at {}", bundle.display()),
        );
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip("oci lifecycle", "rootful OCI runtimes need root");
        return;
    }
    if let Err(e) = rsandbox_benches::oci::become_subreaper() {
        skip("oci lifecycle", &e);
        return;
    }
    let mut g = c.benchmark_group("oci");
    g.sample_size(40).measurement_time(Duration::from_secs(10));
    for rt in ["rsandbox-oci", "crun", "runc"] {
        let bin = runtime_bin(rt);
        let Some(bin) = bin else {
            let why = if rt == "rsandbox-oci" {
                "not built: cargo build --release -p rsandbox-oci"
            } else {
                "not installed"
            };
            skip(rt, why);
            continue;
        };
        let hybrid_fix = rt == "crun" && needs_hybrid_fix();
        // One life outside the timing: a runtime that cannot run the
        // bundle here is skipped with its error.
        let probe = on_thread(hybrid_fix, {
            let (bin, bundle) = (bin.clone(), bundle.clone());
            move || lifecycle(&bin, &bundle, rt, &Scratch::new(rt)).map(|_| ())
        });
        if let Err(e) = probe {
            skip(rt, &e);
            continue;
        }
        g.bench_function(format!("{rt} create+start+wait+delete"), |b| {
            b.iter_custom(|iters| {
                let (bin, bundle) = (bin.clone(), bundle.clone());
                on_thread(hybrid_fix, move || {
                    let s = Scratch::new(rt);
                    let t = Instant::now();
                    for _ in 0..iters {
                        if let Err(e) = lifecycle(&bin, &bundle, rt, &s) {
                            panic!("{e}");
                        }
                    }
                    t.elapsed()
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, oci);
criterion_main!(benches);
