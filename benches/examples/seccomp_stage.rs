//! The seccomp stage (the filter's install: `prctl` + `seccomp`, where the
//! kernel checks, converts and emulates the filter once per syscall
//! number) of a strict spawn, under the deny-list profile of before and the
//! allow-list default, interleaved spawn by spawn so that both see the same
//! machine. Prints the medians and their ratio.
//!
//! `cargo run --release -p rsandbox-benches --example seccomp_stage [N]`

use rsandbox_benches::*;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let boxes = [
        (
            "deny-list (before)",
            strict().seccomp(previous_default_profile()),
        ),
        ("allow-list (default)", strict()),
    ]
    .map(|(name, sb)| (name, sb.record_timing(true)));
    let cmd = rsandbox::Command::new(PAYLOAD);
    let mut stage = [Vec::new(), Vec::new()];
    let mut whole = [Vec::new(), Vec::new()];
    for _ in 0..n {
        for (i, (_, sb)) in boxes.iter().enumerate() {
            let t = std::time::Instant::now();
            let mut c = sb.spawn(&cmd).expect("spawn");
            let timing = c.spawn_timing().cloned().expect("timing");
            assert!(c.wait().expect("wait").success());
            whole[i].push(t.elapsed());
            let d = timing
                .stages()
                .into_iter()
                .find(|(s, _)| s.contains("seccomp"))
                .expect("a seccomp stage")
                .1;
            stage[i].push(d);
        }
    }
    let med = |v: &mut Vec<std::time::Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e6
    };
    let s: Vec<f64> = stage.iter_mut().map(med).collect();
    let w: Vec<f64> = whole.iter_mut().map(med).collect();
    for (i, (name, _)) in boxes.iter().enumerate() {
        println!(
            "{name:>22}: seccomp stage {:>6.1} µs, spawn → reaped {:>7.0} µs",
            s[i], w[i]
        );
    }
    println!(
        "{:>22}: seccomp stage ×{:.2}, spawn → reaped ×{:.3}",
        "allow / deny",
        s[1] / s[0],
        w[1] / w[0]
    );
}
