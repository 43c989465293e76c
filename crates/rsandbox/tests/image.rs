//! OCI images as root filesystems (`rsandbox::image`).
//!
//! The layouts are written here with the `tar` crate (three layers: gzip,
//! zstd and plain; a whiteout and an opaque directory), and one with umoci
//! (a real tool's output). Each scenario runs as root and as `nobody`,
//! with a cache directory the caller owns.

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use common::TempDir;
use rsandbox::{Command, Image, ImageError, Sandbox};
use sha2::{Digest, Sha256};

/// One tar entry of a test layer.
enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8], u32),
    Link(&'a str, &'a str),
    /// A name written raw (bypassing the tar crate's path checks).
    Raw(&'a str, tar::EntryType, &'a str),
}

fn tar_of(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            E::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            E::File(p, data, mode) => {
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, *data).unwrap();
            }
            E::Link(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                h.set_mode(0o777);
                b.append_link(&mut h, p, target).unwrap();
            }
            E::Raw(name, kind, target) => {
                h.set_entry_type(*kind);
                h.set_size(0);
                h.set_mode(0o644);
                let gnu = h.as_gnu_mut().unwrap();
                gnu.name[..name.len()].copy_from_slice(name.as_bytes());
                gnu.linkname[..target.len()].copy_from_slice(target.as_bytes());
                h.set_cksum();
                b.append(&h, &[][..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// An OCI layout being written.
struct Layout(PathBuf);

impl Layout {
    fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout(dir.to_path_buf())
    }
    fn blob(&self, media_type: &str, data: &[u8]) -> serde_json::Value {
        let hex: String = Sha256::digest(data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::fs::write(self.0.join("blobs/sha256").join(&hex), data).unwrap();
        serde_json::json!({"mediaType": media_type, "digest": format!("sha256:{hex}"), "size": data.len()})
    }
    /// Write config + manifest + index naming it `tag`.
    fn image(&self, tag: &str, layers: Vec<serde_json::Value>, config: serde_json::Value) {
        let config = serde_json::json!({"architecture": "amd64", "os": "linux", "config": config,
            "rootfs": {"type": "layers", "diff_ids": []}});
        let c = self.blob(
            "application/vnd.oci.image.config.v1+json",
            config.to_string().as_bytes(),
        );
        let m = serde_json::json!({"schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": c, "layers": layers});
        let mut d = self.blob(
            "application/vnd.oci.image.manifest.v1+json",
            m.to_string().as_bytes(),
        );
        d["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [d]});
        std::fs::write(self.0.join("index.json"), index.to_string()).unwrap();
    }
}

const GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const ZST: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// The test image: busybox, files, a whiteout (etc/gone) in layer 2 and an
/// opaque directory (opq) in layer 3.
fn test_image(dir: &Path) -> Layout {
    let l = Layout::new(dir);
    let busybox = std::fs::read("/usr/bin/busybox").expect("busybox-static");
    let l1 = tar_of(&[
        E::Dir("bin"),
        E::File("bin/busybox", &busybox, 0o755),
        E::Link("bin/sh", "/bin/busybox"),
        E::Dir("etc"),
        E::File("etc/hello", b"from-image\n", 0o644),
        E::File("etc/gone", b"deleted later\n", 0o644),
        E::Dir("opq"),
        E::File("opq/old", b"old\n", 0o644),
        E::Dir("work"),
    ]);
    let l2 = tar_of(&[
        E::File("etc/.wh.gone", b"", 0o644),
        E::File("etc/added", b"layer2\n", 0o644),
    ]);
    let l3 = tar_of(&[
        E::Dir("opq"),
        E::File("opq/.wh..wh..opq", b"", 0o644),
        E::File("opq/new", b"new\n", 0o644),
    ]);
    let layers = vec![
        l.blob(GZ, &gzip(&l1)),
        l.blob(ZST, &zstd::encode_all(&l2[..], 3).unwrap()),
        l.blob(TAR, &l3),
    ];
    l.image(
        "latest",
        layers,
        serde_json::json!({"Env": ["PATH=/bin", "GREETING=hi"], "WorkingDir": "/work",
            "Cmd": ["/bin/sh", "-c", "echo default-cmd $GREETING; pwd"]}),
    );
    l
}

fn run(sb: Sandbox, cmd: Command) -> String {
    let out = sb.output(&cmd).expect("spawn in the image");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.outcome.success(),
        "{:?}: {stdout}{}",
        out.outcome,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn sh(script: &str) -> Vec<OsString> {
    ["/bin/sh", "-c", script].map(OsString::from).to_vec()
}

both!(payload_sees_the_image, || {
    let t = TempDir::new("image");
    test_image(&t.join("layout"));
    let img = Image::load(&t.join("layout"), None, Some(&t.join("cache"))).unwrap();
    let sb = || {
        Sandbox::new()
            .user_ns()
            .mount_ns()
            .pid_ns()
            .image(&img)
            .unwrap()
    };
    let script = "cat /etc/hello /etc/added; ls /opq; test -e /etc/gone && echo gone-present; \
                  test -e /etc/debian_version && echo host-visible; echo $GREETING; pwd";
    let out = run(sb(), img.command(&sh(script)).unwrap());
    assert_eq!(out, "from-image\nlayer2\nnew\nhi\n/work\n");
    // The image's Cmd is the default; env and cwd can be overridden.
    let out = run(sb(), img.command(&[]).unwrap());
    assert_eq!(out, "default-cmd hi\n/work\n");
    let out = run(
        sb().env("GREETING", "over").cwd("/etc"),
        img.command(&[]).unwrap(),
    );
    assert_eq!(out, "default-cmd over\n/etc\n");
    // Writes go to the box's private upper layer.
    run(
        sb(),
        img.command(&sh("echo x > /etc/written && echo y > /bin/new"))
            .unwrap(),
    );
    let out = run(
        sb(),
        img.command(&sh("ls /etc; test -e /bin/new && echo leaked; true"))
            .unwrap(),
    );
    assert_eq!(out, "added\nhello\n");
    assert!(!img.rootfs().join("etc/written").exists());
    assert!(!img.rootfs().join("etc/gone").exists());
    assert!(img.rootfs().starts_with(t.join("cache")));
    // Loaded again: the same tree, not unpacked twice.
    let again = Image::load(&t.join("layout"), Some("latest"), Some(&t.join("cache"))).unwrap();
    assert_eq!(again.rootfs(), img.rootfs());
    assert_eq!(again.layers(), img.layers());
    if stacked(&img) {
        // One directory per layer, no flattened tree.
        assert_eq!(count(&t.join("cache/roots/sha256")), 1);
        assert_eq!(count(&t.join("cache/layers/sha256")), 3);
        assert_eq!(count(&t.join("cache/rootfs/sha256")), 0);
    } else {
        assert_eq!(count(&t.join("cache/rootfs/sha256")), 1);
    }
    assert_eq!(count(&t.join("cache/tmp")), 0);
});

/// Whether `img`'s layers are stacked. Where the cache's filesystem cannot
/// hold overlay whiteouts (no user xattrs: tmpfs before Linux 6.6) they are
/// flattened, the documented fallback: then say so, and the caller skips
/// its per-layer checks.
fn stacked(img: &Image) -> bool {
    match img.flattened() {
        None => true,
        Some(why) => {
            assert!(why.contains("cannot hold overlay whiteouts"), "{why}");
            eprintln!("layers flattened on this filesystem: {why}");
            false
        }
    }
}

/// Entries of directory `d` (0 when it is missing).
fn count(d: &Path) -> usize {
    std::fs::read_dir(d).map(|d| d.count()).unwrap_or(0)
}

/// Load `layout` and expect an error; the cache keeps no tree.
fn refused(t: &TempDir, reference: Option<&str>) -> ImageError {
    let cache = t.join("cache");
    let err = Image::load(&t.join("layout"), reference, Some(&cache)).unwrap_err();
    for d in ["rootfs/sha256", "roots/sha256", "layers/sha256", "tmp"] {
        assert_eq!(count(&cache.join(d)), 0, "{d}: {err}");
    }
    err
}

fn blob_file(l: &Layout, desc: &serde_json::Value) -> PathBuf {
    let d = desc["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap();
    l.0.join("blobs/sha256").join(d)
}

both!(bad_layouts_are_typed_errors, || {
    // A reference not in the index.
    let t = TempDir::new("image-bad");
    test_image(&t.join("layout"));
    let e = refused(&t, Some("v2"));
    assert!(
        matches!(&e, ImageError::ReferenceNotFound { reference, available, .. }
        if reference == "v2" && available == &["latest"]),
        "{e}"
    );
    // A digest mismatch and a missing blob.
    for corrupt in [true, false] {
        let t = TempDir::new("image-bad");
        let l = Layout::new(&t.join("layout"));
        let layer = l.blob(TAR, &tar_of(&[E::Dir("etc")]));
        l.image("latest", vec![layer.clone()], serde_json::json!({}));
        if corrupt {
            std::fs::write(blob_file(&l, &layer), b"tampered").unwrap();
        } else {
            std::fs::remove_file(blob_file(&l, &layer)).unwrap();
        }
        let e = refused(&t, None);
        let digest = layer["digest"].as_str().unwrap();
        match (&e, corrupt) {
            (ImageError::DigestMismatch { expected, .. }, true) => {
                assert!(expected.contains(digest))
            }
            (ImageError::MissingBlob { digest: d, .. }, false) => assert_eq!(d, digest),
            _ => panic!("unexpected: {e}"),
        }
    }
    // An unknown media type.
    let t = TempDir::new("image-bad");
    let l = Layout::new(&t.join("layout"));
    let layer = l.blob("application/x-rar", b"rar");
    l.image("latest", vec![layer], serde_json::json!({}));
    let e = refused(&t, None);
    assert!(
        matches!(&e, ImageError::UnknownMediaType { media_type, .. } if media_type == "application/x-rar"),
        "{e}"
    );
});

both!(hostile_entries_are_refused, || {
    let sym = tar::EntryType::Symlink;
    let reg = tar::EntryType::Regular;
    let cases: Vec<(&str, Vec<E>)> = vec![
        ("climbs out with ..", vec![E::Raw("../../escaped", reg, "")]),
        ("absolute path", vec![E::Raw("/escaped", reg, "")]),
        (
            "parent is a symlink",
            vec![E::Raw("lib", sym, "/tmp"), E::Raw("lib/escaped", reg, "")],
        ),
        (
            "parent is a symlink",
            vec![E::Raw("up", sym, "../../.."), E::Raw("up/escaped", reg, "")],
        ),
        (
            "climbs out with ..",
            vec![E::Raw("hard", tar::EntryType::Link, "../../etc/passwd")],
        ),
    ];
    for (why, entries) in cases {
        let t = TempDir::new("image-hostile");
        let l = Layout::new(&t.join("layout"));
        let layer = l.blob(TAR, &tar_of(&entries));
        l.image("latest", vec![layer], serde_json::json!({}));
        let e = refused(&t, None);
        assert!(
            matches!(&e, ImageError::HostileEntry { reason, .. } if reason.contains(why)),
            "{why}: {e}"
        );
        assert!(!Path::new("/tmp/escaped").exists());
        assert!(!t.join("escaped").exists());
    }
    // A device node: refused for an unprivileged caller only.
    if !common::is_root() {
        let t = TempDir::new("image-hostile");
        let l = Layout::new(&t.join("layout"));
        let layer = l.blob(TAR, &tar_of(&[E::Raw("dev/mem", tar::EntryType::Char, "")]));
        l.image("latest", vec![layer], serde_json::json!({}));
        let e = refused(&t, None);
        assert!(
            matches!(&e, ImageError::HostileEntry { reason, .. } if reason.contains("device")),
            "{e}"
        );
    }
});

/// Run umoci with `args` in `dir`; rootless unpack when not root.
fn umoci(dir: &Path, args: &[&str]) {
    let mut c = std::process::Command::new("umoci");
    c.current_dir(dir);
    let rootless = !common::is_root() && args[0] == "unpack";
    if rootless {
        c.arg(args[0]).arg("--rootless").args(&args[1..]);
    } else {
        c.args(args);
    }
    let out = c.output().expect("umoci (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "umoci {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

both!(image_made_by_umoci, || {
    let t = TempDir::new("image-umoci");
    let d = t.path();
    umoci(d, &["init", "--layout", "L"]);
    umoci(d, &["new", "--image", "L:v1"]);
    umoci(d, &["unpack", "--image", "L:v1", "B"]);
    let root = t.join("B/rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::copy("/usr/bin/busybox", root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    std::fs::write(root.join("etc/keep"), "kept\n").unwrap();
    std::fs::write(root.join("etc/gone"), "gone\n").unwrap();
    umoci(d, &["repack", "--image", "L:v1", "B"]);
    // A second layer deleting a file of the first: umoci writes a whiteout.
    std::fs::remove_dir_all(t.join("B")).unwrap();
    umoci(d, &["unpack", "--image", "L:v1", "B"]);
    std::fs::remove_file(t.join("B/rootfs/etc/gone")).unwrap();
    umoci(d, &["repack", "--image", "L:v1", "B"]);
    umoci(
        d,
        &[
            "config",
            "--image",
            "L:v1",
            "--config.env",
            "GREETING=umoci",
            "--config.cmd",
            "/bin/sh",
            "--config.cmd",
            "-c",
            "--config.cmd",
            "ls /etc; echo $GREETING",
        ],
    );
    let img = Image::load(&t.join("L"), Some("v1"), Some(&t.join("cache"))).unwrap();
    let sb = Sandbox::new()
        .user_ns()
        .mount_ns()
        .pid_ns()
        .image(&img)
        .unwrap();
    assert_eq!(run(sb, img.command(&[]).unwrap()), "keep\numoci\n");
});

both!(user_from_the_config, || {
    let t = TempDir::new("image-user");
    let l = Layout::new(&t.join("layout"));
    let busybox = std::fs::read("/usr/bin/busybox").expect("busybox-static");
    let layer = tar_of(&[
        E::Dir("bin"),
        E::File("bin/busybox", &busybox, 0o755),
        E::Link("bin/sh", "busybox"),
        E::Dir("etc"),
        E::File(
            "etc/passwd",
            b"root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n",
            0o644,
        ),
        E::File("etc/group", b"root:x:0:\nstaff:x:50:\n", 0o644),
    ]);
    let layers = vec![l.blob(TAR, &layer)];
    l.image(
        "latest",
        layers,
        serde_json::json!({"User": "app:staff", "Cmd": ["/bin/sh", "-c", "id -u; id -g"]}),
    );
    let img = Image::load(&t.join("layout"), None, Some(&t.join("cache"))).unwrap();
    assert_eq!(img.user().unwrap(), Some((1000, Some(50))));
    if common::is_root() {
        // Root can map any id: the payload runs as the image's user.
        let sb = Sandbox::new()
            .user_ns()
            .mount_ns()
            .pid_ns()
            .image(&img)
            .unwrap();
        assert_eq!(run(sb, img.command(&[]).unwrap()), "1000\n50\n");
        // And the caller overrides it.
        let sb = Sandbox::new()
            .user_ns()
            .mount_ns()
            .pid_ns()
            .image(&img)
            .unwrap()
            .uid(7);
        assert_eq!(run(sb, img.command(&[]).unwrap()), "7\n50\n");
    }
});

/// Two images on one base layer: the base's busybox and /etc, then, in
/// `a`, a layer deleting etc/gone and, in `b`, one making /etc opaque.
fn two_images(dir: &Path) -> (Layout, Layout) {
    let busybox = std::fs::read("/usr/bin/busybox").expect("busybox-static");
    let base = tar_of(&[
        E::Dir("bin"),
        E::File("bin/busybox", &busybox, 0o755),
        E::Link("bin/sh", "busybox"),
        E::Dir("etc"),
        E::File("etc/hello", b"base\n", 0o644),
        E::File("etc/gone", b"base\n", 0o644),
    ]);
    let top_a = tar_of(&[
        E::File("etc/.wh.gone", b"", 0o644),
        E::File("etc/a", b"a\n", 0o644),
    ]);
    let top_b = tar_of(&[
        E::Dir("etc"),
        E::File("etc/.wh..wh..opq", b"", 0o644),
        E::File("etc/b", b"b\n", 0o644),
    ]);
    let mut out = Vec::new();
    for (name, top) in [("a", top_a), ("b", top_b)] {
        let l = Layout::new(&dir.join(name));
        let layers = vec![l.blob(GZ, &gzip(&base)), l.blob(TAR, &top)];
        l.image("latest", layers, serde_json::json!({"Env": ["PATH=/bin"]}));
        out.push(l);
    }
    let b = out.pop().unwrap();
    (out.pop().unwrap(), b)
}

both!(images_share_their_common_layer, || {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let t = TempDir::new("image-share");
    two_images(t.path());
    let cache = t.join("cache");
    let a = Image::load(&t.join("a"), None, Some(&cache)).unwrap();
    if !stacked(&a) {
        return;
    }
    assert_eq!(a.unpacked(), 2);
    let base_a = a.layers()[1].clone();
    let inode = std::fs::metadata(&base_a).unwrap().ino();
    let b = Image::load(&t.join("b"), None, Some(&cache)).unwrap();
    // Only b's own layer was unpacked; the base is the same directory.
    assert_eq!(b.unpacked(), 1);
    assert_eq!(b.layers()[1], base_a);
    assert_eq!(std::fs::metadata(&b.layers()[1]).unwrap().ino(), inode);
    assert_eq!(count(&cache.join("layers/sha256")), 3);
    assert_eq!(
        Image::load(&t.join("a"), None, Some(&cache))
            .unwrap()
            .unpacked(),
        0
    );
    // The whiteout is a 0/0 character device in a's top layer; the base
    // layer's directory still has the file.
    let w = std::fs::symlink_metadata(a.layers()[0].join("etc/gone")).unwrap();
    assert!(w.file_type().is_char_device() && w.rdev() == 0);
    assert!(base_a.join("etc/gone").is_file());
    let ls = |img: &Image, sb: Sandbox| {
        run(sb.image(img).unwrap(), img.command(&sh("ls /etc")).unwrap())
    };
    let userns = || Sandbox::new().user_ns().mount_ns().pid_ns();
    assert_eq!(ls(&a, userns()), "a\nhello\n");
    assert_eq!(ls(&b, userns()), "b\n");
    if common::is_root() {
        // Without a user namespace the overlay reads trusted.overlay.*.
        let plain = || Sandbox::new().mount_ns().pid_ns();
        assert_eq!(ls(&a, plain()), "a\nhello\n");
        assert_eq!(ls(&b, plain()), "b\n");
    }
});

both!(private_copy_where_the_overlay_is_refused, || {
    let t = TempDir::new("image-copy");
    test_image(&t.join("layout"));
    let cache = t.join("cache");
    let img = Image::load(&t.join("layout"), None, Some(&cache)).unwrap();
    let sb = || {
        Sandbox::new()
            .user_ns()
            .mount_ns()
            .pid_ns()
            .image_copy(&img)
            .unwrap()
    };
    let script = "echo x > /etc/written && cat /etc/written; echo y > /new; ls /opq; \
                  test -e /etc/gone && echo gone-present; pwd";
    let out = sb().output(&img.command(&sh(script)).unwrap()).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "x\nnew\n/work\n");
    let entry = out.outcome.enforcement.layer("filesystem:image").unwrap();
    assert!(
        entry.applied.contains("private writable copy") && entry.applied.contains("image_copy"),
        "{entry:?}"
    );
    // The next box starts from the image again; the cache is untouched and
    // the copy is gone once its box is done.
    let out = run(
        sb(),
        img.command(&sh("ls /etc; test -e /new && echo leaked; true"))
            .unwrap(),
    );
    assert_eq!(out, "added\nhello\n");
    let flat = img.flat_tree().unwrap();
    assert!(flat.starts_with(&cache) && !flat.join("etc/written").exists());
    assert_eq!(count(&cache.join("tmp")), 0);
    // While a box runs its copy exists; a killed-on-drop box's is removed.
    let child = sb().spawn(&img.command(&sh("sleep 60")).unwrap()).unwrap();
    assert_eq!(count(&cache.join("tmp")), 1);
    drop(child);
    assert_eq!(count(&cache.join("tmp")), 0);
    // `image` stacks the layers where the kernel has the overlay (Linux
    // 6.8), and copies by itself where it does not.
    let out = Sandbox::new()
        .user_ns()
        .mount_ns()
        .pid_ns()
        .image(&img)
        .unwrap()
        .output(&img.command(&sh("true")).unwrap())
        .unwrap();
    let entry = out.outcome.enforcement.layer("filesystem:image").unwrap();
    if rsandbox::features::probe().overlay_fd_layers {
        assert!(entry.applied.contains("3 layers stacked"), "{entry:?}");
    } else {
        assert!(
            entry.applied.contains("overlay unavailable: this kernel"),
            "{entry:?}"
        );
    }
});

both!(more_layers_than_overlay_stacks_are_flattened, || {
    let t = TempDir::new("image-many");
    let l = Layout::new(&t.join("layout"));
    let busybox = std::fs::read("/usr/bin/busybox").expect("busybox-static");
    let mut layers = vec![l.blob(
        TAR,
        &tar_of(&[
            E::Dir("bin"),
            E::File("bin/busybox", &busybox, 0o755),
            E::Link("bin/sh", "busybox"),
            E::Dir("f"),
        ]),
    )];
    for i in 0..500 {
        let name = format!("f/{i}");
        layers.push(l.blob(TAR, &tar_of(&[E::File(&name, b"", 0o644)])));
    }
    l.image("latest", layers, serde_json::json!({"Env": ["PATH=/bin"]}));
    let cache = t.join("cache");
    let img = Image::load(&t.join("layout"), None, Some(&cache)).unwrap();
    let why = img.flattened().expect("flattened");
    assert!(why.contains("501 layers"), "{why}");
    assert!(img.layers().is_empty());
    assert_eq!(count(&cache.join("layers/sha256")), 0);
    assert_eq!(count(&cache.join("rootfs/sha256")), 1);
    let sb = Sandbox::new()
        .user_ns()
        .mount_ns()
        .pid_ns()
        .image(&img)
        .unwrap();
    let out = sb
        .output(&img.command(&sh("ls /f | wc -l; touch /f/new")).unwrap())
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "500");
    assert!(out.outcome.success());
    let entry = out.outcome.enforcement.layer("filesystem:image").unwrap();
    assert!(entry.applied.contains("flattened"), "{entry:?}");
    assert!(!img.rootfs().join("f/new").exists());
});
