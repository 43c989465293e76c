//! Fresh network namespaces made ahead of use, one per box.
//!
//! Why: creating a network namespace is the most expensive step of a
//! strict box's clone (≈0.35 ms of ≈0.6 ms here), and it sits on the
//! critical path of every spawn. A background thread makes the next
//! namespaces while the caller's boxes run, so a spawn takes one that is
//! ready instead. Unlike [`NetNs`](crate::NetNs), nothing is shared: each
//! namespace is new, holds only `lo` (up), and is handed to exactly one
//! box; when that box ends it is torn down as a per-box namespace would be.
//!
//! The one difference a box could observe: a spare namespace belongs to the
//! caller's user namespace, not to the box's. So a spare is used only where
//! that cannot matter to the payload: the caller holds `CAP_SYS_ADMIN` (the
//! launching thread enters the namespace around the clone, as for a shared
//! one), the box has a user namespace, it drops every capability (the
//! strict preset: no `CAP_NET_ADMIN` over its own namespace either way),
//! and it mounts no sysfs of its own (the kernel lets only the namespace's
//! owner do that). The default view's `/sys` is still the box's: each spare
//! comes with a detached read-only sysfs made inside it by this thread,
//! which the box attaches (`crate::fs::sysfs`). Any other box makes its own
//! namespace in `clone3`.
//! `RSANDBOX_NO_NETNS_POOL=1` (read once per process) turns the spares off.
//!
//! When none is ready (the first spawn, or a burst faster than the thread),
//! the spawn does not wait: it makes its own namespace as usual. The
//! process-global pool holds at most [`DEPTH`] namespaces (one fd each).
//! After a `fork` the child process has no pool thread and shares the
//! queued fds with its parent, so the pool answers only in the process that
//! made it: two boxes must never get the same namespace.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Condvar, Mutex, Once, OnceLock};

use crate::config::fs::MountStep;
use crate::ns::Namespace;
use crate::sandbox::Sandbox;
use crate::sys::caps::{has_effective_cap, CAP_SYS_ADMIN};

/// How many ready namespaces the pool keeps: one for the next spawn and
/// one for a spawn from a second thread.
pub(crate) const DEPTH: usize = 2;

/// A namespace made ahead, for one box.
pub(crate) struct Spare {
    /// The network namespace.
    pub net: OwnedFd,
    /// A detached read-only sysfs made inside it (showing its devices), or
    /// `None` where the kernel refused one.
    pub sysfs: Option<OwnedFd>,
}

struct Pool {
    /// The process that made the pool (see the module docs on fork).
    pid: u32,
    ready: Mutex<Vec<Spare>>,
    /// Signalled when a namespace is taken (the thread refills).
    taken: Condvar,
}

static POOL: OnceLock<Pool> = OnceLock::new();
static START: Once = Once::new();

/// `RSANDBOX_NO_NETNS_POOL`, read once per process (at the first spawn
/// that could use the pool), not at every spawn.
fn turned_off() -> bool {
    static OFF: OnceLock<bool> = OnceLock::new();
    *OFF.get_or_init(|| {
        std::env::var_os("RSANDBOX_NO_NETNS_POOL").is_some_and(|v| !v.is_empty() && v != "0")
    })
}

/// Whether a box of `sb` may run in a spare namespace (see the module docs).
pub(crate) fn eligible(sb: &Sandbox) -> bool {
    sb.has_ns(Namespace::Net)
        && sb.has_ns(Namespace::User)
        && sb.caps.drops_all()
        && !sb
            .fs
            .steps
            .iter()
            .any(|s| matches!(s, MountStep::Sysfs { .. }))
        // Egress binds port 53 in the box's namespace: it must be the
        // box's own user namespace's (crate::egress).
        && sb.egress.is_none()
        // A warm pool's box is made ahead already, on the pool's thread,
        // which yields to the caller's boxes in flight; taking a spare for
        // it would only set this thread making the next one while the
        // caller's pooled payload runs (crate::pool).
        && !sb.command_gate
        && !turned_off()
        && has_effective_cap(CAP_SYS_ADMIN)
}

/// A ready namespace for one box, if the pool has one; starts the pool on
/// first use. `None` means: make a namespace in the clone.
pub(crate) fn take() -> Option<Spare> {
    let pool = POOL.get_or_init(|| Pool {
        pid: std::process::id(),
        ready: Mutex::new(Vec::with_capacity(DEPTH)),
        taken: Condvar::new(),
    });
    // If the thread cannot start, the pool stays empty: every spawn then
    // makes its own namespace.
    START.call_once(|| {
        let _ = std::thread::Builder::new()
            .name("rsandbox-netpool".into())
            .spawn(move || refill(pool));
    });
    if pool.pid != std::process::id() {
        return None;
    }
    let fd = pool.ready.lock().unwrap_or_else(|p| p.into_inner()).pop();
    pool.taken.notify_one();
    fd
}

/// The pool thread: keep [`DEPTH`] namespaces ready. It makes each one by
/// moving itself into it (`unshare`), then goes back to where it started,
/// so it never stays a member of a namespace a box is given. Any failure
/// ends the thread: spawns then make their own namespaces.
fn refill(pool: &'static Pool) {
    let Some(home) = open_own() else { return };
    // Below the threads that spawn: making a namespace costs ≈0.35 ms of
    // CPU, which on a small machine would otherwise be taken from the very
    // spawns it is meant to speed up. Not idle-class, so it cannot starve
    // while holding a kernel lock (rtnl) another spawn needs.
    // SAFETY: get/setpriority on this thread (who = 0) with integer args.
    unsafe {
        let nice = libc::getpriority(libc::PRIO_PROCESS, 0);
        libc::setpriority(libc::PRIO_PROCESS, 0, (nice + 10).min(19));
    }
    loop {
        {
            let mut ready = pool.ready.lock().unwrap_or_else(|p| p.into_inner());
            while ready.len() >= DEPTH {
                ready = pool.taken.wait(ready).unwrap_or_else(|p| p.into_inner());
            }
        }
        let Some(spare) = make(&home) else { return };
        pool.ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(spare);
    }
}

/// This thread's network namespace, as an fd.
fn open_own() -> Option<OwnedFd> {
    // SAFETY: open of a constant C path; the result is checked.
    let fd = unsafe {
        libc::open(
            c"/proc/thread-self/ns/net".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    // SAFETY: a fresh descriptor we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A new namespace with `lo` up and its sysfs, made on this thread, which
/// then returns to `home`.
fn make(home: &OwnedFd) -> Option<Spare> {
    // SAFETY: unshare with a constant flag affects only this thread.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return None;
    }
    let fd = open_own();
    let up = crate::sys::net::loopback_up().is_ok();
    let sysfs = crate::sys::mount::detached_sysfs().ok();
    // SAFETY: setns back into the namespace this thread started in.
    let back = unsafe { libc::setns(home.as_raw_fd(), libc::CLONE_NEWNET) } == 0;
    if !back {
        // Stay out of the way: the thread ends, and the namespace it is in
        // is never handed out.
        return None;
    }
    Some(Spare {
        net: fd.filter(|_| up)?,
        sysfs,
    })
}
