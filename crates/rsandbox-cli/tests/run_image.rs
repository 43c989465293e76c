//! `rsandbox run --image DIR[:TAG]`, on a layout built with umoci, as root
//! and as `nobody` (with a cache directory it owns).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Tmp(PathBuf);
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tmp(tag: &str) -> Tmp {
    let p = std::env::temp_dir().join(format!("rsandbox-cli-image-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir(&p).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    Tmp(p)
}

fn umoci(dir: &Path, args: &[&str]) {
    let out = Command::new("umoci").current_dir(dir).args(args).output();
    let out = out.expect("umoci (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "umoci {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A layout at `<dir>/L` tagged `v1`: busybox, /etc/hello, Env, WorkingDir, Cmd.
fn layout(dir: &Path) {
    umoci(dir, &["init", "--layout", "L"]);
    umoci(dir, &["new", "--image", "L:v1"]);
    umoci(dir, &["unpack", "--rootless", "--image", "L:v1", "B"]);
    let root = dir.join("B/rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::copy("/usr/bin/busybox", root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    std::fs::write(root.join("etc/hello"), "from-image\n").unwrap();
    umoci(dir, &["repack", "--image", "L:v1", "B"]);
    umoci(
        dir,
        &[
            "config",
            "--image",
            "L:v1",
            "--config.env",
            "GREETING=cli",
            "--config.workingdir",
            "/etc",
            "--config.cmd",
            "/bin/sh",
            "--config.cmd",
            "-c",
            "--config.cmd",
            "echo $GREETING; pwd",
        ],
    );
    // Readable by nobody too.
    Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(dir.join("L"))
        .status()
        .unwrap();
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Run the CLI (as nobody with `as_nobody`, from a copy it can read).
fn rsandbox(dir: &Path, as_nobody: bool, args: &[&str]) -> Output {
    rsandbox_env(dir, as_nobody, None, args)
}

/// [`rsandbox`] with one more environment variable.
fn rsandbox_env(dir: &Path, as_nobody: bool, env: Option<(&str, &str)>, args: &[&str]) -> Output {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_rsandbox"));
    let mut c = if as_nobody {
        let copy = dir.join("rsandbox");
        if !copy.exists() {
            std::fs::copy(&exe, &copy).unwrap();
        }
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(copy);
        c
    } else {
        Command::new(exe)
    };
    if let Some((k, v)) = env {
        c.env(k, v);
    }
    c.current_dir("/").args(args).output().unwrap()
}

fn scenario(as_nobody: bool) {
    let t = tmp(if as_nobody { "nobody" } else { "caller" });
    layout(&t.0);
    let cache = t.0.join("cache");
    std::fs::create_dir(&cache).unwrap();
    if as_nobody {
        std::os::unix::fs::chown(&cache, Some(65534), Some(65534)).unwrap();
    }
    let img = format!("{}:v1", t.0.join("L").display());
    let cache = cache.to_str().unwrap();
    let o = rsandbox(
        &t.0,
        as_nobody,
        &["run", "--image", &img, "--image-cache", cache],
    );
    assert_eq!(text(&o.stdout), "cli\n/etc\n", "{}", text(&o.stderr));
    assert!(o.status.success());
    let script = "echo $GREETING; cat /etc/hello; test -e /etc/debian_version && echo host; true";
    let o = rsandbox(
        &t.0,
        as_nobody,
        &[
            "run",
            "--image",
            &img,
            "--image-cache",
            cache,
            "--env",
            "GREETING=over",
            "--",
            "/bin/sh",
            "-c",
            script,
        ],
    );
    assert_eq!(text(&o.stdout), "over\nfrom-image\n", "{}", text(&o.stderr));
    // Overlay refused (forced): the box runs in a private copy, writable,
    // and the report (--json) says so; the next box does not see the write.
    let write = "echo x > /etc/hello; cat /etc/hello";
    let forced = Some(("RSANDBOX_IMAGE_NO_OVERLAY", "1"));
    let run = |env, script: &str| {
        let args = [
            "run",
            "--json",
            "--image",
            &img,
            "--image-cache",
            cache,
            "--",
            "/bin/sh",
            "-c",
            script,
        ];
        rsandbox_env(&t.0, as_nobody, env, &args)
    };
    let o = run(forced, write);
    let out = text(&o.stdout);
    assert!(out.starts_with("x\n"), "{out}{}", text(&o.stderr));
    assert!(
        out.contains("filesystem:image")
            && out.contains("private writable copy")
            && out.contains("RSANDBOX_IMAGE_NO_OVERLAY is set"),
        "{out}"
    );
    let o = run(forced, "cat /etc/hello");
    assert!(
        text(&o.stdout).starts_with("from-image\n"),
        "{}",
        text(&o.stdout)
    );
    let o = run(None, "cat /etc/hello");
    let out = text(&o.stdout);
    assert!(out.starts_with("from-image\n"), "{out}");
    if rsandbox::features::probe().overlay_fd_layers {
        assert!(out.contains("read-only as overlay lower"), "{out}");
    } else {
        assert!(out.contains("overlay unavailable: this kernel"), "{out}");
    }
    // A tag that is not in the index: a clear error, nothing run.
    let bad = format!("{}:v2", t.0.join("L").display());
    let o = rsandbox(
        &t.0,
        as_nobody,
        &["run", "--image", &bad, "--image-cache", cache],
    );
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("no manifest named \"v2\""),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn run_image_as_caller() {
    scenario(false);
}

#[test]
fn run_image_as_nobody() {
    // SAFETY: trivial getter.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: run_image_as_caller already runs unprivileged");
        return;
    }
    scenario(true);
}
