//! Device access rules: which device nodes the box may open (read,
//! write) or create (`mknod`), enforced by the cgroup v1 `devices`
//! controller or, on cgroup v2, by an eBPF device program, as runc and
//! crun do.
//!
//! Why a cgroup and not just a minimal `/dev`: a box that keeps
//! `CAP_MKNOD` (an OCI container usually does) can create a node for any
//! host device (`mknod /tmp/sda b 8 0`) and open it; only the device
//! cgroup refuses the open (EPERM) whatever node names the device.
//!
//! Which enforcement where:
//! - a v1 `devices` hierarchy is mounted (hybrid or v1 hosts): the box gets
//!   a directory there and the rules are written to `devices.allow` /
//!   `devices.deny`, as [`normalize`]d;
//! - otherwise (pure cgroup v2, or a hybrid without v1 `devices`): an eBPF
//!   program of type `BPF_PROG_TYPE_CGROUP_DEVICE` made from the same
//!   normalized rules, with the kernel's v1 verdict, is attached to the
//!   box's cgroup2 directory before the box is cloned into it (see
//!   `devices_bpf.rs`). It needs `CAP_SYS_ADMIN` (or `CAP_BPF`) in the
//!   initial user namespace: without it the spawn fails with
//!   [`Error::Privilege`] (with [`best_effort`](crate::Sandbox::best_effort):
//!   runs, and the enforcement report says the rules were not applied).
//!   One difference with v1: a rule allowing what the parent cgroup denies
//!   is refused by v1 when written; with eBPF the parent's programs still
//!   run and deny it at access time.
//!
//! The `limit:devices` layer of the enforcement report names the mechanism
//! and the rules' final state.

use std::path::Path;

use crate::cgroup::write_file;
use crate::error::{Error, Result};
use crate::Sandbox;

pub use crate::config::devices::*;

/// Device rule builder methods.
impl Sandbox {
    /// Restrict which devices the box may open or create: `rules` are
    /// appended to those already given and applied in order, with the
    /// semantics of the cgroup v1 `devices` files. Begin with
    /// [`DeviceRule::deny_all`] for an allow list.
    /// Device nodes the box's filesystem makes
    /// ([`device`](crate::Sandbox::device)) need the `m` access (checked
    /// before spawn: they may be made after the box joined the cgroup).
    ///
    /// Enforced by the v1 `devices` controller where one is mounted, else
    /// (pure cgroup v2) by an eBPF `BPF_CGROUP_DEVICE` program attached to
    /// the box's cgroup, which needs `CAP_SYS_ADMIN` (or `CAP_BPF`): without
    /// it the spawn fails with [`Error::Privilege`] (or, with
    /// [`best_effort`](crate::Sandbox::best_effort), runs and reports the
    /// rules as not enforced). The `limit:devices` layer of the enforcement
    /// report says which mechanism applied them.
    pub fn device_rules(mut self, rules: impl IntoIterator<Item = DeviceRule>) -> Self {
        self.limits.extra.devices.extend(rules);
        self
    }

    /// Enforce the device rules with the cgroup v2 eBPF program even where
    /// a v1 `devices` hierarchy exists (hybrid hosts). The box then must
    /// join its directory in the `unified` cgroup2 hierarchy, where the
    /// program is attached. Useful where the v1 `devices` hierarchy is not
    /// yours to write (or is about to go away); the verdicts are the same.
    /// The tests use it to exercise the v2 path on hybrid hosts. Not saved
    /// in profiles.
    pub fn device_rules_via_ebpf(mut self, on: bool) -> Self {
        self.limits.devices_ebpf = on;
        self
    }
}

/// The box's own device nodes ([`device`](crate::Sandbox::device), made
/// with `mknod` outside a user namespace) are made while the parent
/// attaches the box to its cgroups, so the rules may or may not apply to
/// that `mknod`: refuse rules that would deny it, before spawn, rather
/// than fail at random.
pub(crate) fn check_nodes(sb: &Sandbox) -> Result<()> {
    let rules = &sb.limits.extra.devices;
    if rules.is_empty() || sb.has_ns(crate::Namespace::User) {
        return Ok(());
    }
    for step in &sb.fs_config().steps {
        let crate::config::fs::MountStep::Device {
            dst,
            kind,
            major,
            minor,
            ..
        } = step
        else {
            continue;
        };
        let k = match kind {
            crate::config::fs::DeviceKind::Char => 'c',
            crate::config::fs::DeviceKind::Block => 'b',
            crate::config::fs::DeviceKind::Fifo => continue,
        };
        if !allows_mknod(rules, k, *major, *minor) {
            return Err(Error::invalid(
                "device_rules",
                format!(
                    "the box makes device node {} ({k} {major}:{minor}) but the rules \
                     deny its mknod: add DeviceRule::allow('{k}', Some({major}), \
                     Some({minor}), \"m\") (and \"rw\" to let the box open it)",
                    dst.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Write `rules` into the v1 devices cgroup `dir` (new, without
/// children), as [`normalize`]d.
pub(crate) fn write_v1(rules: &[DeviceRule], dir: &Path) -> Result<()> {
    for r in &normalize(rules) {
        let (file, line) = r.v1_file_and_line();
        write_file(&dir.join(file), &line)?;
    }
    Ok(())
}

/// The error for device rules on a host with neither a v1 `devices`
/// hierarchy nor a cgroup2 one (for the eBPF program).
pub(crate) fn unsupported() -> Error {
    Error::Unsupported {
        feature: "device rules (device_rules)".into(),
        detail: "neither a cgroup v1 `devices` hierarchy nor a cgroup2 hierarchy (for \
                 an eBPF BPF_CGROUP_DEVICE program) is mounted: mount one, or drop \
                 the rules and keep the box from creating device nodes (no CAP_MKNOD, \
                 or a user namespace), or set best_effort(true) to run without them"
            .into(),
    }
}

/// Whether this process may load the eBPF device program that enforces
/// device rules on cgroup v2: loads one that allows everything, and drops
/// it. [`Error::Privilege`] without `CAP_SYS_ADMIN` (or `CAP_BPF`). For a
/// caller that must know ahead whether rules will hold on a host without
/// a v1 `devices` hierarchy (an OCI runtime deciding whether to warn).
pub fn ebpf_supported() -> Result<()> {
    super::devices_bpf::probe()
}

/// What would enforce device rules for this caller on this host: the v1
/// `devices` controller where it is mounted (unless `prefer_ebpf`, as
/// [`Sandbox::device_rules_via_ebpf`] asks), else the eBPF program if this
/// caller may load one (a real load, dropped at once); `Err` says why
/// neither can. For `rsandbox check` and for callers that must decide
/// ahead (an OCI runtime choosing between enforcing and warning).
pub fn enforcement(prefer_ebpf: bool) -> std::result::Result<&'static str, String> {
    let layout = super::detect::Layout::detect().unwrap_or_default();
    if layout.v1_mounts.contains_key("devices") && !prefer_ebpf {
        return Ok("cgroup v1 devices");
    }
    if layout.v2_mount.is_none() {
        return Err("neither a cgroup v1 devices nor a cgroup2 hierarchy is mounted".into());
    }
    match ebpf_supported() {
        Ok(()) => Ok("eBPF (cgroup v2)"),
        Err(e) => Err(format!(
            "no cgroup v1 devices hierarchy to use, and the cgroup v2 eBPF device filter \
             cannot be loaded: {e}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_validation() {
        assert_eq!(DeviceRule::deny_all().v1_line(), "a *:* rwm");
        assert_eq!(
            DeviceRule::allow('c', Some(1), Some(3), "rwm").v1_line(),
            "c 1:3 rwm"
        );
        assert_eq!(
            DeviceRule::allow('b', Some(8), None, "r").v1_line(),
            "b 8:* r"
        );
        assert!(validate(&[DeviceRule::allow('c', None, None, "m")]).is_ok());
        for bad in [
            DeviceRule::allow('x', None, None, "r"),
            DeviceRule::allow('c', None, None, ""),
            DeviceRule::allow('c', None, None, "rr"),
            DeviceRule::allow('c', None, None, "rx"),
        ] {
            let e = validate(&[bad]).unwrap_err();
            assert!(matches!(e, Error::InvalidConfig { .. }), "{e:?}");
        }
    }

    #[test]
    fn normalize_follows_the_kernel() {
        let c = |ma, mi, a: &str| DeviceRule::allow('c', Some(ma), Some(mi), a);
        let n = normalize(&[
            DeviceRule::deny_all(),
            c(10, 229, "rwm"),
            c(1, 5, "r"),
            c(1, 5, "w"),
            c(1, 3, "rwm"),
            DeviceRule::deny('c', Some(1), Some(5), "rwm"),
            DeviceRule::deny('c', Some(10), Some(229), "m"),
        ]);
        assert_eq!(
            n,
            [DeviceRule::deny_all(), c(10, 229, "rw"), c(1, 3, "rwm")]
        );
        // Allow by default: denials are the exceptions; an allow removes.
        let n = normalize(&[
            DeviceRule::deny('b', Some(8), None, "rw"),
            DeviceRule::deny('c', Some(1), Some(1), "r"),
            DeviceRule::allow('c', Some(1), Some(1), "r"),
        ]);
        assert_eq!(
            n,
            [
                DeviceRule::allow('a', None, None, "rwm"),
                DeviceRule::deny('b', Some(8), None, "rw")
            ]
        );
        assert_eq!(normalize(&[]), [DeviceRule::allow('a', None, None, "rwm")]);
    }

    /// The kernel's v1 verdicts (`devcgroup_legacy_check_permission`): with
    /// a default deny, one exception must hold every requested access
    /// (two exceptions holding `r` and `w` apart do not allow `rw`); with
    /// a default allow, an exception sharing any requested access denies.
    #[test]
    fn permits_follows_the_kernel() {
        let n = normalize(&[
            DeviceRule::deny_all(),
            DeviceRule::allow('c', Some(1), None, "r"),
            DeviceRule::allow('c', None, Some(3), "w"),
        ]);
        assert!(permits(&n, 'c', 1, 3, "r"));
        assert!(permits(&n, 'c', 1, 3, "w"));
        assert!(!permits(&n, 'c', 1, 3, "rw"));
        assert!(!permits(&n, 'b', 1, 3, "r"));
        assert!(!permits(&n, 'c', 2, 4, "r"));
        let n = normalize(&[DeviceRule::deny('c', Some(1), Some(3), "w")]);
        assert!(permits(&n, 'c', 1, 3, "r"));
        assert!(!permits(&n, 'c', 1, 3, "rw"));
        assert!(permits(&n, 'b', 1, 3, "rw"));
        // u32::MAX is the kernel's wildcard.
        let n = normalize(&[
            DeviceRule::deny_all(),
            DeviceRule::allow('c', Some(u32::MAX), Some(7), "r"),
        ]);
        assert_eq!(n[1], DeviceRule::allow('c', None, Some(7), "r"));
        assert!(permits(&n, 'c', 4, 7, "r"));
    }

    #[test]
    fn mknod_check_follows_the_defaults() {
        let deny = [
            DeviceRule::deny_all(),
            DeviceRule::allow('c', Some(1), Some(3), "rwm"),
        ];
        assert!(allows_mknod(&deny, 'c', 1, 3));
        assert!(!allows_mknod(&deny, 'c', 10, 666));
        let m = [
            DeviceRule::deny_all(),
            DeviceRule::allow('c', None, None, "m"),
        ];
        assert!(allows_mknod(&m, 'c', 10, 666));
        assert!(!allows_mknod(&m, 'b', 8, 0));
        let allow = [DeviceRule::deny('b', Some(8), None, "m")];
        assert!(!allows_mknod(&allow, 'b', 8, 1));
        assert!(allows_mknod(&allow, 'c', 8, 1));
    }

    #[test]
    fn serde_round_trip() {
        let r = DeviceRule::deny('b', Some(8), Some(0), "rw");
        let j = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<DeviceRule>(&j).unwrap(), r);
    }
}
