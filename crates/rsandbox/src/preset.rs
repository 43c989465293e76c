//! Presets: whole descriptions with every layer on.

use crate::Sandbox;

/// Presets.
impl Sandbox {
    /// Every hardening layer on with safe defaults: all namespaces (user,
    /// pid, mount, uts, ipc, net, cgroup), every capability dropped with
    /// securebits locked, no_new_privs, and the default seccomp profile.
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
                .seccomp_default(),
        )
    }
}

/// Hook for the layers owned by other modules (memory and pids limits, the
/// default root view): they add their strict defaults here.
fn strict_other_layers(sb: Sandbox) -> Sandbox {
    sb
}
