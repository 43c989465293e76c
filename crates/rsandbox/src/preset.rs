//! Presets: whole descriptions with every layer on.

use crate::Sandbox;

/// Presets.
impl Sandbox {
    /// Every hardening layer on with safe defaults: all namespaces (user,
    /// pid, mount, uts, ipc, net, cgroup), every capability dropped with
    /// securebits locked, no_new_privs, and the default seccomp profile.
    ///
    /// For a root caller the box's ids stand for the unprivileged host id
    /// [`UNPRIVILEGED_ID`](crate::UNPRIVILEGED_ID) (see
    /// [`crate::identity`]): the payload is uid 0 inside, `nobody` to the
    /// host's files and sockets. [`host_identity`](Self::host_identity)
    /// keeps the caller's. Where the kernel has Landlock ABI 6, connecting
    /// to abstract Unix sockets made outside the box is denied too
    /// ([`landlock_scope_abstract_unix`](Self::landlock_scope_abstract_unix)).
    ///
    /// Relax it with the usual builder calls, e.g. `.no_seccomp()`,
    /// `.keep_caps(["CAP_NET_BIND_SERVICE"])` or `.best_effort(true)`.
    /// Landlock is not part of it (rules name paths only the caller knows).
    pub fn strict() -> Sandbox {
        strict_other_layers(
            Sandbox::new()
                .all_ns()
                .drop_caps()
                .no_new_privs(true)
                .seccomp_default()
                .unprivileged_identity(),
        )
    }
}

/// Hook for the layers owned by other modules (memory and pids limits, the
/// default root view): they add their strict defaults here.
fn strict_other_layers(sb: Sandbox) -> Sandbox {
    if crate::sys::kernel::landlock_abi() as i32 >= crate::config::landlock::SCOPE_ABI {
        sb.landlock_scope_abstract_unix()
    } else {
        sb
    }
}
