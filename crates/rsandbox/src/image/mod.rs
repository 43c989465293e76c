//! OCI images as root filesystems.
//!
//! [`Image::load`] opens an OCI image layout (the directory `skopeo copy`,
//! `umoci`, `podman save --format oci-dir` or `buildah push oci:DIR` write),
//! picks a manifest by reference, checks every blob's size and sha256
//! digest, and unpacks the layers (plain, gzip or zstd tar; whiteouts and
//! opaque directories honoured) once into a content-addressed cache. Then
//! [`Sandbox::image`] makes that tree the box's root: read-only, with each
//! top-level directory under an overlay whose upper layer is a tmpfs private
//! to the box, so writes never reach the cache or another box. The image
//! config's `Entrypoint`, `Cmd`, `Env`, `WorkingDir` and `User` become
//! defaults: set them again on the [`Sandbox`] (or pass arguments to
//! [`Image::command`]) to override them.
//!
//! # The cache
//!
//! `<cache>/rootfs/sha256/<chain>`, where `<chain>` is the sha256 of the
//! layer digests in order, so every image sharing the same layers shares one
//! tree. The cache root is [`default_cache`] unless given. A tree is
//! unpacked into `<cache>/tmp/` and renamed into place once complete: a
//! crash leaves at most a temporary directory, never a half tree, and a
//! failed unpack removes its temporary directory.
//!
//! Bad input is an [`ImageError`] naming the file or field, before anything
//! is spawned: see its variants. Unpacking is described in `unpack.rs`.

mod layout;
mod unpack;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{Command, Sandbox};

/// Why an image could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Reading or writing a file failed.
    #[error("image: {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A layout file is malformed (not JSON, wrong version, bad digest).
    #[error("image: {file}: {reason}")]
    Layout {
        /// The file at fault.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No manifest carries that reference.
    #[error("image: {index}: no manifest named {reference:?} (available: {available:?})")]
    ReferenceNotFound {
        /// The `index.json` searched.
        index: PathBuf,
        /// The reference asked for.
        reference: String,
        /// The references the index has.
        available: Vec<String>,
    },
    /// A descriptor names a blob that is not in `blobs/`.
    #[error("image: blob {digest} is missing ({path})")]
    MissingBlob {
        /// The digest.
        digest: String,
        /// Where it should be.
        path: PathBuf,
    },
    /// A blob's content does not match its descriptor.
    #[error("image: {path}: digest mismatch: expected {expected}, found {actual}")]
    DigestMismatch {
        /// The blob.
        path: PathBuf,
        /// Digest and size the descriptor gives.
        expected: String,
        /// Digest and size of the content.
        actual: String,
    },
    /// A media type this code does not read.
    #[error("image: {field}: unknown media type {media_type:?}")]
    UnknownMediaType {
        /// The field holding it.
        field: String,
        /// The media type.
        media_type: String,
    },
    /// A layer entry that would write outside the tree, or may not be
    /// unpacked by this caller (a device node for a non-root caller).
    #[error("image: layer {layer}: entry {entry}: {reason}")]
    HostileEntry {
        /// The layer blob.
        layer: PathBuf,
        /// The entry's path in the archive.
        entry: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// A config value this code cannot apply.
    #[error("image: config {field}: {reason}")]
    Config {
        /// The field (`User`, `Env`).
        field: String,
        /// What is wrong.
        reason: String,
    },
}

impl ImageError {
    fn io(path: &Path, source: std::io::Error) -> ImageError {
        ImageError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<ImageError> for crate::Error {
    fn from(e: ImageError) -> crate::Error {
        crate::Error::invalid("image", e.to_string())
    }
}

/// The default cache root: `/var/cache/rsandbox` for root, else
/// `$XDG_CACHE_HOME/rsandbox` (or `$HOME/.cache/rsandbox`).
pub fn default_cache() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/cache/rsandbox");
    }
    match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x).join("rsandbox"),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into()))
            .join(".cache/rsandbox"),
    }
}

/// An image unpacked in the cache, with its config's defaults.
#[derive(Debug, Clone)]
pub struct Image {
    rootfs: PathBuf,
    config: layout::RunConfig,
}

impl Image {
    /// Open the layout at `dir`, pick `reference` (the manifest's
    /// `org.opencontainers.image.ref.name`; `None`: the only manifest, or
    /// `latest`), verify it and unpack it under `cache` ([`default_cache`]
    /// when `None`).
    pub fn load(
        dir: &Path,
        reference: Option<&str>,
        cache: Option<&Path>,
    ) -> Result<Image, ImageError> {
        let desc = layout::select(dir, reference)?;
        let (manifest, config) = layout::manifest(dir, &desc)?;
        let mut blobs = Vec::new();
        let mut chain = Sha256::new();
        for l in &manifest.layers {
            blobs.push((
                layout::verify(dir, l)?,
                unpack::Compression::of(&l.media_type)?,
            ));
            chain.update(l.digest.as_bytes());
            chain.update(b"\n");
        }
        let cache = cache.map(Path::to_path_buf).unwrap_or_else(default_cache);
        let rootfs = cache
            .join("rootfs/sha256")
            .join(layout::hex(&chain.finalize()));
        if !rootfs.is_dir() {
            unpack_tree(&cache, &rootfs, &blobs)?;
        }
        Ok(Image {
            rootfs,
            config: config.config.unwrap_or_default(),
        })
    }

    /// The unpacked tree (read-only: never write to it).
    pub fn rootfs(&self) -> &Path {
        &self.rootfs
    }

    /// The image's `Env` (`NAME=VALUE` entries).
    pub fn env(&self) -> &[String] {
        self.config.env.as_deref().unwrap_or_default()
    }

    /// The image's `WorkingDir`, if any.
    pub fn working_dir(&self) -> Option<&str> {
        self.config.working_dir.as_deref().filter(|w| !w.is_empty())
    }

    /// The command to run: `Entrypoint` followed by `args`, or by the
    /// image's `Cmd` when `args` is empty. `None` when both are empty.
    pub fn argv(&self, args: &[OsString]) -> Option<Vec<OsString>> {
        let mut argv: Vec<OsString> = Vec::new();
        argv.extend(self.config.entrypoint.iter().flatten().map(OsString::from));
        if args.is_empty() {
            argv.extend(self.config.cmd.iter().flatten().map(OsString::from));
        } else {
            argv.extend(args.iter().cloned());
        }
        (!argv.is_empty()).then_some(argv)
    }

    /// [`Image::argv`] as a [`Command`].
    pub fn command(&self, args: &[OsString]) -> Result<Command, ImageError> {
        self.argv(args)
            .map(Command::from_argv)
            .ok_or_else(|| ImageError::Config {
                field: "Entrypoint/Cmd".into(),
                reason: "the image names no command: give one".into(),
            })
    }

    /// The image's `User` as numeric ids (`uid`, `uid:gid`; names are
    /// looked up in the image's `/etc/passwd` and `/etc/group`).
    pub fn user(&self) -> Result<Option<(u32, Option<u32>)>, ImageError> {
        let Some(u) = self.config.user.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let (user, group) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u, None),
        };
        let uid = self.id("etc/passwd", user)?;
        let gid = group.map(|g| self.id("etc/group", g)).transpose()?;
        Ok(Some((uid, gid)))
    }

    fn id(&self, file: &str, name: &str) -> Result<u32, ImageError> {
        if let Ok(n) = name.parse() {
            return Ok(n);
        }
        let text = std::fs::read_to_string(self.rootfs.join(file)).unwrap_or_default();
        text.lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() > 2 && f[0] == name)
            .and_then(|f| f[2].parse().ok())
            .ok_or_else(|| ImageError::Config {
                field: "User".into(),
                reason: format!("{name:?} is not a number nor a name in the image's /{file}"),
            })
    }
}

/// Unpack `blobs` (bottom first) into a temporary directory of `cache`,
/// then rename it to `dst`. On error the temporary directory is removed.
fn unpack_tree(
    cache: &Path,
    dst: &Path,
    blobs: &[(PathBuf, unpack::Compression)],
) -> Result<(), ImageError> {
    let tmp_root = cache.join("tmp");
    for d in [&tmp_root, dst.parent().unwrap_or(cache)] {
        std::fs::create_dir_all(d).map_err(|e| ImageError::io(d, e))?;
    }
    let tmp = tmp_dir(&tmp_root)?;
    let result = fill(&tmp, blobs).and_then(|()| match std::fs::rename(&tmp, dst) {
        Ok(()) => Ok(()),
        // Another process finished the same tree first: use theirs.
        Err(_) if dst.is_dir() => Ok(()),
        Err(e) => Err(ImageError::io(dst, e)),
    });
    if tmp.exists() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn tmp_dir(parent: &Path) -> Result<PathBuf, ImageError> {
    use std::os::unix::fs::DirBuilderExt;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let path = parent.join(format!("unpack-{}-{nanos}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&path)
        .map_err(|e| ImageError::io(&path, e))?;
    Ok(path)
}

fn fill(root: &Path, blobs: &[(PathBuf, unpack::Compression)]) -> Result<(), ImageError> {
    // SAFETY: geteuid has no preconditions.
    let privileged = unsafe { libc::geteuid() } == 0;
    for (blob, compression) in blobs {
        unpack::Layer {
            blob,
            compression: *compression,
            root,
            privileged,
        }
        .apply()?;
    }
    // Mount points the box needs, made now so the read-only tree is never
    // written at spawn time.
    for d in ["proc", "dev", "tmp"] {
        let p = root.join(d);
        if std::fs::symlink_metadata(&p).is_err() {
            std::fs::create_dir(&p).map_err(|e| ImageError::io(&p, e))?;
        }
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| ImageError::io(root, e))
}

impl Sandbox {
    /// Run in `image`: its tree is the root (read-only), each top-level
    /// directory is overlaid with a tmpfs private to this box (writes are
    /// discarded on exit), `/tmp` is a fresh tmpfs, and the image's `Env`,
    /// `WorkingDir` and `User` are set (call `env`, `cwd`, `uid` after this
    /// to override them). Needs [`Sandbox::mount_ns`].
    pub fn image(self, image: &Image) -> Result<Self, ImageError> {
        let mut sb = self.rootfs(image.rootfs.clone()).env_clear();
        let list =
            std::fs::read_dir(&image.rootfs).map_err(|e| ImageError::io(&image.rootfs, e))?;
        let mut dirs: Vec<PathBuf> = Vec::new();
        for e in list {
            let e = e.map_err(|e| ImageError::io(&image.rootfs, e))?;
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir && !["proc", "dev", "tmp"].iter().any(|n| e.file_name() == *n) {
                dirs.push(e.path());
            }
        }
        dirs.sort();
        for d in dirs {
            let dst = Path::new("/").join(d.file_name().unwrap_or_default());
            sb = sb.overlay([d], dst);
        }
        sb = sb.tmpfs("/tmp", 64 << 20);
        for kv in image.env() {
            match kv.split_once('=') {
                Some((k, v)) => sb = sb.env(k, v),
                None => {
                    return Err(ImageError::Config {
                        field: "Env".into(),
                        reason: format!("{kv:?} is not NAME=VALUE"),
                    })
                }
            }
        }
        if let Some(w) = image.working_dir() {
            sb = sb.cwd(w);
        }
        if let Some((uid, gid)) = image.user()? {
            sb = sb.uid(uid);
            if let Some(g) = gid {
                sb = sb.gid(g);
            }
        }
        Ok(sb)
    }
}
