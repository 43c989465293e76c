//! Shared set-up for the rsandbox benches: the boxes measured layer by
//! layer, and the peers they are compared with.
//!
//! Run with `cargo bench -p rsandbox-benches` (or `scripts/bench.sh`, which
//! first installs the peers and builds their assets). Nothing here runs in
//! `cargo test`; CI only builds the benches (`cargo bench --no-run`).

pub mod floor;
pub mod oci;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rsandbox::Sandbox;

/// The payload every latency bench spawns and reaps.
pub const PAYLOAD: &str = "/bin/true";

/// Memory limit of the boxes with limits (256 MiB).
pub const MEMORY: u64 = 256 << 20;
/// Pids limit of the boxes with limits.
pub const PIDS: u64 = 256;

/// The boxes measured, layer by layer: (bench id, description).
pub fn layers() -> Vec<(&'static str, Sandbox)> {
    let user_pid = Sandbox::new().user_ns().pid_ns();
    let mount = user_pid.clone().mount_ns();
    let net = mount.clone().net_ns();
    let cgroup = net.clone().memory_limit(MEMORY).pids_limit(PIDS);
    let seccomp = cgroup.clone().seccomp_default();
    vec![
        ("rsandbox user+pid", user_pid),
        ("rsandbox +mount", mount),
        ("rsandbox +net", net),
        ("rsandbox +cgroup", cgroup),
        ("rsandbox +seccomp", seccomp),
        ("rsandbox strict", strict()),
        ("rsandbox strict no-net", strict_no_net()),
    ]
    .into_iter()
    .chain(shared_net_row())
    .collect()
}

/// The shared-net row, or a line saying why it is skipped.
fn shared_net_row() -> Option<(&'static str, Sandbox)> {
    const NAME: &str = "rsandbox strict shared-net";
    match strict_shared_net() {
        Ok(sb) => Some((NAME, sb)),
        Err(e) => {
            skip(NAME, &e);
            None
        }
    }
}

/// `Sandbox::strict()` (seven namespaces, caps dropped, no_new_privs, the
/// default seccomp profile) with the default root view and memory and pids
/// limits.
pub fn strict() -> Sandbox {
    Sandbox::strict()
        .mount_ns()
        .memory_limit(MEMORY)
        .pids_limit(PIDS)
}

/// The strict box without a network namespace.
pub fn strict_no_net() -> Sandbox {
    Sandbox::new()
        .user_ns()
        .pid_ns()
        .mount_ns()
        .uts_ns()
        .ipc_ns()
        .cgroup_ns()
        .drop_caps()
        .no_new_privs(true)
        .seccomp_default()
        .memory_limit(MEMORY)
        .pids_limit(PIDS)
}

/// The strict box in one prepared network namespace shared by every spawn
/// (`Sandbox::net_ns_shared`), made once per process. Needs root
/// (`CAP_SYS_ADMIN`); the error says so otherwise.
pub fn strict_shared_net() -> Result<Sandbox, String> {
    static NS: std::sync::OnceLock<Result<rsandbox::NetNs, String>> = std::sync::OnceLock::new();
    NS.get_or_init(|| rsandbox::NetNs::new().map_err(|e| e.to_string()))
        .as_ref()
        .map(|ns| strict().net_ns_shared(ns))
        .map_err(Clone::clone)
}

/// Spawn `cmd` in `sb` and wait; panics unless it exits 0.
pub fn run_box(sb: &Sandbox, cmd: &rsandbox::Command) {
    let out = sb.status(cmd).expect("spawn the sandbox");
    assert!(out.success(), "sandboxed payload failed: {out:?}");
}

/// Run a peer command and wait; panics unless it exits 0.
pub fn run_cmd(cmd: &mut Command) {
    let st = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("spawn");
    assert!(st.success(), "{cmd:?} failed: {st}");
}

/// Where `scripts/bench.sh` puts the OCI bundle and the VM assets.
pub fn assets() -> PathBuf {
    std::env::var_os("RSANDBOX_BENCH_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
            target.join("bench-assets")
        })
}

/// Full path of `prog` when it is on `PATH` and runs.
pub fn which(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

/// Say plainly that a bench is skipped, and why.
pub fn skip(name: &str, why: &str) {
    eprintln!("SKIPPED {name}: {why} (run scripts/bench.sh to install the peers)");
}

/// The Pss of `pid` in kB (`/proc/<pid>/smaps_rollup`).
pub fn pss_kb(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The children of `pid` (`/proc/<pid>/task/<pid>/children`).
pub fn children(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// `MemAvailable` in kB.
pub fn mem_available_kb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Whether crun would refuse this host's cgroups: a hybrid layout whose
/// cgroup2 hierarchy lists a controller (hugetlb here).
pub fn needs_hybrid_fix() -> bool {
    std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
        .is_ok_and(|s| !s.trim().is_empty())
}

/// Run `f` on a new thread, first moved (when `private_cgroup2`) into a
/// private mount namespace where the hybrid cgroup2 mount is detached, so
/// crun sees plain cgroup v1. The host's mounts are not changed.
pub fn on_thread<T: Send + 'static>(
    private_cgroup2: bool,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        if private_cgroup2 {
            // SAFETY: unshare/mount/umount2 with constant C strings; they
            // affect only this thread's (new) mount namespace.
            unsafe {
                assert_eq!(libc::unshare(libc::CLONE_NEWNS | libc::CLONE_FS), 0);
                libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                );
                libc::umount2(c"/sys/fs/cgroup/unified".as_ptr(), libc::MNT_DETACH);
            }
        }
        f()
    })
    .join()
    .expect("bench thread")
}

/// The default seccomp profile as it was before the allow-list (a deny
/// list: default Allow, 72 rules), kept as the baseline of
/// `benches/seccomp.rs`.
pub fn previous_default_profile() -> rsandbox::seccomp::SeccompPolicy {
    use rsandbox::seccomp::{Action, ArgCmp, SeccompPolicy};
    const DENIED: &[&str] = &[
        "add_key",
        "keyctl",
        "request_key",
        "bpf",
        "perf_event_open",
        "lookup_dcookie",
        "syslog",
        "fanotify_init",
        "init_module",
        "finit_module",
        "delete_module",
        "create_module",
        "get_kernel_syms",
        "query_module",
        "kexec_load",
        "kexec_file_load",
        "reboot",
        "settimeofday",
        "clock_settime",
        "clock_adjtime",
        "adjtimex",
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
        "open_by_handle_at",
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "kcmp",
        "pidfd_getfd",
        "acct",
        "quotactl",
        "quotactl_fd",
        "iopl",
        "ioperm",
        "swapon",
        "swapoff",
        "userfaultfd",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "nfsservctl",
        "uselib",
        "ustat",
        "sysfs",
        "vhangup",
        "afs_syscall",
        "tuxcall",
        "security",
    ];
    let mut p = SeccompPolicy::new(Action::Allow);
    for name in DENIED {
        p = p.rule(*name, Action::EPERM);
    }
    p = p.rule("clone3", Action::ENOSYS);
    for flag in [
        0x20000u64,
        0x0200_0000,
        0x0400_0000,
        0x0800_0000,
        0x1000_0000,
        0x2000_0000,
        0x4000_0000,
    ] {
        p = p.rule_if("clone", Action::EPERM, [ArgCmp::masked_eq(0, flag, flag)]);
    }
    p = p.rule_if(
        "personality",
        Action::EPERM,
        [0x0u64, 0x8, 0x20000, 0x20008, 0xffff_ffff]
            .iter()
            .map(|&v| ArgCmp::ne(0, v).low32()),
    );
    for req in [0x5412u64, 0x541C] {
        p = p.rule_if("ioctl", Action::EPERM, [ArgCmp::eq(1, req).low32()]);
    }
    for fam in [libc::AF_ALG, libc::AF_VSOCK, libc::AF_PACKET] {
        p = p.rule_if("socket", Action::EPERM, [ArgCmp::eq(0, fam as u64).low32()]);
    }
    p
}

/// Run `n` items, `depth` at a time: each is begun by `start`, and the
/// oldest is finished by `finish` once `depth` run. The whole run's time:
/// a throughput figure, as the machine's cores overlap the items' work.
pub fn in_flight<T>(
    n: u64,
    depth: usize,
    mut start: impl FnMut() -> T,
    mut finish: impl FnMut(T),
) -> Duration {
    let begun = Instant::now();
    let mut running = std::collections::VecDeque::with_capacity(depth);
    for _ in 0..n {
        if running.len() == depth {
            running.pop_front().into_iter().for_each(&mut finish);
        }
        running.push_back(start());
    }
    running.into_iter().for_each(finish);
    begun.elapsed()
}
