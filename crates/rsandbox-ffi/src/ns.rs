//! Joining existing namespaces (`sandbox_join_ns`): a `CLONE_NEW*` flag
//! names the kind, which no kind of the binding table expresses. The
//! namespaces a box creates are set by the generated setters
//! (`generated.rs`).

use std::ffi::{c_char, c_int};

use rsandbox::Namespace;

use crate::builder::{sandbox_t, update};
use crate::error::{c_path, guard, FfiError};
use crate::sandbox_result_t;

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
