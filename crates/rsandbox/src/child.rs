//! The handle on a running sandbox, and the [`Outcome`] of one that ended.
//!
//! The child is tracked by its pidfd: waits and kills can never hit a reused
//! pid. With a PID namespace the tracked process is the box's init, so
//! killing it kills the whole tree; without one, the process group (and the
//! cgroup, when there is one) is killed.

use std::io::{PipeReader, PipeWriter, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use rsandbox_init::proto;

use crate::cgroup::{Cgroup, CgroupStats};
use crate::error::{Error, Result};
use crate::ns::Namespace;
use crate::report::EnforcementReport;
use crate::sandbox::Sandbox;
use crate::sys;

pub(crate) mod tail;

/// How the payload's process ended, as `wait` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    /// Exited with this code.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
}

impl ExitStatus {
    /// The shell convention: the exit code, or 128 + the signal number.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }

    fn from_wait_status(st: i32) -> ExitStatus {
        if libc::WIFEXITED(st) {
            ExitStatus::Exited(libc::WEXITSTATUS(st))
        } else if libc::WIFSIGNALED(st) {
            ExitStatus::Signaled(libc::WTERMSIG(st))
        } else {
            ExitStatus::Exited(st)
        }
    }
}

/// Why the sandbox ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// The payload exited on its own (see the code).
    Exited,
    /// The payload was killed by a signal it did not ask for from us.
    Signaled,
    /// The wall-clock limit was reached and the tree was killed.
    WallTimeLimit,
    /// The CPU-time limit was reached.
    CpuTimeLimit,
    /// The memory limit was reached and the OOM killer ended the payload.
    OutOfMemory,
    /// The seccomp filter killed the payload (SIGSYS).
    SeccompViolation,
    /// The caller killed it (`kill`, drop).
    Killed,
}

/// Everything known about a sandbox that ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Why it ended.
    pub reason: Reason,
    /// The payload's wait status.
    pub status: ExitStatus,
    /// Wall-clock time from spawn to reap.
    pub wall_time: Duration,
    /// User CPU time of the whole tree (reaped processes).
    pub user_time: Duration,
    /// System CPU time of the whole tree (reaped processes).
    pub system_time: Duration,
    /// Largest resident set size of any process in the tree, in bytes.
    pub max_rss: u64,
    /// What the cgroup measured, when the box had one.
    pub cgroup: Option<CgroupStats>,
    /// What each isolation layer asked for and what was really applied.
    pub enforcement: EnforcementReport,
    /// Queries and connections the egress gateway refused (see
    /// [`Sandbox::egress`]; at most [`crate::egress::MAX_KEPT`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<crate::egress::Violation>,
}

impl Outcome {
    /// True when the payload exited with code 0.
    pub fn success(&self) -> bool {
        self.status == ExitStatus::Exited(0)
    }
    /// The exit code, or 128 + signal (the shell convention).
    pub fn code(&self) -> i32 {
        self.status.code()
    }
    /// The exit code when the payload exited.
    pub fn exit_code(&self) -> Option<i32> {
        match self.status {
            ExitStatus::Exited(c) => Some(c),
            ExitStatus::Signaled(_) => None,
        }
    }
    /// The signal when the payload was killed by one.
    pub fn signal(&self) -> Option<i32> {
        match self.status {
            ExitStatus::Signaled(s) => Some(s),
            ExitStatus::Exited(_) => None,
        }
    }
    /// Whether the wall-clock limit ended it.
    pub fn timed_out(&self) -> bool {
        self.reason == Reason::WallTimeLimit
    }
    /// Whether the OOM killer ended it.
    pub fn oom_killed(&self) -> bool {
        self.reason == Reason::OutOfMemory
    }
}

/// The outcome plus captured output, from [`Sandbox::output`].
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// How it ended.
    pub outcome: Outcome,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
}

/// How often the whole tree's CPU time is checked against the limit.
const CPU_POLL: Duration = Duration::from_millis(100);

/// What the launch pipeline hands to a new [`Child`].
pub(crate) struct ChildParts {
    pub pid: libc::pid_t,
    pub pidfd: OwnedFd,
    /// The init's report of the payload's wait status (PID namespace only).
    pub status_pipe: Option<OwnedFd>,
    /// Parent ends of piped stdin, stdout, stderr.
    pub stdio: [Option<OwnedFd>; 3],
    pub cgroup: Option<Cgroup>,
    pub started: Instant,
    pub enforcement: EnforcementReport,
    /// The first process shared the caller's memory until its exec.
    pub shared_memory: bool,
}

/// A running sandbox.
#[derive(Debug)]
pub struct Child {
    pid: libc::pid_t,
    pidfd: OwnedFd,
    status_pipe: Option<OwnedFd>,
    /// Write end of the payload's stdin, when piped.
    pub stdin: Option<PipeWriter>,
    /// Read end of the payload's stdout, when piped.
    pub stdout: Option<PipeReader>,
    /// Read end of the payload's stderr, when piped.
    pub stderr: Option<PipeReader>,
    cgroup: Option<Cgroup>,
    kill_on_drop: bool,
    pid_ns: bool,
    started: Instant,
    timeout: Option<Duration>,
    grace: Option<Duration>,
    /// The CPU-time limit, to classify a SIGKILL at the hard RLIMIT_CPU.
    cpu_time_limit: Option<Duration>,
    /// When SIGTERM was sent for a timeout with grace.
    term_sent: Option<Instant>,
    /// Why we killed it, if we did.
    killed_for: Option<Reason>,
    outcome: Option<Outcome>,
    enforcement: EnforcementReport,
    spawn_timing: Option<crate::report::SpawnTiming>,
    /// The egress gateway serving this box (see [`crate::egress`]).
    egress: Option<crate::egress::Egress>,
    /// See [`Child::cloned_sharing_memory`].
    shared_memory: bool,
    /// The box's private copy of its image, removed when the box is done
    /// (see [`crate::image`]).
    image_copy: Option<crate::image::PrivateCopy>,
    /// Where a pooled box's end is finished once its outcome is out (see
    /// [`Child::reap_early`]).
    tails: Option<std::sync::Arc<tail::Tails>>,
}

impl Child {
    pub(crate) fn new(parts: ChildParts, sb: &Sandbox) -> Child {
        let ChildParts {
            pid,
            pidfd,
            status_pipe,
            stdio,
            cgroup,
            started,
            enforcement,
            shared_memory,
        } = parts;
        let [i, o, e] = stdio;
        Child {
            pid,
            pidfd,
            status_pipe,
            stdin: i.map(PipeWriter::from),
            stdout: o.map(PipeReader::from),
            stderr: e.map(PipeReader::from),
            cgroup,
            kill_on_drop: sb.kill_on_drop,
            pid_ns: sb.has_ns(Namespace::Pid),
            started,
            timeout: sb.limits().timeout(),
            grace: sb.limits().grace(),
            cpu_time_limit: sb.limits().cpu_time(),
            term_sent: None,
            killed_for: None,
            outcome: None,
            enforcement,
            spawn_timing: None,
            egress: None,
            shared_memory,
            image_copy: None,
            tails: None,
        }
    }

    /// Hold the box's copy of its image until the box is done.
    pub(crate) fn hold_image_copy(&mut self, copy: crate::image::PrivateCopy) {
        self.image_copy = Some(copy);
    }

    /// A box held at its gate was released to run its payload now (a warm
    /// pool's, see [`crate::pool`]): its clock (timeouts, `started`)
    /// starts here, and the report says where the box came from.
    pub(crate) fn released(&mut self, layer: crate::report::LayerReport) {
        self.started = Instant::now();
        self.enforcement.push(layer);
    }

    /// Open the box's cgroup counter files now, so that its end reads them
    /// without walking the cgroup paths: a box made ahead of its use.
    pub(crate) fn open_counters(&self) {
        if let Some(c) = &self.cgroup {
            c.open_counters();
        }
    }

    /// Let waits return as soon as the box's init reports the payload's
    /// end, and leave the rest of the box's end to `tails` (a warm pool's
    /// boxes, see [`Child::reap_early`]).
    pub(crate) fn finish_ends_in(&mut self, tails: std::sync::Arc<tail::Tails>) {
        self.tails = Some(tails);
    }

    pub(crate) fn set_egress(&mut self, e: crate::egress::Egress) {
        self.egress = Some(e);
    }

    /// A live stream of the box's egress violations: those so far, then
    /// each new one as it happens; it ends when the box does. Empty without
    /// an egress policy.
    pub fn violations(&self) -> crate::egress::Violations {
        match &self.egress {
            Some(e) => e.violations(),
            None => crate::egress::Violations::ended(),
        }
    }

    /// The egress violations recorded so far (all of them once the box has
    /// been waited for); empty without an egress policy.
    pub fn recorded_violations(&self) -> Vec<crate::egress::Violation> {
        match (&self.outcome, &self.egress) {
            (Some(o), _) => o.violations.clone(),
            (None, Some(e)) => e.snapshot(),
            (None, None) => Vec::new(),
        }
    }

    /// Call `cb` (on a gateway thread) for each new egress violation.
    /// Without an egress policy it is never called.
    pub fn on_violation(&self, cb: impl Fn(&crate::egress::Violation) + Send + Sync + 'static) {
        if let Some(e) = &self.egress {
            e.on_violation(Box::new(cb));
        }
    }

    /// Change the egress rules (and secret values) of the running box;
    /// connections already made stay. Secrets can only be given new values
    /// or dropped: the box's environment is fixed at spawn. An error for a
    /// box spawned without an egress policy.
    pub fn update_egress(&self, policy: crate::egress::EgressPolicy) -> Result<()> {
        match &self.egress {
            Some(e) => e.update(&policy),
            None => Err(Error::invalid(
                "update_egress",
                "the box was spawned without an egress policy (its network is not behind a gateway)",
            )),
        }
    }

    pub(crate) fn set_spawn_timing(&mut self, t: crate::report::SpawnTiming) {
        self.spawn_timing = Some(t);
    }

    /// How long each stage of this spawn took, when timing was on
    /// ([`Sandbox::record_timing`] or `RSANDBOX_TIMING=1`); `None` otherwise.
    pub fn spawn_timing(&self) -> Option<&crate::report::SpawnTiming> {
        self.spawn_timing.as_ref()
    }

    /// Whether the box's first process was cloned sharing the caller's
    /// memory until its exec (`CLONE_VM | CLONE_VFORK`: a spawn whose cost
    /// does not depend on the caller's size), rather than as a copy of it.
    /// The shared path is taken where it is sound: the box maps only the
    /// caller's own ids, joins no namespace, and nothing of it waits for the
    /// caller (see `sys/vfork.rs`); `RSANDBOX_NO_VFORK=1` turns it off.
    pub fn cloned_sharing_memory(&self) -> bool {
        self.shared_memory
    }

    /// What each isolation layer asked for and what is really applied.
    pub fn enforcement(&self) -> &EnforcementReport {
        &self.enforcement
    }

    /// The pid of the sandbox's first process (the init, with a PID
    /// namespace), in the caller's PID namespace.
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    pub(crate) fn cgroup(&self) -> Option<&Cgroup> {
        self.cgroup.as_ref()
    }

    /// Limits asked for but not applied (only with
    /// [`best_effort`](Sandbox::best_effort)), each with its reason. Empty
    /// when every limit is in force.
    pub fn unapplied_limits(&self) -> Vec<String> {
        match (&self.cgroup, &self.outcome) {
            (Some(c), _) => c.unapplied().iter().map(ToString::to_string).collect(),
            (None, Some(o)) => o
                .cgroup
                .as_ref()
                .map(|c| c.unapplied.clone())
                .unwrap_or_default(),
            (None, None) => Vec::new(),
        }
    }

    /// The time this sandbox was spawned.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Kill the whole tree with SIGKILL. Idempotent; a no-op once reaped.
    pub fn kill(&mut self) -> Result<()> {
        if self.outcome.is_some() {
            return Ok(());
        }
        self.killed_for.get_or_insert(Reason::Killed);
        self.signal_tree(libc::SIGKILL)
    }

    /// Stop gracefully: SIGTERM to the payload (through the init with a PID
    /// namespace, to the process group otherwise), wait up to `grace` for it
    /// to end, then kill the whole tree; returns the outcome. A payload that
    /// handles SIGTERM and exits has its own status ([`Reason::Exited`]); one
    /// ended by a signal is [`Reason::Killed`]. The wall-clock limit with a
    /// [`grace`](Sandbox::grace) takes the same path.
    pub fn stop(&mut self, grace: Duration) -> Result<Outcome> {
        if let Some(o) = self.try_wait()? {
            return Ok(o);
        }
        self.killed_for.get_or_insert(Reason::Killed);
        self.signal_tree(libc::SIGTERM)?;
        if let Some(o) = self.wait_timeout(grace)? {
            return Ok(o);
        }
        self.signal_tree(libc::SIGKILL)?;
        self.wait()
    }

    /// Send `sig` to the tree: to the init (which forwards it) with a PID
    /// namespace; to the process group otherwise. SIGKILL also goes to the
    /// cgroup.
    pub fn signal(&mut self, sig: i32) -> Result<()> {
        if self.outcome.is_some() {
            return Ok(());
        }
        self.signal_tree(sig)
    }

    fn signal_tree(&self, sig: i32) -> Result<()> {
        if sig == libc::SIGKILL {
            if let Some(cg) = &self.cgroup {
                let _ = cg.kill();
            }
        }
        if !self.pid_ns {
            // The child called setsid, so its pid is its process group; it is
            // not reaped yet, so the group id cannot have been reused.
            // SAFETY: kill with integer arguments.
            unsafe { libc::kill(-self.pid, sig) };
        }
        match sys::pidfd_send_signal(self.pidfd.as_raw_fd(), sig) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            Err(e) => Err(Error::io("signal the sandbox", None, e)),
        }
    }

    /// Once the payload has exited, nothing of its tree may outlive it: with
    /// a PID namespace the kernel sees to it when the init exits; without
    /// one, kill the payload's process group (and the cgroup, in `reap`).
    /// Called while the payload is still an unreaped zombie, so its pid,
    /// and with it the group id, cannot have been reused.
    fn kill_stragglers(&self) {
        if !self.pid_ns {
            // SAFETY: kill with integer arguments on our own unreaped child's group.
            unsafe { libc::kill(-self.pid, libc::SIGKILL) };
        }
    }

    /// Kill and reap after a failed spawn; errors are irrelevant then.
    pub(crate) fn abort(&mut self) {
        self.stdin = None;
        let _ = self.kill();
        let _ = self.reap();
    }

    /// Wait for the sandbox to end, enforcing the configured timeout.
    pub fn wait(&mut self) -> Result<Outcome> {
        loop {
            if let Some(o) = self.wait_step(None)? {
                return Ok(o);
            }
        }
    }

    /// Wait at most `d`; `Ok(None)` if it is still running then (it is not
    /// killed: call [`kill`](Self::kill) for that).
    pub fn wait_timeout(&mut self, d: Duration) -> Result<Option<Outcome>> {
        let until = Instant::now() + d;
        loop {
            if let Some(o) = self.wait_step(Some(until))? {
                return Ok(Some(o));
            }
            if Instant::now() >= until {
                return Ok(None);
            }
        }
    }

    /// The outcome if the sandbox has ended, without blocking.
    pub fn try_wait(&mut self) -> Result<Option<Outcome>> {
        self.wait_step(Some(Instant::now()))
    }

    /// One bounded wait: poll the pidfd until the sandbox ends, the
    /// sandbox's own deadline (timeout/grace) passes, or `until`.
    fn wait_step(&mut self, until: Option<Instant>) -> Result<Option<Outcome>> {
        if let Some(o) = &self.outcome {
            return Ok(Some(o.clone()));
        }
        let limit = self.deadline();
        let mut target = match (until, limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let watch_cpu = self.watches_tree_cpu();
        if watch_cpu {
            let tick = Instant::now() + CPU_POLL;
            target = Some(target.map_or(tick, |t| t.min(tick)));
        }
        if self.poll_exit(target)? {
            return self.reap().map(Some);
        }
        if let Some(limit) = limit {
            if Instant::now() >= limit {
                self.on_deadline()?;
            }
        }
        if watch_cpu {
            self.check_tree_cpu()?;
        }
        Ok(None)
    }

    /// When the waits next have work to do besides noticing the exit: the
    /// wall-clock deadline (the timeout, or the end of the grace after
    /// SIGTERM), or the next check of the tree's CPU time. `None` when there
    /// is none or the sandbox has ended. A caller that waits by other means
    /// (e.g. an event loop watching the pidfd) calls
    /// [`try_wait`](Self::try_wait) at that time so the limits are enforced.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.outcome.is_some() {
            return None;
        }
        let limit = self.deadline();
        if self.watches_tree_cpu() {
            let tick = Instant::now() + CPU_POLL;
            return Some(limit.map_or(tick, |t| t.min(tick)));
        }
        limit
    }

    /// Whether the CPU-time limit is watched on the whole tree through the
    /// cgroup (RLIMIT_CPU alone only limits each process).
    fn watches_tree_cpu(&self) -> bool {
        self.cpu_time_limit.is_some() && self.killed_for.is_none() && self.cgroup.is_some()
    }

    /// Kill the tree once the cgroup's CPU time passes the limit.
    fn check_tree_cpu(&mut self) -> Result<()> {
        let (Some(limit), Some(cg)) = (self.cpu_time_limit, &self.cgroup) else {
            return Ok(());
        };
        if cg.cpu_time().is_some_and(|used| used > limit) {
            self.killed_for = Some(Reason::CpuTimeLimit);
            self.signal_tree(libc::SIGKILL)?;
        }
        Ok(())
    }

    /// When the wall-clock limit (or the grace after SIGTERM) runs out.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let t = self.timeout?;
        match (self.term_sent, self.killed_for) {
            (Some(at), _) => Some(at + self.grace.unwrap_or_default()),
            (None, None) => Some(self.started + t),
            (None, Some(_)) => None,
        }
    }

    pub(crate) fn on_deadline(&mut self) -> Result<()> {
        match (self.grace, self.term_sent) {
            (Some(_), None) => {
                // Same path as `stop`: SIGTERM now, SIGKILL when the grace
                // runs out; either way the reason is the time limit.
                self.term_sent = Some(Instant::now());
                self.killed_for = Some(Reason::WallTimeLimit);
                self.signal_tree(libc::SIGTERM)
            }
            _ => {
                self.term_sent = None;
                self.killed_for = Some(Reason::WallTimeLimit);
                self.signal_tree(libc::SIGKILL)
            }
        }
    }

    /// Poll the pidfd; true when the process has exited (or, for a box
    /// whose end is finished elsewhere, when its init has reported).
    fn poll_exit(&self, until: Option<Instant>) -> Result<bool> {
        let watch = |fd: &OwnedFd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let mut pfds = [watch(&self.pidfd), watch(&self.pidfd)];
        let n = match (&self.tails, &self.status_pipe) {
            (Some(_), Some(p)) => {
                pfds[1] = watch(p);
                2
            }
            _ => 1,
        };
        loop {
            let ms = match until {
                None => -1,
                Some(t) => {
                    let left = t.saturating_duration_since(Instant::now());
                    left.as_millis().min(i32::MAX as u128) as i32
                        + i32::from(left.subsec_micros() % 1000 != 0)
                }
            };
            // SAFETY: `n` valid pollfds.
            let r = unsafe { libc::poll(pfds.as_mut_ptr(), n, ms) };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::io("poll the sandbox's pidfd", None, e));
            }
            return Ok(r > 0);
        }
    }

    /// Reap the child (blocking), build the outcome, remove the cgroup.
    /// A pooled box whose init has reported the payload's end is done at
    /// once (see [`Child::reap_early`]).
    fn reap(&mut self) -> Result<Outcome> {
        if let Some(o) = &self.outcome {
            return Ok(o.clone());
        }
        if let Some(o) = self.reap_early() {
            return Ok(o);
        }
        self.kill_stragglers();
        let w = self.wait_pidfd()?;
        let status = self.payload_exit(&w);
        if let Some(cg) = &self.cgroup {
            // Nothing of the tree may outlive the payload without a PID
            // namespace either: the cgroup holds the stragglers.
            let _ = cg.kill_leftovers();
        }
        let outcome = self.conclude(status, Usage::of(&w.rusage));
        if let Some(t) = &self.tails {
            // A pooled box that ended without its init's report (killed).
            t.outcome_out();
        }
        if let Some(mut cg) = self.cgroup.take() {
            cg.remove()?;
        }
        Ok(outcome)
    }

    /// A pooled box's outcome from its init's report alone, once that
    /// report is there: the payload has ended and been reaped by the init,
    /// whose own exit (the teardown of the box's namespaces, then its
    /// cgroup's removal) the pool's tail thread waits out, off the caller's
    /// path. `None` for any other box, or before the report, or when the
    /// init died without one (the ordinary reap then says how).
    ///
    /// The report is believed without the init's exit code to check it: a
    /// payload that reached the init's pipe could only misstate its own
    /// status and usage, which it controls anyway; the limits' verdicts come
    /// from the cgroup and from what this handle did.
    fn reap_early(&mut self) -> Option<Outcome> {
        let tails = self.tails.clone()?;
        let pipe = self.status_pipe.as_ref()?;
        if !sys::readable(pipe.as_raw_fd()) {
            return None;
        }
        let pidfd = self.pidfd.try_clone().ok()?;
        let mut buf = [0u8; proto::STATUS_LEN];
        let n = sys::read_full(pipe.as_raw_fd(), &mut buf).ok()?;
        // A short read is EOF: the init died without its report, and the
        // ordinary reap says how (it finds the pipe empty as well).
        let rec = proto::StatusRecord::decode(&buf[..n])?;
        self.status_pipe = None;
        let status = ExitStatus::from_wait_status(rec.wait_status);
        let outcome = self.conclude(status, Usage::of_record(&rec));
        tails.hand(tail::Tail {
            pidfd,
            cgroup: self.cgroup.take(),
            image_copy: self.image_copy.take(),
        });
        Some(outcome)
    }

    /// The outcome of a box that ended with `status`, its tree having used
    /// `usage`: the reason, the cgroup's counters, the egress record.
    /// Recorded, so later waits return it.
    fn conclude(&mut self, status: ExitStatus, usage: Usage) -> Outcome {
        let wall_time = self.started.elapsed();
        let cgroup = self.cgroup.as_ref().map(|c| c.stats());
        let cpu_used = cgroup
            .as_ref()
            .and_then(|c| c.cpu_time)
            .unwrap_or(usage.user + usage.system);
        let reason = classify(
            status,
            self.killed_for,
            cgroup.as_ref(),
            self.cpu_time_limit.map(|l| (l, cpu_used)),
        );
        let outcome = Outcome {
            reason,
            status,
            wall_time,
            user_time: usage.user,
            system_time: usage.system,
            max_rss: usage.max_rss,
            cgroup,
            enforcement: self.enforcement.clone(),
            violations: self.stop_egress(),
        };
        self.outcome = Some(outcome.clone());
        outcome
    }

    /// Block until the box's process (the init, with a PID namespace)
    /// exits, through its pidfd so no other child of the caller is reaped.
    fn wait_pidfd(&self) -> Result<sys::WaitResult> {
        sys::waitid(
            sys::P_PIDFD,
            self.pidfd.as_raw_fd() as libc::id_t,
            libc::WEXITED,
        )
        .map_err(|e| Error::io("wait for the sandbox", None, e))?
        .ok_or_else(|| {
            Error::io(
                "wait for the sandbox",
                None,
                std::io::ErrorKind::WouldBlock.into(),
            )
        })
    }

    /// The payload's exit status. With a PID namespace the reaped process
    /// is the init; the payload's own status comes through the status pipe
    /// (absent if the init was killed, in which case the payload died with
    /// it by SIGKILL).
    fn payload_exit(&mut self, w: &sys::WaitResult) -> ExitStatus {
        let direct = match w.code {
            libc::CLD_EXITED => ExitStatus::Exited(w.status),
            _ => ExitStatus::Signaled(w.status),
        };
        match self.status_pipe.take() {
            Some(p) => payload_status(&p, direct),
            None => direct,
        }
    }

    /// Stop the egress gateway (the box is gone) and take every violation
    /// it recorded, for the outcome.
    fn stop_egress(&mut self) -> Vec<crate::egress::Violation> {
        match self.egress.as_mut() {
            Some(e) => {
                e.stop();
                e.snapshot()
            }
            None => Vec::new(),
        }
    }

    /// Read stdout and stderr to the end (concurrently, so neither pipe can
    /// fill and deadlock the payload), then wait. Honors the timeout.
    pub fn wait_with_output(mut self) -> Result<Output> {
        drop(self.stdin.take());
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut streams: Vec<(PipeReader, bool)> = Vec::new();
        if let Some(o) = self.stdout.take() {
            streams.push((o, false));
        }
        if let Some(e) = self.stderr.take() {
            streams.push((e, true));
        }
        let mut buf = vec![0u8; 64 * 1024];
        while !streams.is_empty() {
            let Some(pfds) = self.poll_streams(&streams)? else {
                continue;
            };
            read_ready(&mut streams, &pfds, &mut buf, &mut out, &mut err)?;
        }
        let outcome = self.wait()?;
        Ok(Output {
            outcome,
            stdout: out,
            stderr: err,
        })
    }

    /// Poll the output pipes until one is ready (their pollfds, in the
    /// order of `streams`). `None` to poll again: a signal interrupted the
    /// poll, or the deadline passed and the box was killed (its pipes then
    /// reach their end).
    fn poll_streams(
        &mut self,
        streams: &[(PipeReader, bool)],
    ) -> Result<Option<Vec<libc::pollfd>>> {
        let mut pfds: Vec<libc::pollfd> = streams
            .iter()
            .map(|(r, _)| libc::pollfd {
                fd: r.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = match self.deadline() {
            Some(d) => d.saturating_duration_since(Instant::now()).as_millis() as i32 + 1,
            None => -1,
        };
        // SAFETY: pfds is a valid array of pollfd.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                return Ok(None);
            }
            return Err(Error::io("poll the output pipes", None, e));
        }
        if r == 0 {
            if let Some(d) = self.deadline() {
                if Instant::now() >= d {
                    self.on_deadline()?;
                }
            }
            return Ok(None);
        }
        Ok(Some(pfds))
    }
}

/// Read once from each ready pipe of `streams` into `out` or `err` (a
/// stream's flag says stderr), and drop the pipes that reached their end.
fn read_ready(
    streams: &mut Vec<(PipeReader, bool)>,
    pfds: &[libc::pollfd],
    buf: &mut [u8],
    out: &mut Vec<u8>,
    err: &mut Vec<u8>,
) -> Result<()> {
    let mut closed = Vec::new();
    for (i, p) in pfds.iter().enumerate() {
        if p.revents == 0 {
            continue;
        }
        let (reader, is_err) = &mut streams[i];
        match reader.read(buf) {
            Ok(0) => closed.push(i),
            Ok(n) => {
                let dst = if *is_err { &mut *err } else { &mut *out };
                dst.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("read the output pipes", None, e)),
        }
    }
    for i in closed.into_iter().rev() {
        streams.remove(i);
    }
    Ok(())
}

/// The payload's status as the box's init reported it, checked against the
/// init's own exit status: the init exits with the payload's code (or 128 +
/// its signal), so a record the payload forged (it would need to reach the
/// init's pipe) that disagrees with the init's exit is not believed.
fn payload_status(pipe: &OwnedFd, init: ExitStatus) -> ExitStatus {
    let mut buf = [0u8; proto::STATUS_LEN];
    let record = sys::read_full(pipe.as_raw_fd(), &mut buf)
        .ok()
        .and_then(|n| proto::StatusRecord::decode(&buf[..n]));
    let Some(rec) = record else {
        // No report: the init was killed, and the payload with it.
        return match init {
            ExitStatus::Signaled(s) => ExitStatus::Signaled(s),
            ExitStatus::Exited(_) => ExitStatus::Signaled(libc::SIGKILL),
        };
    };
    match init {
        ExitStatus::Exited(code) if code == proto::exit_code_for(rec.wait_status) => {
            ExitStatus::from_wait_status(rec.wait_status)
        }
        ExitStatus::Exited(code) if code > 128 && code - 128 < 65 => {
            ExitStatus::Signaled(code - 128)
        }
        other => other,
    }
}

/// CPU times and peak memory of a box's tree, from `wait`'s rusage or the
/// init's report.
struct Usage {
    user: Duration,
    system: Duration,
    max_rss: u64,
}

impl Usage {
    fn of(ru: &libc::rusage) -> Usage {
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        Usage {
            user: tv(ru.ru_utime),
            system: tv(ru.ru_stime),
            max_rss: ru.ru_maxrss as u64 * 1024,
        }
    }

    fn of_record(r: &proto::StatusRecord) -> Usage {
        Usage {
            user: Duration::from_micros(r.user_us),
            system: Duration::from_micros(r.system_us),
            max_rss: r.max_rss_kib * 1024,
        }
    }
}

/// Decide the reason from the status and what we know of the kill.
///
/// `cpu` is (CPU-time limit, CPU time used) when a limit was set: the hard
/// `RLIMIT_CPU` ends a process with SIGKILL, which is the CPU-time limit
/// when the time used reached the (whole-second) limit.
fn classify(
    status: ExitStatus,
    killed_for: Option<Reason>,
    cg: Option<&CgroupStats>,
    cpu: Option<(Duration, Duration)>,
) -> Reason {
    if let Some(r @ (Reason::WallTimeLimit | Reason::CpuTimeLimit)) = killed_for {
        return r;
    }
    match status {
        ExitStatus::Exited(_) => Reason::Exited,
        ExitStatus::Signaled(s) => {
            let cpu_hit = cpu.is_some_and(|(limit, used)| {
                let secs = limit.as_secs() + u64::from(limit.subsec_nanos() > 0);
                used + Duration::from_millis(50) >= Duration::from_secs(secs)
            });
            if cg.and_then(|c| c.oom_kills).is_some_and(|n| n > 0) && s == libc::SIGKILL {
                Reason::OutOfMemory
            } else if s == libc::SIGSYS {
                Reason::SeccompViolation
            } else if s == libc::SIGXCPU || (s == libc::SIGKILL && cpu_hit && killed_for.is_none())
            {
                Reason::CpuTimeLimit
            } else if killed_for == Some(Reason::Killed) {
                Reason::Killed
            } else {
                Reason::Signaled
            }
        }
    }
}

impl AsFd for Child {
    /// The pidfd: becomes readable when the sandbox's first process exits.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.outcome.is_some() {
            return;
        }
        if self.kill_on_drop {
            let _ = self.kill();
            let _ = self.reap();
        } else if let Some(copy) = self.image_copy.take() {
            // The box may still run in it.
            copy.keep();
        }
    }
}
