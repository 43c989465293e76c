//! What this machine supports: probed, not assumed.
//!
//! Used by `rsandbox check`, by the bindings, and by tests that must say why
//! a feature cannot be exercised here.

use serde::{Deserialize, Serialize};

use crate::ns::Namespace;

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupMount {
    /// `1` or `2`.
    pub version: u8,
    /// Mount point.
    pub path: String,
    /// Controllers: for v1 the mount options naming them; for v2 the root's
    /// `cgroup.controllers`.
    pub controllers: Vec<String>,
}

/// The machine's sandboxing features.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Features {
    /// `uname -r`.
    pub kernel: String,
    /// Machine architecture (`uname -m`).
    pub arch: String,
    /// Effective uid of the caller.
    pub euid: u32,
    /// Namespaces the kernel offers.
    pub namespaces: Vec<Namespace>,
    /// Whether the caller can create a user namespace (probed with a real
    /// clone, so sysctls and security modules are accounted for).
    pub user_namespaces: bool,
    /// Why not, when [`user_namespaces`](Self::user_namespaces) is false:
    /// the error a strict box gets here (the reason and the fix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_namespaces_error: Option<String>,
    /// Whether a user that is not root may (`user.max_user_namespaces` > 0
    /// and no `kernel.unprivileged_userns_clone = 0`).
    pub unprivileged_user_namespaces: bool,
    /// `clone3` is available.
    pub clone3: bool,
    /// pidfds are available (`pidfd_open`).
    pub pidfd: bool,
    /// Seccomp filters are available.
    pub seccomp: bool,
    /// The Landlock ABI version, 0 when unavailable.
    pub landlock_abi: u32,
    /// `mount_setattr` is available (recursive read-only binds).
    pub mount_setattr: bool,
    /// Overlay layers can be given as fds (`lowerdir+`, Linux 6.8), which
    /// [`Sandbox::overlay`](crate::Sandbox::overlay) needs.
    #[serde(default)]
    pub overlay_fd_layers: bool,
    /// Cgroup hierarchies mounted.
    pub cgroups: Vec<CgroupMount>,
    /// `"v2"` (pure), `"hybrid"`, `"v1"` or `"none"`.
    pub cgroup_layout: String,
    /// How [`Sandbox::device_rules`](crate::Sandbox::device_rules) would be
    /// enforced for this caller: `"cgroup v1 devices"`, `"eBPF (cgroup v2)"`,
    /// or `"no: "` and why.
    #[serde(default)]
    pub device_rules: String,
}

/// Whether overlayfs takes its layers as fds (`lowerdir+` with
/// `FSCONFIG_SET_FD`, Linux 6.8). Known from the version: probing would
/// need `CAP_SYS_ADMIN`.
pub fn overlay_fd_layers() -> bool {
    crate::sys::kernel::overlay_fd_layers()
}

fn syscall_exists(nr: libc::c_long, args: [libc::c_long; 3]) -> bool {
    // SAFETY: every probe passes invalid arguments (bad fds, NULL pointers)
    // so it can only fail; we look at errno for ENOSYS only.
    let r = unsafe { libc::syscall(nr, args[0], args[1], args[2]) };
    !(r < 0 && crate::sys::errno() == libc::ENOSYS)
}

/// The Landlock ABI version (0 when Landlock is unavailable).
pub fn landlock_abi() -> u32 {
    crate::sys::kernel::landlock_abi()
}

fn read_trim(p: &str) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

/// The cgroup hierarchies in `/proc/self/mountinfo`.
pub fn cgroup_mounts() -> Vec<CgroupMount> {
    const KNOWN: [&str; 14] = [
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "net_cls",
        "blkio",
        "perf_event",
        "net_prio",
        "hugetlb",
        "pids",
        "rdma",
        "misc",
    ];
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    crate::cgroup::detect::cgroup_mount_lines(&info)
        .map(|m| {
            let (version, controllers) = if m.fstype == "cgroup2" {
                let file = format!("{}/cgroup.controllers", m.mountpoint);
                let have = read_trim(&file).unwrap_or_default();
                (2, have.split_whitespace().map(String::from).collect())
            } else {
                let named = |o: &&str| KNOWN.contains(o) || o.starts_with("name=");
                (
                    1,
                    m.opts.split(',').filter(named).map(String::from).collect(),
                )
            };
            CgroupMount {
                version,
                path: m.mountpoint,
                controllers,
            }
        })
        .collect()
}

/// Probe this machine.
pub fn probe() -> Features {
    let (kernel, arch) = crate::sys::kernel::uname();
    let cgroups = cgroup_mounts();
    let has_v1 = cgroups.iter().any(|c| c.version == 1);
    let has_v2 = cgroups.iter().any(|c| c.version == 2);
    let cgroup_layout = match (has_v1, has_v2) {
        (false, true) => "v2",
        (true, true) => "hybrid",
        (true, false) => "v1",
        (false, false) => "none",
    }
    .to_string();
    let max_userns = read_trim("/proc/sys/user/max_user_namespaces")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    let unpriv_clone = read_trim("/proc/sys/kernel/unprivileged_userns_clone")
        .map(|s| s != "0")
        .unwrap_or(true);
    let apparmor_restrict = read_trim("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
        .map(|s| s == "1")
        .unwrap_or(false);
    let userns = probe_userns();
    Features {
        kernel,
        arch,
        // SAFETY: trivial getter.
        euid: unsafe { libc::geteuid() },
        namespaces: Namespace::ALL
            .into_iter()
            .filter(|n| n.supported())
            .collect(),
        user_namespaces: userns.is_ok(),
        user_namespaces_error: userns.err(),
        unprivileged_user_namespaces: max_userns > 0 && unpriv_clone && !apparmor_restrict,
        clone3: syscall_exists(libc::SYS_clone3, [0, 0, 0]),
        pidfd: syscall_exists(libc::SYS_pidfd_open, [-1, 0, 0]),
        seccomp: std::fs::read_to_string("/proc/self/status")
            .map(|s| s.contains("\nSeccomp:"))
            .unwrap_or(false),
        landlock_abi: landlock_abi(),
        mount_setattr: syscall_exists(libc::SYS_mount_setattr, [-1, 0, 0]),
        overlay_fd_layers: overlay_fd_layers(),
        device_rules: device_rules(),
        cgroups,
        cgroup_layout,
    }
}

/// What would enforce device rules here (see `cgroup/devices.rs`).
fn device_rules() -> String {
    match crate::cgroup::devices::enforcement(false) {
        Ok(how) => how.into(),
        Err(why) => format!("no: {why}"),
    }
}

/// Spawn `/bin/true` in a user namespace to learn whether the caller may;
/// the error says why not.
fn probe_userns() -> Result<(), String> {
    let sb = crate::Sandbox::new()
        .user_ns()
        .stdout(crate::Stdio::Null)
        .stderr(crate::Stdio::Null);
    let prog = ["/bin/true", "/usr/bin/true"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .ok_or("no /bin/true to probe with")?;
    match sb.status(&crate::Command::new(prog)) {
        Ok(o) if o.success() => Ok(()),
        Ok(o) => Err(format!("the probe exited with {:?}", o.status)),
        Err(e) => Err(e.to_string()),
    }
}
