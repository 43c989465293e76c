//! The table: every builder method of the core's `Sandbox`, accounted for.
//!
//! [`SECTIONS`] holds the mechanical setters, one row each: the renderers
//! make the C function, the Python method and its stub from the row. A new
//! core setter reaches C and Python by adding a row here and running
//! `cargo run -p rsandbox-surface`. [`HAND_WRITTEN`] lists the methods whose
//! bindings need a conversion no kind expresses, with the functions that
//! bind them; [`UNBOUND`] the ones no binding offers. The coverage test
//! (`tests/coverage.rs`) fails when a public builder method of the core is
//! in none of the three.

use crate::model::Ty::*;
use crate::model::{arg, row, Hand, Section, Unbound};

/// The mechanical setters, by section.
pub static SECTIONS: &[Section] = &[
    Section {
        title: "namespaces",
        rows: &[
            row(
                "user_ns",
                &[],
                "A new user namespace (the caller's uid/gid mapped to `@uid`/`@gid`).",
            ),
            row(
                "pid_ns",
                &[],
                "A new PID namespace: the box sees only its own processes; a small \
                 init is PID 1, reaps and forwards signals.",
            ),
            row(
                "payload_as_pid1",
                &[arg("on", Flag)],
                "With a new PID namespace, the payload itself is PID 1 (no init): it \
                 reaps orphans and gets only the signals it handles.",
            ),
            row(
                "mount_ns",
                &[],
                "A new mount namespace (every mount made private first).",
            ),
            row("uts_ns", &[], "A new UTS namespace (see `@hostname`)."),
            row("ipc_ns", &[], "A new IPC namespace."),
            row(
                "net_ns",
                &[],
                "A new network namespace with only `lo`, brought up.",
            ),
            row("cgroup_ns", &[], "A new cgroup namespace."),
            row(
                "time_ns",
                &[],
                "A new time namespace (an error at spawn where the kernel lacks it).",
            ),
            row(
                "all_ns",
                &[],
                "Every namespace but time: user, pid, mount, uts, ipc, net, cgroup.",
            ),
        ],
    },
    Section {
        title: "identity, environment",
        rows: &[
            row(
                "uid",
                &[arg("uid", U32)],
                "The uid the payload runs as inside the user namespace.",
            ),
            row(
                "gid",
                &[arg("gid", U32)],
                "The gid the payload runs as inside the user namespace.",
            ),
            row(
                "groups",
                &[arg("gids", U32List)],
                "The payload's supplementary groups (ids as seen in the box), \
                 replacing groups set before; none clears them. Without it they \
                 are cleared outside a user namespace and left as the kernel makes \
                 them inside one. In a user namespace it needs a gid map the caller \
                 is privileged over (root).",
            ),
            row(
                "umask",
                &[arg("mask", U32)],
                "The payload's file mode creation mask (at most 0o777; checked at \
                 validation).",
            ),
            row(
                "oom_score_adj",
                &[arg("adj", I32)],
                "The payload's `oom_score_adj`, -1000..=1000 (checked at \
                 validation). Lowering it below the caller's needs \
                 `CAP_SYS_RESOURCE`.",
            ),
            row(
                "uid_map",
                &[
                    arg("inside", U32),
                    arg("outside", U32),
                    arg("count", U32).py_default("1"),
                ],
                "Add a uid map line `inside outside count` (replaces the default \
                 single mapping). Mapping ids other than your own needs root.",
            )
            .via("rsandbox::IdMap::new"),
            row(
                "gid_map",
                &[
                    arg("inside", U32),
                    arg("outside", U32),
                    arg("count", U32).py_default("1"),
                ],
                "Add a gid map line `inside outside count` (replaces the default \
                 single mapping). Mapping ids other than your own needs root.",
            )
            .via("rsandbox::IdMap::new"),
            row(
                "host_identity",
                &[],
                "Keep the caller's uid and gid as the box's host identity (the plain \
                 builder's default): a root caller's box is then host root without \
                 capabilities, and reads what root's files allow their owner.",
            ),
            row(
                "unprivileged_identity",
                &[],
                "For a root caller with a user namespace and no explicit map, map the \
                 box's uid and gid to the unprivileged host id 65534 (nobody), so host \
                 files and sockets are checked against their \"other\" permissions; the \
                 payload keeps its uid inside, and its files in a bound directory are \
                 owned by 65534:65534 on the host (the default of \
                 {{`sandbox_strict`|`strict()`}}).",
            ),
            row(
                "hostname",
                &[arg("name", Text)],
                "The hostname inside the box; needs `@uts_ns`.",
            ),
            row(
                "inherit_env",
                &[],
                "Start from the caller's environment (read at spawn) instead of a \
                 clean one holding only PATH.",
            ),
            row(
                "env_remove",
                &[arg("key", Text)],
                "Remove environment variable `key` from the inherited or default set.",
            ),
            row(
                "env_clear",
                &[],
                "Forget every variable set so far and stop inheriting: an empty \
                 environment (not even PATH) unless variables are set after.",
            ),
            row(
                "cwd",
                &[arg("dir", Path)],
                "Working directory inside the box (absolute; default `/`).",
            ),
        ],
    },
    Section {
        title: "process",
        rows: &[
            row(
                "pass_fd",
                &[arg("fd", Fd), arg("target", Fd)],
                "Pass the caller's fd `fd` into the box as fd number `target` \
                 (>= 3). The caller keeps ownership; `fd` must stay open until the \
                 spawn returns.",
            ),
            row(
                "start_gate",
                &[arg("fd", Fd)],
                "Hold the payload, fully set up, just before exec until one byte can \
                 be read from the caller's fd `fd` (EOF makes it exit): the \
                 create/start split of OCI runtimes. The spawn returns once the \
                 payload waits, so a failure of the last steps (seccomp install, \
                 exec) shows as exit status 127. `fd` must stay open until the spawn \
                 returns.",
            ),
            row(
                "controlling_tty",
                &[arg("on", Flag)],
                "Make the payload's stdin (a terminal, e.g. a pty slave passed as \
                 its stdin) the controlling terminal of the box's new session.",
            ),
            row(
                "record_timing",
                &[arg("on", Flag)],
                "Record per-stage timestamps of each spawn (read them with \
                 {{`sandbox_child_spawn_timing_json`|`Child.spawn_timing`}}); \
                 `RSANDBOX_TIMING=1` turns it on for every box.",
            ),
            row(
                "kill_on_drop",
                &[arg("on", Flag)],
                "Kill the whole tree when {{its `sandbox_child_t` is freed|the \
                 `Child` is garbage-collected}} unwaited (default: on).",
            ),
            row(
                "die_with_parent",
                &[arg("on", Flag)],
                "Kill the box when the calling process dies (default: on).",
            ),
            row(
                "listen_fd",
                &[arg("fd", Fd)],
                "Socket activation: pass the caller's listening socket `fd` into the \
                 box. The n-th call's socket is fd 3 + n - 1 in the payload, and \
                 `LISTEN_FDS` / `LISTEN_PID` are set as systemd does. The caller \
                 keeps ownership; `fd` must stay open until the spawn returns.",
            ),
            row(
                "publish_listener",
                &[arg("fd", Fd), arg("box_port", U16)],
                "Like `@publish`, with a listening TCP socket `fd` the caller made \
                 (e.g. bound to port 0 to get a free one). The caller keeps \
                 ownership; `fd` is duplicated at spawn.",
            ),
        ],
    },
    Section {
        title: "filesystem",
        rows: &[
            row(
                "rootfs",
                &[arg("dir", Path)],
                "Use host directory `dir` as the box's `/`, read-only once the steps \
                 are applied. Needs `@mount_ns`.",
            ),
            row(
                "rootfs_rw",
                &[arg("dir", Path)],
                "Like `@rootfs`, but `/` stays writable (writes land in `dir` on the \
                 host).",
            ),
            row(
                "bind",
                &[arg("src", Path), arg("dst", Path)],
                "Bind host path `src` onto `dst` in the box, writable, recursively.",
            ),
            row(
                "ro_bind",
                &[arg("src", Path), arg("dst", Path)],
                "Bind host path `src` onto `dst` in the box, read-only, recursively.",
            ),
            row(
                "tmpfs",
                &[arg("dst", Path), arg("size", Count).c("size_bytes")],
                "Mount a tmpfs of `$size` bytes (> 0) on `dst` in the box.",
            ),
            row(
                "proc",
                &[arg("dst", PathOr("/proc"))],
                "Mount a fresh proc on `dst`.",
            ),
            row(
                "dev",
                &[arg("dst", PathOr("/dev"))],
                "Mount a minimal /dev on `dst`.",
            ),
            row(
                "mqueue",
                &[arg("dst", PathOr("/dev/mqueue"))],
                "Mount a fresh mqueue on `dst` (rootless, it needs `@ipc_ns`).",
            ),
            row(
                "sysfs",
                &[arg("dst", PathOr("/sys"))],
                "Mount a fresh read-only sysfs on `dst` (rootless, it needs \
                 `@net_ns`).",
            ),
            row(
                "dir",
                &[arg("dst", Path)],
                "Create directory `dst` (and missing parents) in the box.",
            ),
            row(
                "symlink",
                &[arg("target", Path), arg("dst", Path)],
                "Create symlink `dst` in the box, pointing to `target`.",
            ),
            row(
                "file",
                &[arg("dst", Path), arg("data", Bytes)],
                "Create file `dst` in the box holding `data`.",
            ),
            row("mask", &[arg("path", Path)], "Hide `path` in the box."),
            row(
                "remount_ro",
                &[arg("path", Path)],
                "Make `path` (and the mounts under it) read-only.",
            ),
            row(
                "bind_nodev",
                &[arg("src", Path), arg("dst", Path)],
                "Like `@bind`, with device nodes unusable under `dst` (`nodev`).",
            ),
            row(
                "ro_bind_nodev",
                &[arg("src", Path), arg("dst", Path)],
                "Like `@ro_bind`, with device nodes unusable under `dst` (`nodev`).",
            ),
            row(
                "rootfs_nodev",
                &[arg("on", Flag)],
                "Make device nodes unusable in the rootfs (`nodev`, recursively).",
            ),
            row(
                "dir_mode",
                &[arg("dst", Path), arg("mode", U32)],
                "Create directory `dst` with permission bits `mode` if it is missing \
                 (missing parents get owner `rwx` and `r-x` for the classes with any \
                 bit in `mode`).",
            ),
            row(
                "chmod",
                &[arg("path", Path), arg("mode", U32)],
                "Give existing `path` in the box the permission bits `mode` (at most \
                 0o7777).",
            ),
            row(
                "bare_fs",
                &[arg("on", Flag)],
                "bubblewrap's filesystem model: nothing is added to the steps; without \
                 a rootfs `/` is an empty writable tmpfs, and a read-only rootfs is made \
                 read-only recursively before the steps.",
            ),
        ],
    },
    Section {
        title: "limits",
        rows: &[
            row(
                "timeout",
                &[arg("seconds", Millis).c("timeout_ms")],
                "Kill the whole tree once it has run this long (wall clock); the \
                 outcome then says {{`SANDBOX_REASON_WALL_TIME_LIMIT`|\
                 `wall_time_limit`}}.",
            ),
            row(
                "grace",
                &[arg("seconds", Millis).c("grace_ms")],
                "With a timeout: send SIGTERM first, and SIGKILL this long later.",
            ),
            row(
                "cpu_time_limit",
                &[arg("seconds", Millis).c("limit_ms")],
                "Limit the CPU time of each process of the box (rounded up to whole \
                 seconds); going over it ends as \
                 {{`SANDBOX_REASON_CPU_TIME_LIMIT`|`cpu_time_limit`}}.",
            ),
            row(
                "memory_limit",
                &[arg("bytes", Count)],
                "Limit the memory of the whole tree to `bytes` (cgroup; swap off); \
                 going over it ends as {{`SANDBOX_REASON_OUT_OF_MEMORY`|\
                 `out_of_memory`}}. Less than 1 MiB is refused at validation.",
            ),
            row(
                "pids_limit",
                &[arg("n", Count)],
                "Limit the number of processes and threads of the whole tree \
                 (cgroup `pids.max`).",
            ),
            row(
                "cpu_limit",
                &[arg("cores", F64)],
                "Limit CPU bandwidth to `cores` CPUs (e.g. 0.5: half of one CPU).",
            ),
            row(
                "cpu_weight",
                &[arg("weight", Count)],
                "Relative CPU weight, 1..=10000 (default 100), against sibling \
                 cgroups.",
            ),
            row(
                "rlimit_nofile",
                &[arg("n", Count)],
                "`RLIMIT_NOFILE`, soft = hard = `n`.",
            ),
            row(
                "rlimit_fsize",
                &[arg("bytes", Count)],
                "`RLIMIT_FSIZE`, soft = hard = `bytes`.",
            ),
            row(
                "rlimit_as",
                &[arg("bytes", Count)],
                "`RLIMIT_AS`, soft = hard = `bytes`.",
            ),
            row(
                "rlimit_stack",
                &[arg("bytes", Count)],
                "`RLIMIT_STACK`, soft = hard = `bytes`.",
            ),
            row(
                "rlimit_core",
                &[arg("bytes", Count)],
                "`RLIMIT_CORE`, soft = hard = `bytes` (the default in a box is 0).",
            ),
            row(
                "rlimit_cpu",
                &[arg("seconds", Count).c("secs")],
                "`RLIMIT_CPU`, soft = `$seconds`, hard = `$seconds` + 1.",
            ),
            row(
                "cgroup_parent",
                &[arg("path", Path)],
                "Create the box's cgroup under `path` instead of under the caller's \
                 own cgroup.",
            ),
            row(
                "accounting",
                &[arg("on", Flag)],
                "Give the box its own cgroup even without cgroup limits, for usage \
                 accounting (peak memory, CPU time) and a reliable kill of the tree.",
            ),
        ],
    },
    Section {
        title: "cgroup knobs",
        rows: &[
            row(
                "device_rules_via_ebpf",
                &[arg("on", Flag)],
                "Enforce the device rules (`@device_rules`) with the cgroup v2 eBPF \
                 program even where a v1 `devices` hierarchy exists (hybrid hosts): \
                 the box then joins its directory in the `unified` cgroup2 \
                 hierarchy, where the program is attached. The verdicts are the \
                 same. Not saved in profiles.",
            ),
            row(
                "cpuset_cpus",
                &[arg("cpus", Text)],
                "Run on these CPUs only (cpuset, e.g. \"0-1,3\").",
            ),
            row(
                "cpuset_mems",
                &[arg("mems", Text)],
                "Use these memory nodes only (cpuset, e.g. \"0\").",
            ),
            row(
                "blkio_weight",
                &[arg("weight", U16)],
                "Block I/O weight, 10..=1000 (blkio / io; the devices' scheduler \
                 must have weights, e.g. bfq).",
            ),
            row(
                "blkio_weight_device",
                &[arg("major", U32), arg("minor", U32), arg("weight", U16)],
                "Block I/O weight, 10..=1000, on device `major:minor`.",
            ),
            row(
                "net_classid",
                &[arg("classid", U32)],
                "Tag the box's packets with this class id (cgroup v1 `net_cls`; an \
                 error at spawn on pure cgroup v2).",
            ),
            row(
                "net_priority",
                &[arg("ifname", Text), arg("prio", U32)],
                "Priority `prio` of the box's traffic on interface `ifname` (cgroup \
                 v1 `net_prio`).",
            ),
        ],
    },
    Section {
        title: "hardening",
        rows: &[
            row(
                "seccomp_default",
                &[],
                "Filter syscalls with the built-in default seccomp profile.",
            ),
            row(
                "seccomp_oci_json",
                &[arg("json", Text)],
                "Filter syscalls with an OCI / Docker JSON seccomp profile given as \
                 text (parsed at validation).",
            ),
            row(
                "seccomp_oci_file",
                &[arg("path", Path)],
                "Filter syscalls with an OCI / Docker JSON seccomp profile read from \
                 host file `path` (parsed at validation).",
            ),
            row(
                "seccomp_bpf",
                &[arg("program", Bytes)],
                "Filter syscalls with a compiled classic BPF program: its `struct \
                 sock_filter` instructions as bytes (8 each, at most 4096), installed as \
                 given.",
            ),
            row(
                "no_seccomp",
                &[],
                "No seccomp filter (e.g. to relax {{`sandbox_strict`|`strict()`}}).",
            ),
            row(
                "drop_caps",
                &[],
                "Drop every capability from every set and lock securebits.",
            ),
            row(
                "keep_all_caps",
                &[],
                "Keep every capability the box would otherwise have (undoes \
                 `@drop_caps`).",
            ),
            row(
                "no_new_privs",
                &[arg("on", Flag)],
                "Set (true) or never set (false) no_new_privs; unset, it is set only \
                 when seccomp or Landlock need it.",
            ),
            row(
                "landlock_read",
                &[arg("path", Path)],
                "Landlock: allow reading beneath `path`; deny every filesystem access \
                 outside the rules.",
            ),
            row(
                "landlock_write",
                &[arg("path", Path)],
                "Landlock: allow reading and writing beneath `path`.",
            ),
            row(
                "landlock_exec",
                &[arg("path", Path)],
                "Landlock: allow reading and executing beneath `path`.",
            ),
            row(
                "landlock_deny_fs",
                &[],
                "Landlock: deny every filesystem access not allowed by a rule.",
            ),
            row(
                "landlock_bind_port",
                &[arg("port", U16)],
                "Landlock: allow binding TCP `port`; every other TCP bind is denied.",
            ),
            row(
                "landlock_connect_port",
                &[arg("port", U16)],
                "Landlock: allow connecting to TCP `port`; every other TCP connect is \
                 denied.",
            ),
            row(
                "landlock_deny_tcp",
                &[],
                "Landlock: deny every TCP bind and connect (unless ports are allowed).",
            ),
            row(
                "landlock_scope_abstract_unix",
                &[],
                "Landlock: deny connecting to abstract unix sockets created outside \
                 the box.",
            ),
            row(
                "landlock_scope_signals",
                &[],
                "Landlock: deny sending signals to processes outside the box.",
            ),
            row(
                "best_effort",
                &[arg("on", Flag)],
                "Best effort for layers that may be unenforceable here \
                 (capabilities, Landlock, cgroup limits): apply what is possible \
                 instead of failing (default: off, strict); the enforcement report \
                 says what is missing.",
            ),
        ],
    },
];

/// Builder methods bound by hand, with the functions that bind them.
pub static HAND_WRITTEN: &[Hand] = &[
    Hand {
        method: "env",
        c: &["sandbox_env"],
        py: &["env", "envs"],
        why: "Python refuses a non-str key or value with a TypeError naming the \
              variable, and takes a whole mapping (envs)",
    },
    Hand {
        method: "stdin",
        c: &["sandbox_stdin", "sandbox_stdin_file"],
        py: &["spawn"],
        why: "a stream kind and fd, or a file (C); Python passes streams to spawn",
    },
    Hand {
        method: "stdout",
        c: &["sandbox_stdout", "sandbox_stdout_file"],
        py: &["spawn"],
        why: "as stdin",
    },
    Hand {
        method: "stderr",
        c: &["sandbox_stderr", "sandbox_stderr_file"],
        py: &["spawn"],
        why: "as stdin",
    },
    Hand {
        method: "overlay",
        c: &["sandbox_overlay"],
        py: &["overlay"],
        why: "an array of paths (C); Python's overlay also takes upper/work",
    },
    Hand {
        method: "overlay_persist",
        c: &["sandbox_overlay_persist"],
        py: &["overlay"],
        why: "Python's overlay with upper= and work=",
    },
    Hand {
        method: "keep_caps",
        c: &["sandbox_keep_caps"],
        py: &["keep_caps"],
        why: "an array of names, each checked as UTF-8 with its index in the error (C)",
    },
    Hand {
        method: "cap_set",
        c: &["sandbox_cap_set"],
        py: &["cap_set"],
        why: "a SANDBOX_CAP_* constant (C) or a set's name (Python), and an array \
              of capability names",
    },
    Hand {
        method: "rlimit",
        c: &["sandbox_rlimit"],
        py: &["rlimit"],
        why: "an RLIMIT_* number (C) or a name (Python); Python's hard defaults to soft",
    },
    Hand {
        method: "net_ns_shared",
        c: &["sandbox_net_ns_shared"],
        py: &["net_ns_shared"],
        why: "a sandbox_netns_t / NetNs handle",
    },
    Hand {
        method: "join_ns",
        c: &["sandbox_join_ns"],
        py: &["join_ns"],
        why: "a CLONE_NEW* flag (C) or a namespace name (Python)",
    },
    Hand {
        method: "device",
        c: &["sandbox_device"],
        py: &["device"],
        why: "a SANDBOX_DEVICE_* constant (C) or a name (Python), Python defaults",
    },
    Hand {
        method: "device_rules",
        c: &["sandbox_device_rules"],
        py: &["device_rules"],
        why: "an array of sandbox_device_rule_t (C) or DeviceRule objects (Python)",
    },
    Hand {
        method: "blkio_throttle",
        c: &["sandbox_blkio_throttle"],
        py: &["blkio_throttle"],
        why: "a SANDBOX_IO_* constant (C) or a name (Python)",
    },
    Hand {
        method: "mount_step",
        c: &["sandbox_mount_step"],
        py: &["mount_step"],
        why: "the step's JSON text (C) or a mapping (Python), parsed by serde",
    },
    Hand {
        method: "publish",
        c: &["sandbox_publish"],
        py: &["publish"],
        why: "an address as text (C), or text or an (ip, port) tuple (Python)",
    },
    Hand {
        method: "egress",
        c: &[
            "sandbox_egress_allow_domain",
            "sandbox_egress_allow_cidr",
            "sandbox_egress_secret",
            "sandbox_egress_resolve_with",
            "sandbox_egress_upstream_ca_pem",
            "sandbox_egress_proxy_port",
            "sandbox_egress_proxy_env",
        ],
        py: &["egress"],
        why: "an EgressPolicy built field by field into the description (C, \
              crates/rsandbox-ffi/src/egress.rs) or an Egress object (Python)",
    },
];

/// Builder methods no binding offers.
pub static UNBOUND: &[Unbound] = &[Unbound {
    method: "seccomp",
    why: "a compiled SeccompPolicy is a Rust value; C and Python load profiles as \
          OCI JSON (seccomp_oci_json, seccomp_oci_file) or take the default",
}];
