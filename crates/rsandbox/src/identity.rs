//! Which host identity a box's ids stand for.
//!
//! A user namespace maps the box's ids to ids of the caller's namespace;
//! the kernel checks every host file, socket and process the box touches
//! against those host ids. By default (the plain builder) the caller's own
//! uid and gid are mapped: for a root caller the box's uid 0 *is* host
//! root, its capabilities dropped, so owner permissions of root's files
//! (`/etc/shadow`, `/root`, a root-only Unix socket) still let it in.
//!
//! [`BoxIdentity::Unprivileged`] ([`Sandbox::strict`] and the CLI's
//! default) maps the box's uid and gid instead to [`UNPRIVILEGED_ID`]
//! (65534, `nobody`/`nogroup` on Debian, Fedora, Arch, Alpine) when the
//! caller is root and gives no explicit map. Inside, the payload is still
//! the uid it asked for (0 by default); outside it is `nobody`, so host
//! files and sockets are checked against their "other" permissions.
//!
//! Why one fixed id and not a range of subordinate ids per box (Podman's
//! `--userns=auto`): a fixed id needs no `/etc/subuid` entry, no allocator
//! shared between processes and no state to leak when a caller dies; it
//! exists with that meaning on every distribution, and files a box leaves
//! in a bound directory have one predictable owner. Boxes sharing it are
//! kept apart by their PID namespaces (no signal or ptrace across) and
//! cgroups; two boxes given the same writable directory can touch each
//! other's files there, which they could anyway. The cost: only that one
//! id is mapped, so a payload cannot switch to another uid.
//!
//! What it costs at spawn: only the parent may write a map to another id
//! (it holds `CAP_SETUID` over the caller's namespace, the child does
//! not), so the child waits for it, and therefore cannot share the
//! caller's memory until its exec (`sys/vfork.rs`): a root caller's strict
//! box is cloned as a copy, whose cost grows with the caller's size (page
//! tables; see README, Performance). [`Sandbox::host_identity`] keeps the
//! shared path.
//!
//! Files the box creates in a bound host directory are owned on the host
//! by 65534:65534 (the box sees them as its own uid and gid). A bound
//! directory must be writable by that id for the box to write in it
//! (`chown 65534:65534 DIR`, or mode `0777`/`1777`); the root caller owns
//! and can remove or `chown` back whatever the box wrote.
//! [`Sandbox::host_identity`] (CLI `--host-identity`) keeps the caller's
//! identity instead.

use std::borrow::Cow;

use crate::idmap::IdMap;
use crate::ns::Namespace;
use crate::Sandbox;

pub use crate::config::identity::*;

/// Identity builder methods.
impl Sandbox {
    /// Map the box's uid and gid to the unprivileged host id
    /// [`UNPRIVILEGED_ID`] when the caller is root (the strict preset's
    /// default; see [`BoxIdentity`]). Needs a user namespace; explicit
    /// [`uid_map`](Self::uid_map)/[`gid_map`](Self::gid_map) lines win.
    pub fn unprivileged_identity(mut self) -> Self {
        self.identity = BoxIdentity::Unprivileged;
        self
    }

    /// Keep the caller's own uid and gid as the box's host identity (the
    /// plain builder's default): a root caller's box is then host root
    /// without capabilities, and reads what root's files allow their owner.
    pub fn host_identity(mut self) -> Self {
        self.identity = BoxIdentity::Caller;
        self
    }

    /// The identity asked for.
    pub fn box_identity(&self) -> BoxIdentity {
        self.identity
    }
}

/// Whether `sb` is remapped to [`UNPRIVILEGED_ID`] for a caller of
/// effective uid `euid`. Only a caller that may map another id (holding
/// `CAP_SETUID` and `CAP_SETGID`) is: uid 0 without them (root of an
/// enclosing box or container that dropped its capabilities) is no host
/// root, and could not write the map.
pub(crate) fn remaps(sb: &Sandbox, euid: u32) -> bool {
    sb.identity == BoxIdentity::Unprivileged
        && euid == 0
        && sb.has_ns(Namespace::User)
        && sb.uid_map.is_empty()
        && sb.gid_map.is_empty()
        && may_map_others()
}

/// Whether this caller holds `CAP_SETUID` and `CAP_SETGID`.
fn may_map_others() -> bool {
    use crate::sys::caps::{has_effective_cap, CAP_SETGID, CAP_SETUID};
    has_effective_cap(CAP_SETUID) && has_effective_cap(CAP_SETGID)
}

/// `sb` with the identity resolved into explicit map lines, so every later
/// stage (plan, capabilities, seccomp, report) reads one description.
pub(crate) fn resolve(sb: &Sandbox) -> Cow<'_, Sandbox> {
    // SAFETY: trivial getter.
    let euid = unsafe { libc::geteuid() };
    if !remaps(sb, euid) {
        return Cow::Borrowed(sb);
    }
    let mut out = sb.clone();
    let uid = sb.uid.unwrap_or(0);
    let gid = sb.gid.unwrap_or(0);
    out.uid = Some(uid);
    out.gid = Some(gid);
    out.uid_map = vec![IdMap::new(uid, UNPRIVILEGED_ID, 1)];
    out.gid_map = vec![IdMap::new(gid, UNPRIVILEGED_ID, 1)];
    Cow::Owned(out)
}

/// The enforcement report's `identity` entry for a resolved description.
pub(crate) fn report(sb: &Sandbox) -> crate::report::LayerReport {
    // SAFETY: trivial getters.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let requested = match sb.identity {
        BoxIdentity::Caller => "caller's ids",
        BoxIdentity::Unprivileged => "unprivileged",
    };
    let applied = if !sb.has_ns(Namespace::User) {
        format!(
            "host uid {} gid {} (no user namespace)",
            sb.uid.unwrap_or(euid),
            sb.gid.unwrap_or(egid)
        )
    } else if sb.uid_map.is_empty() && sb.gid_map.is_empty() {
        format!(
            "box uid {} gid {} = host uid {euid} gid {egid}",
            sb.uid.unwrap_or(euid),
            sb.gid.unwrap_or(egid)
        )
    } else {
        format!(
            "uid_map {:?}, gid_map {:?}",
            crate::idmap::render(&sb.uid_map).trim(),
            crate::idmap::render(&sb.gid_map).trim()
        )
    };
    // Host root without a remap is what the unprivileged identity exists
    // to avoid: say it plainly.
    let host_root = sb.has_ns(Namespace::User)
        && sb.uid_map.is_empty()
        && euid == 0
        && sb.identity == BoxIdentity::Caller;
    // Unprivileged asked by a uid 0 without CAP_SETUID: its own ids are
    // mapped (it could not map others); say so.
    let capless_root = sb.identity == BoxIdentity::Unprivileged
        && sb.has_ns(Namespace::User)
        && sb.uid_map.is_empty()
        && euid == 0
        && !may_map_others();
    crate::report::LayerReport {
        layer: "identity".into(),
        requested: requested.into(),
        applied: if host_root {
            format!("{applied} (host root)")
        } else if capless_root {
            format!("{applied} (uid 0 without CAP_SETUID/CAP_SETGID: not host root, cannot map {UNPRIVILEGED_ID})")
        } else {
            applied
        },
        enforcement: if sb.identity == BoxIdentity::Unprivileged
            && euid == 0
            && !sb.has_ns(Namespace::User)
        {
            crate::report::Enforcement::NotEnforced
        } else {
            crate::report::Enforcement::Full
        },
    }
}
