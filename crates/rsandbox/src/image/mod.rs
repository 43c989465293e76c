//! OCI images as root filesystems.
//!
//! [`Image::load`] opens an OCI image layout (the directory `skopeo copy`,
//! `umoci`, `podman save --format oci-dir` or `buildah push oci:DIR` write),
//! picks a manifest by reference, checks every blob's size and sha256
//! digest, and unpacks each layer (plain, gzip or zstd tar) once into a
//! content-addressed cache, with its whiteouts and opaque directories
//! marked as overlayfs reads them (see `layers.rs`). Then
//! [`Sandbox::image`] stacks the layers read-only as the lowers of overlays
//! whose upper layer is a tmpfs private to the box, so writes never reach
//! the cache or another box; where the overlay is unavailable each box gets
//! a private copy instead (see `copy.rs`), and the enforcement report says
//! which. The image config's `Entrypoint`, `Cmd`, `Env`, `WorkingDir` and
//! `User` become defaults: set them again on the [`Sandbox`] (or pass
//! arguments to [`Image::command`]) to override them.
//!
//! # The cache
//!
//! `<cache>/layers/sha256/<blob digest>` per layer (shared by every image
//! with that layer), `<cache>/roots/sha256/<chain>` the skeleton of an
//! image's root (`<chain>`: the sha256 of the layer digests in order), and
//! `<cache>/rootfs/sha256/<chain>` the flattened tree, made only where the
//! layers cannot be stacked or a box needs a copy. The cache root is
//! [`default_cache`] unless given. Each is unpacked into `<cache>/tmp/` and
//! renamed into place once complete: a crash leaves at most a temporary
//! directory, never a half tree, and a failed unpack removes its temporary
//! directory.
//!
//! Bad input is an [`ImageError`] naming the file or field, before anything
//! is spawned: see its variants. Unpacking is described in `unpack.rs`.

mod copy;
mod layers;
mod layout;
mod unpack;

pub(crate) use copy::PrivateCopy;

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
    /// The skeleton (stacked layers) or the flattened tree.
    root: PathBuf,
    /// The layer directories, topmost first; empty when flattened.
    layers: Vec<PathBuf>,
    /// Why the layers were flattened (`None`: stacked).
    flattened: Option<String>,
    cache: PathBuf,
    /// The sha256 of the layer digests in order.
    chain: String,
    blobs: Vec<(PathBuf, unpack::Compression)>,
    /// How many layers this load unpacked (the others were cached).
    unpacked: usize,
    config: layout::RunConfig,
}

impl Image {
    /// Open the layout at `dir`, pick `reference` (the manifest's
    /// `org.opencontainers.image.ref.name`; `None`: the only manifest, or
    /// `latest`), verify it and unpack it under `cache` ([`default_cache`]
    /// when `None`): one directory per layer, stacked at spawn, or one
    /// flattened tree where the cache cannot hold overlay whiteouts.
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
        let mut img = Image {
            root: PathBuf::new(),
            layers: Vec::new(),
            flattened: None,
            cache: cache.map(Path::to_path_buf).unwrap_or_else(default_cache),
            chain: layout::hex(&chain.finalize()),
            blobs,
            unpacked: 0,
            config: config.config.unwrap_or_default(),
        };
        img.flattened = img.why_flatten()?;
        match img.flattened {
            None => img.stack()?,
            Some(_) => img.root = img.flat_tree()?,
        }
        Ok(img)
    }

    /// Why this caller's layers cannot be stacked (`None`: they can).
    fn why_flatten(&self) -> Result<Option<String>, ImageError> {
        if self.blobs.len() > layers::MAX_LOWERS {
            return Ok(Some(format!(
                "{} layers: overlayfs stacks at most {}",
                self.blobs.len(),
                layers::MAX_LOWERS
            )));
        }
        let tmp = self.cache.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| ImageError::io(&tmp, e))?;
        layers::probe(&tmp, privileged())
    }

    /// Unpack the missing layers, each into its own directory, and make
    /// the skeleton of the root (`<cache>/roots/sha256/<chain>`).
    fn stack(&mut self) -> Result<(), ImageError> {
        let mut dirs = Vec::new();
        for (blob, compression) in &self.blobs {
            let hex = blob.file_name().unwrap_or_default().to_string_lossy();
            let (dir, fresh) =
                layers::layer_dir(&self.cache, &hex, blob, *compression, privileged())?;
            self.unpacked += usize::from(fresh);
            dirs.push(dir);
        }
        dirs.reverse();
        let root = self.cache.join("roots/sha256").join(&self.chain);
        if !root.is_dir() {
            unpack_into(&self.cache, &root, |r| layers::skeleton(&dirs, r))?;
        }
        self.root = root;
        self.layers = dirs;
        Ok(())
    }

    /// The image flattened into one tree, `<cache>/rootfs/sha256/<chain>`,
    /// unpacked now unless the cache has it (the copy a box gets where the
    /// overlay is unavailable is made from it).
    pub fn flat_tree(&self) -> Result<PathBuf, ImageError> {
        let rootfs = self.cache.join("rootfs/sha256").join(&self.chain);
        if !rootfs.is_dir() {
            unpack_into(&self.cache, &rootfs, |r| fill(r, &self.blobs))?;
        }
        Ok(rootfs)
    }

    /// The layer directories in the cache, topmost first (empty when the
    /// layers were flattened, see [`Image::flattened`]).
    pub fn layers(&self) -> &[PathBuf] {
        &self.layers
    }

    /// How many layers [`Image::load`] unpacked into the cache (the others
    /// were there already, from this image or another sharing them).
    pub fn unpacked(&self) -> usize {
        self.unpacked
    }

    /// Why the layers were flattened into one tree instead of stacked
    /// (`None`: stacked, one cache directory per layer).
    pub fn flattened(&self) -> Option<&str> {
        self.flattened.as_deref()
    }

    /// The read-only tree the box's root is made from (never write to
    /// it): the skeleton of top-level entries when the layers are stacked,
    /// else the flattened tree.
    pub fn rootfs(&self) -> &Path {
        &self.root
    }

    /// The file `rel` of the image as the box sees it, if any.
    fn file(&self, rel: &str) -> Option<PathBuf> {
        if self.flattened.is_some() {
            return Some(self.root.join(rel));
        }
        layers::find(&self.layers, Path::new(rel))
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
        let text = self
            .file(file)
            .and_then(|f| std::fs::read_to_string(f).ok())
            .unwrap_or_default();
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

/// Fill a temporary directory of `cache` with `fill`, then rename it to
/// `dst`. On error the temporary directory is removed.
fn unpack_into(
    cache: &Path,
    dst: &Path,
    fill: impl FnOnce(&Path) -> Result<(), ImageError>,
) -> Result<(), ImageError> {
    let tmp_root = cache.join("tmp");
    for d in [&tmp_root, dst.parent().unwrap_or(cache)] {
        std::fs::create_dir_all(d).map_err(|e| ImageError::io(d, e))?;
    }
    let tmp = tmp_dir(&tmp_root)?;
    let result = fill(&tmp).and_then(|()| match std::fs::rename(&tmp, dst) {
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

/// Whether the caller is root: owners, device nodes and `trusted.*`
/// xattrs are kept only then.
fn privileged() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn tmp_dir(parent: &Path) -> Result<PathBuf, ImageError> {
    use std::os::unix::fs::DirBuilderExt;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = parent.join(format!("unpack-{}-{nanos}-{n}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&path)
        .map_err(|e| ImageError::io(&path, e))?;
    Ok(path)
}

/// Apply `blobs` (bottom first) to `root`, flattened into one tree.
fn fill(root: &Path, blobs: &[(PathBuf, unpack::Compression)]) -> Result<(), ImageError> {
    for (blob, compression) in blobs {
        unpack::Layer {
            blob,
            compression: *compression,
            root,
            privileged: privileged(),
            whiteouts: unpack::Whiteouts::Apply,
        }
        .apply()?;
    }
    finish_root(root)
}

/// Make the mount points the box needs (so the read-only tree is never
/// written at spawn time) and give the root mode 0755.
fn finish_root(root: &Path) -> Result<(), ImageError> {
    for d in layers::MOUNT_POINTS {
        let p = root.join(d);
        if std::fs::symlink_metadata(&p).is_err() {
            std::fs::create_dir(&p).map_err(|e| ImageError::io(&p, e))?;
        }
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| ImageError::io(root, e))
}

/// Set by a caller (or a test) to refuse the overlay: `Sandbox::image`
/// then gives each box a private copy, as on a kernel without it.
pub const NO_OVERLAY_ENV: &str = "RSANDBOX_IMAGE_NO_OVERLAY";

/// Why the image overlay cannot be used here (`None`: it can).
fn overlay_unavailable() -> Option<String> {
    if std::env::var_os(NO_OVERLAY_ENV).is_some_and(|v| !v.is_empty()) {
        return Some(format!("{NO_OVERLAY_ENV} is set"));
    }
    if !crate::sys::kernel::overlay_fd_layers() {
        let (major, minor) = crate::sys::kernel::version();
        return Some(format!(
            "this kernel is {major}.{minor}; the overlay takes its layers as fds from Linux 6.8"
        ));
    }
    None
}

impl Sandbox {
    /// Run in `image`: its layers are the read-only lowers of overlays
    /// whose upper layer is a tmpfs private to this box (one per top-level
    /// directory; writes are discarded on exit), `/tmp` is a fresh tmpfs,
    /// and the image's `Env`, `WorkingDir` and `User` are set (call `env`,
    /// `cwd`, `uid` after this to override them). Where the overlay is
    /// unavailable (Linux before 6.8, or [`NO_OVERLAY_ENV`] set), each box
    /// gets a private writable copy of the flattened image instead, as
    /// [`Sandbox::image_copy`]; the enforcement report's `filesystem:image`
    /// entry says which. Needs [`Sandbox::mount_ns`].
    pub fn image(self, image: &Image) -> Result<Self, ImageError> {
        if let Some(why) = overlay_unavailable() {
            return self.image_copied(image, &format!("overlay unavailable: {why}"));
        }
        let mut sb = self.rootfs(image.root.clone());
        for name in top_dirs(&image.root)? {
            let lowers = match image.flattened {
                Some(_) => vec![image.root.join(&name)],
                None => layers::lowers(&image.layers, &name),
            };
            if !lowers.is_empty() {
                sb = sb.overlay(lowers, Path::new("/").join(&name));
            }
        }
        let applied = match &image.flattened {
            None => format!(
                "{} layers stacked read-only as overlay lowers (one cache directory per layer); \
                 upper: a tmpfs private to the box",
                image.layers.len()
            ),
            Some(why) => format!(
                "the image flattened into one read-only tree ({why}) as overlay lower; \
                 upper: a tmpfs private to the box"
            ),
        };
        sb.image_root = Some(crate::config::fs::ImageRoot {
            applied,
            copy: None,
        });
        image_defaults(sb, image)
    }

    /// Run in a private, writable copy of `image` (flattened), made for
    /// each box when it is spawned and removed when its [`Child`] is done
    /// (dropped after the box ended, or killed on drop): no overlay
    /// needed, at the cost of copying the image per box. Otherwise as
    /// [`Sandbox::image`].
    ///
    /// [`Child`]: crate::Child
    pub fn image_copy(self, image: &Image) -> Result<Self, ImageError> {
        self.image_copied(image, "asked for (image_copy)")
    }

    fn image_copied(self, image: &Image, why: &str) -> Result<Self, ImageError> {
        let flat = image.flat_tree()?;
        // Read-only until the spawn swaps in the box's copy: a profile
        // written from this description never writes to the cache.
        let mut sb = self.rootfs(flat.clone());
        sb.image_root = Some(crate::config::fs::ImageRoot {
            applied: format!("a private writable copy of the flattened image, removed when the box is done ({why})"),
            copy: Some((flat, image.cache.join("tmp"))),
        });
        image_defaults(sb, image)
    }
}

/// The top-level directories of `root` that get an overlay.
fn top_dirs(root: &Path) -> Result<Vec<OsString>, ImageError> {
    let mut dirs = Vec::new();
    for e in std::fs::read_dir(root).map_err(|e| ImageError::io(root, e))? {
        let e = e.map_err(|e| ImageError::io(root, e))?;
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir && !layers::MOUNT_POINTS.iter().any(|n| e.file_name() == *n) {
            dirs.push(e.file_name());
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// A fresh `/tmp`, and the config's `Env`, `WorkingDir` and `User`.
fn image_defaults(sb: Sandbox, image: &Image) -> Result<Sandbox, ImageError> {
    let mut sb = sb.env_clear().tmpfs("/tmp", 64 << 20);
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

/// The enforcement report's `filesystem:image` entry, for a box whose root
/// is an image.
pub(crate) fn report(sb: &Sandbox) -> Option<crate::report::LayerReport> {
    let r = sb.image_root.as_ref()?;
    Some(crate::report::LayerReport {
        layer: "filesystem:image".into(),
        requested: "the image read-only, the box's writes private to it".into(),
        applied: r.applied.clone(),
        enforcement: crate::report::Enforcement::Full,
    })
}
