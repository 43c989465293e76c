//! `config.json` (runtime-spec) mapped onto the core's [`Sandbox`] builder.
//!
//! This is a translation, not a second implementation: every field either
//! becomes a builder call, is handled by the runtime around the spawn
//! (sysctls, annotations, cgroup path), or is refused with an error that
//! names the field. Fields that cannot change what the payload may do and
//! that the core has no knob for are accepted with a warning (logged).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use rsandbox::{Command, Sandbox};

mod devices;
mod mounts;
mod namespaces;
mod process;
mod resources;
mod root;
mod seccomp;

#[cfg(test)]
use mounts::parse_size;
use process::{apply_process, strip_unknown_caps};
use seccomp::seccomp_json;

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
    pub resources: Option<rsandbox::cgroup::Resources>,
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

use crate::error::{OciError, Res};

/// Load `bundle/config.json`, with the warnings of [`strip_unknown_caps`].
pub fn load(bundle: &Path) -> Res<(Spec, Vec<String>)> {
    let path = bundle.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| OciError::io("read", &path, e))?;
    let parse = |e| OciError::json(format!("parse {}", path.display()), e);
    let mut v: serde_json::Value = serde_json::from_str(&text).map_err(parse)?;
    let mut warnings = Vec::new();
    if let Some(p) = v.get_mut("process") {
        strip_unknown_caps(p, &mut warnings);
    }
    let spec = serde_json::from_value(v).map_err(parse)?;
    Ok((spec, warnings))
}

/// Parse a runtime-spec `process` object (`exec --process`), with the
/// warnings of [`strip_unknown_caps`]. `origin`: the file it was read
/// from, for the message.
pub fn parse_process(text: &str, origin: &Path) -> Res<(oci_spec::runtime::Process, Vec<String>)> {
    let parse = |e| OciError::json(format!("parse {}", origin.display()), e);
    let mut v: serde_json::Value = serde_json::from_str(text).map_err(parse)?;
    let mut warnings = Vec::new();
    strip_unknown_caps(&mut v, &mut warnings);
    Ok((serde_json::from_value(v).map_err(parse)?, warnings))
}

/// What the sections learn about the container and hand on: which
/// namespaces it has, whether its filesystem is set up, and what goes into
/// [`Mapped`] beside the builder.
struct Ctx<'a> {
    bundle: &'a Path,
    /// `root.path`, canonical.
    root_path: PathBuf,
    new_ns: Vec<LinuxNamespaceType>,
    joined_ns: Vec<LinuxNamespaceType>,
    /// A mount namespace (new or joined): root, mounts and devices apply.
    fs_on: bool,
    /// The core's minimal `/dev` is mounted.
    dev_done: bool,
    sysctls: Vec<(&'static str, String, String)>,
    device_rules: Vec<rsandbox::DeviceRule>,
    warnings: Vec<String>,
}

impl Ctx<'_> {
    /// Whether the container has a namespace of type `t`, new or joined.
    fn has_ns(&self, t: LinuxNamespaceType) -> bool {
        self.new_ns.contains(&t) || self.joined_ns.contains(&t)
    }
}

/// One section of `config.json` applied to the builder.
type Section = fn(Sandbox, &Spec, &mut Ctx) -> Res<Sandbox>;

/// The sections, in the order they are applied (and their errors found).
const SECTIONS: [Section; 11] = [
    namespaces::apply,
    root::apply,
    namespaces::id_maps,
    namespaces::uts,
    mounts::apply,
    devices::apply,
    root::paths,
    namespaces::sysctls,
    root::propagation,
    seccomp::apply,
    resources::apply,
];

/// Translate `spec` (from the bundle directory `bundle`) for the core.
pub fn map(spec: &Spec, bundle: &Path) -> Res<Mapped> {
    let sb = Sandbox::new()
        // The container outlives the `create` command.
        .kill_on_drop(false)
        .die_with_parent(false)
        // Always a cgroup: `kill --all`, `delete`, `pause` work on it.
        .accounting(true)
        .env_clear();
    let mut cx = Ctx {
        bundle,
        root_path: root::path(spec, bundle)?,
        new_ns: Vec::new(),
        joined_ns: Vec::new(),
        fs_on: false,
        dev_done: false,
        sysctls: Vec::new(),
        device_rules: Vec::new(),
        warnings: Vec::new(),
    };
    let sb = SECTIONS
        .iter()
        .try_fold(sb, |sb, section| section(sb, spec, &mut cx))?;
    let process = spec.process().as_ref().ok_or_else(|| {
        OciError::spec("process", "missing (create needs the container's process)")
    })?;
    let (sb, command) = apply_process(sb, process, &mut cx.warnings)?;
    sb.validate().map_err(|source| OciError::Rejected {
        context: "config.json",
        source,
    })?;
    let linux = spec.linux().as_ref();
    Ok(Mapped {
        sandbox: sb,
        command,
        sysctls: cx.sysctls,
        cgroups_path: linux.and_then(|l| l.cgroups_path().clone()),
        resources: linux
            .and_then(|l| l.resources().as_ref())
            .map(resources::cgroup_values),
        joins_pid: cx.joined_ns.contains(&LinuxNamespaceType::Pid),
        own_dev: cx.dev_done,
        device_rules: cx.device_rules,
        annotations: spec
            .annotations()
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        warnings: cx.warnings,
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
    sb.validate().map_err(|source| OciError::Rejected {
        context: "exec",
        source,
    })?;
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
                return Err(OciError::unsupported(
                    "exec",
                    "containers with a user namespace are not supported yet",
                ))
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
