//! The scenarios of `scenarios.toml`, as data: a description (a base and
//! builder steps), a payload script, and what must be seen.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::user::User;

/// The scenarios, as written in `tests/scenarios.toml`.
pub const SCENARIOS: &str = include_str!("../scenarios.toml");

/// Every scenario.
pub fn all() -> Vec<Scenario> {
    #[derive(Deserialize)]
    struct File {
        scenario: Vec<Scenario>,
    }
    let file: File = toml::from_str(SCENARIOS).expect("tests/scenarios.toml");
    file.scenario
}

/// The description a scenario starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Base {
    /// `Sandbox::strict()`; the command's default.
    Strict,
    /// `Sandbox::new()`; `rsandbox run --relaxed`.
    New,
}

/// One scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name, unique.
    pub name: String,
    /// What it shows.
    pub about: String,
    /// The description it starts from.
    pub base: Base,
    /// Builder calls: `[setter, args...]`.
    #[serde(default)]
    pub steps: Vec<Vec<Value>>,
    /// The payload: `/bin/sh -c SCRIPT`.
    pub script: String,
    /// What every surface must report.
    pub expect: Expect,
    /// Changes for root.
    #[serde(default)]
    pub as_root: Option<Expect>,
    /// Changes for nobody.
    #[serde(default)]
    pub as_nobody: Option<Expect>,
}

/// What must be seen (every field optional: only what is given is checked).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The outcome's reason (`exited`, `out_of_memory`...).
    pub reason: Option<String>,
    /// The payload's exit code.
    pub exit_code: Option<i32>,
    /// The signal that killed it.
    pub signal: Option<i32>,
    /// `KEY=VALUE` lines of its stdout.
    #[serde(default)]
    pub lines: BTreeMap<String, String>,
    /// Keys whose value must differ from the host's readlink of the path.
    #[serde(default)]
    pub not_host: BTreeMap<String, String>,
    /// Substrings of its stderr.
    #[serde(default)]
    pub stderr_has: Vec<String>,
    /// The cgroup's peak number of processes.
    pub pids_peak: Option<u64>,
    /// A typed error instead of a run: `config`, `privilege`...
    pub error: Option<String>,
    /// The field a configuration error names.
    pub field: Option<String>,
    /// Substrings of the error's message.
    #[serde(default)]
    pub message_has: Vec<String>,
    /// Whether `{marker}` exists afterwards.
    pub marker: Option<bool>,
}

impl Expect {
    /// This expectation changed by `over`: an error there replaces it
    /// (no run, nothing of the run to check); otherwise what `over` gives
    /// is added or replaced.
    pub fn with(&self, over: &Expect) -> Expect {
        if over.error.is_some() {
            return Expect {
                marker: over.marker.or(self.marker),
                ..over.clone()
            };
        }
        let mut e = self.clone();
        e.reason = over.reason.clone().or(e.reason);
        e.exit_code = over.exit_code.or(e.exit_code);
        e.signal = over.signal.or(e.signal);
        e.lines.extend(over.lines.clone());
        e.not_host.extend(over.not_host.clone());
        e.stderr_has.extend(over.stderr_has.clone());
        e.pids_peak = over.pids_peak.or(e.pids_peak);
        e.marker = over.marker.or(e.marker);
        e
    }
}

impl Scenario {
    /// What `user` must see.
    pub fn expect_for(&self, user: User) -> Expect {
        let over = match user {
            User::Root => &self.as_root,
            User::Nobody => &self.as_nobody,
        };
        match over {
            Some(o) => self.expect.with(o),
            None => self.expect.clone(),
        }
    }
}

/// The host paths a run's placeholders stand for.
#[derive(Debug, Clone)]
pub struct Places {
    /// `{data}`: a directory holding `hello`.
    pub data: PathBuf,
    /// `{marker}`: a path in a directory anyone may write.
    pub marker: PathBuf,
}

impl Places {
    /// `text` with the placeholders replaced.
    pub fn fill(&self, text: &str) -> String {
        text.replace("{data}", &self.data.to_string_lossy())
            .replace("{marker}", &self.marker.to_string_lossy())
    }

    /// A JSON value with the placeholders of its strings replaced.
    pub fn fill_value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.fill(s)),
            other => other.clone(),
        }
    }

    /// Whether the marker was made.
    pub fn marked(&self) -> bool {
        Path::new(&self.marker).exists()
    }
}

/// A scenario ready to run: steps and payload with the placeholders filled.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The scenario's name.
    pub name: String,
    /// Its base.
    pub base: Base,
    /// Its steps: a setter and its arguments.
    pub steps: Vec<(String, Vec<Value>)>,
    /// `/bin/sh -c SCRIPT`.
    pub argv: Vec<String>,
    /// Only describe the box (its JSON form), run nothing.
    pub describe: bool,
}

impl Scenario {
    /// This scenario with `places` filled in.
    pub fn prepare(&self, places: &Places) -> Prepared {
        let steps = self
            .steps
            .iter()
            .map(|s| {
                let (name, args) = s.split_first().expect("an empty step");
                let name = name.as_str().expect("a step starts with a setter's name");
                (
                    name.to_owned(),
                    args.iter().map(|a| places.fill_value(a)).collect(),
                )
            })
            .collect();
        Prepared {
            name: self.name.clone(),
            base: self.base,
            steps,
            argv: vec!["/bin/sh".into(), "-c".into(), places.fill(&self.script)],
            describe: false,
        }
    }
}
