//! Services in the box: profiles as files, graceful stop, socket
//! activation, log streaming and published ports.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rsandbox::{Command, Error, Reason, Sandbox, Stdio};

/// A description touching every part of the schema.
fn rich() -> Sandbox {
    Sandbox::new()
        .user_ns()
        .pid_ns()
        .mount_ns()
        .uts_ns()
        .net_ns()
        .hostname("box")
        .uid(0)
        .gid(0)
        .env("GREETING", "hello")
        .env("EMPTY", "")
        .env_remove("HOME")
        .cwd("/tmp")
        .stdin(Stdio::Null)
        .stdout(Stdio::Pipe)
        .stderr(Stdio::Append("/tmp/log".into()))
        .kill_on_drop(true)
        .die_with_parent(false)
        .rootfs("/")
        .tmpfs("/tmp", 1 << 20)
        .ro_bind("/usr", "/usr")
        .file("/etc/motd", b"hi".to_vec())
        .timeout(Duration::from_millis(1500))
        .grace(Duration::from_millis(250))
        .memory_limit(64 << 20)
        .pids_limit(32)
        .rlimit_nofile(256)
        .seccomp_default()
        .drop_caps()
        .no_new_privs(true)
        .landlock_read("/usr")
        .landlock_write("/tmp")
        .landlock_bind_port(8080)
}

#[test]
fn profile_roundtrips_json() {
    for sb in [Sandbox::new(), rich(), Sandbox::strict()] {
        let json = sb.to_json().unwrap();
        let back = Sandbox::from_json(&json).unwrap();
        assert_eq!(back, sb, "JSON:\n{json}");
        assert_eq!(back.to_json().unwrap(), json);
    }
}

#[test]
fn profile_roundtrips_toml() {
    for sb in [Sandbox::new(), rich(), Sandbox::strict()] {
        let toml = sb.to_toml().unwrap();
        let back = Sandbox::from_toml(&toml).unwrap();
        assert_eq!(back, sb, "TOML:\n{toml}");
        assert_eq!(back.to_toml().unwrap(), toml);
    }
}

#[test]
fn profile_files_by_extension() {
    let dir = common::TempDir::new("profile");
    let sb = rich();
    for name in ["box.json", "box.toml"] {
        let p = dir.path().join(name);
        sb.save(&p).unwrap();
        assert_eq!(Sandbox::load(&p).unwrap(), sb, "{name}");
    }
    let e = Sandbox::load(dir.path().join("box.yaml")).unwrap_err();
    assert!(e.to_string().contains(".json or .toml"), "{e}");
}

fn assert_names(e: Error, key: &str) {
    let msg = e.to_string();
    assert!(
        matches!(e, Error::InvalidConfig { .. }),
        "not an InvalidConfig: {msg}"
    );
    assert!(msg.contains(key), "error does not name {key:?}: {msg}");
}

#[test]
fn bad_profile_names_the_key() {
    assert_names(
        Sandbox::from_json(r#"{"hostnme": "x"}"#).unwrap_err(),
        "hostnme",
    );
    assert_names(
        Sandbox::from_json(r#"{"limits": {"memory_limitt": 1}}"#).unwrap_err(),
        "memory_limitt",
    );
    assert_names(
        Sandbox::from_toml("hostnme = \"x\"\n").unwrap_err(),
        "hostnme",
    );
    assert_names(
        Sandbox::from_toml("[limits]\nmemory_limitt = 1\n").unwrap_err(),
        "memory_limitt",
    );
    assert_names(
        Sandbox::from_toml("[caps]\nkeep = 3\nbogus_cap_key = true\n").unwrap_err(),
        "bogus_cap_key",
    );
    // A wrong type names the key too.
    assert_names(
        Sandbox::from_toml("hostname = 3\n").unwrap_err(),
        "hostname",
    );
    let dir = common::TempDir::new("badprofile");
    let p = dir.path().join("bad.toml");
    std::fs::write(&p, "namespaces = [\"pid\"]\nnetwork = true\n").unwrap();
    let e = Sandbox::load(&p).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("network") && msg.contains("bad.toml"), "{msg}");
}

fn sh(script: &str) -> Command {
    Command::from_argv(["/bin/sh", "-c", script])
}

/// Spawn `script` with stdout piped and wait for its first line ("ready").
fn spawn_ready(sb: &Sandbox, script: &str) -> rsandbox::Child {
    use std::io::BufRead;
    let mut child = sb
        .clone()
        .stdout(Stdio::Pipe)
        .stdin(Stdio::Null)
        .spawn(&sh(script))
        .expect("spawn");
    let mut r = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    // Keep the pipe open (held by a leaked reader) so a later write from
    // the trap does not die of SIGPIPE.
    std::mem::forget(r);
    child
}

const HANDLES_TERM: &str =
    "trap 'echo bye; exit 7' TERM; echo ready; while :; do sleep 0.05; done";
const IGNORES_TERM: &str = "trap '' TERM; echo ready; while :; do sleep 0.05; done";

fn stop_scenarios(sb: Sandbox) {
    let grace = Duration::from_millis(1500);
    // Handles SIGTERM: exits on its own, well within the grace period.
    let mut child = spawn_ready(&sb, HANDLES_TERM);
    let t = Instant::now();
    let o = child.stop(grace).unwrap();
    assert!(t.elapsed() < grace, "took {:?}", t.elapsed());
    assert_eq!(o.exit_code(), Some(7), "{o:?}");
    assert_eq!(o.reason, Reason::Exited);

    // Ignores SIGTERM: killed when the grace period ends, not before.
    let mut child = spawn_ready(&sb, IGNORES_TERM);
    let t = Instant::now();
    let o = child.stop(grace).unwrap();
    let took = t.elapsed();
    assert!(took >= grace && took < grace + Duration::from_secs(3), "took {took:?}");
    assert_eq!(o.signal(), Some(libc::SIGKILL), "{o:?}");
    assert_eq!(o.reason, Reason::Killed);

    // The wall-clock limit with a grace takes the same path.
    let mut child = spawn_ready(
        &sb.clone().timeout(Duration::from_millis(300)).grace(grace),
        HANDLES_TERM,
    );
    let o = child.wait().unwrap();
    assert_eq!(o.reason, Reason::WallTimeLimit, "{o:?}");
    assert_eq!(o.exit_code(), Some(7), "{o:?}");
}

both!(graceful_stop_with_pid_ns, || {
    stop_scenarios(Sandbox::new().user_ns().pid_ns())
});

both!(graceful_stop_without_pid_ns, || {
    stop_scenarios(Sandbox::new().user_ns())
});
