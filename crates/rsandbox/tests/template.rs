//! Templates: boxes forked from a payload at its ready point
//! (`Sandbox::template`, `Template::fork`, `serve_forks`). The template
//! payload is this test binary itself, re-run with `ROLE` set; it enters
//! `serve_forks` after setting some state, and each fork runs one step,
//! chosen by the fork's argument, and exits.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rsandbox::seccomp::{Action, ArgCmp, SeccompPolicy};
use rsandbox::template::{ForkedBox, Template, TemplateOptions};
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
/// Step (namespaced forks): print what the fork sees of itself (see
/// `whoami`), then wait for stdin to close.
const STEP_WHOAMI: u64 = 6;
/// Step (namespaced forks): try to reach the pid in the argument's high
/// bits (`kill`, `ptrace`) and to rename the host; print the errnos.
const STEP_PROBE: u64 = 7;
/// Step: make namespaces with the fork's own clone flags; print the result.
const STEP_CLONE_NS: u64 = 8;

/// Step: touch 256 MiB of fresh anonymous memory; print "survived" if
/// nothing stopped it.
const STEP_HOG: u64 = 9;
/// Step: print /proc/self/cgroup.
const STEP_CGROUP: u64 = 10;

/// Step: the split fork's clone and unshare; print both results.
const STEP_UNSHARE: u64 = 11;

/// Step: count the open fds that are Landlock rulesets (a payload holding
/// one could add rules that later forks would get); print the count.
const STEP_RULESETS: u64 = 12;

/// Step (namespaced forks): print what the fork sees of its /proc (see
/// `proc_view`).
const STEP_PROC: u64 = 13;

/// Docker's masked /proc entries, as `rsandbox::fs` masks them.
const PROC_MASKED: [&std::ffi::CStr; 10] = [
    c"/proc/acpi",
    c"/proc/asound",
    c"/proc/interrupts",
    c"/proc/kcore",
    c"/proc/keys",
    c"/proc/latency_stats",
    c"/proc/timer_list",
    c"/proc/timer_stats",
    c"/proc/sched_debug",
    c"/proc/scsi",
];

/// The clone flags of a namespaced fork (as `rsandbox::template` makes it).
const FORK_CLONE: u64 = rsandbox::template::NS_FLAGS | 0x1000 | libc::SIGCHLD as u64;

/// Not a test of its own: the entry point of the template payload when this
/// binary runs inside a box with `ROLE` set; a no-op otherwise.
#[test]
fn template_payload() {
    match std::env::var(ROLE).as_deref() {
        Ok("serve") => serve(),
        Ok("probe-kept-proc") => {
            let code = clone_run(FORK_CLONE, mount_procs).unwrap_or_else(|e| 100 + e);
            if code != 0 {
                eprintln!("probe-kept-proc: {code}");
                std::process::exit(code);
            }
            serve()
        }
        Ok("never") => std::thread::sleep(Duration::from_secs(60)),
        Ok("exit") => std::process::exit(3),
        _ => {}
    }
}

fn serve() {
    STATE.store(42, Ordering::SeqCst);
    let arg = rsandbox::template::serve_forks().expect("serve_forks");
    // In the fork from here on.
    let code = match arg & 0xff {
        STEP_WHOAMI => whoami(arg),
        STEP_PROBE => probe((arg >> 8) as i32),
        STEP_CLONE_NS => clone_ns(),
        STEP_UNSHARE => split_ns(),
        STEP_PROC => proc_view(),
        STEP_RULESETS => {
            let n = (0..1024).filter(|&fd| is_ruleset(fd)).count();
            say(format_args!("rulesets {n}\n"));
            0
        }
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
        STEP_HOG => hog(256 << 20),
        STEP_CGROUP => {
            let mut b = [0u8; 1024];
            let n = read_into(c"/proc/self/cgroup", &mut b);
            // SAFETY: writes a live buffer to fd 1.
            unsafe { libc::write(1, b.as_ptr().cast(), n) };
            0
        }
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

/// Whether `fd` is a Landlock ruleset: `landlock_add_rule` with a NULL
/// rule fails with EFAULT only on one (EBADF on no fd, EBADFD on another
/// kind), after the fd is checked and before anything is added.
fn is_ruleset(fd: i32) -> bool {
    const LANDLOCK_RULE_PATH_BENEATH: libc::c_long = 1;
    // SAFETY: an invalid (NULL) rule: the kernel only reads it after the
    // fd checks, and fails with EFAULT.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            fd,
            LANDLOCK_RULE_PATH_BENEATH,
            std::ptr::null::<u8>(),
            0u32,
        )
    };
    r < 0 && errno() == libc::EFAULT
}

/// Map `len` bytes and write to every page (mmap: this binary's guard
/// allocator forbids allocating in a fork).
fn hog(len: usize) -> i32 {
    // SAFETY: a fresh private anonymous mapping, written only inside it.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return 1;
        }
        let p: *mut u8 = p.cast();
        for off in (0..len).step_by(4096) {
            p.add(off).write_volatile(1);
        }
    }
    say(format_args!("survived\n"));
    0
}

/// A fixed buffer that formats without allocating.
struct Buf([u8; 1024], usize);

impl std::fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = (self.1 + s.len()).min(self.0.len());
        self.0[self.1..end].copy_from_slice(&s.as_bytes()[..end - self.1]);
        self.1 = end;
        Ok(())
    }
}

/// Write to fd 1 without allocating: this binary's guard allocator aborts
/// in any process but the first (the fork is a second one).
fn say(args: std::fmt::Arguments) {
    let mut b = Buf([0; 1024], 0);
    let _ = std::fmt::Write::write_fmt(&mut b, args);
    // SAFETY: writes a live buffer to fd 1.
    unsafe { libc::write(1, b.0.as_ptr().cast(), b.1) };
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Read a whole small file into `buf`, without allocating; its length.
fn read_into(path: &std::ffi::CStr, buf: &mut [u8]) -> usize {
    // SAFETY: open/read/close on a NUL-terminated path and a live buffer.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return 0;
        }
        let mut len = 0;
        while len < buf.len() {
            let n = libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len);
            if n <= 0 {
                break;
            }
            len += n as usize;
        }
        libc::close(fd);
        len
    }
}

/// The value after `key` in a /proc status-like text, up to the line end.
fn field<'a>(text: &'a [u8], key: &[u8]) -> &'a str {
    let Some(i) = text.windows(key.len()).position(|w| w == key) else {
        return "?";
    };
    let rest = &text[i + key.len()..];
    let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
    std::str::from_utf8(&rest[..end]).unwrap_or("?").trim()
}

/// What the fork sees of /proc: its pids, how many of Docker's masked
/// entries are covered (a character device, `/dev/null`, over a file; a
/// directory of another filesystem over a directory), the names of those
/// left uncovered, whether /proc is read-only, the errnos of opening
/// `/proc/self/comm` and a sysctl for writing (nothing is written), and
/// of looking up the path of the proc the template box keeps for forks.
fn proc_view() -> i32 {
    use std::fmt::Write;
    let mut out = Buf([0; 1024], 0);
    let _ = out.write_str("pids=");
    visible_pids(&mut out);
    let (mut masked, mut open) = (0, Buf([0; 1024], 0));
    for path in PROC_MASKED {
        // SAFETY: statfs of a NUL-terminated path into a zeroed out-parameter.
        let other_fs = unsafe {
            let mut fs: libc::statfs = std::mem::zeroed();
            libc::statfs(path.as_ptr(), &mut fs) == 0 && fs.f_type != libc::PROC_SUPER_MAGIC
        };
        match file_type(path) {
            Ok(libc::S_IFCHR) => masked += 1,
            Ok(libc::S_IFDIR) if other_fs => masked += 1,
            Ok(_) => {
                let _ = write!(open, "{},", path.to_str().unwrap_or("?"));
            }
            Err(_) => {}
        }
    }
    // SAFETY: statvfs into a zeroed out-parameter.
    let ro = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        libc::statvfs(c"/proc".as_ptr(), &mut st) == 0 && st.f_flag & libc::ST_RDONLY != 0
    };
    let open_errno = |p: &std::ffi::CStr| {
        // SAFETY: open of a NUL-terminated path; closed at once if opened.
        let fd = unsafe { libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
        if fd >= 0 {
            // SAFETY: our own fd, nothing written.
            unsafe { libc::close(fd) };
            return 0;
        }
        errno()
    };
    let kept = file_type(c"/proc/.forks-proc").map_or_else(|e| e, |_| 0);
    let cpuinfo = file_type(c"/proc/cpuinfo") == Ok(libc::S_IFCHR);
    let _ = writeln!(
        out,
        " masked={masked} unmasked={} ro={} comm={} sysctl={} kept={kept} cpuinfo_masked={}",
        std::str::from_utf8(&open.0[..open.1]).unwrap_or("?"),
        ro as u8,
        open_errno(c"/proc/self/comm"),
        open_errno(c"/proc/sys/kernel/hostname"),
        cpuinfo as u8,
    );
    // SAFETY: writes a live buffer to fd 1.
    unsafe { libc::write(1, out.0.as_ptr().cast(), out.1) };
    0
}

/// The `S_IFMT` bits of `path` (not followed), or the errno.
fn file_type(path: &std::ffi::CStr) -> Result<libc::mode_t, i32> {
    // SAFETY: lstat of a NUL-terminated path into a zeroed out-parameter.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::lstat(path.as_ptr(), &mut st) != 0 {
            return Err(errno());
        }
        Ok(st.st_mode & libc::S_IFMT)
    }
}

/// The numeric entries of /proc (the pids this fork can see), comma-joined.
fn visible_pids(out: &mut Buf) {
    use std::fmt::Write;
    let mut buf = [0u8; 4096];
    // SAFETY: open, getdents64 into a live buffer, close.
    unsafe {
        let fd = libc::open(c"/proc".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
        loop {
            let n = libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len());
            if n <= 0 {
                break;
            }
            let mut off = 0;
            while off < n as usize {
                let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
                let name = std::ffi::CStr::from_ptr(buf[off + 19..].as_ptr().cast());
                let name = name.to_bytes();
                if name.iter().all(u8::is_ascii_digit) {
                    let _ = write!(out, "{},", std::str::from_utf8_unchecked(name));
                }
                off += reclen;
            }
        }
        libc::close(fd);
    }
}

/// The interface names of /proc/self/net/dev, comma-joined.
fn interfaces(out: &mut Buf) {
    use std::fmt::Write;
    let mut buf = [0u8; 4096];
    let n = read_into(c"/proc/self/net/dev", &mut buf);
    for line in buf[..n].split(|&c| c == b'\n').skip(2) {
        if let Some(i) = line.iter().position(|&c| c == b':') {
            let name = std::str::from_utf8(&line[..i]).unwrap_or("?").trim();
            let _ = write!(out, "{name},");
        }
    }
}

/// Whether `lo` is up (SIOCGIFFLAGS).
fn lo_up() -> bool {
    // SAFETY: socket/ioctl/close on a zeroed ifreq.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        let mut ifr: libc::ifreq = std::mem::zeroed();
        ifr.ifr_name[0] = b'l' as libc::c_char;
        ifr.ifr_name[1] = b'o' as libc::c_char;
        let r = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut ifr);
        libc::close(fd);
        r == 0 && ifr.ifr_ifru.ifru_flags & libc::IFF_UP as libc::c_short != 0
    }
}

/// The inode of a namespace link of this process.
fn ns_ino(path: &std::ffi::CStr) -> u64 {
    // SAFETY: stat into a zeroed struct.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::stat(path.as_ptr(), &mut st);
        st.st_ino
    }
}

/// Print `key=value` words about this fork, then block until stdin closes
/// (so that two siblings are alive at once and their namespace inodes
/// cannot be reused).
fn whoami(arg: u64) -> i32 {
    use std::fmt::Write;
    let mut out = Buf([0; 1024], 0);
    // SAFETY: plain getters.
    let (pid, ppid, uid) = unsafe { (libc::getpid(), libc::getppid(), libc::getuid()) };
    let _ = write!(out, "arg={arg} pid={pid} ppid={ppid} uid={uid} pids=");
    visible_pids(&mut out);
    let mut status = [0u8; 4096];
    let n = read_into(c"/proc/self/status", &mut status);
    let st = &status[..n];
    let _ = write!(
        out,
        " capeff={} capprm={} capbnd={} nnp={} seccomp={} ifaces=",
        field(st, b"CapEff:"),
        field(st, b"CapPrm:"),
        field(st, b"CapBnd:"),
        field(st, b"NoNewPrivs:"),
        field(st, b"Seccomp_filters:"),
    );
    interfaces(&mut out);
    let _ = write!(out, " lo={}", lo_up() as u8);
    for (k, p) in [
        ("net", c"/proc/self/ns/net"),
        ("uts", c"/proc/self/ns/uts"),
        ("ipc", c"/proc/self/ns/ipc"),
        ("mnt", c"/proc/self/ns/mnt"),
        ("user", c"/proc/self/ns/user"),
        ("pidns", c"/proc/self/ns/pid"),
    ] {
        let _ = write!(out, " {k}={}", ns_ino(p));
    }
    let _ = out.write_str("\n");
    // SAFETY: write a live buffer, then read stdin to its end.
    unsafe {
        libc::write(1, out.0.as_ptr().cast(), out.1);
        let mut b = [0u8; 64];
        while libc::read(0, b.as_mut_ptr().cast(), b.len()) > 0 {}
    }
    0
}

/// Try to signal and ptrace `target`, and to set the hostname.
fn probe(target: i32) -> i32 {
    // SAFETY: plain syscalls; the ptrace attach, if it ever worked, is
    // undone by this process's exit.
    let (kill, ptrace, host) = unsafe {
        let k = if libc::kill(target, 0) == 0 {
            0
        } else {
            errno()
        };
        let p = if libc::ptrace(libc::PTRACE_ATTACH, target, 0, 0) == 0 {
            0
        } else {
            errno()
        };
        let h = if libc::sethostname(c"fork".as_ptr(), 4) == 0 {
            0
        } else {
            errno()
        };
        (k, p, h)
    };
    say(format_args!(
        "kill={kill} ptrace={ptrace} sethostname={host}\n"
    ));
    0
}

/// clone with a namespaced fork's flags; the child exits at once.
fn clone_ns() -> i32 {
    let e = try_clone(FORK_CLONE);
    say(format_args!("clone={e}\n"));
    0
}

/// clone with a namespaced fork's flags, with the split fork's (user and
/// pid only), and unshare of the other four; the children exit at once.
fn split_ns() -> i32 {
    let split = (libc::CLONE_NEWUSER | libc::CLONE_NEWPID) as u64 | 0x1000 | libc::SIGCHLD as u64;
    let rest = (libc::CLONE_NEWNS | libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS)
        as libc::c_int;
    let (full, split) = (try_clone(FORK_CLONE), try_clone(split));
    // SAFETY: unshare with integer flags (refused, or this fork's own).
    let r = unsafe { libc::unshare(rest) };
    let e = if r < 0 { errno() } else { 0 };
    say(format_args!(
        "clone={full} splitclone={split} unshare={e}\n"
    ));
    0
}

/// clone with `flags`; 0 or the errno. A child exits at once.
fn try_clone(flags: u64) -> i32 {
    match clone_run(flags, || 0) {
        Ok(_) => 0,
        Err(e) => e,
    }
}

/// clone with `flags`, the child running `body` (raw syscalls only) and
/// exiting with what it returns; waited for. Its exit code, or the
/// clone's errno.
fn clone_run(flags: u64, body: fn() -> i32) -> Result<i32, i32> {
    let mut pidfd: i32 = -1;
    // SAFETY: a fork-like clone whose child runs `body` and exits.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            0usize,
            &mut pidfd as *mut i32,
            0usize,
            0usize,
        )
    };
    if r == 0 {
        // SAFETY: ends the child with body's code.
        unsafe { libc::_exit(body()) }
    }
    if r < 0 {
        return Err(errno());
    }
    let mut status = 0;
    // SAFETY: waits for our own child; closes the pidfd clone gave us.
    unsafe {
        libc::waitpid(r as libc::pid_t, &mut status, 0);
        libc::close(pidfd);
    }
    Ok(libc::WEXITSTATUS(status))
}

/// In a child made with a fork's namespaces: make its mounts private, then
/// mount a proc read-write (must be refused with `EPERM`) and read-only
/// (must succeed). 0, or the first step that went otherwise: 2 rw
/// mounted, 3 rw refused with another errno, 4 ro refused, 5 private.
fn mount_procs() -> i32 {
    let proc = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    // mount(2) of a proc on /proc, or (`fs` None) a change of `/`'s flags;
    // 0 or the errno.
    let mount = |fs: Option<&std::ffi::CStr>, target: &std::ffi::CStr, flags| {
        let fs = fs.map_or(std::ptr::null(), |f| f.as_ptr());
        // SAFETY: NUL-terminated static strings or nulls, in this child's
        // own mount namespace.
        let r = unsafe { libc::mount(fs, target.as_ptr(), fs, flags, std::ptr::null()) };
        if r == 0 {
            0
        } else {
            errno()
        }
    };
    match (
        mount(None, c"/", libc::MS_REC | libc::MS_PRIVATE),
        mount(Some(c"proc"), c"/proc", proc),
    ) {
        (e, _) if e != 0 => 5,
        (_, 0) => 2,
        (_, e) if e != libc::EPERM => 3,
        _ if mount(Some(c"proc"), c"/proc", proc | libc::MS_RDONLY) != 0 => 4,
        _ => 0,
    }
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

/// `sb` with Landlock rules that let this test binary run and nothing
/// more: no /etc but the loader's cache.
fn landlocked(sb: Sandbox) -> Sandbox {
    let exe = std::env::current_exe().unwrap();
    sb.landlock_exec("/usr")
        .landlock_exec("/lib")
        .landlock_exec("/lib64")
        .landlock_read("/etc/ld.so.cache")
        .landlock_read("/dev/null")
        .landlock_exec(exe.parent().unwrap())
}

both!(landlock_of_the_description_applies_in_forks, || {
    let (sb, cmd) = payload("serve");
    let sb = landlocked(sb);
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

/// A template whose forks get namespaces of their own.
/// `Sandbox::strict()` (its own root view, a masked `/proc`) running this
/// test binary, bound where it is, as the template payload.
fn strict_serving() -> Sandbox {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    Sandbox::strict().ro_bind(dir, dir).env(ROLE, "serve")
}

fn namespaced(sb: Sandbox, cmd: &Command) -> Template {
    let opts = TemplateOptions::new().fork_namespaces(true);
    sb.template_with(cmd, &opts).unwrap()
}

/// The `key=value` words of a line.
fn words(line: &str) -> HashMap<String, String> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A live fork running STEP_WHOAMI: what it printed, and the end of its
/// stdin to close for it to exit.
fn whoami_fork(t: &Template, n: u64) -> (ForkedBox, HashMap<String, String>, OwnedFd) {
    let (out_r, out_w) = pipe();
    let (in_r, in_w) = pipe();
    let f = t
        .fork_with_stdio(
            STEP_WHOAMI | n << 8,
            in_r.as_fd(),
            out_w.as_fd(),
            std::io::stderr().as_fd(),
        )
        .unwrap();
    drop((out_w, in_r));
    let mut line = String::new();
    std::io::BufReader::new(std::fs::File::from(out_r))
        .read_line(&mut line)
        .unwrap();
    (f, words(&line), in_w)
}

/// Inode of /proc/<pid>/ns/<ns> as this process sees it.
fn host_ns(pid: &str, ns: &str) -> String {
    let m = std::fs::metadata(format!("/proc/{pid}/ns/{ns}")).unwrap();
    std::os::unix::fs::MetadataExt::ino(&m).to_string()
}

both!(namespaced_forks_see_only_themselves, || {
    let (sb, cmd) = payload("serve");
    let t = namespaced(sb, &cmd);
    let (mut a, wa, in_a) = whoami_fork(&t, 1);
    let (mut b, wb, in_b) = whoami_fork(&t, 2);
    for (w, n) in [(&wa, 1), (&wb, 2)] {
        assert_isolated(w, n);
        // Its own ids, mapped to themselves (the caller's: this template
        // box keeps them, and root keeps CAP_SETFCAP to map uid 0).
        // SAFETY: trivial getter.
        assert_eq!(w["uid"], unsafe { libc::getuid() }.to_string(), "{w:?}");
    }
    assert_apart(&t, &wa, &wb);
    drop((in_a, in_b));
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
});

/// What every namespaced fork running STEP_WHOAMI with `n` must say.
fn assert_isolated(w: &HashMap<String, String>, n: u64) {
    // The argument arrives; the fork is pid 1 of its own pid namespace,
    // its parent (the template) is outside it and /proc shows it alone.
    assert_eq!(w["arg"], (STEP_WHOAMI | n << 8).to_string(), "{w:?}");
    assert_eq!((&*w["pid"], &*w["ppid"]), ("1", "0"), "{w:?}");
    assert_eq!(w["pids"], "1,", "the fork sees other processes: {w:?}");
    // No capability left, not even in the bounding set; no_new_privs.
    for set in ["capeff", "capprm", "capbnd"] {
        assert_eq!(w[set], "0000000000000000", "{set}: {w:?}");
    }
    assert_eq!(w["nnp"], "1", "{w:?}");
    // A network namespace of its own with only lo, and lo up.
    assert_eq!(w["ifaces"], "lo,", "{w:?}");
    assert_eq!(w["lo"], "1", "{w:?}");
}

/// Every namespace of two forks differs from the template's and from the
/// sibling's.
fn assert_apart(t: &Template, wa: &HashMap<String, String>, wb: &HashMap<String, String>) {
    let tpid = t.pid().to_string();
    for ns in ["net", "uts", "ipc", "mnt", "user"] {
        assert_ne!(wa[ns], wb[ns], "{ns} shared by two forks");
        assert_ne!(wa[ns], host_ns(&tpid, ns), "{ns} shared with the template");
    }
    assert_ne!(wa["pidns"], wb["pidns"]);
    assert_ne!(wa["pidns"], host_ns(&tpid, "pid"));
}

both!(split_forks_are_as_isolated, || {
    // The default profile: the template box runs the relaxed filter and
    // each fork unshares its mount, net, ipc and uts namespaces itself
    // after the clone (the split), then stacks the tightening.
    let (sb, cmd) = payload("serve");
    let sb = sb.seccomp_default().no_new_privs(true);
    // Root's box drops its capabilities (else it is refused, see below);
    // nobody has none to drop.
    let sb = if common::is_root() {
        sb.drop_caps()
    } else {
        sb
    };
    let t = namespaced(sb, &cmd);
    let (mut a, wa, in_a) = whoami_fork(&t, 1);
    let (mut b, wb, in_b) = whoami_fork(&t, 2);
    for (w, n) in [(&wa, 1), (&wb, 2)] {
        assert_isolated(w, n);
        assert_eq!(w["seccomp"], "2", "{w:?}");
    }
    assert_apart(&t, &wa, &wb);
    assert_reports_a_namespaced_fork(&t, &a);
    // The mount, net, ipc and uts namespaces are owned by the fork's own
    // user namespace (its uid 0 may not use them: no capability left).
    drop((in_a, in_b));
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    // Neither the split clone nor the unshare is open to the payload.
    let (st, out) = fork_output(&t, STEP_UNSHARE);
    assert!(st.success(), "{st:?} {out}");
    let e = libc::EPERM;
    assert_eq!(out, format!("clone={e} splitclone={e} unshare={e}\n"));
});

/// What the enforcement reports of a split fork and of its template say:
/// what `assert_isolated` saw from inside the fork.
fn assert_reports_a_namespaced_fork(t: &Template, f: &ForkedBox) {
    let r = f.enforcement();
    for ns in ["user", "pid", "mnt", "net", "ipc", "uts"] {
        let l = r.layer(&format!("namespace:{ns}")).expect(ns);
        assert!(l.applied.contains("made by the fork"), "{l:?}");
    }
    let applied = |layer: &str| r.layer(layer).expect(layer).applied.clone();
    assert!(applied("capabilities").contains("every capability dropped"));
    assert!(applied("seccomp").contains("tightening filter stacked"));
    assert!(applied("template").starts_with("forked from a template box"));
    let own = t.enforcement().layer("template").expect("template layer");
    assert!(own.applied.contains("namespaces of their own"), "{own:?}");
    // The template box's own entries are its spawn's (the relaxed filter).
    let boxed = t.enforcement().layer("seccomp").expect("seccomp layer");
    assert!(!boxed.applied.contains("tightening"), "{boxed:?}");
}

both!(a_plain_fork_reports_the_template_boxs_layers, || {
    let (sb, cmd) = payload("serve");
    let t = sb.seccomp_default().template(&cmd).unwrap();
    let f = t.fork(STEP_SLEEP).unwrap();
    let (r, boxed) = (f.enforcement(), t.enforcement());
    // Every layer the template box has is the fork's, as the box's report
    // says it (the fork inherits them), with a `template` layer added.
    for l in boxed.layers.iter().filter(|l| l.layer != "template") {
        assert_eq!(r.layer(&l.layer), Some(l), "{}", l.layer);
    }
    let note = &r.layer("template").expect("template layer").applied;
    assert!(note.contains("can see and signal"), "{note}");
    assert!(boxed
        .layer("template")
        .unwrap()
        .applied
        .contains("sandlock"));
    drop(f);
});

both!(
    namespaced_forks_cannot_reach_the_template_or_a_sibling,
    || {
        let (sb, cmd) = payload("serve");
        let t = namespaced(sb, &cmd);
        let sibling = t.fork(STEP_SLEEP).unwrap();
        for target in [t.pid(), sibling.pid()] {
            let (st, out) = fork_output(&t, STEP_PROBE | (target as u64) << 8);
            assert!(st.success(), "{st:?} {out}");
            let w = words(&out);
            // Neither pid exists in the fork's pid namespace.
            assert_eq!(w["kill"], libc::ESRCH.to_string(), "{out}");
            assert_eq!(w["ptrace"], libc::ESRCH.to_string(), "{out}");
            // No CAP_SYS_ADMIN over its own UTS namespace either.
            assert_eq!(w["sethostname"], libc::EPERM.to_string(), "{out}");
        }
        // The exit status of a namespaced fork is its own.
        let (st, _) = fork_output(&t, STEP_EXIT7);
        assert_eq!(st.code(), Some(7));
        drop(sibling);
    }
);

both!(namespaced_forks_run_under_the_full_default_profile, || {
    let (sb, cmd) = payload("serve");
    // The box's own user namespace: a root caller's box would otherwise
    // keep CAP_SYS_ADMIN over the host's namespaces (refused, see below).
    let t = namespaced(sb.seccomp_default().user_ns(), &cmd);
    let (mut f, w, stdin) = whoami_fork(&t, 3);
    assert_eq!((&*w["pid"], &*w["pids"]), ("1", "1,"), "{w:?}");
    assert_eq!(w["ifaces"], "lo,", "{w:?}");
    // The template box's filter and the default profile stacked on it.
    assert_eq!(w["seccomp"], "2", "{w:?}");
    drop(stdin);
    assert!(f.wait().unwrap().success());
    // The template box's filter lets this clone through; the profile the
    // fork stacked refuses it.
    let (st, out) = fork_output(&t, STEP_CLONE_NS);
    assert!(st.success(), "{st:?} {out}");
    assert_eq!(out, format!("clone={}\n", libc::EPERM));
    let (st, out) = fork_output(&t, STEP_PROBE | (t.pid() as u64) << 8);
    assert!(st.success(), "{st:?} {out}");
    assert_eq!(words(&out)["ptrace"], libc::EPERM.to_string(), "{out}");
});

both!(a_fork_that_cannot_isolate_itself_is_a_typed_error, || {
    // A filter of the description's own that refuses mount: the fork's
    // /proc cannot be made, and the fork says which step failed.
    let policy = SeccompPolicy::new(Action::Allow).rule("mount", Action::EPERM);
    let (sb, cmd) = payload("serve");
    let t = namespaced(sb.seccomp(policy), &cmd);
    for _ in 0..2 {
        match t.fork(STEP_EXIT7) {
            Err(Error::Io { op, source, .. }) => {
                assert!(op.contains("the fork's"), "{op}");
                assert_eq!(source.raw_os_error(), Some(libc::EPERM), "{source}");
            }
            other => panic!("expected a typed error, got {:?}", other.map(|f| f.pid())),
        }
    }
});

both!(
    landlock_of_the_description_applies_in_namespaced_forks,
    || {
        // A Landlock domain on the template box would refuse each fork's
        // /proc mount and id maps: the forks apply the ruleset themselves.
        let (sb, cmd) = payload("serve");
        let sb = landlocked(sb);
        // Under the default profile too (split forks, the tightening stacked
        // after the ruleset); root's box drops its capabilities, see below.
        let strict = sb.clone().seccomp_default().no_new_privs(true);
        let strict = if common::is_root() {
            strict.drop_caps()
        } else {
            strict
        };
        let (st, out) = fork_output(&namespaced(strict, &cmd), STEP_READ_ETC);
        assert_eq!(out, format!("read errno {}\n", libc::EACCES), "{st:?}");
        let t = namespaced(sb, &cmd);
        for _ in 0..2 {
            let (st, out) = fork_output(&t, STEP_READ_ETC);
            assert!(st.success(), "{st:?} {out}");
            assert_eq!(out, format!("read errno {}\n", libc::EACCES));
        }
        // The fork closed its copy of the ruleset before its payload ran.
        let (st, out) = fork_output(&t, STEP_RULESETS);
        assert!(st.success(), "{st:?} {out}");
        assert_eq!(out, "rulesets 0\n");
        // The reports say where the ruleset applies.
        let f = t.fork(STEP_EXIT7).unwrap();
        let mine = f.enforcement().layer("landlock").expect("landlock entry");
        assert_eq!(mine.enforcement, rsandbox::Enforcement::Full, "{mine:?}");
        let boxed = t.enforcement().layer("landlock").expect("landlock entry");
        assert_eq!(
            boxed.enforcement,
            rsandbox::Enforcement::NotEnforced,
            "{boxed:?}"
        );
        drop(f);
    }
);

both!(a_refused_namespace_clone_is_a_typed_error, || {
    // A description whose filter refuses new user namespaces: the fork's
    // clone fails in the template, which says so and keeps serving.
    let newuser = libc::CLONE_NEWUSER as u64;
    let policy = SeccompPolicy::new(Action::Allow).rule_if(
        "clone",
        Action::EPERM,
        [ArgCmp::masked_eq(0, newuser, newuser).low32()],
    );
    let (sb, cmd) = payload("serve");
    let t = namespaced(sb.seccomp(policy), &cmd);
    for _ in 0..2 {
        match t.fork(STEP_EXIT7) {
            Err(Error::Io { op, source, .. }) => {
                assert!(op.contains("cloning the fork"), "{op}");
                assert_eq!(source.raw_os_error(), Some(libc::EPERM), "{source}");
            }
            other => panic!("expected a typed error, got {:?}", other.map(|f| f.pid())),
        }
    }
});

both!(namespaced_forks_leave_no_fd_or_process, || {
    let (sb, cmd) = payload("serve");
    let t = namespaced(sb, &cmd);
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", t.pid()))
            .unwrap()
            .count()
    };
    // Children of every thread (the harness serves from a thread of its
    // own).
    let children = || {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", t.pid())).unwrap();
        let mut all = Vec::new();
        for task in tasks {
            let p = task.unwrap().path().join("children");
            let text = std::fs::read_to_string(p).unwrap();
            all.extend(text.split_whitespace().map(str::to_string));
        }
        all
    };
    let mounts = || std::fs::read_to_string(format!("/proc/{}/mountinfo", t.pid())).unwrap();
    let mounts_before = mounts();
    let (st, _) = fork_output(&t, STEP_EXIT7);
    assert_eq!(st.code(), Some(7));
    let before = fds();
    for _ in 0..50 {
        let (st, _) = fork_output(&t, STEP_EXIT7);
        assert_eq!(st.code(), Some(7));
    }
    assert_eq!(fds(), before, "the template keeps fds of ended forks");
    // Every fork was reaped; what is left is the three spares the
    // template keeps made for the next requests.
    let left = children();
    assert_eq!(left.len(), 3, "ended forks were not reaped: {left:?}");
    // The forks' /proc mounts stayed in their own mount namespaces.
    assert_eq!(
        mounts(),
        mounts_before,
        "a fork's mount reached the template"
    );
});

/// One request: the argument and three fds (stdin, stdout, stderr), and a
/// gate as the fourth for a gated template.
fn send_request(sock: i32, arg: u64, fds: &[i32]) {
    assert!(fds.len() <= 4);
    let len = 4 * fds.len() as u32;
    let mut cbuf = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: &arg as *const u64 as *mut libc::c_void,
        iov_len: 8,
    };
    // SAFETY: a msghdr over live buffers; CMSG_* point inside `cbuf`,
    // which holds one header and up to four fds.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(len) as usize;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(len) as usize;
        std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(c).cast(), fds.len());
        assert_eq!(libc::sendmsg(sock, &msg, 0), 8);
    }
}

/// The next reply's kind, pid and status (its fds are leaked to this
/// short-lived test: at most one pidfd).
fn next_reply(sock: i32) -> [i32; 3] {
    let mut r = [0i32; 3];
    let mut cbuf = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: r.as_mut_ptr().cast(),
        iov_len: 12,
    };
    // SAFETY: a msghdr over live buffers.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf);
        assert_eq!(libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC), 12);
    }
    r
}

both!(a_caller_without_config_gets_plain_forks, || {
    // A caller of the first version of the protocol (the C test speaks it
    // by hand) sends no CONFIG: serve_forks serves plain forks.
    let mut fds = [0; 2];
    // SAFETY: fds is a live [c_int; 2].
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    assert_eq!(r, 0);
    // SAFETY: two fresh fds we own.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let (sb, cmd) = payload("serve");
    let sb = sb
        .pass_fd(theirs.as_raw_fd(), 3)
        .env(rsandbox::template::FD_ENV, "3");
    let mut child = sb.spawn(&cmd).unwrap();
    drop(theirs);
    let sock = ours.as_raw_fd();
    assert_eq!(next_reply(sock)[0], 1, "READY");
    let null = std::fs::File::open("/dev/null").unwrap();
    let n = null.as_raw_fd();
    send_request(sock, STEP_EXIT7, &[n, n, 2]);
    let forked = next_reply(sock);
    assert_eq!(forked[0], 2, "FORKED");
    let exited = next_reply(sock);
    assert_eq!(exited, [3, forked[1], 7 << 8], "EXITED with status 7");
    drop(ours);
    assert!(child.wait().unwrap().success());
});

both!(a_template_box_with_masked_proc_forks_with_the_masks, || {
    // The strict preset mounts the box's own /proc with Docker's masked
    // entries covered. Each fork mounts a /proc of its own pid namespace,
    // read-only (the kernel allows no more: see `fs::plan::forks_proc_ops`),
    // with the same entries covered, and sees only itself there.
    let (_, cmd) = payload("serve");
    let t = namespaced(strict_serving(), &cmd);
    let on_host = PROC_MASKED
        .iter()
        .filter(|p| std::path::Path::new(p.to_str().unwrap()).exists())
        .count();
    assert!(on_host > 0, "this kernel has none of the masked entries");
    for _ in 0..2 {
        let (status, out) = fork_output(&t, STEP_PROC);
        assert!(status.success(), "{status:?} {out}");
        let w = words(&out);
        assert_eq!(w["pids"], "1,", "{out}");
        assert_eq!(w["masked"], on_host.to_string(), "{out}");
        assert_eq!(w["unmasked"], "", "{out}");
        assert_eq!(w["ro"], "1", "{out}");
        assert_eq!(w["comm"], libc::EROFS.to_string(), "{out}");
        assert_eq!(w["sysctl"], libc::EROFS.to_string(), "{out}");
        // The proc the template box keeps for its forks is not there.
        assert_eq!(w["kept"], libc::ENOENT.to_string(), "{out}");
        assert_eq!(w["cpuinfo_masked"], "0", "{out}");
    }
    // A fork's report says what it got.
    let f = t.fork(STEP_EXIT7).unwrap();
    let mnt = f.enforcement().layer("namespace:mnt").unwrap();
    assert!(mnt.applied.contains("read-only /proc"), "{mnt:?}");
    drop(f);
    // A mask of the description's own under /proc covers the forks' too.
    let t = namespaced(strict_serving().mask("/proc/cpuinfo"), &cmd);
    let (status, out) = fork_output(&t, STEP_PROC);
    assert!(status.success(), "{status:?} {out}");
    let w = words(&out);
    assert_eq!(w["cpuinfo_masked"], "1", "{out}");
    assert_eq!(w["masked"], on_host.to_string(), "{out}");
});

both!(
    the_proc_kept_for_forks_lets_a_user_namespace_mount_only_a_read_only_proc,
    || {
        // The template process itself, through its filter's holes, makes the
        // namespaces a fork makes and mounts a proc there: read-write is
        // refused (EPERM), read-only allowed. A read-write kept proc would
        // let it mount a writable proc without the masks; none at all would
        // refuse both. The template exits with the probe's code otherwise,
        // and no template is made.
        let (_, cmd) = payload("serve");
        let t = namespaced(strict_serving().env(ROLE, "probe-kept-proc"), &cmd);
        let (status, out) = fork_output(&t, STEP_PROC);
        assert!(status.success(), "{status:?} {out}");
        assert_eq!(words(&out)["ro"], "1", "{out}");
    }
);

both!(
    a_masked_proc_under_a_filter_of_the_callers_fails_forks_typed,
    || {
        // With a filter of the caller's own nothing is stacked in the forks, so
        // a fork's payload might make a user namespace: the box keeps no proc
        // for its forks then (a payload could mount one without the masks),
        // and each fork says it cannot mount its /proc instead of running
        // half-isolated.
        let (_, cmd) = payload("serve");
        let sb = strict_serving().seccomp(rsandbox::template::relaxed_default());
        let t = namespaced(sb, &cmd);
        match t.fork(STEP_EXIT7) {
            Err(Error::Io { op, source, .. }) => {
                assert_eq!(op, "mounting the fork's /proc");
                assert_eq!(source.raw_os_error(), Some(libc::EPERM), "{source}");
            }
            other => panic!("expected a typed error, got {:?}", other.map(|f| f.pid())),
        }
        let tpl = t.enforcement().layer("template").unwrap();
        assert!(!tpl.applied.contains("read-only proc"), "{tpl:?}");
    }
);

both!(
    a_capless_root_template_leaves_the_forks_uid_unmapped,
    || {
        // As root, the template is host uid 0 without CAP_SETFCAP: the kernel
        // refuses to map uid 0 in the fork's namespace, so its uid is left
        // unmapped (the overflow uid). As nobody, 65534 maps to itself.
        let (sb, cmd) = payload("serve");
        let t = namespaced(sb.drop_caps().best_effort(true), &cmd);
        let (mut f, w, stdin) = whoami_fork(&t, 5);
        assert_eq!(w["uid"], "65534", "{w:?}");
        assert_eq!((&*w["pid"], &*w["pids"]), ("1", "1,"), "{w:?}");
        assert_eq!(w["capeff"], "0000000000000000", "{w:?}");
        drop(stdin);
        assert!(f.wait().unwrap().success());
    }
);

both!(
    relaxing_the_filter_of_a_box_with_cap_sys_admin_is_refused,
    || {
        // A root caller's box keeps its capabilities by default: the mount
        // holes namespaced forks need would reach the host's mount namespace.
        let (sb, cmd) = payload("serve");
        let opts = TemplateOptions::new().fork_namespaces(true);
        let r = sb.seccomp_default().template_with(&cmd, &opts);
        if common::is_root() {
            match r {
                Err(Error::InvalidConfig { field, .. }) => {
                    assert_eq!(field, "template: fork_namespaces")
                }
                other => panic!("expected InvalidConfig, got {:?}", other.map(|t| t.pid())),
            }
        } else {
            let t = r.unwrap();
            let (st, _) = fork_output(&t, STEP_EXIT7);
            assert_eq!(st.code(), Some(7));
        }
    }
);

both!(
    a_namespaced_fork_is_killed_as_pid_1_of_its_namespace,
    || {
        let (sb, cmd) = payload("serve");
        let t = namespaced(sb, &cmd);
        // pid 1 of a namespace gets only the signals it handles, SIGKILL and
        // SIGSTOP excepted: SIGTERM (no handler here) leaves it running.
        let mut f = t.fork(STEP_SLEEP).unwrap();
        let fork = pidfd(f.pid());
        f.signal(libc::SIGTERM).unwrap();
        let mut p = libc::pollfd {
            fd: fork.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd.
        let n = unsafe { libc::poll(&mut p, 1, 200) };
        assert_eq!(n, 0, "SIGTERM ended pid 1");
        f.kill().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(f.wait().unwrap().signal(), Some(libc::SIGKILL));
        drop(f);
        // Dropping an unwaited namespaced fork ends it.
        let f = t.fork(STEP_SLEEP).unwrap();
        let fork = pidfd(f.pid());
        drop(f);
        assert!(ends(&fork), "a dropped namespaced fork was left running");
        // Dropping the template ends it and the spares it keeps made.
        let template = pidfd(t.pid());
        let rest = common::descendants(t.pid());
        assert_eq!(rest.len(), 3, "three spare forks wait");
        drop(t);
        assert!(ends(&template), "the template was left running");
        for (pid, fd) in &rest {
            assert!(ends(fd), "the spare {pid} was left running");
        }
    }
);

both!(a_killed_spare_is_replaced, || {
    let (sb, cmd) = payload("serve");
    let t = namespaced(sb, &cmd);
    let (st, _) = fork_output(&t, STEP_EXIT7);
    assert_eq!(st.code(), Some(7));
    // The three children left are the spares made for the next
    // requests: kill them all.
    let spares = common::descendants(t.pid());
    assert_eq!(spares.len(), 3);
    for (_, fd) in &spares {
        // SAFETY: SIGKILL through a pidfd of a process this test started.
        let r = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), 9, 0, 0) };
        assert_eq!(r, 0);
        assert!(ends(fd));
    }
    let (st, _) = fork_output(&t, STEP_EXIT7);
    assert_eq!(st.code(), Some(7), "the next fork is made anew");
});

/// The tests that count cgroup directories run one at a time.
static CGROUP_SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn cgroup_serial() -> std::sync::MutexGuard<'static, ()> {
    CGROUP_SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Root only: the forks' cgroups are made under this process's own.
fn cgroups_allowed() -> bool {
    if !common::is_root() {
        println!("skipped: cgroup limits need root here");
    }
    common::is_root()
}

/// A template whose description has a 64 MiB memory limit.
fn limited(namespaces: bool) -> Template {
    let (sb, cmd) = payload("serve");
    let opts = TemplateOptions::new().fork_namespaces(namespaces);
    common::cgroup_dirs::where_boxes_may_go(sb)
        .memory_limit(64 << 20)
        .template_with(&cmd, &opts)
        .unwrap()
}

#[test]
fn a_fork_past_its_memory_limit_is_killed_alone() {
    if !cgroups_allowed() {
        return;
    }
    let _g = cgroup_serial();
    for namespaces in [false, true] {
        let t = limited(namespaces);
        let template = pidfd(t.pid());
        let mut sibling = t.fork(STEP_SLEEP).unwrap();
        let (st, out) = fork_output(&t, STEP_HOG);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(st.signal(), Some(libc::SIGKILL), "{st:?} {out}");
        assert!(!out.contains("survived"), "{out}");
        // The sibling and the template live on; the template forks again.
        let sib = sibling.as_fd().try_clone_to_owned().unwrap();
        assert!(!ends_now(&sib), "the OOM ended a sibling");
        assert!(!ends_now(&template), "the OOM ended the template");
        let (st, _) = fork_output(&t, STEP_EXIT7);
        assert_eq!(st.code(), Some(7));
        sibling.kill().unwrap();
        assert_eq!(sibling.wait().unwrap().signal(), Some(libc::SIGKILL));
        let cg = sibling.cgroup_stats().expect("the sibling's cgroup stats");
        assert_eq!(cg.oom_kills, Some(0), "{cg:?}");
    }
}

#[test]
fn the_oom_is_reported_in_the_forks_cgroup_stats() {
    if !cgroups_allowed() {
        return;
    }
    let _g = cgroup_serial();
    let t = limited(false);
    let null = std::fs::File::open("/dev/null").unwrap();
    let mut f = t
        .fork_with_stdio(STEP_HOG, null.as_fd(), null.as_fd(), null.as_fd())
        .unwrap();
    assert!(f.cgroup_stats().is_none(), "stats before the wait");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(f.wait().unwrap().signal(), Some(libc::SIGKILL));
    let cg = f.cgroup_stats().expect("the fork's cgroup stats");
    assert!(cg.oom_kills.is_some_and(|n| n >= 1), "{cg:?}");
    assert!(cg.memory_peak.is_some_and(|p| p <= 64 << 20), "{cg:?}");
}

#[test]
fn each_fork_has_a_cgroup_of_its_own() {
    if !cgroups_allowed() {
        return;
    }
    let _g = cgroup_serial();
    let ours = format!("rsandbox-{}-", std::process::id());
    for namespaces in [false, true] {
        let t = limited(namespaces);
        let template = std::fs::read_to_string(format!("/proc/{}/cgroup", t.pid())).unwrap();
        let (st, a) = fork_output(&t, STEP_CGROUP);
        assert!(st.success(), "{st:?} {a}");
        let (_, b) = fork_output(&t, STEP_CGROUP);
        assert!(
            a.contains(&ours),
            "the fork's cgroup is not one of ours: {a}"
        );
        assert_ne!(a, template, "a fork shares the template's cgroup");
        assert_ne!(a, b, "two forks share a cgroup");
    }
}

#[test]
fn fifty_forks_leave_no_cgroup() {
    if !cgroups_allowed() {
        return;
    }
    let _g = cgroup_serial();
    for namespaces in [false, true] {
        forks_leave_no_cgroup(&limited(namespaces), 50);
    }
}

#[test]
fn a_thousand_forks_leave_no_cgroup() {
    if !cgroups_allowed() {
        return;
    }
    let _g = cgroup_serial();
    forks_leave_no_cgroup(&limited(true), 1000);
}

/// `n` forks of `t` (half waited for, half dropped) leave no cgroup but
/// the template box's own.
fn forks_leave_no_cgroup(t: &Template, n: usize) {
    let before = common::cgroup_dirs::our_cgroup_dirs();
    for i in 0..n {
        if i % 2 == 0 {
            let mut f = t.fork(STEP_EXIT7).unwrap();
            assert_eq!(f.wait().unwrap().code(), Some(7));
        } else {
            drop(t.fork(STEP_SLEEP).unwrap());
        }
    }
    let after = common::cgroup_dirs::our_cgroup_dirs();
    assert_eq!(after, before, "forks left cgroups");
}

both!(a_thousand_forks_leave_no_fd_process_or_mount, || {
    let (sb, cmd) = payload("serve");
    let t = namespaced(sb, &cmd);
    // One fork first: what the library opens once per process is open
    // before counting.
    assert_eq!(t.fork(STEP_EXIT7).unwrap().wait().unwrap().code(), Some(7));
    let (fds, mounts) = (common::open_fds(), mountinfo());
    for i in 0..1000 {
        if i % 2 == 0 {
            let mut f = t.fork(STEP_EXIT7).unwrap();
            assert_eq!(f.wait().unwrap().code(), Some(7));
        } else {
            drop(t.fork(STEP_SLEEP).unwrap());
        }
    }
    // Every fork is reaped (a dropped one is killed and waited for): the
    // template's children are its spares made ahead, at most three.
    let kids = children(t.pid());
    assert!(kids.len() <= 3, "the template has children left: {kids:?}");
    // The forks' mounts were in their own mount namespaces.
    assert_eq!(mountinfo(), mounts, "the caller's mount table changed");
    if common::as_nobody() {
        // Alone in its process (the caller's run shares it with the other
        // tests): every fd.
        assert_eq!(common::open_fds(), fds);
    }
});

/// The children of `pid` (all its threads').
fn children(pid: i32) -> Vec<String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .flatten()
        .flat_map(|t| {
            let kids = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            kids.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// This process's mount table.
fn mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

/// A template spawned by hand with `config` queued; its socket and box.
fn by_hand(config: &[u8]) -> (OwnedFd, rsandbox::Child) {
    let mut fds = [0; 2];
    let ty = libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC;
    // SAFETY: fds is a live [c_int; 2].
    let r = unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()) };
    assert_eq!(r, 0);
    // SAFETY: two fresh fds we own.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: sends a live buffer.
    let n = unsafe { libc::send(ours.as_raw_fd(), config.as_ptr().cast(), config.len(), 0) };
    assert_eq!(n, config.len() as isize);
    let (sb, cmd) = payload("serve");
    let sb = sb
        .pass_fd(theirs.as_raw_fd(), 3)
        .env(rsandbox::template::FD_ENV, "3");
    let child = sb.spawn(&cmd).unwrap();
    (ours, child)
}

both!(a_gated_fork_runs_nothing_until_its_gate_opens, || {
    // CONFIG with the gate flag (2): READY echoes it; a fork whose gate is
    // closed without the byte ends (127) before the payload runs its step.
    let mut config = 5u32.to_ne_bytes().to_vec();
    config.extend(2u32.to_ne_bytes());
    let (ours, mut child) = by_hand(&config);
    let sock = ours.as_raw_fd();
    assert_eq!(
        next_reply(sock),
        [1, 0, 2],
        "READY with the gate understood"
    );
    let null = std::fs::File::open("/dev/null").unwrap();
    let (out_r, out_w) = pipe();
    let (gate_r, gate_w) = pipe();
    let fds = [null.as_raw_fd(), out_w.as_raw_fd(), 2, gate_r.as_raw_fd()];
    send_request(sock, STEP_STATE, &fds);
    drop((out_w, gate_r));
    let forked = next_reply(sock);
    assert_eq!(forked[0], 2, "FORKED");
    drop(gate_w);
    let exited = next_reply(sock);
    assert_eq!(exited, [3, forked[1], 127 << 8], "EXITED at the gate");
    let mut out = String::new();
    std::fs::File::from(out_r).read_to_string(&mut out).unwrap();
    assert_eq!(out, "", "the fork ran its step with the gate shut");
    // A request without the gate is dropped; the next gated one that
    // gets its byte runs.
    send_request(sock, STEP_EXIT7, &[null.as_raw_fd(), null.as_raw_fd(), 2]);
    let (gate_r, gate_w) = pipe();
    send_request(
        sock,
        STEP_EXIT7,
        &[null.as_raw_fd(), null.as_raw_fd(), 2, gate_r.as_raw_fd()],
    );
    drop(gate_r);
    let forked = next_reply(sock);
    assert_eq!(forked[0], 2, "FORKED");
    // SAFETY: writes one byte from a live buffer to our pipe.
    let n = unsafe { libc::write(gate_w.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
    assert_eq!(n, 1);
    assert_eq!(next_reply(sock), [3, forked[1], 7 << 8], "EXITED with 7");
    drop(ours);
    assert!(child.wait().unwrap().success());
});
