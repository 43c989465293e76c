//! The verbs on a description: check it, spawn a box from it, run a
//! command to completion. They sit above the launch pipeline so that the
//! description itself ([`crate::sandbox`]) stays plain data at the bottom
//! of the crate.

use std::path::PathBuf;

use crate::child::{Child, Outcome, Output};
use crate::command::Command;
use crate::error::Result;
use crate::sandbox::Sandbox;
use crate::stdio::Stdio;

impl Sandbox {
    /// Check the whole description without spawning anything.
    pub fn validate(&self) -> Result<()> {
        crate::spawn::validate(self)
    }

    /// Spawn `cmd` in the box. Returns once the payload has been `execve`d
    /// (or with the error of the stage that failed).
    pub fn spawn(&self, cmd: &Command) -> Result<Child> {
        crate::spawn::spawn(self, cmd)
    }

    /// Where `cmd`'s program is, as the box will see it (a bare name is
    /// looked up in the box's `PATH`), or [`Error::ProgramNotFound`]: the
    /// lookup [`spawn`](Self::spawn) makes, which a
    /// [`start_gate`](Self::start_gate) defers to the exec for an absolute
    /// program; a caller gating a box can check first.
    ///
    /// [`Error::ProgramNotFound`]: crate::Error::ProgramNotFound
    pub fn find_program(&self, cmd: &Command) -> Result<PathBuf> {
        crate::spawn::find_program(self, cmd)
    }

    /// Spawn and wait; stdio as configured.
    pub fn status(&self, cmd: &Command) -> Result<Outcome> {
        self.spawn(cmd)?.wait()
    }

    /// Spawn with stdout and stderr captured (stdin null unless configured),
    /// and wait; reads both pipes concurrently so neither can deadlock.
    pub fn output(&self, cmd: &Command) -> Result<Output> {
        let mut sb = self.clone();
        sb.stdout = Stdio::Pipe;
        sb.stderr = Stdio::Pipe;
        if sb.stdin == Stdio::Inherit {
            sb.stdin = Stdio::Null;
        }
        sb.spawn(cmd)?.wait_with_output()
    }
}
