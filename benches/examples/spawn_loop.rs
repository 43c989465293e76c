//! Spawn one of the benched boxes N times and print the median of each
//! stage (per-stage timing) and of spawn → reaped: a target for `perf` or
//! `strace` too. BOX is a bench name without "rsandbox " (`user+pid`,
//! `+mount`, `+net`, `+cgroup`, `+seccomp`, `strict`, `strict no-net`, `strict shared-net`).
//!
//! `cargo run --release -p rsandbox-benches --example spawn_loop -- 'strict no-net' 100`
//!
//! `BALLAST_MB=N` makes the spawning process hold N MiB of touched memory.

use rsandbox_benches::*;

fn main() {
    // SPAWN_FROM_THREAD=1: spawn from a second thread (through rsandbox's
    // launcher thread) instead of the main thread (which clones directly).
    if std::env::var_os("SPAWN_FROM_THREAD").is_some_and(|v| !v.is_empty()) {
        std::thread::spawn(run).join().unwrap();
    } else {
        run();
    }
}

fn run() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "strict".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    let sb = layers()
        .into_iter()
        .find(|(name, _)| name.strip_prefix("rsandbox ") == Some(which.as_str()))
        .unwrap_or_else(|| panic!("no box named {which:?}"))
        .1
        .record_timing(true);
    // NO_ACCOUNTING=1: no cgroup for usage accounting alone (cpuacct,
    // cgroup2 helper), only the limits' controllers.
    let sb = if std::env::var_os("NO_ACCOUNTING").is_some_and(|v| !v.is_empty()) {
        sb.accounting(false)
    } else {
        sb
    };
    // BALLAST_MB=N: hold N MiB of touched heap first, as a large host
    // (a Python interpreter, a server) would: a fork copies its page tables.
    let ballast: Vec<u8> = match std::env::var("BALLAST_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(mb) => vec![1u8; mb * 1024 * 1024],
        None => Vec::new(),
    };
    std::hint::black_box(&ballast);
    let cmd = rsandbox::Command::new(PAYLOAD);
    let mut stages: Vec<Vec<std::time::Duration>> = Vec::new();
    let mut names = Vec::new();
    let mut reaped = Vec::new();
    let mut teardown = Vec::new();
    for _ in 0..n {
        let t = std::time::Instant::now();
        let mut c = sb.spawn(&cmd).expect("spawn");
        let timing = c.spawn_timing().cloned().expect("timing");
        assert!(c.wait().expect("wait").success());
        reaped.push(t.elapsed());
        teardown.push(t.elapsed().saturating_sub(timing.total()));
        let st = timing.stages();
        stages.resize(st.len(), Vec::new());
        names = st.iter().map(|s| s.0).collect();
        for (i, (_, d)) in st.into_iter().enumerate() {
            stages[i].push(d);
        }
    }
    let med = |mut v: Vec<std::time::Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e6
    };
    for (name, v) in names.iter().zip(stages) {
        println!("{name:>30} {:>8.0} µs", med(v));
    }
    println!("{:>30} {:>8.0} µs", "exec → reaped", med(teardown));
    println!("{:>30} {:>8.0} µs", "spawn → reaped", med(reaped));
}
