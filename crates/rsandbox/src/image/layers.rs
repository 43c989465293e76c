//! One directory per layer, stacked by overlayfs.
//!
//! Each layer is unpacked alone into `<cache>/layers/sha256/<blob digest>`,
//! with its whiteouts marked as overlayfs reads them in a lower layer (see
//! [`Whiteouts::Mark`]): images sharing a layer share its directory. The
//! box's root is then a small read-only *skeleton* (the merged top-level
//! entries: a directory per top-level directory, the top-level symlinks
//! and files copied) with one overlay per top-level directory whose lowers
//! are that directory in each layer that has it, topmost first, down to the
//! first layer where it is opaque, a whiteout or not a directory (what
//! overlayfs itself would show there).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::unpack::{self, is_opaque, is_whiteout, Compression, Whiteouts, USER_OPAQUE};
use super::ImageError;

/// Overlayfs stacks at most this many lower layers (`OVL_MAX_STACK`);
/// an image with more is flattened.
pub(crate) const MAX_LOWERS: usize = 500;

/// The mount points the box needs in every root, made in the cache so the
/// read-only tree is never written at spawn time.
pub(crate) const MOUNT_POINTS: [&str; 3] = ["proc", "dev", "tmp"];

/// Why this caller's cache cannot hold per-layer whiteouts (`None`: it
/// can). Tries, in a private directory of `tmp`, a 0/0 character device
/// and the opaque xattrs the layers will need.
pub(crate) fn probe(tmp: &Path, trusted: bool) -> Result<Option<String>, ImageError> {
    let dir = super::tmp_dir(tmp)?;
    let result = (|| {
        unpack::whiteout_node(&dir.join("w"))?;
        unpack::set_opaque(&dir, USER_OPAQUE)?;
        if trusted {
            unpack::set_opaque(&dir, c"trusted.overlay.opaque")?;
        }
        Ok::<(), ImageError>(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(result
        .err()
        .map(|e| format!("the cache cannot hold overlay whiteouts ({e})")))
}

/// The directory of layer `hex` (its blob's sha256), unpacked now unless
/// the cache has it (then `true`).
pub(crate) fn layer_dir(
    cache: &Path,
    hex: &str,
    blob: &Path,
    compression: Compression,
    trusted: bool,
) -> Result<(PathBuf, bool), ImageError> {
    let dst = cache.join("layers/sha256").join(hex);
    let fresh = !dst.is_dir();
    if fresh {
        super::unpack_into(cache, &dst, |root| {
            unpack::Layer {
                blob,
                compression,
                root,
                privileged: trusted,
                whiteouts: Whiteouts::Mark { trusted },
            }
            .apply()
        })?;
    }
    Ok((dst, fresh))
}

/// The layers that can show through, topmost first: all of them down to
/// the first whose root directory is opaque (it hides everything below).
fn visible(layers: &[PathBuf]) -> &[PathBuf] {
    match layers.iter().position(|l| is_opaque(l, USER_OPAQUE)) {
        Some(i) => &layers[..=i],
        None => layers,
    }
}

/// The lowers of the overlay on top-level directory `name`, topmost first.
pub(crate) fn lowers(layers: &[PathBuf], name: &std::ffi::OsStr) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for l in visible(layers) {
        let p = l.join(name);
        match std::fs::symlink_metadata(&p) {
            Err(_) => continue,
            Ok(m) if m.is_dir() => {
                let opaque = is_opaque(&p, USER_OPAQUE);
                out.push(p);
                if opaque {
                    break;
                }
            }
            // A whiteout, or a file or symlink hiding the lower ones.
            Ok(_) => break,
        }
    }
    out
}

/// The file `rel` (plain names) as the stacked layers show it: its path in
/// the topmost layer that has it, `None` when it is missing or deleted.
/// Symlinks on the way are not followed.
pub(crate) fn find(layers: &[PathBuf], rel: &Path) -> Option<PathBuf> {
    'layers: for l in visible(layers) {
        let mut at = l.clone();
        let mut hidden_below = false;
        let n = rel.components().count();
        for (i, c) in rel.components().enumerate() {
            at.push(c);
            match std::fs::symlink_metadata(&at) {
                Err(_) if hidden_below => return None,
                Err(_) => continue 'layers,
                Ok(m) if is_whiteout(&m) => return None,
                Ok(_) if i + 1 == n => return Some(at),
                Ok(m) if m.is_dir() => hidden_below |= is_opaque(&at, USER_OPAQUE),
                Ok(_) => return None,
            }
        }
    }
    None
}

/// Fill `root` with the skeleton of `layers` (topmost first): the merged
/// top-level entries, directories empty (each gets its overlay), symlinks
/// and regular files copied, plus the mount points.
pub(crate) fn skeleton(layers: &[PathBuf], root: &Path) -> Result<(), ImageError> {
    let mut names: Vec<OsString> = Vec::new();
    for l in visible(layers) {
        for e in std::fs::read_dir(l).map_err(|e| ImageError::io(l, e))? {
            let e = e.map_err(|err| ImageError::io(l, err))?;
            if !names.contains(&e.file_name()) {
                names.push(e.file_name());
            }
        }
    }
    for name in names {
        if MOUNT_POINTS.iter().any(|m| name == *m) {
            continue;
        }
        let Some(src) = find(layers, Path::new(&name)) else {
            continue;
        };
        copy_top(&src, &root.join(&name))?;
    }
    super::finish_root(root)
}

/// Copy one top-level entry into the skeleton (a directory stays empty).
fn copy_top(src: &Path, dst: &Path) -> Result<(), ImageError> {
    let m = std::fs::symlink_metadata(src).map_err(|e| ImageError::io(src, e))?;
    let t = m.file_type();
    let r = if t.is_dir() {
        std::fs::create_dir(dst)
    } else if t.is_symlink() {
        std::fs::read_link(src).and_then(|target| std::os::unix::fs::symlink(target, dst))
    } else if t.is_file() {
        std::fs::copy(src, dst).map(|_| ())
    } else {
        // A device node or FIFO at the top level: left out of the root.
        Ok(())
    };
    r.map_err(|e| ImageError::io(dst, e))
}
