//! The verbs on a description: check it, spawn a box from it, run a
//! command to completion. They sit above the launch pipeline so that the
//! description itself ([`crate::sandbox`]) stays plain data at the bottom
//! of the crate.

use std::path::PathBuf;

use crate::caps::CapsPlan;
use crate::child::{Child, Outcome, Output};
use crate::command::Command;
use crate::error::Result;
use crate::landlock::LandlockPlan;
use crate::report::EnforcementReport;
use crate::sandbox::Sandbox;
use crate::seccomp::SeccompProgram;
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

    /// What this description would enforce on this kernel, computed without
    /// spawning (the same checks `spawn` makes). With strict layers (the
    /// default) an unenforceable request is an error here too.
    pub fn enforcement_report(&self) -> Result<EnforcementReport> {
        let resolved = crate::identity::resolve(self);
        let this = &*resolved;
        let caps = CapsPlan::prepare(this)?;
        let landlock = LandlockPlan::prepare(this)?;
        let seccomp = SeccompProgram::prepare(this)?;
        Ok(crate::spawn::report::assemble(
            this,
            caps.as_ref(),
            landlock.as_ref(),
            seccomp.as_ref(),
        ))
    }
}
