//! Device access rules: which device nodes the box may open (read,
//! write) or create (`mknod`), enforced by the cgroup v1 `devices`
//! controller as `runc` does on v1 hosts.
//!
//! Why a cgroup and not just a minimal `/dev`: a box that keeps
//! `CAP_MKNOD` (an OCI container usually does) can create a node for any
//! host device (`mknod /tmp/sda b 8 0`) and open it; only the device
//! cgroup refuses the open (EPERM) whatever node names the device.
//!
//! Cgroup v2 has no devices controller (it filters with an eBPF program
//! attached to the cgroup, `BPF_CGROUP_DEVICE`), which is not implemented
//! here: on a host without a v1 `devices` hierarchy, rules are an error
//! ([`Error::Unsupported`]) unless [`best_effort`](crate::Sandbox::best_effort),
//! where the enforcement report says they were not applied.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cgroup::write_file;
use crate::error::{Error, Result};
use crate::Sandbox;

/// One device rule, applied in order after the ones before it (like the
/// OCI `linux.resources.devices` entries and the v1 `devices.allow` /
/// `devices.deny` files). A new box starts with its parent cgroup's
/// rules (usually: everything allowed), so a rule set normally begins
/// with [`DeviceRule::deny_all`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRule {
    /// Allow (true) or deny (false) the access.
    pub allow: bool,
    /// `'a'` (all devices: major, minor and access are then ignored, the
    /// rule resets the whole list), `'b'` (block) or `'c'` (character).
    pub kind: char,
    /// Major number; `None` is every major.
    #[serde(default)]
    pub major: Option<u32>,
    /// Minor number; `None` is every minor.
    #[serde(default)]
    pub minor: Option<u32>,
    /// A non-empty subset of `"rwm"`: read, write, mknod.
    pub access: String,
}

impl DeviceRule {
    /// Allow `access` to device `kind major:minor` (`None`: any number).
    pub fn allow(kind: char, major: Option<u32>, minor: Option<u32>, access: &str) -> Self {
        DeviceRule {
            allow: true,
            kind,
            major,
            minor,
            access: access.into(),
        }
    }
    /// Deny `access` to device `kind major:minor` (`None`: any number).
    pub fn deny(kind: char, major: Option<u32>, minor: Option<u32>, access: &str) -> Self {
        DeviceRule {
            allow: false,
            ..DeviceRule::allow(kind, major, minor, access)
        }
    }
    /// Deny every access to every device (`a *:* rwm`): the usual first rule.
    pub fn deny_all() -> Self {
        DeviceRule::deny('a', None, None, "rwm")
    }

    /// The line written to `devices.allow` / `devices.deny`.
    fn v1_line(&self) -> String {
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        format!(
            "{} {}:{} {}",
            self.kind,
            num(self.major),
            num(self.minor),
            self.access
        )
    }

    fn validate(&self) -> Result<()> {
        if !matches!(self.kind, 'a' | 'b' | 'c') {
            return Err(Error::invalid(
                "device_rules",
                format!(
                    "kind {:?} in {:?}: use 'a' (all), 'b' (block) or 'c' (character)",
                    self.kind, self
                ),
            ));
        }
        let a = &self.access;
        let dup = a.chars().enumerate().any(|(i, c)| a[i + 1..].contains(c));
        if a.is_empty() || dup || !a.chars().all(|c| "rwm".contains(c)) {
            return Err(Error::invalid(
                "device_rules",
                format!(
                    "access {a:?} in {:?}: use a non-empty subset of \"rwm\" \
                     (read, write, mknod)",
                    self
                ),
            ));
        }
        Ok(())
    }
}

/// Device rule builder methods.
impl Sandbox {
    /// Restrict which devices the box may open or create: `rules` are
    /// appended to those already given and applied in order (cgroup v1
    /// `devices`). Begin with [`DeviceRule::deny_all`] for an allow list.
    /// Device nodes the box's filesystem creates
    /// ([`device`](crate::Sandbox::device)) are made after the rules apply,
    /// so they need the `m` access. Needs a v1 `devices` hierarchy: on pure
    /// cgroup v2 the spawn fails with [`Error::Unsupported`] (or, with
    /// [`best_effort`](crate::Sandbox::best_effort), runs and reports the
    /// rules as not enforced).
    pub fn device_rules(mut self, rules: impl IntoIterator<Item = DeviceRule>) -> Self {
        self.limits.extra.devices.extend(rules);
        self
    }
}

/// Check every rule; the errors name `device_rules`.
pub(crate) fn validate(rules: &[DeviceRule]) -> Result<()> {
    rules.iter().try_for_each(DeviceRule::validate)
}

/// Write `rules` in order into the v1 devices cgroup `dir`.
pub(crate) fn write_v1(rules: &[DeviceRule], dir: &Path) -> Result<()> {
    for r in rules {
        let file = if r.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        write_file(&dir.join(file), &r.v1_line())?;
    }
    Ok(())
}

/// The error for device rules on a host without a v1 `devices` hierarchy.
pub(crate) fn unsupported() -> Error {
    Error::Unsupported {
        feature: "device rules (device_rules)".into(),
        detail: "no cgroup v1 `devices` hierarchy is mounted, and device filtering on \
                 cgroup v2 (an eBPF BPF_CGROUP_DEVICE program) is not implemented: \
                 mount the v1 devices controller (hybrid layout), or drop the rules \
                 and keep the box from creating device nodes (no CAP_MKNOD, or a \
                 user namespace), or set best_effort(true) to run without them"
            .into(),
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
    fn serde_round_trip() {
        let r = DeviceRule::deny('b', Some(8), Some(0), "rw");
        let j = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<DeviceRule>(&j).unwrap(), r);
    }
}
