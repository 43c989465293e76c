//! Device rules as described: an ordered allow/deny list with the cgroup v1
//! `devices` semantics, and the pure functions over it (normalise, decide,
//! summarise). [`crate::cgroup::devices`] enforces it (v1 files or a v2
//! eBPF program).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One device rule, applied in order after the ones before it (like the
/// OCI `linux.resources.devices` entries and the v1 `devices.allow` /
/// `devices.deny` files). The rules start from everything allowed (and
/// the parent cgroup's own restrictions always hold), so a rule set
/// normally begins with [`DeviceRule::deny_all`]. The same list gives the
/// same verdicts whether the v1 controller or the v2 eBPF program
/// enforces it: see [`Sandbox::device_rules`](crate::Sandbox::device_rules).
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
    pub(crate) fn v1_line(&self) -> String {
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
pub(crate) fn allows_mknod(rules: &[DeviceRule], kind: char, major: u32, minor: u32) -> bool {
    permits(&normalize(rules), kind, major, minor, "m")
}
