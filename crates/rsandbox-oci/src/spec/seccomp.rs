//! `linux.seccomp`: the container's filter, checked here and loaded by the
//! core.

use oci_spec::runtime::Spec;
use rsandbox::Sandbox;

use super::{Ctx, OciError, Res};

/// The filter, as the core's OCI JSON.
pub(super) fn apply(sb: Sandbox, spec: &Spec, cx: &mut Ctx) -> Res<Sandbox> {
    match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(seccomp) => Ok(sb.seccomp_oci_json(seccomp_json(seccomp, &mut cx.warnings)?)),
        None => Ok(sb),
    }
}

/// `linux.seccomp` as the JSON the core's loader takes. The loader skips
/// syscall names this machine's tables do not know, as runc does with
/// libseccomp (engines' default profiles list syscalls of newer kernels);
/// they are named in a warning.
pub(super) fn seccomp_json(
    seccomp: &oci_spec::runtime::LinuxSeccomp,
    warnings: &mut Vec<String>,
) -> Res<String> {
    let json = serde_json::to_value(seccomp)
        .map_err(|e| OciError::json("linux.seccomp: serialize", e))?
        .to_string();
    let policy = Sandbox::new()
        .seccomp_oci_json(json.clone())
        .seccomp_config()
        .policy()
        .map_err(|source| OciError::Rejected {
            context: "linux.seccomp",
            source,
        })?;
    if let Some(p) = policy.filter(|p| !p.skipped_syscalls().is_empty()) {
        warnings.push(format!(
            "linux.seccomp: syscalls unknown here, ignored: {}",
            p.skipped_syscalls().join(", ")
        ));
    }
    Ok(json)
}
