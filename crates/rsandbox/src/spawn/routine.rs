//! Step 3 of the launch pipeline: what the child does between clone and exec,
//! and the PID-1 init.
//!
//! Everything here runs in a forked copy of a possibly multithreaded parent:
//! no allocation, no locks, no std I/O. Only raw syscalls on data that the
//! [`Plan`] prepared. A failure writes a fixed-size [`ChildError`] record to
//! the CLOEXEC error pipe and `_exit`s; EOF on that pipe means exec worked.

use std::os::fd::{AsRawFd, RawFd};

use crate::error::{ChildError, ChildResult, Stage};
use crate::spawn::plan::Plan;
use crate::spawn::timing::Mark;
use crate::sys;

/// The child's ends of the launch pipes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChildFds {
    /// Read end of the sync pipe: one byte means "maps written (unless the
    /// child writes its own), cgroup attached, go on".
    pub sync_r: RawFd,
    /// The child's inherited copy of the sync pipe's write end, closed
    /// first thing.
    pub sync_w: RawFd,
    /// Write end of the CLOEXEC error pipe.
    pub err_w: RawFd,
    /// Write end of the status pipe (the init reports the payload's status).
    pub status_w: RawFd,
    /// Wait for the go byte before forking or exec'ing: the parent still
    /// attaches a cgroup (see [`release_late`]). Set at clone time.
    pub release_late: bool,
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
        if !plan.pid_ns && libc::getppid() != plan.parent_pid {
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

/// Signals the init forwards to the payload.
const FORWARDED: [libc::c_int; 6] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

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

fn check(r: libc::c_int, stage: Stage, detail: u32) -> ChildResult {
    if r < 0 {
        Err(ChildError::last(stage, detail))
    } else {
        Ok(())
    }
}

enum Never {}

/// # Safety
/// See [`child_main`].
unsafe fn setup_and_exec(plan: &Plan, fds: ChildFds) -> ChildResult<Never> {
    // SAFETY: (whole function) each call is a raw syscall (or a libc wrapper
    // that is one) on integers or on pointers into the prepared plan.
    unsafe {
        stamp(plan, Mark::ChildRunning);
        if plan.die_with_parent {
            check(
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0),
                Stage::DeathSignal,
                0,
            )?;
        }
        // The cgroup v1 hierarchies, joined before anything can fork (and
        // while this process is still single-threaded, which makes the
        // kernel skip its global lock; see cgroup/join.rs).
        for (i, j) in plan.cgroup_joins.iter().enumerate() {
            let fd = j.fd.as_raw_fd();
            if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                return Err(ChildError::last(Stage::Cgroup, i as u32));
            }
            libc::close(fd);
        }
        // Now that the box is in its cgroups, its cgroup namespace is
        // rooted there in every hierarchy.
        if plan.unshare_cgroup_ns {
            check(
                libc::unshare(libc::CLONE_NEWCGROUP),
                Stage::Cgroup,
                u32::MAX,
            )?;
        }
        // Only the parent may hold the write end: its death before the go
        // byte then reads as EOF here instead of blocking forever.
        libc::close(fds.sync_w);
        // Ids are mapped first: files made by the mount steps and the
        // identity switch need them. The child maps its own ids when the
        // kernel lets it (one line, the caller's id); otherwise it waits for
        // the parent to write them. Waiting after PR_SET_PDEATHSIG closes
        // the race where the parent dies before the death signal is armed.
        let parent_maps = plan.user_ns && !plan.child_maps;
        if plan.child_maps {
            write_own_maps(plan)?;
        } else if parent_maps {
            wait_for_release(fds.sync_r);
        }
        if plan.die_with_parent && !parent_maps && !fds.release_late && parent_gone(plan, fds) {
            // No go byte to wait for: the same race is closed by looking.
            sys::exit_now(SETUP_FAILED);
        }
        check(libc::setsid(), Stage::Session, 0)?;
        stamp(plan, Mark::ChildGo);
        // Raw syscalls (see switch_identity).
        if plan.ns_root_gid {
            let r = libc::syscall(libc::SYS_setresgid, 0, 0, 0);
            check(r as libc::c_int, Stage::Identity, 10)?;
        }
        if plan.ns_root_uid {
            let r = libc::syscall(libc::SYS_setresuid, 0, 0, 0);
            check(r as libc::c_int, Stage::Identity, 11)?;
        }

        for (i, (fd, flag)) in plan.joins.iter().enumerate() {
            check(libc::setns(fd.as_raw_fd(), *flag), Stage::Setns, i as u32)?;
        }

        if plan.net_ns {
            loopback_up()?;
        }
        if let Some(h) = &plan.hostname {
            check(
                libc::sethostname(h.as_ptr(), h.as_bytes().len()),
                Stage::Hostname,
                0,
            )?;
        }
        stamp(plan, Mark::Net);
        if let Some(adj) = &plan.oom_score_adj {
            // Before the mounts: the caller's /proc is still there.
            write_file(c"/proc/self/oom_score_adj", adj.as_bytes())?;
        }
        if let Some(m) = &plan.mounts {
            m.apply()?;
        }
        stamp(plan, Mark::Mounts);
        check(libc::chdir(plan.cwd.as_ptr()), Stage::Cwd, 0)?;
        if let Some(r) = &plan.rlimits {
            r.apply()?;
        }
        if let Some(m) = plan.umask {
            libc::umask(m);
        }
        wire_fds(plan)?;
        if plan.controlling_tty {
            check(libc::ioctl(0, libc::TIOCSCTTY, 0), Stage::Fds, 200)?;
        }
        // Without no_new_privs the filter needs CAP_SYS_ADMIN: installed
        // while the box still holds it (runc's order).
        if let Some(s) = plan.seccomp.as_ref().filter(|s| s.early) {
            s.install()?;
        }
        if let Some(c) = &plan.caps {
            c.before_identity()?;
        }
        if let Some(id) = plan.identity {
            switch_identity(id, &plan.groups)?;
        }
        if let Some(c) = &plan.caps {
            c.apply()?;
        }
        if let Some(l) = &plan.landlock {
            l.apply()?;
        }

        stamp(plan, Mark::Creds);
        if fds.release_late && !parent_maps {
            // The parent attached a cgroup the clone could not place us in
            // and we could not join ourselves, while we set up: nothing of
            // the box may fork or exec before that. Usually the byte is
            // there already and this read does not sleep.
            wait_for_release(fds.sync_r);
        }
        if plan.pid_ns {
            // Returns only in the payload, when it was forked (see
            // become_init); otherwise the payload's tail ran on its own
            // stack and the init never comes back here.
            become_init(plan, fds)?;
        }
        payload_tail(plan)
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
        if let Some(slot) = &plan.listen_pid {
            // After the init's fork: the pid the payload will have.
            slot.fill();
        }
        if let Some(g) = &plan.gate {
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
            plan.program.as_ptr(),
            plan.argv_ptrs.as_ptr(),
            plan.envp_ptrs.as_ptr(),
        );
        let e = ChildError::last(Stage::Exec, 0);
        if plan.gate.is_some() {
            // Past the gate nothing reaches the caller: say it on stderr.
            exec_failed_message(plan.program.as_bytes(), sys::errno());
        }
        Err(e)
    }
}

/// Read the parent's go byte ("id maps written, cgroup attached"); EOF
/// instead means the parent died or gave up: leave quietly.
fn wait_for_release(sync_r: RawFd) {
    let mut go = [0u8; 1];
    match sys::read_full(sync_r, &mut go) {
        Ok(1) => {}
        _ => sys::exit_now(SETUP_FAILED),
    }
    // SAFETY: closing our own descriptor.
    unsafe { libc::close(sync_r) };
}

/// Write this process's own `setgroups` (deny, as the kernel requires
/// before an unprivileged gid map), `uid_map` and `gid_map`: one line each,
/// the caller's own ids, which a process may map for itself in the user
/// namespace it was cloned into. `/proc` is still the caller's here.
fn write_own_maps(plan: &Plan) -> ChildResult {
    write_proc(c"/proc/self/setgroups", b"deny", 0)?;
    write_proc(c"/proc/self/uid_map", plan.uid_map.as_bytes(), 1)?;
    write_proc(c"/proc/self/gid_map", plan.gid_map.as_bytes(), 2)
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

/// Bring `lo` up in the new network namespace (also used by
/// [`crate::NetNs::new`]).
pub(crate) fn loopback_up() -> ChildResult {
    // SAFETY: socket/ioctl/close on a zeroed, correctly typed ifreq.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        check(fd, Stage::Loopback, 0)?;
        let mut ifr: libc::ifreq = std::mem::zeroed();
        ifr.ifr_name[0] = b'l' as libc::c_char;
        ifr.ifr_name[1] = b'o' as libc::c_char;
        let r = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut ifr);
        if r < 0 {
            let e = ChildError::last(Stage::Loopback, 1);
            libc::close(fd);
            return Err(e);
        }
        ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        let r = libc::ioctl(fd, libc::SIOCSIFFLAGS, &ifr);
        let e = ChildError::last(Stage::Loopback, 2);
        libc::close(fd);
        if r < 0 {
            return Err(e);
        }
    }
    Ok(())
}

/// dup2 the standard streams and passed fds into place, then mark every
/// other fd above 2 close-on-exec so only what was passed on purpose
/// survives exec.
fn wire_fds(plan: &Plan) -> ChildResult {
    // SAFETY: dup2 and close_range on descriptors the plan owns.
    unsafe {
        for (i, src) in plan.stdio.iter().enumerate() {
            if let Some(src) = src {
                check(
                    libc::dup2(src.as_raw_fd(), i as RawFd),
                    Stage::Fds,
                    i as u32,
                )?;
            }
        }
        if plan.stderr_to_stdout {
            check(libc::dup2(1, 2), Stage::Fds, 2)?;
        }
        for (src, dst) in &plan.passed {
            check(libc::dup2(src.as_raw_fd(), *dst), Stage::Fds, *dst as u32)?;
        }
    }
    // Mark the gaps between passed targets close-on-exec.
    let mut first: u32 = 3;
    for (_, dst) in &plan.passed {
        let dst = *dst as u32;
        if dst > first {
            sys::close_range(first, dst - 1, libc::CLOSE_RANGE_CLOEXEC)
                .map_err(|e| ChildError::new(Stage::Fds, 100, e.raw_os_error().unwrap_or(0)))?;
        }
        first = dst + 1;
    }
    sys::close_range(first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC)
        .map_err(|e| ChildError::new(Stage::Fds, 101, e.raw_os_error().unwrap_or(0)))
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
    for (_, dst) in &plan.passed {
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
        check(fd, Stage::OomScoreAdj, 0)?;
        let r = sys::write_all(fd, data);
        libc::close(fd);
        r.map_err(|e| ChildError::new(Stage::OomScoreAdj, 1, e.raw_os_error().unwrap_or(0)))
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
            check(r as libc::c_int, Stage::Identity, 0)?;
        }
        let r = libc::syscall(libc::SYS_setresgid, id.gid, id.gid, id.gid);
        check(r as libc::c_int, Stage::Identity, 1)?;
        let r = libc::syscall(libc::SYS_setresuid, id.uid, id.uid, id.uid);
        check(r as libc::c_int, Stage::Identity, 2)?;
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

/// As PID 1 of the new PID namespace: fork the payload (which returns from
/// here and goes on to exec), and stay behind as its init. The init never
/// returns.
fn become_init(plan: &Plan, fds: ChildFds) -> ChildResult {
    // SAFETY: signal-mask calls on a stack sigset; clone used like fork.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED {
            libc::sigaddset(&mut set, s);
        }
        libc::sigaddset(&mut set, libc::SIGCHLD);
        check(
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()),
            Stage::Signals,
            1,
        )?;
        let pid = if plan.payload_stack_top != 0 {
            // The payload shares the init's memory until it execs (the init
            // waits, CLONE_VFORK), as posix_spawn does: no copy of the page
            // tables to make now and to tear down at exec. It runs the
            // payload's tail on its own stack and never returns here.
            let args = PayloadArgs { plan, fds };
            let r = libc::clone(
                payload_entry,
                plan.payload_stack_top as *mut libc::c_void,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                (&args as *const PayloadArgs).cast_mut().cast(),
            );
            if r < 0 {
                return Err(ChildError::last(Stage::InitFork, 1));
            }
            r
        } else {
            // With a start gate the payload waits for `start` before exec,
            // and the init must not wait with it: a plain fork.
            let pid = sys::clone_legacy(0, std::ptr::null_mut())
                .map_err(|e| ChildError::new(Stage::InitFork, 0, e.raw_os_error().unwrap_or(0)))?;
            if pid == 0 {
                // The payload: if the init dies, the kernel kills the namespace.
                libc::close(fds.status_w);
                return Ok(());
            }
            pid
        };
        // The init forks the published ports' connector (see crate::net).
        if let Some(p) = &plan.publish {
            crate::net::spawn_connector(p.connector_fd())?;
        }
        // The init: named for `ps` in the box, then keep only the status pipe, so the caller's pipes see EOF
        // when the payload's tree is done with them.
        libc::prctl(libc::PR_SET_NAME, c"rsandbox-init".as_ptr(), 0, 0, 0);
        let status_w = fds.status_w;
        if status_w > 0 {
            sys::close_fds(0, (status_w - 1) as u32);
        }
        sys::close_fds(status_w as u32 + 1, u32::MAX);
        init_loop(pid, status_w, &set)
    }
}

/// What the payload made with `CLONE_VM` needs: it reads them from the
/// init's stack, which stays put while the init waits (`CLONE_VFORK`).
struct PayloadArgs<'a> {
    plan: &'a Plan,
    fds: ChildFds,
}

/// Entry of the payload made with `CLONE_VM` (see `become_init`): its tail
/// (signals, gate, seccomp, exec), or its error record and exit.
extern "C" fn payload_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the init's PayloadArgs, alive while the init waits.
    let args = unsafe { &*(arg as *const PayloadArgs) };
    // SAFETY: closing our copy of the status pipe (the fd table is our own).
    unsafe { libc::close(args.fds.status_w) };
    // SAFETY: the payload's tail on the prepared plan, as after a fork.
    let err = match unsafe { payload_tail(args.plan) } {
        Ok(never) => match never {},
        Err(e) => e,
    };
    report(args.fds.err_w, err)
}

/// A stack for the payload made with `CLONE_VM`, shared by every spawn of
/// the process: each box's init holds its own copy-on-write copy of this
/// process's memory, so the payloads of two boxes never touch the same
/// pages. Returns its top (0: none could be mapped; the init then forks).
/// Called in the parent while it plans.
pub(crate) fn payload_stack_top() -> usize {
    const LEN: usize = 256 * 1024;
    static TOP: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *TOP.get_or_init(|| {
        // SAFETY: a fresh anonymous mapping, never unmapped; its lowest
        // page is made a guard so an overflow faults instead of writing
        // into other memory.
        unsafe {
            let base = libc::mmap(
                std::ptr::null_mut(),
                LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            );
            if base == libc::MAP_FAILED {
                return 0;
            }
            let page = libc::sysconf(libc::_SC_PAGESIZE).max(4096) as usize;
            if libc::mprotect(base, page, libc::PROT_NONE) != 0 {
                libc::munmap(base, LEN);
                return 0;
            }
            base as usize + LEN
        }
    })
}

/// Reap every child; forward signals to the payload; when the payload ends,
/// report its wait status and exit (the kernel then kills what is left).
fn init_loop(payload: libc::pid_t, status_w: RawFd, set: &libc::sigset_t) -> ! {
    loop {
        loop {
            let mut st: libc::c_int = 0;
            // SAFETY: waitpid with a stack out-parameter.
            let p = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
            if p == payload {
                let _ = sys::write_all(status_w, &st.to_ne_bytes());
                // Exit as the payload did (128+N for signal N, as shells
                // report it), for whoever reaps the init without reading
                // the status pipe (an OCI engine after `create` exited).
                let code = if libc::WIFEXITED(st) {
                    libc::WEXITSTATUS(st)
                } else {
                    128 + libc::WTERMSIG(st)
                };
                sys::exit_now(code);
            }
            if p <= 0 {
                break;
            }
        }
        // SAFETY: sigwaitinfo on a stack siginfo; the set is blocked.
        let sig = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::sigwaitinfo(set, &mut info)
        };
        if sig > 0 && sig != libc::SIGCHLD {
            // SAFETY: kill with integer arguments; the payload is our child
            // and not yet reaped, so its pid cannot have been reused.
            unsafe { libc::kill(payload, sig) };
        }
    }
}
