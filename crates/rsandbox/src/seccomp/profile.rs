//! The built-in default profile: an allow-list, equivalent to Docker's
//! default profile (moby/profiles `seccomp/default.json`) for a box that
//! keeps no capability, plus what rsandbox denies beyond it.
//!
//! - [`ALLOWED`]: the syscalls Docker allows unconditionally, on x86_64
//!   and aarch64 (`arch_prctl` and `modify_ldt` on x86_64 only, as there),
//!   less `adjtimex` and `clock_adjtime` (see [`DENIED`]), plus `uprobe`
//!   (Linux 6.18; only the kernel's uprobe trampoline can call it, the
//!   reason Docker allows its sibling `uretprobe`).
//! - Allowed with conditions: `clone` without namespace flags, `socket`
//!   of the families in [`ALLOWED_SOCKET_FAMILIES`], `personality` with
//!   the values in [`SAFE_PERSONALITIES`], `ioctl` except
//!   [`DENIED_IOCTLS`].
//! - Everything else fails with `EPERM`: every syscall Docker grants only
//!   with a capability (mount and namespace calls, keyring, bpf, perf,
//!   modules, clocks, reboot, ...), which a strict box never has; and
//!   [`DENIED`] lists the ones refused here on purpose, some of which
//!   Docker allows.
//! - `clone3` answers `ENOSYS` (its flags are in memory the filter cannot
//!   read, so libc falls back to `clone`), and so does every syscall
//!   numbered above the highest this profile names: a syscall newer than
//!   the syscall table (generated for Linux 6.18) makes programs fall back as
//!   on an older kernel, as under runc.
//! - i386 (`int 0x80`) and x32 syscalls kill the process.
//!
//! Combine it with dropped capabilities and no_new_privs (the strict
//! preset does) for the rest.

use super::policy::{Action, ArgCmp, SeccompPolicy};

/// Syscalls always allowed (Docker's unconditional list, less `adjtimex`
/// and `clock_adjtime`, plus `uprobe`). Names of only one of x86_64 and
/// aarch64 apply there only.
pub const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "alarm",
    "arch_prctl",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "clock_getres",
    "clock_gettime",
    "clock_nanosleep",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchownat",
    "fcntl",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstatfs",
    "fsync",
    "ftruncate",
    "futex",
    "futex_requeue",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "get_robust_list",
    "get_thread_area",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getgroups",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresuid",
    "getrlimit",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "gettid",
    "gettimeofday",
    "getuid",
    "getxattr",
    "getxattrat",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_setup",
    "io_submit",
    "ioctl",
    "ioprio_get",
    "ioprio_set",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listmount",
    "listxattr",
    "listxattrat",
    "llistxattr",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "modify_ldt",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedsend",
    "mq_unlink",
    "mremap",
    "mseal",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recvfrom",
    "recvmmsg",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "removexattrat",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_tgsigqueueinfo",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "sendfile",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "set_robust_list",
    "set_thread_area",
    "set_tid_address",
    "setfsgid",
    "setfsuid",
    "setgid",
    "setgroups",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setresgid",
    "setresuid",
    "setreuid",
    "setrlimit",
    "setsid",
    "setsockopt",
    "setuid",
    "setxattr",
    "setxattrat",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "socketpair",
    "splice",
    "stat",
    "statfs",
    "statmount",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_settime",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_settime",
    "times",
    "tkill",
    "truncate",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "uprobe",
    "uretprobe",
    "utime",
    "utimensat",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "write",
    "writev",
];

/// Syscalls refused with `EPERM` on purpose. The default action refuses
/// them too; they are named so the profile says so, and so that a change
/// to [`ALLOWED`] cannot let one through unnoticed (a test checks the two
/// lists are disjoint). Beyond Docker (which allows these to a box
/// without capabilities): `ptrace`, `process_vm_readv`/`writev` (other
/// processes' memory, even in the same box), `adjtimex`/`clock_adjtime`
/// (even read-only queries), `io_uring_*` and `userfaultfd` (not in
/// Docker's list either; named for the reason: io_uring performs
/// operations seccomp never sees, userfaultfd stretches kernel races),
/// `open_tree_attr` and the rest of the mount API.
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
    "lsm_get_self_attr",
    "lsm_set_self_attr",
    "lsm_list_modules",
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
    "chroot",
    "setns",
    "unshare",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "open_tree_attr",
    "mount_setattr",
    // File handles bypass path-based checks (the "shocker" escape).
    "open_by_handle_at",
    // Other processes' memory.
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "kcmp",
    "pidfd_getfd",
    // NUMA policy of the host's memory (Docker: CAP_SYS_NICE).
    "mbind",
    "set_mempolicy",
    "set_mempolicy_home_node",
    "migrate_pages",
    "move_pages",
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
    // The host's name (a box's UTS name is set before the filter).
    "sethostname",
    "setdomainname",
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

/// Socket families allowed: local, IPv4, IPv6 and netlink (routing, the
/// interface list `getaddrinfo` reads). Every other family fails with
/// `EPERM`: stricter than Docker, which refuses only `AF_ALG` and
/// `AF_VSOCK`, so the rarely used protocols the kernel loads on demand
/// (and their bugs) are out of reach.
pub const ALLOWED_SOCKET_FAMILIES: &[u64] = &[
    libc::AF_UNIX as u64,
    libc::AF_INET as u64,
    libc::AF_INET6 as u64,
    libc::AF_NETLINK as u64,
];

/// Socket families refused whatever the list above says (named for the
/// record: `AF_ALG` and `AF_VSOCK` as in Docker, `AF_PACKET` beyond it).
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

/// The default profile's action for syscalls it does not name.
pub(crate) const DEFAULT_ACTION: Action = Action::EPERM;
/// The default profile's action for syscalls newer than its table.
pub(crate) const NEWER_ACTION: Action = Action::ENOSYS;

/// The default profile (see the module docs).
pub fn default_profile() -> SeccompPolicy {
    let mut p = SeccompPolicy::new(DEFAULT_ACTION).newer_syscalls(NEWER_ACTION);
    for name in ALLOWED {
        p = p.allow(*name);
    }
    for name in DENIED {
        p = p.rule(*name, Action::EPERM);
    }
    // clone3 passes its flags in memory the filter cannot read: answer
    // ENOSYS so libc falls back to clone, whose flags it can.
    p = p.rule("clone3", Action::ENOSYS);
    // The kernel reads clone's flags as 32 bits.
    let ns_mask = CLONE_NS_FLAGS.iter().fold(0, |m, f| m | f);
    p = p.rule_if(
        "clone",
        Action::Allow,
        [ArgCmp::masked_eq(0, ns_mask, 0).low32()],
    );
    for &v in SAFE_PERSONALITIES {
        p = p.rule_if("personality", Action::Allow, [ArgCmp::eq(0, v).low32()]);
    }
    for &req in DENIED_IOCTLS {
        p = p.rule_if("ioctl", Action::EPERM, [ArgCmp::eq(1, req).low32()]);
    }
    for &fam in ALLOWED_SOCKET_FAMILIES {
        p = p.rule_if("socket", Action::Allow, [ArgCmp::eq(0, fam).low32()]);
    }
    for &fam in DENIED_SOCKET_FAMILIES {
        p = p.rule_if("socket", Action::EPERM, [ArgCmp::eq(0, fam).low32()]);
    }
    p
}

impl SeccompPolicy {
    /// The built-in default profile (see [`super::profile`]).
    pub fn default_profile() -> SeccompPolicy {
        default_profile()
    }
}
