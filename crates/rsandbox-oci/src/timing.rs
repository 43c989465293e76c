//! Where one command's time goes: with `RSANDBOX_TIMING=1` in the
//! environment (the variable that also turns on the core's per-stage spawn
//! timing), each phase's duration is printed to stderr when the command
//! ends. Off, a mark costs one relaxed atomic load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

static ON: AtomicBool = AtomicBool::new(false);
static MARKS: Mutex<Vec<(String, Instant)>> = Mutex::new(Vec::new());

/// Read `RSANDBOX_TIMING` and take the first mark.
pub fn init() {
    let on = std::env::var_os("RSANDBOX_TIMING").is_some_and(|v| !v.is_empty() && v != "0");
    ON.store(on, Ordering::Relaxed);
    mark("main");
}

/// Whether timing is on.
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The phase that ends now.
pub fn mark(name: impl Into<String>) {
    if on() {
        if let Ok(mut m) = MARKS.lock() {
            m.push((name.into(), Instant::now()));
        }
    }
}

/// Print each phase's duration (since the previous mark) to stderr.
pub fn report(cmd: &str) {
    if !on() {
        return;
    }
    mark("end");
    let Ok(m) = MARKS.lock() else { return };
    let mut out = format!("rsandbox-oci {cmd} timing:\n");
    for w in m.windows(2) {
        let d = w[1].1 - w[0].1;
        out += &format!("{:>30} {:>9.1} µs\n", w[1].0, d.as_secs_f64() * 1e6);
    }
    if let (Some(a), Some(b)) = (m.first(), m.last()) {
        out += &format!(
            "{:>30} {:>9.1} µs\n",
            "total",
            (b.1 - a.1).as_secs_f64() * 1e6
        );
    }
    eprint!("{out}");
}
