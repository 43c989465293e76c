//! `root` and the filesystem-wide `linux` fields: the root filesystem,
//! `maskedPaths`, `readonlyPaths`, `mountLabel`, `rootfsPropagation`.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use rsandbox::Sandbox;

use super::{Ctx, OciError, Res};

/// `root.path`, made absolute (relative to the bundle) and canonical.
pub(super) fn path(spec: &Spec, bundle: &Path) -> Res<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| OciError::spec("root", "missing (a container needs a root filesystem)"))?;
    let root_path = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    std::fs::canonicalize(&root_path).map_err(|e| OciError::io("root.path", &root_path, e))
}

/// The root filesystem, read-only with `root.readonly`. Without a mount
/// namespace runc skips the whole filesystem setup (it could only be done
/// in the host's): the process sees the host's filesystem. The same here,
/// said in a warning.
pub(super) fn apply(sb: Sandbox, spec: &Spec, cx: &mut Ctx) -> Res<Sandbox> {
    cx.fs_on = cx.has_ns(LinuxNamespaceType::Mount);
    if !cx.fs_on {
        cx.warnings.push(
            "linux.namespaces: no mount namespace: root, mounts, devices, maskedPaths \
             and readonlyPaths are not applied; the process sees the host's filesystem \
             (as with runc)"
                .into(),
        );
        return Ok(sb);
    }
    let readonly = spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false);
    Ok(if readonly {
        sb.rootfs(&cx.root_path)
    } else {
        sb.rootfs_rw(&cx.root_path)
    })
}

/// `linux.maskedPaths` and `linux.readonlyPaths` (with a mount namespace);
/// `linux.mountLabel` is refused (no SELinux here).
pub(super) fn paths(mut sb: Sandbox, spec: &Spec, cx: &mut Ctx) -> Res<Sandbox> {
    let Some(l) = spec.linux() else {
        return Ok(sb);
    };
    for p in l.masked_paths().iter().flatten().filter(|_| cx.fs_on) {
        sb = sb.mask(p);
    }
    for p in l.readonly_paths().iter().flatten().filter(|_| cx.fs_on) {
        // runc ignores a read-only path that does not exist.
        if exists_in_box(&cx.root_path, Path::new(p)) {
            sb = sb.remount_ro(p);
        }
    }
    crate::lsm::refuse(
        "linux.mountLabel",
        l.mount_label().as_deref(),
        crate::lsm::Lsm::SeLinux,
    )?;
    Ok(sb)
}

/// `linux.rootfsPropagation`: mounts are always private; anything else is
/// a warning.
pub(super) fn propagation(sb: Sandbox, spec: &Spec, cx: &mut Ctx) -> Res<Sandbox> {
    let p = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_ref());
    if let Some(p) = p {
        if !p.is_empty() && p != "private" && p != "rprivate" {
            cx.warnings.push(format!(
                "linux.rootfsPropagation {p:?}: mounts are always private"
            ));
        }
    }
    Ok(sb)
}

/// Whether `p` will exist in the box: under /proc and /sys (fresh or
/// host-bound kernel filesystems) as on the host, elsewhere as in the rootfs.
fn exists_in_box(rootfs: &Path, p: &Path) -> bool {
    if p.starts_with("/proc") || p.starts_with("/sys") {
        return p.symlink_metadata().is_ok();
    }
    rootfs
        .join(p.strip_prefix("/").unwrap_or(p))
        .symlink_metadata()
        .is_ok()
}
