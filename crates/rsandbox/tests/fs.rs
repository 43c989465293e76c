//! Filesystem isolation, asserted from inside the box, as the caller (root
//! on CI) and as `nobody` (rootless, in a user namespace).
//!
//! Every test runs in new mount namespaces: nothing here changes the host.

mod common;
#[path = "common/fs_fixtures.rs"]
mod fs_fixtures;

use std::path::Path;

use common::TempDir;
use fs_fixtures::{base, sh, text, BusyboxRoot};
use rsandbox::fs::MountStep;
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

both!(proc_shows_only_the_box, || {
    let root = BusyboxRoot::new();
    let sb = base().rootfs(root.path()).proc("/proc").dev("/dev");
    let o = sh(
        &sb,
        "echo PIDS: $(ls /proc | grep -E '^[0-9]+$')
         for f in kcore keys timer_list sched_debug latency_stats; do
           test -e /proc/$f && echo $f=$(cat /proc/$f | wc -c)
         done
         echo ACPI=$(ls -A /proc/acpi 2>/dev/null | wc -l)
         grep -E ' /proc/(sys|sysrq-trigger|irq|bus|fs|kcore|keys) ' /proc/self/mountinfo",
    );
    let t = text(&o);
    let pids = t.lines().find(|l| l.starts_with("PIDS:")).unwrap();
    let pids: Vec<u32> = pids[5..]
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(
        pids.contains(&1) && pids.len() <= 6 && pids.iter().all(|&p| p < 20),
        "{t}"
    );
    // Only what this kernel has (kcore, sched_debug... are config options).
    for f in [
        "kcore",
        "keys",
        "timer_list",
        "sched_debug",
        "latency_stats",
    ] {
        if Path::new("/proc").join(f).exists() {
            assert!(t.contains(&format!("{f}=0\n")), "{f} not masked:\n{t}");
        }
    }
    assert!(t.contains("ACPI=0"), "{t}");
    for ro in ["/proc/sys ", "/proc/sysrq-trigger ", "/proc/irq "] {
        if !Path::new(ro.trim()).exists() {
            continue;
        }
        let line = t
            .lines()
            .find(|l| l.contains(ro))
            .unwrap_or_else(|| panic!("{ro} not remounted:\n{t}"));
        assert!(line.contains(" ro,") || line.contains(" ro "), "{line}");
    }
});

both!(dev_holds_only_listed_nodes, || {
    let root = BusyboxRoot::new();
    let sb = base()
        .rootfs(root.path())
        .dev("/dev")
        .tmpfs("/tmp", 1 << 20);
    let o = sh(
        &sb,
        "echo DEV: $(ls /dev)
         echo PTS: $(ls /dev/pts)
         echo hi > /dev/null && echo NULL_OK
         echo ZERO=$(head -c 5 /dev/zero | wc -c)
         echo RAND=$(head -c 8 /dev/urandom | wc -c)
         mknod /dev/sda b 8 0 2>&1 || echo MKNOD_DEV_REFUSED
         mknod /tmp/mem c 1 1 2>/dev/null && head -c 1 /tmp/mem 2>&1 >/dev/null && echo MEM_READABLE
         touch /dev/x 2>&1 || echo DEV_RO
         echo test > /dev/shm/a && echo SHM_OK",
    );
    let t = text(&o);
    assert!(
        t.contains("DEV: fd full null ptmx pts random shm stderr stdin stdout tty urandom zero\n"),
        "{t}"
    );
    assert!(t.contains("PTS: ptmx"), "{t}");
    for want in [
        "NULL_OK",
        "ZERO=5",
        "RAND=8",
        "MKNOD_DEV_REFUSED",
        "DEV_RO",
        "SHM_OK",
    ] {
        assert!(t.contains(want), "missing {want}:\n{t}");
    }
    assert!(!t.contains("MEM_READABLE"), "{t}");
});

both!(symlinked_destinations_land_inside, || {
    let root = BusyboxRoot::new();
    let host = TempDir::new("data");
    std::fs::write(host.join("seen"), "bound\n").unwrap();
    let marker = format!("rsbx-escape-{}", std::process::id());
    // `/lnk -> /` and `/up -> ../../../../..` are planted in the rootfs.
    let sb = base()
        .rootfs(root.path())
        .tmpfs("/tmp", 1 << 20)
        .file(format!("/lnk/tmp/{marker}"), "inside\n")
        .ro_bind(host.path(), "/up/mnt/x");
    let o = sh(&sb, &format!("cat /tmp/{marker}; cat /mnt/x/seen"));
    let t = text(&o);
    assert!(o.outcome.success(), "{t}");
    assert_eq!(t, "inside\nbound\n");
    assert!(!Path::new("/tmp").join(&marker).exists());
    assert!(!Path::new("/mnt/x").exists());
});

/// Helper run inside a box by `double_chroot_stays_inside`: the classic
/// escape (chroot into a subdirectory, climb out with `..`, chroot `.`).
#[test]
fn escape_helper() {
    if std::env::var_os("RSANDBOX_ESCAPE_HELPER").is_none() {
        return;
    }
    use std::ffi::CString;
    std::fs::create_dir_all("/tmp/jail").unwrap();
    let jail = CString::new("/tmp/jail").unwrap();
    let dot = CString::new(".").unwrap();
    let up = CString::new("..").unwrap();
    // SAFETY: plain syscalls with valid C strings.
    unsafe {
        assert_eq!(libc::chroot(jail.as_ptr()), 0, "chroot jail");
        for _ in 0..64 {
            libc::chdir(up.as_ptr());
        }
        assert_eq!(libc::chroot(dot.as_ptr()), 0, "chroot .");
    }
    if Path::new("/tmp/box-marker").exists() {
        println!("STAYED_INSIDE");
    } else {
        println!("ESCAPED");
    }
}

both!(double_chroot_stays_inside, || {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().to_path_buf();
    let sb = base()
        .ro_bind(&dir, &dir)
        .file("/tmp/box-marker", "x")
        .env("RSANDBOX_ESCAPE_HELPER", "1");
    let o = sb
        .output(&Command::new(&exe).args([
            "--exact",
            "escape_helper",
            "--nocapture",
            "--test-threads=1",
        ]))
        .unwrap();
    let t = text(&o);
    assert!(t.contains("STAYED_INSIDE"), "{t}");
});

both!(overlay_discards_or_keeps_writes, || {
    let root = BusyboxRoot::new();
    let lower = TempDir::new("lower");
    std::fs::write(lower.join("a"), "lower\n").unwrap();
    let sb = base().rootfs(root.path()).overlay([lower.path()], "/ov");
    let o = sh(
        &sb,
        "cat /ov/a; echo b > /ov/b && echo changed > /ov/a && cat /ov/b /ov/a",
    );
    let t = text(&o);
    assert!(o.outcome.success(), "{t}");
    assert_eq!(t, "lower\nb\nchanged\n");
    assert_eq!(std::fs::read_to_string(lower.join("a")).unwrap(), "lower\n");
    assert!(!lower.join("b").exists());
    // Again: the writes are gone.
    let o = sh(&sb, "ls /ov");
    assert_eq!(text(&o), "a\n");

    let keep = TempDir::new("upper");
    std::fs::create_dir(keep.join("upper")).unwrap();
    std::fs::create_dir(keep.join("work")).unwrap();
    let sb = base().rootfs(root.path()).overlay_persist(
        [lower.path()],
        keep.join("upper"),
        keep.join("work"),
        "/ov",
    );
    let o = sh(&sb, "echo kept > /ov/b");
    assert!(o.outcome.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(keep.join("upper/b")).unwrap(),
        "kept\n"
    );
    assert!(!lower.join("b").exists());
    let o = sh(&sb, "cat /ov/b");
    assert_eq!(text(&o), "kept\n");
});

both!(user_ns_without_pid_ns_hides_host_proc, || {
    let sb = Sandbox::new().user_ns().mount_ns();
    let o = sh(&sb, "echo PROC=$(ls -A /proc | wc -l)");
    let t = text(&o);
    assert!(t.contains("PROC=0"), "{t}");
});

fn mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

/// What is in the host's /tmp, less the scratch directories that tests
/// (this binary's fixtures, other test binaries' `nobody` copies) make and
/// remove themselves, and the temporary files of a gcc that other work on
/// the machine runs meanwhile (`ccXXXXXX.*`): the library itself must leave
/// nothing there.
fn tmp_entries() -> std::collections::BTreeSet<String> {
    std::fs::read_dir("/tmp")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with(common::TMP_PREFIX) && !gcc_temp(n))
        .collect()
}

/// gcc's temporary names: `cc`, six random characters, then a suffix.
fn gcc_temp(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 9
        && b.starts_with(b"cc")
        && b[8] == b'.'
        && b[2..8].iter().all(u8::is_ascii_alphanumeric)
}

both!(no_leaks_after_200_spawns, || {
    let root = BusyboxRoot::new();
    let data = TempDir::new("data");
    let before = mountinfo();
    let tmp_before = tmp_entries();
    let boxes = [
        base(),
        base()
            .rootfs(root.path())
            .proc("/proc")
            .dev("/dev")
            .tmpfs("/tmp", 1 << 20)
            .bind(data.path(), "/data")
            .overlay([data.path()], "/mnt"),
    ];
    for i in 0..200 {
        let sb = &boxes[i % 2];
        let o = sb
            .output(&Command::from_argv(["/bin/sh", "-c", "echo ok > /tmp/x"]))
            .unwrap();
        assert!(o.outcome.success(), "spawn {i}: {}", text(&o));
    }
    assert_eq!(before, mountinfo(), "the host mount table changed");
    let after = tmp_entries();
    let new: Vec<_> = after.difference(&tmp_before).collect();
    assert!(new.is_empty(), "left in /tmp: {new:?}");
    assert_eq!(std::fs::read_dir(data.path()).unwrap().count(), 0);
});

#[track_caller]
fn invalid(sb: Sandbox, path: &str) {
    let e = sb.validate().expect_err("validate accepted bad input");
    assert!(
        matches!(e, Error::InvalidConfig { .. }),
        "not InvalidConfig: {e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains(path), "{msg:?} does not name {path}");
    // spawn refuses before anything runs.
    let e = sb.spawn(&Command::new("/bin/true")).unwrap_err();
    assert!(matches!(e, Error::InvalidConfig { .. }), "{e:?}");
}

both!(bad_input_is_refused_before_spawn, || {
    let root = BusyboxRoot::new();
    let file = TempDir::new("file");
    std::fs::write(file.join("f"), "x").unwrap();
    let f = file.join("f");
    let fs = f.to_str().unwrap();
    let r = || base().rootfs(root.path());
    invalid(
        r().bind("/nonexistent/rsbx-src", "/mnt"),
        "/nonexistent/rsbx-src",
    );
    invalid(r().bind(file.path(), "mnt/rel"), "mnt/rel");
    invalid(r().tmpfs("/mnt/../etc", 4096), "/mnt/../etc");
    invalid(r().tmpfs("/mnt/a", 4096).dir("/mnt/a"), "/mnt/a");
    invalid(r().bind(&f, "/mnt"), fs);
    invalid(
        base().rootfs("/nonexistent/rsbx-root"),
        "/nonexistent/rsbx-root",
    );
    invalid(base().rootfs(&f), fs);
    invalid(r().tmpfs("/tmp", 0), "/tmp");
    invalid(
        r().proc("/proc").bind(file.path(), "/proc/self/cwd"),
        "/proc/self",
    );
    invalid(r().bind(file.path(), "/proc/self"), "/proc/self");
    invalid(
        base().bind(file.path(), "/usr/rsbx-not-on-host"),
        "/usr/rsbx-not-on-host",
    );
    invalid(Sandbox::new().tmpfs("/tmp", 4096), "mount_ns");
    // /proc and /dev must be real directories, not symlinks (`/lnk -> /`).
    invalid(r().proc("/lnk"), "/lnk");
    invalid(r().dev("/lnk"), "/lnk");
    // Creating over an existing path.
    invalid(r().file("/BUSYBOX_ROOT", "x"), "/BUSYBOX_ROOT");
    invalid(r().symlink("/x", "/bin"), "/bin");
    // A file bound onto a directory.
    invalid(r().ro_bind(&f, "/bin"), "/bin");
    // A planted symlink as a bind source is refused.
    let link = file.join("link");
    std::os::unix::fs::symlink("/etc", &link).unwrap();
    invalid(r().ro_bind(&link, "/mnt"), link.to_str().unwrap());
});

both!(dir_symlink_file_mask_remount_steps, || {
    let root = BusyboxRoot::new();
    let host = TempDir::new("data");
    std::fs::create_dir(host.join("sub")).unwrap();
    std::fs::write(host.join("secret"), "secret\n").unwrap();
    std::fs::write(host.join("sub/s"), "s\n").unwrap();
    let sb = base()
        .rootfs(root.path())
        .tmpfs("/tmp", 1 << 20)
        .dir("/tmp/a/b/c")
        .symlink("a/b", "/tmp/l")
        .file("/tmp/a/f", b"data\n".to_vec())
        .bind(host.path(), "/mnt")
        .mask("/mnt/secret")
        .mask("/mnt/sub")
        .mask("/mnt/absent")
        .remount_ro("/tmp/a");
    let o = sh(
        &sb,
        "test -d /tmp/l/c && echo DIR_OK
         readlink /tmp/l
         cat /tmp/a/f
         echo SECRET=$(cat /mnt/secret | wc -c) SUB=$(ls -A /mnt/sub | wc -l)
         touch /tmp/a/x 2>&1
         touch /tmp/y && echo TMP_RW
         echo more >> /mnt/new && echo MNT_RW",
    );
    let t = text(&o);
    for want in [
        "DIR_OK\na/b\ndata\n",
        "SECRET=0 SUB=0",
        "Read-only file system",
        "TMP_RW",
        "MNT_RW",
    ] {
        assert!(t.contains(want), "missing {want:?}:\n{t}");
    }
    // The host copies are intact.
    assert_eq!(
        std::fs::read_to_string(host.join("secret")).unwrap(),
        "secret\n"
    );
    assert_eq!(std::fs::read_to_string(host.join("new")).unwrap(), "more\n");
});

both!(child_failure_names_the_path, || {
    let root = BusyboxRoot::new();
    // /BUSYBOX_ROOT is a file: nothing can be mounted under it. Only the
    // child can find out (validation does not second-guess the rootfs).
    let sb = base().rootfs(root.path()).tmpfs("/BUSYBOX_ROOT/x", 4096);
    let e = sb.spawn(&Command::new("/bin/true")).unwrap_err();
    let msg = e.to_string();
    assert_eq!(e.stage(), Some(rsandbox::Stage::Mount), "{msg}");
    assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR), "{msg}");
    assert!(msg.contains("/BUSYBOX_ROOT/x"), "{msg}");
});

#[test]
fn config_roundtrips_through_serde() {
    let sb = Sandbox::new()
        .mount_ns()
        .rootfs("/srv/root")
        .bind("/a", "/b")
        .ro_bind("/c", "/d")
        .tmpfs("/tmp", 1 << 20)
        .proc("/proc")
        .dev("/dev")
        .dir("/x")
        .symlink("x", "/y")
        .file("/z", "hi")
        .overlay(["/l1", "/l2"], "/o")
        .overlay_persist(["/l"], "/u", "/w", "/p")
        .mask("/m")
        .remount_ro("/r");
    let json = serde_json::to_string(&sb).unwrap();
    let back: Sandbox = serde_json::from_str(&json).unwrap();
    assert_eq!(sb, back);
    assert_eq!(sb.fs_config().steps.len(), 12);
    let step: rsandbox::fs::MountStep =
        serde_json::from_str(r#"{"type":"tmpfs","dst":"/t","size":4096}"#).unwrap();
    assert_eq!(step.dst(), Path::new("/t"));
    assert!(serde_json::from_str::<rsandbox::fs::MountStep>(
        r#"{"type":"tmpfs","dst":"/t","size":1,"bogus":1}"#
    )
    .is_err());
}

both!(rootfs_rw_and_cwd_in_created_dir, || {
    let root = BusyboxRoot::new();
    let sb = base()
        .rootfs_rw(root.path())
        .tmpfs("/work/t", 1 << 20)
        .cwd("/work/t");
    let o = sh(&sb, "pwd; echo x > /etc/written && echo ROOT_RW");
    let t = text(&o);
    assert!(t.contains("/work/t\nROOT_RW"), "{t}");
    // remount_ro("/") makes everything read-only, recursively.
    let o = sh(
        &sb.clone().remount_ro("/"),
        "touch /etc/x 2>&1; touch /work/t/x 2>&1",
    );
    let t = text(&o);
    assert_eq!(t.matches("Read-only file system").count(), 2, "{t}");
    assert_eq!(
        std::fs::read_to_string(root.path().join("etc/written")).unwrap(),
        "x\n"
    );
});

#[test]
fn proc_in_user_ns_needs_pid_ns() {
    let root = BusyboxRoot::new();
    invalid(
        Sandbox::new()
            .user_ns()
            .mount_ns()
            .rootfs(root.path())
            .proc("/proc"),
        "/proc",
    );
}

both!(default_view_checks_host_paths_before_spawn, || {
    let e = base()
        .spawn(&Command::new("/usr/bin/rsbx-missing-program"))
        .unwrap_err();
    assert!(matches!(e, Error::ProgramNotFound { .. }), "{e:?}");
    invalid(base().cwd("/usr/rsbx-missing-dir"), "/usr/rsbx-missing-dir");
    // A cwd under the box's own /tmp is fine: the box makes it.
    let o = sh(&base().dir("/tmp/w").cwd("/tmp/w"), "pwd");
    assert_eq!(text(&o), "/tmp/w\n");
});

both!(user_ns_with_the_callers_uid, || {
    // No uid(0): the payload keeps the caller's uid (65534 as nobody) and
    // can still write its /tmp and a tmpfs, and use /dev.
    let root = BusyboxRoot::new();
    for sb in [
        Sandbox::new().user_ns().mount_ns().pid_ns(),
        Sandbox::new()
            .user_ns()
            .mount_ns()
            .pid_ns()
            .rootfs(root.path())
            .tmpfs("/tmp", 1 << 20),
    ] {
        let o = sh(
            &sb,
            "echo x > /tmp/f && cat /tmp/f && echo hi > /dev/null && echo OK",
        );
        assert_eq!(text(&o), "x\nOK\n");
    }
});

/// `(type, source)` of the mount at `point` in a mountinfo dump.
fn type_source<'a>(info: &'a str, point: &str) -> Option<(&'a str, &'a str)> {
    info.lines().rev().find_map(|l| {
        let mut f = l.split(' ');
        if f.nth(4)? != point {
            return None;
        }
        let (_, tail) = l.split_once(" - ")?;
        let mut t = tail.split(' ');
        Some((t.next()?, t.next()?))
    })
}

both!(mounts_show_conventional_types_and_sources, || {
    let root = BusyboxRoot::new();
    let sb = base()
        .rootfs(root.path())
        .proc("/proc")
        .dev("/dev")
        .tmpfs("/t", 1 << 20)
        .mount_step(MountStep::Tmpfs {
            dst: "/dev/shm".into(),
            size: 1 << 20,
            source: Some("shm".into()),
            mode: Some(0o1777),
        })
        .mount_step(MountStep::Tmpfs {
            dst: "/u".into(),
            size: 1 << 20,
            source: Some("my-tmp".into()),
            mode: Some(0o700),
        });
    let o = sh(
        &sb,
        "cat /proc/self/mountinfo; stat -c 'MODE %a %n' /dev/shm /u /t",
    );
    let t = text(&o);
    for m in ["MODE 1777 /dev/shm", "MODE 700 /u", "MODE 755 /t"] {
        assert!(t.contains(m), "missing {m}:\n{t}");
    }
    assert_eq!(type_source(&t, "/u"), Some(("tmpfs", "my-tmp")), "{t}");
    for (point, want) in [
        ("/proc", ("proc", "proc")),
        ("/dev", ("tmpfs", "tmpfs")),
        ("/dev/pts", ("devpts", "devpts")),
        ("/dev/shm", ("tmpfs", "shm")),
        ("/t", ("tmpfs", "tmpfs")),
    ] {
        assert_eq!(type_source(&t, point), Some(want), "{point}:\n{t}");
    }
    assert!(
        !t.contains(" - proc none ") && !t.contains(" - tmpfs none "),
        "{t}"
    );
});

both!(mqueue_and_sysfs_are_fresh_filesystems, || {
    let root = BusyboxRoot::new();
    let sb = base()
        .ipc_ns()
        .net_ns()
        .rootfs(root.path())
        .proc("/proc")
        .dev("/dev")
        .tmpfs("/tmp", 1 << 20)
        .mqueue("/dev/mqueue")
        .sysfs("/sys");
    let o = sh(
        &sb,
        "cat /proc/self/mountinfo
         echo NET: $(ls /sys/class/net)
         touch /dev/mqueue/q && echo MQ_OK
         touch /sys/x 2>/dev/null || echo SYS_RO
         touch /dev/x 2>/dev/null || echo DEV_RO",
    );
    let t = text(&o);
    assert_eq!(
        type_source(&t, "/dev/mqueue"),
        Some(("mqueue", "mqueue")),
        "{t}"
    );
    assert_eq!(type_source(&t, "/sys"), Some(("sysfs", "sysfs")), "{t}");
    let sys = t.lines().find(|l| l.split(' ').nth(4) == Some("/sys"));
    assert!(sys.is_some_and(|l| l.contains(" ro,")), "{t}");
    // The box's network namespace: only its loopback.
    assert!(t.contains("NET: lo\n"), "{t}");
    for want in ["MQ_OK", "SYS_RO", "DEV_RO"] {
        assert!(t.contains(want), "missing {want}:\n{t}");
    }
});

both!(
    mqueue_sysfs_and_tmpfs_options_are_checked_before_spawn,
    || {
        let root = BusyboxRoot::new();
        let r = || base().rootfs(root.path());
        // A tmpfs source and mode are checked too.
        let named = |source: &str, mode| {
            r().mount_step(MountStep::Tmpfs {
                dst: "/mnt".into(),
                size: 4096,
                source: Some(source.into()),
                mode: Some(mode),
            })
        };
        invalid(named("a\nb", 0o755), "/mnt");
        invalid(named("", 0o755), "/mnt");
        invalid(named("x", 0o10000), "/mnt");
        if common::is_root() {
            // Without a user namespace the kernel mounts them for the caller's
            // namespaces: accepted.
            r().mqueue("/mnt").validate().unwrap();
            r().sysfs("/mnt").validate().unwrap();
            return;
        }
        invalid(r().mqueue("/mnt"), "ipc_ns()");
        invalid(r().sysfs("/mnt"), "net_ns()");
        invalid(r().ipc_ns().mqueue("/lnk"), "/lnk");
        r().ipc_ns().mqueue("/mnt").validate().unwrap();
        r().net_ns().sysfs("/mnt").validate().unwrap();
    }
);

/// A box whose root has every capability in its own user namespace: root
/// inside, host root when the caller is root, `nobody` otherwise.
fn box_root() -> Sandbox {
    Sandbox::new().user_ns().pid_ns().mount_ns().uid(0).gid(0)
}

both!(default_view_binds_cannot_be_remounted_or_unmounted, || {
    // Without and with a host bind (the slim and the full template).
    let data = TempDir::new("lockbind");
    for sb in [box_root(), box_root().ro_bind(data.path(), "/tmp/data")] {
        locked_view(&sb);
    }
});

fn locked_view(sb: &Sandbox) {
    let o = sh(
        sb,
        "test -x /usr/bin/env && echo USR_THERE
         touch /usr/rsbx-marker 2>/dev/null && echo WROTE_RO_VIEW
         touch /rsbx-marker 2>/dev/null && echo WROTE_RO_VIEW
         mount -o remount,rw,bind /usr 2>/dev/null && echo REMOUNTED_USR
         mount -o remount,rw,bind / 2>/dev/null && echo REMOUNTED_ROOT
         mount -o remount,rw,bind /dev 2>/dev/null && echo REMOUNTED_DEV
         umount /etc 2>/dev/null && echo UNMOUNTED
         umount -l /usr 2>/dev/null && echo UNMOUNTED
         umount -l /dev/null 2>/dev/null && echo UNMOUNTED
         touch /usr/rsbx-marker 2>/dev/null && echo WROTE
         touch /rsbx-marker 2>/dev/null && echo WROTE
         umount -l /proc 2>/dev/null
         c=$(cat /proc/1/comm 2>/dev/null)
         [ -n \"$c\" ] && [ \"$c\" != rsandbox-init ] && echo HOST_PROC: $c
         true",
    );
    let t = text(&o);
    assert!(t.contains("USR_THERE"), "{t}");
    assert!(!t.contains("WROTE_RO_VIEW"), "{t}");
    // Under the box's own /proc (which it may unmount) is an empty
    // directory, never the host's proc that the template keeps.
    assert!(!t.contains("HOST_PROC"), "{t}");
    assert!(!Path::new("/usr/rsbx-marker").exists());
    if common::as_nobody() {
        // Rootless, the box builds its view in its own namespaces: its root
        // (the host's `nobody`) may remount its binds, and then write
        // whatever the host's `nobody` may write.
        return;
    }
    // As root, the view comes from the template namespace: the kernel
    // locked every mount when copying it into the box's user namespace.
    assert_eq!(rsandbox::fs::template_error(), None, "no template");
    for bad in [
        "REMOUNTED_USR",
        "REMOUNTED_ROOT",
        "REMOUNTED_DEV",
        "UNMOUNTED",
        "WROTE",
    ] {
        assert!(
            !t.contains(bad),
            "{bad}:\n{t}\ntemplate: {:?}",
            rsandbox::fs::template_error()
        );
    }
}

/// The mount table of a box, without mount ids and device numbers (they
/// differ between boxes), sorted.
fn box_mounts(sb: &Sandbox) -> Vec<String> {
    let o = sh(sb, "cat /proc/self/mountinfo");
    assert!(o.outcome.success(), "{}", text(&o));
    let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.split(' ').skip(3).collect::<Vec<_>>().join(" "))
        .collect();
    v.sort();
    v
}

both!(template_view_is_the_per_box_view, || {
    // A step on /dev keeps a box off the template (it would write into the
    // template's shared /dev); a mask of a missing path mounts nothing.
    let per_box = |sb: Sandbox| sb.mask("/dev/rsbx-absent");
    // A bind source keeps the host's tree in the box's namespace (the full
    // template); without one the slim template serves.
    let data = TempDir::new("tplbind");
    std::fs::write(data.join("f"), "x").unwrap();
    let with_bind = |sb: Sandbox| sb.ro_bind(data.path(), "/tmp/data");
    let with_steps = box_root()
        .tmpfs("/tmp", 1 << 20)
        .mask("/etc/hostname")
        .remount_ro("/tmp");
    for sb in [box_root(), with_bind(box_root()), with_steps] {
        let shared = box_mounts(&sb);
        let own = box_mounts(&per_box(sb.clone()));
        assert_eq!(shared, own, "the two views differ");
        assert!(
            !shared
                .iter()
                .any(|l| l.contains("view") || l.contains("size=4k,mode=700")),
            "the template's holder shows:\n{shared:#?}"
        );
    }
    // The template really served the box as root: its root tmpfs is the
    // template's, the same in two boxes alive at once (read-only, locked);
    // a per-box view has a root of its own.
    let sb = box_root();
    let same_root = |sb: &Sandbox| {
        let sleep = Command::from_argv(["/bin/sleep", "30"]);
        let mut a = sb.spawn(&sleep).unwrap();
        let mut b = sb.spawn(&sleep).unwrap();
        let dev = |pid: i32| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(format!("/proc/{pid}/root/"))
                .unwrap()
                .dev()
        };
        let same = dev(a.pid()) == dev(b.pid());
        a.kill().unwrap();
        b.kill().unwrap();
        a.wait().unwrap();
        b.wait().unwrap();
        same
    };
    assert_eq!(
        same_root(&sb),
        !common::as_nobody(),
        "template as root only"
    );
    let bound = with_bind(sb.clone());
    assert_eq!(same_root(&bound), !common::as_nobody(), "full template");
    assert!(!same_root(&per_box(sb)));
    let o = sh(&bound, "cat /tmp/data/f");
    assert_eq!(text(&o), "x", "the bind in a templated box");
});

/// As root, the template follows the caller's mount namespace: a mount made
/// after it was built shows in the next box. Runs on a thread in a private
/// mount namespace, so the host is not touched.
#[test]
fn template_follows_mount_changes() {
    if !common::is_root() {
        eprintln!("the template serves root callers only: nothing to check");
        return;
    }
    // A host directory the default view shows (under /tmp the box has its
    // own tmpfs); the mount on it stays in this test's namespace.
    let d = ["/mnt", "/media", "/srv", "/opt"]
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.is_dir())
        .expect("a host directory to mount on");
    std::thread::spawn(move || {
        // SAFETY: unshare and mount with valid C strings; they affect only
        // this thread's new, private mount namespace.
        unsafe {
            assert_eq!(libc::unshare(libc::CLONE_NEWNS | libc::CLONE_FS), 0);
            assert_eq!(
                libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ),
                0
            );
        }
        let sb = box_root();
        let script = format!("ls -A {}", d.display());
        let before = text(&sh(&sb, &script));
        assert!(!before.contains("marker"), "{before}");
        let c = std::ffi::CString::new(d.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: as above; the tmpfs lands in this thread's namespace.
        let r = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                c.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
        std::fs::write(d.join("marker"), "x").unwrap();
        let after = text(&sh(&sb, &script));
        assert!(after.contains("marker"), "stale template: {after}");
        // SAFETY: unmount what this thread mounted, in its own namespace.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        let gone = text(&sh(&sb, &script));
        assert!(!gone.contains("marker"), "stale template: {gone}");
        assert!(rsandbox::fs::template_error().is_none());
    })
    .join()
    .unwrap();
}
