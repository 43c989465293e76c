//! Templates (`Sandbox::template` in Rust): the caller side
//! (`sandbox_template_t`, `sandbox_fork_t`) and the payload side
//! (`sandbox_serve_forks`, called by a template program at its ready
//! point).

use std::ffi::{c_char, c_int};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use rsandbox::template::{ForkedBox, Template, TemplateOptions};
use rsandbox::Command;

use crate::builder::sandbox_t;
use crate::child::{ns, SANDBOX_UNKNOWN};
use crate::error::{as_mut, as_ref, c_str_array, guard, guard_value, out_ptr, write_out};
use crate::error::{FfiError, FfiResult};
use crate::sandbox_result_t;

/// Serve fork requests from the template's caller; call it once the
/// program is initialised (its ready point). In the template process it
/// does not return while the caller holds the template: when the caller
/// closes it, the template kills its forks and exits 0. In each forked
/// box it returns `SANDBOX_OK` with the fork's argument in `*arg`; stdin,
/// stdout and stderr are then the fork's own, and every layer of the
/// box's description applies (inherited from the template). Fails with
/// `SANDBOX_IO` when the program was not started as a template
/// (`RSANDBOX_TEMPLATE_FD` unset or not an open fd).
#[no_mangle]
pub extern "C" fn sandbox_serve_forks(arg: *mut u64) -> sandbox_result_t {
    guard(|| {
        let out = out_ptr(arg, "arg")?;
        let v = rsandbox::template::serve_forks().map_err(|e| {
            let mut f = FfiError::from(rsandbox::Error::io("serve_forks", None, e));
            f.message = format!("not started as a template: {}", f.message);
            f
        })?;
        write_out(out, v);
        Ok(())
    })
}

/// A box whose payload waits in `sandbox_serve_forks`, from
/// `sandbox_template_new`: each `sandbox_template_fork` makes a
/// copy-on-write copy of that process (see docs/template.md for what forks
/// share with the template).
///
/// Ownership: owned by the caller; free it with `sandbox_template_free`.
/// Forks made from it stay valid after it is freed; the template box is
/// killed once it and all its forks are freed.
///
/// Thread safety: may be moved between threads; forks may be made from
/// several threads at once (they are serialised).
pub struct sandbox_template_t {
    inner: Template,
}

/// A box forked from a template (`sandbox_template_fork`).
///
/// Ownership: owned by the caller; free it with `sandbox_fork_free`, which
/// kills it if it was not waited for. Thread safety: may be moved between
/// threads, used by one thread at a time.
pub struct sandbox_fork_t {
    inner: ForkedBox,
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
}

/// For `sandbox_template_fork_stdio`: give the fork a new pipe for this
/// stream, whose caller end is on the `sandbox_fork_t`
/// (`sandbox_fork_stdout_fd`...).
pub const SANDBOX_FORK_PIPE: c_int = -1;

/// Spawn `argv` (as `sandbox_spawn` takes it) in the box described by `sb`
/// as a template, and wait up to 30 s until it calls
/// `sandbox_serve_forks` (or `rsandbox.serve_forks()` in Python). A
/// program that exits first fails with `SANDBOX_IO` ("the template process
/// is gone"), one that does not get there in time is killed and fails
/// with `SANDBOX_IO` (errno 0, "never called serve_forks"). On success
/// `*template_out` receives a new template owned by the caller.
#[no_mangle]
pub extern "C" fn sandbox_template_new(
    sb: *const sandbox_t,
    argv: *const *const c_char,
    argc: usize,
    template_out: *mut *mut sandbox_template_t,
) -> sandbox_result_t {
    sandbox_template_new_timeout(sb, argv, argc, 30_000, template_out)
}

/// `sandbox_template_new` with a chosen wait for the ready point, in
/// milliseconds.
#[no_mangle]
pub extern "C" fn sandbox_template_new_timeout(
    sb: *const sandbox_t,
    argv: *const *const c_char,
    argc: usize,
    ready_timeout_ms: u64,
    template_out: *mut *mut sandbox_template_t,
) -> sandbox_result_t {
    sandbox_template_new_opts(sb, argv, argc, ready_timeout_ms, 0, template_out)
}

/// For `sandbox_template_new_opts`: every fork gets user, pid, mount (a
/// fresh `/proc`), net, ipc and uts namespaces of its own, drops every
/// capability and sets no_new_privs (Rust:
/// `TemplateOptions::fork_namespaces`; see docs/template.md).
pub const SANDBOX_TEMPLATE_FORK_NAMESPACES: u32 = 1;

/// Every `SANDBOX_TEMPLATE_*` flag this version knows.
const TEMPLATE_FLAGS: u32 = SANDBOX_TEMPLATE_FORK_NAMESPACES;

/// `sandbox_template_new_timeout` with `flags`, an OR of
/// `SANDBOX_TEMPLATE_*` flags (0: as `sandbox_template_new_timeout`). An
/// unknown bit is `SANDBOX_INVALID_ARGUMENT`, before anything is spawned.
/// With `SANDBOX_TEMPLATE_FORK_NAMESPACES`, a root caller's box under the
/// default seccomp profile that keeps `CAP_SYS_ADMIN` (no
/// `sandbox_drop_caps`, no user namespace) is `SANDBOX_INVALID_CONFIG`.
#[no_mangle]
pub extern "C" fn sandbox_template_new_opts(
    sb: *const sandbox_t,
    argv: *const *const c_char,
    argc: usize,
    ready_timeout_ms: u64,
    flags: u32,
    template_out: *mut *mut sandbox_template_t,
) -> sandbox_result_t {
    guard(|| {
        let sb = as_ref(sb, "sb")?;
        let opts = template_options(ready_timeout_ms, flags)?;
        let cmd = Command::from_argv(c_str_array(argv, argc, "argv")?);
        let out = out_ptr(template_out, "template_out")?;
        let inner = sb.inner.template_with(&cmd, &opts)?;
        write_out(out, Box::into_raw(Box::new(sandbox_template_t { inner })));
        Ok(())
    })
}

/// The Rust options for a ready wait and `SANDBOX_TEMPLATE_*` flags.
fn template_options(ready_timeout_ms: u64, flags: u32) -> FfiResult<TemplateOptions> {
    if flags & !TEMPLATE_FLAGS != 0 {
        return Err(FfiError::arg(
            "flags",
            format!(
                "{flags:#x} has bits no SANDBOX_TEMPLATE_* flag names ({:#x})",
                flags & !TEMPLATE_FLAGS
            ),
        ));
    }
    Ok(TemplateOptions::new()
        .ready_timeout(Duration::from_millis(ready_timeout_ms))
        .fork_namespaces(flags & SANDBOX_TEMPLATE_FORK_NAMESPACES != 0))
}

/// The template payload's pid in the caller's PID namespace; -1 when
/// `tpl` is NULL.
#[no_mangle]
pub extern "C" fn sandbox_template_pid(tpl: *const sandbox_template_t) -> c_int {
    guard_value(-1, || as_ref(tpl, "tpl").map_or(-1, |t| t.inner.pid()))
}

/// Fork a box from the template; its `sandbox_serve_forks` returns `arg`.
/// Its stdin, stdout and stderr are the caller's own. On success
/// `*fork_out` receives a new fork owned by the caller. A template whose
/// process is gone fails with `SANDBOX_IO`.
#[no_mangle]
pub extern "C" fn sandbox_template_fork(
    tpl: *const sandbox_template_t,
    arg: u64,
    fork_out: *mut *mut sandbox_fork_t,
) -> sandbox_result_t {
    sandbox_template_fork_stdio(tpl, arg, 0, 1, 2, fork_out)
}

/// `sandbox_template_fork` with the fork's stdin, stdout and stderr given:
/// each an fd of the caller (borrowed: passed to the fork before this
/// returns) or `SANDBOX_FORK_PIPE` for a new pipe whose caller end is on
/// the fork (`sandbox_fork_stdin_fd`, `sandbox_fork_stdout_fd`...).
#[no_mangle]
pub extern "C" fn sandbox_template_fork_stdio(
    tpl: *const sandbox_template_t,
    arg: u64,
    stdin_fd: c_int,
    stdout_fd: c_int,
    stderr_fd: c_int,
    fork_out: *mut *mut sandbox_fork_t,
) -> sandbox_result_t {
    guard(|| {
        let tpl = as_ref(tpl, "tpl")?;
        let out = out_ptr(fork_out, "fork_out")?;
        let i = stream(stdin_fd, "stdin_fd", false)?;
        let o = stream(stdout_fd, "stdout_fd", true)?;
        let e = stream(stderr_fd, "stderr_fd", true)?;
        let inner = tpl
            .inner
            .fork_with_stdio(arg, i.for_fork(), o.for_fork(), e.for_fork())?;
        let fork = sandbox_fork_t {
            inner,
            stdin: i.ours,
            stdout: o.ours,
            stderr: e.ours,
        };
        write_out(out, Box::into_raw(Box::new(fork)));
        Ok(())
    })
}

/// One standard stream of a fork: the fd the fork gets, and the caller's
/// end when it is a new pipe.
struct Stream {
    theirs: Option<OwnedFd>,
    given: c_int,
    ours: Option<OwnedFd>,
}

impl Stream {
    fn for_fork(&self) -> BorrowedFd<'_> {
        match &self.theirs {
            Some(fd) => fd.as_fd(),
            // SAFETY: by the API contract `given` is an fd of the caller,
            // open for the duration of the call.
            None => unsafe { BorrowedFd::borrow_raw(self.given) },
        }
    }
}

/// The fork's end of a stream: `fd` as given, or a new pipe (`output`:
/// the fork writes to it).
fn stream(fd: c_int, name: &str, output: bool) -> FfiResult<Stream> {
    if fd >= 0 {
        return Ok(Stream {
            theirs: None,
            given: fd,
            ours: None,
        });
    }
    if fd != SANDBOX_FORK_PIPE {
        return Err(FfiError::arg(
            name,
            format!("{fd}: an fd or SANDBOX_FORK_PIPE"),
        ));
    }
    let (r, w) = std::io::pipe().map_err(|e| rsandbox::Error::io("pipe for a fork", None, e))?;
    let (r, w) = (OwnedFd::from(r), OwnedFd::from(w));
    let (theirs, ours) = if output { (w, r) } else { (r, w) };
    Ok(Stream {
        theirs: Some(theirs),
        given: -1,
        ours: Some(ours),
    })
}

/// Free a template. NULL is allowed. Forks made from it stay valid; the
/// template box is killed once the last fork made from it is freed too
/// (or at once when none is left).
#[no_mangle]
pub extern "C" fn sandbox_template_free(tpl: *mut sandbox_template_t) {
    guard_value((), || {
        if !tpl.is_null() {
            // SAFETY: by the API contract a non-NULL `tpl` came from
            // `sandbox_template_new` (Box::into_raw) and is freed once.
            drop(unsafe { Box::from_raw(tpl) });
        }
    })
}

/// The fork's pid in the template box's PID namespace; -1 when `fork` is
/// NULL.
#[no_mangle]
pub extern "C" fn sandbox_fork_pid(fork: *const sandbox_fork_t) -> c_int {
    guard_value(-1, || as_ref(fork, "fork").map_or(-1, |f| f.inner.pid()))
}

/// The fork's pidfd (borrowed: owned by the fork, valid until
/// `sandbox_fork_free`). It becomes readable when the fork ends, so it can
/// go in a poll/epoll set. -1 when `fork` is NULL.
#[no_mangle]
pub extern "C" fn sandbox_fork_pidfd(fork: *const sandbox_fork_t) -> c_int {
    guard_value(-1, || {
        as_ref(fork, "fork").map_or(-1, |f| f.inner.as_fd().as_raw_fd())
    })
}

fn raw(fd: &Option<OwnedFd>) -> c_int {
    fd.as_ref().map_or(-1, |f| f.as_raw_fd())
}

/// The caller's end of the fork's stdin pipe (borrowed), or -1 when stdin
/// is not a pipe, was taken, or `fork` is NULL.
#[no_mangle]
pub extern "C" fn sandbox_fork_stdin_fd(fork: *const sandbox_fork_t) -> c_int {
    guard_value(-1, || as_ref(fork, "fork").map_or(-1, |f| raw(&f.stdin)))
}

/// The caller's end of the fork's stdout pipe (borrowed), or -1.
#[no_mangle]
pub extern "C" fn sandbox_fork_stdout_fd(fork: *const sandbox_fork_t) -> c_int {
    guard_value(-1, || as_ref(fork, "fork").map_or(-1, |f| raw(&f.stdout)))
}

/// The caller's end of the fork's stderr pipe (borrowed), or -1.
#[no_mangle]
pub extern "C" fn sandbox_fork_stderr_fd(fork: *const sandbox_fork_t) -> c_int {
    guard_value(-1, || as_ref(fork, "fork").map_or(-1, |f| raw(&f.stderr)))
}

/// Take the stdin pipe: the fd is then owned by the caller, who must close
/// it (closing it sends EOF to the fork). -1 when there is none.
#[no_mangle]
pub extern "C" fn sandbox_fork_take_stdin_fd(fork: *mut sandbox_fork_t) -> c_int {
    guard_value(-1, || {
        as_mut(fork, "fork")
            .ok()
            .and_then(|f| f.stdin.take().map(|p| p.into_raw_fd()))
            .unwrap_or(-1)
    })
}

/// Wait for the fork to end and write its wait status (as `waitpid` gives
/// it: use `WIFEXITED`, `WEXITSTATUS`, `WTERMSIG`) to `*status_out`. The
/// template reaps the fork and reports the status; calling it again
/// returns the same status. Fails with `SANDBOX_IO` when the template is
/// gone.
#[no_mangle]
pub extern "C" fn sandbox_fork_wait(
    fork: *mut sandbox_fork_t,
    status_out: *mut c_int,
) -> sandbox_result_t {
    guard(|| {
        let fork = as_mut(fork, "fork")?;
        let out = out_ptr(status_out, "status_out")?;
        let st = fork.inner.wait()?;
        write_out(out, st.into_raw());
        Ok(())
    })
}

/// What a waited fork's own cgroup saw, written by
/// `sandbox_fork_cgroup_stats` into memory the caller owns. The figures
/// follow `sandbox_outcome_t`'s: each is `SANDBOX_UNKNOWN` when not
/// measured.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sandbox_cgroup_stats_t {
    /// The fork had a cgroup of its own (the template's description has
    /// cgroup limits) and was waited for. When false every figure is
    /// `SANDBOX_UNKNOWN`.
    pub has_cgroup: bool,
    /// Peak memory of the fork's cgroup in bytes, or `SANDBOX_UNKNOWN`.
    pub memory_peak_bytes: u64,
    /// Processes the OOM killer killed in the fork, or `SANDBOX_UNKNOWN`.
    pub oom_kills: u64,
    /// CPU time of the fork's cgroup in nanoseconds, or `SANDBOX_UNKNOWN`.
    pub cpu_time_ns: u64,
    /// Peak number of processes in the fork's cgroup, or `SANDBOX_UNKNOWN`.
    pub pids_peak: u64,
}

impl From<Option<&rsandbox::cgroup::CgroupStats>> for sandbox_cgroup_stats_t {
    fn from(cg: Option<&rsandbox::cgroup::CgroupStats>) -> sandbox_cgroup_stats_t {
        let unknown = |v: Option<u64>| v.unwrap_or(SANDBOX_UNKNOWN);
        sandbox_cgroup_stats_t {
            has_cgroup: cg.is_some(),
            memory_peak_bytes: unknown(cg.and_then(|c| c.memory_peak)),
            oom_kills: unknown(cg.and_then(|c| c.oom_kills)),
            cpu_time_ns: unknown(cg.and_then(|c| c.cpu_time).map(ns)),
            pids_peak: unknown(cg.and_then(|c| c.pids_peak)),
        }
    }
}

/// Write what the fork's own cgroup saw (peak memory, OOM kills, CPU time,
/// peak pids) to `*stats_out`, read when `sandbox_fork_wait` reaped it. A
/// fork the memory limit ended has `oom_kills` >= 1 (and a SIGKILL wait
/// status). `SANDBOX_OK` with `has_cgroup` false (every figure
/// `SANDBOX_UNKNOWN`) when the template's description has no cgroup
/// limits, or the fork was not waited for yet.
#[no_mangle]
pub extern "C" fn sandbox_fork_cgroup_stats(
    fork: *const sandbox_fork_t,
    stats_out: *mut sandbox_cgroup_stats_t,
) -> sandbox_result_t {
    guard(|| {
        let fork = as_ref(fork, "fork")?;
        let out = out_ptr(stats_out, "stats_out")?;
        write_out(out, fork.inner.cgroup_stats().into());
        Ok(())
    })
}

/// Kill the fork (SIGKILL, through its pidfd). Wait afterwards to get its
/// status.
#[no_mangle]
pub extern "C" fn sandbox_fork_kill(fork: *mut sandbox_fork_t) -> sandbox_result_t {
    guard(|| Ok(as_mut(fork, "fork")?.inner.kill()?))
}

/// Send signal `sig` to the fork (through its pidfd).
#[no_mangle]
pub extern "C" fn sandbox_fork_signal(fork: *mut sandbox_fork_t, sig: c_int) -> sandbox_result_t {
    guard(|| Ok(as_mut(fork, "fork")?.inner.signal(sig)?))
}

/// Free a fork. NULL is allowed. If it was not waited for, it is killed
/// and waited for first; its pipes are closed.
#[no_mangle]
pub extern "C" fn sandbox_fork_free(fork: *mut sandbox_fork_t) {
    guard_value((), || {
        if !fork.is_null() {
            // SAFETY: by the API contract a non-NULL `fork` came from
            // `sandbox_template_fork` (Box::into_raw) and is freed once.
            drop(unsafe { Box::from_raw(fork) });
        }
    })
}

/// What the template box enforces, layer by layer, as JSON (the form of
/// `sandbox_enforcement_report`), with a `template` layer saying how its
/// forks are made. Written to `*json_out`, owned by the caller (free with
/// `sandbox_string_free`).
#[no_mangle]
pub extern "C" fn sandbox_template_enforcement_json(
    tpl: *const sandbox_template_t,
    json_out: *mut *mut c_char,
) -> sandbox_result_t {
    guard(|| crate::json_out(as_ref(tpl, "tpl")?.inner.enforcement(), json_out))
}

/// What the fork enforces, layer by layer, as JSON: every layer of the
/// template box (inherited), with what the fork makes its own (a
/// namespaced fork's namespaces, capabilities and stacked filter) and a
/// `template` layer saying what it shares with the template and its
/// siblings. Written to `*json_out`, owned by the caller (free with
/// `sandbox_string_free`).
#[no_mangle]
pub extern "C" fn sandbox_fork_enforcement_json(
    fork: *const sandbox_fork_t,
    json_out: *mut *mut c_char,
) -> sandbox_result_t {
    guard(|| crate::json_out(as_ref(fork, "fork")?.inner.enforcement(), json_out))
}
