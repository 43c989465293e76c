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
//! All of it runs in the child after the uid switch and before Landlock,
//! with raw `prctl`/`capset` calls on data prepared here.

use serde::{Deserialize, Serialize};

use crate::error::{ChildError, ChildResult, Error, Result, Stage};
use crate::report::{Enforcement, LayerReport};
use crate::{Namespace, Sandbox};

/// Capability names, indexed by number (linux/capability.h).
pub const CAP_NAMES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const CAP_SETPCAP: u32 = 8;

/// The securebits set and locked: NOROOT, NO_SETUID_FIXUP, KEEP_CAPS (off)
/// and NO_CAP_AMBIENT_RAISE, each with its lock.
pub const LOCKED_SECUREBITS: libc::c_ulong = (1 << 0) // SECBIT_NOROOT
    | (1 << 1) // SECBIT_NOROOT_LOCKED
    | (1 << 2) // SECBIT_NO_SETUID_FIXUP
    | (1 << 3) // SECBIT_NO_SETUID_FIXUP_LOCKED
    | (1 << 5) // SECBIT_KEEP_CAPS_LOCKED
    | (1 << 6) // SECBIT_NO_CAP_AMBIENT_RAISE
    | (1 << 7); // SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED

/// Parse a capability name: `CAP_NET_RAW`, `net_raw`, case-insensitive.
pub fn parse_cap(name: &str) -> Option<u32> {
    let up = name.trim().to_ascii_uppercase();
    let full = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    CAP_NAMES.iter().position(|n| *n == full).map(|i| i as u32)
}

/// The highest capability this kernel knows (`/proc/sys/kernel/cap_last_cap`).
///
/// Read once per process: it is fixed for the life of the kernel, and
/// every spawn that drops capabilities needs it.
pub fn cap_last_cap() -> u32 {
    static LAST: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(CAP_NAMES.len() as u32 - 1)
    })
}

/// Privilege configuration of a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CapsConfig {
    /// Drop every capability not in `keep`, and lock securebits.
    pub(crate) drop: bool,
    /// Capabilities kept (names as given).
    pub(crate) keep: Vec<String>,
    /// `Some(true)`: set no_new_privs. `None`: set it only when seccomp or
    /// Landlock need it. `Some(false)`: never (seccomp and Landlock then need
    /// `CAP_SYS_ADMIN`).
    pub(crate) no_new_privs: Option<bool>,
    /// Apply what the privileges allow instead of failing.
    pub(crate) best_effort: bool,
}

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
    pub fn keep_caps<I, S>(mut self, caps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.caps.drop = true;
        self.caps.keep = caps.into_iter().map(Into::into).collect();
        self
    }
    /// Keep every capability the box would otherwise have (undoes
    /// [`drop_caps`](Self::drop_caps), e.g. to relax [`Sandbox::strict`]).
    pub fn keep_all_caps(mut self) -> Self {
        self.caps.drop = false;
        self.caps.keep.clear();
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
                // Unmapped: the child becomes 0 first when 0 is mapped.
                .map_or(
                    if sb.uid_map.iter().any(|m| m.inside == 0) {
                        0
                    } else {
                        65534
                    },
                    |m| m.inside + (euid - m.outside),
                )
        };
        (true, initial == 0 && target != 0)
    } else {
        (
            crate::spawn::plan::has_effective_cap(CAP_SETPCAP),
            euid == 0 && sb.uid.is_some_and(|u| u != 0),
        )
    }
}

/// Capability sets prepared for the child.
#[derive(Debug)]
pub(crate) struct CapsPlan {
    drop: bool,
    keep: u64,
    last_cap: u32,
    /// Drop the bounding set and lock securebits (needs `CAP_SETPCAP`).
    privileged: bool,
    /// The uid switch leaves uid 0: drop the bounding set before it and
    /// keep the permitted set across it (`PR_SET_KEEPCAPS`), as runc does.
    leaves_root: bool,
    nnp: bool,
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

fn check(r: libc::c_int, stage: Stage, detail: u32) -> ChildResult {
    if r < 0 {
        Err(ChildError::last(stage, detail))
    } else {
        Ok(())
    }
}

/// `capset` on the calling thread, with the same mask for the three sets
/// except `inh`.
fn capset(eff_perm: u64, inh: u64) -> libc::c_long {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: eff_perm as u32,
            permitted: eff_perm as u32,
            inheritable: inh as u32,
        },
        CapData {
            effective: (eff_perm >> 32) as u32,
            permitted: (eff_perm >> 32) as u32,
            inheritable: (inh >> 32) as u32,
        },
    ];
    // SAFETY: capset reads a header and two data structs from our stack.
    unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) }
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
        let mut keep = 0u64;
        for name in &c.keep {
            let Some(cap) = parse_cap(name) else {
                return Err(Error::invalid(
                    "keep_caps",
                    format!("unknown capability {name:?} (expected e.g. CAP_NET_BIND_SERVICE)"),
                ));
            };
            if cap > last_cap {
                return Err(Error::Unsupported {
                    feature: CAP_NAMES[cap as usize].into(),
                    detail: format!("this kernel knows capabilities up to {last_cap}"),
                });
            }
            keep |= 1 << cap;
        }
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
        let mut out = Vec::new();
        let keep_names = |mask: u64| -> String {
            let v: Vec<&str> = (0..64)
                .filter(|i| mask & (1 << i) != 0)
                .filter_map(|i| CAP_NAMES.get(i as usize).copied())
                .collect();
            if v.is_empty() {
                "none".into()
            } else {
                v.join(",")
            }
        };
        match this {
            Some(p) if p.drop => {
                let req = format!("drop all, keep {}", keep_names(p.keep));
                if p.privileged {
                    out.push(LayerReport::full(
                        "capabilities",
                        format!("{req} (bounding, effective, permitted, inheritable, ambient)"),
                    ));
                    out.push(LayerReport::full(
                        "securebits",
                        format!("locked {LOCKED_SECUREBITS:#x}"),
                    ));
                } else {
                    out.push(LayerReport {
                        layer: "capabilities".into(),
                        requested: req,
                        applied: "effective, permitted, inheritable, ambient cleared; bounding \
                                  set NOT dropped (no CAP_SETPCAP; no_new_privs set instead)"
                            .into(),
                        enforcement: Enforcement::Partial,
                    });
                    out.push(LayerReport {
                        layer: "securebits".into(),
                        requested: format!("locked {LOCKED_SECUREBITS:#x}"),
                        applied: "not locked (no CAP_SETPCAP)".into(),
                        enforcement: Enforcement::NotEnforced,
                    });
                }
            }
            _ => {
                out.push(LayerReport::not_requested("capabilities"));
                out.push(LayerReport::not_requested("securebits"));
            }
        }
        let nnp = this.is_some_and(|p| p.nnp) || (needs_nnp && sb.caps.no_new_privs != Some(false));
        out.push(if nnp {
            LayerReport::full("no_new_privs", "on")
        } else {
            LayerReport::not_requested("no_new_privs")
        });
        out
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
                104,
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

    /// Apply in the child (drop capabilities, lock securebits, no_new_privs).
    ///
    /// # Safety
    /// Raw syscalls on prepared data only.
    pub(crate) unsafe fn apply(&self) -> ChildResult {
        if self.drop {
            // SAFETY: (whole block) prctl and capset with integer arguments
            // or pointers to our stack.
            unsafe {
                check(
                    libc::prctl(
                        libc::PR_CAP_AMBIENT,
                        libc::PR_CAP_AMBIENT_CLEAR_ALL,
                        0,
                        0,
                        0,
                    ),
                    Stage::Capabilities,
                    100,
                )?;
                if self.privileged && !self.leaves_root {
                    self.drop_bounding()?;
                }
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
                        return Err(ChildError::last(Stage::Capabilities, 101));
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
                    return Err(ChildError::last(Stage::Capabilities, 103));
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
    fn nothing_requested_means_no_plan() {
        assert!(CapsPlan::prepare(&Sandbox::new()).unwrap().is_none());
        let p = CapsPlan::prepare(&Sandbox::new().no_new_privs(true))
            .unwrap()
            .unwrap();
        assert!(p.nnp && !p.drop);
    }
}
