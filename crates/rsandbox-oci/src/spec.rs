//! `config.json` (runtime-spec) mapped onto the core's [`Sandbox`] builder.
//!
//! This is a translation, not a second implementation: every field either
//! becomes a builder call, is handled by the runtime around the spawn
//! (sysctls, annotations, cgroup path), or is refused with an error that
//! names the field. Fields that cannot change what the payload may do and
//! that the core has no knob for are accepted with a warning (logged).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, PosixRlimitType, Spec};
use rsandbox::fs::MountStep;
use rsandbox::limits::Resource;
use rsandbox::{Command, IdMap, Sandbox};

/// The default devices of the runtime-spec, all provided by the core's
/// minimal `/dev`.
const DEFAULT_DEVICES: [&str; 6] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];

/// A `config.json` translated for the core.
#[derive(Debug)]
pub struct Mapped {
    /// The box.
    pub sandbox: Sandbox,
    /// The container's process.
    pub command: Command,
    /// Namespaced sysctls, applied by the runtime before `start`:
    /// (namespace file under /proc/PID/ns, key, value).
    pub sysctls: Vec<(&'static str, String, String)>,
    /// `linux.cgroupsPath`, if any.
    pub cgroups_path: Option<PathBuf>,
    /// `linux.resources`, also written to the container's own cgroup
    /// directories (see `cgroups::write_all`).
    pub resources: Option<oci_spec::runtime::LinuxResources>,
    /// `annotations`.
    pub annotations: BTreeMap<String, String>,
    /// Fields accepted but not enforced, for the log.
    pub warnings: Vec<String>,
    /// The PID namespace is joined: the container's process is the core's
    /// waiter's child.
    pub joins_pid: bool,
    /// The container has the core's minimal `/dev` (a tmpfs on `/dev`),
    /// with its own devpts on `/dev/pts`.
    pub own_dev: bool,
    /// Device cgroup rules given to the core (empty when none, or when they
    /// cannot be enforced here), also written to the container's own v1
    /// devices cgroup where there is one.
    pub device_rules: Vec<rsandbox::DeviceRule>,
}

type Res<T> = Result<T, String>;

/// Load `bundle/config.json`, with the warnings of [`strip_unknown_caps`].
pub fn load(bundle: &Path) -> Res<(Spec, Vec<String>)> {
    let path = bundle.join("config.json");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let mut v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("parse {}: {e}", path.display()))?;
    let mut warnings = Vec::new();
    if let Some(p) = v.get_mut("process") {
        strip_unknown_caps(p, &mut warnings);
    }
    let spec = serde_json::from_value(v).map_err(|e| format!("parse {}: {e}", path.display()))?;
    Ok((spec, warnings))
}

/// Parse a runtime-spec `process` object (`exec --process`), with the
/// warnings of [`strip_unknown_caps`].
pub fn parse_process(text: &str) -> Res<(oci_spec::runtime::Process, Vec<String>)> {
    let mut v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut warnings = Vec::new();
    strip_unknown_caps(&mut v, &mut warnings);
    Ok((
        serde_json::from_value(v).map_err(|e| e.to_string())?,
        warnings,
    ))
}

/// Remove from `process.capabilities` the names this kernel does not have
/// (unknown, or beyond `cap_last_cap`), with a warning: runc ignores them
/// the same way, so configs written for newer kernels still run.
fn strip_unknown_caps(process: &mut serde_json::Value, warnings: &mut Vec<String>) {
    let last = rsandbox::caps::cap_last_cap();
    let Some(caps) = process
        .get_mut("capabilities")
        .and_then(|c| c.as_object_mut())
    else {
        return;
    };
    for (set, names) in caps.iter_mut() {
        let Some(names) = names.as_array_mut() else {
            continue;
        };
        names.retain(|n| {
            let name = n.as_str().unwrap_or("");
            let known = rsandbox::caps::parse_cap(name).is_some_and(|c| c <= last);
            if !known {
                warnings.push(format!(
                    "process.capabilities.{set}: {name:?} is unknown or unavailable on \
                     this kernel; ignored"
                ));
            }
            known
        });
    }
}

fn ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

fn rlimit_resource(t: PosixRlimitType) -> Option<Resource> {
    Some(match t {
        PosixRlimitType::RlimitCpu => Resource::Cpu,
        PosixRlimitType::RlimitFsize => Resource::Fsize,
        PosixRlimitType::RlimitData => Resource::Data,
        PosixRlimitType::RlimitStack => Resource::Stack,
        PosixRlimitType::RlimitCore => Resource::Core,
        PosixRlimitType::RlimitNofile => Resource::Nofile,
        PosixRlimitType::RlimitAs => Resource::As,
        PosixRlimitType::RlimitNproc => Resource::Nproc,
        PosixRlimitType::RlimitMemlock => Resource::Memlock,
        PosixRlimitType::RlimitMsgqueue => Resource::Msgqueue,
        PosixRlimitType::RlimitLocks => Resource::Locks,
        PosixRlimitType::RlimitSigpending => Resource::Sigpending,
        _ => return None,
    })
}

/// Parse a tmpfs `size=` option: bytes with an optional k/m/g suffix.
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mul) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1u64 << 10),
        'm' | 'M' => (&s[..s.len() - 1], 1 << 20),
        'g' | 'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// The kernel's default tmpfs size: half of RAM.
fn default_tmpfs_size() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(1 << 20);
    total * 1024 / 2
}

/// Whether `p` will exist in the box: under /proc and /sys (fresh or
/// host-bound kernel filesystems) as on the host, elsewhere as in the rootfs.
fn exists_in_box(rootfs: &Path, p: &Path) -> bool {
    if p.starts_with("/proc") || p.starts_with("/sys") {
        return p.symlink_metadata().is_ok();
    }
    rootfs
        .join(p.strip_prefix("/").unwrap_or(p))
        .symlink_metadata()
        .is_ok()
}

/// Which namespace a sysctl belongs to, or `None` when it is not namespaced
/// (and so would change the host).
fn sysctl_ns(key: &str) -> Option<(&'static str, LinuxNamespaceType)> {
    if key.starts_with("net.") {
        return Some(("net", LinuxNamespaceType::Network));
    }
    if key.starts_with("fs.mqueue.")
        || matches!(
            key,
            "kernel.msgmax"
                | "kernel.msgmnb"
                | "kernel.msgmni"
                | "kernel.sem"
                | "kernel.shmall"
                | "kernel.shmmax"
                | "kernel.shmmni"
                | "kernel.shm_rmid_forced"
        )
    {
        return Some(("ipc", LinuxNamespaceType::Ipc));
    }
    if matches!(key, "kernel.hostname" | "kernel.domainname") {
        return Some(("uts", LinuxNamespaceType::Uts));
    }
    None
}

/// `linux.seccomp` as the JSON the core's loader takes. The loader skips
/// syscall names this machine's tables do not know, as runc does with
/// libseccomp (engines' default profiles list syscalls of newer kernels);
/// they are named in a warning.
fn seccomp_json(
    seccomp: &oci_spec::runtime::LinuxSeccomp,
    warnings: &mut Vec<String>,
) -> Res<String> {
    let json = serde_json::to_value(seccomp)
        .map_err(|e| format!("linux.seccomp: serialize: {e}"))?
        .to_string();
    let policy = Sandbox::new()
        .seccomp_oci_json(json.clone())
        .seccomp_config()
        .policy()
        .map_err(|e| format!("linux.seccomp: {e}"))?;
    if let Some(p) = policy.filter(|p| !p.skipped_syscalls().is_empty()) {
        warnings.push(format!(
            "linux.seccomp: syscalls unknown here, ignored: {}",
            p.skipped_syscalls().join(", ")
        ));
    }
    Ok(json)
}

/// `linux.resources.blockIO` onto the core's blkio knobs. Leaf weights
/// were CFQ's, which Linux 5.0 removed: refused.
fn map_block_io(mut sb: Sandbox, b: &oci_spec::runtime::LinuxBlockIo) -> Res<Sandbox> {
    use rsandbox::cgroup::extra::IoThrottle as T;
    let dev = |major: i64, minor: i64| -> Res<(u32, u32)> {
        match (u32::try_from(major), u32::try_from(minor)) {
            (Ok(a), Ok(b)) => Ok((a, b)),
            _ => Err(format!(
                "linux.resources.blockIO: bad device {major}:{minor}"
            )),
        }
    };
    let leaf = b.leaf_weight().is_some()
        || b.weight_device()
            .iter()
            .flatten()
            .any(|d| d.leaf_weight().is_some());
    if leaf {
        return Err(
            "linux.resources.blockIO: leafWeight is not supported (it was the CFQ \
                    scheduler's, removed in Linux 5.0); remove it"
                .into(),
        );
    }
    if let Some(w) = b.weight() {
        sb = sb.blkio_weight(w);
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            let (ma, mi) = dev(d.major(), d.minor())?;
            sb = sb.blkio_weight_device(ma, mi, w);
        }
    }
    for (which, list) in [
        (T::ReadBps, b.throttle_read_bps_device()),
        (T::WriteBps, b.throttle_write_bps_device()),
        (T::ReadIops, b.throttle_read_iops_device()),
        (T::WriteIops, b.throttle_write_iops_device()),
    ] {
        for d in list.iter().flatten() {
            let (ma, mi) = dev(d.major(), d.minor())?;
            sb = sb.blkio_throttle(which, ma, mi, d.rate());
        }
    }
    Ok(sb)
}

/// The process fields: command, env, cwd, user, capabilities,
/// no_new_privs, rlimits.
fn apply_process(
    mut sb: Sandbox,
    process: &oci_spec::runtime::Process,
    warnings: &mut Vec<String>,
) -> Res<(Sandbox, Command)> {
    let args = process
        .args()
        .as_ref()
        .filter(|a| !a.is_empty())
        .ok_or("process.args: missing or empty")?;
    let command = Command::from_argv(args);
    for kv in process.env().iter().flatten() {
        match kv.split_once('=') {
            Some((k, v)) => sb = sb.env(k, v),
            None => return Err(format!("process.env: {kv:?} has no '='")),
        }
    }
    sb = sb.cwd(process.cwd());
    let user = process.user();
    sb = sb.uid(user.uid()).gid(user.gid());
    if let Some(g) = user.additional_gids() {
        sb = sb.groups(g.iter().copied());
    }
    if let Some(m) = user.umask() {
        sb = sb.umask(m);
    }
    match process.capabilities() {
        None => sb = sb.drop_caps(),
        Some(c) => sb = cap_sets(sb, c, warnings),
    }
    // Explicit either way: without it the core would set no_new_privs for
    // the seccomp filter, and the payload would see it set.
    sb = sb.no_new_privs(process.no_new_privileges() == Some(true));
    for r in process.rlimits().iter().flatten() {
        let res = rlimit_resource(r.typ())
            .ok_or_else(|| format!("process.rlimits: {:?} is not supported", r.typ()))?;
        sb = sb.rlimit(res, r.soft(), r.hard());
    }
    if let Some(adj) = process.oom_score_adj() {
        sb = sb.oom_score_adj(adj);
    }
    use crate::lsm::{refuse, Lsm};
    refuse(
        "process.apparmorProfile",
        process.apparmor_profile().as_deref(),
        Lsm::AppArmor,
    )?;
    refuse(
        "process.selinuxLabel",
        process.selinux_label().as_deref(),
        Lsm::SeLinux,
    )?;
    Ok((sb, command))
}

/// `process.capabilities`: the five sets, each as listed (runc's
/// `libcontainer/capabilities`): a non-root process then keeps across exec
/// only its ambient capabilities, root its bounding set. An ambient
/// capability the kernel would refuse to raise (not also permitted and
/// inheritable) is left out with a warning, as runc does.
fn cap_sets(
    mut sb: Sandbox,
    c: &oci_spec::runtime::LinuxCapabilities,
    warnings: &mut Vec<String>,
) -> Sandbox {
    use rsandbox::CapSet;
    let names = |set: &Option<oci_spec::runtime::Capabilities>| -> Vec<String> {
        let mut v: Vec<String> = set
            .iter()
            .flatten()
            .map(|cap| format!("CAP_{cap}"))
            .collect();
        v.sort();
        v
    };
    let permitted = names(c.permitted());
    let inheritable = names(c.inheritable());
    let (ambient, refused): (Vec<String>, Vec<String>) = names(c.ambient())
        .into_iter()
        .partition(|a| permitted.contains(a) && inheritable.contains(a));
    if !refused.is_empty() {
        warnings.push(format!(
            "process.capabilities.ambient: {} not also permitted and inheritable, so \
             the kernel cannot raise it; left out (as runc does)",
            refused.join(", ")
        ));
    }
    for (set, list) in [
        (CapSet::Bounding, names(c.bounding())),
        (CapSet::Effective, names(c.effective())),
        (CapSet::Permitted, permitted),
        (CapSet::Inheritable, inheritable),
        (CapSet::Ambient, ambient),
    ] {
        sb = sb.cap_set(set, list);
    }
    sb
}

/// Translate `spec` (from the bundle directory `bundle`) for the core.
pub fn map(spec: &Spec, bundle: &Path) -> Res<Mapped> {
    let mut warnings = Vec::new();
    let mut sb = Sandbox::new()
        // The container outlives the `create` command.
        .kill_on_drop(false)
        .die_with_parent(false)
        // Always a cgroup: `kill --all`, `delete`, `pause` work on it.
        .accounting(true)
        .env_clear();

    // Root filesystem.
    let root = spec
        .root()
        .as_ref()
        .ok_or("root: missing (a container needs a root filesystem)")?;
    let root_path = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    let root_path = std::fs::canonicalize(&root_path)
        .map_err(|e| format!("root.path {}: {e}", root_path.display()))?;

    let linux = spec.linux().as_ref();

    // Namespaces.
    let mut new_ns = Vec::new();
    let mut joined_ns = Vec::new();
    if let Some(nss) = linux.and_then(|l| l.namespaces().as_ref()) {
        for ns in nss {
            if let Some(p) = ns.path() {
                use rsandbox::Namespace as N;
                let kind = match ns.typ() {
                    LinuxNamespaceType::Network => N::Net,
                    LinuxNamespaceType::Ipc => N::Ipc,
                    LinuxNamespaceType::Uts => N::Uts,
                    LinuxNamespaceType::Cgroup => N::Cgroup,
                    LinuxNamespaceType::Pid => N::Pid,
                    // The rootfs is then built in the joined namespace, as
                    // runc does (its root becomes the container's).
                    LinuxNamespaceType::Mount => N::Mount,
                    other => {
                        return Err(format!(
                            "linux.namespaces: joining the {} namespace by path ({}) is \
                             not supported by rsandbox-oci (only mount, pid, network, ipc, \
                             uts and cgroup can be joined); ask for a new one (no \"path\")",
                            ns_name(other),
                            p.display()
                        ))
                    }
                };
                sb = sb.join_ns(kind, p);
                joined_ns.push(ns.typ());
                continue;
            }
            new_ns.push(ns.typ());
            sb = match ns.typ() {
                LinuxNamespaceType::Mount => sb.mount_ns(),
                LinuxNamespaceType::Cgroup => sb.cgroup_ns(),
                LinuxNamespaceType::Uts => sb.uts_ns(),
                LinuxNamespaceType::Ipc => sb.ipc_ns(),
                LinuxNamespaceType::User => sb.user_ns(),
                LinuxNamespaceType::Pid => sb.pid_ns(),
                LinuxNamespaceType::Network => sb.net_ns(),
                LinuxNamespaceType::Time => sb.time_ns(),
            };
        }
    }
    // Without a mount namespace runc skips the whole filesystem setup (it
    // could only be done in the host's): the process sees the host's
    // filesystem. The same here, said in a warning.
    let fs_on = new_ns.contains(&LinuxNamespaceType::Mount)
        || joined_ns.contains(&LinuxNamespaceType::Mount);
    if fs_on {
        sb = if root.readonly().unwrap_or(false) {
            sb.rootfs(&root_path)
        } else {
            sb.rootfs_rw(&root_path)
        };
    } else {
        warnings.push(
            "linux.namespaces: no mount namespace: root, mounts, devices, maskedPaths \
             and readonlyPaths are not applied; the process sees the host's filesystem \
             (as with runc)"
                .into(),
        );
    }

    // Id maps.
    if let Some(l) = linux {
        for m in l.uid_mappings().iter().flatten() {
            sb = sb.uid_map(IdMap::new(m.container_id(), m.host_id(), m.size()));
        }
        for m in l.gid_mappings().iter().flatten() {
            sb = sb.gid_map(IdMap::new(m.container_id(), m.host_id(), m.size()));
        }
    }

    // Hostname.
    if let Some(h) = spec.hostname() {
        if !h.is_empty() {
            if !new_ns.contains(&LinuxNamespaceType::Uts)
                && !joined_ns.contains(&LinuxNamespaceType::Uts)
            {
                return Err("hostname: needs its own uts namespace".into());
            }
            sb = sb.hostname(h.clone());
        }
    }
    let mut sysctls = Vec::new();
    let mut device_rules = Vec::new();
    if let Some(d) = spec.domainname() {
        if !d.is_empty() {
            if !new_ns.contains(&LinuxNamespaceType::Uts)
                && !joined_ns.contains(&LinuxNamespaceType::Uts)
            {
                return Err("domainname: needs its own uts namespace".into());
            }
            sysctls.push(("uts", "kernel.domainname".to_string(), d.clone()));
        }
    }

    // Mounts.
    let mut dev_done = false;
    let mut sys_bound: Option<PathBuf> = None;
    let mut sys_fresh: Option<PathBuf> = None;
    let rootless_without = |ns: LinuxNamespaceType| {
        new_ns.contains(&LinuxNamespaceType::User)
            && !new_ns.contains(&ns)
            && !joined_ns.contains(&ns)
    };
    for m in spec.mounts().iter().flatten().filter(|_| fs_on) {
        let dst = m.destination();
        if !dst.is_absolute() {
            return Err(format!(
                "mounts: destination {} must be absolute",
                dst.display()
            ));
        }
        let opts: Vec<&str> = m.options().iter().flatten().map(String::as_str).collect();
        let typ = m.typ().as_deref().unwrap_or("");
        let is_bind = opts.iter().any(|o| *o == "bind" || *o == "rbind") || typ == "bind";
        let ro = opts.contains(&"ro");
        if is_bind {
            let src = m
                .source()
                .as_ref()
                .ok_or_else(|| format!("mounts: bind on {} has no source", dst.display()))?;
            let src = if src.is_absolute() {
                src.clone()
            } else {
                bundle.join(src)
            };
            sb = if ro {
                sb.ro_bind(src, dst)
            } else {
                sb.bind(src, dst)
            };
            continue;
        }
        match typ {
            "proc" => sb = sb.proc(dst),
            "tmpfs" if dst == Path::new("/dev") => {
                sb = sb.dev("/dev");
                dev_done = true;
            }
            "tmpfs" => {
                let size = opts
                    .iter()
                    .find_map(|o| o.strip_prefix("size="))
                    .map(|s| {
                        parse_size(s)
                            .ok_or_else(|| format!("mounts: {}: bad size={s}", dst.display()))
                    })
                    .transpose()?
                    .unwrap_or_else(default_tmpfs_size);
                let mode = opts
                    .iter()
                    .find_map(|o| o.strip_prefix("mode="))
                    .map(|s| {
                        u32::from_str_radix(s, 8)
                            .ok()
                            .filter(|m| *m <= 0o7777)
                            .ok_or_else(|| format!("mounts: {}: bad mode={s}", dst.display()))
                    })
                    .transpose()?;
                // runtime-tools checks the source mountinfo shows.
                let source = m
                    .source()
                    .as_ref()
                    .map(|s| s.to_string_lossy().into_owned())
                    .filter(|s| !s.is_empty());
                sb = sb.mount_step(MountStep::Tmpfs {
                    dst: dst.clone(),
                    size,
                    source,
                    mode,
                });
                if ro {
                    sb = sb.remount_ro(dst);
                }
            }
            "devpts" if dev_done && dst == Path::new("/dev/pts") => {}
            // In a user namespace the kernel mounts mqueue only for an IPC
            // namespace, and sysfs only for a network namespace, of the box.
            "mqueue" if rootless_without(LinuxNamespaceType::Ipc) => warnings.push(format!(
                "mounts: mqueue on {} not mounted (a user namespace without \
                     its own ipc namespace)",
                dst.display()
            )),
            "mqueue" => sb = sb.mqueue(dst),
            "sysfs" if rootless_without(LinuxNamespaceType::Network) => {
                warnings.push(format!(
                    "mounts: sysfs on {}: the host's /sys is bound read-only (a user \
                     namespace without its own network namespace)",
                    dst.display()
                ));
                sb = sb.ro_bind("/sys", dst);
                sys_bound = Some(dst.clone());
            }
            "sysfs" => {
                if !ro {
                    warnings.push(format!(
                        "mounts: sysfs on {} is mounted read-only",
                        dst.display()
                    ));
                }
                sb = sb.sysfs(dst);
                sys_fresh = Some(dst.clone());
            }
            "cgroup" | "cgroup2" if sys_bound.as_ref().is_some_and(|s| dst.starts_with(s)) => {}
            "cgroup" | "cgroup2" if sys_fresh.as_ref().is_some_and(|s| dst.starts_with(s)) => {
                // What binding the host's /sys showed before there was a
                // sysfs step: the host's cgroup tree, read-only.
                warnings.push(format!(
                    "mounts: {typ} on {}: the host's /sys/fs/cgroup is bound read-only",
                    dst.display()
                ));
                sb = sb.ro_bind("/sys/fs/cgroup", dst);
            }
            other => {
                return Err(format!(
                    "mounts: type {other:?} on {} is not supported by rsandbox-oci \
                     (supported: bind, proc, tmpfs, sysfs, devpts on /dev/pts, mqueue)",
                    dst.display()
                ))
            }
        }
    }
    if fs_on && !dev_done {
        warnings.push("mounts: no tmpfs on /dev; the rootfs's /dev is used as is".into());
    }

    if let Some(l) = linux {
        for d in l.devices().iter().flatten().filter(|_| fs_on) {
            let p = d.path();
            if !p.is_absolute() {
                return Err(format!(
                    "linux.devices: {} must be an absolute path",
                    p.display()
                ));
            }
            if dev_done && DEFAULT_DEVICES.contains(&p.to_string_lossy().as_ref()) {
                // The minimal /dev binds the host's node.
                continue;
            }
            use oci_spec::runtime::LinuxDeviceType as T;
            use rsandbox::fs::DeviceKind as K;
            let kind = match d.typ() {
                T::C | T::U => K::Char,
                T::B => K::Block,
                T::P => K::Fifo,
                T::A => {
                    return Err(format!(
                        "linux.devices: {}: type \"a\" is for the device cgroup only",
                        p.display()
                    ))
                }
            };
            let to_u32 = |v: i64, what: &str| {
                u32::try_from(v)
                    .map_err(|_| format!("linux.devices: {}: bad {what} {v}", p.display()))
            };
            sb = sb.device(
                p,
                kind,
                to_u32(d.major(), "major")?,
                to_u32(d.minor(), "minor")?,
                d.file_mode().unwrap_or(0o666),
                d.uid().unwrap_or(0),
                d.gid().unwrap_or(0),
            );
        }
        for p in l.masked_paths().iter().flatten().filter(|_| fs_on) {
            sb = sb.mask(p);
        }
        for p in l.readonly_paths().iter().flatten().filter(|_| fs_on) {
            // runc ignores a read-only path that does not exist.
            if exists_in_box(&root_path, Path::new(p)) {
                sb = sb.remount_ro(p);
            }
        }
        crate::lsm::refuse(
            "linux.mountLabel",
            l.mount_label().as_deref(),
            crate::lsm::Lsm::SeLinux,
        )?;
        if let Some(s) = l.sysctl() {
            let mut keys: Vec<_> = s.iter().collect();
            keys.sort();
            for (k, v) in keys {
                let Some((file, ns)) = sysctl_ns(k) else {
                    return Err(format!(
                        "linux.sysctl: {k} is not namespaced (setting it would change \
                         the host)"
                    ));
                };
                if !new_ns.contains(&ns) && !joined_ns.contains(&ns) {
                    return Err(format!(
                        "linux.sysctl: {k} needs its own {} namespace",
                        ns_name(ns)
                    ));
                }
                sysctls.push((file, k.clone(), v.clone()));
            }
        }
        if let Some(p) = l.rootfs_propagation() {
            if !p.is_empty() && p != "private" && p != "rprivate" {
                warnings.push(format!(
                    "linux.rootfsPropagation {p:?}: mounts are always private"
                ));
            }
        }
        if let Some(seccomp) = l.seccomp() {
            let json = seccomp_json(seccomp, &mut warnings)?;
            sb = sb.seccomp_oci_json(json);
        }
        if let Some(r) = l.resources() {
            if let Some(m) = r.memory() {
                if let Some(limit) = m.limit() {
                    if limit > 0 {
                        sb = sb.memory_limit(limit as u64);
                    }
                }
                if m.kernel().is_some() || m.kernel_tcp().is_some() {
                    warnings.push(
                        "linux.resources.memory.kernel*: kernel memory limits do not \
                         exist on cgroup v2 / Linux 6.x; ignored"
                            .into(),
                    );
                }
            }
            if let Some(p) = r.pids() {
                if p.limit() > 0 {
                    sb = sb.pids_limit(p.limit() as u64);
                }
            }
            if let Some(c) = r.cpu() {
                if let (Some(q), Some(per)) = (c.quota(), c.period()) {
                    if q > 0 && per > 0 {
                        sb = sb.cpu_limit(q as f64 / per as f64);
                    }
                }
                if let Some(shares) = c.shares() {
                    if shares > 0 {
                        // runc's conversion of v1 shares to a v2 weight.
                        let w = crate::cgroups::shares_to_weight(shares);
                        sb = sb.cpu_weight(w);
                    }
                }
                if let Some(s) = c.cpus().as_ref().filter(|s| !s.is_empty()) {
                    sb = sb.cpuset_cpus(s.clone());
                }
                if let Some(s) = c.mems().as_ref().filter(|s| !s.is_empty()) {
                    sb = sb.cpuset_mems(s.clone());
                }
            }
            if r.hugepage_limits().as_ref().is_some_and(|v| !v.is_empty()) {
                return Err("linux.resources.hugepageLimits: not supported".into());
            }
            if let Some(b) = r.block_io() {
                sb = map_block_io(sb, b)?;
            }
            if let Some(n) = r.network() {
                if let Some(id) = n.class_id() {
                    sb = sb.net_classid(id);
                }
                for p in n.priorities().iter().flatten() {
                    sb = sb.net_priority(p.name().clone(), p.priority());
                }
            }
            if let Some(d) = r.devices().as_ref().filter(|v| !v.is_empty()) {
                let rules = crate::devices::rules(d)?;
                match crate::devices::enforceable() {
                    Ok(()) => {
                        sb = sb
                            .device_rules(rules.clone())
                            .device_rules_via_ebpf(crate::devices::force_ebpf());
                        device_rules = rules;
                    }
                    Err(why) => warnings.push(format!(
                        "linux.resources.devices: not enforced: {why}; the minimal /dev \
                         holds only the default devices, but a process with CAP_MKNOD \
                         can make and open others"
                    )),
                }
            }
        }
    }

    // Process.
    let process = spec
        .process()
        .as_ref()
        .ok_or("process: missing (create needs the container's process)")?;
    let (sb, command) = apply_process(sb, process, &mut warnings)?;

    let annotations = spec
        .annotations()
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();

    sb.validate().map_err(|e| format!("config.json: {e}"))?;
    Ok(Mapped {
        sandbox: sb,
        command,
        sysctls,
        cgroups_path: linux.and_then(|l| l.cgroups_path().clone()),
        resources: linux.and_then(|l| l.resources().clone()),
        joins_pid: joined_ns.contains(&LinuxNamespaceType::Pid),
        own_dev: dev_done,
        device_rules,
        annotations,
        warnings,
    })
}

/// A process run in the running container whose first process's
/// `/proc/PID` is `proc_dir` (`exec`; see `target::Target::proc_path`):
/// it joins every namespace the container has, gets the container's
/// seccomp filter, and `process`'s command, env, cwd, user, capabilities
/// and rlimits. It gets no cgroup of its own (documented).
pub fn exec_sandbox(
    spec: &Spec,
    process: &oci_spec::runtime::Process,
    proc_dir: &Path,
) -> Res<(Sandbox, Command, Vec<String>)> {
    let mut warnings = Vec::new();
    let sb = Sandbox::new()
        .kill_on_drop(false)
        .die_with_parent(false)
        .env_clear();
    let mut sb = join_container(sb, spec, proc_dir, true, &mut warnings)?;
    let linux = spec.linux().as_ref();
    if let Some(seccomp) = linux.and_then(|l| l.seccomp().as_ref()) {
        let json = seccomp_json(seccomp, &mut warnings)?;
        sb = sb.seccomp_oci_json(json);
    }
    let (sb, command) = apply_process(sb, process, &mut warnings)?;
    sb.validate().map_err(|e| format!("exec: {e}"))?;
    Ok((sb, command, warnings))
}

/// `sb` joining the namespaces `spec` gives the container whose first
/// process's `/proc/PID` is `proc_dir`; its mount namespace only with
/// `mount` (without, the process keeps the runtime's filesystem view).
pub fn join_container(
    mut sb: Sandbox,
    spec: &Spec,
    proc_dir: &Path,
    mount: bool,
    warnings: &mut Vec<String>,
) -> Res<Sandbox> {
    let linux = spec.linux().as_ref();
    for ns in linux
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
    {
        use rsandbox::Namespace as N;
        let (kind, file) = match ns.typ() {
            LinuxNamespaceType::Mount if !mount => continue,
            LinuxNamespaceType::Mount => (N::Mount, "mnt"),
            LinuxNamespaceType::Pid => (N::Pid, "pid"),
            LinuxNamespaceType::Network => (N::Net, "net"),
            LinuxNamespaceType::Ipc => (N::Ipc, "ipc"),
            LinuxNamespaceType::Uts => (N::Uts, "uts"),
            LinuxNamespaceType::Cgroup => (N::Cgroup, "cgroup"),
            LinuxNamespaceType::User => {
                return Err("exec: containers with a user namespace are not supported yet".into())
            }
            LinuxNamespaceType::Time => {
                warnings.push("exec: the time namespace is not joined".into());
                continue;
            }
        };
        sb = sb.join_ns(kind, proc_dir.join("ns").join(file));
    }
    Ok(sb)
}

/// The group of new terminals in the container's devpts: the `gid=` of
/// its `devpts` mount (5, `tty`, in engines' configs), as a host gid
/// (through `linux.gidMappings` with a user namespace); `None` when not
/// given or not mapped.
pub fn devpts_gid(spec: &Spec) -> Option<u32> {
    let gid: u32 = spec
        .mounts()
        .iter()
        .flatten()
        .find(|m| m.typ().as_deref() == Some("devpts"))?
        .options()
        .iter()
        .flatten()
        .find_map(|o| o.strip_prefix("gid="))?
        .parse()
        .ok()?;
    let linux = spec.linux().as_ref();
    let userns = linux
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|n| n.iter().any(|ns| ns.typ() == LinuxNamespaceType::User));
    if !userns {
        return Some(gid);
    }
    linux?.gid_mappings().iter().flatten().find_map(|m| {
        let off = gid.checked_sub(m.container_id())?;
        (off < m.size()).then(|| m.host_id() + off)
    })
}

/// Whether `spec`'s container has a PID namespace of its own (so a process
/// joining it is forked into it by a waiter outside).
pub fn has_pid_ns(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|n| n.iter().any(|ns| ns.typ() == LinuxNamespaceType::Pid))
}

#[cfg(test)]
mod tests;
