//! The `rsandbox` command, run as a user would.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// The command under test: the one cargo built, or `RSANDBOX_TEST_BIN`
/// (`scripts/test.sh` runs these tests again on the static build of
/// `scripts/build-static.sh`).
fn bin() -> std::path::PathBuf {
    std::env::var_os("RSANDBOX_TEST_BIN")
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_rsandbox").into())
}

fn rsandbox(args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run rsandbox")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn is_root() -> bool {
    // SAFETY: trivial getter.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn exit_code_mirrors_the_payload() {
    for code in [0, 1, 7, 255] {
        let o = rsandbox(&["run", "--", "/bin/sh", "-c", &format!("exit {code}")]);
        assert_eq!(o.status.code(), Some(code), "{}", text(&o.stderr));
    }
    let o = rsandbox(&["run", "--", "/bin/sh", "-c", "kill -9 $$"]);
    assert_eq!(o.status.code(), Some(128 + 9));
}

#[test]
fn strict_by_default_relaxed_on_request() {
    let probe = "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\\t'; hostname";
    let o = rsandbox(&["run", "--hostname", "boxed", "--", "/bin/sh", "-c", probe]);
    let s = text(&o.stdout);
    assert!(o.status.success(), "{s}{}", text(&o.stderr));
    assert!(s.contains("CapEff:0000000000000000"), "{s}");
    assert!(s.contains("NoNewPrivs:1"), "{s}");
    assert!(s.contains("Seccomp:2"), "{s}");
    assert!(s.contains("boxed"), "{s}");
    let o = rsandbox(&["run", "--relaxed", "--", "/bin/sh", "-c", probe]);
    let s = text(&o.stdout);
    assert!(s.contains("Seccomp:0"), "{s}");
}

#[test]
fn json_prints_the_outcome_and_enforcement() {
    let o = rsandbox(&["run", "--json", "--", "/bin/sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3));
    let s = text(&o.stdout);
    let v: serde_json::Value = serde_json::from_str(s.trim()).expect("JSON outcome");
    assert_eq!(v["reason"], "exited");
    assert_eq!(v["status"]["exited"], 3);
    let layers = v["enforcement"]["layers"].as_array().unwrap();
    assert!(layers
        .iter()
        .any(|l| l["layer"] == "seccomp" && l["enforcement"] == "full"));
}

#[test]
fn timeout_and_memory_flags() {
    let o = rsandbox(&[
        "run",
        "--timeout",
        "0.3",
        "--json",
        "--",
        "/bin/sleep",
        "100",
    ]);
    let v: serde_json::Value = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    assert_eq!(v["reason"], "wall_time_limit");
    assert_eq!(o.status.code(), Some(128 + 9));
}

#[test]
fn bad_input_is_a_clear_error() {
    for (args, needle) in [
        (
            vec!["run", "--timeout", "0", "--", "/bin/true"],
            "--timeout",
        ),
        (
            vec!["run", "--unshare", "bogus", "--", "/bin/true"],
            "bogus",
        ),
        (
            vec!["run", "--memory", "12Q", "--", "/bin/true"],
            "--memory",
        ),
        (
            vec!["run", "--", "no-such-program-xyz"],
            "program not found",
        ),
        (
            vec!["run", "--relaxed", "--cwd", "rel", "--", "/bin/true"],
            "cwd",
        ),
    ] {
        let o = rsandbox(&args);
        assert_eq!(o.status.code(), Some(125), "{args:?}");
        let e = text(&o.stderr);
        assert!(e.contains(needle), "{args:?}: {e}");
    }
}

#[test]
fn check_reports_the_machine() {
    let o = rsandbox(&["check", "--json"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["kernel"].as_str().is_some_and(|k| !k.is_empty()));
    assert!(v["namespaces"].as_array().is_some_and(|n| !n.is_empty()));
    assert!(v["cgroup_layout"].is_string());
    // This host (and the VM) can enforce device rules as root one way or
    // the other; a caller without the privilege is told why not.
    let dev = v["device_rules"].as_str().unwrap();
    let v1 = std::path::Path::new("/sys/fs/cgroup/devices/devices.allow").exists();
    match (v1, is_root()) {
        (true, _) => assert_eq!(dev, "cgroup v1 devices"),
        (false, true) => assert_eq!(dev, "eBPF (cgroup v2)"),
        (false, false) => assert!(
            dev.starts_with("no: ") && dev.contains("missing privilege CAP_SYS_ADMIN"),
            "{dev}"
        ),
    }
}

/// The review's F1 and F3 through the command: a cwd through a process fd is
/// refused with a message naming the field, and PID 1 of a strict box gives
/// the payload nothing of the `rsandbox` process that made it.
#[test]
fn escapes_of_the_review_are_refused() {
    for n in [3, 5, 38] {
        let cwd = format!("/proc/self/fd/{n}");
        let o = rsandbox(&[
            "run",
            "--cwd",
            &cwd,
            "--",
            "/bin/sh",
            "-c",
            "cat ../proc/1/comm",
        ]);
        let e = text(&o.stderr);
        assert!(
            !o.status.success(),
            "ran with cwd {cwd}: {}",
            text(&o.stdout)
        );
        assert!(e.contains("cwd"), "{e}");
    }
    let o = Command::new(bin())
        .env("SECRET_TOKEN", "hunter2")
        .args(["run", "--", "/bin/sh", "-c"])
        .arg("cat /proc/1/environ; cat /proc/1/mem; echo comm=$(cat /proc/1/comm); true")
        .output()
        .unwrap();
    let s = text(&o.stdout);
    assert!(o.status.success(), "{s}{}", text(&o.stderr));
    assert!(!s.contains("hunter2"), "{s}");
    assert!(s.contains("comm=rsandbox-init"), "{s}");
}

#[test]
fn egress_flags_refuse_and_report_in_json() {
    // A resolver that should never be asked: the only name the payload
    // looks up is denied.
    let upstream = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    upstream.set_nonblocking(true).unwrap();
    let resolver = upstream.local_addr().unwrap().to_string();
    let o = rsandbox(&[
        "run",
        "--allow-domain",
        "ok.test",
        "--allow-cidr",
        "10.1.2.0/24:443",
        "--egress-resolver",
        &resolver,
        "--json",
        "--",
        "/bin/sh",
        "-c",
        "getent hosts no.test; echo rc=$?",
    ]);
    let out = text(&o.stdout);
    assert!(out.starts_with("rc=2\n"), "{out}\n{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let vs = v["violations"]
        .as_array()
        .expect("violations in the JSON outcome");
    assert!(
        vs.iter()
            .any(|x| x["kind"] == "dns" && x["name"] == "no.test"),
        "{vs:?}"
    );
    let mut buf = [0u8; 512];
    assert!(
        upstream.recv(&mut buf).is_err(),
        "the denied name went upstream"
    );

    let o = rsandbox(&["run", "--allow-domain", "*", "--", "/bin/true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        text(&o.stderr).contains("egress.allow_domain"),
        "{}",
        text(&o.stderr)
    );
    let o = rsandbox(&[
        "run",
        "--secret",
        "NOPE_UNSET_VAR:a.test:X-Key",
        "--allow-domain",
        "a.test",
        "--",
        "/bin/true",
    ]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        text(&o.stderr).contains("NOPE_UNSET_VAR"),
        "{}",
        text(&o.stderr)
    );
}

/// A root caller's box is `nobody` to the host by default: a root-only file
/// bound in is unreadable, the host's secrets are masked; `--host-identity`
/// gives today's host-root box back, and `--json` names the identity.
#[test]
fn root_caller_box_is_unprivileged_unless_host_identity() {
    if !is_root() {
        eprintln!("skipped: the unprivileged identity is for root callers");
        return;
    }
    let dir = std::env::temp_dir().join(format!("rsandbox-cli-identity-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let key = dir.join("key");
    std::fs::write(&key, "PRIVATE\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let bind = format!("{}:/s", dir.display());
    let probe = "id -u; cat /s/key; wc -c </etc/shadow; ls -A /root";
    let o = rsandbox(&["run", "--ro-bind", &bind, "--", "/bin/sh", "-c", probe]);
    let strict_out = text(&o.stdout);
    let strict_err = text(&o.stderr);
    let o = rsandbox(&[
        "run",
        "--host-identity",
        "--ro-bind",
        &bind,
        "--",
        "/bin/sh",
        "-c",
        probe,
    ]);
    let host_out = text(&o.stdout);
    let json = rsandbox(&["run", "--json", "--", "/bin/true"]);
    std::fs::remove_dir_all(&dir).unwrap();

    assert_eq!(strict_out, "0\n0\n", "{strict_err}");
    assert!(strict_err.contains("Permission denied"), "{strict_err}");
    // Host root reads the root-only file; the view still masks /etc/shadow
    // and /root.
    assert_eq!(host_out, "0\nPRIVATE\n0\n", "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&json.stdout).trim()).unwrap();
    let layers = v["enforcement"]["layers"].as_array().unwrap();
    let id = layers.iter().find(|l| l["layer"] == "identity").unwrap();
    assert_eq!(id["requested"], "unprivileged");
    assert!(
        id["applied"].as_str().unwrap().contains("0 65534 1"),
        "{id}"
    );
}
