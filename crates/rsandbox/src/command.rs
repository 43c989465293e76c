//! The command to run: a program and its arguments.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What to run in the box. Environment, cwd and stdio belong to the
/// [`Sandbox`](crate::Sandbox), so one box description can run many commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Absolute path, or a name looked up in the box's `PATH`.
    pub program: PathBuf,
    /// Arguments after `argv[0]`.
    pub args: Vec<OsString>,
    /// `argv[0]`, when it should differ from `program`.
    pub arg0: Option<OsString>,
}

impl Command {
    /// A command running `program` with no arguments.
    pub fn new(program: impl Into<PathBuf>) -> Command {
        Command {
            program: program.into(),
            args: Vec::new(),
            arg0: None,
        }
    }

    /// From an argv vector: the first element is the program. An empty vector
    /// gives an empty program, which `spawn` rejects.
    pub fn from_argv<I, S>(argv: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut it = argv.into_iter().map(Into::into);
        let program = it.next().unwrap_or_default();
        Command {
            program: program.into(),
            args: it.collect(),
            arg0: None,
        }
    }

    /// Append an argument.
    pub fn arg(mut self, a: impl Into<OsString>) -> Command {
        self.args.push(a.into());
        self
    }

    /// Append arguments.
    pub fn args<I, S>(mut self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Set `argv[0]`.
    pub fn arg0(mut self, a: impl Into<OsString>) -> Command {
        self.arg0 = Some(a.into());
        self
    }
}

/// Takes the program and arguments of a `std::process::Command`; its
/// environment, cwd and stdio are ignored (they belong to the `Sandbox`).
impl From<&std::process::Command> for Command {
    fn from(c: &std::process::Command) -> Command {
        Command {
            program: PathBuf::from(c.get_program()),
            args: c.get_args().map(OsStr::to_os_string).collect(),
            arg0: None,
        }
    }
}
