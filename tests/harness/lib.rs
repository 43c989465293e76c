//! The cross-language harness: the scenarios of `tests/scenarios.toml`,
//! each written once, run through the three surfaces a program outside
//! Rust uses: the `rsandbox` command, the C library (a small C program,
//! `drivers/driver.c`) and the Python package (`drivers/driver.py`), as
//! root and as nobody.
//!
//! A scenario's steps are rows of rsandbox-surface's binding table, so the
//! C and Python bindings have them by construction: the harness converts
//! each argument by the row's kind (a duration in seconds becomes
//! milliseconds for C), and the command maps each step to its flag. Each
//! surface's report is brought to one shape ([`Observed`]) and checked
//! against the scenario's expectation, the same for all three.
//!
//! What the surfaces run is what `scripts/test.sh` built before: the
//! command and `libsandbox.so` in the target directory, the package in
//! `.venv`; see [`artifacts`].

pub mod artifacts;
mod c;
mod cli;
pub mod observed;
mod python;
pub mod samples;
pub mod scenario;
pub mod user;

pub use observed::{Failure, Observed};
use scenario::{Places, Prepared, Scenario};
use user::{Host, User};

/// A way into the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The `rsandbox` command.
    Cli,
    /// The C library, through a C program.
    C,
    /// The Python package.
    Python,
}

impl Surface {
    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Surface::Cli => "the rsandbox command",
            Surface::C => "the C library",
            Surface::Python => "the Python package",
        }
    }

    /// Run `scenarios` through this surface as `user`: one result each, in
    /// order.
    pub fn run(self, user: User, scenarios: &[Prepared]) -> Vec<Observed> {
        match self {
            Surface::Cli => cli::run(user, scenarios),
            Surface::C => c::run(user, scenarios),
            Surface::Python => python::run(user, scenarios),
        }
    }
}

/// Run every scenario through `surface` as `user` and check each; returns
/// one paragraph per scenario that did not match, naming it.
pub fn run_all(surface: Surface, user: User) -> Vec<String> {
    assert!(
        user == User::Nobody || user::is_root(),
        "the root variant needs root (CI runs the tests as root)"
    );
    let host = Host::new();
    let scenarios = scenario::all();
    let places: Vec<Places> = scenarios.iter().map(|s| host.places(&s.name)).collect();
    let prepared: Vec<Prepared> = scenarios
        .iter()
        .zip(&places)
        .map(|(s, p)| s.prepare(p))
        .collect();
    let observed = surface.run(user, &prepared);
    assert_eq!(observed.len(), scenarios.len(), "one result per scenario");
    scenarios
        .iter()
        .zip(&places)
        .zip(&observed)
        .filter_map(|((s, p), o)| report(s, p, o, surface, user))
        .collect()
}

fn report(s: &Scenario, p: &Places, o: &Observed, surface: Surface, user: User) -> Option<String> {
    let bad = o.check(&s.expect_for(user), p);
    (!bad.is_empty()).then(|| {
        format!(
            "{} through {} as {} ({}):\n  {}",
            s.name,
            surface.name(),
            user.name(),
            s.about,
            bad.join("\n  ")
        )
    })
}

/// The row of rsandbox-surface's table a step calls.
pub fn row(setter: &str) -> Option<&'static rsandbox_surface::Setter> {
    rsandbox_surface::table::SECTIONS
        .iter()
        .flat_map(|s| s.rows)
        .find(|r| r.name == setter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn prepared() -> Vec<Prepared> {
        let host = Host::new();
        scenario::all()
            .iter()
            .map(|s| s.prepare(&host.places(&s.name)))
            .collect()
    }

    #[test]
    fn scenarios_are_named_once() {
        let mut seen = HashSet::new();
        for s in scenario::all() {
            assert!(seen.insert(s.name.clone()), "{} twice", s.name);
        }
        assert!(seen.len() >= 8);
    }

    /// Every step is a row of the binding table with its arity, so C and
    /// Python have it; the command has a flag for it.
    #[test]
    fn every_step_reaches_every_surface() {
        for s in prepared() {
            c::script(&s).unwrap_or_else(|e| panic!("{}: C: {e}", s.name));
            cli::args(&s).unwrap_or_else(|e| panic!("{}: command: {e}", s.name));
        }
    }

    #[test]
    fn the_c_dispatch_table_has_every_row() {
        let h = c::steps_h();
        for r in rsandbox_surface::table::SECTIONS
            .iter()
            .flat_map(|s| s.rows)
        {
            assert!(h.contains(&format!("{{\"{}\", {}, step_", r.name, r.args.len())));
        }
    }

    #[test]
    fn a_configuration_error_names_its_field() {
        let f = Failure::from_message("config", "invalid memory_limit: 1000 bytes is below");
        assert_eq!(f.field.as_deref(), Some("memory_limit"));
        let f = Failure::from_message("privilege", "missing privilege x to y: z");
        assert_eq!(f.field, None);
    }

    #[test]
    fn an_error_for_one_user_replaces_the_run() {
        let s = scenario::all()
            .into_iter()
            .find(|s| s.name == "memory_limit")
            .unwrap();
        let root = s.expect_for(User::Root);
        assert_eq!(root.reason.as_deref(), Some("out_of_memory"));
        let nobody = s.expect_for(User::Nobody);
        assert_eq!(nobody.error.as_deref(), Some("privilege"));
        assert_eq!(nobody.reason, None);
    }

    #[test]
    fn lines_for_one_user_are_added() {
        let s = scenario::all()
            .into_iter()
            .find(|s| s.name == "isolation")
            .unwrap();
        let e = s.expect_for(User::Nobody);
        assert_eq!(e.lines["uid"], "65534");
        assert_eq!(e.lines["pid1"], "rsandbox-init");
    }
}
