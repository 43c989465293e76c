//! Spawning, the running child (`sandbox_child_t`), the outcome, captured
//! output.

use std::ffi::{c_char, c_int};
use std::os::fd::{AsRawFd, IntoRawFd};
use std::time::Duration;

use rsandbox::{Child, Command, Outcome, Output, Reason};

use crate::builder::sandbox_t;
use crate::error::{as_mut, as_ref, c_str_array, guard, guard_value, out_ptr, write_out};
use crate::error::{FfiError, FfiResult};
use crate::sandbox_result_t;

/// Why a sandbox ended. The numbers are stable.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sandbox_reason_t {
    /// The payload exited on its own (see `exit_code`).
    SANDBOX_REASON_EXITED = 0,
    /// The payload was killed by a signal (see `signal`).
    SANDBOX_REASON_SIGNALED = 1,
    /// The wall-clock limit (`sandbox_timeout`) was reached; the tree was
    /// killed.
    SANDBOX_REASON_WALL_TIME_LIMIT = 2,
    /// The CPU-time limit was reached.
    SANDBOX_REASON_CPU_TIME_LIMIT = 3,
    /// The memory limit was reached and the OOM killer ended the payload.
    SANDBOX_REASON_OUT_OF_MEMORY = 4,
    /// The seccomp filter killed the payload (SIGSYS).
    SANDBOX_REASON_SECCOMP_VIOLATION = 5,
    /// The caller killed it (`sandbox_child_kill`).
    SANDBOX_REASON_KILLED = 6,
    /// A reason this version of the C API does not know.
    SANDBOX_REASON_OTHER = 99,
}

/// A usage figure that was not measured (e.g. peak memory without a cgroup).
pub const SANDBOX_UNKNOWN: u64 = u64::MAX;

/// Everything known about a sandbox that ended. Plain data, written by
/// `sandbox_child_wait` and friends into memory the caller owns.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sandbox_outcome_t {
    /// Why it ended.
    pub reason: sandbox_reason_t,
    /// True when the payload exited (then `exit_code` is set), false when a
    /// signal killed it (then `signal` is set).
    pub exited: bool,
    /// The exit code, or -1 when killed by a signal.
    pub exit_code: c_int,
    /// The signal that killed the payload, or 0 when it exited.
    pub signal: c_int,
    /// The shell convention: the exit code, or 128 + the signal.
    pub code: c_int,
    /// The wall-clock limit ended it (`reason == SANDBOX_REASON_WALL_TIME_LIMIT`).
    pub timed_out: bool,
    /// The OOM killer ended it (`reason == SANDBOX_REASON_OUT_OF_MEMORY`).
    pub oom_killed: bool,
    /// Every requested hardening layer was fully enforced.
    pub fully_enforced: bool,
    /// Wall-clock time from spawn to reap, in nanoseconds.
    pub wall_time_ns: u64,
    /// User CPU time of the reaped tree, in nanoseconds.
    pub user_time_ns: u64,
    /// System CPU time of the reaped tree, in nanoseconds.
    pub system_time_ns: u64,
    /// Largest resident set size of any process in the tree, in bytes.
    pub max_rss_bytes: u64,
    /// Peak memory of the box's cgroup in bytes, or `SANDBOX_UNKNOWN`.
    pub memory_peak_bytes: u64,
    /// Processes the OOM killer killed in the box, or `SANDBOX_UNKNOWN`.
    pub oom_kills: u64,
    /// CPU time of the whole cgroup in nanoseconds, or `SANDBOX_UNKNOWN`.
    pub cpu_time_ns: u64,
    /// Peak number of processes in the cgroup, or `SANDBOX_UNKNOWN`.
    pub pids_peak: u64,
}

pub(crate) fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl From<&Outcome> for sandbox_outcome_t {
    fn from(o: &Outcome) -> sandbox_outcome_t {
        use sandbox_reason_t::*;
        let reason = match o.reason {
            Reason::Exited => SANDBOX_REASON_EXITED,
            Reason::Signaled => SANDBOX_REASON_SIGNALED,
            Reason::WallTimeLimit => SANDBOX_REASON_WALL_TIME_LIMIT,
            Reason::CpuTimeLimit => SANDBOX_REASON_CPU_TIME_LIMIT,
            Reason::OutOfMemory => SANDBOX_REASON_OUT_OF_MEMORY,
            Reason::SeccompViolation => SANDBOX_REASON_SECCOMP_VIOLATION,
            Reason::Killed => SANDBOX_REASON_KILLED,
            _ => SANDBOX_REASON_OTHER,
        };
        let cg = o.cgroup.as_ref();
        let unknown = |v: Option<u64>| v.unwrap_or(SANDBOX_UNKNOWN);
        sandbox_outcome_t {
            reason,
            exited: o.exit_code().is_some(),
            exit_code: o.exit_code().unwrap_or(-1),
            signal: o.signal().unwrap_or(0),
            code: o.code(),
            timed_out: o.timed_out(),
            oom_killed: o.oom_killed(),
            fully_enforced: o.enforcement.fully_enforced(),
            wall_time_ns: ns(o.wall_time),
            user_time_ns: ns(o.user_time),
            system_time_ns: ns(o.system_time),
            max_rss_bytes: o.max_rss,
            memory_peak_bytes: unknown(cg.and_then(|c| c.memory_peak)),
            oom_kills: unknown(cg.and_then(|c| c.oom_kills)),
            cpu_time_ns: unknown(cg.and_then(|c| c.cpu_time).map(ns)),
            pids_peak: unknown(cg.and_then(|c| c.pids_peak)),
        }
    }
}

/// A static name for a reason, e.g. "out_of_memory" (as in the Rust and
/// JSON forms); "unknown" for a number this version does not know. Never
/// NULL; never to be freed.
#[no_mangle]
pub extern "C" fn sandbox_reason_name(reason: c_int) -> *const c_char {
    let name: &'static std::ffi::CStr = match reason {
        0 => c"exited",
        1 => c"signaled",
        2 => c"wall_time_limit",
        3 => c"cpu_time_limit",
        4 => c"out_of_memory",
        5 => c"seccomp_violation",
        6 => c"killed",
        _ => c"unknown",
    };
    name.as_ptr()
}

/// A running (or ended, not yet freed) sandbox, from `sandbox_spawn`.
///
/// Ownership: owned by the caller; free it with `sandbox_child_free`, which
/// kills and reaps the tree if it was not waited for (unless
/// `sandbox_kill_on_drop(sb, false)`).
///
/// Thread safety: may be moved between threads, but used by one thread at
/// a time (no concurrent calls on the same child).
pub struct sandbox_child_t {
    pub(crate) inner: Child,
}

fn command(argv: *const *const c_char, argc: usize) -> FfiResult<Command> {
    Ok(Command::from_argv(c_str_array(argv, argc, "argv")?))
}

/// Spawn `argv[0]` with arguments `argv[1..argc]` in the box described by
/// `sb`. `argv[0]` is an absolute path or a name looked up in the box's
/// PATH. Returns once the payload has been exec'd, or with the error of the
/// stage that failed. `argv` and its strings are copied.
///
/// On success `*child_out` receives a new child owned by the caller (free
/// with `sandbox_child_free`).
#[no_mangle]
pub extern "C" fn sandbox_spawn(
    sb: *const sandbox_t,
    argv: *const *const c_char,
    argc: usize,
    child_out: *mut *mut sandbox_child_t,
) -> sandbox_result_t {
    guard(|| {
        let sb = as_ref(sb, "sb")?;
        let cmd = command(argv, argc)?;
        let out = out_ptr(child_out, "child_out")?;
        let inner = sb.inner.spawn(&cmd)?;
        write_out(out, Box::into_raw(Box::new(sandbox_child_t { inner })));
        Ok(())
    })
}

/// Spawn and wait (stdio as configured); the outcome goes to `*outcome_out`.
#[no_mangle]
pub extern "C" fn sandbox_status(
    sb: *const sandbox_t,
    argv: *const *const c_char,
    argc: usize,
    outcome_out: *mut sandbox_outcome_t,
) -> sandbox_result_t {
    guard(|| {
        let sb = as_ref(sb, "sb")?;
        let cmd = command(argv, argc)?;
        let out = out_ptr(outcome_out, "outcome_out")?;
        let o = sb.inner.status(&cmd)?;
        write_out(out, (&o).into());
        Ok(())
    })
}

/// The pid of the sandbox's first process (its init with a PID namespace),
/// in the caller's PID namespace; -1 when `child` is NULL.
#[no_mangle]
pub extern "C" fn sandbox_child_pid(child: *const sandbox_child_t) -> c_int {
    guard_value(-1, || as_ref(child, "child").map_or(-1, |c| c.inner.pid()))
}

/// The child's pidfd (borrowed: owned by the child, valid until
/// `sandbox_child_free`; do not close it). It becomes readable when the
/// sandbox ends, so it can go in a poll/epoll set. -1 when `child` is NULL.
#[no_mangle]
pub extern "C" fn sandbox_child_pidfd(child: *const sandbox_child_t) -> c_int {
    guard_value(-1, || {
        as_ref(child, "child").map_or(-1, |c| {
            use std::os::fd::AsFd;
            c.inner.as_fd().as_raw_fd()
        })
    })
}

/// The caller's end of the payload's stdin pipe (borrowed: owned by the
/// child; do not close it, use `sandbox_child_take_stdin_fd` for that), or
/// -1 when stdin is not a pipe, was taken, or `child` is NULL.
#[no_mangle]
pub extern "C" fn sandbox_child_stdin_fd(child: *const sandbox_child_t) -> c_int {
    guard_value(-1, || {
        as_ref(child, "child")
            .ok()
            .and_then(|c| c.inner.stdin.as_ref().map(|p| p.as_raw_fd()))
            .unwrap_or(-1)
    })
}

/// The caller's end of the payload's stdout pipe (borrowed), or -1.
///
/// The timeout (`sandbox_timeout`) is enforced by the wait functions: a
/// caller that reads a pipe to EOF before waiting should poll it together
/// with `sandbox_child_pidfd` and call `sandbox_child_try_wait`, or use
/// `sandbox_output`, which does both.
#[no_mangle]
pub extern "C" fn sandbox_child_stdout_fd(child: *const sandbox_child_t) -> c_int {
    guard_value(-1, || {
        as_ref(child, "child")
            .ok()
            .and_then(|c| c.inner.stdout.as_ref().map(|p| p.as_raw_fd()))
            .unwrap_or(-1)
    })
}

/// The caller's end of the payload's stderr pipe (borrowed), or -1.
#[no_mangle]
pub extern "C" fn sandbox_child_stderr_fd(child: *const sandbox_child_t) -> c_int {
    guard_value(-1, || {
        as_ref(child, "child")
            .ok()
            .and_then(|c| c.inner.stderr.as_ref().map(|p| p.as_raw_fd()))
            .unwrap_or(-1)
    })
}

/// Take the stdin pipe: the fd is then owned by the caller, who must close
/// it (closing it sends EOF to the payload). -1 when there is none.
#[no_mangle]
pub extern "C" fn sandbox_child_take_stdin_fd(child: *mut sandbox_child_t) -> c_int {
    guard_value(-1, || {
        as_mut(child, "child")
            .ok()
            .and_then(|c| c.inner.stdin.take().map(|p| p.into_raw_fd()))
            .unwrap_or(-1)
    })
}

/// Take the stdout pipe: the fd is then owned by the caller, who must close
/// it. -1 when there is none.
#[no_mangle]
pub extern "C" fn sandbox_child_take_stdout_fd(child: *mut sandbox_child_t) -> c_int {
    guard_value(-1, || {
        as_mut(child, "child")
            .ok()
            .and_then(|c| c.inner.stdout.take().map(|p| p.into_raw_fd()))
            .unwrap_or(-1)
    })
}

/// Take the stderr pipe: the fd is then owned by the caller, who must close
/// it. -1 when there is none.
#[no_mangle]
pub extern "C" fn sandbox_child_take_stderr_fd(child: *mut sandbox_child_t) -> c_int {
    guard_value(-1, || {
        as_mut(child, "child")
            .ok()
            .and_then(|c| c.inner.stderr.take().map(|p| p.into_raw_fd()))
            .unwrap_or(-1)
    })
}

/// Wait for the sandbox to end (enforcing its timeout) and write the
/// outcome to `*outcome_out`. Calling it again returns the same outcome.
/// Blocks the calling thread; pipes still open are not drained, so read
/// them first (or use `sandbox_output`) if the payload writes much.
#[no_mangle]
pub extern "C" fn sandbox_child_wait(
    child: *mut sandbox_child_t,
    outcome_out: *mut sandbox_outcome_t,
) -> sandbox_result_t {
    guard(|| {
        let child = as_mut(child, "child")?;
        let out = out_ptr(outcome_out, "outcome_out")?;
        let o = child.inner.wait()?;
        write_out(out, (&o).into());
        Ok(())
    })
}

fn write_opt(out: *mut sandbox_outcome_t, o: Option<Outcome>) -> FfiResult {
    match o {
        Some(o) => {
            write_out(out, (&o).into());
            Ok(())
        }
        None => Err(FfiError::new(
            sandbox_result_t::SANDBOX_STILL_RUNNING,
            "still running",
        )),
    }
}

/// Wait at most `timeout_ms` milliseconds. Returns `SANDBOX_OK` with the
/// outcome written when the sandbox ended, `SANDBOX_STILL_RUNNING` (and
/// `*outcome_out` untouched) when it is still running: it is not killed.
#[no_mangle]
pub extern "C" fn sandbox_child_wait_timeout(
    child: *mut sandbox_child_t,
    timeout_ms: u64,
    outcome_out: *mut sandbox_outcome_t,
) -> sandbox_result_t {
    guard(|| {
        let child = as_mut(child, "child")?;
        let out = out_ptr(outcome_out, "outcome_out")?;
        let o = child
            .inner
            .wait_timeout(Duration::from_millis(timeout_ms))?;
        write_opt(out, o)
    })
}

/// The outcome if the sandbox has ended (`SANDBOX_OK`), without blocking;
/// `SANDBOX_STILL_RUNNING` otherwise.
#[no_mangle]
pub extern "C" fn sandbox_child_try_wait(
    child: *mut sandbox_child_t,
    outcome_out: *mut sandbox_outcome_t,
) -> sandbox_result_t {
    guard(|| {
        let child = as_mut(child, "child")?;
        let out = out_ptr(outcome_out, "outcome_out")?;
        let o = child.inner.try_wait()?;
        write_opt(out, o)
    })
}

/// The whole outcome of an ended sandbox as JSON (the serde form of the
/// Rust `Outcome`: reason, status, times, cgroup stats with any limit not
/// applied in best-effort mode, and the enforcement report, layer by
/// layer), written to `*json_out`, owned by the caller (free with
/// `sandbox_string_free`). `SANDBOX_STILL_RUNNING` if it has not ended;
/// it does not block.
#[no_mangle]
pub extern "C" fn sandbox_child_outcome_json(
    child: *mut sandbox_child_t,
    json_out: *mut *mut c_char,
) -> sandbox_result_t {
    guard(|| {
        let child = as_mut(child, "child")?;
        let out = out_ptr(json_out, "json_out")?;
        let o = child.inner.try_wait()?.ok_or_else(|| {
            FfiError::new(sandbox_result_t::SANDBOX_STILL_RUNNING, "still running")
        })?;
        let s = serde_json::to_string(&o)
            .map_err(|e| FfiError::new(sandbox_result_t::SANDBOX_ERROR, e.to_string()))?;
        write_out(out, crate::string_out(s));
        Ok(())
    })
}

/// How long each stage of this child's spawn took, when timing was on
/// (`sandbox_record_timing` or `RSANDBOX_TIMING=1`), as a JSON object:
/// `total_ns`, and `stages`, a list of `{"stage": NAME, "ns": N}` (each
/// stage's own duration) in pipeline order, ending with "exec"; written
/// to `*json_out`, owned by the caller (free with `sandbox_string_free`).
/// With timing off, `*json_out` is set to NULL.
#[no_mangle]
pub extern "C" fn sandbox_child_spawn_timing_json(
    child: *const sandbox_child_t,
    json_out: *mut *mut c_char,
) -> sandbox_result_t {
    guard(|| {
        let child = as_ref(child, "child")?;
        let out = out_ptr(json_out, "json_out")?;
        let Some(t) = child.inner.spawn_timing() else {
            write_out(out, std::ptr::null_mut());
            return Ok(());
        };
        let stages: Vec<_> = t
            .stages()
            .into_iter()
            .map(|(stage, d)| serde_json::json!({"stage": stage, "ns": ns(d)}))
            .collect();
        let v = serde_json::json!({"total_ns": ns(t.total()), "stages": stages});
        write_out(out, crate::string_out(v.to_string()));
        Ok(())
    })
}

/// Kill the whole tree with SIGKILL. Idempotent; a no-op once reaped. Wait
/// afterwards to reap it and get the outcome (`SANDBOX_REASON_KILLED`).
#[no_mangle]
pub extern "C" fn sandbox_child_kill(child: *mut sandbox_child_t) -> sandbox_result_t {
    guard(|| Ok(as_mut(child, "child")?.inner.kill()?))
}

/// Send signal `sig` to the tree (to the init, which forwards it, with a PID
/// namespace; to the process group otherwise).
#[no_mangle]
pub extern "C" fn sandbox_child_signal(
    child: *mut sandbox_child_t,
    sig: c_int,
) -> sandbox_result_t {
    guard(|| Ok(as_mut(child, "child")?.inner.signal(sig)?))
}

/// Free a child. NULL is allowed. If it was not waited for, the tree is
/// killed and reaped first (unless kill-on-drop was turned off), and its
/// cgroup removed; its pipes are closed.
#[no_mangle]
pub extern "C" fn sandbox_child_free(child: *mut sandbox_child_t) {
    guard_value((), || {
        if !child.is_null() {
            // SAFETY: by the API contract a non-NULL `child` came from
            // `sandbox_spawn` (Box::into_raw) and is freed once.
            drop(unsafe { Box::from_raw(child) });
        }
    })
}

/// The outcome and captured stdout/stderr of `sandbox_output`.
///
/// Ownership: owned by the caller; free with `sandbox_output_free`. Thread
/// safety: immutable, so it may be read from several threads at once.
pub struct sandbox_output_t {
    inner: Output,
    /// Bytes the payload wrote to stdout and stderr (more than was kept
    /// after `sandbox_output_capped` cut them).
    totals: (u64, u64),
}

fn output_t(inner: Output) -> *mut sandbox_output_t {
    let totals = (inner.stdout.len() as u64, inner.stderr.len() as u64);
    Box::into_raw(Box::new(sandbox_output_t { inner, totals }))
}

/// Spawn with stdout and stderr captured (stdin from /dev/null unless
/// configured) and wait, reading both pipes so neither can fill up. Honors
/// the timeout. On success `*output_out` receives a new `sandbox_output_t`.
#[no_mangle]
pub extern "C" fn sandbox_output(
    sb: *const sandbox_t,
    argv: *const *const c_char,
    argc: usize,
    output_out: *mut *mut sandbox_output_t,
) -> sandbox_result_t {
    guard(|| {
        let sb = as_ref(sb, "sb")?;
        let cmd = command(argv, argc)?;
        let out = out_ptr(output_out, "output_out")?;
        let inner = sb.inner.output(&cmd)?;
        write_out(out, output_t(inner));
        Ok(())
    })
}

/// Like `sandbox_output`, keeping at most `cap` bytes of each stream (the
/// rest is read and dropped, so a chatty payload cannot exhaust the
/// caller's memory); `sandbox_output_totals` says how much was written.
#[no_mangle]
pub extern "C" fn sandbox_output_capped(
    sb: *const sandbox_t,
    argv: *const *const c_char,
    argc: usize,
    cap: usize,
    output_out: *mut *mut sandbox_output_t,
) -> sandbox_result_t {
    guard(|| {
        let sb = as_ref(sb, "sb")?;
        let cmd = command(argv, argc)?;
        let out = out_ptr(output_out, "output_out")?;
        let c = sb.inner.output_capped(&cmd, cap)?;
        let totals = (c.stdout_total, c.stderr_total);
        let inner = Output {
            outcome: c.outcome,
            stdout: c.stdout,
            stderr: c.stderr,
        };
        write_out(
            out,
            Box::into_raw(Box::new(sandbox_output_t { inner, totals })),
        );
        Ok(())
    })
}

/// How many bytes the payload wrote to stdout and stderr: more than
/// `sandbox_output_stdout` / `_stderr` hold when `sandbox_output_capped`
/// cut them (the same otherwise).
#[no_mangle]
pub extern "C" fn sandbox_output_totals(
    output: *const sandbox_output_t,
    stdout_total_out: *mut u64,
    stderr_total_out: *mut u64,
) -> sandbox_result_t {
    guard(|| {
        let output = as_ref(output, "output")?;
        let o = out_ptr(stdout_total_out, "stdout_total_out")?;
        let e = out_ptr(stderr_total_out, "stderr_total_out")?;
        write_out(o, output.totals.0);
        write_out(e, output.totals.1);
        Ok(())
    })
}

/// The outcome of a captured run.
#[no_mangle]
pub extern "C" fn sandbox_output_outcome(
    output: *const sandbox_output_t,
    outcome_out: *mut sandbox_outcome_t,
) -> sandbox_result_t {
    guard(|| {
        let output = as_ref(output, "output")?;
        let out = out_ptr(outcome_out, "outcome_out")?;
        write_out(out, (&output.inner.outcome).into());
        Ok(())
    })
}

fn borrow_bytes(v: &[u8], data_out: *mut *const u8, len_out: *mut usize) -> FfiResult {
    let d = out_ptr(data_out, "data_out")?;
    let l = out_ptr(len_out, "len_out")?;
    write_out(d, v.as_ptr());
    write_out(l, v.len());
    Ok(())
}

/// The captured stdout: `*data_out` points to `*len_out` bytes owned by
/// `output` (valid until `sandbox_output_free`; not NUL-terminated).
#[no_mangle]
pub extern "C" fn sandbox_output_stdout(
    output: *const sandbox_output_t,
    data_out: *mut *const u8,
    len_out: *mut usize,
) -> sandbox_result_t {
    guard(|| borrow_bytes(&as_ref(output, "output")?.inner.stdout, data_out, len_out))
}

/// The captured stderr (see `sandbox_output_stdout`).
#[no_mangle]
pub extern "C" fn sandbox_output_stderr(
    output: *const sandbox_output_t,
    data_out: *mut *const u8,
    len_out: *mut usize,
) -> sandbox_result_t {
    guard(|| borrow_bytes(&as_ref(output, "output")?.inner.stderr, data_out, len_out))
}

/// Free a captured output. NULL is allowed.
#[no_mangle]
pub extern "C" fn sandbox_output_free(output: *mut sandbox_output_t) {
    guard_value((), || {
        if !output.is_null() {
            // SAFETY: by the API contract a non-NULL `output` came from
            // `sandbox_output` (Box::into_raw) and is freed once.
            drop(unsafe { Box::from_raw(output) });
        }
    })
}
