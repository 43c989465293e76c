//! `linux.resources.devices`: the config's device cgroup rules, then the
//! default devices every container gets (as runc and crun allow them), for
//! the core's [`Sandbox::device_rules`](rsandbox::Sandbox::device_rules)
//! and the container's own v1 `devices` directory.
//!
//! Enforced by the core: with the v1 `devices` controller where one is
//! mounted, else (pure cgroup v2) with an eBPF device program on the
//! container's cgroup. Only where neither can be had (no cgroup2 either,
//! or a runtime without `CAP_SYS_ADMIN` to load the program) are the rules
//! accepted with a warning and not enforced: engines such as podman always
//! send device rules, and refusing them would make every container fail
//! there.

use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
use rsandbox::DeviceRule;

use crate::error::{OciError, Res};

/// Allowed after the config's rules (runc's `AllowedDevices`): mknod of
/// any node (opening it is what the rules decide), and the default devices
/// of the runtime-spec, the pseudo-terminals and `/dev/ptmx`.
fn defaults() -> Vec<DeviceRule> {
    let c = |ma, mi| DeviceRule::allow('c', Some(ma), mi, "rwm");
    vec![
        DeviceRule::allow('c', None, None, "m"),
        DeviceRule::allow('b', None, None, "m"),
        c(1, Some(3)), // null
        c(1, Some(8)), // random
        c(1, Some(7)), // full
        c(5, Some(0)), // tty
        c(1, Some(5)), // zero
        c(1, Some(9)), // urandom
        c(136, None),  // pts
        c(5, Some(2)), // ptmx
    ]
}

/// Test hook: `RSANDBOX_OCI_DEVICES_EBPF=1` in `create`'s environment
/// enforces the rules with the eBPF program even where the v1 controller
/// exists (the core's `device_rules_via_ebpf`), so the pure-v2 path is
/// tested on hybrid hosts.
pub fn force_ebpf() -> bool {
    std::env::var_os("RSANDBOX_OCI_DEVICES_EBPF").is_some_and(|v| v == "1")
}

/// Why the core cannot enforce device rules here (`None`: it can).
pub fn unenforceable() -> Option<String> {
    rsandbox::cgroup::devices::enforcement(force_ebpf()).err()
}

/// The rules for `config`: its own in order, the defaults, then its denials
/// of a precise device again (so an explicit "deny /dev/zero" holds over
/// the default that allows it; a wildcard denial, usually the leading
/// deny-all, is not repeated).
pub fn rules(config: &[LinuxDeviceCgroup]) -> Res<Vec<DeviceRule>> {
    let mut own = Vec::new();
    for (i, d) in config.iter().enumerate() {
        let field = || format!("linux.resources.devices[{i}]");
        let kind = match d.typ().unwrap_or_default() {
            LinuxDeviceType::A => 'a',
            LinuxDeviceType::B => 'b',
            LinuxDeviceType::C | LinuxDeviceType::U => 'c',
            LinuxDeviceType::P => {
                return Err(OciError::spec(
                    field(),
                    "type \"p\" (fifo) has no device cgroup rule: use a, b or c",
                ))
            }
        };
        let num = |v: Option<i64>, what: &str| -> Res<Option<u32>> {
            match v {
                None | Some(-1) => Ok(None),
                Some(n) => u32::try_from(n).map(Some).map_err(|_| {
                    OciError::spec(field(), format!("bad {what} {n} (0 and up, or -1 for any)"))
                }),
            }
        };
        own.push(DeviceRule {
            allow: d.allow(),
            kind,
            major: num(d.major(), "major")?,
            minor: num(d.minor(), "minor")?,
            access: d
                .access()
                .clone()
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| "rwm".into()),
        });
    }
    let again: Vec<DeviceRule> = own
        .iter()
        .filter(|r| !r.allow && r.kind != 'a' && r.major.is_some() && r.minor.is_some())
        .cloned()
        .collect();
    own.extend(defaults());
    own.extend(again);
    Ok(own)
}

/// Write `rules` ([`normalize`](rsandbox::cgroup::devices::normalize)d,
/// as the core does) into the container's own directory in the v1 devices
/// hierarchy (`rel` from its root), before the core makes its cgroup
/// below it (the kernel refuses an `a` rule in a cgroup with children),
/// where engines and runtime-tools read `devices.list` for an absolute
/// `cgroupsPath`. The core's cgroup, where the process is, gets the same
/// rules from the builder.
pub fn write_own(rel: &Path, rules: &[DeviceRule]) -> Res<()> {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    for m in rsandbox::features::cgroup_mounts() {
        if m.version != 1 || !m.controllers.iter().any(|c| c == "devices") {
            continue;
        }
        let dir = Path::new(&m.path).join(rel);
        for r in &rsandbox::cgroup::devices::normalize(rules) {
            let (file, line) = r.v1_file_and_line();
            let path = dir.join(file);
            std::fs::write(&path, &line).map_err(|e| {
                OciError::io(
                    format!("linux.resources.devices: write {line:?} to"),
                    &path,
                    e,
                )
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cg(
        allow: bool,
        typ: Option<LinuxDeviceType>,
        ma: Option<i64>,
        mi: Option<i64>,
        a: &str,
    ) -> LinuxDeviceCgroup {
        let mut d = LinuxDeviceCgroup::default();
        d.set_allow(allow);
        d.set_typ(typ);
        d.set_major(ma);
        d.set_minor(mi);
        d.set_access(Some(a.into()).filter(|a: &String| !a.is_empty()));
        d
    }

    #[test]
    fn config_rules_then_defaults_then_precise_denials() {
        let r = rules(&[
            cg(false, None, None, None, ""),
            cg(true, Some(LinuxDeviceType::C), Some(10), Some(229), "rwm"),
            cg(false, Some(LinuxDeviceType::C), Some(1), Some(5), "rw"),
        ])
        .unwrap();
        assert_eq!(r[0], DeviceRule::deny_all());
        assert_eq!(r[1], DeviceRule::allow('c', Some(10), Some(229), "rwm"));
        assert_eq!(r[3..3 + defaults().len()], defaults()[..]);
        assert_eq!(
            r.last(),
            Some(&DeviceRule::deny('c', Some(1), Some(5), "rw"))
        );
        assert_eq!(r.len(), 3 + defaults().len() + 1);
    }

    #[test]
    fn fifo_and_bad_numbers_are_refused() {
        assert!(rules(&[cg(true, Some(LinuxDeviceType::P), None, None, "r")]).is_err());
        assert!(rules(&[cg(true, Some(LinuxDeviceType::C), Some(-5), None, "r")]).is_err());
    }
}
