//! Filesystem isolation, asserted from inside the box, as the caller (root
//! on CI) and as `nobody` (rootless, in a user namespace).
//!
//! Every test runs in new mount namespaces: nothing here changes the host.

#[path = "common/fs_fixtures.rs"]
mod fs_fixtures;

use std::path::Path;

use fs_fixtures::{base, sh, text, BusyboxRoot, TempDir};
use rsandbox::{Command, Error, Sandbox};

both!(rootfs_isolation, || {
    let root = BusyboxRoot::new();
    let ro = TempDir::new("ro");
    let rw = TempDir::new("rw");
    std::fs::write(ro.join("hello"), "hello from host\n").unwrap();
    let sb = base()
        .rootfs(root.path())
        .tmpfs("/tmp", 1 << 20)
        .ro_bind(ro.path(), "/data/ro")
        .bind(rw.path(), "/data/rw");
    let o = sh(
        &sb,
        "test -e /work || test -e /usr || test -e /etc/passwd || echo HOST_ABSENT
         test -e /BUSYBOX_ROOT && echo IN_ROOT
         touch /newfile 2>&1
         touch /tmp/ok && echo TMP_OK
         cat /data/ro/hello
         echo x 2>&1 > /data/ro/new || echo DATA_RO_REFUSED
         echo written > /data/rw/out && echo RW_OK",
    );
    let t = text(&o);
    assert!(o.outcome.success(), "{t}");
    for want in [
        "HOST_ABSENT",
        "IN_ROOT",
        "TMP_OK",
        "hello from host",
        "DATA_RO_REFUSED",
        "RW_OK",
    ] {
        assert!(t.contains(want), "missing {want} in:\n{t}");
    }
    assert_eq!(t.matches("Read-only file system").count(), 2, "{t}");
    assert_eq!(
        std::fs::read_to_string(rw.join("out")).unwrap(),
        "written\n"
    );
    assert!(!ro.join("new").exists());
    assert!(!root.path().join("newfile").exists());
});

both!(default_view, || {
    let marker = format!("rsbx-default-view-{}", std::process::id());
    let o = sh(
        &base(),
        &format!(
            "test -d /usr/bin && test -e /bin/sh && echo HOST_VISIBLE
             touch /usr/{marker} 2>&1
             touch /tmp/{marker} && echo TMP_OK
             ls -A /tmp
             echo DEV: $(ls /dev)
             echo PIDS: $(ls /proc | grep -E '^[0-9]+$')"
        ),
    );
    let t = text(&o);
    assert!(o.outcome.success(), "{t}");
    assert!(t.contains("HOST_VISIBLE"), "{t}");
    assert!(t.contains("Read-only file system"), "{t}");
    assert!(t.contains("TMP_OK"), "{t}");
    assert!(
        t.contains("DEV: fd full null ptmx pts random shm stderr stdin stdout tty urandom zero"),
        "{t}"
    );
    let pids = t.lines().find(|l| l.starts_with("PIDS:")).unwrap();
    let pids: Vec<u32> = pids[5..]
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(pids.contains(&1) && pids.iter().all(|&p| p < 20), "{t}");
    assert!(!Path::new("/tmp").join(&marker).exists());
    assert!(!Path::new("/usr").join(&marker).exists());
});

both!(tmpfs_fills_at_size, || {
    let root = BusyboxRoot::new();
    let sb = base().rootfs(root.path()).dev("/dev").tmpfs("/t", 16 << 20);
    let o = sh(
        &sb,
        "dd if=/dev/zero of=/t/f bs=65536 count=1024 2>&1; echo SIZE=$(wc -c < /t/f)",
    );
    let t = text(&o);
    assert!(t.contains("No space left on device"), "{t}");
    let size: u64 = t
        .lines()
        .find_map(|l| l.strip_prefix("SIZE="))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        size > 15 << 20 && size <= 16 << 20,
        "wrote {size} bytes: {t}"
    );
});
