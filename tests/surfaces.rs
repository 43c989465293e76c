//! Every scenario of `tests/scenarios.toml` through the `rsandbox` command,
//! the C library and the Python package, as root and as nobody: the same
//! isolation seen from inside, the same limits, the same typed errors
//! before spawn, whichever way a program comes in.
//!
//! Run after `scripts/test-c.sh` and `scripts/test-python.sh` (scripts/
//! test.sh does): `cargo test -p rsandbox-tests`.

use rsandbox_tests::user::User;
use rsandbox_tests::{run_all, samples, Observed, Surface};

fn check(surface: Surface, user: User) {
    let failures = run_all(surface, user);
    assert!(
        failures.is_empty(),
        "{} of the scenarios differ:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn cli_as_root() {
    check(Surface::Cli, User::Root);
}

#[test]
fn cli_as_nobody() {
    check(Surface::Cli, User::Nobody);
}

#[test]
fn c_as_root() {
    check(Surface::C, User::Root);
}

#[test]
fn c_as_nobody() {
    check(Surface::C, User::Nobody);
}

#[test]
fn python_as_root() {
    check(Surface::Python, User::Root);
}

#[test]
fn python_as_nobody() {
    check(Surface::Python, User::Nobody);
}

/// Setters whose effect the JSON form does not carry (not saved in
/// profiles): only C and Python's agreement is checked for them.
const NOT_IN_JSON: &[&str] = &["device_rules_via_ebpf"];

/// Every generated setter, given the same values through C and through
/// Python, describes the same box, and one that the JSON form carries
/// changes it: the renderers agree, units included.
#[test]
fn generated_setters_describe_the_same_box_in_c_and_python() {
    let samples = samples::all();
    let c = Surface::C.run(User::Root, &samples);
    let py = Surface::Python.run(User::Root, &samples);
    let json = |o: &Observed, s: &str, lang: &str| -> serde_json::Value {
        let text = o
            .json
            .as_deref()
            .unwrap_or_else(|| panic!("{s} through {lang}: no description: {:?}", o.error));
        serde_json::from_str(text).unwrap()
    };
    let mut bad = Vec::new();
    let mut described = std::collections::HashMap::new();
    for ((s, c), py) in samples.iter().zip(&c).zip(&py) {
        let (c, py) = (json(c, &s.name, "C"), json(py, &s.name, "Python"));
        if c != py {
            bad.push(format!(
                "{}: C describes {c}\n  Python describes {py}",
                s.name
            ));
        }
        described.insert(s.name.clone(), c);
    }
    for r in rsandbox_surface::table::SECTIONS
        .iter()
        .flat_map(|s| s.rows)
    {
        let changed = samples::BASES.into_iter().any(|b| {
            let base = &described[&samples::base_name(b)];
            (0..2).any(|v| &described[&samples::name(r, b, v)] != base)
        });
        if changed == NOT_IN_JSON.contains(&r.name) {
            bad.push(format!(
                "{}: the description {} changed by it",
                r.name,
                if changed { "is" } else { "is not" }
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
