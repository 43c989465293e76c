//! One container's life through an OCI runtime's command line, as an
//! engine drives it (podman's recorded sequence, through conmon):
//! `create --bundle B --pid-file P ID`, `start ID`, wait for the
//! container's process to exit, `delete --force ID`. Shared by the `oci`
//! bench and the `oci_steps` example.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static CONTAINER: AtomicU64 = AtomicU64::new(0);

/// The rsandbox-oci binary next to this bench's (`target/release`), or
/// `RSANDBOX_OCI`. `cargo bench` runs a bench in its package's directory,
/// so a relative path that is not there is taken from the workspace's
/// root, where the command was most likely typed.
pub fn rsandbox_oci() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RSANDBOX_OCI") {
        let p = PathBuf::from(p);
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(&p);
        if p.is_relative() && !p.exists() && root.exists() {
            return Some(root);
        }
        return Some(p);
    }
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.parent()?.join("rsandbox-oci");
    p.is_file().then_some(p)
}

/// The binary of runtime `rt` ("rsandbox-oci", "crun", "runc"): ours from
/// [`rsandbox_oci`], the peers from `PATH`.
pub fn runtime_bin(rt: &str) -> Option<PathBuf> {
    if rt == "rsandbox-oci" {
        rsandbox_oci()
    } else {
        crate::which(rt)
    }
}

/// Scratch files of one runtime's runs: the pid file and its stderr log.
pub struct Scratch {
    pid_file: PathBuf,
    log: PathBuf,
}

impl Scratch {
    pub fn new(rt: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("rsbx-oci-bench-{rt}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch {
            pid_file: dir.join("pid"),
            log: dir.join("stderr"),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(d) = self.pid_file.parent() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Run one runtime command with stdio away from any pipe (the container
/// inherits `create`'s: a pipe would keep a reader waiting on it).
fn rt_cmd(bin: &Path, args: &[&std::ffi::OsStr], s: &Scratch) -> Result<(), String> {
    let log = File::create(&s.log).map_err(|e| format!("stderr log: {e}"))?;
    let st = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .status()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    if st.success() {
        return Ok(());
    }
    let err = std::fs::read_to_string(&s.log).unwrap_or_default();
    Err(format!("{} {args:?}: {st}: {}", bin.display(), err.trim()))
}

/// Wait for the container's process to exit and reap it, as conmon does:
/// this process is a child subreaper (see [`oci`]), so the process the
/// runtime left behind is its child once `create` has returned. Other
/// orphans a runtime leaves are reaped too.
fn wait_exit(pid: i32) -> Result<(), String> {
    let mut status = 0;
    // SAFETY: waitpid on a pid with a valid status pointer.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        return Err(format!(
            "waitpid {pid}: {} (not reparented to this subreaper?)",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: as above, non-blocking, any child.
    while unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } > 0 {}
    Ok(())
}

/// How long each step of one container's life took.
#[derive(Debug, Clone, Copy, Default)]
pub struct Steps {
    pub create: Duration,
    pub start: Duration,
    pub wait: Duration,
    pub delete: Duration,
}

/// create, start, wait, delete --force: one container's life, as `rt`
/// (`bin`) runs `bundle`.
pub fn lifecycle(bin: &Path, bundle: &Path, rt: &str, s: &Scratch) -> Result<Steps, String> {
    let id = format!(
        "rsbx-oci-bench-{rt}-{}-{}",
        std::process::id(),
        CONTAINER.fetch_add(1, Ordering::Relaxed)
    );
    let _ = std::fs::remove_file(&s.pid_file);
    let t0 = Instant::now();
    rt_cmd(
        bin,
        &[
            "create".as_ref(),
            "--bundle".as_ref(),
            bundle.as_os_str(),
            "--pid-file".as_ref(),
            s.pid_file.as_os_str(),
            id.as_ref(),
        ],
        s,
    )?;
    let t1 = Instant::now();
    let pid: i32 = std::fs::read_to_string(&s.pid_file)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| format!("{rt} create wrote no pid file"))?;
    let started = rt_cmd(bin, &["start".as_ref(), id.as_ref()], s);
    let t2 = Instant::now();
    let exited = started.and_then(|_| wait_exit(pid));
    let t3 = Instant::now();
    let deleted = rt_cmd(
        bin,
        &["delete".as_ref(), "--force".as_ref(), id.as_ref()],
        s,
    );
    let t4 = Instant::now();
    exited.and(deleted)?;
    Ok(Steps {
        create: t1 - t0,
        start: t2 - t1,
        wait: t3 - t2,
        delete: t4 - t3,
    })
}

/// Make this process a child subreaper, like conmon: the container's
/// process, orphaned when `create` exits, becomes its child and is reaped
/// as soon as it exits (a lazy init would leave it a zombie, and its
/// cgroup busy).
pub fn become_subreaper() -> Result<(), String> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(format!(
            "prctl(PR_SET_CHILD_SUBREAPER): {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}
