//! Hardening: seccomp, capabilities, no_new_privs, Landlock, the strict
//! preset and the enforcement report, seen from inside the box.
//!
//! Every escape case makes its attempt from inside `Sandbox::strict()` and
//! asserts that it failed *and* that a host-side canary is untouched. The
//! probes are a small C program (`tests/data/probe.c`) compiled with `cc`
//! into a fresh 0755 directory under /tmp; dangerous syscalls are only ever
//! made with invalid arguments.
//!
//! Run as root, `battery_as_nobody` copies this test binary into such a
//! directory and re-runs every other test as nobody (uid 65534) through
//! `setpriv`, so each case is checked both privileged and not.

#[path = "common/guard.rs"]
mod guard;

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rsandbox::seccomp::{Action, ArgCmp, SeccompPolicy};
use rsandbox::{Command, Enforcement, Error, Output, Reason, Sandbox, Stdio};

const NOBODY_ENV: &str = "RSANDBOX_HARDENING_NOBODY";
const SUID_ENV: &str = "RSANDBOX_HARDENING_SUID_PROBE";

fn euid() -> u32 {
    // SAFETY: trivial getter.
    unsafe { libc::geteuid() }
}

/// A fresh 0755 directory under /tmp.
fn fresh_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let d = PathBuf::from(format!(
        "/tmp/rsandbox-hard-{tag}-{}-{}-{nanos}",
        euid(),
        std::process::id()
    ));
    fs::create_dir_all(&d).unwrap();
    fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// Removes a directory tree when dropped, so a failing test leaves nothing
/// in /tmp either.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

struct Work {
    dir: PathBuf,
    probe: PathBuf,
}

static WORK: OnceLock<Work> = OnceLock::new();

/// The per-process work directory with the probe compiled into `bin/`.
fn work() -> &'static Work {
    WORK.get_or_init(|| {
        let dir = fresh_dir("work");
        let bin = dir.join("bin");
        fs::create_dir(&bin).unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        let src = dir.join("probe.c");
        fs::write(&src, include_str!("data/probe.c")).unwrap();
        let probe = bin.join("probe");
        let st = std::process::Command::new("cc")
            .args(["-O1", "-pthread", "-o"])
            .arg(&probe)
            .arg(&src)
            .status()
            .expect("cc (gcc) is needed to build the probes");
        assert!(st.success(), "compiling the probe failed");
        // SAFETY: registers a plain extern "C" function.
        unsafe { libc::atexit(remove_work) };
        Work { dir, probe }
    })
}

/// Remove the work directory when the test process exits.
extern "C" fn remove_work() {
    if let Some(w) = WORK.get() {
        let _ = fs::remove_dir_all(&w.dir);
    }
}

fn probe_cmd(args: &[&str]) -> Command {
    Command::new(&work().probe).args(args)
}

/// The sandbox with the probes' directory visible in it: a mount namespace
/// gets a private /tmp, so the work directory is bound read-only.
fn with_work(sb: &Sandbox) -> Sandbox {
    if sb.has_ns(rsandbox::Namespace::Mount) {
        sb.clone().ro_bind(&work().dir, &work().dir)
    } else {
        sb.clone()
    }
}

fn run(sb: &Sandbox, cmd: &Command) -> Output {
    with_work(sb)
        .stdin(Stdio::Null)
        .output(cmd)
        .unwrap_or_else(|e| panic!("spawn failed: {e}"))
}

/// (ret, errno) of a probe's RESULT line.
fn result(out: &Output) -> (i64, i32) {
    let s = String::from_utf8_lossy(&out.stdout);
    let line = s
        .lines()
        .find(|l| l.starts_with("RESULT"))
        .unwrap_or_else(|| {
            panic!(
                "no RESULT from probe: {:?}\nstdout: {s}\nstderr: {}",
                out.outcome,
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let mut ret = 0;
    let mut errno = 0;
    for kv in line.split_whitespace().skip(1) {
        let (k, v) = kv.split_once('=').unwrap();
        match k {
            "ret" => ret = v.parse().unwrap(),
            "errno" => errno = v.parse().unwrap(),
            _ => {}
        }
    }
    (ret, errno)
}

fn strict_probe(args: &[&str]) -> (i64, i32) {
    let out = run(&Sandbox::strict(), &probe_cmd(args));
    assert!(
        out.outcome.success(),
        "probe {args:?} did not exit cleanly: {:?} {}",
        out.outcome,
        String::from_utf8_lossy(&out.stderr)
    );
    result(&out)
}

/// The attempt failed with `errno`.
fn assert_denied(args: &[&str], errno: i32) {
    let (ret, e) = strict_probe(args);
    assert_eq!(ret, -1, "{args:?} succeeded inside the strict box");
    assert_eq!(
        e, errno,
        "{args:?} failed with errno {e}, expected {errno} (the filter's answer)"
    );
}

fn proc_keys_has(name: &str) -> bool {
    fs::read_to_string("/proc/keys").is_ok_and(|s| s.contains(name))
}

// ---------------------------------------------------------------- escape battery

#[test]
fn keyring_denied() {
    assert_denied(&["add_key"], libc::EPERM);
    assert_denied(&["keyctl"], libc::EPERM);
    assert!(
        !proc_keys_has("rsandbox-canary"),
        "a key reached the host keyring"
    );
}

#[test]
fn bpf_denied() {
    assert_denied(&["bpf"], libc::EPERM);
}

#[test]
fn perf_event_open_denied() {
    assert_denied(&["perf_event_open"], libc::EPERM);
}

#[test]
fn userfaultfd_denied() {
    assert_denied(&["userfaultfd"], libc::EPERM);
}

#[test]
fn io_uring_denied() {
    assert_denied(&["io_uring_setup"], libc::EPERM);
}

#[test]
fn mount_denied() {
    let before = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert_denied(&["mount"], libc::EPERM);
    assert_denied(&["umount"], libc::EPERM);
    let after = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!after.contains("nonexistent-rsandbox"));
    assert_eq!(before.lines().count(), after.lines().count());
}

#[test]
fn namespaces_denied_inside() {
    assert_denied(&["unshare_user"], libc::EPERM);
    assert_denied(&["unshare_ns"], libc::EPERM);
    assert_denied(&["clone_newuser"], libc::EPERM);
    // clone3 answers ENOSYS so libc falls back to clone.
    assert_denied(&["clone3"], libc::ENOSYS);
    // Plain fork (clone without namespace flags) still works.
    assert_eq!(strict_probe(&["fork"]).0, 0);
}

struct Sleeper(std::process::Child);
impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ptrace_of_host_process_denied() {
    let sleeper = Sleeper(
        std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap(),
    );
    let pid = sleeper.0.id().to_string();
    let (ret, _) = strict_probe(&["ptrace", &pid]);
    assert_eq!(ret, -1, "ptrace attach to a host process succeeded");
    let (ret, _) = strict_probe(&["process_vm_readv", &pid]);
    assert_eq!(ret, -1, "process_vm_readv on a host process succeeded");
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status.contains("TracerPid:\t0"),
        "host process is traced: {status}"
    );
    let state = status
        .lines()
        .find_map(|l| l.strip_prefix("State:\t"))
        .unwrap_or("");
    assert!(
        state.starts_with('S') || state.starts_with('R'),
        "host process disturbed: {state}"
    );
}

fn open_pty() -> (OwnedFd, OwnedFd) {
    // SAFETY: the classic posix_openpt sequence; every fd returned is owned.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(m >= 0);
        assert_eq!(libc::grantpt(m), 0);
        assert_eq!(libc::unlockpt(m), 0);
        let name = libc::ptsname(m);
        assert!(!name.is_null());
        let s = libc::open(
            name,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC | libc::O_NONBLOCK,
        );
        assert!(s >= 0);
        let mut t: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(s, &mut t), 0);
        libc::cfmakeraw(&mut t);
        assert_eq!(libc::tcsetattr(s, libc::TCSANOW, &t), 0);
        (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s))
    }
}

#[test]
fn tiocsti_on_a_real_pty_injects_nothing() {
    let (_master, slave) = open_pty();
    let sb = with_work(&Sandbox::strict()).stdin(Stdio::Fd(slave.as_raw_fd()));
    let out = sb.output(&probe_cmd(&["tiocsti"])).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("FIRST ret=-1 errno=1\n"),
        "TIOCSTI not refused: {text}"
    );
    assert_eq!(
        result(&out),
        (-1, libc::EPERM),
        "TIOCSTI with high bits not refused: {text}"
    );
    // Canary: nothing is waiting in the terminal's input queue.
    let mut buf = [0u8; 16];
    // SAFETY: read into a stack buffer from a non-blocking fd we own.
    let n = unsafe { libc::read(slave.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    assert!(n <= 0, "{n} bytes were injected into the terminal");
    // Ordinary terminal ioctls still work.
    let sb = with_work(&Sandbox::strict()).stdin(Stdio::Fd(slave.as_raw_fd()));
    let out = sb.output(&probe_cmd(&["tiocgwinsz"])).unwrap();
    assert_eq!(result(&out).0, 0);
}

#[test]
fn open_by_handle_at_denied() {
    assert_denied(&["open_by_handle_at"], libc::EPERM);
}

#[test]
fn socket_families_denied() {
    assert_denied(&["af_alg"], libc::EPERM);
    assert_denied(&["af_packet"], libc::EPERM);
    assert!(strict_probe(&["af_unix"]).0 >= 0, "AF_UNIX must still work");
}

#[test]
fn unsafe_personality_denied() {
    let out = run(&Sandbox::strict(), &probe_cmd(&["personality"]));
    assert_eq!(result(&out), (-1, libc::EPERM));
    assert!(String::from_utf8_lossy(&out.stdout).contains("QUERY 0\n"));
}

#[test]
fn dangerous_syscalls_with_invalid_arguments_denied() {
    assert_denied(&["acct"], libc::EPERM);
    assert_denied(&["reboot"], libc::EPERM);
}

#[test]
#[cfg(target_arch = "x86_64")]
fn x32_syscall_kills_the_payload() {
    let out = run(&Sandbox::strict(), &probe_cmd(&["x32"]));
    assert_eq!(out.outcome.reason, Reason::SeccompViolation, "{out:?}");
    assert_eq!(out.outcome.signal(), Some(libc::SIGSYS));
}

#[test]
#[cfg(target_arch = "x86_64")]
fn i386_syscall_kills_the_payload() {
    let out = run(&Sandbox::strict(), &probe_cmd(&["int80"]));
    assert_eq!(out.outcome.reason, Reason::SeccompViolation, "{out:?}");
    assert_eq!(out.outcome.signal(), Some(libc::SIGSYS));
}

#[test]
fn syscalls_newer_than_the_table_answer_enosys() {
    // 470 is the first number above the Linux 6.18 table (listns in
    // 6.19); 1000 and -1 are no syscall at all.
    for nr in ["470", "1000", "-1"] {
        assert_denied(&["nr", nr], libc::ENOSYS);
    }
    // A 6.15 syscall the table knows and the profile denies: EPERM.
    assert_denied(&["open_tree_attr"], libc::EPERM);
}

#[test]
fn socket_families_outside_the_list_denied() {
    // DECnet, RDS, CAN, TIPC, Bluetooth, and families the kernel does not
    // have: refused before the kernel sees them (it would say EINVAL).
    for fam in ["12", "21", "29", "30", "31", "40", "46", "200"] {
        assert_denied(&["socket_family", fam], libc::EPERM);
    }
    // The allowed ones reach the kernel, which refuses the bad type.
    for fam in ["1", "2", "10", "16"] {
        assert_denied(&["socket_family", fam], libc::EINVAL);
    }
}

#[test]
fn denied_beyond_docker() {
    // Docker allows these to a box without capabilities; rsandbox does not.
    assert_denied(&["adjtimex"], libc::EPERM);
    // Docker needs CAP_SYS_NICE / CAP_SYS_CHROOT for these.
    assert_denied(&["set_mempolicy"], libc::EPERM);
    assert_denied(&["chroot"], libc::EPERM);
}

/// A setuid binary owned by someone else: root's runs get one owned by
/// nobody; nobody's runs get one owned by root (made by the root runner).
fn suid_probe() -> Option<(PathBuf, u32)> {
    if let Ok(p) = std::env::var(SUID_ENV) {
        let owner = fs::metadata(&p).unwrap().uid();
        return Some((PathBuf::from(p), owner));
    }
    if euid() != 0 {
        return None;
    }
    static SUID: OnceLock<PathBuf> = OnceLock::new();
    let p = SUID.get_or_init(|| {
        let p = work().dir.join("suid-probe");
        copy_executable(&work().probe, &p, 65534);
        p
    });
    Some((p.clone(), 65534))
}

/// Copy an executable, owned by `owner`, setuid. The copy is written by a
/// `cp` process, not through a write fd of this one: sandboxes cloned by
/// other test threads meanwhile would inherit that fd until their exec, and
/// running the copy would then fail with ETXTBSY.
fn copy_executable(from: &Path, to: &Path, owner: u32) {
    let st = std::process::Command::new("cp")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(st.success(), "cp {} {}", from.display(), to.display());
    std::os::unix::fs::chown(to, Some(owner), Some(owner)).unwrap();
    fs::set_permissions(to, fs::Permissions::from_mode(0o4755)).unwrap();
}

fn ids(out: &Output) -> (u32, u32) {
    let s = String::from_utf8_lossy(&out.stdout);
    let l = s
        .lines()
        .find(|l| l.starts_with("UID"))
        .unwrap_or_else(|| panic!("{s}"));
    let v: Vec<u32> = l
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (v[0], v[1])
}

#[test]
fn setuid_binary_gains_nothing() {
    let Some((suid, owner)) = suid_probe() else {
        eprintln!(
            "setuid_binary_gains_nothing: needs root to make a setuid file (or {SUID_ENV}); \
             it runs in the root pass and in the nobody pass it starts"
        );
        return;
    };
    let me = euid();
    let cmd = Command::new(&suid).arg("ids");
    // Control: without no_new_privs the bit works (the test is not vacuous).
    let out = run(&Sandbox::new(), &cmd);
    assert_eq!(ids(&out), (me, owner), "control: setuid bit had no effect");
    // With no_new_privs (and the default profile) the uid is unchanged.
    let sb = Sandbox::new().no_new_privs(true).seccomp_default();
    assert_eq!(ids(&run(&sb, &cmd)), (me, me));
    let status = run(&sb, &Command::from_argv(["/bin/cat", "/proc/self/status"]));
    assert!(String::from_utf8_lossy(&status.stdout).contains("NoNewPrivs:\t1"));
}

fn status_fields(sb: &Sandbox) -> Vec<(String, String)> {
    let out = run(
        sb,
        &Command::from_argv([
            "/bin/sh",
            "-c",
            "grep -E '^(Cap|NoNewPrivs|Seccomp|Uid)' /proc/self/status",
        ]),
    );
    assert!(out.outcome.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn every_capability_set_is_zero() {
    let f = status_fields(&Sandbox::strict());
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let v = f.iter().find(|(k, _)| k == set).map(|(_, v)| v.as_str());
        assert_eq!(v, Some("0000000000000000"), "{set} in {f:?}");
    }
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("NoNewPrivs").as_deref(), Some("1"));
    assert_eq!(get("Seccomp").as_deref(), Some("2"));
}

#[test]
fn kept_capability_survives_exec_alone() {
    // CAP_NET_BIND_SERVICE is bit 10.
    let f = status_fields(&Sandbox::strict().keep_caps(["net_bind_service"]));
    for set in ["CapPrm", "CapEff", "CapBnd", "CapAmb", "CapInh"] {
        let v = f.iter().find(|(k, _)| k == set).map(|(_, v)| v.as_str());
        assert_eq!(v, Some("0000000000000400"), "{set} in {f:?}");
    }
}

/// Docker's (and runc's) 14 default capabilities: mask 0xa80425fb.
const DOCKER_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn field(f: &[(String, String)], k: &str) -> String {
    f.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("{k} missing in {f:?}"))
}

/// A box whose payload runs as a uid other than 0: uid 1000 switched to
/// from box root (a root caller, which can map both), or the caller's own
/// uid (nobody: 65534, never root in the box).
fn non_root_box() -> Sandbox {
    if euid() == 0 {
        Sandbox::strict()
            .uid_map(rsandbox::IdMap::new(0, 0, 1))
            .uid_map(rsandbox::IdMap::new(1000, 1000, 1))
            .gid_map(rsandbox::IdMap::new(0, 0, 1))
            .gid_map(rsandbox::IdMap::new(1000, 1000, 1))
            .uid(1000)
            .gid(1000)
    } else {
        Sandbox::strict()
    }
}

/// Explicit sets (runc's semantics) for a non-root payload with Docker's
/// 14 capabilities in bounding, effective and permitted: nothing survives
/// its exec but the bounding set, as under runc (the `keep_caps` model
/// would have raised all 14 into ambient and effective).
#[test]
fn explicit_sets_give_a_non_root_payload_nothing_across_exec() {
    let mut sb = non_root_box();
    for set in [
        rsandbox::CapSet::Bounding,
        rsandbox::CapSet::Effective,
        rsandbox::CapSet::Permitted,
    ] {
        sb = sb.cap_set(set, DOCKER_CAPS);
    }
    let f = status_fields(&sb);
    assert_ne!(field(&f, "Uid").split_whitespace().next(), Some("0"));
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(field(&f, set), "0000000000000000", "{set} in {f:?}");
    }
    assert_eq!(field(&f, "CapBnd"), "00000000a80425fb", "{f:?}");
    let report = sb.enforcement_report().unwrap();
    let caps = report
        .layers
        .iter()
        .find(|l| l.layer == "capabilities")
        .unwrap();
    assert!(caps.requested.starts_with("bounding CAP_CHOWN"), "{caps:?}");
    assert_eq!(caps.enforcement, Enforcement::Full, "{caps:?}");
}

/// Box root gets the bounding set at exec (the kernel's rule for uid 0
/// without securebits), and a non-root payload exactly the ambient
/// capabilities listed.
#[test]
fn explicit_sets_for_root_and_listed_ambient() {
    use rsandbox::CapSet as S;
    let three = ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"];
    let root = Sandbox::strict()
        .uid(0)
        .gid(0)
        .cap_set(S::Bounding, three)
        .cap_set(S::Effective, three)
        .cap_set(S::Permitted, three);
    let f = status_fields(&root);
    assert_eq!(field(&f, "Uid").split_whitespace().next(), Some("0"));
    for (set, want) in [
        ("CapEff", "0000000020000420"),
        ("CapPrm", "0000000020000420"),
        ("CapBnd", "0000000020000420"),
        ("CapInh", "0000000000000000"),
        ("CapAmb", "0000000000000000"),
    ] {
        assert_eq!(field(&f, set), want, "{set} in {f:?}");
    }
    let nbs = ["net_bind_service"];
    let amb = non_root_box()
        .cap_set(S::Bounding, three)
        .cap_set(S::Permitted, nbs)
        .cap_set(S::Inheritable, nbs)
        .cap_set(S::Ambient, nbs);
    let f = status_fields(&amb);
    for (set, want) in [
        ("CapEff", "0000000000000400"),
        ("CapPrm", "0000000000000400"),
        ("CapAmb", "0000000000000400"),
        ("CapInh", "0000000000000400"),
        ("CapBnd", "0000000020000420"),
    ] {
        assert_eq!(field(&f, set), want, "{set} in {f:?}");
    }
    // What the kernel would refuse is refused before spawn.
    let bad = Sandbox::strict()
        .cap_set(S::Permitted, nbs)
        .cap_set(S::Ambient, nbs);
    let e = bad.spawn(&Command::new("/bin/true")).unwrap_err();
    assert!(
        matches!(e, Error::InvalidConfig { .. }) && e.to_string().contains("inheritable"),
        "{e}"
    );
}

/// A Docker-style profile's capability-gated entry is decided against the
/// bounding set given with `cap_set` (as Docker decides it against a
/// container's): with CAP_SYS_ADMIN there, the entry refusing
/// `sethostname` to boxes without it does not apply; without, it does.
#[test]
fn seccomp_entries_gated_on_the_cap_set_bounding_set() {
    use rsandbox::CapSet as S;
    let profile = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["sethostname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
         "excludes": {"caps": ["CAP_SYS_ADMIN"]}}]}"#;
    let run_with = |caps: &[&str]| {
        let sb = Sandbox::strict()
            .uid(0)
            .gid(0)
            .cap_set(S::Bounding, caps.iter().copied())
            .cap_set(S::Effective, caps.iter().copied())
            .cap_set(S::Permitted, caps.iter().copied())
            .seccomp_oci_json(profile);
        let out = run(
            &sb,
            &Command::from_argv(["/bin/sh", "-c", "hostname changed 2>&1; hostname"]),
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let out = run_with(&["CAP_SYS_ADMIN", "CAP_KILL"]);
    assert_eq!(out, "changed\n", "with CAP_SYS_ADMIN bound");
    // The filter's EINVAL (busybox says "name too long"), not EPERM.
    let out = run_with(&["CAP_KILL"]);
    assert!(
        (out.contains("name too long") || out.contains("Invalid argument"))
            && !out.contains("changed"),
        "without it: {out}"
    );
}

#[test]
fn seccomp_mode_2_in_every_thread() {
    let out = run(&Sandbox::strict(), &probe_cmd(&["threads"]));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(result(&out), (0, 0), "{text}");
    assert_eq!(text.matches("THREAD Seccomp:\t2").count(), 5, "{text}");
}

#[test]
fn launcher_exe_not_writable() {
    let me = std::env::current_exe().unwrap();
    let before = fs::metadata(&me).unwrap();
    let pid = std::process::id().to_string();
    for target in [
        format!("/proc/{pid}/exe"),
        "/proc/self/exe".to_string(),
        "/proc/1/exe".to_string(),
    ] {
        let (ret, _) = strict_probe(&["open_write", &target]);
        assert_eq!(ret, -1, "{target} opened for writing");
    }
    let after = fs::metadata(&me).unwrap();
    assert_eq!(before.len(), after.len());
    assert_eq!(before.mtime(), after.mtime());
}

#[test]
fn parent_fds_without_cloexec_are_not_visible() {
    let path = CString::new("/dev/null").unwrap();
    // SAFETY: open without O_CLOEXEC on purpose; owned right after.
    let fd = unsafe { OwnedFd::from_raw_fd(libc::open(path.as_ptr(), libc::O_RDONLY)) };
    let out = run(
        &Sandbox::strict(),
        &Command::from_argv(["/bin/ls", "/proc/self/fd"]),
    );
    let fds: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    assert!(
        fds.len() <= 4 && !fds.contains(&fd.as_raw_fd().to_string()) || fd.as_raw_fd() <= 3,
        "leaked fds: {fds:?} (ours is {})",
        fd.as_raw_fd()
    );
    assert!(
        fds.iter().all(|f| f.parse::<i32>().unwrap() <= 3),
        "{fds:?}"
    );
}

#[test]
fn landlock_denies_outside_rules() {
    let base = fresh_dir("landlock");
    let _cleanup = RemoveOnDrop(base.clone());
    let allowed = base.join("allowed");
    let outside = base.join("outside");
    fs::create_dir(&allowed).unwrap();
    fs::create_dir(&outside).unwrap();
    // Writable by the box's host identity (nobody, for a root caller): only
    // Landlock is to refuse the writes below, not the file permissions.
    fs::set_permissions(&allowed, fs::Permissions::from_mode(0o777)).unwrap();
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o777)).unwrap();
    let secret = outside.join("secret");
    fs::write(&secret, "canary").unwrap();
    // The box's /tmp is private: bind the test directory in (same inodes, so
    // the Landlock rules on the host paths cover it).
    let sb = Sandbox::strict()
        .bind(&base, &base)
        .landlock_exec("/usr")
        .landlock_read("/etc/ld.so.cache")
        .landlock_exec(work().probe.parent().unwrap())
        .landlock_write(&allowed);
    let probe = |args: &[&str]| {
        let out = run(&sb, &probe_cmd(args));
        result(&out)
    };
    let s = |p: &Path| p.to_str().unwrap().to_string();
    assert_eq!(probe(&["read", &s(&secret)]), (-1, libc::EACCES));
    assert_eq!(probe(&["read", "/etc/hostname"]), (-1, libc::EACCES));
    assert_eq!(probe(&["write", &s(&secret)]), (-1, libc::EACCES));
    assert_eq!(
        probe(&["write", &s(&outside.join("new"))]),
        (-1, libc::EACCES)
    );
    assert_eq!(probe(&["write", &s(&allowed.join("ok"))]), (5, 0));
    assert_eq!(fs::read_to_string(&secret).unwrap(), "canary");
    assert!(!outside.join("new").exists());
    assert_eq!(fs::read_to_string(allowed.join("ok")).unwrap(), "pwned");
    let r = sb.enforcement_report().unwrap();
    assert_eq!(r.layer("landlock").unwrap().enforcement, Enforcement::Full);
}

// ---------------------------------------------------------------- policies

#[test]
fn custom_policy_with_argument_rules() {
    let policy = SeccompPolicy::new(Action::Allow).rule_if(
        "socket",
        Action::KillProcess,
        [ArgCmp::eq(0, libc::AF_UNIX as u64).low32()],
    );
    let sb = Sandbox::new().seccomp(policy);
    let out = run(&sb, &probe_cmd(&["af_unix"]));
    assert_eq!(out.outcome.reason, Reason::SeccompViolation, "{out:?}");
    // Other families are untouched.
    let out = run(&sb, &probe_cmd(&["af_alg"]));
    assert!(out.outcome.success());
}

#[test]
fn default_deny_policy_compiles() {
    let p = SeccompPolicy::new(Action::EPERM)
        .allow("read")
        .allow("write")
        .allow("exit_group")
        .rule_if("openat", Action::Allow, [ArgCmp::eq(2, 0)]);
    assert!(p.check().unwrap() > 0);
    assert!(SeccompPolicy::default_profile().check().unwrap() > 0);
}

const OCI_PROFILE: &str = include_str!("data/oci-profile.json");

#[test]
fn oci_profile_of_our_own() {
    let policy = SeccompPolicy::from_oci_json(OCI_PROFILE).unwrap();
    assert_eq!(policy.default_action(), Action::Allow);
    let file = work().dir.join("oci-profile.json");
    fs::write(&file, OCI_PROFILE).unwrap();
    for sb in [
        Sandbox::new().seccomp_oci_json(OCI_PROFILE),
        Sandbox::new().seccomp_oci_file(&file),
    ] {
        let dir = work().dir.join(format!("mk-{}", rand_suffix()));
        let out = run(&sb, &probe_cmd(&["mkdir", dir.to_str().unwrap()]));
        assert_eq!(result(&out), (-1, libc::EACCES));
        assert!(!dir.exists());
        let out = run(&sb, &probe_cmd(&["af_packet"]));
        assert_eq!(result(&out), (-1, libc::EPERM));
        let out = run(&sb, &probe_cmd(&["af_unix"]));
        assert!(result(&out).0 >= 0);
        let out = run(&sb, &probe_cmd(&["acct"]));
        assert_eq!(out.outcome.reason, Reason::SeccompViolation, "{out:?}");
    }
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

fn invalid_field(json: &str) -> (String, String) {
    match Sandbox::new().seccomp_oci_json(json).validate() {
        Err(Error::InvalidConfig { field, reason }) => (field, reason),
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

#[test]
fn oci_unknown_syscall_name_skipped_and_reported() {
    // runc's semantics: a name no table knows is skipped, not an error.
    let json = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
        {"names":["read","frobnicate","listns"],"action":"SCMP_ACT_ALLOW"}]}"#;
    let p = SeccompPolicy::from_oci_json(json).unwrap();
    assert_eq!(p.skipped_syscalls(), ["frobnicate", "listns"]);
    assert!(p.rules().iter().any(|r| r.syscall == "read"));
    let r = Sandbox::new()
        .seccomp_oci_json(json)
        .enforcement_report()
        .unwrap();
    let l = r.layer("seccomp").unwrap();
    assert!(
        l.applied
            .contains("skipped, unknown here: frobnicate, listns"),
        "{l:?}"
    );
}

#[test]
fn oci_bad_action_rejected() {
    let (field, _) = invalid_field(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["read"],"action":"SCMP_ACT_EXPLODE"}]}"#,
    );
    assert!(field.contains("syscalls[0].action"), "{field}");
    let (field, _) = invalid_field(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#);
    assert!(field.contains("defaultAction"), "{field}");
    let (field, _) = invalid_field(r#"{"defaultAction":"SCMP_ACT_ALLOW","bogus":1}"#);
    assert!(field.contains("json"), "{field}");
    let (field, _) = invalid_field(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],
            "action":"SCMP_ACT_ERRNO","args":[{"index":7,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert!(field.contains("args[0]"), "{field}");
}

#[test]
fn oci_oversized_filter_rejected() {
    let rules: Vec<String> = (0..3000)
        .map(|i| {
            format!(
                r#"{{"names":["write"],"action":"SCMP_ACT_ERRNO","args":[{{"index":0,"value":{i},"op":"SCMP_CMP_EQ"}}]}}"#
            )
        })
        .collect();
    let json = format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{}]}}"#,
        rules.join(",")
    );
    let (field, reason) = invalid_field(&json);
    assert_eq!(field, "seccomp");
    assert!(reason.contains("BPF instructions"), "{reason}");
}

// ---------------------------------------------------------------- real programs

/// Python with multiprocessing (fork, spawn and forkserver pools) and
/// POSIX shared memory between processes.
const PY_MULTIPROCESSING: &str = r#"
import multiprocessing as mp
from multiprocessing import shared_memory
def sq(x): return x * x
def child(name):
    s = shared_memory.SharedMemory(name=name)
    s.buf[0] = 42
    s.close()
if __name__ == "__main__":
    for m in ("fork", "spawn", "forkserver"):
        with mp.get_context(m).Pool(2) as p:
            print(m, sum(p.map(sq, range(10))))
    shm = shared_memory.SharedMemory(create=True, size=16)
    pr = mp.Process(target=child, args=(shm.name,))
    pr.start(); pr.join()
    print("shm", shm.buf[0], pr.exitcode)
    shm.close(); shm.unlink()
"#;

/// Run a shell script in `sb` (the work directory bound in); its stdout.
fn script(sb: &Sandbox, text: &str) -> String {
    let out = run(sb, &Command::from_argv(["/bin/sh", "-ec", text]));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.outcome.success(),
        "{:?}\nstdout: {stdout}\nstderr: {}",
        out.outcome,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn python_script() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let p = work().dir.join("mp.py");
        fs::write(&p, PY_MULTIPROCESSING).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        p
    })
    .clone()
}

fn python_runs(sb: &Sandbox) {
    let py = python_script();
    let out = script(sb, &format!("/usr/bin/python3 {}", py.display()));
    assert_eq!(
        out, "fork 285\nspawn 285\nforkserver 285\nshm 42 0\n",
        "python under {sb:?}"
    );
}

fn gcc_runs(sb: &Sandbox) {
    let out = script(
        sb,
        "cd /tmp; printf '#include <stdio.h>\\nint main(void){puts(\"built\");return 0;}\\n' > h.c; \
         /usr/bin/gcc -O1 -o h h.c; ./h",
    );
    assert_eq!(out, "built\n");
}

fn git_runs(sb: &Sandbox) {
    let out = script(
        sb,
        "cd /tmp; export HOME=/tmp; /usr/bin/git init -q r; cd r; echo a > a; /usr/bin/git add a; \
         /usr/bin/git -c user.name=t -c user.email=t@t commit -qm first; \
         /usr/bin/git log --format=%s; /usr/bin/git status --short | wc -l",
    );
    assert_eq!(out, "first\n0\n");
}

#[test]
fn strict_box_runs_python_multiprocessing() {
    python_runs(&Sandbox::strict());
}

#[test]
fn strict_box_runs_gcc_and_git() {
    gcc_runs(&Sandbox::strict());
    git_runs(&Sandbox::strict());
}

#[test]
fn strict_box_runs_node() {
    let out = script(
        &Sandbox::strict(),
        r#"/usr/bin/node -e '
            const cp = require("child_process"), fs = require("fs");
            fs.writeFileSync("/tmp/n", "node");
            const w = require("worker_threads");
            new w.Worker("require(\"worker_threads\").parentPort.postMessage(6*7)", {eval: true})
              .on("message", m => {
                console.log(fs.readFileSync("/tmp/n", "utf8"), cp.execSync("echo child").toString().trim(), m);
                setTimeout(() => console.log("timer"), 1);
              });'"#,
    );
    assert_eq!(out, "node child 42\ntimer\n");
}

#[test]
fn strict_box_runs_coreutils_and_procps() {
    let out = script(
        &Sandbox::strict(),
        "cd /tmp; ls -la / >/dev/null; echo x > a; cp a b; mv b c; ln -s c l; readlink l; \
         sort /etc/passwd | sha256sum >/dev/null; date >/dev/null; stat c >/dev/null; \
         touch -d 2020-01-01 c; df /tmp >/dev/null; timeout 5 sleep 0.01; nproc >/dev/null; \
         dd if=/dev/zero of=z bs=1k count=4 2>/dev/null; chmod 600 c; install -m 644 c d; \
         du -s . >/dev/null; id -u >/dev/null; tail -c 2 a; \
         ps -e -o comm= | grep -c '^ps$'; top -b -n1 >/dev/null; free >/dev/null; \
         uptime >/dev/null; pgrep -x sh >/dev/null; kill -0 $$; echo done",
    );
    assert_eq!(out, "c\nx\n1\ndone\n");
}

#[test]
fn strict_box_runs_curl_against_a_server_inside() {
    // The server listens on the box's own loopback (its own network
    // namespace): nothing leaves the box. Readiness is polled a bounded
    // number of times; the assertion is on the content.
    let out = script(
        &Sandbox::strict(),
        "cd /tmp; echo served > f; \
         /usr/bin/python3 -m http.server 8765 --bind 127.0.0.1 >/dev/null 2>&1 & srv=$!; \
         i=0; until /usr/bin/curl -s -o /dev/null http://127.0.0.1:8765/f; do \
           i=$((i+1)); [ $i -lt 200 ] || exit 9; sleep 0.05; done; \
         /usr/bin/curl -sS http://127.0.0.1:8765/f; kill $srv",
    );
    assert_eq!(out, "served\n");
}

// ---------------------------------------------------------------- ecosystem profiles

/// Podman's profile as Debian installs it (package
/// golang-github-containers-common, pulled in by podman).
const PODMAN_PROFILE: &str = "/usr/share/containers/seccomp.json";

#[test]
fn podman_profile_as_installed_runs_python_gcc_git() {
    let path = Path::new(PODMAN_PROFILE);
    assert!(
        path.exists(),
        "{PODMAN_PROFILE} is missing: scripts/setup.sh installs podman, which brings it"
    );
    let sb = Sandbox::strict().seccomp_oci_file(path);
    let r = sb.enforcement_report().unwrap();
    let l = r.layer("seccomp").unwrap();
    assert_eq!(l.enforcement, Enforcement::Full, "{l:?}");
    // Its default errno is ENOSYS (defaultErrnoRet and the older
    // defaultErrno agree), so there is no separate answer for newer calls.
    assert!(l.applied.contains("default Errno(38)"), "{l:?}");
    // It lists i386 and x32 in archMap: killed here, and said so.
    assert!(l.applied.contains("SCMP_ARCH_X86"), "{l:?}");
    python_runs(&sb);
    gcc_runs(&sb);
    git_runs(&sb);
    // Its denials hold: the keyring is allowed there, but ptrace's
    // CAP_SYS_PTRACE-gated siblings (kcmp) are not, and the box has no
    // capability.
    let out = run(&sb, &probe_cmd(&["userfaultfd"]));
    assert_eq!(result(&out), (-1, libc::EPERM));
}

/// A profile in the shape of Docker's current one (moby/profiles
/// `seccomp/default.json`, Linux 6.13 names): an `archMap`, one big
/// allow-list (here: the default profile's own list, plus other
/// architectures' names and `listns`, a Linux 6.19 syscall the 6.18 table
/// does not know), and entries gated by architecture, capability and
/// kernel version, in Docker's order and forms.
fn docker_shaped_profile() -> String {
    use rsandbox::seccomp::profile;
    let mut names: Vec<&str> = profile::ALLOWED.to_vec();
    names.extend([
        "_llseek",
        "chown32",
        "socketcall",
        "getxattrat",
        "setxattrat",
    ]);
    names.extend(["listxattrat", "removexattrat", "listns"]);
    let socket_rules: Vec<serde_json::Value> = profile::ALLOWED_SOCKET_FAMILIES
        .iter()
        .map(|f| {
            serde_json::json!({"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": f, "op": "SCMP_CMP_EQ"}]})
        })
        .collect();
    let personality: Vec<serde_json::Value> = profile::SAFE_PERSONALITIES
        .iter()
        .map(|v| {
            serde_json::json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]})
        })
        .collect();
    let mut syscalls = vec![
        serde_json::json!({"names": names, "action": "SCMP_ACT_ALLOW"}),
        serde_json::json!({"names": ["process_vm_readv"], "action": "SCMP_ACT_ALLOW",
            "includes": {"minKernel": "99.0"}}),
        serde_json::json!({"names": ["adjtimex"], "action": "SCMP_ACT_ALLOW",
            "includes": {"arches": ["amd64", "arm64"], "minKernel": "4.8"}}),
        serde_json::json!({"names": ["sync_file_range2", "swapcontext", "set_mempolicy"],
            "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["ppc64le"]}}),
        serde_json::json!({"names": ["arm_fadvise64_64", "breakpoint", "cacheflush", "set_tls"],
            "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm", "arm64"]}}),
        serde_json::json!({"names": ["chroot"], "action": "SCMP_ACT_ALLOW",
            "includes": {"caps": ["CAP_SYS_CHROOT"]}}),
        serde_json::json!({"names": ["chroot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
            "excludes": {"caps": ["CAP_SYS_CHROOT"]}}),
        serde_json::json!({"names": ["bpf", "clone", "clone3", "mount", "setns", "unshare"],
            "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}),
        serde_json::json!({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 2114060288u64, "valueTwo": 0,
                      "op": "SCMP_CMP_MASKED_EQ"}],
            "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}}),
        serde_json::json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
            "excludes": {"caps": ["CAP_SYS_ADMIN"]}}),
    ];
    syscalls.extend(socket_rules);
    syscalls.extend(personality);
    serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64",
             "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
            {"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": null}
        ],
        "syscalls": syscalls
    })
    .to_string()
}

#[test]
fn docker_shaped_profile_runs_python_gcc_git() {
    let sb = Sandbox::strict().seccomp_oci_json(docker_shaped_profile());
    python_runs(&sb);
    gcc_runs(&sb);
    git_runs(&sb);
}

#[test]
fn docker_shaped_profile_gates_and_reports() {
    let json = docker_shaped_profile();
    let sb = Sandbox::strict().seccomp_oci_json(json.clone());
    let r = sb.enforcement_report().unwrap();
    let l = r.layer("seccomp").unwrap();
    assert!(l.applied.contains("skipped, unknown here: listns"), "{l:?}");
    assert!(
        l.applied.contains("newer than the profile Errno(38)"),
        "{l:?}"
    );
    assert!(l.applied.contains("SCMP_ARCH_X86, SCMP_ARCH_X32"), "{l:?}");
    let probe = |sb: &Sandbox, args: &[&str]| result(&run(sb, &probe_cmd(args)));
    // Arch- and kernel-gated: adjtimex applies (native arch, 4.8 <= this
    // kernel); set_mempolicy (ppc64le only) and process_vm_readv (needs
    // Linux 99) do not.
    assert_eq!(probe(&sb, &["adjtimex"]).1, 0);
    assert_eq!(probe(&sb, &["set_mempolicy"]), (-1, libc::EPERM));
    assert_eq!(probe(&sb, &["nr", "1000"]), (-1, libc::ENOSYS));
    // Capability-gated, against what the box keeps: without
    // CAP_SYS_CHROOT, the excludes entry answers EACCES; with it, chroot
    // reaches the kernel (ENOENT for the missing directory).
    assert_eq!(probe(&sb, &["chroot"]), (-1, libc::EACCES));
    let with_cap = Sandbox::strict()
        .keep_caps(["CAP_SYS_CHROOT"])
        .seccomp_oci_json(json);
    assert_eq!(probe(&with_cap, &["chroot"]), (-1, libc::ENOENT));
    // Namespaces stay shut: clone's flag check applies without
    // CAP_SYS_ADMIN, clone3 answers ENOSYS.
    assert_eq!(probe(&sb, &["clone_newuser"]), (-1, libc::EPERM));
    assert_eq!(probe(&sb, &["clone3"]), (-1, libc::ENOSYS));
    assert_eq!(probe(&sb, &["fork"]).0, 0);
}

#[test]
fn bad_profiles_are_typed_errors_naming_the_field() {
    let ok_call = r#"{"names":["read"],"action":"SCMP_ACT_ALLOW"}"#;
    let cases: &[(String, &str)] = &[
        (
            format!(
                r#"{{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
                "archMap":[{{"architecture":"SCMP_ARCH_X86_64"}}],"syscalls":[{ok_call}]}}"#
            ),
            "archMap",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","archMap":[{"architecture":"SCMP_ARCH_VAX"}]}"#
                .into(),
            "archMap[0].architecture",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","archMap":[{"architecture":"SCMP_ARCH_X86_64",
                "subArchitectures":["SCMP_ARCH_Z80"]}]}"#
                .into(),
            "archMap[0].subArchitectures[0]",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["i386"]}"#.into(),
            "architectures[0]",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrno":"EWHATEVER"}"#.into(),
            "defaultErrno",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"defaultErrno":"ENOSYS"}"#
                .into(),
            "defaultErrno",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":5000}"#.into(),
            "defaultErrnoRet",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],
                "action":"SCMP_ACT_ERRNO","errno":"EPERM","errnoRet":2}]}"#
                .into(),
            "syscalls[0].errno",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"name":"write",
                "action":"SCMP_ACT_ALLOW"}]}"#
                .into(),
            "syscalls[0].name",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":[],
                "action":"SCMP_ACT_ALLOW"}]}"#
                .into(),
            "syscalls[0].names",
        ),
        (
            format!(
                r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{ok_call},{{"names":["read"],
                "action":"SCMP_ACT_ALLOW","includes":{{"minKernel":"six"}}}}]}}"#
            ),
            "syscalls[1].includes.minKernel",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],
                "action":"SCMP_ACT_ALLOW","excludes":{"caps":["CAP_FLY"]}}]}"#
                .into(),
            "syscalls[0].excludes.caps[0]",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","flags":["SECCOMP_FILTER_FLAG_FAST"]}"#.into(),
            "flags[0]",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","listenerPath":"/run/x.sock"}"#.into(),
            "listenerPath",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],
                "action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_ABOUT"}]}]}"#
                .into(),
            "syscalls[0].args[0]",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":{}}"#.into(),
            "json",
        ),
    ];
    for (json, want) in cases {
        let (field, reason) = invalid_field(json);
        assert_eq!(
            field,
            format!("seccomp profile: {want}"),
            "{json}: {reason}"
        );
    }
}

// ---------------------------------------------------------------- preset and report

#[test]
fn strict_preset_runs_ordinary_programs() {
    let out = run(
        &Sandbox::strict(),
        &Command::from_argv(["/bin/sh", "-c", "echo a | cat; ls / >/dev/null && echo ok"]),
    );
    assert!(out.outcome.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\nok\n");
}

#[test]
fn strict_report_is_fully_enforced() {
    let r = Sandbox::strict().enforcement_report().unwrap();
    for layer in [
        "capabilities",
        "securebits",
        "no_new_privs",
        "seccomp",
        "namespace:user",
        "namespace:pid",
        "namespace:net",
    ] {
        assert_eq!(
            r.layer(layer).map(|l| l.enforcement),
            Some(Enforcement::Full),
            "{layer}: {r}"
        );
    }
    // Landlock: only the abstract Unix socket scope, where the kernel has
    // it (ABI 6).
    let landlock = r.layer("landlock").unwrap();
    if rsandbox::landlock::abi_version() >= 6 {
        assert_eq!(landlock.enforcement, Enforcement::Full, "{r}");
        assert_eq!(landlock.applied, "scope abstract-unix", "{r}");
    } else {
        assert_eq!(landlock.enforcement, Enforcement::NotRequested, "{r}");
    }
    assert!(r.fully_enforced(), "{r}");
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("\"enforcement\":\"full\""));
}

#[test]
fn dropping_caps_without_privilege_is_strict_or_reported() {
    let sb = Sandbox::new().drop_caps();
    if euid() == 0 {
        let r = sb.enforcement_report().unwrap();
        assert_eq!(
            r.layer("capabilities").unwrap().enforcement,
            Enforcement::Full
        );
        return;
    }
    // Unprivileged, no user namespace: the bounding set cannot be dropped.
    match sb.validate() {
        Err(Error::Privilege { privilege, .. }) => assert_eq!(privilege, "CAP_SETPCAP"),
        other => panic!("expected a privilege error, got {other:?}"),
    }
    let sb = sb.best_effort(true);
    let r = sb.enforcement_report().unwrap();
    assert_eq!(
        r.layer("capabilities").unwrap().enforcement,
        Enforcement::Partial
    );
    assert_eq!(
        r.layer("no_new_privs").unwrap().enforcement,
        Enforcement::Full
    );
    assert!(!r.fully_enforced());
    // And the box runs, with no_new_privs and no capabilities.
    let f = status_fields(&sb);
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("NoNewPrivs").as_deref(), Some("1"));
    assert_eq!(get("CapEff").as_deref(), Some("0000000000000000"));
}

#[test]
fn unknown_capability_rejected() {
    match Sandbox::strict().keep_caps(["CAP_FLY"]).validate() {
        Err(Error::InvalidConfig { field, .. }) => assert_eq!(field, "keep_caps"),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------- the nobody pass

#[test]
fn battery_as_nobody() {
    if std::env::var_os(NOBODY_ENV).is_some() {
        return; // we are the nobody pass
    }
    if euid() != 0 {
        eprintln!("battery_as_nobody: not root, so this whole run is already unprivileged");
        return;
    }
    let dir = fresh_dir("nobody");
    let _cleanup = RemoveOnDrop(dir.clone());
    let exe = dir.join("hardening-test");
    fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
    let suid = suid_probe_for_nobody(&dir);
    let out_path = dir.join("stdout");
    let err_path = dir.join("stderr");
    let mut child = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&exe)
        .args(["--test-threads=2"])
        .env(NOBODY_ENV, "1")
        .env(SUID_ENV, &suid)
        .env("TMPDIR", "/tmp")
        .current_dir(&dir)
        .stdin(std::process::Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    // A hung pass (e.g. a child stuck before exec) fails instead of hanging.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let stdout = fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = fs::read_to_string(&err_path).unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()),
        "the nobody pass failed ({status:?}):\n{stdout}\n{stderr}"
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("test result:"))
        .unwrap_or("");
    assert!(summary.contains(" 0 failed"), "{summary}");
    eprintln!("nobody pass: {summary}");
}

/// A root-owned setuid copy of the probe, for the nobody pass.
fn suid_probe_for_nobody(dir: &Path) -> PathBuf {
    let p = dir.join("suid-probe");
    copy_executable(&work().probe, &p, 0);
    p
}

#[test]
fn uid_switch_without_user_ns_drops_everything() {
    // Root switching to another uid without a user namespace: the bounding
    // set is dropped before the switch, the capabilities are kept across it
    // (PR_SET_KEEPCAPS) only to lock securebits, and none is left.
    if euid() != 0 {
        // Unprivileged, switching uid without a user namespace is refused
        // on its own (CAP_SETUID); dropping without privilege is covered by
        // dropping_caps_without_privilege_is_strict_or_reported.
        let e = Sandbox::new().uid(65534).gid(65534).drop_caps().validate();
        assert!(matches!(e, Err(Error::Privilege { .. })), "{e:?}");
        return;
    }
    let sb = Sandbox::new().uid(65534).gid(65534).drop_caps();
    sb.validate().unwrap();
    let r = sb.enforcement_report().unwrap();
    assert_eq!(
        r.layer("capabilities").unwrap().enforcement,
        Enforcement::Full
    );
    let f = status_fields(&sb);
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert!(get("Uid").is_some_and(|u| u.starts_with("65534")), "{f:?}");
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb", "CapBnd"] {
        assert_eq!(get(set).as_deref(), Some("0000000000000000"), "{set}");
    }
}
