//! Applying a layer archive to a tree, safely.
//!
//! Entries are written by this code, not by `tar::Entry::unpack`: each path
//! is checked component by component (only plain names: an absolute path or
//! `..` is refused) and every existing directory on the way is checked with
//! `symlink_metadata` (an entry whose parent is a symlink, e.g. `lib -> /`
//! then `lib/x`, is refused). The tree is a private temporary directory
//! only this process writes, so nothing changes between check and use.
//! Symlink *entries* are stored as they are (an absolute target such as
//! `/bin/busybox` is normal in images): they are only followed inside the
//! box, whose root is the tree. Whiteouts are handled in a first pass over
//! the archive, so they touch only what lower layers put there: applied
//! (the lower entries removed) when the layers are flattened into one tree,
//! or marked as overlayfs reads them in a lower layer when each layer has
//! its own directory (see [`Whiteouts`]).

use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use tar::EntryType;

use super::ImageError;

/// A layer's compression, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub(crate) fn of(media_type: &str) -> Result<Compression, ImageError> {
        let base = media_type.replace(".nondistributable", "");
        match base.as_str() {
            "application/vnd.oci.image.layer.v1.tar" => Ok(Compression::None),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip" => Ok(Compression::Gzip),
            "application/vnd.oci.image.layer.v1.tar+zstd" => Ok(Compression::Zstd),
            _ => Err(ImageError::UnknownMediaType {
                field: "manifest layers[].mediaType".into(),
                media_type: media_type.to_string(),
            }),
        }
    }
}

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// The xattr overlayfs reads as "opaque directory" in a lower layer of an
/// overlay mounted with `userxattr` (every box with a user namespace).
pub(crate) const USER_OPAQUE: &std::ffi::CStr = c"user.overlay.opaque";
/// The same, for an overlay mounted without `userxattr` (a root box
/// without a user namespace); only root may set `trusted.*`.
const TRUSTED_OPAQUE: &std::ffi::CStr = c"trusted.overlay.opaque";

/// What a layer's whiteout entries become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Whiteouts {
    /// Remove what the lower layers put there (one flattened tree).
    Apply,
    /// Mark them in the layer's own directory as overlayfs reads them in a
    /// lower layer: `.wh.NAME` becomes a 0/0 character device `NAME` (the
    /// kernel lets any user make that one node, since Linux 5.8), and the
    /// directory of `.wh..wh..opq` gets `user.overlay.opaque=y` (and
    /// `trusted.overlay.opaque=y` when `trusted`).
    Mark { trusted: bool },
}

/// One layer being applied to `root`.
pub(crate) struct Layer<'a> {
    pub blob: &'a Path,
    pub compression: Compression,
    pub root: &'a Path,
    /// Preserve owners and create device nodes (the caller is root).
    pub privileged: bool,
    pub whiteouts: Whiteouts,
}

impl Layer<'_> {
    fn open(&self) -> Result<tar::Archive<Box<dyn Read + '_>>, ImageError> {
        let f = File::open(self.blob).map_err(|e| ImageError::io(self.blob, e))?;
        let f = BufReader::new(f);
        let r: Box<dyn Read> = match self.compression {
            Compression::None => Box::new(f),
            Compression::Gzip => Box::new(flate2::read::GzDecoder::new(f)),
            Compression::Zstd => {
                Box::new(zstd::Decoder::with_buffer(f).map_err(|e| ImageError::io(self.blob, e))?)
            }
        };
        Ok(tar::Archive::new(r))
    }

    fn hostile(&self, entry: &Path, reason: &str) -> ImageError {
        ImageError::HostileEntry {
            layer: self.blob.to_path_buf(),
            entry: entry.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// Apply the layer: whiteouts first, then every other entry.
    pub(crate) fn apply(&self) -> Result<(), ImageError> {
        self.each(|this, e, rel| this.whiteout(e, rel))?;
        self.each(|this, e, rel| this.write(e, rel))
    }

    fn each<F>(&self, mut f: F) -> Result<(), ImageError>
    where
        F: FnMut(&Self, &mut tar::Entry<'_, Box<dyn Read + '_>>, &Path) -> Result<(), ImageError>,
    {
        let mut ar = self.open()?;
        let entries = ar.entries().map_err(|e| ImageError::io(self.blob, e))?;
        for e in entries {
            let mut e = e.map_err(|e| ImageError::io(self.blob, e))?;
            let raw = e
                .path()
                .map_err(|e| ImageError::io(self.blob, e))?
                .into_owned();
            let rel = self.relative(&raw)?;
            if rel.as_os_str().is_empty() {
                continue; // "./" itself
            }
            f(self, &mut e, &rel)?;
        }
        Ok(())
    }

    /// The entry's path as plain names, or an error for `/x` and `..`.
    fn relative(&self, raw: &Path) -> Result<PathBuf, ImageError> {
        let mut out = PathBuf::new();
        for c in raw.components() {
            match c {
                Component::Normal(n) => out.push(n),
                Component::CurDir => {}
                Component::RootDir | Component::Prefix(_) => {
                    return Err(self.hostile(raw, "absolute path"))
                }
                Component::ParentDir => return Err(self.hostile(raw, "path climbs out with ..")),
            }
        }
        Ok(out)
    }

    /// Check that every existing ancestor of `rel` in the tree is a real
    /// directory (not a symlink) and create the missing ones.
    fn parent(&self, rel: &Path) -> Result<PathBuf, ImageError> {
        let mut at = self.root.to_path_buf();
        if let Some(parent) = rel.parent() {
            for c in parent.components() {
                at.push(c);
                match std::fs::symlink_metadata(&at) {
                    Ok(m) if m.is_dir() => {}
                    Ok(m) if m.file_type().is_symlink() => {
                        return Err(
                            self.hostile(rel, "parent is a symlink (would write through it)")
                        )
                    }
                    Ok(_) => return Err(self.hostile(rel, "parent is not a directory")),
                    Err(_) => std::fs::create_dir(&at).map_err(|e| ImageError::io(&at, e))?,
                }
            }
        }
        Ok(self.root.join(rel))
    }

    fn whiteout(
        &self,
        _e: &mut tar::Entry<'_, Box<dyn Read + '_>>,
        rel: &Path,
    ) -> Result<(), ImageError> {
        let Some(name) = rel.file_name().map(OsStr::as_bytes) else {
            return Ok(());
        };
        if !name.starts_with(WHITEOUT.as_bytes()) {
            return Ok(());
        }
        let dir = self.parent(rel)?;
        let dir = dir.parent().unwrap_or(self.root);
        if let Whiteouts::Mark { trusted } = self.whiteouts {
            return self.mark(rel, dir, name, trusted);
        }
        if name == OPAQUE.as_bytes() {
            let list = std::fs::read_dir(dir).map_err(|e| ImageError::io(dir, e))?;
            for child in list {
                let child = child.map_err(|e| ImageError::io(dir, e))?;
                remove(&child.path())?;
            }
        } else {
            self.remove_victim(rel, dir, name)?;
        }
        Ok(())
    }

    /// The path a `.wh.NAME` entry deletes, removed from what the layers
    /// below left there; a whiteout of `.` or `..` is hostile.
    fn remove_victim(&self, rel: &Path, dir: &Path, name: &[u8]) -> Result<PathBuf, ImageError> {
        let victim = &name[WHITEOUT.len()..];
        if matches!(victim, b"" | b"." | b"..") {
            return Err(self.hostile(rel, "whiteout of . or .."));
        }
        let target = dir.join(OsStr::from_bytes(victim));
        if std::fs::symlink_metadata(&target).is_ok() {
            remove(&target)?;
        }
        Ok(target)
    }

    /// Record a whiteout in this layer's own directory (`Whiteouts::Mark`).
    fn mark(&self, rel: &Path, dir: &Path, name: &[u8], trusted: bool) -> Result<(), ImageError> {
        if name == OPAQUE.as_bytes() {
            set_opaque(dir, USER_OPAQUE)?;
            if trusted {
                set_opaque(dir, TRUSTED_OPAQUE)?;
            }
            return Ok(());
        }
        let target = self.remove_victim(rel, dir, name)?;
        whiteout_node(&target)
    }

    fn write(
        &self,
        e: &mut tar::Entry<'_, Box<dyn Read + '_>>,
        rel: &Path,
    ) -> Result<(), ImageError> {
        let name = rel.file_name().map(OsStr::as_bytes).unwrap_or_default();
        if name.starts_with(WHITEOUT.as_bytes()) {
            return Ok(());
        }
        let path = self.parent(rel)?;
        let kind = e.header().entry_type();
        let mode = e
            .header()
            .mode()
            .map_err(|err| ImageError::io(self.blob, err))?;
        let mode = if self.privileged {
            mode & 0o7777
        } else {
            mode & 0o777
        };
        // An unprivileged owner must keep write access to fill its directories.
        let mode = match (kind, self.privileged) {
            (EntryType::Directory, false) => mode | 0o700,
            _ => mode,
        };
        let existing = std::fs::symlink_metadata(&path).ok();
        if let Some(m) = &existing {
            if !(m.is_dir() && kind == EntryType::Directory) {
                remove(&path)?;
            }
        }
        match kind {
            EntryType::Directory => {
                if existing.as_ref().is_none_or(|m| !m.is_dir()) {
                    std::fs::create_dir(&path).map_err(|err| ImageError::io(&path, err))?;
                }
            }
            EntryType::Regular | EntryType::Continuous => {
                let mut f = File::create_new(&path).map_err(|err| ImageError::io(&path, err))?;
                std::io::copy(e, &mut f).map_err(|err| ImageError::io(&path, err))?;
            }
            EntryType::Symlink => {
                let target = e
                    .link_name()
                    .map_err(|err| ImageError::io(self.blob, err))?;
                let target = target.ok_or_else(|| self.hostile(rel, "symlink without target"))?;
                symlink(&target, &path).map_err(|err| ImageError::io(&path, err))?;
                return self.owner(e, &path);
            }
            EntryType::Link => return self.hard_link(e, rel, &path),
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                self.node(e, rel, &path, kind, mode)?
            }
            EntryType::XGlobalHeader | EntryType::XHeader => return Ok(()),
            _ => return Err(self.hostile(rel, "unsupported entry type")),
        }
        self.owner(e, &path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|err| ImageError::io(&path, err))
    }

    fn hard_link(
        &self,
        e: &tar::Entry<'_, Box<dyn Read + '_>>,
        rel: &Path,
        path: &Path,
    ) -> Result<(), ImageError> {
        let target = e
            .link_name()
            .map_err(|err| ImageError::io(self.blob, err))?;
        let target = target.ok_or_else(|| self.hostile(rel, "hard link without target"))?;
        let target = self.relative(&target)?;
        let src = self.parent(&target)?;
        match std::fs::symlink_metadata(&src) {
            Ok(m) if !m.is_dir() => {}
            _ => return Err(self.hostile(rel, "hard link to a missing file or a directory")),
        }
        std::fs::hard_link(&src, path).map_err(|err| ImageError::io(path, err))
    }

    fn node(
        &self,
        e: &tar::Entry<'_, Box<dyn Read + '_>>,
        rel: &Path,
        path: &Path,
        kind: EntryType,
        mode: u32,
    ) -> Result<(), ImageError> {
        let h = e.header();
        let (fmt, dev) = match kind {
            EntryType::Fifo => (libc::S_IFIFO, 0),
            _ if !self.privileged => {
                return Err(self.hostile(rel, "device node in a layer (only root may unpack one)"))
            }
            _ => {
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                let fmt = if kind == EntryType::Char {
                    libc::S_IFCHR
                } else {
                    libc::S_IFBLK
                };
                (fmt, libc::makedev(major, minor))
            }
        };
        let c = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| self.hostile(rel, "NUL in path"))?;
        // SAFETY: `c` is a valid NUL-terminated path; mknod reads it only.
        if unsafe { libc::mknod(c.as_ptr(), fmt | mode, dev) } != 0 {
            return Err(ImageError::io(path, std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Give `path` the entry's owner (root only; others own what they unpack).
    fn owner(&self, e: &tar::Entry<'_, Box<dyn Read + '_>>, path: &Path) -> Result<(), ImageError> {
        if !self.privileged {
            return Ok(());
        }
        let h = e.header();
        let uid = h.uid().map_err(|err| ImageError::io(self.blob, err))? as u32;
        let gid = h.gid().map_err(|err| ImageError::io(self.blob, err))? as u32;
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))
            .map_err(|err| ImageError::io(path, err))
    }
}

/// Make `path` an overlayfs whiteout: a character device 0/0.
pub(crate) fn whiteout_node(path: &Path) -> Result<(), ImageError> {
    let c = cstr(path)?;
    // SAFETY: `c` is a valid NUL-terminated path; mknod reads it only.
    if unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, 0) } != 0 {
        return Err(ImageError::io(path, std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Mark directory `path` opaque with xattr `name` = `y`.
pub(crate) fn set_opaque(path: &Path, name: &std::ffi::CStr) -> Result<(), ImageError> {
    let c = cstr(path)?;
    // SAFETY: valid NUL-terminated path and name; the value is 1 byte.
    let r = unsafe { libc::lsetxattr(c.as_ptr(), name.as_ptr(), c"y".as_ptr().cast(), 1, 0) };
    if r != 0 {
        return Err(ImageError::io(path, std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Whether directory `path` carries opaque xattr `name` = `y`.
pub(crate) fn is_opaque(path: &Path, name: &std::ffi::CStr) -> bool {
    let Ok(c) = cstr(path) else { return false };
    let mut v = [0u8; 2];
    // SAFETY: valid NUL-terminated path and name; at most v.len() bytes
    // are written into v.
    let n = unsafe { libc::lgetxattr(c.as_ptr(), name.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
    n == 1 && v[0] == b'y'
}

/// Whether the entry of metadata `m` is an overlayfs whiteout.
pub(crate) fn is_whiteout(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    m.file_type().is_char_device() && m.rdev() == 0
}

fn cstr(path: &Path) -> Result<std::ffi::CString, ImageError> {
    std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| ImageError::Layout {
        file: path.to_path_buf(),
        reason: "NUL in path".into(),
    })
}

/// Remove a file, a symlink (not its target) or a whole directory.
pub(crate) fn remove(path: &Path) -> Result<(), ImageError> {
    let m = std::fs::symlink_metadata(path).map_err(|e| ImageError::io(path, e))?;
    let r = if m.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    r.map_err(|e| ImageError::io(path, e))
}
