//! Honest degradation (issue 21 item 4): `rsandbox` run inside a strict
//! rsandbox box, whose seccomp filter refuses every namespace-creating
//! clone, as a locked-down container does. The inner best-effort box runs
//! with what remains and its report names what was lost; the inner strict
//! box fails with the reason and the fix; `check --verify` says what held.
//! As the caller (root here) and as `nobody`, from a copy of the binary in
//! a fresh 0755 directory bound read-only into the outer box.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

const NOBODY: u32 = 65534;

/// A fresh 0755 directory holding a copy of `rsandbox`, removed when dropped.
struct Bin(PathBuf);

impl Bin {
    fn new() -> Bin {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rsandbox-degrade-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_rsandbox"), dir.join("rsandbox")).unwrap();
        Bin(dir)
    }

    fn exe(&self) -> String {
        self.0.join("rsandbox").display().to_string()
    }

    /// `rsandbox ARGS` as `uid`, outside any box.
    fn run(&self, uid: Option<u32>, args: &[&str]) -> Output {
        let mut c = Command::new(self.exe());
        c.args(args).current_dir("/");
        if let Some(u) = uid {
            c.uid(u).gid(u);
        }
        // Another test's fork may briefly hold a write fd of its own copy
        // being made (ETXTBSY until that child execs): try again.
        for _ in 0..100 {
            match c.output() {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                r => return r.expect("run rsandbox"),
            }
        }
        panic!("{} stayed busy (ETXTBSY)", self.exe())
    }

    /// `rsandbox ARGS` inside a strict outer box, itself run as `uid`.
    fn nested(&self, uid: Option<u32>, args: &[&str]) -> Output {
        let exe = self.exe();
        let mut inner = vec![exe.as_str()];
        inner.extend_from_slice(args);
        self.outer(uid, &inner)
    }

    /// `ARGV` inside a strict outer box (this directory bound read-only),
    /// itself run as `uid`.
    fn outer(&self, uid: Option<u32>, argv: &[&str]) -> Output {
        let dir = self.0.display().to_string();
        let bind = format!("{dir}:{dir}");
        let mut outer = vec!["run", "--ro-bind", &bind, "--"];
        outer.extend_from_slice(argv);
        self.run(uid, &outer)
    }
}

impl Drop for Bin {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn is_root() -> bool {
    // SAFETY: trivial getter.
    unsafe { libc::geteuid() == 0 }
}

/// The caller, and `nobody` when the caller is root.
fn users() -> Vec<Option<u32>> {
    let mut u = vec![None];
    if is_root() {
        u.push(Some(NOBODY));
    }
    u
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The report's entry for `layer`.
fn layer<'a>(report: &'a Value, layer: &str) -> &'a Value {
    report["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .find(|l| l["layer"] == layer)
        .unwrap_or_else(|| panic!("no {layer} in {report}"))
}

const NAMESPACES: [&str; 7] = ["user", "pid", "mnt", "uts", "ipc", "net", "cgroup"];

/// What the inner payload sees of itself: its user namespace, and its
/// no_new_privs and seccomp state.
const PROBE: &str = "echo inner=$(readlink /proc/self/ns/user); \
     grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status";

#[test]
fn nested_best_effort_box_runs_and_names_each_lost_protection() {
    let bin = Bin::new();
    for uid in users() {
        // The outer box's shell says which user namespace it is in, then
        // runs the inner rsandbox.
        let script = format!(
            "echo outer=$(readlink /proc/self/ns/user); \
             exec {} run --best-effort --json -- /bin/sh -c \"{PROBE}\"",
            bin.exe()
        );
        let o = bin.outer(uid, &["/bin/sh", "-c", &script]);
        let (out, err) = (text(&o.stdout), text(&o.stderr));
        assert_eq!(o.status.code(), Some(0), "uid {uid:?}: {out}{err}");
        // From inside: no user namespace of its own, but seccomp and
        // no_new_privs held.
        let seen = |k: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap_or_else(|| panic!("no {k} in {out}"))
        };
        assert!(seen("outer=").starts_with("user:["), "{out}");
        assert_eq!(
            seen("inner="),
            seen("outer="),
            "uid {uid:?}: the payload has a user namespace of its own"
        );
        assert!(out.contains("NoNewPrivs:\t1"), "{out}");
        assert!(out.contains("Seccomp:\t2"), "{out}");
        // The report names every namespace lost, with the reason.
        let json: Value = serde_json::from_str(out.lines().last().unwrap()).expect("json outcome");
        let report = &json["enforcement"];
        for ns in NAMESPACES {
            let l = layer(report, &format!("namespace:{ns}"));
            assert_eq!(l["enforcement"], "not_enforced", "{l}");
            let applied = l["applied"].as_str().unwrap();
            assert!(
                applied.starts_with("none: user namespaces refused (EPERM)")
                    && applied.contains("seccomp filter"),
                "{applied}"
            );
        }
        assert_eq!(layer(report, "filesystem")["enforcement"], "not_enforced");
        for kept in ["seccomp", "no_new_privs"] {
            assert_eq!(layer(report, kept)["enforcement"], "full", "{report}");
        }
    }
}

#[test]
fn nested_strict_box_fails_with_the_reason_and_the_fix() {
    let bin = Bin::new();
    for uid in users() {
        let o = bin.nested(uid, &["run", "--", "/bin/echo", "ran"]);
        let (out, err) = (text(&o.stdout), text(&o.stderr));
        assert_eq!(o.status.code(), Some(125), "uid {uid:?}: {out}{err}");
        assert!(!out.contains("ran"), "{out}");
        for part in [
            "missing privilege user namespaces",
            "user namespaces refused (EPERM)",
            "seccomp filter on this process",
            "Fix: allow user namespaces",
            "--best-effort",
        ] {
            assert!(err.contains(part), "uid {uid:?}: no {part:?} in {err}");
        }
    }
}

#[test]
fn check_verify_says_what_held_here_and_nested_and_check_says_why() {
    let bin = Bin::new();
    for uid in users() {
        // Here every layer of the strict box holds.
        let o = bin.run(uid, &["check", "--verify"]);
        let out = text(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{out}{}", text(&o.stderr));
        assert!(out.contains("verdict: every requested layer held"), "{out}");
        assert!(
            out.contains("own namespaces: user pid mnt uts ipc net cgroup"),
            "{out}"
        );
        assert!(!out.contains("CONTRADICTION"), "{out}");

        // Nested: the namespaces are lost, and said to be, from inside too.
        let o = bin.nested(uid, &["check", "--verify", "--json"]);
        let out = text(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{out}{}", text(&o.stderr));
        let v: Value = serde_json::from_str(&out).expect("json verification");
        assert_eq!(v["new_namespaces"], Value::Array(vec![]), "{v}");
        assert_eq!(v["contradictions"], Value::Array(vec![]), "{v}");
        let lost: Vec<&str> = v["lost"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for ns in NAMESPACES {
            assert!(
                lost.contains(&format!("namespace:{ns}").as_str()),
                "{lost:?}"
            );
        }
        assert!(lost.contains(&"filesystem"), "{lost:?}");
        assert_eq!(v["probe"]["NoNewPrivs"], "1", "{v}");
        assert_eq!(v["probe"]["Seccomp"], "2", "{v}");

        let o = bin.nested(uid, &["check", "--verify"]);
        let out = text(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{out}");
        assert!(out.contains("own namespaces: none"), "{out}");
        assert!(out.contains("verdict: lost namespace:user"), "{out}");

        // Plain `check` says why there are no user namespaces.
        let o = bin.nested(uid, &["check"]);
        let out = text(&o.stdout);
        assert!(out.contains("user namespaces       no"), "{out}");
        let why = out
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("why not"))
            .unwrap_or_else(|| panic!("no reason in {out}"));
        assert!(
            why.contains("user namespaces refused (EPERM): a seccomp filter"),
            "{why}"
        );
    }
}

/// `user.max_user_namespaces` is per user namespace: a namespace of the
/// test's own (`unshare -r`) sets it to 0 for itself
/// and what it makes, never for the host (checked below). Its root holds
/// `CAP_SYS_ADMIN` there, as a root caller on a host with
/// `user.max_user_namespaces=0` does: the best-effort box loses the user
/// namespace alone and keeps the others; the strict one names the sysctl.
#[test]
fn without_user_namespaces_a_capable_caller_keeps_the_other_namespaces() {
    let bin = Bin::new();
    let host_max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap();
    for uid in users() {
        let script = format!(
            "echo 0 > /proc/sys/user/max_user_namespaces || exit 99; \
             echo outer=$(readlink /proc/self/ns/user); \
             {exe} run --best-effort --json -- /bin/sh -c \
               'echo inner=$(readlink /proc/self/ns/user) pid=$$; \
                grep -E \"^(CapEff|NoNewPrivs|Seccomp):\" /proc/self/status' || exit; \
             {exe} run -- /bin/echo ran",
            exe = bin.exe()
        );
        let mut c = Command::new("unshare");
        c.args(["-r", "/bin/sh", "-c", &script]).current_dir("/");
        if let Some(u) = uid {
            c.uid(u).gid(u);
        }
        let o = c.output().expect("run unshare");
        let (out, err) = (text(&o.stdout), text(&o.stderr));
        // The strict box's failure is the script's status.
        assert_eq!(o.status.code(), Some(125), "uid {uid:?}: {out}{err}");
        let seen = |k: &str| {
            out.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .unwrap_or_else(|| panic!("no {k} in {out}"))
        };
        assert_eq!(seen("inner="), seen("outer="), "{out}");
        // Its own PID namespace (under the box's init) and no capability.
        assert_eq!(seen("pid="), "2", "{out}");
        assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
        assert!(
            out.contains("NoNewPrivs:\t1") && out.contains("Seccomp:\t2"),
            "{out}"
        );
        let json: Value = out
            .lines()
            .find_map(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| panic!("no JSON outcome in {out}"));
        let report = &json["enforcement"];
        let user = layer(report, "namespace:user");
        assert_eq!(user["enforcement"], "not_enforced", "{user}");
        assert_eq!(
            user["applied"],
            "none: user namespaces refused (ENOSPC): user.max_user_namespaces=0"
        );
        for ns in &NAMESPACES[1..] {
            let l = layer(report, &format!("namespace:{ns}"));
            assert_eq!(l["enforcement"], "full", "{l}");
        }
        for kept in ["capabilities", "securebits", "no_new_privs", "seccomp"] {
            assert_eq!(layer(report, kept)["enforcement"], "full", "{report}");
        }
        assert!(!out.contains("ran"), "{out}");
        assert!(
            err.contains("user namespaces refused (ENOSPC): user.max_user_namespaces=0. Fix:"),
            "{err}"
        );
    }
    let after = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap();
    assert_eq!(after, host_max, "the host's sysctl changed");
}

/// A root caller that keeps its capabilities (a `--relaxed` outer box)
/// under a seccomp filter that refuses every namespace: the best-effort
/// box is refused twice (with the user namespace, then without it) and
/// runs with none, as host uid 65534 with every capability dropped and
/// securebits locked; each refusal is named in the report.
#[test]
fn capable_root_under_a_filter_runs_as_nobody_without_namespaces() {
    if !is_root() {
        eprintln!("needs root: a capable caller (runs as nobody in the other tests)");
        return;
    }
    let bin = Bin::new();
    let exe = bin.exe();
    let o = bin.run(
        None,
        &[
            "run",
            "--relaxed",
            "--seccomp",
            "default",
            "--",
            &exe,
            "run",
            "--best-effort",
            "--json",
            "--",
            "/bin/sh",
            "-c",
            "grep -E '^(Uid|CapEff):' /proc/self/status",
        ],
    );
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("Uid:\t65534\t65534"), "{out}");
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
    let json: Value = serde_json::from_str(out.lines().last().unwrap()).expect("json outcome");
    let report = &json["enforcement"];
    let user = layer(report, "namespace:user")["applied"].as_str().unwrap();
    assert!(
        user.starts_with("none: user namespaces refused (EPERM): a seccomp filter"),
        "{user}"
    );
    for ns in &NAMESPACES[1..] {
        let l = layer(report, &format!("namespace:{ns}"));
        let applied = l["applied"].as_str().unwrap();
        assert!(
            applied.starts_with("none: namespaces refused (EPERM): a seccomp filter"),
            "{l}"
        );
    }
    let id = layer(report, "identity");
    assert_eq!(id["enforcement"], "partial", "{id}");
    for kept in ["capabilities", "securebits", "no_new_privs", "seccomp"] {
        assert_eq!(layer(report, kept)["enforcement"], "full", "{report}");
    }
}
