//! Unit tests for the parent-side helpers (no process is spawned).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{check_executable_in_box, creates_path, normalize};
use crate::Sandbox;

struct Tmp(PathBuf);
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tmp(tag: &str) -> Tmp {
    let p = std::env::temp_dir().join(format!("rsbx-fs-unit-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(p.join("bin")).unwrap();
    Tmp(p)
}

#[test]
fn normalize_paths() {
    assert_eq!(
        normalize(Path::new("/a//b/./c/")),
        Some(PathBuf::from("/a/b/c"))
    );
    assert_eq!(normalize(Path::new("/")), Some(PathBuf::from("/")));
    assert_eq!(normalize(Path::new("a/b")), None);
    assert_eq!(normalize(Path::new("/a/../b")), None);
}

#[test]
fn executable_lookup_stays_in_the_rootfs() {
    let t = tmp("exec");
    let tool = t.0.join("bin/tool");
    std::fs::write(&tool, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(t.0.join("bin/data"), "x").unwrap();
    // An absolute link, meaningful only inside the rootfs.
    std::os::unix::fs::symlink("/bin/tool", t.0.join("bin/abs")).unwrap();
    // A link trying to leave the rootfs.
    std::os::unix::fs::symlink("../../../../../../bin/sh", t.0.join("bin/out")).unwrap();
    let sb = Sandbox::new().mount_ns().rootfs(&t.0);
    assert!(check_executable_in_box(&sb, Path::new("/bin/tool")).is_ok());
    assert!(check_executable_in_box(&sb, Path::new("/bin/abs")).is_ok());
    assert!(check_executable_in_box(&sb, Path::new("/bin/data")).is_err());
    assert!(check_executable_in_box(&sb, Path::new("/bin/missing")).is_err());
    // Resolves to <rootfs>/bin/sh, which does not exist.
    assert!(check_executable_in_box(&sb, Path::new("/bin/out")).is_err());
}

#[test]
fn created_paths() {
    let sb = Sandbox::new().mount_ns().tmpfs("/tmp/x", 4096);
    assert!(creates_path(&sb, Path::new("/tmp/x/y")));
    assert!(creates_path(&sb, Path::new("/tmp/other")), "default /tmp");
    assert!(creates_path(&sb, Path::new("/dev/null")), "default /dev");
    assert!(!creates_path(&sb, Path::new("/usr/bin")), "identity bind");
    assert!(!creates_path(&Sandbox::new(), Path::new("/tmp")));
}
