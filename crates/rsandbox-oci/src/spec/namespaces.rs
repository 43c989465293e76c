//! `linux.namespaces`, the id maps, `hostname`/`domainname` and
//! `linux.sysctl`: what the container gets of its own, and the settings
//! that need it.

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use rsandbox::{IdMap, Sandbox};

use super::{Ctx, OciError, Res};

/// `linux.namespaces`: new ones, or joined by path (mount, pid, network,
/// ipc, uts and cgroup only).
pub(super) fn apply(mut sb: Sandbox, spec: &Spec, cx: &mut Ctx) -> Res<Sandbox> {
    let Some(nss) = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref()) else {
        return Ok(sb);
    };
    for ns in nss {
        if let Some(p) = ns.path() {
            sb = sb.join_ns(joinable(ns.typ(), p)?, p);
            cx.joined_ns.push(ns.typ());
            continue;
        }
        cx.new_ns.push(ns.typ());
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
    Ok(sb)
}

/// The core's namespace for joining `t` at path `p`, or the refusal.
fn joinable(t: LinuxNamespaceType, p: &std::path::Path) -> Res<rsandbox::Namespace> {
    use rsandbox::Namespace as N;
    Ok(match t {
        LinuxNamespaceType::Network => N::Net,
        LinuxNamespaceType::Ipc => N::Ipc,
        LinuxNamespaceType::Uts => N::Uts,
        LinuxNamespaceType::Cgroup => N::Cgroup,
        LinuxNamespaceType::Pid => N::Pid,
        // The rootfs is then built in the joined namespace, as
        // runc does (its root becomes the container's).
        LinuxNamespaceType::Mount => N::Mount,
        other => {
            return Err(OciError::unsupported(
                "linux.namespaces",
                format!(
                    "joining the {} namespace by path ({}) is not supported by \
                     rsandbox-oci (only mount, pid, network, ipc, uts and cgroup can be \
                     joined); ask for a new one (no \"path\")",
                    ns_name(other),
                    p.display()
                ),
            ))
        }
    })
}

/// `linux.uidMappings` and `linux.gidMappings`.
pub(super) fn id_maps(mut sb: Sandbox, spec: &Spec, _cx: &mut Ctx) -> Res<Sandbox> {
    if let Some(l) = spec.linux() {
        for m in l.uid_mappings().iter().flatten() {
            sb = sb.uid_map(IdMap::new(m.container_id(), m.host_id(), m.size()));
        }
        for m in l.gid_mappings().iter().flatten() {
            sb = sb.gid_map(IdMap::new(m.container_id(), m.host_id(), m.size()));
        }
    }
    Ok(sb)
}

/// `hostname` (a builder call) and `domainname` (a sysctl applied by the
/// runtime), each only with a uts namespace of the container's.
pub(super) fn uts(mut sb: Sandbox, spec: &Spec, cx: &mut Ctx) -> Res<Sandbox> {
    if let Some(h) = spec.hostname().as_ref().filter(|h| !h.is_empty()) {
        if !cx.has_ns(LinuxNamespaceType::Uts) {
            return Err(OciError::spec(
                "hostname",
                "needs its own uts namespace (add one to linux.namespaces)",
            ));
        }
        sb = sb.hostname(h.clone());
    }
    if let Some(d) = spec.domainname().as_ref().filter(|d| !d.is_empty()) {
        if !cx.has_ns(LinuxNamespaceType::Uts) {
            return Err(OciError::spec(
                "domainname",
                "needs its own uts namespace (add one to linux.namespaces)",
            ));
        }
        cx.sysctls
            .push(("uts", "kernel.domainname".to_string(), d.clone()));
    }
    Ok(sb)
}

/// `linux.sysctl`: namespaced keys only, each with its namespace; applied
/// by the runtime before `start`, in key order.
pub(super) fn sysctls(sb: Sandbox, spec: &Spec, cx: &mut Ctx) -> Res<Sandbox> {
    let Some(s) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(sb);
    };
    let mut keys: Vec<_> = s.iter().collect();
    keys.sort();
    for (k, v) in keys {
        let Some((file, ns)) = sysctl_ns(k) else {
            return Err(OciError::spec(
                "linux.sysctl",
                format!("{k} is not namespaced (setting it would change the host)"),
            ));
        };
        if !cx.has_ns(ns) {
            return Err(OciError::spec(
                "linux.sysctl",
                format!("{k} needs its own {} namespace", ns_name(ns)),
            ));
        }
        cx.sysctls.push((file, k.clone(), v.clone()));
    }
    Ok(sb)
}

/// The runtime-spec name of a namespace type, for messages.
pub(super) fn ns_name(t: LinuxNamespaceType) -> &'static str {
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
