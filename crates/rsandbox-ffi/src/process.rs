//! The payload's process attributes beyond uid and gid (supplementary
//! groups, umask, `oom_score_adj`), joined namespaces, and the start gate
//! and controlling terminal an OCI runtime needs. Each setter mirrors the
//! Rust method of the same name; the core checks the values at validation.

use std::ffi::{c_char, c_int};

use rsandbox::Namespace;

use crate::builder::{sandbox_t, update};
use crate::error::{array, c_path, guard, FfiError};
use crate::sandbox_result_t;

/// The payload's supplementary groups: the `n` ids at `gids` (as seen in
/// the box; copied, replacing groups set before; `gids` may be NULL when
/// `n` is 0, which clears them). Without it they are cleared outside a user
/// namespace and left as the kernel makes them inside one. In a user
/// namespace it needs a gid map the caller is privileged over (root).
#[no_mangle]
pub extern "C" fn sandbox_groups(
    sb: *mut sandbox_t,
    gids: *const u32,
    n: usize,
) -> sandbox_result_t {
    guard(|| {
        let gids = array(gids, n, "gids")?.to_vec();
        update(sb, |s| s.groups(gids))
    })
}

/// The payload's file mode creation mask (at most 0777; checked at
/// validation: `SANDBOX_INVALID_CONFIG` above it).
#[no_mangle]
pub extern "C" fn sandbox_umask(sb: *mut sandbox_t, mask: u32) -> sandbox_result_t {
    guard(|| update(sb, |s| s.umask(mask)))
}

/// The payload's `oom_score_adj`, -1000..=1000 (checked at validation:
/// `SANDBOX_INVALID_CONFIG` outside it). Lowering it below the caller's
/// needs `CAP_SYS_RESOURCE`.
#[no_mangle]
pub extern "C" fn sandbox_oom_score_adj(sb: *mut sandbox_t, adj: i32) -> sandbox_result_t {
    guard(|| update(sb, |s| s.oom_score_adj(adj)))
}

/// Join the existing namespace at `path` (e.g. "/proc/PID/ns/net" or a
/// bind-mounted "/run/netns/NAME") instead of creating one. `nstype` is the
/// `CLONE_NEW*` flag of its kind, as for `setns(2)` (`CLONE_NEWNET`...; from
/// <sched.h>); an unknown one is `SANDBOX_INVALID_ARGUMENT`. Mount, PID,
/// network, IPC, UTS and cgroup namespaces can be joined; the kind must not
/// also be requested new (checked at validation).
#[no_mangle]
pub extern "C" fn sandbox_join_ns(
    sb: *mut sandbox_t,
    nstype: c_int,
    path: *const c_char,
) -> sandbox_result_t {
    guard(|| {
        let ns = Namespace::ALL
            .into_iter()
            .find(|n| n.clone_flag() == nstype as u32 as u64)
            .ok_or_else(|| {
                FfiError::arg(
                    "nstype",
                    format!("{nstype:#x} is not a CLONE_NEW* namespace flag"),
                )
            })?;
        let path = c_path(path, "path")?;
        update(sb, |s| s.join_ns(ns, path))
    })
}

/// Hold the payload, fully set up, just before exec until one byte can be
/// read from the caller's fd `fd` (EOF makes it exit): the create/start
/// split of OCI runtimes. The spawn returns once the payload waits, so a
/// failure of the last steps (seccomp install, exec) shows as exit status
/// 127. `fd` must stay open until the spawn returns.
#[no_mangle]
pub extern "C" fn sandbox_start_gate(sb: *mut sandbox_t, fd: c_int) -> sandbox_result_t {
    guard(|| update(sb, |s| s.start_gate(fd)))
}

/// Make the payload's stdin (a terminal, e.g. a pty slave passed with
/// `SANDBOX_STDIO_FD`) the controlling terminal of the box's new session.
#[no_mangle]
pub extern "C" fn sandbox_controlling_tty(sb: *mut sandbox_t, on: bool) -> sandbox_result_t {
    guard(|| update(sb, |s| s.controlling_tty(on)))
}

/// Record per-stage timestamps of each spawn (read them with
/// `sandbox_child_spawn_timing_json`); `RSANDBOX_TIMING=1` turns it on for
/// every box.
#[no_mangle]
pub extern "C" fn sandbox_record_timing(sb: *mut sandbox_t, on: bool) -> sandbox_result_t {
    guard(|| update(sb, |s| s.record_timing(on)))
}
