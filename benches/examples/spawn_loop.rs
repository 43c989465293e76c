//! Spawn the strict box (`strict` or `strict-no-net`) N times and print the
//! per-stage timing of the last spawn: a target for `perf` or `strace`.
//!
//! `cargo run --release -p rsandbox-benches --example spawn_loop -- strict-no-net 100`

use rsandbox_benches::*;

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "strict".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    let sb = match which.as_str() {
        "strict-no-net" => strict_no_net(),
        _ => strict(),
    }
    .record_timing(true);
    let cmd = rsandbox::Command::new(PAYLOAD);
    let mut last = None;
    for _ in 0..n {
        let mut c = sb.spawn(&cmd).expect("spawn");
        last = c.spawn_timing().cloned();
        assert!(c.wait().expect("wait").success());
    }
    if let Some(t) = last {
        println!("{t}");
    }
}
