//! A warm pool: boxes of one description set up ahead of their payload.
//!
//! [`Sandbox::pool`] keeps `n` boxes ready: namespaces made, root view
//! mounted, cgroup and limits in place, the init running and its payload
//! process waiting at a *command gate* (the start gate of
//! [`Sandbox::start_gate`] that carries a command instead of one byte, see
//! `rsandbox_init::proto::command`). [`Pool::spawn`] takes one, sends it the
//! command (program resolved here, in the box's view), and the payload
//! installs the box's seccomp filter and execs: the spawn costs a message
//! and an exec. Each box serves one payload; a thread the pool owns spawns
//! its replacement in the background. An empty pool spawns directly (the
//! ordinary path, same description) and never waits for the thread.
//!
//! The payload gets the description's environment, working directory and
//! stdio: `Stdio::Pipe` gives each pooled [`Child`] its own pipes (each box
//! is spawned separately); `Stdio::Fd(fd)` dups `fd` into every box as it
//! is made, so `fd` must stay open as long as the pool. Timeouts count from
//! [`Pool::spawn`], not from when the box was made.
//!
//! A pooled box's wait returns as soon as the box's init reports that the
//! payload has ended: the init's own exit (the teardown of the box's
//! namespaces) and the removal of its cgroup then run on a second thread the
//! pool owns, off the caller's path. The outcome's times and peak memory are
//! then the payload's, as its init's `wait4` gave them.
//!
//! Dropping the pool stops the thread, then kills and reaps every box still
//! waiting (their cgroups are removed with them), and waits until every box
//! whose outcome is out has ended; the Children still running are the
//! caller's.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rsandbox_init::proto::command;

use crate::child::tail::Tails;
use crate::child::Child;
use crate::command::Command;
use crate::error::{Error, Result};
use crate::ns::Namespace;
use crate::report::LayerReport;
use crate::sandbox::Sandbox;

/// Most boxes one pool keeps ready.
pub const POOL_MAX: usize = 1024;

/// How long the refill waits, after a warm box is released, for that box's
/// outcome before it makes the replacement: making a box takes both cores
/// of a small machine for milliseconds, which would slow the payload the
/// caller is waiting for. A longer payload gets its replacement after this.
const YIELD: Duration = Duration::from_millis(5);

/// A box held at its command gate.
struct Ready {
    child: Child,
    /// The caller's end of the gate (a socket pair: a send to a box that
    /// died fails with EPIPE, never SIGPIPE).
    gate: OwnedFd,
}

#[derive(Default)]
struct State {
    ready: VecDeque<Ready>,
    /// Boxes running a payload whose outcome is not out yet, and when the
    /// last started: the refill yields to them for a moment.
    in_flight: usize,
    released_at: Option<Instant>,
    stop: bool,
    /// The refill's last error (the pool then spawns directly).
    last_error: Option<String>,
}

struct Shared {
    target: usize,
    state: Mutex<State>,
    /// Wakes the refill thread (a box taken, or stop).
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A box of the pool (warm or spawned directly) is running its payload.
    fn started(st: &mut State) {
        st.in_flight += 1;
        st.released_at = Some(Instant::now());
    }

    /// A released box's outcome is out (or the box never ran): one fewer
    /// in flight, and the refill told.
    fn settled(&self) {
        let mut st = self.lock();
        st.in_flight = st.in_flight.saturating_sub(1);
        drop(st);
        self.wake.notify_all();
    }

    /// How long the refill should still yield to released boxes: until
    /// their outcomes are out, at most [`YIELD`] after the last release.
    fn yield_left(st: &State) -> Option<Duration> {
        let at = st.released_at.filter(|_| st.in_flight > 0)?;
        YIELD.checked_sub(at.elapsed()).filter(|d| !d.is_zero())
    }
}

/// What the pool's tail thread calls as each pooled box's outcome comes
/// out: one box fewer in flight, and the refill told.
fn outcome_out(shared: &Arc<Shared>) -> impl Fn() + Send + Sync + 'static {
    let shared = Arc::downgrade(shared);
    move || {
        if let Some(sh) = shared.upgrade() {
            sh.settled();
        }
    }
}

/// `n` boxes of one description, ready to run a command each.
pub struct Pool {
    /// The description as given: what an empty pool spawns directly.
    direct: Sandbox,
    /// The box paths its mount steps make, computed once for every lookup
    /// of a command's program (see `fs::created_paths`).
    created: Vec<std::path::PathBuf>,
    shared: Arc<Shared>,
    refill: Option<JoinHandle<()>>,
    /// Finishes each box's end after its outcome is out.
    tails: Arc<Tails>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("target", &self.shared.target)
            .field("ready", &self.ready())
            .finish()
    }
}

impl Sandbox {
    /// Keep `n` boxes of this description ready (see [`Pool`]). The first
    /// one is made before this returns, so a description that cannot spawn
    /// fails here with the error `spawn` would give. Needs a PID namespace
    /// with rsandbox's init (not [`payload_as_pid1`](Self::payload_as_pid1)) and
    /// no [`start_gate`](Self::start_gate) of its own.
    pub fn pool(&self, n: usize) -> Result<Pool> {
        Pool::new(self, n)
    }
}

impl Pool {
    fn new(sb: &Sandbox, n: usize) -> Result<Pool> {
        check(sb, n)?;
        let first = make_box(sb)?;
        let shared = Arc::new(Shared {
            target: n,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        shared.lock().ready.push_back(first);
        let tails = Arc::new(Tails::start(outcome_out(&shared))?);
        let (sb2, sh2) = (sb.clone(), shared.clone());
        let refill = std::thread::Builder::new()
            .name("rsandbox-pool".into())
            .spawn(move || refill_loop(&sb2, &sh2))
            .map_err(|e| Error::io("start the pool's refill thread", None, e))?;
        Ok(Pool {
            direct: sb.clone(),
            created: crate::fs::created_paths(sb),
            shared,
            refill: Some(refill),
            tails,
        })
    }

    /// Run `cmd` in a ready box (or, when none is ready, in a box spawned
    /// now). The program is looked up as [`Sandbox::spawn`] does; a missing
    /// one is [`Error::ProgramNotFound`], a command the gate cannot carry
    /// (over 256 arguments, over 32 KiB, a NUL) [`Error::InvalidConfig`],
    /// both before any box is used.
    pub fn spawn(&self, cmd: &Command) -> Result<Child> {
        let msg = self.message(cmd)?;
        loop {
            let Some(mut r) = self.take() else {
                let mut child = self.direct.spawn(cmd)?;
                child.released(layer(self.shared.target, false));
                child.finish_ends_in(self.tails.clone());
                Shared::started(&mut self.shared.lock());
                return Ok(child);
            };
            if send_all(&r.gate, &msg).is_ok() {
                drop(r.gate);
                r.child.released(layer(self.shared.target, true));
                r.child.finish_ends_in(self.tails.clone());
                return Ok(r.child);
            }
            // The box died while it waited (killed from outside, say):
            // reap it and take the next.
            self.shared.settled();
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }

    /// How many boxes are ready now.
    pub fn ready(&self) -> usize {
        self.shared.lock().ready.len()
    }

    /// How many boxes the pool keeps ready.
    pub fn capacity(&self) -> usize {
        self.shared.target
    }

    /// The refill's last error, if its last attempt failed (the pool
    /// spawns directly meanwhile, where the same error surfaces).
    pub fn last_error(&self) -> Option<String> {
        self.shared.lock().last_error.clone()
    }

    /// The gate message for `cmd`: program found in the box's view, argv;
    /// the environment is the description's.
    fn message(&self, cmd: &Command) -> Result<Vec<u8>> {
        use std::os::unix::ffi::OsStrExt;
        let program = crate::spawn::find_program_in(&self.direct, cmd, &self.created)?;
        let arg0 = cmd.arg0.as_deref().unwrap_or(cmd.program.as_os_str());
        let argv: Vec<&[u8]> = std::iter::once(arg0)
            .chain(cmd.args.iter().map(|a| a.as_os_str()))
            .map(|a| a.as_bytes())
            .collect();
        let mut buf = vec![0u8; command::BODY_MAX + 4];
        let n = command::encode(program.as_os_str().as_bytes(), &argv, None, &mut buf)
            .map_err(|e| Error::invalid("pool command", e.reason()))?;
        buf.truncate(n);
        Ok(buf)
    }

    /// A ready box, counted in flight (before the refill hears of it).
    fn take(&self) -> Option<Ready> {
        let mut st = self.shared.lock();
        let r = st.ready.pop_front();
        if r.is_some() {
            Shared::started(&mut st);
        }
        drop(st);
        self.shared.wake.notify_all();
        r
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.refill.take() {
            let _ = t.join();
        }
        let boxes = std::mem::take(&mut self.shared.lock().ready);
        for mut r in boxes {
            drop(r.gate);
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
        // The boxes whose outcome is out are gone when this returns.
        self.tails.close();
    }
}

/// What a pool refuses before making any box.
fn check(sb: &Sandbox, n: usize) -> Result<()> {
    if n == 0 || n > POOL_MAX {
        return Err(Error::invalid(
            "pool size",
            format!("{n}: between 1 and {POOL_MAX} boxes"),
        ));
    }
    if !sb.has_ns(Namespace::Pid) || sb.payload_pid1 {
        return Err(Error::invalid(
            "pool",
            "a pooled box needs a PID namespace with rsandbox's init \
             (its init holds the payload at the gate): add Namespace::Pid, \
             without payload_as_pid1",
        ));
    }
    if sb.start_gate.is_some() {
        return Err(Error::invalid(
            "pool",
            "a pooled box's gate is the pool's: no start_gate",
        ));
    }
    sb.validate()
}

/// Spawn one box held at a command gate.
fn make_box(sb: &Sandbox) -> Result<Ready> {
    let (ours, theirs) = gate_pair()?;
    let mut gated = sb.clone();
    gated.start_gate = Some(theirs.as_raw_fd());
    gated.command_gate = true;
    // A placeholder the init never execs (the command comes through the
    // gate); an absolute program missing from the box is allowed with a
    // gate, so nothing is looked up.
    let child = gated.spawn(&Command::new("/rsandbox-pool-gate"))?;
    child.open_counters();
    Ok(Ready { child, gate: ours })
}

/// A connected `AF_UNIX` stream pair, close-on-exec.
fn gate_pair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    // SAFETY: socketpair writes two fds into the array.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(Error::last_os("create a pool gate", None));
    }
    // SAFETY: both fds are fresh and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Send the whole message (MSG_NOSIGNAL: a dead box is EPIPE).
fn send_all(fd: &OwnedFd, mut msg: &[u8]) -> std::io::Result<()> {
    while !msg.is_empty() {
        // SAFETY: sends from the slice, within its length.
        let r = unsafe {
            libc::send(
                fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        msg = &msg[r as usize..];
    }
    Ok(())
}

/// The pool's thread: top the pool up to its target, sleep until a box is
/// taken or the pool is dropped. A failed spawn is recorded and retried
/// after a pause (the pool spawns directly meanwhile).
fn refill_loop(sb: &Sandbox, shared: &Shared) {
    let mut st = shared.lock();
    loop {
        while !st.stop && st.ready.len() >= shared.target {
            st = shared.wake.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if st.stop {
            return;
        }
        if let Some(left) = Shared::yield_left(&st) {
            st = shared
                .wake
                .wait_timeout(st, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            continue;
        }
        drop(st);
        let made = make_box(sb);
        st = shared.lock();
        match made {
            Ok(r) => {
                st.ready.push_back(r);
                st.last_error = None;
            }
            Err(e) => {
                st.last_error = Some(e.to_string());
                let pause = Duration::from_millis(200);
                st = shared
                    .wake
                    .wait_timeout(st, pause)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
    }
}

/// The report's entry for a pooled spawn.
fn layer(n: usize, warm: bool) -> LayerReport {
    LayerReport::full(
        "pool",
        if warm {
            format!("warm pool of {n}: a box set up ahead, released at its gate with this command")
        } else {
            format!("warm pool of {n}, empty at this spawn: the box was spawned directly")
        },
    )
}
