//! `rsandbox check --verify`: spawn a real strict box (best effort, so it
//! runs on a locked-down host too) and print what held, layer by layer:
//! the enforcement report, checked against what a probe sees from inside
//! (its namespaces beside the caller's, its uid map, effective and
//! bounding capabilities, no_new_privs and seccomp mode).
//!
//! Exit code: 0 when every requested layer held, 1 when some were lost
//! (named in the output), 125 when no box could be spawned.

use std::collections::BTreeMap;

use rsandbox::{Command, Enforcement, EnforcementReport, Sandbox};
use serde::Serialize;

/// What the payload reports from inside, one `key value` per line.
const PROBE: &str = "for n in user pid mnt uts ipc net cgroup; do \
    echo \"ns:$n $(readlink /proc/self/ns/$n)\"; done; \
    grep -E '^(Uid|CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; \
    echo \"uid_map: $(tr -s ' ' < /proc/self/uid_map)\"";

/// What the probe saw, and where it contradicts the report.
#[derive(Debug, Serialize)]
pub struct Verified {
    /// The enforcement report of the box.
    pub enforcement: EnforcementReport,
    /// The probe's lines, by key (`ns:user`, `CapEff`, `NoNewPrivs`...).
    pub probe: BTreeMap<String, String>,
    /// Namespaces the box has of its own (its link differs from the
    /// caller's).
    pub new_namespaces: Vec<String>,
    /// Where the report says more held than the probe saw.
    pub contradictions: Vec<String>,
    /// The requested layers that did not fully hold.
    pub lost: Vec<String>,
}

/// Spawn the box and compare.
pub fn verify() -> Result<Verified, rsandbox::Error> {
    let sb = Sandbox::strict().best_effort(true);
    let out = sb.output(&Command::new("/bin/sh").args(["-c", PROBE]))?;
    let probe: BTreeMap<String, String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(char::is_whitespace))
        .map(|(k, v)| (k.trim_end_matches(':').to_string(), v.trim().to_string()))
        .collect();
    let enforcement = out.outcome.enforcement;
    let mut new_namespaces = Vec::new();
    let mut contradictions = Vec::new();
    for n in ["user", "pid", "mnt", "uts", "ipc", "net", "cgroup"] {
        let ours = std::fs::read_link(format!("/proc/self/ns/{n}"))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let inside = probe.get(&format!("ns:{n}")).cloned().unwrap_or_default();
        let own = !inside.is_empty() && inside != ours;
        if own {
            new_namespaces.push(n.to_string());
        }
        let claimed = enforcement
            .layer(&format!("namespace:{n}"))
            .is_some_and(|l| l.enforcement == Enforcement::Full);
        if claimed && !own {
            contradictions.push(format!(
                "namespace:{n}: reported new, but the box shares the caller's ({ours})"
            ));
        }
    }
    check_status(&enforcement, &probe, &mut contradictions);
    let lost = enforcement.gaps().map(|l| l.layer.clone()).collect();
    Ok(Verified {
        enforcement,
        probe,
        new_namespaces,
        contradictions,
        lost,
    })
}

/// The report's capability, no_new_privs and seccomp entries against the
/// probe's `/proc/self/status`.
fn check_status(
    report: &EnforcementReport,
    probe: &BTreeMap<String, String>,
    out: &mut Vec<String>,
) {
    let held = |layer: &str| {
        report
            .layer(layer)
            .is_some_and(|l| matches!(l.enforcement, Enforcement::Full | Enforcement::Partial))
    };
    let field = |k: &str| probe.get(k).map(String::as_str).unwrap_or("?");
    let zero = |v: &str| v.chars().all(|c| c == '0') && !v.is_empty();
    if held("capabilities") && !zero(field("CapEff")) {
        out.push(format!(
            "capabilities: reported dropped, but CapEff is {}",
            field("CapEff")
        ));
    }
    if held("no_new_privs") && field("NoNewPrivs") != "1" {
        out.push(format!(
            "no_new_privs: reported on, but NoNewPrivs is {}",
            field("NoNewPrivs")
        ));
    }
    if held("seccomp") && field("Seccomp") != "2" {
        out.push(format!(
            "seccomp: reported on, but Seccomp is {}",
            field("Seccomp")
        ));
    }
}

/// Print a verification for people.
pub fn print(v: &Verified) {
    println!("a strict box (best effort), spawned here; what the kernel applied:");
    print!("{}", v.enforcement);
    println!("seen from inside the box:");
    for (k, val) in &v.probe {
        println!("  {k:<12} {val}");
    }
    println!(
        "  own namespaces: {}",
        if v.new_namespaces.is_empty() {
            "none".to_string()
        } else {
            v.new_namespaces.join(" ")
        }
    );
    for c in &v.contradictions {
        println!("CONTRADICTION {c}");
    }
    if v.lost.is_empty() && v.contradictions.is_empty() {
        println!("verdict: every requested layer held");
    } else {
        println!("verdict: lost {}", v.lost.join(", "));
    }
}

/// `rsandbox check --verify [--json]`: the exit code (see the module docs).
pub fn main(json: bool) -> u8 {
    match verify() {
        Ok(v) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&v).expect("verification serializes")
                );
            } else {
                print(&v);
            }
            u8::from(!v.lost.is_empty() || !v.contradictions.is_empty())
        }
        Err(e) => {
            eprintln!("rsandbox: check --verify: no box could be spawned: {e}");
            125
        }
    }
}
