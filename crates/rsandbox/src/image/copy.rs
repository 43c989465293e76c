//! The private copy of an image a box gets where the overlay is
//! unavailable (see [`Sandbox::image_copy`]).
//!
//! The copy is made per spawn, from the flattened tree in the cache, into
//! a fresh directory of `<cache>/tmp/` (so a crash leaves it where the
//! cache's temporary directories are), and becomes the box's writable
//! root. The [`Child`](crate::Child) holds it and removes it when dropped
//! after the box ended (or was killed on drop); a box left running by a
//! dropped `Child` keeps its copy.

use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::ImageError;
use crate::{IdMap, Sandbox};

/// A box's copy of an image, removed on drop unless [`kept`](Self::keep).
#[derive(Debug)]
pub(crate) struct PrivateCopy {
    dir: Option<PathBuf>,
}

impl PrivateCopy {
    /// For a box of `sb` whose image is copied: the copy, and the
    /// description with the copy as its writable root. `None` for any
    /// other box. `ids`: the box's explicit uid and gid maps (its resolved
    /// identity), through which a root caller gives the copy's files the
    /// host owners that show as the image's owners in the box (empty: the
    /// owners are copied as they are, as the overlay shows them).
    pub(crate) fn for_spawn(
        sb: &Sandbox,
        ids: [&[IdMap]; 2],
    ) -> Result<Option<(Sandbox, PrivateCopy)>, ImageError> {
        let Some((from, into)) = sb.image_root.as_ref().and_then(|r| r.copy.as_ref()) else {
            return Ok(None);
        };
        std::fs::create_dir_all(into).map_err(|e| ImageError::io(into, e))?;
        let dir = super::tmp_dir(into)?;
        let copy = PrivateCopy {
            dir: Some(dir.clone()),
        };
        // On error `copy` is dropped and removes what was copied.
        let owners = super::privileged().then_some(ids);
        copy_tree(from, &dir, owners)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| ImageError::io(&dir, e))?;
        let mut boxed = sb.clone();
        boxed.fs.rootfs = Some(dir);
        boxed.fs.rootfs_writable = true;
        Ok(Some((boxed, copy)))
    }

    /// Leave the copy in place (its box may still be running).
    pub(crate) fn keep(mut self) {
        self.dir = None;
    }
}

impl Drop for PrivateCopy {
    fn drop(&mut self) {
        if let Some(d) = self.dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// The host id standing for the box's `id` in `map` (empty map, or an id
/// it does not map: `id` itself).
fn host_id(map: &[IdMap], id: u32) -> u32 {
    map.iter()
        .find(|m| id >= m.inside && id - m.inside < m.count)
        .map_or(id, |m| m.outside + (id - m.inside))
}

/// Copy the directory `from` into the existing directory `to`: files,
/// symlinks, FIFOs, and with `owners` (a root caller: the box's uid and gid
/// maps) device nodes, owners and set-id bits.
fn copy_tree(from: &Path, to: &Path, owners: Option<[&[IdMap]; 2]>) -> Result<(), ImageError> {
    let privileged = owners.is_some();
    for e in std::fs::read_dir(from).map_err(|e| ImageError::io(from, e))? {
        let e = e.map_err(|err| ImageError::io(from, err))?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let m = std::fs::symlink_metadata(&src).map_err(|err| ImageError::io(&src, err))?;
        copy_entry(&src, &dst, &m, owners)?;
        if let Some([uids, gids]) = owners {
            let (uid, gid) = (host_id(uids, m.uid()), host_id(gids, m.gid()));
            lchown(&dst, Some(uid), Some(gid)).map_err(|err| ImageError::io(&dst, err))?;
        }
        if !m.file_type().is_symlink() {
            let mode = m.mode() & if privileged { 0o7777 } else { 0o777 };
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(mode))
                .map_err(|err| ImageError::io(&dst, err))?;
        }
    }
    Ok(())
}

fn copy_entry(
    src: &Path,
    dst: &Path,
    m: &std::fs::Metadata,
    owners: Option<[&[IdMap]; 2]>,
) -> Result<(), ImageError> {
    let t = m.file_type();
    let r = if t.is_dir() {
        std::fs::create_dir(dst).map_err(|e| ImageError::io(dst, e))?;
        // Writable while it is filled; its mode is set afterwards.
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| ImageError::io(dst, e))?;
        return copy_tree(src, dst, owners);
    } else if t.is_symlink() {
        std::fs::read_link(src).and_then(|l| std::os::unix::fs::symlink(l, dst))
    } else if t.is_file() {
        std::fs::copy(src, dst).map(|_| ())
    } else {
        node(dst, m, owners.is_some())
    };
    r.map_err(|e| ImageError::io(dst, e))
}

/// A FIFO, or (root only) a device node like `m`'s.
fn node(dst: &Path, m: &std::fs::Metadata, privileged: bool) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    if !privileged && m.mode() & libc::S_IFMT != libc::S_IFIFO {
        // The flattened tree of a non-root caller has no device nodes.
        return Ok(());
    }
    let c = std::ffi::CString::new(dst.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid NUL-terminated path; mknod reads it only.
    if unsafe { libc::mknod(c.as_ptr(), m.mode(), m.rdev()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
