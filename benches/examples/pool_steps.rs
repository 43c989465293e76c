//! Time one warm spawn at a time from a full pool of strict boxes, split
//! into `pool.spawn` (the gate released) and `wait` (exec, exit, reap):
//! where the pooled spawn's time goes. Medians of N.
//!
//! `cargo run --release -p rsandbox-benches --example pool_steps -- 200 [BOX]`
//!
//! `SETTLE_MS=N` waits N ms more once the pool is full, before each spawn.

use std::time::{Duration, Instant};

use rsandbox_benches::*;

/// Boxes the pool keeps ready.
const READY: usize = 4;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    // BOX: a bench name without "rsandbox " (`user+pid`, `strict`, ...);
    // the strict box of the pool bench when absent.
    let sb = match args.next() {
        Some(which) => {
            layers()
                .into_iter()
                .find(|(name, _)| name.strip_prefix("rsandbox ") == Some(which.as_str()))
                .unwrap_or_else(|| panic!("no box named {which:?}"))
                .1
        }
        None => strict(),
    };
    let cmd = rsandbox::Command::new(PAYLOAD);
    let pool = sb.pool(READY).expect("make the pool");
    let (mut spawn, mut wait, mut cmd_t) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        while pool.ready() < READY {
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Some(ms) = std::env::var("SETTLE_MS").ok().and_then(|v| v.parse().ok()) {
            std::thread::sleep(Duration::from_millis(ms));
        }
        let t = Instant::now();
        let mut c = pool.spawn(&cmd).expect("pooled spawn");
        let s = t.elapsed();
        assert!(c.wait().expect("wait").success());
        spawn.push(s);
        wait.push(t.elapsed() - s);
        let t = Instant::now();
        run_cmd(&mut std::process::Command::new(PAYLOAD));
        cmd_t.push(t.elapsed());
    }
    let med = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e6
    };
    println!("{:>24} {:>8.0} µs", "pool.spawn", med(spawn));
    println!("{:>24} {:>8.0} µs", "wait", med(wait));
    println!("{:>24} {:>8.0} µs", "Command + wait", med(cmd_t));
}
