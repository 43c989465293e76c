//! Where one container's life goes, step by step: the median of each
//! step of create, start, wait, delete --force over N lives, for
//! rsandbox-oci, crun and runc (the `oci` bench's sequence and bundle),
//! the runtimes taking turns.
//!
//! `cargo run --release -p rsandbox-benches --example oci_steps -- 100`
//! as root, after `cargo build --release -p rsandbox-oci` and
//! `scripts/bench.sh --prepare`. For an A/B of two rsandbox-oci builds,
//! `RSANDBOX_OCI_BASE=/path/to/other/rsandbox-oci` adds a fourth runtime,
//! `base`, taking its turn with the others; `OCI_STEPS_RUNTIMES=a,b`
//! picks the runtimes (default `rsandbox-oci,base,crun,runc`).

use std::sync::mpsc;
use std::time::Duration;

use rsandbox_benches::oci::{become_subreaper, lifecycle, runtime_bin, Scratch, Steps};
use rsandbox_benches::{assets, needs_hybrid_fix, on_thread};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    become_subreaper().expect("subreaper");
    let bundle = assets().join("bundle");
    // One worker thread per runtime (crun's in its private mount
    // namespace), driven in turn, so that load from other work on the
    // machine falls on all three alike.
    let mut workers = Vec::new();
    let base = std::env::var_os("RSANDBOX_OCI_BASE").map(std::path::PathBuf::from);
    let pick = std::env::var("OCI_STEPS_RUNTIMES").ok();
    for rt in ["rsandbox-oci", "base", "crun", "runc"] {
        if pick
            .as_deref()
            .is_some_and(|p| !p.split(',').any(|x| x == rt))
        {
            continue;
        }
        let bin = if rt == "base" {
            base.clone()
        } else {
            runtime_bin(rt)
        };
        let Some(bin) = bin else {
            if rt != "base" {
                eprintln!("{rt}: not found");
            }
            continue;
        };
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel::<Result<Steps, String>>();
        let bundle = bundle.clone();
        let hybrid_fix = rt == "crun" && needs_hybrid_fix();
        let worker = std::thread::spawn(move || {
            on_thread(hybrid_fix, move || {
                let s = Scratch::new(rt);
                for () in go_rx {
                    let _ = done_tx.send(lifecycle(&bin, &bundle, rt, &s));
                }
            })
        });
        workers.push((rt, go_tx, done_rx, Vec::new(), worker));
    }
    for _ in 0..n {
        for (rt, go, done, all, _) in &mut workers {
            go.send(()).expect("worker");
            match done.recv().expect("worker") {
                Ok(s) => all.push(s),
                Err(e) => panic!("{rt}: {e}"),
            }
        }
    }
    let mut rows = Vec::new();
    for (rt, go, _, all, worker) in workers {
        // The worker ends (and removes its scratch files) once its
        // channel is closed.
        drop(go);
        worker.join().expect("worker");
        let m = |f: fn(&Steps) -> Duration| median(all.iter().map(f).collect());
        let steps = [
            m(|s| s.create),
            m(|s| s.start),
            m(|s| s.wait),
            m(|s| s.delete),
            m(|s| s.create + s.start + s.wait + s.delete),
        ];
        rows.push((rt, steps));
    }
    let crun = rows.iter().find(|(rt, _)| *rt == "crun").map(|(_, s)| s[4]);
    for (rt, [c, s, w, d, t]) in rows {
        let ratio = crun.map_or(String::new(), |k| {
            format!("  ({:.2}x crun)", t.as_secs_f64() / k.as_secs_f64())
        });
        println!(
            "{rt:>13}: create {c:>8.2?}  start {s:>8.2?}  wait {w:>8.2?}  delete {d:>8.2?}  total {t:>8.2?}{ratio}"
        );
    }
}
