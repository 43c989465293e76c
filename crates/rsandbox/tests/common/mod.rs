//! Helpers shared by the integration tests.
//!
//! Every isolation scenario runs twice: as the caller (root in CI) and as the
//! unprivileged user `nobody`. The `nobody` run re-executes this test binary
//! under `setpriv`, from a copy in a fresh 0755 temp dir, because `nobody`
//! cannot be assumed to read the checkout.
#![allow(dead_code)]

mod guard;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command as StdCommand;

/// uid of the unprivileged user the tests switch to.
pub const NOBODY: u32 = 65534;

/// True when running as root.
pub fn is_root() -> bool {
    // SAFETY: trivial getter.
    unsafe { libc::geteuid() == 0 }
}

/// A fresh directory under /tmp, mode 0755, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let mut tmpl = format!("/tmp/rsandbox-{tag}-XXXXXX\0").into_bytes();
        // SAFETY: tmpl is a NUL-terminated writable template.
        let p = unsafe { libc::mkdtemp(tmpl.as_mut_ptr().cast()) };
        assert!(!p.is_null(), "mkdtemp: {}", std::io::Error::last_os_error());
        tmpl.pop();
        let path = PathBuf::from(String::from_utf8(tmpl).unwrap());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(path)
    }
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Re-run test `name` (an exact test path such as `isolation::caller`) of
/// this binary as `nobody`; panics with its output unless it passed.
pub fn rerun_as_nobody(name: &str) {
    if !is_root() {
        // Already unprivileged: the `caller` variant covers this user.
        eprintln!("not root: the caller variant already runs unprivileged");
        return;
    }
    let dir = TempDir::new("nobody");
    let exe = std::env::current_exe().unwrap();
    let copy = dir.path().join("test-bin");
    std::fs::copy(&exe, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Another test thread may fork while the copy's write fd is open, so
    // the exec can briefly fail with ETXTBSY: retry.
    let mut tries = 0;
    let out = loop {
        let out = StdCommand::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
            ])
            .arg(&copy)
            .args(["--exact", name, "--nocapture", "--test-threads=1"])
            .env("RSANDBOX_TEST_AS_NOBODY", "1")
            .current_dir("/tmp")
            .output()
            .expect("setpriv runs");
        tries += 1;
        if tries < 100 && String::from_utf8_lossy(&out.stderr).contains("Text file busy") {
            std::thread::sleep(std::time::Duration::from_millis(20));
            continue;
        }
        break out;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name} as nobody failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("1 passed"),
        "{name} as nobody did not run exactly one test:\n{stdout}"
    );
}

/// Define a scenario run as the caller and again as `nobody`.
#[macro_export]
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn caller() {
                let f: fn() = $body;
                f()
            }
            #[test]
            fn nobody() {
                $crate::common::rerun_as_nobody(concat!(stringify!($name), "::caller"));
            }
        }
    };
}

/// Number of open fds of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// pidfds of every descendant of `pid` (host pids), found via
/// /proc/<pid>/task/*/children, so their death can be checked later without
/// pid-reuse races.
pub fn descendants(pid: i32) -> Vec<(i32, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut out = Vec::new();
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let kids = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            for k in kids.split_whitespace() {
                let k: i32 = k.parse().unwrap();
                // SAFETY: pidfd_open with integer arguments.
                let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, k, 0) };
                if fd >= 0 {
                    // SAFETY: fresh fd we own.
                    out.push((k, unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) }));
                }
                stack.push(k);
            }
        }
    }
    out
}

/// Wait (bounded, so a bug cannot hang the suite) until every pidfd reports
/// that its process exited; panics naming the survivors.
pub fn assert_all_dead(pids: &[(i32, std::os::fd::OwnedFd)]) {
    use std::os::fd::AsRawFd;
    for (pid, fd) in pids {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, 10_000) };
        assert_eq!(r, 1, "process {pid} of the sandbox tree is still alive");
    }
}

/// Output of a payload as a String.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
