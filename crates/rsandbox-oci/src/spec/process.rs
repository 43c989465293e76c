//! `process`: the container's command, env, cwd, user, capabilities,
//! no_new_privs, rlimits, oom score and LSM labels.

use oci_spec::runtime::PosixRlimitType;
use rsandbox::limits::Resource;
use rsandbox::{Command, Sandbox};

use super::{OciError, Res};

/// Remove from `process.capabilities` the names this kernel does not have
/// (unknown, or beyond `cap_last_cap`), with a warning: runc ignores them
/// the same way, so configs written for newer kernels still run.
pub(super) fn strip_unknown_caps(process: &mut serde_json::Value, warnings: &mut Vec<String>) {
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

/// The process fields: command, env, cwd, user, capabilities,
/// no_new_privs, rlimits.
pub(super) fn apply_process(
    mut sb: Sandbox,
    process: &oci_spec::runtime::Process,
    warnings: &mut Vec<String>,
) -> Res<(Sandbox, Command)> {
    let args = process
        .args()
        .as_ref()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| OciError::spec("process.args", "missing or empty"))?;
    let command = Command::from_argv(args);
    for kv in process.env().iter().flatten() {
        match kv.split_once('=') {
            Some((k, v)) => sb = sb.env(k, v),
            None => {
                return Err(OciError::spec(
                    "process.env",
                    format!("{kv:?} has no '=' (KEY=VALUE)"),
                ))
            }
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
        let res = rlimit_resource(r.typ()).ok_or_else(|| {
            OciError::unsupported("process.rlimits", format!("{:?} is not supported", r.typ()))
        })?;
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
