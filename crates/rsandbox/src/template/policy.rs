//! The seccomp filter of a template whose forks get namespaces.
//!
//! The default profile refuses `clone` with namespace flags and every
//! `mount`, which the fork's set-up needs. The template box therefore runs
//! the default profile with exactly three holes: `clone` with the fork's
//! flags ([`CLONE_FLAGS`](super::isolate::CLONE_FLAGS), nothing else), and
//! `mount` with the two flag words the set-up uses (make mounts private;
//! mount a `/proc`). Each fork stacks the full default profile once its
//! namespaces are made, so the payload in a fork runs under the default
//! profile as in any box (filters stack; the stricter answer wins).
//!
//! What the holes give the template process itself, between its start and
//! the ready point: what a process without a filter may do anyway without
//! capabilities (make a user namespace with the others, mount in a mount
//! namespace it owns). A template box that keeps capabilities could also
//! make its mounts private or mount a `/proc` in its own mount namespace.

use crate::seccomp::{Action, ArgCmp, SeccompPolicy};

use super::isolate::{CLONE_FLAGS, PRIVATE_FLAGS, PROC_FLAGS};

// The filter compares clone's flags on their low 32 bits only.
const _: () = assert!(CLONE_FLAGS < 1 << 32);

/// The default profile with the fork's `clone` and `mount`s allowed.
pub fn relaxed_default() -> SeccompPolicy {
    let full = SeccompPolicy::default_profile();
    let mut p = SeccompPolicy::new(full.default_action());
    if let Some(a) = full.newer_action() {
        p = p.newer_syscalls(a);
    }
    for r in full.rules().iter().filter(|r| r.syscall != "mount") {
        p.push(r.clone());
    }
    // The kernel reads clone's flags as 32 bits; CLONE_PIDFD and the
    // namespace flags all lie in them.
    p = p.rule_if("clone", Action::Allow, [ArgCmp::eq(0, CLONE_FLAGS).low32()]);
    for flags in [PRIVATE_FLAGS, PROC_FLAGS, PROC_FLAGS | libc::MS_RDONLY] {
        p = p.rule_if("mount", Action::Allow, [ArgCmp::eq(3, flags)]);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the mount rule goes; everything else of the default stays.
    #[test]
    fn relaxes_only_clone_and_mount() {
        let full = SeccompPolicy::default_profile();
        let relaxed = relaxed_default();
        let mounts = |p: &SeccompPolicy| p.rules().iter().filter(|r| r.syscall == "mount").count();
        assert_eq!(mounts(&full), 1);
        assert_eq!(mounts(&relaxed), 3);
        assert_eq!(relaxed.rules().len(), full.rules().len() - 1 + 1 + 3);
        assert!(relaxed.check().is_ok());
    }
}
