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
//!
//! A box whose root view comes from the template mount namespace
//! (`fs/template.rs`) is cloned on a second long-lived thread, the
//! *template lane*, whatever the caller's thread: it has its own
//! `fs_struct` (`unshare(CLONE_FS)`), so it can `setns` into the template and
//! `fchdir` into the view without moving the rest of the process, and the
//! child's new mount namespace is then a copy of the template.

use std::ffi::c_void;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use crate::fs::Template;
use crate::spawn::plan::Plan;
use crate::spawn::routine::{self, ChildFds};
use crate::sys::{self, vfork, CloneArgs};

/// The cgroup2 directory for `CLONE_INTO_CGROUP`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IntoCgroup {
    pub fd: RawFd,
    /// Only a helper (see `Cgroup::clone_into_helper`): a clone refused
    /// because of it is retried without it.
    pub helper: bool,
}

/// A cloned child.
pub(crate) struct Launched {
    pub pid: libc::pid_t,
    pub pidfd: OwnedFd,
    /// Whether `CLONE_INTO_CGROUP` placed it in its cgroup already.
    pub into_cgroup: bool,
    /// Whether it shared the caller's memory until its exec (`sys/vfork.rs`).
    pub shared_memory: bool,
}

/// What a clone gives the parent (the pidfd still raw: it crosses from the
/// launcher thread).
#[derive(Debug, Clone, Copy)]
struct Cloned {
    pid: libc::pid_t,
    pidfd: RawFd,
    into_cgroup: bool,
    shared_memory: bool,
}

impl Cloned {
    fn launched(self) -> Launched {
        Launched {
            pid: self.pid,
            // SAFETY: the pidfd was just created for us by clone.
            pidfd: unsafe { OwnedFd::from_raw_fd(self.pidfd) },
            into_cgroup: self.into_cgroup,
            shared_memory: self.shared_memory,
        }
    }
}

struct Job {
    plan: *const Plan,
    fds: ChildFds,
    cgroup_fd: Option<IntoCgroup>,
    /// The template to clone in (template lane only).
    template: Option<Arc<Template>>,
    reply: SyncSender<io::Result<Cloned>>,
}

// SAFETY: the plan pointer is only dereferenced while the submitting thread
// blocks on the reply, so the Plan outlives its use; the launcher only reads
// it (and the cloned child reads its own copy).
unsafe impl Send for Job {}

type Lane = Mutex<Option<(libc::pid_t, mpsc::Sender<Job>)>>;

/// The launcher of this process: (pid it was started in, its queue).
static LAUNCHER: Lane = Mutex::new(None);
/// The template lane (see the module docs), same shape.
static TEMPLATE_LANE: Lane = Mutex::new(None);

fn sender(template: bool) -> io::Result<mpsc::Sender<Job>> {
    let lane = if template { &TEMPLATE_LANE } else { &LAUNCHER };
    // SAFETY: trivial getter.
    let me = unsafe { libc::getpid() };
    let mut g = lane.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((pid, tx)) = g.as_ref() {
        // After a fork() of the whole process (Python's os.fork), the
        // launcher thread did not come along: start a new one.
        if *pid == me {
            return Ok(tx.clone());
        }
    }
    let (tx, rx) = mpsc::channel::<Job>();
    let name = if template {
        "rsandbox-template-lane"
    } else {
        "rsandbox-launcher"
    };
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || serve(rx, template))?;
    *g = Some((me, tx.clone()));
    Ok(tx)
}

fn serve(rx: Receiver<Job>, template_lane: bool) {
    // The template lane gets its own root and cwd, so that entering the
    // template moves this thread alone.
    // SAFETY: unshare(CLONE_FS) affects only this thread.
    let private_fs = if !template_lane || unsafe { libc::unshare(libc::CLONE_FS) } == 0 {
        Ok(())
    } else {
        Err(sys::errno())
    };
    let mut entered: Option<Arc<Template>> = None;
    while let Ok(job) = rx.recv() {
        let r = match enter(private_fs, &mut entered, job.template) {
            // SAFETY: the submitter keeps the plan alive until it gets the
            // reply.
            Ok(()) => unsafe { clone_child(&*job.plan, job.fds, job.cgroup_fd) },
            Err(e) => Err(e),
        };
        // The caller's thread may be reading the pid pipe: the clone is
        // over (see spawn/mod.rs, release_early).
        if job.fds.pid_w >= 0 {
            let pid = r.as_ref().map_or(0, |c| c.pid);
            let _ = sys::write_all(job.fds.pid_w, &routine::pid_record(pid, false));
        }
        let _ = job.reply.send(r);
    }
}

/// On the template lane: be in `template` (entered again after a rebuild).
fn enter(
    private_fs: Result<(), i32>,
    entered: &mut Option<Arc<Template>>,
    template: Option<Arc<Template>>,
) -> io::Result<()> {
    let Some(t) = template else { return Ok(()) };
    if entered.as_ref().is_some_and(|e| Arc::ptr_eq(e, &t)) {
        return Ok(());
    }
    // Not an errno of clone: spawn must not report it as one (EPERM there
    // means "user namespaces are forbidden").
    let fail = |e: io::Error| {
        io::Error::other(format!(
            "enter the template mount namespace of the default root view \
             ({e}); RSANDBOX_NO_TEMPLATE=1 builds the view per box instead"
        ))
    };
    if let Err(errno) = private_fs {
        return Err(fail(io::Error::from_raw_os_error(errno)));
    }
    t.enter().map_err(fail)?;
    *entered = Some(t);
    Ok(())
}

/// Whether the calling thread is the process's main thread.
fn on_main_thread() -> bool {
    // SAFETY: trivial getters.
    unsafe { libc::gettid() == libc::getpid() }
}

/// Clone a child running [`routine::child_main`] on `plan`.
///
/// Through the launcher thread when the box must die with the process and
/// the caller is not the main thread (a box without die-with-parent has no
/// death signal to tie to a thread, so it is cloned right here, without the
/// hop's two thread wake-ups), and when `free_caller`: the caller's thread
/// then stays free while the clone runs, to write the id maps of a child
/// that shares the caller's memory (its cloning thread is suspended until
/// the exec; see `spawn/mod.rs`). [`Pending::wait`] gives the child.
pub(crate) fn launch<'a>(
    plan: &'a Plan,
    fds: ChildFds,
    cgroup_fd: Option<IntoCgroup>,
    free_caller: bool,
) -> io::Result<Pending<'a>> {
    let template = plan.mounts.as_ref().and_then(|m| m.template()).cloned();
    if template.is_none() && !free_caller && (on_main_thread() || !plan.die_with_parent) {
        // SAFETY: the child branch only runs the pre-exec routine; the plan
        // is borrowed for the whole call.
        let r = unsafe { clone_child(plan, fds, cgroup_fd) };
        return Ok(Pending {
            state: Some(PendingState::Done(r)),
            _plan: std::marker::PhantomData,
        });
    }
    let (reply, rx) = mpsc::sync_channel(1);
    let job = Job {
        plan,
        fds,
        cgroup_fd,
        template: template.clone(),
        reply,
    };
    sender(template.is_some())?
        .send(job)
        .map_err(|_| io::Error::other("the rsandbox launcher thread is gone"))?;
    Ok(Pending {
        state: Some(PendingState::Lane(rx)),
        _plan: std::marker::PhantomData,
    })
}

enum PendingState {
    Done(io::Result<Cloned>),
    Lane(Receiver<io::Result<Cloned>>),
}

/// A clone under way (on a launcher thread) or done. It borrows the plan:
/// dropped unwaited, it still waits for the clone, which reads the plan.
pub(crate) struct Pending<'a> {
    state: Option<PendingState>,
    _plan: std::marker::PhantomData<&'a Plan>,
}

impl Pending<'_> {
    /// The cloned child (after its exec or exit, if it shared the caller's
    /// memory).
    pub(crate) fn wait(mut self) -> io::Result<Launched> {
        let cloned = match self.state.take() {
            Some(PendingState::Done(r)) => r,
            Some(PendingState::Lane(rx)) => rx
                .recv()
                .map_err(|_| io::Error::other("the rsandbox launcher thread is gone"))?,
            None => Err(io::Error::other("the clone was already waited for")),
        };
        Ok(cloned?.launched())
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some(PendingState::Lane(rx)) = self.state.take() {
            // The launcher reads the plan until it replies; the child it
            // made (if any) is reaped by nobody here: kill it.
            if let Ok(Ok(c)) = rx.recv() {
                let _ = sys::pidfd_send_signal(c.pidfd, libc::SIGKILL);
                let _ = sys::waitid(
                    sys::P_PIDFD,
                    c.pidfd as libc::id_t,
                    libc::WEXITED | libc::__WALL,
                );
                // SAFETY: the pidfd clone made for us, closed once.
                unsafe { libc::close(c.pidfd) };
            }
        }
    }
}

/// Whether `clone3` is known to be missing (ENOSYS once seen).
static NO_CLONE3: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// # Safety
/// Forks; the child runs only the pre-exec routine.
unsafe fn clone_child(
    plan: &Plan,
    mut fds: ChildFds,
    cgroup: Option<IntoCgroup>,
) -> io::Result<Cloned> {
    // Born in a shared network namespace: this thread enters it for the
    // clone and leaves when `_net` drops (only in the parent: the child
    // never returns from child_main). See crate::netns.
    let _net = enter_net(plan)?;
    let asked = cgroup.is_some();
    // SAFETY: as the caller's: the plan and fds prepared for this child.
    if let Some(cloned) = unsafe { try_clone3(plan, fds, cgroup)? } {
        return Ok(cloned);
    }
    fds.release_late = routine::release_late(plan, asked, false);
    // SAFETY: as the caller's.
    unsafe { clone_legacy_child(plan, fds) }
}

/// Enter the box's shared network namespace, or a spare one from the pool
/// (crate::netpool), for the clone: the guard leaves it when dropped.
fn enter_net(plan: &Plan) -> io::Result<Option<crate::netns::Entered>> {
    let net_fd = match (&plan.ns.shared_net, &plan.ns.spare_net) {
        (Some(ns), _) => Some(ns.raw_fd()),
        (None, Some(fd)) => Some(std::os::fd::AsRawFd::as_raw_fd(fd)),
        (None, None) => None,
    };
    match net_fd {
        Some(fd) => Ok(Some(crate::netns::Entered::enter(fd)?)),
        None => Ok(None),
    }
}

/// Clone with `clone3` (straight into the cgroup when asked). `None` when
/// this kernel has no `clone3` (remembered in [`NO_CLONE3`]), so the
/// caller falls back to the legacy clone.
///
/// # Safety
/// As [`clone_child`]: `plan` and `fds` are the ones prepared for this
/// child.
unsafe fn try_clone3(
    plan: &Plan,
    mut fds: ChildFds,
    cgroup: Option<IntoCgroup>,
) -> io::Result<Option<Cloned>> {
    use std::sync::atomic::Ordering;
    let mut pidfd: libc::c_int = -1;
    let asked = cgroup.is_some();
    let mut into = cgroup;
    while !NO_CLONE3.load(Ordering::Relaxed) {
        let mut args = CloneArgs {
            flags: plan.ns.clone_flags | sys::CLONE_PIDFD,
            pidfd: &mut pidfd as *mut libc::c_int as u64,
            exit_signal: libc::SIGCHLD as u64,
            ..CloneArgs::default()
        };
        if let Some(c) = into {
            args.flags |= sys::CLONE_INTO_CGROUP;
            args.cgroup = c.fd as u64;
        }
        fds.release_late = routine::release_late(plan, asked, into.is_some());
        // SAFETY: the plan and fds are the ones prepared for this child.
        match unsafe { clone3_child(plan, fds, &mut args) } {
            Ok((pid, shared_memory)) => {
                return Ok(Some(Cloned {
                    pid,
                    pidfd,
                    into_cgroup: into.is_some(),
                    shared_memory,
                }))
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                NO_CLONE3.store(true, Ordering::Relaxed);
            }
            // A helper cgroup (the `unified` one of a hybrid layout) the
            // caller may not move into: go without it, as a parent attach
            // of a helper does.
            Err(e) if into.is_some_and(|c| c.helper) && cgroup_refusal(&e) => into = None,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Clone with the legacy `clone` (kernels before 5.3), which stores the
/// pidfd through `parent_tid`; the child runs the pre-exec routine.
///
/// # Safety
/// As [`clone_child`]: `plan` and `fds` are the ones prepared for this
/// child.
unsafe fn clone_legacy_child(plan: &Plan, fds: ChildFds) -> io::Result<Cloned> {
    let mut pidfd: libc::c_int = -1;
    // SAFETY: as above; legacy clone stores the pidfd through parent_tid.
    match unsafe { sys::clone_legacy(plan.ns.clone_flags | sys::CLONE_PIDFD, &mut pidfd) }? {
        // SAFETY: as above: the freshly cloned child.
        0 => unsafe { routine::child_main(plan, fds) },
        pid => Ok(Cloned {
            pid,
            pidfd,
            into_cgroup: false,
            shared_memory: false,
        }),
    }
}

/// Set when the kernel refused `CLONE_VM | CLONE_VFORK` with a box's flags:
/// every later spawn then copies the caller's memory, as before.
static NO_SHARED_MEMORY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `RSANDBOX_NO_VFORK=1`: always clone like fork (for comparisons), read
/// once per process.
fn vfork_turned_off() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OFF.get_or_init(|| std::env::var_os("RSANDBOX_NO_VFORK").is_some_and(|v| v == "1"))
}

/// One `clone3` of the child. Where the plan allows it (and the child will
/// not wait for the parent: no late release), the child shares the
/// caller's memory until its exec, so the clone costs the same whatever the
/// caller's size (`sys/vfork.rs`); otherwise it is fork-like. Returns the
/// child's pid in the parent, and whether it shared the caller's memory;
/// the child never returns.
///
/// # Safety
/// `plan` and `fds` are the ones prepared for this child; see [`clone_child`].
unsafe fn clone3_child(
    plan: &Plan,
    mut fds: ChildFds,
    args: &mut CloneArgs,
) -> io::Result<(libc::pid_t, bool)> {
    use std::sync::atomic::Ordering;
    let share = vfork::SUPPORTED
        && plan.may_share_memory()
        && !fds.release_late
        && !NO_SHARED_MEMORY.load(Ordering::Relaxed)
        && !vfork_turned_off();
    if share {
        fds.shares_memory = true;
        let stack = vfork::ChildStack::new()?;
        let mut vm_args = *args;
        stack.set(&mut vm_args);
        // The child reads its pid here when the caller's thread maps its
        // ids (routine::setup_and_exec).
        let cell: libc::pid_t = 0;
        vm_args.parent_tid = &cell as *const libc::pid_t as u64;
        fds.pid_cell = &cell;
        vm_args.flags |= (libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PARENT_SETTID) as u64;
        let child = VmChild { plan, fds };
        // Parent-written maps may move the child to another kernel uid,
        // which resets the shared mm's dumpability: the caller's own is
        // given back after the exec.
        let _dumpable = (!plan.ids.child_maps).then(KeepDumpable::new);
        let blocked = vfork::SignalsBlocked::new();
        // SAFETY: CLONE_VM|CLONE_VFORK with a stack of the child's own;
        // vm_entry follows sys/vfork.rs's rules; `child` outlives the call
        // (the clone returns after the child's exec or exit).
        let r = unsafe {
            vfork::clone3_vm(
                &mut vm_args,
                vm_entry,
                &child as *const VmChild as *mut c_void,
            )
        };
        drop(blocked);
        match r {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                NO_SHARED_MEMORY.store(true, Ordering::Relaxed);
                fds.shares_memory = false;
            }
            r => return r.map(|pid| (pid, true)),
        }
    }
    // SAFETY: the child branch never returns from child_main.
    match unsafe { sys::clone3(args) } {
        // SAFETY: we are the freshly cloned child, with the plan the
        // parent prepared.
        Ok(0) => unsafe { routine::child_main(plan, fds) },
        r => r.map(|pid| (pid, false)),
    }
}

/// The caller's dumpability, kept across the clones of children that share
/// its memory and change their kernel uid (or set themselves non-dumpable
/// for their setup), both of which set the shared `mm`'s flag: the value
/// from before the first such clone in flight is restored when the last
/// one has returned (the child then has an `mm` of its own).
struct KeepDumpable;

/// (clones in flight, the caller's flag before the first of them).
static DUMPABLE: Mutex<(usize, libc::c_int)> = Mutex::new((0, 1));

impl KeepDumpable {
    fn new() -> KeepDumpable {
        let mut g = DUMPABLE.lock().unwrap_or_else(|p| p.into_inner());
        if g.0 == 0 {
            // SAFETY: prctl query.
            g.1 = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
        }
        g.0 += 1;
        KeepDumpable
    }
}

impl Drop for KeepDumpable {
    fn drop(&mut self) {
        let mut g = DUMPABLE.lock().unwrap_or_else(|p| p.into_inner());
        g.0 -= 1;
        if g.0 == 0 && g.1 >= 0 {
            // SAFETY: prctl setting this process's own flag back.
            unsafe { libc::prctl(libc::PR_SET_DUMPABLE, g.1 as libc::c_ulong, 0, 0, 0) };
        }
    }
}

/// What the child sharing the caller's memory starts with.
struct VmChild<'a> {
    plan: &'a Plan,
    fds: ChildFds,
}

/// The entry point of a child sharing the caller's memory.
///
/// # Safety
/// Called only by the `clone3_vm` trampoline, with a `VmChild` pointer.
unsafe extern "C" fn vm_entry(arg: *mut c_void) -> ! {
    // SAFETY: the parent's VmChild stays alive while the parent is
    // suspended in the clone (CLONE_VFORK).
    let child = unsafe { &*(arg as *const VmChild) };
    // SAFETY: the freshly cloned child, with the plan the parent prepared.
    unsafe { routine::child_main(child.plan, child.fds) }
}

/// Errors `clone3` gives for a `CLONE_INTO_CGROUP` target it refuses.
fn cgroup_refusal(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EACCES | libc::EPERM | libc::ENOENT | libc::EBUSY | libc::EOPNOTSUPP)
    )
}
