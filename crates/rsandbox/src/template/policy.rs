//! The seccomp filter of a template whose forks get namespaces.
//!
//! The default profile refuses `clone` with namespace flags, `unshare`
//! and every `mount`, which the fork's set-up needs. The template box
//! therefore runs the default profile with exactly these holes: `clone`
//! with the fork's flags ([`CLONE_FLAGS`](super::isolate::CLONE_FLAGS), or
//! the split fork's [`SPLIT_CLONE_FLAGS`], nothing else), `unshare` with
//! exactly [`UNSHARE_FLAGS`], and `mount` with the flag words the set-up
//! uses (make mounts private; mount a `/proc`, read-only under a template
//! box that masks its own; bind the box's masks over it again).
//!
//! Once its namespaces are made, each fork stacks [`fork_tightening`]:
//! those three syscalls refused as the default profile refuses them, and
//! everything else let through to the filter beneath. Filters stack (the
//! stricter answer wins), so the payload in a fork gets exactly the
//! default profile's answer to every call (a test runs both compiled
//! filters over every syscall number), at the cost of compiling and
//! running a filter of a few dozen instructions instead of the whole
//! profile a second time.
//!
//! What the holes give the template process itself, between its start and
//! the ready point: what a process without a filter may do anyway without
//! capabilities (make a user namespace with the others, mount in a mount
//! namespace it owns). A template box that keeps capabilities could also
//! make its mounts private, bind one of its paths over another, or mount a
//! `/proc` in its own mount namespace: nothing it could not reach already.

use crate::seccomp::{Action, ArgCmp, SeccompPolicy};

use super::isolate::{CLONE_FLAGS, PRIVATE_FLAGS, PROC_FLAGS, SPLIT_CLONE_FLAGS, UNSHARE_FLAGS};

// The filter compares clone's flags on their low 32 bits only.
const _: () = assert!(CLONE_FLAGS < 1 << 32);

/// The flag words of the fork's `mount`s: make its mounts private, mount
/// a `/proc` (read-only under a template that masks its own), bind a mask
/// of the template box's over an entry of it.
const MOUNT_FLAGS: [u64; 4] = [
    PRIVATE_FLAGS,
    PROC_FLAGS,
    PROC_FLAGS | libc::MS_RDONLY,
    libc::MS_BIND,
];

/// The syscalls whose rules [`relaxed_default`] replaces.
const REPLACED: [&str; 2] = ["mount", "unshare"];

/// The default profile with the fork's `clone`s, `unshare` and `mount`s
/// allowed.
pub fn relaxed_default() -> SeccompPolicy {
    let full = SeccompPolicy::default_profile();
    let mut p = SeccompPolicy::new(full.default_action());
    if let Some(a) = full.newer_action() {
        p = p.newer_syscalls(a);
    }
    for r in full.rules() {
        if !REPLACED.contains(&r.syscall.as_str()) {
            p.push(r.clone());
        }
    }
    // The kernel reads clone's flags as 32 bits; CLONE_PIDFD and the
    // namespace flags all lie in them.
    for flags in [CLONE_FLAGS, SPLIT_CLONE_FLAGS] {
        p = p.rule_if("clone", Action::Allow, [ArgCmp::eq(0, flags).low32()]);
    }
    // unshare's flags are a full unsigned long: all 64 bits compared.
    p = p.rule_if("unshare", Action::Allow, [ArgCmp::eq(0, UNSHARE_FLAGS)]);
    for flags in MOUNT_FLAGS {
        p = p.rule_if("mount", Action::Allow, [ArgCmp::eq(3, flags)]);
    }
    p
}

/// What a fork stacks on [`relaxed_default`] to be under the default
/// profile again: `mount`, `unshare` and `clone` with any namespace flag
/// refused (`EPERM`, the default profile's answer), everything else
/// allowed (the filter beneath decides).
pub fn fork_tightening() -> SeccompPolicy {
    let mut p = SeccompPolicy::new(Action::Allow);
    for name in REPLACED {
        p = p.rule(name, Action::EPERM);
    }
    for &flag in crate::seccomp::profile::CLONE_NS_FLAGS {
        let any = ArgCmp::masked_eq(0, flag, flag).low32();
        p = p.rule_if("clone", Action::EPERM, [any]);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::testing::{native, run};

    /// Only the mount and unshare rules go; everything else of the
    /// default stays.
    #[test]
    fn relaxes_only_clone_unshare_and_mount() {
        let full = SeccompPolicy::default_profile();
        let relaxed = relaxed_default();
        let count =
            |p: &SeccompPolicy, name: &str| p.rules().iter().filter(|r| r.syscall == name).count();
        assert_eq!((count(&full, "mount"), count(&full, "unshare")), (1, 1));
        assert_eq!(count(&relaxed, "mount"), MOUNT_FLAGS.len());
        assert_eq!(count(&relaxed, "unshare"), 1);
        assert_eq!(count(&relaxed, "clone"), count(&full, "clone") + 2);
        let added = 2 + 1 + MOUNT_FLAGS.len();
        assert_eq!(relaxed.rules().len(), full.rules().len() - 2 + added);
        assert!(relaxed.check().is_ok());
    }

    /// What the kernel answers with `newer` stacked on `older`: the
    /// lowest action (compared as signed) wins; on a tie, the newer
    /// filter's value.
    fn stacked(older: u32, newer: u32) -> u32 {
        let action = |r: u32| (r & libc::SECCOMP_RET_ACTION_FULL) as i32;
        if action(newer) <= action(older) {
            newer
        } else {
            older
        }
    }

    /// This machine's `AUDIT_ARCH_*`.
    fn native_arch() -> u32 {
        if cfg!(target_arch = "x86_64") {
            0xC000_003E
        } else {
            0xC000_00B7
        }
    }

    /// The relaxed filter with the tightening stacked on it answers every
    /// call as the default profile does: every syscall number (and some
    /// beyond, x32 numbers, a foreign architecture), with the flag words
    /// the holes are about and others.
    #[test]
    fn tightening_restores_the_default_profile() {
        let full = native(&SeccompPolicy::default_profile());
        let relaxed = native(&relaxed_default());
        let tight = native(&fork_tightening());
        let mut firsts = vec![0, libc::SIGCHLD as u64, CLONE_FLAGS, SPLIT_CLONE_FLAGS];
        firsts.extend([
            UNSHARE_FLAGS,
            UNSHARE_FLAGS | 1 << 32,
            CLONE_FLAGS | 1 << 32,
        ]);
        firsts.extend(crate::seccomp::profile::CLONE_NS_FLAGS);
        let mut fourths = vec![0, libc::MS_BIND | libc::MS_REC];
        fourths.extend(MOUNT_FLAGS);
        let nrs = (0..1024).chain((0..1024).map(|n| n | 0x4000_0000));
        for nr in nrs.chain([u32::MAX]) {
            for arch in [native_arch(), 0x4000_0003] {
                for &a0 in &firsts {
                    for &a3 in &fourths {
                        let args = [a0, 0, 0, a3, 0, 0];
                        let want = run(&full, nr, arch, args);
                        let got =
                            stacked(run(&relaxed, nr, arch, args), run(&tight, nr, arch, args));
                        assert_eq!(got, want, "nr {nr} arch {arch:#x} args {a0:#x} {a3:#x}");
                    }
                }
            }
        }
    }

    /// The holes are open in the relaxed filter alone, and only for the
    /// exact flags.
    #[test]
    fn the_relaxed_filter_lets_exactly_the_forks_calls_through() {
        let relaxed = native(&relaxed_default());
        let answer = |nr: libc::c_long, a0: u64| {
            run(&relaxed, nr as u32, native_arch(), [a0, 0, 0, 0, 0, 0])
        };
        let allow = libc::SECCOMP_RET_ALLOW;
        assert_eq!(answer(libc::SYS_clone, SPLIT_CLONE_FLAGS), allow);
        assert_eq!(answer(libc::SYS_clone, CLONE_FLAGS), allow);
        assert_eq!(answer(libc::SYS_unshare, UNSHARE_FLAGS), allow);
        for a0 in [
            UNSHARE_FLAGS | 1 << 32,
            libc::CLONE_NEWNET as u64,
            SPLIT_CLONE_FLAGS,
        ] {
            assert_ne!(answer(libc::SYS_unshare, a0), allow, "{a0:#x}");
        }
        assert_ne!(
            answer(libc::SYS_clone, UNSHARE_FLAGS | libc::SIGCHLD as u64),
            allow
        );
    }
}
