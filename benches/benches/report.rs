//! Not a criterion bench: prints the per-stage breakdown of one spawn
//! (median over many, from `Sandbox::record_timing`) and the memory cost of
//! an idle live sandbox.
//!
//! `cargo bench -p rsandbox-benches --bench report`

use std::time::Duration;

use rsandbox::{Sandbox, SpawnTiming};
use rsandbox_benches::*;

const RUNS: usize = 200;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Median of each stage over `RUNS` spawns of `/bin/true`, plus the median
/// spawn→exec and spawn→reaped times.
fn breakdown(name: &str, sb: &Sandbox) {
    let sb = sb.clone().record_timing(true);
    let cmd = rsandbox::Command::new(PAYLOAD);
    let mut all: Vec<SpawnTiming> = Vec::new();
    let mut reaped = Vec::new();
    for _ in 0..RUNS {
        let t = std::time::Instant::now();
        let mut child = sb.spawn(&cmd).expect("spawn");
        let timing = child.spawn_timing().cloned().expect("timing on");
        assert!(child.wait().expect("wait").success());
        reaped.push(t.elapsed());
        all.push(timing);
    }
    println!("\n### {name}: median of {RUNS} spawns (µs)\n");
    println!("| stage | µs |\n|---|---:|");
    let names: Vec<&str> = all[0].stages().iter().map(|s| s.0).collect();
    for (i, n) in names.iter().enumerate() {
        let d = median(all.iter().map(|t| t.stages()[i].1).collect());
        println!("| {n} | {:.0} |", d.as_secs_f64() * 1e6);
    }
    let exec = median(all.iter().map(SpawnTiming::total).collect());
    let reaped = median(reaped);
    println!("| **spawn → exec** | **{:.0}** |", exec.as_secs_f64() * 1e6);
    println!(
        "| exec → reaped (payload runs, init exits, teardown, cgroup removed) | {:.0} |",
        (reaped.saturating_sub(exec)).as_secs_f64() * 1e6
    );
    println!(
        "| **spawn → reaped** | **{:.0}** |",
        reaped.as_secs_f64() * 1e6
    );
}

fn baseline() {
    let mut v = Vec::new();
    for _ in 0..RUNS {
        let t = std::time::Instant::now();
        run_cmd(&mut std::process::Command::new(PAYLOAD));
        v.push(t.elapsed());
    }
    println!(
        "\nstd::process::Command spawn → reaped, median of {RUNS}: {:.0} µs",
        median(v).as_secs_f64() * 1e6
    );
}

/// Pss of an idle strict sandbox (init + payload `sleep`), against a plain
/// `sleep`; and MemAvailable before/after 32 idle sandboxes (includes what
/// the kernel spends on namespaces, cgroups and page tables; noisy on a busy
/// machine).
fn memory() {
    const N: usize = 32;
    let sleep = rsandbox::Command::new("/bin/sleep").arg("60");
    let mut plain = std::process::Command::new("/bin/sleep")
        .arg("60")
        .spawn()
        .expect("sleep");
    std::thread::sleep(Duration::from_millis(200));
    let plain_pss = pss_kb(plain.id() as i32).unwrap_or(0);
    let _ = plain.kill();
    let _ = plain.wait();

    println!("\n### Memory of an idle sandbox (payload `sleep 60`)\n");
    println!("| box | init Pss kB | payload Pss kB | total Pss kB | MemAvailable drop per box kB ({N} boxes) |");
    println!("|---|---:|---:|---:|---:|");
    println!("| plain process (std::process::Command) | - | {plain_pss} | {plain_pss} | - |");
    for (name, sb) in [("strict", strict()), ("strict no-net", strict_no_net())] {
        let before = mem_available_kb();
        let kids: Vec<_> = (0..N).map(|_| sb.spawn(&sleep).expect("spawn")).collect();
        std::thread::sleep(Duration::from_millis(500));
        let after = mem_available_kb();
        let init = kids[0].pid();
        let payload = children(init).first().copied().unwrap_or(0);
        let (i, p) = (pss_kb(init).unwrap_or(0), pss_kb(payload).unwrap_or(0));
        println!(
            "| {name} | {i} | {p} | {} | {} |",
            i + p,
            before.saturating_sub(after) / N as u64
        );
        drop(kids); // kill-on-drop
    }
}

/// What the process-wide seccomp cache saves per spawn: compiling the
/// default profile (done once per process now).
fn seccomp_compile() {
    let p = rsandbox::seccomp::profile::default_profile();
    let mut v = Vec::new();
    for _ in 0..50 {
        let t = std::time::Instant::now();
        p.check().expect("default profile compiles");
        v.push(t.elapsed());
    }
    println!(
        "\ncompiling the default seccomp profile to BPF, median of 50: {:.0} µs \
         (once per process: spawns reuse the cached filter)",
        median(v).as_secs_f64() * 1e6
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    seccomp_compile();
    baseline();
    breakdown("strict preset + limits", &strict());
    breakdown("strict, no net namespace", &strict_no_net());
    breakdown("user+pid only", &Sandbox::new().user_ns().pid_ns());
    memory();
}
