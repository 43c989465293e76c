//! SELinux and AppArmor in a config (`process.selinuxLabel`,
//! `process.apparmorProfile`, `linux.mountLabel`): always refused, with
//! the reason, never accepted with a warning.
//!
//! rsandbox-oci does not write exec labels or change AppArmor profiles.
//! Where the host enforces the LSM asked for, accepting the field would
//! run the container without the confinement the engine asked for
//! (podman's `container_t` label, its `containers-default` profile): the
//! container would be silently weaker than under runc, so the config is
//! refused and the error says how to run unconfined on purpose. Where the
//! LSM is not enabled the confinement cannot exist at all, and runc refuses
//! the config there too.

use std::path::Path;

use crate::error::{OciError, Res};

/// A Linux security module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lsm {
    AppArmor,
    SeLinux,
}

impl Lsm {
    fn name(self) -> &'static str {
        match self {
            Lsm::AppArmor => "AppArmor",
            Lsm::SeLinux => "SELinux",
        }
    }

    /// Its id in the kernel's LSM syscalls (`include/uapi/linux/lsm.h`).
    fn id(self) -> u64 {
        match self {
            Lsm::SeLinux => 101,
            Lsm::AppArmor => 104,
        }
    }

    /// Its name in `/sys/kernel/security/lsm`.
    fn key(self) -> &'static str {
        match self {
            Lsm::AppArmor => "apparmor",
            Lsm::SeLinux => "selinux",
        }
    }

    /// Whether the running kernel has this LSM active: the kernel's own
    /// list (`lsm_list_modules`, Linux 6.8), else securityfs's, else the
    /// module's traces.
    pub fn enabled(self) -> bool {
        if let Some(ids) = active_ids() {
            return ids.contains(&self.id());
        }
        if let Ok(list) = std::fs::read_to_string("/sys/kernel/security/lsm") {
            return list.trim().split(',').any(|m| m == self.key());
        }
        match self {
            Lsm::AppArmor => std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
                .is_ok_and(|s| s.starts_with('Y')),
            Lsm::SeLinux => Path::new("/sys/fs/selinux/enforce").exists(),
        }
    }
}

/// The ids of the active LSMs, from `lsm_list_modules` (None before 6.8).
fn active_ids() -> Option<Vec<u64>> {
    const SYS_LSM_LIST_MODULES: libc::c_long = 461;
    let mut ids = [0u64; 32];
    let mut size = std::mem::size_of_val(&ids) as u32;
    // SAFETY: the syscall fills at most `size` bytes of `ids` and writes
    // the size used back.
    let n = unsafe {
        libc::syscall(
            SYS_LSM_LIST_MODULES,
            ids.as_mut_ptr(),
            &mut size as *mut u32,
            0u32,
        )
    };
    if n < 0 {
        return None;
    }
    Some(ids.iter().take(n as usize).copied().collect())
}

/// A label or profile of `lsm` in config field `field`: an error saying
/// why, if one is given.
pub fn refuse(field: &str, value: Option<&str>, lsm: Lsm) -> Res<()> {
    check(field, value, lsm, lsm.enabled())
}

/// [`refuse`] with the LSM's state given.
fn check(field: &str, value: Option<&str>, lsm: Lsm, enabled: bool) -> Res<()> {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    let (flag, unconfined) = match lsm {
        Lsm::AppArmor => ("apparmor", "--security-opt apparmor=unconfined"),
        Lsm::SeLinux => ("label", "--security-opt label=disable"),
    };
    if enabled {
        Err(OciError::unsupported(
            field,
            format!(
                "{v:?} asks for {} confinement, which this host enforces but \
                 rsandbox-oci cannot apply (it does not set {flag} labels); the container \
                 would run without it. Remove the field to run unconfined on purpose \
                 (podman: {unconfined}), or use a runtime that applies it (runc, crun)",
                lsm.name()
            ),
        ))
    } else {
        // runc refuses it here too: the config asks for what this host lacks.
        Err(OciError::spec(
            field,
            format!(
                "{v:?} asks for {}, which this kernel does not have enabled; \
                 remove it (podman: {unconfined})",
                lsm.name()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the host enforces the LSM (a warning before: the label was
    /// dropped) and where it does not, a label is an error saying which.
    #[test]
    fn labels_are_refused_either_way() {
        assert!(refuse("process.apparmorProfile", None, Lsm::AppArmor).is_ok());
        assert!(refuse("process.apparmorProfile", Some(""), Lsm::AppArmor).is_ok());
        for lsm in [Lsm::AppArmor, Lsm::SeLinux] {
            for (enabled, why) in [(true, "cannot apply"), (false, "does not have enabled")] {
                let e = check("f", Some("x"), lsm, enabled).unwrap_err().to_string();
                assert!(e.starts_with("f: \"x\" asks for"), "{e}");
                assert!(e.contains(why) && e.contains(lsm.name()), "{e}");
            }
            assert!(refuse("f", Some("x"), lsm).is_err());
        }
    }

    #[test]
    fn detection_agrees_with_securityfs() {
        let Ok(list) = std::fs::read_to_string("/sys/kernel/security/lsm") else {
            // No securityfs mounted here: the kernel's list decides alone.
            return;
        };
        for lsm in [Lsm::AppArmor, Lsm::SeLinux] {
            assert_eq!(
                lsm.enabled(),
                list.trim().split(',').any(|m| m == lsm.key()),
                "{lsm:?}"
            );
        }
    }
}
