//! Spawn + reap of `/bin/true`: `std::process::Command` (the baseline),
//! rsandbox layer by layer, `unshare`, `bwrap`, crun, runc, and a QEMU
//! micro-VM boot; then sustained throughput with 1 and 2 spawning threads.
//!
//! `cargo bench -p rsandbox-benches --bench spawn` (as root for the peers
//! that need it; `scripts/bench.sh` installs them and builds their assets).
//! `scripts/bench-chart.py` turns criterion's estimates into the README
//! table (ratios to the baseline, measured in the same run) and a chart.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use rsandbox_benches::*;

fn latency(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn");
    g.bench_function("std::process::Command", |b| {
        b.iter(|| run_cmd(&mut Command::new(PAYLOAD)))
    });

    let cmd = rsandbox::Command::new(PAYLOAD);
    for (name, sb) in layers() {
        // One spawn outside the timing: validates the box (a failure here
        // names the missing feature) and warms the seccomp cache.
        if let Err(e) = sb.status(&cmd) {
            skip(name, &e.to_string());
            continue;
        }
        g.bench_function(name, |b| b.iter(|| run_box(&sb, &cmd)));
    }

    match which("unshare") {
        Some(u) => {
            g.bench_function("unshare user+pid+mount+uts+ipc", |b| {
                b.iter(|| run_cmd(Command::new(&u).args(["-Urpfmui", PAYLOAD])))
            });
            g.bench_function("unshare +net", |b| {
                b.iter(|| run_cmd(Command::new(&u).args(["-Urpfmuin", PAYLOAD])))
            });
        }
        None => skip("unshare", "util-linux unshare not found"),
    }

    match which("bwrap") {
        Some(bw) => {
            let args = [
                "--ro-bind",
                "/",
                "/",
                "--dev",
                "/dev",
                "--proc",
                "/proc",
                "--unshare-all",
                PAYLOAD,
            ];
            g.bench_function("bwrap --unshare-all", |b| {
                b.iter(|| run_cmd(Command::new(&bw).args(args)))
            });
        }
        None => skip("bwrap", "bubblewrap not installed"),
    }
    oci(&mut g);
    g.finish();
}

static CONTAINER: AtomicU64 = AtomicU64::new(0);

fn container_id(rt: &str) -> String {
    format!(
        "rsbx-bench-{rt}-{}-{}",
        std::process::id(),
        CONTAINER.fetch_add(1, Ordering::Relaxed)
    )
}

/// crun and runc `run` of a busybox bundle running `/bin/true`, with the
/// strict preset's namespaces and memory + pids limits.
fn oci(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let bundle = assets().join("bundle");
    if !bundle.join("config.json").is_file() {
        skip(
            "crun/runc",
            &format!("no OCI bundle at {}", bundle.display()),
        );
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip("crun/runc", "rootful OCI runtimes need root");
        return;
    }
    for rt in ["crun", "runc"] {
        let Some(bin) = which(rt) else {
            skip(rt, "not installed");
            continue;
        };
        // crun refuses hybrid cgroups when the cgroup2 hierarchy lists a
        // controller (hugetlb here). The runs happen on a thread that moved
        // to a private mount namespace without /sys/fs/cgroup/unified, so
        // crun sees plain v1; the host is untouched.
        let hybrid_fix = rt == "crun" && needs_hybrid_fix();
        let probe = on_thread(hybrid_fix, {
            let bin = bin.clone();
            let bundle = bundle.clone();
            move || {
                Command::new(&bin)
                    .args(["run", "-b"])
                    .arg(&bundle)
                    .arg(container_id(rt))
                    .stdin(std::process::Stdio::null())
                    .output()
            }
        });
        match probe {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                skip(rt, String::from_utf8_lossy(&o.stderr).trim());
                continue;
            }
            Err(e) => {
                skip(rt, &e.to_string());
                continue;
            }
        }
        g.bench_function(format!("{rt} run"), |b| {
            b.iter_custom(|iters| {
                let (bin, bundle) = (bin.clone(), bundle.clone());
                on_thread(hybrid_fix, move || {
                    let t = Instant::now();
                    for _ in 0..iters {
                        run_cmd(
                            Command::new(&bin)
                                .args(["run", "-b"])
                                .arg(&bundle)
                                .arg(container_id(rt)),
                        );
                    }
                    t.elapsed()
                })
            })
        });
    }
}

/// QEMU `-M microvm` (TCG: no KVM here) booting Debian's uncompressed
/// kernel into an initramfs whose /init powers off.
fn vm(c: &mut Criterion) {
    let a = assets();
    let (kernel, initrd) = (a.join("vmlinux"), a.join("initramfs.cpio.gz"));
    let Some(qemu) = which("qemu-system-x86_64") else {
        skip("qemu microvm", "qemu-system-x86 not installed");
        return;
    };
    if !kernel.is_file() || !initrd.is_file() {
        skip(
            "qemu microvm",
            &format!("no kernel/initramfs in {}", a.display()),
        );
        return;
    }
    let mut g = c.benchmark_group("spawn");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(15));
    // TCG (software emulation): this machine has a /dev/kvm that cannot
    // run guests. RSANDBOX_BENCH_KVM=1 measures with KVM where it works.
    let machine = if std::env::var_os("RSANDBOX_BENCH_KVM").is_some() {
        "microvm,accel=kvm"
    } else {
        "microvm,accel=tcg"
    };
    g.bench_function("qemu microvm boot", |b| {
        b.iter(|| {
            run_cmd(
                Command::new(&qemu)
                    .args(["-M", machine, "-m", "256", "-nographic"])
                    .args([
                        "-nodefaults",
                        "-no-user-config",
                        "-no-reboot",
                        "-serial",
                        "none",
                    ])
                    .arg("-kernel")
                    .arg(&kernel)
                    .arg("-initrd")
                    .arg(&initrd)
                    .args([
                        "-append",
                        "console=ttyS0 rdinit=/init tsc_early_khz=2100000 reboot=t panic=-1 quiet",
                    ]),
            )
        })
    });
    g.finish();
}

/// Sandboxes per second, sustained, with 1 and 2 spawning threads, with a
/// network namespace per box, without one, and in one shared prepared
/// namespace (strict preset with limits otherwise).
fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("throughput");
    g.throughput(Throughput::Elements(1))
        .measurement_time(Duration::from_secs(8));
    let cmd = rsandbox::Command::new(PAYLOAD);
    let mut boxes = vec![("net", strict()), ("no-net", strict_no_net())];
    match strict_shared_net() {
        Ok(sb) => boxes.push(("shared-net", sb)),
        Err(e) => skip("throughput strict shared-net", &e),
    }
    for (net, sb) in boxes {
        for threads in [1u64, 2] {
            g.bench_function(format!("strict {net} x{threads}"), |b| {
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    std::thread::scope(|s| {
                        for k in 0..threads {
                            let n = iters / threads + u64::from(k < iters % threads);
                            let (sb, cmd) = (&sb, &cmd);
                            s.spawn(move || (0..n).for_each(|_| run_box(sb, cmd)));
                        }
                    });
                    t.elapsed()
                })
            });
        }
    }
    for threads in [1u64, 2] {
        g.bench_function(format!("std::process::Command x{threads}"), |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                std::thread::scope(|s| {
                    for k in 0..threads {
                        let n = iters / threads + u64::from(k < iters % threads);
                        s.spawn(move || (0..n).for_each(|_| run_cmd(&mut Command::new(PAYLOAD))));
                    }
                });
                t.elapsed()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, latency, vm, throughput);
criterion_main!(benches);
