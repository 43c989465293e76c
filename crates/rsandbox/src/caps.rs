//! Capabilities, securebits and no_new_privs.
//!
//! When dropping is requested ([`Sandbox::drop_caps`] or
//! [`Sandbox::keep_caps`]), every capability not in the keep list leaves
//! every set: bounding, effective, permitted, inheritable and ambient. Kept
//! capabilities are raised in the ambient set so they survive `execve` for
//! any uid. Securebits are then locked (`NOROOT`, `NO_SETUID_FIXUP`,
//! `NO_CAP_AMBIENT_RAISE`, `KEEP_CAPS` off, all with their locks), so uid 0
//! in the box gains nothing at exec. no_new_privs makes setuid binaries and
//! file capabilities inert.
//!
//! [`Sandbox::cap_set`] instead gives each of the five sets explicitly, as
//! an OCI runtime must (runc's `libcontainer/capabilities`): the bounding
//! set is dropped to its list before the uid switch, the permitted set
//! kept across it, then effective, permitted and inheritable are set as
//! listed and only the listed ambient capabilities are raised; securebits
//! are left alone. A non-root payload then holds, after its `execve`, only
//! its ambient capabilities (none unless listed), and root the bounding
//! set, as the kernel's rules for exec give them.
//!
//! All of it runs in the child after the uid switch and before Landlock,
//! with raw `prctl`/`capset` calls on data prepared here.

use crate::error::{step, ChildError, ChildResult, Error, Result, Stage};
use crate::report::{Enforcement, LayerReport};
use crate::sys::caps::{capset3, has_effective_cap, CAP_SETPCAP};
use crate::sys::check;
use crate::{Namespace, Sandbox};

pub use crate::config::caps::*;

/// Privilege builder methods.
impl Sandbox {
    /// Drop every capability from every set (bounding, effective, permitted,
    /// inheritable, ambient) and lock securebits.
    pub fn drop_caps(mut self) -> Self {
        self.caps.drop = true;
        self
    }
    /// Drop every capability except these (names like `CAP_NET_BIND_SERVICE`
    /// or `net_bind_service`), which stay effective across exec for any uid.
    /// Replaces sets given with [`cap_set`](Self::cap_set).
    pub fn keep_caps<I, S>(mut self, caps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.caps.drop = true;
        self.caps.sets = None;
        self.caps.keep = caps.into_iter().map(Into::into).collect();
        self
    }
    /// Give capability set `set` exactly these capabilities, with OCI
    /// (runc) semantics: once any set is given this way, every set not
    /// given is empty and [`keep_caps`](Self::keep_caps) no longer
    /// applies. The bounding set is dropped to its list before the uid
    /// switch and the permitted set is kept across it; then effective,
    /// permitted and inheritable are set as listed and only the listed
    /// ambient capabilities are raised. Securebits are not locked, so uid 0
    /// gets the bounding set at exec as the kernel gives it, and any other
    /// uid keeps only its ambient capabilities across exec (a `USER 1000`
    /// container with runc's 14 default capabilities has none). Checked
    /// before spawn: effective must be within permitted, inheritable
    /// within bounding, ambient within both permitted and inheritable (the
    /// kernel refuses anything else). Dropping the bounding set needs
    /// `CAP_SETPCAP` (a user namespace or root), as for `drop_caps`.
    pub fn cap_set<I, S>(mut self, set: CapSet, caps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.caps.drop = true;
        self.caps.keep.clear();
        *self
            .caps
            .sets
            .get_or_insert_with(CapSets::default)
            .get_mut(set) = caps.into_iter().map(Into::into).collect();
        self
    }
    /// Keep every capability the box would otherwise have (undoes
    /// [`drop_caps`](Self::drop_caps), e.g. to relax [`Sandbox::strict`]).
    pub fn keep_all_caps(mut self) -> Self {
        self.caps.drop = false;
        self.caps.keep.clear();
        self.caps.sets = None;
        self
    }
    /// Set (`true`) or never set (`false`) no_new_privs. Unset, it is set
    /// only when seccomp or Landlock need it. With `false` a seccomp filter
    /// needs `CAP_SYS_ADMIN`: it is installed before the identity switch and
    /// the capability drop (as runc does), so it must allow the syscalls of
    /// the rest of the setup (setresuid, capset, prctl, fork, read, execve).
    pub fn no_new_privs(mut self, on: bool) -> Self {
        self.caps.no_new_privs = Some(on);
        self
    }
    /// The privilege configuration.
    pub fn caps_config(&self) -> &CapsConfig {
        &self.caps
    }
}

/// Does the child hold `CAP_SETPCAP` (in its own user namespace) before
/// the uid switch, and does that switch move it from uid 0 to another uid
/// (which clears its capabilities unless they are kept across it)?
fn child_privileges(sb: &Sandbox) -> (bool, bool) {
    // SAFETY: trivial getter.
    let euid = unsafe { libc::geteuid() };
    if sb.has_ns(Namespace::User) {
        // A new user namespace grants every capability.
        let target = sb
            .uid
            .unwrap_or(if sb.uid_map.is_empty() { euid } else { 0 });
        let initial = if sb.uid_map.is_empty() {
            target
        } else {
            sb.uid_map
                .iter()
                .find(|m| euid >= m.outside && euid - m.outside < m.count)
                // Unmapped: the child becomes 0 first when 0 is mapped,
                // else the target when that is (idmap::setup_id).
                .map_or(
                    crate::idmap::setup_id(true, &sb.uid_map, euid, Some(target)).unwrap_or(65534),
                    |m| m.inside + (euid - m.outside),
                )
        };
        (true, initial == 0 && target != 0)
    } else {
        (
            has_effective_cap(CAP_SETPCAP),
            euid == 0 && sb.uid.is_some_and(|u| u != 0),
        )
    }
}

/// The five sets as masks, from [`CapSets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SetMasks {
    effective: u64,
    permitted: u64,
    inheritable: u64,
    ambient: u64,
}

/// Capability sets prepared for the child.
#[derive(Debug)]
pub(crate) struct CapsPlan {
    drop: bool,
    /// The bounding set kept (with `sets`, the bounding list).
    keep: u64,
    /// The other four sets, given explicitly (see [`Sandbox::cap_set`]).
    sets: Option<SetMasks>,
    last_cap: u32,
    /// Drop the bounding set and lock securebits (needs `CAP_SETPCAP`).
    privileged: bool,
    /// The uid switch leaves uid 0: drop the bounding set before it and
    /// keep the permitted set across it (`PR_SET_KEEPCAPS`), as runc does.
    leaves_root: bool,
    nnp: bool,
}

/// `capset` on the calling thread, with the same mask for the three sets
/// except `inh`.
fn capset(eff_perm: u64, inh: u64) -> libc::c_long {
    capset3(eff_perm, eff_perm, inh)
}

impl CapsPlan {
    /// Prepare; `None` when privileges are left as they are.
    pub(crate) fn prepare(sb: &Sandbox) -> Result<Option<CapsPlan>> {
        let c = &sb.caps;
        let nnp = c.no_new_privs == Some(true);
        if !c.drop && !nnp {
            if !c.keep.is_empty() {
                return Err(Error::invalid(
                    "keep_caps",
                    "a keep list needs capabilities to be dropped",
                ));
            }
            return Ok(None);
        }
        let last_cap = cap_last_cap();
        let (keep, sets) = match &c.sets {
            Some(sets) => {
                let (bounding, masks) = set_masks(sets, last_cap)?;
                (bounding, Some(masks))
            }
            None => (mask("keep_caps", &c.keep, last_cap)?, None),
        };
        let (has_setpcap, leaves_root) = child_privileges(sb);
        let privileged = c.drop && has_setpcap;
        if c.drop && !privileged && !c.best_effort {
            return Err(Error::Privilege {
                privilege: "CAP_SETPCAP".into(),
                action: "drop the capability bounding set and lock securebits".into(),
                fix: "add user_ns(), run as root, or accept best_effort(true) (with \
                      no_new_privs the bounding set cannot be used anyway)"
                    .into(),
            });
        }
        Ok(Some(CapsPlan {
            drop: c.drop,
            keep,
            sets,
            last_cap,
            privileged,
            leaves_root: privileged && leaves_root,
            // Without CAP_SETPCAP, no_new_privs is what keeps setuid binaries
            // from regaining the bounding set: set it.
            nnp: nnp || (c.drop && !privileged && c.no_new_privs != Some(false)),
        }))
    }

    /// What the report says about capabilities, securebits and
    /// no_new_privs.
    pub(crate) fn report(
        sb: &Sandbox,
        this: Option<&CapsPlan>,
        needs_nnp: bool,
    ) -> Vec<LayerReport> {
        let mut out = match this {
            Some(
                p @ CapsPlan {
                    drop: true,
                    sets: Some(m),
                    ..
                },
            ) => p.sets_report(m),
            Some(p) if p.drop => p.drop_all_report(),
            _ => vec![
                LayerReport::not_requested("capabilities"),
                LayerReport::not_requested("securebits"),
            ],
        };
        let nnp = this.is_some_and(|p| p.nnp) || (needs_nnp && sb.caps.no_new_privs != Some(false));
        out.push(if nnp {
            LayerReport::full("no_new_privs", "on")
        } else {
            LayerReport::not_requested("no_new_privs")
        });
        out
    }

    /// The capabilities and securebits layers for explicit sets `m`:
    /// without CAP_SETPCAP the bounding set stays (partial).
    fn sets_report(&self, m: &SetMasks) -> Vec<LayerReport> {
        let req = format!(
            "bounding {}; effective {}; permitted {}; inheritable {}; ambient {}",
            cap_names(self.keep),
            cap_names(m.effective),
            cap_names(m.permitted),
            cap_names(m.inheritable),
            cap_names(m.ambient)
        );
        let caps = if self.privileged {
            LayerReport::full("capabilities", req)
        } else {
            bounding_kept(req, "set")
        };
        // Explicit sets follow runc: securebits are left as they are.
        vec![caps, LayerReport::not_requested("securebits")]
    }

    /// The capabilities and securebits layers for "drop all, keep some":
    /// without CAP_SETPCAP the bounding set stays and securebits are not
    /// locked.
    fn drop_all_report(&self) -> Vec<LayerReport> {
        let req = format!("drop all, keep {}", cap_names(self.keep));
        if self.privileged {
            return vec![
                LayerReport::full(
                    "capabilities",
                    format!("{req} (bounding, effective, permitted, inheritable, ambient)"),
                ),
                LayerReport::full("securebits", format!("locked {LOCKED_SECUREBITS:#x}")),
            ];
        }
        vec![
            bounding_kept(req, "cleared"),
            LayerReport {
                layer: "securebits".into(),
                requested: format!("locked {LOCKED_SECUREBITS:#x}"),
                applied: "not locked (no CAP_SETPCAP)".into(),
                enforcement: Enforcement::NotEnforced,
            },
        ]
    }

    /// Before the uid switch, when it leaves uid 0: drop the bounding set
    /// while still privileged, and keep the permitted set across the switch
    /// (the capabilities are then set from it by [`apply`](Self::apply)).
    ///
    /// # Safety
    /// Raw syscalls on prepared data only.
    pub(crate) unsafe fn before_identity(&self) -> ChildResult {
        if !self.leaves_root {
            return Ok(());
        }
        // SAFETY: prctl with integer arguments.
        unsafe {
            self.drop_bounding()?;
            check(
                libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0),
                Stage::Capabilities,
                step::KEEP_CAPS,
            )
        }
    }

    /// Drop every capability not kept from the bounding set.
    ///
    /// # Safety
    /// Raw syscalls only.
    unsafe fn drop_bounding(&self) -> ChildResult {
        for cap in 0..=self.last_cap {
            if self.keep & (1 << cap) != 0 {
                continue;
            }
            // SAFETY: prctl with integer arguments.
            unsafe {
                if libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) != 1 {
                    continue;
                }
                check(
                    libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0),
                    Stage::Capabilities,
                    cap,
                )?;
            }
        }
        Ok(())
    }

    /// The first step of both ways of dropping: clear the ambient set, and
    /// drop the bounding set now unless the box leaves root later
    /// ([`before_identity`](Self::before_identity) did it then).
    ///
    /// # Safety
    /// Raw syscalls on prepared data only.
    unsafe fn clear_ambient_and_bounding(&self) -> ChildResult {
        // SAFETY: prctl with integer arguments.
        let r = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            )
        };
        check(r, Stage::Capabilities, step::CLEAR_AMBIENT)?;
        if self.privileged && !self.leaves_root {
            // SAFETY: raw syscalls, as this function.
            unsafe { self.drop_bounding()? };
        }
        Ok(())
    }

    /// Apply explicit sets (see [`Sandbox::cap_set`]): the bounding set
    /// (unless [`before_identity`](Self::before_identity) did), then
    /// effective, permitted and inheritable as given, then the ambient
    /// capabilities listed. No securebits, as runc.
    ///
    /// # Safety
    /// Raw syscalls on prepared data only.
    unsafe fn apply_sets(&self, m: &SetMasks) -> ChildResult {
        // SAFETY: (whole block) prctl and capset with integer arguments or
        // pointers to our stack.
        unsafe {
            self.clear_ambient_and_bounding()?;
            if capset3(m.effective, m.permitted, m.inheritable) < 0 {
                return Err(ChildError::last(Stage::Capabilities, step::CAPSET_SETS));
            }
            if self.leaves_root {
                // Kept only for the switch (runc clears it too).
                check(
                    libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0),
                    Stage::Capabilities,
                    step::CLEAR_KEEP_CAPS,
                )?;
            }
            for cap in 0..=self.last_cap {
                if m.ambient & (1 << cap) != 0 {
                    check(
                        libc::prctl(
                            libc::PR_CAP_AMBIENT,
                            libc::PR_CAP_AMBIENT_RAISE,
                            cap as libc::c_ulong,
                            0,
                            0,
                        ),
                        Stage::Capabilities,
                        step::AMBIENT_RAISE + cap,
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Apply in the child (drop capabilities, lock securebits, no_new_privs).
    ///
    /// # Safety
    /// Raw syscalls on prepared data only.
    pub(crate) unsafe fn apply(&self) -> ChildResult {
        if let (true, Some(m)) = (self.drop, &self.sets) {
            // SAFETY: as documented for apply_sets.
            unsafe { self.apply_sets(m)? };
        } else if self.drop {
            // SAFETY: (whole block) prctl and capset with integer arguments
            // or pointers to our stack.
            unsafe {
                self.clear_ambient_and_bounding()?;
                let setpcap = if self.privileged {
                    1u64 << CAP_SETPCAP
                } else {
                    0
                };
                // After a switch from root (PR_SET_KEEPCAPS), the effective
                // set is empty: CAP_SETPCAP comes back from the permitted
                // set for the securebits lock.
                if self.keep != 0 || self.leaves_root {
                    if capset(self.keep | setpcap, self.keep) < 0 {
                        return Err(ChildError::last(Stage::Capabilities, step::CAPSET_KEPT));
                    }
                    for cap in 0..=self.last_cap {
                        if self.keep & (1 << cap) != 0 {
                            check(
                                libc::prctl(
                                    libc::PR_CAP_AMBIENT,
                                    libc::PR_CAP_AMBIENT_RAISE,
                                    cap as libc::c_ulong,
                                    0,
                                    0,
                                ),
                                Stage::Capabilities,
                                200 + cap,
                            )?;
                        }
                    }
                }
                if self.privileged {
                    check(
                        libc::prctl(libc::PR_SET_SECUREBITS, LOCKED_SECUREBITS, 0, 0, 0),
                        Stage::Capabilities,
                        102,
                    )?;
                }
                if capset(self.keep, self.keep) < 0 {
                    return Err(ChildError::last(Stage::Capabilities, step::CAPSET_FINAL));
                }
            }
        }
        if self.nnp {
            check(
                // SAFETY: prctl with integer arguments.
                unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) },
                Stage::NoNewPrivs,
                0,
            )?;
        }
        Ok(())
    }
}

/// The capabilities `names` (of builder method `field`) as a mask.
fn mask(field: &str, names: &[String], last_cap: u32) -> Result<u64> {
    let mut m = 0u64;
    for name in names {
        let Some(cap) = parse_cap(name) else {
            return Err(Error::invalid(
                field,
                format!("unknown capability {name:?} (expected e.g. CAP_NET_BIND_SERVICE)"),
            ));
        };
        if cap > last_cap {
            return Err(Error::Unsupported {
                feature: CAP_NAMES[cap as usize].into(),
                detail: format!("this kernel knows capabilities up to {last_cap}"),
            });
        }
        m |= 1 << cap;
    }
    Ok(m)
}

/// The names of the capabilities in `m`, comma-separated.
fn names_of(m: u64) -> String {
    (0..64)
        .filter(|i| m & (1 << i) != 0)
        .filter_map(|i| CAP_NAMES.get(i as usize).copied())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The capabilities layer of a caller without CAP_SETPCAP: the four sets
/// were `done` ("set", "cleared"), the bounding set could not be dropped.
fn bounding_kept(requested: String, done: &str) -> LayerReport {
    LayerReport {
        layer: "capabilities".into(),
        requested,
        applied: format!(
            "effective, permitted, inheritable, ambient {done}; bounding \
             set NOT dropped (no CAP_SETPCAP; no_new_privs set instead)"
        ),
        enforcement: Enforcement::Partial,
    }
}

/// The names of the capabilities in `mask`, comma-separated ("none" for
/// an empty mask), as the report shows them.
fn cap_names(mask: u64) -> String {
    let v: Vec<&str> = (0..64)
        .filter(|i| mask & (1 << i) != 0)
        .filter_map(|i| CAP_NAMES.get(i as usize).copied())
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(",")
    }
}

/// The bounding mask and the other four of explicit `sets`, checked
/// against the rules `capset` and `PR_CAP_AMBIENT_RAISE` enforce, so a bad
/// combination is an error before spawn rather than a failed child.
fn set_masks(sets: &CapSets, last_cap: u32) -> Result<(u64, SetMasks)> {
    let m = |set: CapSet| mask(&format!("cap_set({})", set.name()), sets.get(set), last_cap);
    let bounding = m(CapSet::Bounding)?;
    let masks = SetMasks {
        effective: m(CapSet::Effective)?,
        permitted: m(CapSet::Permitted)?,
        inheritable: m(CapSet::Inheritable)?,
        ambient: m(CapSet::Ambient)?,
    };
    let rule = |set: CapSet, extra: u64, within: &str| -> Result<()> {
        if extra == 0 {
            return Ok(());
        }
        Err(Error::invalid(
            format!("cap_set({})", set.name()),
            format!(
                "{} must also be {within} (the kernel refuses a capability there \
                 otherwise)",
                names_of(extra)
            ),
        ))
    };
    rule(
        CapSet::Effective,
        masks.effective & !masks.permitted,
        "permitted",
    )?;
    rule(
        CapSet::Inheritable,
        masks.inheritable & !bounding,
        "in the bounding set",
    )?;
    rule(
        CapSet::Ambient,
        masks.ambient & !(masks.permitted & masks.inheritable),
        "permitted and inheritable",
    )?;
    Ok((bounding, masks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        assert_eq!(parse_cap("CAP_NET_BIND_SERVICE"), Some(10));
        assert_eq!(parse_cap("net_bind_service"), Some(10));
        assert_eq!(parse_cap("cap_sys_admin"), Some(21));
        assert_eq!(parse_cap("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(parse_cap("fly"), None);
        assert!(cap_last_cap() >= 40);
    }

    #[test]
    fn explicit_sets_are_masks_and_checked() {
        const DOCKER: [&str; 14] = [
            "CAP_CHOWN",
            "CAP_DAC_OVERRIDE",
            "CAP_FSETID",
            "CAP_FOWNER",
            "CAP_MKNOD",
            "CAP_NET_RAW",
            "CAP_SETGID",
            "CAP_SETUID",
            "CAP_SETFCAP",
            "CAP_SETPCAP",
            "CAP_NET_BIND_SERVICE",
            "CAP_SYS_CHROOT",
            "CAP_KILL",
            "CAP_AUDIT_WRITE",
        ];
        let mut sb = Sandbox::new();
        for set in [CapSet::Bounding, CapSet::Effective, CapSet::Permitted] {
            sb = sb.cap_set(set, DOCKER);
        }
        let sets = sb.caps_config().sets().unwrap();
        let (b, m) = set_masks(sets, 40).unwrap();
        assert_eq!(b, 0xa80425fb);
        assert_eq!((m.effective, m.permitted), (0xa80425fb, 0xa80425fb));
        assert_eq!((m.inheritable, m.ambient), (0, 0));
        // A profile keeps them.
        let json = serde_json::to_string(&sb).unwrap();
        assert!(
            json.contains("\"sets\":{\"bounding\":[\"CAP_CHOWN\""),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Sandbox>(&json).unwrap(), sb);
        assert_eq!(sb.caps_config().kept(), DOCKER);
        // keep_caps replaces the sets, and the sets the keep list.
        assert!(sb
            .clone()
            .keep_caps(["CAP_KILL"])
            .caps_config()
            .sets()
            .is_none());
        let back = Sandbox::new()
            .keep_caps(["CAP_KILL"])
            .cap_set(CapSet::Bounding, ["CAP_KILL"]);
        assert!(back.caps_config().keep().is_empty());
        assert!(sb.keep_all_caps().caps_config().sets().is_none());

        let bad = |sb: Sandbox| set_masks(sb.caps_config().sets().unwrap(), 40).unwrap_err();
        let e = bad(Sandbox::new().cap_set(CapSet::Effective, ["CAP_KILL"]));
        assert!(
            e.to_string().contains("CAP_KILL must also be permitted"),
            "{e}"
        );
        let e = bad(Sandbox::new().cap_set(CapSet::Inheritable, ["CAP_KILL"]));
        assert!(e.to_string().contains("bounding"), "{e}");
        let e = bad(Sandbox::new()
            .cap_set(CapSet::Permitted, ["CAP_KILL"])
            .cap_set(CapSet::Ambient, ["CAP_KILL"]));
        assert!(e.to_string().contains("permitted and inheritable"), "{e}");
        let e = bad(Sandbox::new().cap_set(CapSet::Ambient, ["CAP_FLY"]));
        assert!(e.to_string().contains("cap_set(ambient)"), "{e}");
        let ok = Sandbox::new()
            .cap_set(CapSet::Bounding, ["CAP_KILL"])
            .cap_set(CapSet::Permitted, ["CAP_KILL"])
            .cap_set(CapSet::Inheritable, ["CAP_KILL"])
            .cap_set(CapSet::Ambient, ["kill"]);
        assert!(set_masks(ok.caps_config().sets().unwrap(), 40).is_ok());
    }

    #[test]
    fn nothing_requested_means_no_plan() {
        assert!(CapsPlan::prepare(&Sandbox::new()).unwrap().is_none());
        let p = CapsPlan::prepare(&Sandbox::new().no_new_privs(true))
            .unwrap()
            .unwrap();
        assert!(p.nnp && !p.drop);
    }
}
