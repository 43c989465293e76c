//! What a surface reported for one scenario, in one shape for all three,
//! and the check of it against the scenario's expectation.

use crate::scenario::{Expect, Places};

/// A typed error, as a surface reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `config`, `privilege`, `unsupported`, `program_not_found`, `spawn`,
    /// `io`, or what the surface said when it fits none (then no
    /// expectation matches it).
    pub kind: String,
    /// The field a configuration error names.
    pub field: Option<String>,
    /// The message.
    pub message: String,
}

impl Failure {
    /// A failure from the core's message (the `Display` of
    /// `rsandbox::Error`, which the C API and the command pass on): the
    /// field of `invalid FIELD: REASON`.
    pub fn from_message(kind: &str, message: &str) -> Failure {
        let field = (kind == "config")
            .then(|| message.strip_prefix("invalid ")?.split_once(": "))
            .flatten()
            .map(|(f, _)| f.to_owned());
        Failure {
            kind: kind.to_owned(),
            field,
            message: message.to_owned(),
        }
    }
}

/// One scenario's result through one surface.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The typed error, when the surface refused the description.
    pub error: Option<Failure>,
    /// The outcome's reason.
    pub reason: Option<String>,
    /// The payload's exit code.
    pub exit_code: Option<i32>,
    /// The signal that killed it.
    pub signal: Option<i32>,
    /// The cgroup's peak number of processes.
    pub pids_peak: Option<u64>,
    /// The payload's stdout.
    pub stdout: String,
    /// The payload's stderr.
    pub stderr: String,
    /// The description's JSON form, when it was only described.
    pub json: Option<String>,
}

impl Observed {
    /// The value of a `KEY=VALUE` line of the payload's stdout.
    pub fn line(&self, key: &str) -> Option<&str> {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
    }

    /// What differs from `want`, one sentence per difference.
    pub fn check(&self, want: &Expect, places: &Places) -> Vec<String> {
        let mut bad = Vec::new();
        self.check_error(want, &mut bad);
        if want.error.is_none() {
            self.check_run(want, &mut bad);
        }
        if let Some(m) = want.marker {
            if places.marked() != m {
                bad.push(format!(
                    "the payload {} the marker {}",
                    if m { "did not make" } else { "made" },
                    places.marker.display()
                ));
            }
        }
        bad
    }

    fn check_error(&self, want: &Expect, bad: &mut Vec<String>) {
        match (&want.error, &self.error) {
            (None, None) => {}
            (None, Some(e)) => bad.push(format!("unexpected {} error: {}", e.kind, e.message)),
            (Some(k), None) => bad.push(format!(
                "expected a {k} error, but it ran: reason {:?}, exit code {:?}, stderr {:?}",
                self.reason, self.exit_code, self.stderr
            )),
            (Some(k), Some(e)) => {
                if &e.kind != k {
                    bad.push(format!(
                        "expected a {k} error, got {}: {}",
                        e.kind, e.message
                    ));
                }
                if want.field.is_some() && e.field != want.field {
                    bad.push(format!(
                        "the error names field {:?}, not {:?}: {}",
                        e.field, want.field, e.message
                    ));
                }
                for w in &want.message_has {
                    if !e.message.contains(w.as_str()) {
                        bad.push(format!("the message lacks {w:?}: {}", e.message));
                    }
                }
            }
        }
    }

    fn check_run(&self, want: &Expect, bad: &mut Vec<String>) {
        same(bad, "reason", &self.reason, &want.reason);
        same(bad, "exit code", &self.exit_code, &want.exit_code);
        same(bad, "signal", &self.signal, &want.signal);
        same(bad, "pids peak", &self.pids_peak, &want.pids_peak);
        for (key, value) in &want.lines {
            match self.line(key) {
                Some(v) if v == value => {}
                got => bad.push(format!("{key}: got {got:?}, expected {value:?}")),
            }
        }
        for (key, path) in &want.not_host {
            let host = std::fs::read_link(path)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|e| panic!("readlink {path}: {e}"));
            match self.line(key) {
                Some(v) if !v.is_empty() && v != host => {}
                got => bad.push(format!("{key}: got {got:?}, the host's own is {host:?}")),
            }
        }
        for w in &want.stderr_has {
            if !self.stderr.contains(w.as_str()) {
                bad.push(format!("stderr lacks {w:?}: {:?}", self.stderr));
            }
        }
        if !bad.is_empty() {
            bad.push(format!("(stdout was {:?})", self.stdout));
        }
    }
}

/// `got` is `want`, when something is wanted.
fn same<T: PartialEq + std::fmt::Debug>(
    bad: &mut Vec<String>,
    what: &str,
    got: &Option<T>,
    want: &Option<T>,
) {
    if want.is_some() && got != want {
        bad.push(format!("{what}: got {got:?}, expected {want:?}"));
    }
}
