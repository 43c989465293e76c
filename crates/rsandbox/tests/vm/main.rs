//! Older kernels: what the running kernel lacks is refused with a clear
//! error before spawn in strict mode, reported in best-effort mode, and
//! reported by `features::probe()` (`rsandbox check`).
//!
//! These run everywhere: on a new kernel (this host: 6.18, Landlock ABI 7)
//! they check that the features work; on Debian's 6.1 in the VM
//! (`scripts/test-vm.sh`, Landlock ABI 2, no overlay `lowerdir+`) they check
//! the refusals. Each test prints which branch it took. Payloads are
//! `/bin/sh` (busybox in the VM) only. Run as root and as nobody.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use rsandbox::{features, Command, Enforcement, Error, Sandbox, Stdio};

fn sh(script: &str) -> Command {
    Command::from_argv(["/bin/sh", "-c", script])
}

/// A fresh 0755 directory under /tmp, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        // SAFETY: trivial getter.
        let uid = unsafe { libc::geteuid() };
        let d = PathBuf::from(format!(
            "/tmp/rsbx-vm-{tag}-{uid}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        Dir(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Strict mode with Landlock filesystem rules: ABI ≥ 3 enforces them in
/// full; an older ABI is refused before spawn naming both ABIs, and
/// `best_effort(true)` runs with the rules the kernel has (reads and writes
/// outside the rules still denied), reported as partial.
#[test]
fn landlock_filesystem_rules_on_this_abi() {
    let abi = features::probe().landlock_abi;
    let dir = Dir::new("landlock");
    let secret = dir.0.join("secret");
    std::fs::write(&secret, "canary").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut sb = Sandbox::strict()
        .bind(&dir.0, &dir.0)
        .landlock_exec("/usr")
        .landlock_exec("/bin")
        .stdin(Stdio::Null);
    if std::path::Path::new("/etc/ld.so.cache").exists() {
        sb = sb.landlock_read("/etc/ld.so.cache"); // not in the VM's initramfs
    }
    let script = format!(
        "cat {} && echo READ; echo x > {}/new && echo WROTE; exit 0",
        secret.display(),
        dir.0.display()
    );
    if abi == 0 {
        eprintln!(
            "no Landlock on this kernel: landlock_filesystem_rules_on_this_abi not applicable"
        );
        let e = sb.output(&sh(&script)).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
        return;
    }
    if abi >= 3 {
        eprintln!("Landlock ABI {abi}: strict filesystem rules enforced in full");
        let out = sb.output(&sh(&script)).unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.outcome.success(), "{out:?}");
        assert!(!text.contains("READ") && !text.contains("WROTE"), "{text}");
        let r = sb.enforcement_report().unwrap();
        assert_eq!(r.layer("landlock").unwrap().enforcement, Enforcement::Full);
        return;
    }
    eprintln!("Landlock ABI {abi}: strict filesystem rules refused, best effort partial");
    let e = sb.output(&sh(&script)).unwrap_err();
    let Error::Unsupported {
        ref feature,
        ref detail,
    } = e
    else {
        panic!("expected Error::Unsupported, got {e:?}");
    };
    assert!(feature.contains("Landlock ABI 3"), "{e}");
    assert!(detail.contains(&format!("ABI {abi}")), "{e}");
    assert!(detail.contains("best_effort"), "{e}");

    let sb = sb.best_effort(true);
    let r = sb.enforcement_report().unwrap();
    let ll = r.layer("landlock").unwrap();
    assert_eq!(ll.enforcement, Enforcement::Partial, "{r}");
    assert!(ll.applied.contains("truncate not covered"), "{r}");
    assert!(!r.fully_enforced(), "{r}");
    let out = sb.output(&sh(&script)).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.outcome.success(), "{out:?}");
    assert!(!text.contains("READ") && !text.contains("WROTE"), "{text}");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "canary");
    assert!(!dir.0.join("new").exists());
}

/// Overlays take their layers as fds (`lowerdir+`, Linux 6.8): an older
/// kernel gets `Error::Unsupported` before spawn, not a failure in the child.
#[test]
fn overlay_on_this_kernel() {
    let lower = Dir::new("lower");
    std::fs::write(lower.0.join("a"), "lower\n").unwrap();
    let sb = Sandbox::new()
        .user_ns()
        .mount_ns()
        .pid_ns()
        .overlay([&lower.0], "/ov")
        .stdin(Stdio::Null);
    let r = sb.output(&sh("cat /ov/a"));
    if features::overlay_fd_layers() {
        eprintln!("overlay with fd layers supported: the fs tests cover it");
        let out = r.unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "lower\n", "{out:?}");
        return;
    }
    eprintln!(
        "kernel {}: overlay refused before spawn",
        features::probe().kernel
    );
    let e = r.unwrap_err();
    let Error::Unsupported { ref feature, .. } = e else {
        panic!("expected Error::Unsupported, got {e:?}");
    };
    assert!(feature.contains("lowerdir+"), "{e}");
    assert!(e.to_string().contains("/ov"), "{e}");
}

/// `rsandbox check`'s data agrees with what the library does.
#[test]
fn features_report_this_kernel() {
    let f = features::probe();
    eprintln!(
        "kernel {}: landlock ABI {}, overlay fd layers {}, cgroup layout {}",
        f.kernel, f.landlock_abi, f.overlay_fd_layers, f.cgroup_layout
    );
    assert!(!f.kernel.is_empty());
    assert!(f.clone3 && f.pidfd && f.seccomp && f.mount_setattr, "{f:?}");
    assert_eq!(f.overlay_fd_layers, features::overlay_fd_layers());
    if std::env::var_os("RSBX_VM").is_some() {
        // The VM boots Debian 12's kernel with cgroup_no_v1=all.
        assert!(f.kernel.starts_with("6.1."), "{f:?}");
        assert_eq!(f.cgroup_layout, "v2");
        assert_eq!(f.landlock_abi, 2);
        assert!(!f.overlay_fd_layers);
    }
}

/// Where user namespaces are off (`user.max_user_namespaces=0`, set inside
/// the VM only, by the `vm:*+nouserns` runs of `scripts/test-vm.sh`), a
/// best-effort strict box runs with what remains and its report names each
/// namespace lost with the sysctl; a strict box fails naming it and the
/// fix. Root keeps the other namespaces (it may create them without a user
/// namespace) and runs the payload as host uid 65534; nobody loses them
/// all, the filesystem view with them. Elsewhere the same box has every
/// namespace.
#[test]
fn user_namespaces_off_degrade_honestly() {
    let off = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .is_ok_and(|v| v.trim() == "0");
    // SAFETY: trivial getter.
    let root = unsafe { libc::geteuid() } == 0;
    let probe = sh("cat /proc/self/status; echo pid=$$");
    let out = Sandbox::strict()
        .best_effort(true)
        .output(&probe)
        .expect("a best-effort box runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.outcome.success(), "{text}");
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
            .unwrap_or_else(|| panic!("no {k} in {text}"))
    };
    let report = &out.outcome.enforcement;
    let ns = |n: &str| report.layer(&format!("namespace:{n}")).unwrap().clone();
    let others = ["pid", "mnt", "uts", "ipc", "net", "cgroup"];
    assert_eq!(field("Seccomp:"), "2", "{text}");
    assert_eq!(field("NoNewPrivs:"), "1", "{text}");
    assert_eq!(field("CapEff:"), "0000000000000000", "{text}");
    if !off {
        eprintln!("branch: user namespaces allowed: every namespace made");
        assert!(features::probe().user_namespaces_error.is_none());
        for n in ["user"].iter().chain(&others) {
            assert_eq!(ns(n).enforcement, Enforcement::Full, "{report}");
        }
        return;
    }
    eprintln!("branch: user.max_user_namespaces=0 (root: {root})");
    let f = features::probe();
    assert!(!f.user_namespaces, "{f:?}");
    let why = f.user_namespaces_error.unwrap_or_default();
    assert!(why.contains("user.max_user_namespaces=0"), "{why}");
    let user = ns("user");
    assert_eq!(user.enforcement, Enforcement::NotEnforced, "{report}");
    assert_eq!(
        user.applied,
        "none: user namespaces refused (ENOSPC): user.max_user_namespaces=0"
    );
    for n in others {
        let want = if root {
            Enforcement::Full
        } else {
            Enforcement::NotEnforced
        };
        assert_eq!(ns(n).enforcement, want, "{n}: {report}");
    }
    if root {
        // Its own PID namespace (under the init), host uid nobody.
        assert_eq!(field("pid="), "2", "{text}");
        assert_eq!(field("Uid:"), "65534", "{text}");
        let id = report.layer("identity").unwrap();
        assert_eq!(id.enforcement, Enforcement::Partial, "{report}");
        assert!(id.applied.starts_with("host uid 65534"), "{report}");
    } else {
        assert_eq!(field("Uid:"), "65534", "{text}");
        let fs = report.layer("filesystem").expect("filesystem lost");
        assert_eq!(fs.enforcement, Enforcement::NotEnforced, "{report}");
    }
    for kept in ["seccomp", "no_new_privs"] {
        let l = report.layer(kept).unwrap();
        assert_eq!(l.enforcement, Enforcement::Full, "{report}");
    }
    let strict = Sandbox::strict()
        .stdout(Stdio::Null)
        .status(&probe)
        .expect_err("a strict box is refused");
    let Error::Privilege { .. } = strict else {
        panic!("expected Error::Privilege, got {strict:?}");
    };
    let msg = strict.to_string();
    assert!(
        msg.contains("user namespaces refused (ENOSPC): user.max_user_namespaces=0. Fix:")
            && msg.contains("best_effort(true)"),
        "{msg}"
    );
}
