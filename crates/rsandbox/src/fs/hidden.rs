//! The host's private data the default view hides (issue 19): the homes,
//! and the known secret files under `/etc`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{normalize, MountStep};

/// Host paths the default view hides, whoever the caller: the homes of
/// root and of the users, and the known secret files under `/etc`
/// (password and group hashes, old password hashes, sudo policy, TLS
/// private keys, Kerberos keytab, IPsec, PPP and WireGuard secrets, saved
/// network passwords). The SSH host private keys
/// (`/etc/ssh/ssh_host_*_key`) are added by name at plan time. Each is
/// masked like [`Sandbox::mask`](crate::Sandbox::mask): a directory by an empty read-only tmpfs,
/// a file by the host's `/dev/null`, read-only. Where the template mount
/// namespace serves the box (a root caller, see `template.rs`) the masks
/// are made there, so the kernel locks them in the box: a box keeping
/// `CAP_SYS_ADMIN` cannot unmount them. Made per box (an unprivileged
/// caller, `RSANDBOX_NO_TEMPLATE=1`, a step the template cannot serve)
/// they are the box's own mounts; what keeps the files below unreadable
/// then is the box's identity (the caller's ids, or `nobody` for a root
/// caller's strict box).
pub const HIDDEN_HOST_PATHS: &[&str] = &[
    "/root",
    "/home",
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/security/opasswd",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssl/private",
    "/etc/krb5.keytab",
    "/etc/ipsec.secrets",
    "/etc/ppp/chap-secrets",
    "/etc/ppp/pap-secrets",
    "/etc/wireguard",
    "/etc/NetworkManager/system-connections",
];

/// The directories whose entries decide what [`hidden_host_paths`]
/// returns: adding, removing or renaming an entry in one changes its
/// mtime and ctime.
const HIDDEN_PARENTS: &[&str] = &[
    "/",
    "/etc",
    "/etc/ssh",
    "/etc/security",
    "/etc/ssl",
    "/etc/ppp",
    "/etc/NetworkManager",
];

/// dev, ino, mtime, ctime (with nanoseconds) of a directory.
type Stamp = (u64, u64, i64, i64, i64, i64);

fn stamp(dir: &str) -> Option<Stamp> {
    let m = std::fs::symlink_metadata(dir).ok()?;
    Some((
        m.dev(),
        m.ino(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    ))
}

/// The host paths hidden in the default view that exist here (a file or a
/// directory, not a symlink): [`HIDDEN_HOST_PATHS`] and the SSH host
/// private keys (`/etc/ssh/ssh_host_*_key`). Cached per process, re-read
/// when one of their parent directories changes: several callers per
/// spawn (validation, the plan, the template) need the list, and reading
/// it costs about twenty `lstat`s.
pub fn hidden_host_paths() -> Vec<PathBuf> {
    type Cache = Option<(Vec<Option<Stamp>>, Vec<PathBuf>)>;
    static CACHE: Mutex<Cache> = Mutex::new(None);
    let now: Vec<Option<Stamp>> = HIDDEN_PARENTS.iter().map(|d| stamp(d)).collect();
    let mut g = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((s, list)) = g.as_ref() {
        if *s == now {
            return list.clone();
        }
    }
    let list = read_hidden_host_paths();
    *g = Some((now, list.clone()));
    list
}

fn read_hidden_host_paths() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = HIDDEN_HOST_PATHS.iter().map(PathBuf::from).collect();
    if let Ok(rd) = std::fs::read_dir("/etc/ssh") {
        let mut keys: Vec<PathBuf> = rd
            .flatten()
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                n.starts_with("ssh_host_") && n.ends_with("_key")
            })
            .map(|e| e.path())
            .collect();
        keys.sort();
        out.extend(keys);
    }
    out.retain(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir() || m.is_file()));
    out
}

/// Whether user step `step` puts the hidden `path` back: a step on it or
/// under it (its mount point must be made there, from the host's tree),
/// or one replacing a parent (which covers the mask anyway). Not `/`
/// itself, nor a `remount_ro` of a parent.
fn step_reveals(step: &MountStep, path: &Path) -> bool {
    let Some(dst) = normalize(step.dst()) else {
        return false;
    };
    dst != Path::new("/")
        && (dst.starts_with(path)
            || (path.starts_with(&dst) && !matches!(step, MountStep::RemountRo { .. })))
}

/// The masks of the default view hiding [`hidden_host_paths`], but for
/// those a user step puts back: a step under `/home` shows the host's
/// `/home`, read-only, as before.
pub(crate) fn hidden_host_steps(user: &[MountStep]) -> Vec<MountStep> {
    hidden_host_paths()
        .into_iter()
        .filter(|p| !user.iter().any(|s| step_reveals(s, p)))
        .map(|path| MountStep::Mask { path })
        .collect()
}

/// Whether `step` is one of the default view's hidden-path masks (which a
/// template already holds).
pub(crate) fn is_hidden_mask(step: &MountStep, hidden: &[PathBuf]) -> bool {
    matches!(step, MountStep::Mask { path } if hidden.iter().any(|h| h == path))
}

/// Whether any of the user's `steps` reveals a hidden host path.
pub(crate) fn reveals_hidden(steps: &[MountStep], hidden: &[PathBuf]) -> bool {
    steps
        .iter()
        .any(|s| hidden.iter().any(|h| step_reveals(s, h)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sandbox;

    fn reveals(sb: Sandbox, path: &str) -> bool {
        reveals_hidden(&sb.fs.steps, &[PathBuf::from(path)])
    }

    #[test]
    fn which_steps_put_a_hidden_path_back() {
        let s = Sandbox::new();
        // On it, under it, or replacing a parent.
        assert!(reveals(s.clone().bind("/srv", "/home"), "/home"));
        assert!(reveals(s.clone().bind("/srv", "/home/me/p"), "/home"));
        assert!(reveals(s.clone().tmpfs("/etc", 1 << 20), "/etc/shadow"));
        // Not `/`, not a read-only remount of a parent, not elsewhere.
        assert!(!reveals(s.clone().remount_ro("/"), "/home"));
        assert!(!reveals(s.clone().remount_ro("/etc"), "/etc/shadow"));
        assert!(!reveals(s.clone().bind("/srv", "/homework"), "/home"));
        assert!(!reveals(s, "/home"));
        // The default view's masks leave out what a step reveals.
        let steps = Sandbox::new().bind("/srv", "/home/me").fs.steps;
        let masks = hidden_host_steps(&steps);
        assert!(!masks.iter().any(|m| m.dst() == Path::new("/home")));
    }

    #[test]
    fn the_list_follows_the_host() {
        let a = hidden_host_paths();
        assert_eq!(a, read_hidden_host_paths());
        // Cached: the same answer without a change of the parents.
        assert_eq!(hidden_host_paths(), a);
    }
}
