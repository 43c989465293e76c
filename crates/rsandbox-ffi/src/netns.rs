//! `sandbox_netns_t`: a prepared network namespace many boxes share
//! (`rsandbox::NetNs`), so each spawn does not pay for creating and tearing
//! down a network namespace of its own.

use crate::builder::sandbox_t;
use crate::error::{as_mut, as_ref, guard, guard_value, out_ptr, write_out, FfiResult};
use crate::sandbox_result_t;

/// A prepared, empty network namespace (only `lo`, up), held open. Create
/// it with `sandbox_netns_new`, pass it to `sandbox_net_ns_shared`, free it
/// with `sandbox_netns_free` (boxes already using it keep it alive).
/// Thread-safe: it is never modified after creation.
pub struct sandbox_netns_t {
    inner: rsandbox::NetNs,
}

/// Create a fresh network namespace with only `lo`, brought up, written to
/// `*ns_out` (owned by the caller). Needs CAP_SYS_ADMIN (root):
/// SANDBOX_PRIVILEGE otherwise, and `sandbox_net_ns` (one namespace per
/// box) is the unprivileged way.
#[no_mangle]
pub extern "C" fn sandbox_netns_new(ns_out: *mut *mut sandbox_netns_t) -> sandbox_result_t {
    guard(|| {
        let out = out_ptr(ns_out, "ns_out")?;
        let inner = rsandbox::NetNs::new()?;
        write_out(out, Box::into_raw(Box::new(sandbox_netns_t { inner })));
        Ok(())
    })
}

/// The namespace's inode: a box in it reads `net:[INODE]` from
/// `/proc/self/ns/net`. 0 when `ns` is NULL.
#[no_mangle]
pub extern "C" fn sandbox_netns_inode(ns: *const sandbox_netns_t) -> u64 {
    guard_value(0, || as_ref(ns, "ns").map_or(0, |n| n.inner.inode()))
}

/// Free a handle. NULL is allowed (a no-op). Descriptions and boxes that
/// use the namespace keep it alive.
#[no_mangle]
pub extern "C" fn sandbox_netns_free(ns: *mut sandbox_netns_t) {
    guard_value((), || {
        if !ns.is_null() {
            // SAFETY: by the API contract a non-NULL `ns` came from
            // `sandbox_netns_new` (Box::into_raw) and is freed once.
            drop(unsafe { Box::from_raw(ns) });
        }
    })
}

/// Run the box in the shared network namespace `ns` instead of a new one
/// (replaces `sandbox_net_ns`). Boxes sharing it are cut off from the
/// host's network but not from each other (same `lo`, ports, abstract Unix
/// sockets). Spawning needs CAP_SYS_ADMIN. Not kept by `sandbox_to_json`.
#[no_mangle]
pub extern "C" fn sandbox_net_ns_shared(
    sb: *mut sandbox_t,
    ns: *const sandbox_netns_t,
) -> sandbox_result_t {
    guard(|| -> FfiResult {
        let ns = as_ref(ns, "ns")?.inner.clone();
        let sb = as_mut(sb, "sb")?;
        sb.inner = std::mem::take(&mut sb.inner).net_ns_shared(&ns);
        Ok(())
    })
}
