//! `linux.devices`: device nodes made in the container's `/dev`.

use oci_spec::runtime::{LinuxDevice, Spec};
use rsandbox::Sandbox;

use super::{Ctx, OciError, Res};

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

/// Every device (with a mount namespace); those the minimal `/dev`
/// already has are skipped.
pub(super) fn apply(mut sb: Sandbox, spec: &Spec, cx: &mut Ctx) -> Res<Sandbox> {
    let Some(l) = spec.linux() else {
        return Ok(sb);
    };
    for d in l.devices().iter().flatten().filter(|_| cx.fs_on) {
        let p = d.path();
        if !p.is_absolute() {
            return Err(OciError::spec(
                "linux.devices",
                format!("{} must be an absolute path", p.display()),
            ));
        }
        if cx.dev_done && DEFAULT_DEVICES.contains(&p.to_string_lossy().as_ref()) {
            // The minimal /dev binds the host's node.
            continue;
        }
        sb = node(sb, d)?;
    }
    Ok(sb)
}

/// One device node: its kind, numbers, mode and owner.
fn node(sb: Sandbox, d: &LinuxDevice) -> Res<Sandbox> {
    use oci_spec::runtime::LinuxDeviceType as T;
    use rsandbox::fs::DeviceKind as K;
    let p = d.path();
    let kind = match d.typ() {
        T::C | T::U => K::Char,
        T::B => K::Block,
        T::P => K::Fifo,
        T::A => {
            return Err(OciError::spec(
                "linux.devices",
                format!(
                    "{}: type \"a\" is for the device cgroup only (linux.resources.devices)",
                    p.display()
                ),
            ))
        }
    };
    let to_u32 = |v: i64, what: &str| {
        u32::try_from(v).map_err(|_| {
            OciError::spec("linux.devices", format!("{}: bad {what} {v}", p.display()))
        })
    };
    Ok(sb.device(
        p,
        kind,
        to_u32(d.major(), "major")?,
        to_u32(d.minor(), "minor")?,
        d.file_mode().unwrap_or(0o666),
        d.uid().unwrap_or(0),
        d.gid().unwrap_or(0),
    ))
}
