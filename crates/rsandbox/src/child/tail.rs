//! The end of a box after its outcome: the init's exit, which tears down
//! the box's namespaces, then the removal of its cgroup and image copy.
//!
//! A warm pool's box reports its payload's end through its init before the
//! init exits (see `Child::reap_early`); the caller has its outcome then,
//! and a [`Tails`] thread waits out the rest. The work is the same as an
//! ordinary reap's, moved off the caller's path, so it still happens once
//! per box: nothing is left when [`Tails::close`] returns.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::cgroup::Cgroup;
use crate::error::{Error, Result};
use crate::sys;

/// What is left of a box whose outcome is out.
pub(crate) struct Tail {
    /// The init's pidfd (a dup of the Child's).
    pub pidfd: OwnedFd,
    pub cgroup: Option<Cgroup>,
    pub image_copy: Option<crate::image::PrivateCopy>,
}

impl Tail {
    /// Reap the init (it exits by itself once it has reported), then remove
    /// the cgroup (killing anything still in it) and the image copy.
    fn finish(self) {
        let _ = sys::waitid(
            sys::P_PIDFD,
            self.pidfd.as_raw_fd() as libc::id_t,
            libc::WEXITED,
        );
        if let Some(mut cg) = self.cgroup {
            let _ = cg.remove();
        }
        drop(self.image_copy);
    }
}

/// A thread that finishes [`Tail`]s in the order they come.
pub(crate) struct Tails {
    queue: Mutex<Option<Sender<Tail>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Told each time a box's outcome is out (a pool's refill waits for it).
    on_outcome: Box<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for Tails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tails").finish_non_exhaustive()
    }
}

impl Tails {
    /// Start the thread (named `rsandbox-tails`); `on_outcome` is called
    /// as each tail is handed over.
    pub(crate) fn start(on_outcome: impl Fn() + Send + Sync + 'static) -> Result<Tails> {
        let (tx, rx) = channel::<Tail>();
        let thread = std::thread::Builder::new()
            .name("rsandbox-tails".into())
            .spawn(move || rx.into_iter().for_each(Tail::finish))
            .map_err(|e| Error::io("start the thread that ends pooled boxes", None, e))?;
        Ok(Tails {
            queue: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            on_outcome: Box::new(on_outcome),
        })
    }

    /// Finish `t` on the thread, or here once the thread is closed (a
    /// pooled Child waited after its pool was dropped).
    pub(crate) fn hand(&self, t: Tail) {
        self.outcome_out();
        let rejected = match lock(&self.queue).as_ref() {
            Some(q) => q.send(t).err().map(|e| e.0),
            None => Some(t),
        };
        if let Some(t) = rejected {
            t.finish();
        }
    }

    /// A box's outcome is out (handed over, or reaped in full by its
    /// Child).
    pub(crate) fn outcome_out(&self) {
        (self.on_outcome)();
    }

    /// Finish what was handed so far, then stop the thread.
    pub(crate) fn close(&self) {
        drop(lock(&self.queue).take());
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
    }
}

impl Drop for Tails {
    fn drop(&mut self) {
        self.close();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
