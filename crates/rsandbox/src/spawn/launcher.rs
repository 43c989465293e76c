//! Step 2 of the launch pipeline: the clone itself, done on a long-lived
//! launcher thread.
//!
//! Why a thread: `PR_SET_PDEATHSIG` fires when the *thread* that created the
//! child exits, not the process. A caller that spawns from a short-lived
//! worker thread would see its sandboxes killed when that thread ends. Cloning
//! from one thread that lives as long as the process ties "die with parent"
//! to the process, as users expect. The hop costs two thread wake-ups,
//! a few microseconds on an idle machine but a scheduling delay each on a
//! loaded one, so a caller on the process's *main* thread (which lives as
//! long as the process) clones directly, without the hop, and so does a
//! box without die-with-parent.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Mutex;

use crate::spawn::plan::Plan;
use crate::spawn::routine::{self, ChildFds};
use crate::sys::{self, CloneArgs};

/// A cloned child.
pub(crate) struct Launched {
    pub pid: libc::pid_t,
    pub pidfd: OwnedFd,
    /// Whether `CLONE_INTO_CGROUP` placed it in its cgroup already.
    pub into_cgroup: bool,
}

struct Job {
    plan: *const Plan,
    fds: ChildFds,
    cgroup_fd: Option<RawFd>,
    reply: SyncSender<io::Result<(libc::pid_t, RawFd, bool)>>,
}

// SAFETY: the plan pointer is only dereferenced while the submitting thread
// blocks on the reply, so the Plan outlives its use; the launcher only reads
// it (and the cloned child reads its own copy).
unsafe impl Send for Job {}

/// The launcher of this process: (pid it was started in, its queue).
static LAUNCHER: Mutex<Option<(libc::pid_t, mpsc::Sender<Job>)>> = Mutex::new(None);

fn sender() -> io::Result<mpsc::Sender<Job>> {
    // SAFETY: trivial getter.
    let me = unsafe { libc::getpid() };
    let mut g = LAUNCHER.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((pid, tx)) = g.as_ref() {
        // After a fork() of the whole process (Python's os.fork), the
        // launcher thread did not come along: start a new one.
        if *pid == me {
            return Ok(tx.clone());
        }
    }
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("rsandbox-launcher".into())
        .spawn(move || serve(rx))?;
    *g = Some((me, tx.clone()));
    Ok(tx)
}

fn serve(rx: Receiver<Job>) {
    while let Ok(job) = rx.recv() {
        // SAFETY: the submitter keeps the plan alive until it gets the reply.
        let r = unsafe { clone_child(&*job.plan, job.fds, job.cgroup_fd) };
        let _ = job.reply.send(r);
    }
}

/// Whether the calling thread is the process's main thread.
fn on_main_thread() -> bool {
    // SAFETY: trivial getters.
    unsafe { libc::gettid() == libc::getpid() }
}

/// Clone a child running [`routine::child_main`] on `plan`.
///
/// Through the launcher thread only when the box must die with the
/// process and the caller is not the main thread: a box without
/// die-with-parent has no death signal to tie to a thread, so it is cloned
/// right here, without the hop's two thread wake-ups.
pub(crate) fn launch(plan: &Plan, fds: ChildFds, cgroup_fd: Option<RawFd>) -> io::Result<Launched> {
    if on_main_thread() || !plan.die_with_parent {
        // SAFETY: the child branch only runs the pre-exec routine; the plan
        // is borrowed for the whole call.
        let (pid, pidfd, into_cgroup) = unsafe { clone_child(plan, fds, cgroup_fd) }?;
        return Ok(Launched {
            pid,
            // SAFETY: the pidfd was just created for us by clone.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
            into_cgroup,
        });
    }
    let (reply, rx) = mpsc::sync_channel(1);
    let job = Job {
        plan,
        fds,
        cgroup_fd,
        reply,
    };
    sender()?
        .send(job)
        .map_err(|_| io::Error::other("the rsandbox launcher thread is gone"))?;
    let (pid, pidfd, into_cgroup) = rx
        .recv()
        .map_err(|_| io::Error::other("the rsandbox launcher thread is gone"))??;
    Ok(Launched {
        pid,
        // SAFETY: the pidfd was just created for us by clone.
        pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
        into_cgroup,
    })
}

/// Whether `clone3` is known to be missing (ENOSYS once seen).
static NO_CLONE3: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// # Safety
/// Forks; the child runs only the pre-exec routine.
unsafe fn clone_child(
    plan: &Plan,
    fds: ChildFds,
    cgroup_fd: Option<RawFd>,
) -> io::Result<(libc::pid_t, RawFd, bool)> {
    use std::sync::atomic::Ordering;
    // Born in a shared network namespace: this thread enters it for the
    // clone and leaves when `_net` drops (only in the parent: the child
    // never returns from child_main). See crate::netns.
    let _net = match &plan.shared_net {
        Some(ns) => Some(crate::netns::Entered::enter(ns.raw_fd())?),
        None => None,
    };
    let mut pidfd: libc::c_int = -1;
    if !NO_CLONE3.load(Ordering::Relaxed) {
        let mut args = CloneArgs {
            flags: plan.clone_flags | sys::CLONE_PIDFD,
            pidfd: &mut pidfd as *mut libc::c_int as u64,
            exit_signal: libc::SIGCHLD as u64,
            ..CloneArgs::default()
        };
        if let Some(fd) = cgroup_fd {
            args.flags |= sys::CLONE_INTO_CGROUP;
            args.cgroup = fd as u64;
        }
        // SAFETY: the child branch never returns from child_main.
        match unsafe { sys::clone3(&mut args) } {
            Ok(0) => unsafe { routine::child_main(plan, fds) },
            Ok(pid) => return Ok((pid, pidfd, cgroup_fd.is_some())),
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                NO_CLONE3.store(true, Ordering::Relaxed);
            }
            Err(e) => return Err(e),
        }
    }
    // SAFETY: as above; legacy clone stores the pidfd through parent_tid.
    match unsafe { sys::clone_legacy(plan.clone_flags | sys::CLONE_PIDFD, &mut pidfd) }? {
        0 => unsafe { routine::child_main(plan, fds) },
        pid => Ok((pid, pidfd, false)),
    }
}
