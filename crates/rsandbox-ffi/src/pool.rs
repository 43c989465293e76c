//! The warm pool (`Sandbox::pool` in Rust): `sandbox_pool_t`, boxes of one
//! description set up ahead of their payload.

use std::ffi::c_char;

use rsandbox::{Command, Pool};

use crate::builder::sandbox_t;
use crate::child::sandbox_child_t;
use crate::error::{as_ref, c_str_array, guard, guard_value, out_ptr, write_out};
use crate::sandbox_result_t;

/// `n` boxes of one description kept ready (namespaces made, root view
/// mounted, cgroup in place, the payload process waiting at a gate), from
/// `sandbox_pool_new`. Each `sandbox_pool_spawn` takes one, which only
/// execs the command; a thread of the library makes its replacement in the
/// background. An empty pool spawns directly and never blocks on the
/// thread.
///
/// Ownership: owned by the caller; free it with `sandbox_pool_free`, which
/// kills the boxes still waiting. Children already spawned from it are the
/// caller's and stay valid.
///
/// Thread safety: may be moved between threads; `sandbox_pool_spawn` may
/// run from several threads at once.
pub struct sandbox_pool_t {
    inner: Pool,
}

/// Keep `n` (1 to 1024) boxes of the description `sb` ready. The
/// description is copied (stdio included: `SANDBOX_STDIO_PIPE` gives each
/// pooled child pipes of its own; an fd of `SANDBOX_STDIO_FD` must stay
/// open as long as the pool). The first box is made before this returns,
/// so a description that cannot spawn fails here with the error
/// `sandbox_spawn` would give. It needs a PID namespace with rsandbox's
/// init (`sandbox_pid_ns`, not `sandbox_payload_as_pid1`); otherwise, or
/// with `n` out of range, `SANDBOX_INVALID_CONFIG` and nothing is made.
/// On success `*pool_out` receives a new pool owned by the caller.
#[no_mangle]
pub extern "C" fn sandbox_pool_new(
    sb: *const sandbox_t,
    n: usize,
    pool_out: *mut *mut sandbox_pool_t,
) -> sandbox_result_t {
    guard(|| {
        let sb = as_ref(sb, "sb")?;
        let out = out_ptr(pool_out, "pool_out")?;
        let inner = sb.inner.pool(n)?;
        write_out(out, Box::into_raw(Box::new(sandbox_pool_t { inner })));
        Ok(())
    })
}

/// Run `argv[0]` with arguments `argv[1..argc]` (as `sandbox_spawn` takes
/// them) in a ready box of the pool, or in a box spawned now when none is
/// ready. A missing program is `SANDBOX_PROGRAM_NOT_FOUND` and a command
/// the gate cannot carry (over 256 arguments, over 32 KiB)
/// `SANDBOX_INVALID_CONFIG`, both before any box is used. On success
/// `*child_out` receives a new child owned by the caller, as from
/// `sandbox_spawn` (wait, kill and free it with the `sandbox_child_*`
/// functions).
#[no_mangle]
pub extern "C" fn sandbox_pool_spawn(
    pool: *const sandbox_pool_t,
    argv: *const *const c_char,
    argc: usize,
    child_out: *mut *mut sandbox_child_t,
) -> sandbox_result_t {
    guard(|| {
        let pool = as_ref(pool, "pool")?;
        let cmd = Command::from_argv(c_str_array(argv, argc, "argv")?);
        let out = out_ptr(child_out, "child_out")?;
        let inner = pool.inner.spawn(&cmd)?;
        write_out(out, Box::into_raw(Box::new(sandbox_child_t { inner })));
        Ok(())
    })
}

/// How many boxes are ready now (0 when `pool` is NULL).
#[no_mangle]
pub extern "C" fn sandbox_pool_ready(pool: *const sandbox_pool_t) -> usize {
    guard_value(0, || as_ref(pool, "pool").map_or(0, |p| p.inner.ready()))
}

/// How many boxes the pool keeps ready (its `n`; 0 when `pool` is NULL).
#[no_mangle]
pub extern "C" fn sandbox_pool_capacity(pool: *const sandbox_pool_t) -> usize {
    guard_value(0, || as_ref(pool, "pool").map_or(0, |p| p.inner.capacity()))
}

/// Free a pool. NULL is allowed. Stops its thread, then kills and reaps
/// every box still waiting (their cgroups are removed with them).
#[no_mangle]
pub extern "C" fn sandbox_pool_free(pool: *mut sandbox_pool_t) {
    guard_value((), || {
        if !pool.is_null() {
            // SAFETY: by the API contract a non-NULL `pool` came from
            // `sandbox_pool_new` (Box::into_raw) and is freed once.
            drop(unsafe { Box::from_raw(pool) });
        }
    })
}
