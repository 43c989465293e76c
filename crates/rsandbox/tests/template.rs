//! Templates: boxes forked from a payload at its ready point
//! (`Sandbox::template`, `Template::fork`, `serve_forks`). The template
//! payload is this test binary itself, re-run with `ROLE` set; it enters
//! `serve_forks` after setting some state, and each fork runs one step,
//! chosen by the fork's argument, and exits.

mod common;

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rsandbox::seccomp::{Action, ArgCmp, SeccompPolicy};
use rsandbox::template::{ForkedBox, Template};
use rsandbox::{Command, Error, Sandbox};

const ROLE: &str = "RSANDBOX_TEST_TEMPLATE_ROLE";

/// State the template sets before its ready point; forks read and write it.
static STATE: AtomicU64 = AtomicU64::new(0);

/// Step: print pid, ppid and STATE, then overwrite STATE and print it again.
const STEP_STATE: u64 = 1;
/// Step: exit 7.
const STEP_EXIT7: u64 = 2;
/// Step: socket(AF_UNIX), which the seccomp test's policy kills.
const STEP_UNIX_SOCKET: u64 = 3;
/// Step: read /etc/hostname, print "read ok" or the errno.
const STEP_READ_ETC: u64 = 4;
/// Step: sleep a minute (to be killed).
const STEP_SLEEP: u64 = 5;

/// Not a test of its own: the entry point of the template payload when this
/// binary runs inside a box with `ROLE` set; a no-op otherwise.
#[test]
fn template_payload() {
    match std::env::var(ROLE).as_deref() {
        Ok("serve") => serve(),
        Ok("never") => std::thread::sleep(Duration::from_secs(60)),
        Ok("exit") => std::process::exit(3),
        _ => {}
    }
}

fn serve() {
    STATE.store(42, Ordering::SeqCst);
    let arg = rsandbox::template::serve_forks().expect("serve_forks");
    // In the fork from here on.
    let code = match arg {
        STEP_STATE => {
            // SAFETY: plain getters.
            let (pid, ppid) = unsafe { (libc::getpid(), libc::getppid()) };
            let before = STATE.swap(99, Ordering::SeqCst);
            let after = STATE.load(Ordering::SeqCst);
            say(format_args!(
                "pid {pid} ppid {ppid} state {before} {after}\n"
            ));
            0
        }
        STEP_EXIT7 => 7,
        STEP_UNIX_SOCKET => {
            // SAFETY: plain syscall.
            let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) };
            say(format_args!("socket {fd}\n"));
            0
        }
        STEP_READ_ETC => {
            // SAFETY: open with a NUL-terminated literal path.
            let fd = unsafe { libc::open(c"/etc/hostname".as_ptr(), libc::O_RDONLY) };
            if fd >= 0 {
                say(format_args!("read ok\n"));
            } else {
                say(format_args!(
                    "read errno {}\n",
                    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
                ));
            }
            0
        }
        STEP_SLEEP => {
            std::thread::sleep(Duration::from_secs(60));
            0
        }
        _ => 100,
    };
    // SAFETY: ends the fork without running the test harness's exit path.
    unsafe { libc::_exit(code) }
}

/// Write to fd 1 without allocating: this binary's guard allocator aborts
/// in any process but the first (the fork is a second one).
fn say(args: std::fmt::Arguments) {
    struct Buf([u8; 256], usize);
    impl std::fmt::Write for Buf {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            let end = (self.1 + s.len()).min(self.0.len());
            self.0[self.1..end].copy_from_slice(&s.as_bytes()[..end - self.1]);
            self.1 = end;
            Ok(())
        }
    }
    let mut b = Buf([0; 256], 0);
    let _ = std::fmt::Write::write_fmt(&mut b, args);
    // SAFETY: writes a live buffer to fd 1.
    unsafe { libc::write(1, b.0.as_ptr().cast(), b.1) };
}

fn payload(role: &str) -> (Sandbox, Command) {
    let exe = std::env::current_exe().unwrap();
    let cmd = Command::new(exe).args([
        "--exact",
        "template_payload",
        "--nocapture",
        "--test-threads=1",
    ]);
    (Sandbox::new().env(ROLE, role), cmd)
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds is a live [c_int; 2].
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: two fresh fds we own.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Fork with stdout captured; wait; the exit status and the output.
fn fork_output(t: &Template, arg: u64) -> (std::process::ExitStatus, String) {
    let (r, w) = pipe();
    let null = std::fs::File::open("/dev/null").unwrap();
    let mut f = t
        .fork_with_stdio(arg, null.as_fd(), w.as_fd(), std::io::stderr().as_fd())
        .unwrap();
    drop(w);
    let mut out = String::new();
    std::fs::File::from(r).read_to_string(&mut out).unwrap();
    (f.wait().unwrap(), out)
}

/// Whether the process behind `pidfd` ends within 10 s.
fn ends(pidfd: &OwnedFd) -> bool {
    let mut p = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live pollfd.
    unsafe { libc::poll(&mut p, 1, 10_000) == 1 }
}

fn pidfd(pid: i32) -> OwnedFd {
    let fd = rsandbox::sys::pidfd_open(pid).unwrap();
    // SAFETY: a fresh pidfd we own.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

both!(fork_has_its_own_pid_status_stdio_and_memory, || {
    let (sb, cmd) = payload("serve");
    let t = sb.template(&cmd).unwrap();
    let (st, out) = fork_output(&t, STEP_STATE);
    assert!(st.success(), "{st:?} {out}");
    let w: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(w[0], "pid");
    assert_ne!(w[1], t.pid().to_string(), "a fork is a new process: {out}");
    assert_eq!(
        w[3],
        t.pid().to_string(),
        "the template is the fork's parent: {out}"
    );
    // The template's state at its ready point, then the fork's own write.
    assert_eq!(&w[5..7], ["42", "99"], "{out}");
    // A sibling still sees the template's 42: the write was copy-on-write.
    let (_, out2) = fork_output(&t, STEP_STATE);
    assert!(out2.ends_with("state 42 99\n"), "{out2}");
    let (st, _) = fork_output(&t, STEP_EXIT7);
    assert_eq!(st.code(), Some(7));
});

both!(seccomp_of_the_description_applies_in_forks, || {
    let policy = SeccompPolicy::new(Action::Allow).rule_if(
        "socket",
        Action::KillProcess,
        [ArgCmp::eq(0, libc::AF_UNIX as u64).low32()],
    );
    let (sb, cmd) = payload("serve");
    let t = sb.seccomp(policy).template(&cmd).unwrap();
    let (st, out) = fork_output(&t, STEP_UNIX_SOCKET);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(st.signal(), Some(libc::SIGSYS), "{st:?} {out}");
    // The template itself lives on and forks again.
    let (st, _) = fork_output(&t, STEP_EXIT7);
    assert_eq!(st.code(), Some(7));
});

both!(landlock_of_the_description_applies_in_forks, || {
    let exe = std::env::current_exe().unwrap();
    let (sb, cmd) = payload("serve");
    let sb = sb
        .landlock_exec("/usr")
        .landlock_exec("/lib")
        .landlock_exec("/lib64")
        .landlock_read("/etc/ld.so.cache")
        .landlock_read("/dev/null")
        .landlock_exec(exe.parent().unwrap());
    let t = sb.template(&cmd).unwrap();
    let (st, out) = fork_output(&t, STEP_READ_ETC);
    assert!(st.success(), "{st:?} {out}");
    assert_eq!(out, format!("read errno {}\n", libc::EACCES));
});

both!(a_template_that_never_serves_times_out, || {
    let (sb, cmd) = payload("never");
    match sb.template_timeout(&cmd, Duration::from_millis(500)) {
        Err(Error::Io { source, .. }) => assert_eq!(source.kind(), std::io::ErrorKind::TimedOut),
        other => panic!("expected a timeout, got {:?}", other.map(|t| t.pid())),
    }
});

both!(a_template_that_exits_first_is_an_error, || {
    let (sb, cmd) = payload("exit");
    match sb.template(&cmd) {
        Err(Error::Io { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::UnexpectedEof)
        }
        other => panic!("expected UnexpectedEof, got {:?}", other.map(|t| t.pid())),
    }
});

both!(drop_kills_forks_and_the_template, || {
    let (sb, cmd) = payload("serve");
    let t = sb.template(&cmd).unwrap();
    let template = pidfd(t.pid());
    // A killed fork reports SIGKILL as its own status.
    let mut f = t.fork(STEP_SLEEP).unwrap();
    f.kill().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(f.wait().unwrap().signal(), Some(libc::SIGKILL));
    drop(f);
    // Dropping an unwaited fork kills it.
    let f: ForkedBox = t.fork(STEP_SLEEP).unwrap();
    let fork = pidfd(f.pid());
    drop(f);
    assert!(ends(&fork), "a dropped fork was left running");
    // A fork outliving the Template handle keeps the template; dropping
    // both ends every process.
    let f = t.fork(STEP_SLEEP).unwrap();
    let fork = pidfd(f.pid());
    drop(t);
    assert!(
        !ends_now(&template),
        "the template ended while a fork was held"
    );
    drop(f);
    assert!(ends(&fork), "the fork was left running");
    assert!(ends(&template), "the template was left running");
});

fn ends_now(pidfd: &OwnedFd) -> bool {
    let mut p = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live pollfd.
    unsafe { libc::poll(&mut p, 1, 0) == 1 }
}
