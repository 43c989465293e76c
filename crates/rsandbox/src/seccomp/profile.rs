//! The built-in default profile, in the spirit of Docker's: everything is
//! allowed except the syscalls that historically opened a way out of a
//! container or reach kernel-global state, which fail with `EPERM`.
//!
//! Docker's own profile is an allow list; this one is a deny list so that
//! ordinary payloads (compilers, interpreters, test runners) never break on a
//! syscall nobody thought of, while every door listed in the design notes is
//! shut. Combine it with dropped capabilities and no_new_privs (the strict
//! preset does) for the rest.

use super::policy::{Action, ArgCmp, SeccompPolicy};

/// Syscalls that always fail with `EPERM`.
pub const DENIED: &[&str] = &[
    // The kernel keyring (shared across containers, many CVEs).
    "add_key",
    "keyctl",
    "request_key",
    // eBPF, perf and other kernel-introspection surfaces.
    "bpf",
    "perf_event_open",
    "lookup_dcookie",
    "syslog",
    "fanotify_init",
    // Kernel modules.
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "get_kernel_syms",
    "query_module",
    // Rebooting into another kernel, or at all.
    "kexec_load",
    "kexec_file_load",
    "reboot",
    // The host clock.
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    // Mounts and namespaces (the clone flags are filtered below).
    "mount",
    "umount2",
    "pivot_root",
    "setns",
    "unshare",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    // File handles bypass path-based checks (the "shocker" escape).
    "open_by_handle_at",
    // Other processes' memory.
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    // Accounting and quotas.
    "acct",
    "quotactl",
    "quotactl_fd",
    // Raw I/O ports.
    "iopl",
    "ioperm",
    // Swap.
    "swapon",
    "swapoff",
    // Attack amplifiers: page-fault control and io_uring (bypasses seccomp
    // for the operations it performs).
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    // Obsolete or legacy interfaces.
    "nfsservctl",
    "uselib",
    "ustat",
    "sysfs",
    "vhangup",
    "afs_syscall",
    "tuxcall",
    "security",
];

/// Namespace-creating `clone` flags.
pub const CLONE_NS_FLAGS: &[u64] = &[
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];

/// `personality` values that are safe (the rest, e.g. `ADDR_NO_RANDOMIZE`
/// or `READ_IMPLIES_EXEC`, weaken the address space).
pub const SAFE_PERSONALITIES: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// Socket families refused.
pub const DENIED_SOCKET_FAMILIES: &[u64] = &[
    libc::AF_ALG as u64,
    libc::AF_VSOCK as u64,
    libc::AF_PACKET as u64,
];

/// ioctl requests refused: pushing input into a terminal.
pub const DENIED_IOCTLS: &[u64] = &[
    0x5412, // TIOCSTI (same number on x86_64 and aarch64)
    0x541C, // TIOCLINUX
];

/// The default profile (see the module docs).
pub fn default_profile() -> SeccompPolicy {
    let mut p = SeccompPolicy::new(Action::Allow);
    for name in DENIED {
        p = p.rule(*name, Action::EPERM);
    }
    // clone3 passes its flags in memory the filter cannot read: answer
    // ENOSYS so libc falls back to clone, whose flags it can.
    p = p.rule("clone3", Action::ENOSYS);
    for &flag in CLONE_NS_FLAGS {
        p = p.rule_if("clone", Action::EPERM, [ArgCmp::masked_eq(0, flag, flag)]);
    }
    p = p.rule_if(
        "personality",
        Action::EPERM,
        SAFE_PERSONALITIES.iter().map(|&v| ArgCmp::ne(0, v).low32()),
    );
    for &req in DENIED_IOCTLS {
        p = p.rule_if("ioctl", Action::EPERM, [ArgCmp::eq(1, req).low32()]);
    }
    for &fam in DENIED_SOCKET_FAMILIES {
        p = p.rule_if("socket", Action::EPERM, [ArgCmp::eq(0, fam).low32()]);
    }
    p
}
