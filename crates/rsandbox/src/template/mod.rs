//! Templates: boxes forked from a payload that ran to a ready point.
//!
//! [`Sandbox::template`] spawns the description's box as usual, with one
//! end of a `SOCK_SEQPACKET` pair passed in and named by the env var
//! `RSANDBOX_TEMPLATE_FD`. The payload initialises itself and calls
//! [`serve_forks`] (C: `rsandbox_serve_forks`). Each [`Template::fork`]
//! then makes a copy-on-write child of that process, with its own stdio,
//! which returns from `serve_forks` with the fork's argument.
//!
//! Posture: every layer of the description (Landlock, seccomp,
//! no_new_privs, capabilities, rlimits, namespaces, cgroup) is applied to
//! the template box by the ordinary spawn and inherited by each fork, as
//! sandlock's forks inherit theirs. With
//! [`TemplateOptions::fork_namespaces`] each fork also gets user, pid,
//! mount (a fresh `/proc`), net, ipc and uts namespaces of its own and
//! drops every capability (`isolate`); the template box's seccomp filter
//! is relaxed for the fork's clone, `unshare` and mounts (`policy`) and
//! each fork stacks what closes those holes again. Landlock is then the
//! forks' own: each applies the description's ruleset after its
//! namespaces, and the template box runs without it (a Landlock domain
//! refuses the fork's mounts). When the description has cgroup limits, each fork gets a cgroup of
//! its own with those limits (a sibling of the template box's): the fork
//! waits at a gate until the caller has moved it there (`release`).
//!
//! Exit status: a fork is the template's child, not the caller's, so the
//! template reaps it (waitid on its pidfd) and reports the wait status over
//! the socket; the caller holds a pidfd of the fork (sent back with
//! `SCM_RIGHTS`) to learn of its exit and to kill it without pid reuse races.

mod isolate;
mod policy;
mod protocol;
mod report;
mod serve;
mod spare;

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use protocol::FD_ENV;
pub use serve::serve_forks;

use crate::cgroup::{Cgroup, CgroupStats};
use crate::config::seccomp::SeccompSource;
use crate::report::EnforcementReport;
use crate::seccomp::SeccompProgram;
use crate::{Child, Command, Error, Result, Sandbox};
use protocol::{
    Reply, CONFIG_GATE, CONFIG_LANDLOCK, CONFIG_NAMESPACES, CONFIG_PROC, CONFIG_SPLIT, EXITED,
    FAILED, FORKED, READY,
};

pub use isolate::NS_FLAGS;
pub use policy::relaxed_default;

/// How long [`Sandbox::template`] waits for the ready point by default.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);

impl Sandbox {
    /// Spawn `cmd` as a template and wait (up to
    /// [`DEFAULT_READY_TIMEOUT`]) until it calls `serve_forks`.
    pub fn template(&self, cmd: &Command) -> Result<Template> {
        self.template_timeout(cmd, DEFAULT_READY_TIMEOUT)
    }

    /// [`template`](Self::template) with a chosen wait for the ready point.
    /// A payload that does not get there in time is killed and the error
    /// is [`Error::Io`] of kind `TimedOut`; one that exits first gives
    /// kind `UnexpectedEof`.
    pub fn template_timeout(&self, cmd: &Command, ready: Duration) -> Result<Template> {
        self.template_with(cmd, &TemplateOptions::new().ready_timeout(ready))
    }

    /// [`template`](Self::template) with options: the wait for the ready
    /// point and whether each fork gets namespaces of its own
    /// ([`TemplateOptions::fork_namespaces`]).
    pub fn template_with(&self, cmd: &Command, opts: &TemplateOptions) -> Result<Template> {
        let (ours, theirs) = seqpacket_pair()?;
        let tbox = self.template_box(opts)?;
        let sent: Vec<RawFd> = tbox.landlock_fd.iter().map(|f| f.as_raw_fd()).collect();
        protocol::send(ours.as_raw_fd(), &tbox.config(), &sent)
            .map_err(|e| Error::io("queueing the template's configuration", None, e))?;
        let (sent, tightened, masked_proc) = (tbox.flags, tbox.tightened(), tbox.keeps_proc());
        let TemplateBox {
            sb, fork_landlock, ..
        } = tbox;
        let target = sb.fds.iter().map(|&(_, t)| t + 1).max().unwrap_or(3).max(3);
        let sb = sb
            .pass_fd(theirs.as_raw_fd(), target)
            .env(FD_ENV, target.to_string());
        let child = sb.spawn(cmd)?;
        drop(theirs);
        let understood = wait_ready(ours.as_fd(), opts.ready)?;
        let per_fork = self.limits.wants_cgroup().then(|| self.clone());
        check_understood(sent, understood)?;
        let posture = report::Posture {
            namespaces: opts.namespaces,
            tightened,
            own_cgroup: per_fork.is_some(),
            landlock: fork_landlock,
            masked_proc,
        };
        Ok(Template {
            inner: Arc::new(Inner {
                sock: ours,
                exited: Mutex::new(HashMap::new()),
                per_fork,
                template_report: report::of_template(child.enforcement(), &posture),
                fork_report: report::of_fork(child.enforcement(), &posture),
                child: Mutex::new(child),
            }),
        })
    }

    /// The template box's description and the `CONFIG` message for its
    /// `serve_forks`. With namespaced forks and the default seccomp
    /// profile, the box runs [`relaxed_default`], each fork makes its
    /// namespaces split (`CONFIG_SPLIT`) and then stacks what closes the
    /// relaxed filter's holes (`policy::fork_tightening`); any other filter
    /// is the box's as given (it must let the fork's `clone` and `mount`s
    /// through, or each fork fails with a typed error). Namespaced forks
    /// apply the description's Landlock ruleset themselves
    /// (`CONFIG_LANDLOCK`), and the box runs without it.
    fn template_box(&self, opts: &TemplateOptions) -> Result<TemplateBox> {
        // Forks of a description with cgroup limits wait at a gate until
        // the caller has put each in a cgroup of its own.
        let gate = if self.limits.wants_cgroup() {
            CONFIG_GATE
        } else {
            0
        };
        if !opts.namespaces {
            return Ok(TemplateBox::new(self.clone(), gate));
        }
        let mut t = TemplateBox::new(self.clone(), CONFIG_NAMESPACES | gate);
        t.move_landlock_to_forks()?;
        if !matches!(self.seccomp.source, Some(SeccompSource::Default)) {
            return Ok(t);
        }
        if keeps_sys_admin(self) {
            return Err(Error::invalid(
                "template: fork_namespaces",
                "the template box would keep CAP_SYS_ADMIN outside a user namespace of its \
                 own, and the seccomp holes its forks need (mount) would then let it mount \
                 outside its forks: add drop_caps() or user_ns()",
            ));
        }
        // What each fork stacks: with the relaxed filter beneath, the
        // default profile's answers (see `policy`).
        let tightening = self.clone().seccomp(policy::fork_tightening());
        if let Some(tight) = SeccompProgram::prepare(&tightening)? {
            t.tighten(tight.filter_bytes());
        }
        // Only under the tightening: a fork payload that could make a user
        // namespace could mount a proc without the masks under it.
        if t.tightened() && crate::fs::mounts_root_proc(self) {
            t.keep_proc_for_forks();
        }
        Ok(t)
    }
}

/// The template box as spawned and what its `serve_forks` is told.
struct TemplateBox {
    sb: Sandbox,
    /// The `CONFIG` flags.
    flags: u32,
    /// The filter each fork stacks (`CONFIG_SPLIT`), as bytes; empty: none.
    filter: Vec<u8>,
    /// Sent with `CONFIG`: the Landlock ruleset namespaced forks apply.
    landlock_fd: Option<OwnedFd>,
    /// The report's `landlock` entry for each fork, when forks apply it.
    fork_landlock: Option<crate::report::LayerReport>,
}

impl TemplateBox {
    fn new(sb: Sandbox, flags: u32) -> TemplateBox {
        TemplateBox {
            sb,
            flags,
            filter: Vec::new(),
            landlock_fd: None,
            fork_landlock: None,
        }
    }

    /// The `CONFIG` message.
    fn config(&self) -> Vec<u8> {
        protocol::config_bytes(self.flags, &self.filter)
    }

    /// Whether forks stack the tightening filter over the relaxed profile.
    fn tightened(&self) -> bool {
        self.flags & CONFIG_SPLIT != 0
    }

    /// Whether the box keeps a read-only proc for its forks' `/proc`.
    fn keeps_proc(&self) -> bool {
        self.flags & CONFIG_PROC != 0
    }

    /// The box keeps a read-only proc under its `/proc`, and its forks
    /// mount theirs read-only and mask it again (`CONFIG_PROC`).
    fn keep_proc_for_forks(&mut self) {
        self.flags |= CONFIG_PROC;
        self.sb.proc_for_forks = true;
    }

    /// The box runs the relaxed default profile; each fork stacks `filter`.
    fn tighten(&mut self, filter: &[u8]) {
        self.flags |= CONFIG_SPLIT;
        self.filter = filter.to_vec();
        self.sb = self.sb.clone().seccomp(relaxed_default());
    }

    /// A Landlock domain on the template box would refuse each namespaced
    /// fork's `/proc` mount and id maps: the ruleset is made here, in the
    /// caller, as for any box, and sent to the template, whose forks apply
    /// it after their namespaces; the box itself runs without it.
    fn move_landlock_to_forks(&mut self) -> Result<()> {
        let Some(plan) = crate::landlock::LandlockPlan::prepare(&self.sb)? else {
            return Ok(());
        };
        let (fd, entry) = plan.into_parts();
        if fd.is_some() {
            self.flags |= CONFIG_LANDLOCK;
        }
        self.landlock_fd = fd;
        self.fork_landlock = Some(entry);
        self.sb.landlock = Default::default();
        Ok(())
    }
}

/// The `CONFIG` flags a `serve_forks` must understand to serve forks as
/// asked, with the field an error names and what an older one cannot do.
const MUST_UNDERSTAND: [(u32, &str, &str); 3] = [
    (
        CONFIG_LANDLOCK,
        "template: landlock",
        "apply Landlock in its forks",
    ),
    (
        CONFIG_PROC,
        "template: fork_namespaces",
        "mount a masked /proc in its forks",
    ),
    (
        CONFIG_GATE,
        "template: cgroup limits",
        "hold a fork until it is in a cgroup of its own",
    ),
];

/// An error when the payload's `serve_forks` did not echo a flag of
/// [`MUST_UNDERSTAND`] that was `sent`: it would serve forks without it.
fn check_understood(sent: u32, understood: u32) -> Result<()> {
    for (flag, field, what) in MUST_UNDERSTAND {
        if sent & flag != 0 && understood & flag == 0 {
            return Err(Error::invalid(
                field,
                format!(
                    "the payload's serve_forks is of an older rsandbox that cannot {what}: \
                     rebuild it against this version"
                ),
            ));
        }
    }
    Ok(())
}

/// Whether the box's payload would hold `CAP_SYS_ADMIN` over namespaces
/// it does not own: a root caller's box without a user namespace that
/// does not drop it.
fn keeps_sys_admin(sb: &Sandbox) -> bool {
    use crate::sys::caps::{has_effective_cap, CAP_SYS_ADMIN};
    if sb.has_ns(crate::Namespace::User) || !has_effective_cap(CAP_SYS_ADMIN) {
        return false;
    }
    !sb.caps.drop
        || sb
            .caps
            .kept()
            .iter()
            .any(|n| crate::config::caps::parse_cap(n) == Some(CAP_SYS_ADMIN))
}

/// How [`Sandbox::template_with`] makes a template.
#[derive(Debug, Clone)]
pub struct TemplateOptions {
    ready: Duration,
    namespaces: bool,
}

impl Default for TemplateOptions {
    fn default() -> Self {
        TemplateOptions::new()
    }
}

impl TemplateOptions {
    /// Wait [`DEFAULT_READY_TIMEOUT`] for the ready point; forks without
    /// namespaces of their own.
    pub fn new() -> TemplateOptions {
        TemplateOptions {
            ready: DEFAULT_READY_TIMEOUT,
            namespaces: false,
        }
    }

    /// How long to wait for the payload to call `serve_forks`.
    pub fn ready_timeout(mut self, ready: Duration) -> Self {
        self.ready = ready;
        self
    }

    /// Whether every fork gets namespaces of its own: one `clone` with
    /// [`NS_FLAGS`] (user, pid, mount, net, ipc, uts), then, in the child,
    /// its own uid/gid map, a fresh `/proc`, `lo` up, every capability
    /// dropped and no_new_privs, and the default seccomp profile stacked
    /// when the description asked for it (see docs/template.md).
    ///
    /// A property of the template, not of one fork: the template box's
    /// seccomp filter must let that `clone` through, which is decided when
    /// the box is spawned, and then every fork must stack the full filter.
    pub fn fork_namespaces(mut self, on: bool) -> Self {
        self.namespaces = on;
        self
    }
}

fn seqpacket_pair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    let ty = libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC;
    // SAFETY: fds is a live [c_int; 2].
    if unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()) } < 0 {
        return Err(Error::last_os("socketpair for a template", None));
    }
    // SAFETY: two fresh fds we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Wait for the `READY` message, at most `timeout`; the `CONFIG` flags the
/// template understood.
fn wait_ready(sock: BorrowedFd, timeout: Duration) -> Result<u32> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut p = libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one live pollfd.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if n == 0 {
            let e = io::Error::new(
                io::ErrorKind::TimedOut,
                "the payload never called serve_forks",
            );
            return Err(Error::io("waiting for the template's ready point", None, e));
        }
        return match recv_reply(sock.as_raw_fd())? {
            (Some(r), _) if r.kind == READY => Ok(r.status as u32),
            _ => Err(gone("waiting for the template's ready point")),
        };
    }
}

/// The template exited (or sent garbage): a typed error.
fn gone(op: &str) -> Error {
    let e = io::Error::new(io::ErrorKind::UnexpectedEof, "the template process is gone");
    Error::io(op, None, e)
}

fn recv_reply(sock: RawFd) -> Result<(Option<Reply>, Vec<OwnedFd>)> {
    let mut buf = [0u8; 12];
    // A template that exits with messages of ours unread (the CONFIG one,
    // a request) resets the connection: that too means it is gone.
    let (n, fds) = protocol::recv(sock, &mut buf).map_err(|e| match e.kind() {
        io::ErrorKind::ConnectionReset => gone("template socket"),
        _ => Error::io("template socket", None, e),
    })?;
    Ok((protocol::parse_reply(&buf[..n]), fds))
}

/// A box whose payload waits in `serve_forks`, ready to be forked.
/// Dropping it (and every [`ForkedBox`] made from it) closes the socket,
/// on which the template kills its forks and exits, and kills the box.
#[derive(Clone)]
pub struct Template {
    inner: Arc<Inner>,
}

struct Inner {
    /// Declared first: dropped before `child`, so the template sees EOF.
    sock: OwnedFd,
    /// Wait statuses reported for forks not yet waited on, by pid.
    exited: Mutex<HashMap<i32, i32>>,
    /// The description each fork's own cgroup is made from, when it has
    /// cgroup limits (the template is then gated).
    per_fork: Option<Sandbox>,
    /// The template box's enforcement report, with its `template` layer.
    template_report: EnforcementReport,
    /// Every fork's: the template box's, with what a fork makes its own.
    fork_report: EnforcementReport,
    child: Mutex<Child>,
}

impl Template {
    /// The template payload's host pid.
    pub fn pid(&self) -> libc::pid_t {
        self.inner
            .child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pid()
    }

    /// What the template box enforces (its spawn's report), with a
    /// `template` layer saying how its forks are made.
    pub fn enforcement(&self) -> &EnforcementReport {
        &self.inner.template_report
    }

    /// Fork a box that shares this process's stdin, stdout and stderr.
    pub fn fork(&self, arg: u64) -> Result<ForkedBox> {
        let (i, o, e) = (io::stdin(), io::stdout(), io::stderr());
        self.fork_with_stdio(arg, i.as_fd(), o.as_fd(), e.as_fd())
    }

    /// Fork a box whose stdin, stdout and stderr are the given fds; its
    /// `serve_forks` returns `arg`.
    pub fn fork_with_stdio(
        &self,
        arg: u64,
        stdin: BorrowedFd,
        stdout: BorrowedFd,
        stderr: BorrowedFd,
    ) -> Result<ForkedBox> {
        let stdio = [stdin.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()];
        let Some(sb) = &self.inner.per_fork else {
            return self.request(arg, &stdio);
        };
        // The cgroup first: a description it cannot be made for fails
        // before anything is forked.
        let cg = Cgroup::create(sb)?.ok_or_else(|| gone("creating a fork's cgroup"))?;
        // A socket pair rather than a pipe: the byte that opens the gate
        // is sent with MSG_NOSIGNAL, so a fork killed meanwhile does not
        // SIGPIPE a C caller.
        let (gate_w, gate_r) = seqpacket_pair()?;
        let fds = [stdio[0], stdio[1], stdio[2], gate_r.as_raw_fd()];
        let f = self.request(arg, &fds)?;
        drop(gate_r);
        release(f, cg, gate_w)
    }

    /// Send one request with `fds` (stdio, and the gate when gated); the
    /// fork as the template reported it.
    fn request(&self, arg: u64, fds: &[RawFd]) -> Result<ForkedBox> {
        let op = "forking from a template";
        let sock = self.inner.sock.as_raw_fd();
        let mut exited = self.inner.exited.lock().unwrap_or_else(|e| e.into_inner());
        protocol::send(sock, &arg.to_ne_bytes(), fds).map_err(|_| gone(op))?;
        loop {
            match recv_reply(sock)? {
                (Some(r), _) if r.kind == EXITED => {
                    exited.insert(r.pid, r.status);
                }
                (Some(r), _) if r.kind == FAILED => {
                    let e = io::Error::from_raw_os_error(r.status);
                    return Err(Error::io(isolate::Step::describe(r.pid), None, e));
                }
                (Some(r), mut fds) if r.kind == FORKED && fds.len() == 1 => {
                    return Ok(ForkedBox {
                        inner: self.inner.clone(),
                        pid: r.pid,
                        pidfd: fds.remove(0),
                        status: None,
                        cgroup: None,
                        stats: None,
                    });
                }
                _ => return Err(gone(op)),
            }
        }
    }
}

/// Move the fork (waiting at its gate) into its own cgroup, then open the
/// gate. The move is made here, not in the template: the template box
/// need not (and should not) be able to write to the cgroup tree, and
/// from inside a cgroup namespace a `CLONE_INTO_CGROUP` to a sibling fails the kernel's
/// common-ancestor check. On failure the fork is killed and reaped
/// (closing the gate also ends it) before its cgroup is removed.
fn release(mut f: ForkedBox, cg: Cgroup, gate: OwnedFd) -> Result<ForkedBox> {
    let placed = pidfd_pid(f.pidfd.as_fd()).and_then(|pid| cg.attach(pid, false));
    if let Err(e) = placed {
        drop(gate);
        drop(f);
        drop(cg);
        return Err(e);
    }
    f.cgroup = Some(cg);
    // The protocol's send: MSG_NOSIGNAL, so a fork killed meanwhile is an
    // error here, not a SIGPIPE.
    protocol::send(gate.as_raw_fd(), &[1], &[])
        .map_err(|e| Error::io("opening a fork's gate", None, e))?;
    Ok(f)
}

/// The pid of a pidfd's process in this process's pid namespace (the
/// `Pid:` line of its fdinfo): the fork's pid the template reports is one
/// of the template box's pid namespace.
fn pidfd_pid(pidfd: BorrowedFd) -> Result<libc::pid_t> {
    let path = format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd());
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::io("reading a fork's pidfd", Some(path.into()), e))?;
    let pid = text
        .lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse::<libc::pid_t>().ok())
        .filter(|&p| p > 0);
    pid.ok_or_else(|| gone("finding a fork's pid"))
}

/// A box forked from a [`Template`]. Killed (and reaped by the template)
/// when dropped before it was waited on.
pub struct ForkedBox {
    inner: Arc<Inner>,
    pid: i32,
    pidfd: OwnedFd,
    status: Option<ExitStatus>,
    /// Its own cgroup (a template with cgroup limits), removed once it is
    /// waited on.
    cgroup: Option<Cgroup>,
    /// What that cgroup saw, read just before it was removed.
    stats: Option<CgroupStats>,
}

impl ForkedBox {
    /// The fork's pid in the template's pid namespace.
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Send `sig` through the fork's pidfd.
    pub fn signal(&self, sig: i32) -> Result<()> {
        // SAFETY: pidfd_send_signal on a pidfd we own; no siginfo.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                sig,
                0usize,
                0u32,
            )
        };
        if r < 0 {
            return Err(Error::last_os("pidfd_send_signal to a fork", None));
        }
        Ok(())
    }

    /// What the fork enforces: every layer of the template box, which it
    /// inherits, with what it makes its own (namespaces, capabilities and
    /// the stacked filter of a namespaced fork) and a `template` layer
    /// saying what it shares with the template and its siblings.
    pub fn enforcement(&self) -> &EnforcementReport {
        &self.inner.fork_report
    }

    /// Kill the fork (SIGKILL).
    pub fn kill(&self) -> Result<()> {
        self.signal(libc::SIGKILL)
    }

    /// What the fork's own cgroup saw (peak memory, OOM kills, CPU time,
    /// peak pids), once it has been waited on; `None` before, or when the
    /// template's description has no cgroup limits. A fork the memory
    /// limit ended has `oom_kills` ≥ 1 (and a SIGKILL wait status).
    pub fn cgroup_stats(&self) -> Option<&CgroupStats> {
        self.stats.as_ref()
    }

    /// Wait until the fork exits; its status as the template reaped it.
    /// Its cgroup (if it has one) is then read and removed: an error here
    /// is that removal's (the status is kept for the next call).
    pub fn wait(&mut self) -> Result<ExitStatus> {
        if let Some(s) = self.status {
            return Ok(s);
        }
        let s = self.reaped_status()?;
        if let Some(mut cg) = self.cgroup.take() {
            self.stats = Some(cg.stats());
            cg.remove()?;
        }
        Ok(s)
    }

    /// The status the template reports once the fork has ended.
    fn reaped_status(&mut self) -> Result<ExitStatus> {
        self.wait_exit()?;
        let sock = self.inner.sock.as_raw_fd();
        let mut exited = self.inner.exited.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(st) = exited.remove(&self.pid) {
                let s = ExitStatus::from_raw(st);
                self.status = Some(s);
                return Ok(s);
            }
            match recv_reply(sock)? {
                (Some(r), _) if r.kind == EXITED => {
                    exited.insert(r.pid, r.status);
                }
                _ => return Err(gone("waiting for a fork's status")),
            }
        }
    }

    /// Block until the pidfd says the process ended.
    fn wait_exit(&self) -> Result<()> {
        let mut p = libc::pollfd {
            fd: self.pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        loop {
            // SAFETY: one live pollfd.
            let n = unsafe { libc::poll(&mut p, 1, -1) };
            if n > 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(Error::io("polling a fork's pidfd", None, e));
            }
        }
    }
}

impl Drop for ForkedBox {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.kill();
            let _ = self.wait();
        }
    }
}

/// The fork's pidfd (readable once the fork has ended), for the bindings'
/// event loops and GIL-friendly waits; owned by the `ForkedBox`.
impl AsFd for ForkedBox {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flag sent and not echoed by the payload's `serve_forks` is a
    /// typed error naming its field; one not sent needs no echo.
    #[test]
    fn an_older_serve_forks_is_refused_for_what_it_cannot_do() {
        for (flag, field, what) in MUST_UNDERSTAND {
            let sent = CONFIG_NAMESPACES | flag;
            match check_understood(sent, CONFIG_NAMESPACES) {
                Err(Error::InvalidConfig { field: f, reason }) => {
                    assert_eq!(f, field);
                    assert!(
                        reason.contains(what) && reason.contains("rebuild"),
                        "{reason}"
                    );
                }
                other => panic!("{field}: {other:?}"),
            }
            assert!(check_understood(sent, sent).is_ok());
            assert!(check_understood(CONFIG_NAMESPACES, CONFIG_NAMESPACES).is_ok());
        }
        let all = CONFIG_LANDLOCK | CONFIG_PROC | CONFIG_GATE;
        assert!(check_understood(all, protocol::CONFIG_KNOWN).is_ok());
    }
}
