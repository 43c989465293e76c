//! Every scenario of `tests/scenarios.toml` through the `rsandbox` command,
//! the C library and the Python package, as root and as nobody: the same
//! isolation seen from inside, the same limits, the same typed errors
//! before spawn, whichever way a program comes in.
//!
//! Run after `scripts/test-c.sh` and `scripts/test-python.sh` (scripts/
//! test.sh does): `cargo test -p rsandbox-tests`.

use rsandbox_tests::user::User;
use rsandbox_tests::{run_all, Surface};

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
