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

use serde::{Deserialize, Serialize};

use crate::cgroup::write_file;
use crate::error::{Error, Result};
use crate::Sandbox;

/// One device rule, applied in order after the ones before it (like the
/// OCI `linux.resources.devices` entries and the v1 `devices.allow` /
/// `devices.deny` files). The rules start from everything allowed (and
/// the parent cgroup's own restrictions always hold), so a rule set
/// normally begins with [`DeviceRule::deny_all`]. The same list gives the
/// same verdicts whether the v1 controller or the v2 eBPF program
/// enforces it: see [`Sandbox::device_rules`].
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

    /// The v1 file this rule is written to (`devices.allow` or
    /// `devices.deny`) and the line, e.g. `("devices.allow", "c 1:3 rwm")`:
    /// for a caller that keeps cgroups of its own (an OCI runtime).
    pub fn v1_file_and_line(&self) -> (&'static str, String) {
        let file = if self.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        (file, self.v1_line())
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

/// Check every rule; the errors name `device_rules`.
pub(crate) fn validate(rules: &[DeviceRule]) -> Result<()> {
    rules.iter().try_for_each(DeviceRule::validate)
}

/// The state `rules` leave a v1 devices cgroup in, as the shortest rule
/// list that builds it: `a` allow or deny (the default), then the
/// exceptions in the kernel's order. Replaying the rules as given can fail
/// in a cgroup whose parent already has them (an OCI container's own
/// cgroup): a child is refused any allow its parent denies, even one a
/// later rule takes back. This follows the kernel's
/// `devcgroup_update_access`: an `a` rule resets the list; a rule in the
/// default's direction takes its access away from the exception with the
/// same type and numbers, the other direction adds (or merges) one. A
/// number of `u32::MAX` is the kernel's wildcard (`~0`, what `*` parses
/// to), so it becomes `None`.
pub fn normalize(rules: &[DeviceRule]) -> Vec<DeviceRule> {
    const BITS: [(char, u8); 3] = [('r', 1), ('w', 2), ('m', 4)];
    let bits = |a: &str| {
        BITS.iter()
            .filter(|(c, _)| a.contains(*c))
            .fold(0, |acc, (_, b)| acc | b)
    };
    let mut default_allow = true;
    let mut ex: Vec<(char, Option<u32>, Option<u32>, u8)> = Vec::new();
    for r in rules {
        if r.kind == 'a' {
            default_allow = r.allow;
            ex.clear();
            continue;
        }
        let wild = |n: Option<u32>| n.filter(|n| *n != u32::MAX);
        let key = (r.kind, wild(r.major), wild(r.minor));
        let pos = ex.iter().position(|e| (e.0, e.1, e.2) == key);
        if r.allow == default_allow {
            if let Some(i) = pos {
                ex[i].3 &= !bits(&r.access);
                if ex[i].3 == 0 {
                    ex.remove(i);
                }
            }
        } else if let Some(i) = pos {
            ex[i].3 |= bits(&r.access);
        } else {
            ex.push((key.0, key.1, key.2, bits(&r.access)));
        }
    }
    let mut out = vec![DeviceRule {
        allow: default_allow,
        ..DeviceRule::deny_all()
    }];
    out.extend(ex.into_iter().map(|(kind, major, minor, b)| {
        DeviceRule {
            allow: !default_allow,
            kind,
            major,
            minor,
            access: BITS
                .iter()
                .filter(|(_, bit)| b & bit != 0)
                .map(|(c, _)| *c)
                .collect(),
        }
    }));
    out
}

/// Whether the [`normalize`]d rules `n` let the box have `access` (a
/// non-empty subset of `"rwm"`) to device `kind major:minor`: the kernel's
/// v1 check (`devcgroup_legacy_check_permission`), which the eBPF program
/// of the v2 path reproduces. With everything denied by default, one
/// exception must match the device and hold every requested access; with
/// everything allowed, no exception matching the device may share any
/// requested access.
pub(crate) fn permits(n: &[DeviceRule], kind: char, major: u32, minor: u32, access: &str) -> bool {
    let default_allow = n[0].allow;
    let hit = n[1..].iter().any(|r| {
        let matches = r.kind == kind
            && r.major.is_none_or(|m| m == major)
            && r.minor.is_none_or(|m| m == minor);
        let held = |c| r.access.contains(c);
        matches
            && if default_allow {
                access.chars().any(held)
            } else {
                access.chars().all(held)
            }
    });
    hit != default_allow
}

/// The [`normalize`]d rules `n` in words, for the enforcement report:
/// `deny by default; allowed: c 1:3 rwm, c *:* m`.
pub(crate) fn summary(n: &[DeviceRule]) -> String {
    let (default, except) = if n[0].allow {
        ("allow", "denied")
    } else {
        ("deny", "allowed")
    };
    const SHOWN: usize = 8;
    let mut s = format!("{default} by default");
    if n.len() > 1 {
        let list: Vec<String> = n[1..].iter().take(SHOWN).map(DeviceRule::v1_line).collect();
        s += &format!("; {except}: {}", list.join(", "));
        if n.len() - 1 > SHOWN {
            s += &format!(" and {} more", n.len() - 1 - SHOWN);
        }
    }
    s
}

/// Whether `rules` let the box `mknod` device `kind major:minor`.
fn allows_mknod(rules: &[DeviceRule], kind: char, major: u32, minor: u32) -> bool {
    permits(&normalize(rules), kind, major, minor, "m")
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
        let crate::fs::MountStep::Device {
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
            crate::fs::DeviceKind::Char => 'c',
            crate::fs::DeviceKind::Block => 'b',
            crate::fs::DeviceKind::Fifo => continue,
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
    super::bpf::probe()
}

/// What would enforce device rules for this caller on this host: the v1
/// `devices` controller where it is mounted (unless `prefer_ebpf`, as
/// [`Sandbox::device_rules_via_ebpf`] asks), else the eBPF program if this
/// caller may load one (a real load, dropped at once); `Err` says why
/// neither can. For `rsandbox check` and for callers that must decide
/// ahead (an OCI runtime choosing between enforcing and warning).
pub fn enforcement(prefer_ebpf: bool) -> std::result::Result<&'static str, String> {
    let mounts = crate::features::cgroup_mounts();
    let v1 = mounts
        .iter()
        .any(|m| m.version == 1 && m.controllers.iter().any(|c| c == "devices"));
    if v1 && !prefer_ebpf {
        return Ok("cgroup v1 devices");
    }
    if !mounts.iter().any(|m| m.version == 2) {
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
