//! Honest degradation where namespaces are refused.
//!
//! On a host where the caller may not create a user namespace (Ubuntu
//! 24.04's `kernel.apparmor_restrict_unprivileged_userns=1`,
//! `user.max_user_namespaces=0`, Debian's `kernel.unprivileged_userns_clone=0`,
//! or inside a container or sandbox whose seccomp filter refuses `clone`
//! with namespace flags, as rsandbox's own strict box does) the clone of a
//! box fails. A strict box then fails with [`Error::Privilege`] naming the
//! reason and the fix. A
//! [`best_effort`](crate::Sandbox::best_effort) box is spawned again
//! without what cannot be made: first without the user
//! namespace alone (a caller holding `CAP_SYS_ADMIN` can still make the
//! others), then without any namespace. Every layer that does not depend
//! on a namespace stays (seccomp, Landlock, no_new_privs, the capability
//! drop, rlimits, cgroups where delegated), and the enforcement report
//! names each protection lost: every namespace not made, the filesystem
//! view (which needs a mount namespace), the identity and the hostname.
//!
//! Ubuntu's AppArmor restriction lets the clone succeed and strips the new
//! namespace of its capabilities: the box's setup then fails with EPERM,
//! which counts as the same refusal when that sysctl is set.
//!
//! An egress policy cannot degrade: it is the box's network, and a box in
//! the host's network namespace would reach everything. Such a box fails
//! as a strict one does.

use std::io;

use crate::error::Error;
use crate::fs::FsConfig;
use crate::ns::Namespace;
use crate::report::{Enforcement, LayerReport};
use crate::sys::caps::{has_effective_cap, CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN};
use crate::Sandbox;

/// Whether `sb` may run degraded: [`Sandbox::best_effort`] was asked
/// (in a profile: `best_effort` in each of `limits`, `caps` and
/// `landlock`, which is what it sets). A box best-effort for one layer
/// only is not one that accepts to lose its namespaces.
pub(crate) fn wanted(sb: &Sandbox) -> bool {
    sb.limits.best_effort && sb.caps.best_effort && sb.landlock.best_effort
}

/// Whether a clone error means the kernel or a security layer refused to
/// create the namespaces asked for (not a bug or a resource shortage of
/// the box itself).
pub(crate) fn is_refusal(sb: &Sandbox, e: &io::Error) -> bool {
    if sb.namespaces.is_empty() {
        return false;
    }
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => true,
        // user.max_user_namespaces=0 (or the per-user count reached).
        Some(libc::ENOSPC) | Some(libc::EUSERS) => sb.has_ns(Namespace::User),
        _ => false,
    }
}

/// The symbolic name of the errnos a refusal comes with.
fn errno_name(errno: i32) -> String {
    match errno {
        libc::EPERM => "EPERM".into(),
        libc::EACCES => "EACCES".into(),
        libc::ENOSPC => "ENOSPC".into(),
        libc::EUSERS => "EUSERS".into(),
        n => format!("errno {n}"),
    }
}

/// Whether a user namespace of this unprivileged caller is made but
/// stripped of its capabilities (Ubuntu's
/// `kernel.apparmor_restrict_unprivileged_userns=1`): its setup then fails
/// with EPERM after the clone succeeded.
pub(crate) fn userns_restricted(sb: &Sandbox) -> bool {
    sb.has_ns(Namespace::User)
        && !has_effective_cap(CAP_SYS_ADMIN)
        && read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref()
            == Some("1")
}

fn read_sysctl(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Why this host refuses the namespaces, as far as it can be read from
/// here (sysctls, the caller's own seccomp state, its capabilities).
pub(crate) fn reason(sb: &Sandbox, errno: i32) -> String {
    let name = errno_name(errno);
    let user = sb.has_ns(Namespace::User);
    let mut why = Vec::new();
    if !user && !has_effective_cap(CAP_SYS_ADMIN) {
        why.push(
            "creating them without a user namespace needs CAP_SYS_ADMIN, which this caller lacks"
                .to_string(),
        );
    }
    if user && read_sysctl("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        why.push("user.max_user_namespaces=0".to_string());
    }
    if user && read_sysctl("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        why.push("kernel.unprivileged_userns_clone=0".to_string());
    }
    if user
        && read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref()
            == Some("1")
    {
        why.push("AppArmor's kernel.apparmor_restrict_unprivileged_userns=1".to_string());
    }
    if own_seccomp_mode() == Some(2) {
        why.push(
            "a seccomp filter on this process (an enclosing container or sandbox refusing \
             clone/unshare with namespace flags)"
                .to_string(),
        );
    }
    if why.is_empty() {
        why.push("a security module or an enclosing container".to_string());
    }
    let what = if user {
        "user namespaces"
    } else {
        "namespaces"
    };
    format!("{what} refused ({name}): {}", why.join("; "))
}

/// The `Seccomp:` field of this process's status (0 none, 2 filter).
fn own_seccomp_mode() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .and_then(|v| v.trim().parse().ok())
}

/// What to do about it.
pub(crate) const FIX: &str = "allow user namespaces for this caller (the container's seccomp \
     profile, kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile with \
     `userns,`, user.max_user_namespaces > 0), run as root outside any container, or use \
     best_effort(true) (CLI --best-effort) to run with Landlock, seccomp, no_new_privs, \
     rlimits and delegated cgroups only, each lost namespace named in the enforcement report";

/// The strict box's error: the reason and the fix.
pub(crate) fn refused_error(sb: &Sandbox, errno: i32) -> Error {
    let why = reason(sb, errno);
    let egress = if sb.egress.is_some() {
        " (an egress policy needs its network namespace: it cannot run degraded)"
    } else {
        ""
    };
    Error::Privilege {
        privilege: if sb.has_ns(Namespace::User) {
            "user namespaces".into()
        } else {
            "CAP_SYS_ADMIN".into()
        },
        action: format!("create the box's namespaces{egress}"),
        fix: format!("{why}. Fix: {FIX}"),
    }
}

/// The next, smaller description to try after `sb`'s clone was refused
/// with `errno`, and the report entries of what it loses; `None` when
/// nothing smaller can be tried (no namespace left, or an egress policy).
pub(crate) fn fallback(sb: &Sandbox, errno: i32) -> Option<(Sandbox, Vec<LayerReport>)> {
    if sb.namespaces.is_empty() || sb.egress.is_some() {
        return None;
    }
    let why = reason(sb, errno);
    // A caller with CAP_SYS_ADMIN keeps the other namespaces.
    let drop: Vec<Namespace> = if sb.has_ns(Namespace::User)
        && sb.namespaces.len() > 1
        && has_effective_cap(CAP_SYS_ADMIN)
    {
        vec![Namespace::User]
    } else {
        sb.namespaces.clone()
    };
    let mut out = sb.clone();
    out.namespaces.retain(|n| !drop.contains(n));
    let mut lost: Vec<LayerReport> = drop
        .iter()
        .map(|ns| lost_entry(&format!("namespace:{}", ns.name()), "new namespace", &why))
        .collect();
    if drop.contains(&Namespace::User) {
        lost.extend(without_user_ns(&mut out, &why));
    }
    if drop.contains(&Namespace::Mount) && !out.join_ns.iter().any(|(n, _)| *n == Namespace::Mount)
    {
        lost.extend(without_mount_ns(&mut out, &why));
    }
    if drop.contains(&Namespace::Uts) && out.hostname.take().is_some() {
        lost.push(lost_entry("hostname", "own hostname", &why));
    }
    if drop.contains(&Namespace::Pid) {
        // Nothing is lost beyond the namespace: the payload is its own
        // process either way.
        out.payload_pid1 = false;
    }
    Some((out, lost))
}

fn lost_entry(layer: &str, requested: &str, why: &str) -> LayerReport {
    LayerReport {
        layer: layer.into(),
        requested: requested.into(),
        applied: format!("none: {why}"),
        enforcement: Enforcement::NotEnforced,
    }
}

/// Without a user namespace the box's ids are host ids: a root caller
/// that may switch ids runs it as `nobody` (65534), which keeps the
/// unprivileged identity; other ids asked for are dropped.
fn without_user_ns(sb: &mut Sandbox, why: &str) -> Option<LayerReport> {
    let asked = sb.uid.is_some() || sb.gid.is_some() || !sb.uid_map.is_empty();
    sb.uid_map.clear();
    sb.gid_map.clear();
    sb.groups.clear();
    // SAFETY: trivial getter.
    let euid = unsafe { libc::geteuid() };
    let unprivileged = sb.identity == crate::identity::BoxIdentity::Unprivileged;
    let id = crate::identity::UNPRIVILEGED_ID;
    if unprivileged
        && euid == 0
        && has_effective_cap(CAP_SETUID)
        && has_effective_cap(CAP_SETGID)
        && mapped_here("uid_map", id)
        && mapped_here("gid_map", id)
    {
        sb.uid = Some(id);
        sb.gid = Some(id);
        return Some(LayerReport {
            layer: "identity".into(),
            requested: "unprivileged".into(),
            applied: format!(
                "host uid {id} gid {id}, also inside: the box cannot be uid 0 of its own \
                 ({why})"
            ),
            enforcement: Enforcement::Partial,
        });
    }
    sb.uid = None;
    sb.gid = None;
    (asked || (unprivileged && euid == 0)).then(|| {
        lost_entry(
            "identity",
            if unprivileged {
                "unprivileged"
            } else {
                "ids of the box"
            },
            &format!("the box runs as the caller's uid {euid}; {why}"),
        )
    })
}

/// Whether `id` exists in this process's user namespace (an enclosing
/// namespace may map only its root).
fn mapped_here(file: &str, id: u32) -> bool {
    let Ok(map) = std::fs::read_to_string(format!("/proc/self/{file}")) else {
        return false;
    };
    map.lines().any(|l| {
        let n: Vec<u64> = l
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        n.len() == 3 && n[0] <= u64::from(id) && u64::from(id) < n[0] + n[2]
    })
}

/// Without a mount namespace the box sees the host's filesystem (less
/// what Landlock denies).
fn without_mount_ns(sb: &mut Sandbox, why: &str) -> Option<LayerReport> {
    let view = if let Some(r) = &sb.fs.rootfs {
        format!(
            "root {} with {} mount steps",
            r.display(),
            sb.fs.steps.len()
        )
    } else if sb.fs.bare {
        format!("empty root with {} mount steps", sb.fs.steps.len())
    } else {
        format!(
            "default view (host secrets hidden) with {} mount steps",
            sb.fs.steps.len()
        )
    };
    sb.fs = FsConfig::default();
    Some(LayerReport {
        layer: "filesystem".into(),
        requested: view,
        applied: format!(
            "none: the host's filesystem as the caller sees it, less what Landlock denies; {why}"
        ),
        enforcement: Enforcement::NotEnforced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eperm() -> io::Error {
        io::Error::from_raw_os_error(libc::EPERM)
    }

    #[test]
    fn only_a_refused_namespace_is_a_refusal() {
        assert!(!is_refusal(&Sandbox::new(), &eperm()));
        assert!(is_refusal(&Sandbox::new().pid_ns(), &eperm()));
        let nospc = io::Error::from_raw_os_error(libc::ENOSPC);
        assert!(is_refusal(&Sandbox::new().user_ns(), &nospc));
        assert!(!is_refusal(&Sandbox::new().pid_ns(), &nospc));
        let nomem = io::Error::from_raw_os_error(libc::ENOMEM);
        assert!(!is_refusal(&Sandbox::strict(), &nomem));
    }

    #[test]
    fn only_a_box_best_effort_for_every_layer_degrades() {
        assert!(!wanted(&Sandbox::strict()));
        assert!(wanted(&Sandbox::strict().best_effort(true)));
        let mut one = Sandbox::strict();
        one.limits.best_effort = true;
        assert!(!wanted(&one));
    }

    #[test]
    fn egress_and_no_namespace_cannot_degrade() {
        assert!(fallback(&Sandbox::new(), libc::EPERM).is_none());
        let sb = Sandbox::strict().egress(crate::egress::EgressPolicy::default());
        assert!(fallback(&sb, libc::EPERM).is_none());
        let e = refused_error(&sb, libc::EPERM).to_string();
        assert!(e.contains("egress policy") && e.contains("Fix:"), "{e}");
    }

    #[test]
    fn without_namespaces_the_view_and_hostname_are_named_lost() {
        // No user namespace asked: every namespace goes (without
        // CAP_SYS_ADMIN they were refused; with it, there is no smaller
        // step either).
        let sb = Sandbox::new()
            .pid_ns()
            .mount_ns()
            .uts_ns()
            .hostname("box")
            .tmpfs("/scratch", 1 << 20)
            .payload_as_pid1(true);
        let (out, lost) = fallback(&sb, libc::EPERM).unwrap();
        assert!(out.namespaces().is_empty());
        assert!(out.hostname.is_none() && !out.payload_pid1);
        assert_eq!(out.fs, FsConfig::default());
        let names: Vec<&str> = lost.iter().map(|l| l.layer.as_str()).collect();
        for want in [
            "namespace:pid",
            "namespace:mnt",
            "namespace:uts",
            "filesystem",
            "hostname",
        ] {
            assert!(names.contains(&want), "{names:?}");
        }
        assert!(lost
            .iter()
            .all(|l| l.enforcement == Enforcement::NotEnforced && l.applied.starts_with("none: ")));
        // The rest of the description stays.
        assert_eq!(out.seccomp, sb.seccomp);
        assert_eq!(out.caps, sb.caps);
    }
}
