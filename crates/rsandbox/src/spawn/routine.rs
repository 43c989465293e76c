//! Step 3 of the launch pipeline: what the child does between clone and exec.
//!
//! Everything here runs in a forked copy of a possibly multithreaded parent:
//! no allocation, no locks, no std I/O. Only raw syscalls on data that the
//! [`Plan`] prepared. A failure writes a fixed-size [`ChildError`] record to
//! the CLOEXEC error pipe and `_exit`s; EOF on that pipe means exec worked.
//!
//! The child is a copy of the caller, so it keeps the caller out of the box:
//! first it closes every fd the plan does not own (the caller's,
//! close-on-exec or not: a host directory fd reached through
//! `/proc/self/fd` is how runc's CVE-2024-21626 left the root); once its id
//! maps are written it is non-dumpable (nothing can read its memory through
//! `/proc`); it resolves the working directory inside the new root without
//! magic links; it sets its death signal again after every change of
//! credentials (the kernel clears it). With a PID namespace it does not
//! become the box's init: it execs the init program (`spawn/init.rs`), which
//! forks the payload.

use std::os::fd::{AsRawFd, RawFd};

use crate::error::{step, ChildError, ChildResult, Stage};
use crate::spawn::plan::Plan;
use crate::spawn::timing::Mark;
use crate::sys::{self, check};

/// The child's ends of the launch pipes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChildFds {
    /// Read end of the sync pipe: one byte means "maps written (unless the
    /// child writes its own), cgroup attached, go on".
    pub sync_r: RawFd,
    /// Write end of the CLOEXEC error pipe.
    pub err_w: RawFd,
    /// Write end of the status pipe (the init reports the payload's status).
    pub status_w: RawFd,
    /// Wait for the go byte before forking or exec'ing: the parent still
    /// attaches a cgroup (see [`release_late`]). Set at clone time.
    pub release_late: bool,
    /// The child shares the caller's memory until its exec
    /// (`CLONE_VM | CLONE_VFORK`, `sys/vfork.rs`). Set at clone time.
    pub shares_memory: bool,
    /// Write end of the pid pipe (-1: none): a child sharing the caller's
    /// memory whose ids the parent maps sends its pid there (read from
    /// `pid_cell`), then waits for the go byte (see `spawn/mod.rs`).
    pub pid_w: RawFd,
    /// Where the kernel stored the child's pid in the caller's PID
    /// namespace (`CLONE_PARENT_SETTID`; shared memory). Set at clone time.
    pub pid_cell: *const libc::pid_t,
}

/// A pid record on the pid pipe: the pid, and whether the child waits for
/// its maps (1, sent by the child) or the clone is over (0, sent by the
/// launcher after it, with pid 0 when it failed).
pub(crate) fn pid_record(pid: libc::pid_t, waiting: bool) -> [u8; 8] {
    let mut rec = [0u8; 8];
    rec[..4].copy_from_slice(&pid.to_ne_bytes());
    rec[4..].copy_from_slice(&i32::from(waiting).to_ne_bytes());
    rec
}

/// The (pid, waiting) of a record made by [`pid_record`].
pub(crate) fn parse_pid_record(rec: [u8; 8]) -> (libc::pid_t, bool) {
    let [a, b, c, d, e, f, g, h] = rec;
    (
        i32::from_ne_bytes([a, b, c, d]),
        i32::from_ne_bytes([e, f, g, h]) == 1,
    )
}

/// Whether the parent attaches a cgroup after the clone (so the child must
/// wait for its go byte before it forks or execs): some directory the child
/// cannot join itself, or the v2 one when `CLONE_INTO_CGROUP` was asked
/// for (`into_asked`) but not done (`into_done`).
pub(crate) fn release_late(plan: &Plan, into_asked: bool, into_done: bool) -> bool {
    plan.parent_attach || (into_asked && !into_done)
}

/// Whether the parent died (or another process adopted us) before the
/// death signal was armed. `getppid` reads 0 in a new PID namespace, so the
/// sync pipe is also checked: the parent holds its write end until the
/// spawn returns, so a hang-up means it is gone.
fn parent_gone(plan: &Plan, fds: ChildFds) -> bool {
    // SAFETY: getppid and poll on a stack pollfd.
    unsafe {
        if !plan.ns.pid_ns && libc::getppid() != plan.parent_pid {
            return true;
        }
        let mut p = libc::pollfd {
            fd: fds.sync_r,
            events: libc::POLLIN,
            revents: 0,
        };
        libc::poll(&mut p, 1, 0) > 0 && p.revents & libc::POLLHUP != 0
    }
}

/// Exit code of a child that failed before exec (the parent reads the error
/// record; this code is only seen if the record was lost).
const SETUP_FAILED: i32 = 127;

/// The child's entry point after clone. Never returns.
///
/// # Safety
/// Must be called only in the child right after clone, with a plan prepared
/// by the parent.
pub(crate) unsafe fn child_main(plan: &Plan, fds: ChildFds) -> ! {
    // SAFETY: we are the freshly cloned child; see the module docs.
    let err = match unsafe { setup_and_exec(plan, fds) } {
        Ok(never) => match never {},
        Err(e) => e,
    };
    report(fds.err_w, err)
}

/// Write the error record and exit.
fn report(err_w: RawFd, e: ChildError) -> ! {
    // SAFETY: ChildError is repr(C) plain data; viewing it as bytes is sound.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (&e as *const ChildError).cast::<u8>(),
            std::mem::size_of::<ChildError>(),
        )
    };
    let _ = sys::write_all(err_w, bytes);
    sys::exit_now(SETUP_FAILED)
}

enum Never {}

/// The child's path from clone to exec, one step per stage in the order
/// DESIGN.md gives. Each step makes raw syscalls on data the parent
/// prepared, and allocates nothing.
///
/// # Safety
/// See [`child_main`].
unsafe fn setup_and_exec(plan: &Plan, fds: ChildFds) -> ChildResult<Never> {
    stamp(plan, Mark::ChildRunning);
    start(plan, fds)?;
    join_cgroups(plan)?;
    let parent_maps = map_ids(plan, fds)?;
    new_session(plan, fds, parent_maps)?;
    // SAFETY: in the child after clone, on the prepared plan.
    unsafe { become_ns_root(plan, fds)? };
    enter_namespaces(plan)?;
    network(plan)?;
    if let Some(m) = &plan.mounts {
        // SAFETY: in the child, after clone, on the plan's prepared mounts.
        unsafe { m.apply()? };
    }
    stamp(plan, Mark::Mounts);
    // SAFETY: in the child after clone, on the prepared plan.
    unsafe { process_settings(plan)? };
    // SAFETY: as above.
    unsafe { privileges(plan, fds)? };
    stamp(plan, Mark::Creds);
    if fds.release_late && !parent_maps {
        // The parent attached a cgroup the clone could not place us in
        // and we could not join ourselves, while we set up: nothing of
        // the box may fork or exec before that. Usually the byte is
        // there already and this read does not sleep.
        wait_for_release(fds.sync_r);
    }
    if let Some(init) = &plan.init {
        // The box is set up: hand it to its init, a program of its own
        // that forks the payload (see spawn/init.rs).
        // SAFETY: the init's image and argument arrays were prepared by
        // the parent and live as long as the plan.
        return unsafe { exec_init(init, plan.exec.envp_ptrs.as_ptr()) };
    }
    // SAFETY: as for exec_init: the plan's prepared program and arrays.
    unsafe { payload_tail(plan) }
}

/// First things: the caller's signal handlers gone (shared memory), the
/// death signal armed, every fd the plan does not own closed.
fn start(plan: &Plan, fds: ChildFds) -> ChildResult {
    if fds.shares_memory {
        // The caller's handlers must never run here, on its memory:
        // defaults first, then the mask (all blocked by the parent
        // around the clone) is cleared.
        reset_signals()?;
    }
    if plan.die_with_parent {
        // SAFETY: prctl with integer arguments.
        let r = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
        check(r, Stage::DeathSignal, step::ARM)?;
    }
    // Only what the plan owns stays open: the caller's other fds (host
    // directories among them: a cgroup, the template's view) must not be
    // reachable by any path the box names. This also closes our copy of
    // the sync pipe's write end, so the parent's death before the go byte
    // reads as EOF instead of blocking forever.
    close_unowned(&plan.fds.keep_fds);
    Ok(())
}

/// The cgroup v1 hierarchies, joined before anything can fork (and while
/// this process is still single-threaded, which makes the kernel skip its
/// global lock; see cgroup/join.rs); then the cgroup namespace, rooted
/// there in every hierarchy.
fn join_cgroups(plan: &Plan) -> ChildResult {
    for (i, j) in plan.cgroup_joins.iter().enumerate() {
        let fd = j.fd.as_raw_fd();
        // SAFETY: write/close on an fd the plan owns, from a static buffer.
        unsafe {
            if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                return Err(ChildError::last(Stage::Cgroup, i as u32));
            }
            libc::close(fd);
        }
    }
    if plan.ns.unshare_cgroup_ns {
        // SAFETY: unshare with a constant flag.
        let r = unsafe { libc::unshare(libc::CLONE_NEWCGROUP) };
        check(r, Stage::Cgroup, u32::MAX)?;
    }
    Ok(())
}

/// Ids are mapped first: files made by the mount steps and the identity
/// switch need them. The child maps its own ids when the kernel lets it
/// (one line, the caller's id); otherwise it waits for the parent to
/// write them (returns `true`). Waiting after `PR_SET_PDEATHSIG` closes the
/// race where the parent dies before the death signal is armed.
fn map_ids(plan: &Plan, fds: ChildFds) -> ChildResult<bool> {
    let parent_maps = plan.ns.user_ns && !plan.ids.child_maps;
    if plan.ids.child_maps {
        write_own_maps(plan)?;
    }
    if let Some(adj) = &plan.oom_score_adj {
        write_file(c"/proc/self/oom_score_adj", adj.as_bytes())?;
    }
    // This process holds a copy of the caller's memory until it execs:
    // from here on nothing may read it through /proc (a process joining an
    // existing box's namespaces lives beside that box's processes). Not
    // earlier: a non-dumpable process's /proc files are root's, and an
    // unprivileged child writes its own id maps and oom_score_adj. Sharing
    // the caller's memory, this process must leave its `mm` alone (the flag
    // would make the caller non-dumpable): it is the caller's own memory
    // under the caller's ids, and gets a fresh `mm` at exec (see
    // sys/vfork.rs). With parent-written maps the kernel uid may change
    // below, which makes the mm non-dumpable anyway: do it now, for the
    // whole setup; the parent gives the caller its own flag back after the
    // exec (launcher::KeepDumpable).
    if !fds.shares_memory || parent_maps {
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    }
    if parent_maps {
        if fds.shares_memory && fds.pid_w >= 0 {
            // The parent's cloning thread is suspended: tell the caller's
            // thread, which writes the maps, who we are.
            // SAFETY: pid_cell points at the launcher's CLONE_PARENT_SETTID
            // cell, which lives until the clone returns (after our exec).
            let pid = unsafe { std::ptr::read_volatile(fds.pid_cell) };
            let _ = sys::write_all(fds.pid_w, &pid_record(pid, true));
        }
        wait_for_release(fds.sync_r);
    }
    Ok(parent_maps)
}

/// A session of the box's own (no job control of the caller's terminal),
/// after checking that a parent with no go byte to send is still there.
fn new_session(plan: &Plan, fds: ChildFds, parent_maps: bool) -> ChildResult {
    if plan.die_with_parent && !parent_maps && !fds.release_late && parent_gone(plan, fds) {
        // No go byte to wait for: the same race is closed by looking.
        sys::exit_now(SETUP_FAILED);
    }
    // SAFETY: setsid takes no argument.
    check(unsafe { libc::setsid() }, Stage::Session, 0)?;
    stamp(plan, Mark::ChildGo);
    Ok(())
}

/// Become the id the new user namespace maps (root there, or the target),
/// after opening the mounts' host sources with the caller's ids (see
/// `MountPlan::open_sources`; in a joined mount namespace they are looked
/// up there, after the joins).
///
/// # Safety
/// Only in the child between clone and exec.
unsafe fn become_ns_root(plan: &Plan, fds: ChildFds) -> ChildResult {
    let joins_mnt = plan.ns.joins.iter().any(|(_, f)| *f == libc::CLONE_NEWNS);
    if let (Some(m), Some(_), false) = (&plan.mounts, plan.ids.ns_root_uid, joins_mnt) {
        // SAFETY: the caller's contract: the child, before the id switch.
        unsafe { m.open_sources()? };
    }
    // Raw syscalls, not libc's set*id, which would signal other threads
    // (see switch_identity).
    if let Some(g) = plan.ids.ns_root_gid {
        // SAFETY: setresgid with integer arguments.
        let r = unsafe { libc::syscall(libc::SYS_setresgid, g, g, g) };
        check(r as libc::c_int, Stage::Identity, step::NS_ROOT_GID)?;
    }
    if let Some(u) = plan.ids.ns_root_uid {
        // SAFETY: setresuid with integer arguments.
        let r = unsafe { libc::syscall(libc::SYS_setresuid, u, u, u) };
        check(r as libc::c_int, Stage::Identity, step::NS_ROOT_UID)?;
    }
    if plan.ids.ns_root_gid.is_some() || plan.ids.ns_root_uid.is_some() {
        rearm_death_signal(plan, fds)?;
    }
    Ok(())
}

/// Join the namespaces the description names by path or fd.
fn enter_namespaces(plan: &Plan) -> ChildResult {
    for (i, (fd, flag)) in plan.ns.joins.iter().enumerate() {
        // SAFETY: setns on an nsfs fd the plan owns.
        let r = unsafe { libc::setns(fd.as_raw_fd(), *flag) };
        check(r, Stage::Setns, i as u32)?;
    }
    Ok(())
}

/// The box's network: loopback up, the egress gateway's sockets (made in
/// the box's namespace while this process may still bind port 53), the
/// hostname.
fn network(plan: &Plan) -> ChildResult {
    if plan.ns.net_ns {
        crate::sys::net::loopback_up()?;
    }
    if let Some(e) = &plan.egress {
        e.make_sockets()?;
    }
    if let Some(h) = &plan.ns.hostname {
        // SAFETY: a pointer and length into the plan's prepared CString.
        let r = unsafe { libc::sethostname(h.as_ptr(), h.as_bytes().len()) };
        check(r, Stage::Hostname, 0)?;
    }
    stamp(plan, Mark::Net);
    Ok(())
}

/// The process's own settings: working directory, rlimits, umask, the
/// standard streams and passed fds, the controlling terminal.
///
/// # Safety
/// Only in the child between clone and exec.
unsafe fn process_settings(plan: &Plan) -> ChildResult {
    enter_cwd(plan)?;
    if let Some(r) = &plan.rlimits {
        // SAFETY: the caller's contract: the child, on prepared rlimits.
        unsafe { r.apply()? };
    }
    if let Some(m) = plan.umask {
        // SAFETY: umask with an integer argument.
        unsafe { libc::umask(m) };
    }
    wire_fds(plan)?;
    if plan.fds.controlling_tty {
        // SAFETY: TIOCSCTTY on fd 0 with an integer argument.
        let r = unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) };
        check(r, Stage::Fds, step::CONTROLLING_TTY)?;
    }
    Ok(())
}

/// Privileges, in runc's order: the egress notification filter and an
/// early seccomp filter while the box still holds `CAP_SYS_ADMIN` in its
/// user namespace (no no_new_privs of its own), the bounding set, the
/// identity switch, the remaining capability sets, then Landlock.
///
/// # Safety
/// Only in the child between clone and exec: each layer's `install` or
/// `apply` changes this process for good and allocates nothing.
unsafe fn privileges(plan: &Plan, fds: ChildFds) -> ChildResult {
    // The layers' data was prepared by the parent; each block below relies
    // on the caller's contract (the child, before exec).
    if let Some(e) = &plan.egress {
        // SAFETY: see above.
        unsafe { e.install_filter()? };
    }
    if let Some(s) = plan.seccomp.as_ref().filter(|s| s.early) {
        // SAFETY: see above.
        unsafe { s.install()? };
    }
    if let Some(c) = &plan.caps {
        // SAFETY: see above.
        unsafe { c.before_identity()? };
    }
    if let Some(id) = plan.ids.identity {
        switch_identity(id, &plan.ids.groups)?;
        rearm_death_signal(plan, fds)?;
    }
    if let Some(c) = &plan.caps {
        // SAFETY: see above.
        unsafe { c.apply()? };
    }
    if let Some(l) = &plan.landlock {
        // SAFETY: see above.
        unsafe { l.apply()? };
    }
    Ok(())
}

/// Close every fd not in `keep` (sorted, ascending), standard streams
/// excepted.
fn close_unowned(keep: &[RawFd]) {
    let mut lo: u32 = 3;
    for &fd in keep {
        let Ok(fd) = u32::try_from(fd) else { continue };
        if fd < lo {
            continue;
        }
        if fd > lo {
            sys::close_fds(lo, fd - 1);
        }
        lo = fd + 1;
    }
    sys::close_fds(lo, u32::MAX);
}

/// The kernel clears the death signal at every change of credentials
/// (runc's `ParentDeathSignal.Restore`, bubblewrap's
/// `handle_die_with_parent`): set it again, and leave if the parent died
/// before it was armed.
fn rearm_death_signal(plan: &Plan, fds: ChildFds) -> ChildResult {
    if !plan.die_with_parent {
        return Ok(());
    }
    // SAFETY: prctl with integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    check(r, Stage::DeathSignal, step::REARM)?;
    if parent_gone(plan, fds) {
        sys::exit_now(SETUP_FAILED);
    }
    Ok(())
}

/// Enter the working directory, resolved inside the box's root and never
/// through a magic link (`/proc/self/fd/N` to a host directory: runc's
/// CVE-2024-21626), then check the kernel sees it under the root.
fn enter_cwd(plan: &Plan) -> ChildResult {
    use crate::sys::mount::{openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};
    // SAFETY: (whole function) open/fchdir/close/getcwd on prepared C
    // strings, our own fds and a stack buffer.
    unsafe {
        let root = libc::open(
            c"/".as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        check(root, Stage::Cwd, step::CWD_OPEN_ROOT)?;
        let fd = openat2(
            root,
            &plan.exec.cwd,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        );
        let e = ChildError::last(Stage::Cwd, step::CWD_OPEN);
        libc::close(root);
        if fd < 0 && e.errno == libc::ENOSYS {
            // No openat2 (before Linux 5.6, or under an emulator such as
            // valgrind): by path. Every fd but the plan's is closed already,
            // and validation refused a cwd under /proc/<pid>.
            check(
                libc::chdir(plan.exec.cwd.as_ptr()),
                Stage::Cwd,
                step::CWD_BY_PATH,
            )?;
        } else {
            if fd < 0 {
                return Err(e);
            }
            let r = libc::fchdir(fd);
            let e = ChildError::last(Stage::Cwd, step::CWD_ENTER);
            libc::close(fd);
            if r < 0 {
                return Err(e);
            }
        }
        let mut buf = [0u8; 2];
        let n = libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len());
        // ERANGE only says the path is longer than our buffer; a cwd the
        // root cannot reach gives ENOENT (or, on old kernels, a path that
        // does not start with '/').
        if (n < 0 && sys::errno() != libc::ERANGE) || (n > 0 && buf[0] != b'/') {
            return Err(ChildError::new(
                Stage::Cwd,
                step::CWD_REACHABLE,
                libc::ENOENT,
            ));
        }
    }
    Ok(())
}

/// Exec the box's init from its memfd, with the fds it inherits let
/// through. Returns only on failure.
///
/// # Safety
/// In the child, after setup; `envp` is the payload's prepared environment.
unsafe fn exec_init(
    init: &super::init::InitExec,
    envp: *const *const libc::c_char,
) -> ChildResult<Never> {
    // SAFETY: fcntl on our fds; execveat with NULL-terminated arrays the
    // parent prepared and an fd we own.
    unsafe {
        for fd in init.inherit {
            if fd >= 0 {
                check(libc::fcntl(fd, libc::F_SETFD, 0), Stage::Init, 1)?;
            }
        }
        libc::syscall(
            libc::SYS_execveat,
            init.image,
            c"".as_ptr(),
            init.argv.as_ptr(),
            envp,
            libc::AT_EMPTY_PATH,
        );
        let e = ChildError::last(Stage::Init, step::EXEC_INIT);
        if !matches!(e.errno, libc::ENOSYS | libc::ENOENT) {
            return Err(e);
        }
        // By path through the box's /proc (valgrind cannot execveat an fd).
        libc::execve(init.image_path.as_ptr(), init.argv.as_ptr(), envp);
        Err(e)
    }
}

/// The payload's last steps: signals reset, the start gate, seccomp, exec.
///
/// # Safety
/// Runs in the cloned child (or the payload the init made): raw syscalls on
/// the prepared plan only.
unsafe fn payload_tail(plan: &Plan) -> ChildResult<Never> {
    // SAFETY: (whole function) as in setup_and_exec.
    unsafe {
        stamp(plan, Mark::Init);

        reset_signals()?;
        if let Some(slot) = &plan.exec.listen_pid {
            // After the init's fork: the pid the payload will have.
            slot.fill();
        }
        if let Some(g) = &plan.fds.gate {
            // Setup is done: close what exec would close (the caller's
            // locks and pipes must not stay held while the payload waits),
            // which lets `spawn` return (EOF on the error pipe); then wait
            // to be started. Nothing can be reported after this.
            close_unpassed(plan, g.as_raw_fd());
            let mut go = [0u8; 1];
            match sys::read_full(g.as_raw_fd(), &mut go) {
                Ok(1) => {}
                _ => sys::exit_now(SETUP_FAILED),
            }
            libc::close(g.as_raw_fd());
        }
        if let Some(s) = plan.seccomp.as_ref().filter(|s| !s.early) {
            s.install()?;
        }
        stamp(plan, Mark::Seccomp);
        libc::execve(
            plan.exec.program.as_ptr(),
            plan.exec.argv_ptrs.as_ptr(),
            plan.exec.envp_ptrs.as_ptr(),
        );
        let e = ChildError::last(Stage::Exec, 0);
        if plan.fds.gate.is_some() {
            // Past the gate nothing reaches the caller: say it on stderr.
            exec_failed_message(plan.exec.program.as_bytes(), sys::errno());
        }
        Err(e)
    }
}

/// Read the parent's go byte ("id maps written, cgroup attached"); EOF
/// instead means the parent died or gave up: leave quietly. The pipe stays
/// open (close-on-exec): a hang-up on it later still says the parent died.
fn wait_for_release(sync_r: RawFd) {
    let mut go = [0u8; 1];
    match sys::read_full(sync_r, &mut go) {
        Ok(1) => {}
        _ => sys::exit_now(SETUP_FAILED),
    }
}

/// Write this process's own `setgroups` (deny, as the kernel requires
/// before an unprivileged gid map), `uid_map` and `gid_map`: one line each,
/// the caller's own ids, which a process may map for itself in the user
/// namespace it was cloned into. `/proc` is still the caller's here.
fn write_own_maps(plan: &Plan) -> ChildResult {
    write_proc(c"/proc/self/setgroups", b"deny", 0)?;
    write_proc(c"/proc/self/uid_map", plan.ids.uid_map.as_bytes(), 1)?;
    write_proc(c"/proc/self/gid_map", plan.ids.gid_map.as_bytes(), 2)
}

fn write_proc(path: &std::ffi::CStr, data: &[u8], detail: u32) -> ChildResult {
    // SAFETY: open/write/close on a constant path and a borrowed buffer.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        check(fd, Stage::IdMaps, detail)?;
        let r = libc::write(fd, data.as_ptr().cast(), data.len());
        let e = ChildError::last(Stage::IdMaps, detail);
        libc::close(fd);
        if r != data.len() as isize {
            return Err(e);
        }
    }
    Ok(())
}

/// Record a timestamp when timing is on (a vDSO call and a store).
fn stamp(plan: &Plan, m: Mark) {
    if let Some(t) = &plan.timing {
        t.mark(m);
    }
}

/// dup2 the standard streams and passed fds into place, then mark every
/// other fd above 2 close-on-exec so only what was passed on purpose
/// survives exec.
fn wire_fds(plan: &Plan) -> ChildResult {
    // SAFETY: dup2 and close_range on descriptors the plan owns.
    unsafe {
        for (i, src) in plan.fds.stdio.iter().enumerate() {
            if let Some(src) = src {
                check(
                    libc::dup2(src.as_raw_fd(), i as RawFd),
                    Stage::Fds,
                    i as u32,
                )?;
            }
        }
        if plan.fds.stderr_to_stdout {
            check(libc::dup2(1, 2), Stage::Fds, 2)?;
        }
        for (src, dst) in &plan.fds.passed {
            check(libc::dup2(src.as_raw_fd(), *dst), Stage::Fds, *dst as u32)?;
        }
    }
    // Mark the gaps between passed targets close-on-exec.
    let mut first: u32 = 3;
    for (_, dst) in &plan.fds.passed {
        let dst = *dst as u32;
        if dst > first {
            sys::close_range(first, dst - 1, libc::CLOSE_RANGE_CLOEXEC).map_err(|e| {
                ChildError::new(
                    Stage::Fds,
                    step::CLOEXEC_GAPS,
                    e.raw_os_error().unwrap_or(0),
                )
            })?;
        }
        first = dst + 1;
    }
    sys::close_range(first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC).map_err(|e| {
        ChildError::new(
            Stage::Fds,
            step::CLOEXEC_REST,
            e.raw_os_error().unwrap_or(0),
        )
    })
}

/// Close every fd above 2 except the passed targets and `keep` (what exec
/// would close: `wire_fds` made the rest close-on-exec).
fn close_unpassed(plan: &Plan, keep: RawFd) {
    fn close_except(lo: u32, hi: u32, keep: u32) {
        if (lo..=hi).contains(&keep) {
            if keep > lo {
                sys::close_fds(lo, keep - 1);
            }
            if keep < hi {
                sys::close_fds(keep + 1, hi);
            }
        } else {
            sys::close_fds(lo, hi);
        }
    }
    let keep = keep as u32;
    let mut first: u32 = 3;
    for (_, dst) in &plan.fds.passed {
        let dst = *dst as u32;
        if dst > first {
            close_except(first, dst - 1, keep);
        }
        first = dst + 1;
    }
    close_except(first, u32::MAX, keep);
}

/// "rsandbox: exec PROGRAM failed: errno N" on fd 2, without allocating.
fn exec_failed_message(program: &[u8], errno: i32) {
    let mut num = [0u8; 12];
    let mut i = num.len();
    let mut n = errno.unsigned_abs();
    loop {
        i -= 1;
        num[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    for part in [
        &b"rsandbox: exec "[..],
        program,
        &b" failed: errno "[..],
        &num[i..],
        &b"\n"[..],
    ] {
        let _ = sys::write_all(2, part);
    }
}

/// Write `data` to the existing file `path` (raw syscalls).
fn write_file(path: &std::ffi::CStr, data: &[u8]) -> ChildResult {
    // SAFETY: open/write/close on a valid C string and a live buffer.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        check(fd, Stage::OomScoreAdj, step::FILE_OPEN)?;
        let r = sys::write_all(fd, data);
        libc::close(fd);
        r.map_err(|e| {
            ChildError::new(
                Stage::OomScoreAdj,
                step::FILE_WRITE,
                e.raw_os_error().unwrap_or(0),
            )
        })
    }
}

fn switch_identity(id: crate::spawn::plan::Identity, groups: &[libc::gid_t]) -> ChildResult {
    // Raw syscalls, not glibc's wrappers: those broadcast the change to
    // every thread of the process (nptl setxid) and wait for threads that
    // do not exist in a cloned child, hanging it forever.
    // SAFETY: plain credential syscalls with integer arguments.
    unsafe {
        if id.set_groups {
            let r = libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr());
            check(r as libc::c_int, Stage::Identity, step::SETGROUPS)?;
        }
        let r = libc::syscall(libc::SYS_setresgid, id.gid, id.gid, id.gid);
        check(r as libc::c_int, Stage::Identity, step::SETRESGID)?;
        let r = libc::syscall(libc::SYS_setresuid, id.uid, id.uid, id.uid);
        check(r as libc::c_int, Stage::Identity, step::SETRESUID)?;
    }
    Ok(())
}

/// Unblock every signal and reset every disposition to default, so the
/// payload does not inherit the caller's (e.g. Rust's ignored SIGPIPE).
fn reset_signals() -> ChildResult {
    // SAFETY: sigaction/sigprocmask with zeroed, correctly typed structs.
    unsafe {
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        for sig in 1..libc::SIGRTMAX() {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            // Signals reserved by libc fail with EINVAL: harmless.
            libc::sigaction(sig, &dfl, std::ptr::null_mut());
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        check(
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()),
            Stage::Signals,
            0,
        )?;
    }
    Ok(())
}
