//! Optional per-stage timing of one spawn.
//!
//! Off by default. Turned on per box with [`Sandbox::record_timing`] or for
//! the whole process with `RSANDBOX_TIMING=1` in the environment. When on,
//! the parent maps one `MAP_SHARED` page of a memfd before the clone; the
//! child (and the box's init, which maps the same memfd, and the payload it
//! forks) writes `CLOCK_MONOTONIC` timestamps into fixed slots with
//! `clock_gettime` — no allocation, no lock, async-signal-safe — and the
//! parent turns the slots into a [`SpawnTiming`] once exec succeeded.
//! [`Child::spawn_timing`](crate::Child::spawn_timing) returns it.
//!
//! [`Sandbox::record_timing`]: crate::Sandbox::record_timing

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Slots of the shared page, in pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Mark {
    /// Parent: `spawn` called.
    Start = 0,
    /// Parent: plan prepared (validation, argv/env, mount plan, seccomp).
    Planned,
    /// Parent: cgroup created and limits written.
    Cgroup,
    /// Child: first instruction after clone.
    ChildRunning,
    /// Parent: clone returned (namespaces created).
    Cloned,
    /// Parent: id maps written (unless the child writes its own), cgroup
    /// attached, go byte sent.
    Released,
    /// Child: ids mapped (by itself, or by the parent and released),
    /// session created.
    ChildGo,
    /// Child: loopback up, hostname set.
    Net,
    /// Child: mount plan applied and root pivoted.
    Mounts,
    /// Child: rlimits, fds, identity, capabilities, Landlock.
    Creds,
    /// Payload: forked by the PID-1 init (or no init).
    Init,
    /// Payload: signals reset and seccomp installed, about to exec.
    Seccomp,
    /// Parent: the error pipe closed: exec succeeded.
    Exec,
}

const SLOTS: usize = Mark::Exec as usize + 1;

const NAMES: [&str; SLOTS] = [
    "start",
    "plan",
    "cgroup",
    "child running",
    "clone returned",
    "parent: maps/cgroup + release",
    "child: ids mapped",
    "net + uts",
    "mounts",
    "rlimits/fds/ids/caps/landlock",
    "init exec'd, payload forked",
    "signals + seccomp",
    "exec",
];

/// Nanoseconds of `CLOCK_MONOTONIC`; async-signal-safe (vDSO), no
/// allocation.
pub(crate) fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into a stack timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The shared page of timestamps.
#[derive(Debug)]
pub(crate) struct Stamps {
    page: *mut u64,
    fd: OwnedFd,
}

// SAFETY: the page is plain memory owned by this value; writes are volatile
// stores of u64 and the parent reads only after the child exec'd or failed.
unsafe impl Send for Stamps {}
// SAFETY: as above.
unsafe impl Sync for Stamps {}

const PAGE: usize = 4096;

impl Stamps {
    /// The page for one spawn, when timing is asked for (by the box's
    /// description or by `RSANDBOX_TIMING`).
    pub(crate) fn wanted(record: bool) -> Option<Stamps> {
        if record || Stamps::env_enabled() {
            Stamps::new(now_ns())
        } else {
            None
        }
    }

    /// Whether timing is asked for by the environment.
    pub(crate) fn env_enabled() -> bool {
        static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *ON.get_or_init(|| {
            std::env::var_os("RSANDBOX_TIMING").is_some_and(|v| !v.is_empty() && v != "0")
        })
    }

    /// Map the page; `None` if mmap fails (timing is best effort).
    pub(crate) fn new(start_ns: u64) -> Option<Stamps> {
        // A memfd rather than an anonymous mapping: the box's init is a
        // program of its own (exec'd), and maps the same page from this fd.
        // SAFETY: memfd_create with a constant name.
        let fd = unsafe { libc::memfd_create(c"rsandbox-timing".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: ftruncate and a shared mapping of one page of our memfd.
        let p = unsafe {
            if libc::ftruncate(fd.as_raw_fd(), PAGE as libc::off_t) != 0 {
                return None;
            }
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        let s = Stamps { page: p.cast(), fd };
        s.set(Mark::Start, start_ns);
        Some(s)
    }

    /// The page's memfd, for the box's init.
    pub(crate) fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn set(&self, m: Mark, ns: u64) {
        // SAFETY: the slot index is < SLOTS, inside the mapped page.
        unsafe { std::ptr::write_volatile(self.page.add(m as usize), ns) };
    }

    /// Record `m` now. Safe in the child: a vDSO call and a store.
    pub(crate) fn mark(&self, m: Mark) {
        self.set(m, now_ns());
    }

    /// Read the slots into a report.
    pub(crate) fn collect(&self) -> SpawnTiming {
        // SAFETY: slots < SLOTS lie in the mapped page.
        let raw: Vec<u64> = (0..SLOTS)
            .map(|i| unsafe { std::ptr::read_volatile(self.page.add(i)) })
            .collect();
        let t0 = raw[0];
        let marks = raw
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(_, &v)| v != 0)
            .map(|(i, &v)| (NAMES[i], Duration::from_nanos(v.saturating_sub(t0))))
            .collect();
        SpawnTiming { marks }
    }
}

impl Drop for Stamps {
    fn drop(&mut self) {
        // SAFETY: unmapping the page we mapped.
        unsafe { libc::munmap(self.page.cast(), PAGE) };
    }
}

pub use crate::report::SpawnTiming;

#[cfg(test)]
mod tests {
    use super::Mark;
    use rsandbox_init::proto::timing_slot;

    /// The init writes its two marks into these slots.
    #[test]
    fn the_init_writes_the_right_slots() {
        assert_eq!(Mark::Init as usize, timing_slot::INIT);
        assert_eq!(Mark::Seccomp as usize, timing_slot::SECCOMP);
    }
}
