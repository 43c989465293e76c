//! Services in the box: profiles as files, graceful stop, socket
//! activation, log streaming and published ports.

mod common;

use std::time::{Duration, Instant};

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
        .listen_fd(5)
        .publish(([127, 0, 0, 1], 8080).into(), 80)
        .publish_listener(6, 443)
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

/// The examples in docs/profile.md parse, and the TOML and JSON ones agree.
#[test]
fn documented_examples_parse() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/profile.md"
    ))
    .unwrap();
    let block = |lang: &str| {
        let start = doc.find(&format!("```{lang}\n")).unwrap() + lang.len() + 4;
        let len = doc[start..].find("```").unwrap();
        doc[start..start + len].to_string()
    };
    let t = Sandbox::from_toml(&block("toml")).unwrap();
    let j = Sandbox::from_json(&block("json")).unwrap();
    assert_eq!(t, j);
    assert!(t.has_ns(rsandbox::Namespace::Net));
    let e = t.egress_policy().expect("the example's egress table");
    assert_eq!(e.domains(), ["pypi.org", "*.pythonhosted.org:443"]);
    e.validate().unwrap();
    assert_eq!(Sandbox::from_toml(&t.to_toml().unwrap()).unwrap(), t);
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
    spawn_cmd_ready(sb, &sh(script))
}

/// Spawn `cmd` with stdout piped and wait for its first line ("ready").
fn spawn_cmd_ready(sb: &Sandbox, cmd: &Command) -> rsandbox::Child {
    use std::io::BufRead;
    let mut child = sb
        .clone()
        .stdout(Stdio::Pipe)
        .stdin(Stdio::Null)
        .spawn(cmd)
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

const HANDLES_TERM: &str = "trap 'echo bye; exit 7' TERM; echo ready; while :; do sleep 0.05; done";
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
    assert!(
        took >= grace && took < grace + Duration::from_secs(3),
        "took {took:?}"
    );
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

// ------------------------------------------------------ socket activation

/// A tiny HTTP server: serves on the inherited fd 3 when `LISTEN_FDS` is set
/// (checking `LISTEN_PID` is its own pid), else binds 127.0.0.1:PORT in the
/// box. Replies with what it sees: its pid and its network interfaces.
const SERVER: &str = r#"
import os, socket, sys, http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ifs = sorted(name for _, name in socket.if_nameindex())
        body = ('pid=%d listen_pid=%s listen_fds=%s ifs=%s\n' % (os.getpid(),
                os.environ.get('LISTEN_PID'), os.environ.get('LISTEN_FDS'), ','.join(ifs))).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
if os.environ.get('LISTEN_FDS'):
    assert os.environ['LISTEN_PID'] == str(os.getpid()), os.environ['LISTEN_PID']
    srv = http.server.HTTPServer(('127.0.0.1', 0), H, bind_and_activate=False)
    srv.socket.close()
    srv.socket = socket.socket(fileno=3)
else:
    srv = http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H)
print('ready', flush=True)
srv.serve_forever()
"#;

fn server(port: u16) -> Command {
    Command::from_argv(["/usr/bin/python3", "-c", SERVER, &port.to_string()])
}

/// GET / from `addr` on the host; the body, or the connect error.
fn http_get(addr: std::net::SocketAddr) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    assert!(resp.starts_with("HTTP/1.0 200"), "{resp}");
    Ok(resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

fn loopback_listener() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

/// A free port on the host's loopback (nothing listens on it afterwards).
fn free_port() -> u16 {
    loopback_listener().local_addr().unwrap().port()
}

fn box_with_private_net() -> Sandbox {
    Sandbox::new().user_ns().pid_ns().net_ns().mount_ns()
}

both!(socket_activation_serves_from_an_empty_network, || {
    use std::os::fd::AsRawFd;
    let l = loopback_listener();
    let addr = l.local_addr().unwrap();
    let sb = box_with_private_net().listen_fd(l.as_raw_fd());
    let mut child = spawn_cmd_ready(&sb, &server(0));
    // The host still holds the socket: close ours so only the box accepts.
    drop(l);
    let body = http_get(addr).unwrap();
    // LISTEN_PID is the payload's pid inside the box (the init is 1).
    assert!(
        body.starts_with("pid=2 listen_pid=2 listen_fds=1 "),
        "{body}"
    );
    // The server's own network has only loopback.
    assert!(body.trim_end().ends_with("ifs=lo"), "{body}");
    // Nothing else reaches it: no other host port answers for the box.
    let o = child.stop(Duration::from_secs(2)).unwrap();
    assert!(matches!(o.reason, Reason::Killed | Reason::Exited), "{o:?}");
    assert!(http_get(addr).is_err(), "still served after stop");
});

both!(
    socket_activation_without_pid_ns_sets_the_payload_pid,
    || {
        use std::os::fd::AsRawFd;
        let l = loopback_listener();
        let addr = l.local_addr().unwrap();
        let sb = Sandbox::new().user_ns().net_ns().listen_fd(l.as_raw_fd());
        let mut child = spawn_cmd_ready(&sb, &server(0));
        drop(l);
        let body = http_get(addr).unwrap();
        let want = format!("pid={0} listen_pid={0} listen_fds=1 ", child.pid());
        assert!(body.starts_with(&want), "{body}");
        child.stop(Duration::from_secs(2)).unwrap();
    }
);

#[test]
fn listen_fd_must_be_a_socket_and_not_collide_with_pass_fd() {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open("/dev/null").unwrap();
    let e = Sandbox::new()
        .listen_fd(f.as_raw_fd())
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("listen_fd"), "{e}");
    let l = loopback_listener();
    let e = Sandbox::new()
        .listen_fd(l.as_raw_fd())
        .pass_fd(f.as_raw_fd(), 3)
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("target fd 3"), "{e}");
}

// ---------------------------------------------------------- log streaming

use rsandbox::{LogStream, Outcome};

fn piped(sb: Sandbox) -> Sandbox {
    sb.stdin(Stdio::Null)
        .stdout(Stdio::Pipe)
        .stderr(Stdio::Pipe)
}

fn proc_status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let l = s.lines().find(|l| l.starts_with(field)).unwrap();
    l.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Stream `script`'s output through the callback; (outcome, stdout bytes,
/// stdout lines, stderr bytes, stderr lines).
fn stream_counts(sb: &Sandbox, script: &str, max_line: usize) -> (Outcome, u64, u64, u64, u64) {
    let mut child = piped(sb.clone()).spawn(&sh(script)).unwrap();
    let mut c = [0u64; 4];
    let o = child
        .stream_lines(max_line, |l| {
            let i = match l.stream {
                LogStream::Stdout => 0,
                LogStream::Stderr => 2,
            };
            c[i] += l.data.len() as u64 + u64::from(l.newline);
            c[i + 1] += 1;
        })
        .unwrap();
    (o, c[0], c[1], c[2], c[3])
}

/// True in a process running this one test alone (re-executed, or as
/// nobody), where the process's peak memory is this test's alone.
fn alone() -> bool {
    std::env::var_os("RSANDBOX_SVC_ALONE").is_some() || common::as_nobody()
}

fn rerun_alone(name: &str) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("RSANDBOX_SVC_ALONE", "1")
        .output()
        .unwrap();
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && so.contains("1 passed"),
        "{name} alone: {:?}\n{so}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

both!(stdout_100mb_streams_with_flat_parent_memory, || {
    if !alone() {
        return rerun_alone("stdout_100mb_streams_with_flat_parent_memory::caller");
    }
    let sb = Sandbox::new().user_ns().pid_ns();
    // Warm up: the same path once, small, so one-time allocations are done.
    let (o, bytes, ..) = stream_counts(&sb, "yes | head -c 1000000", 4096);
    assert!(o.success() && bytes == 1_000_000);
    // 1,000,000 lines of 99 x's and a newline.
    let hundred_mb = format!("yes {} | head -c 100000000", "x".repeat(99));
    let hwm_before = proc_status_kb("VmHWM:");
    let rss_before = proc_status_kb("VmRSS:");
    let t = Instant::now();
    let (o, bytes, lines, ebytes, _) = stream_counts(&sb, &hundred_mb, 4096);
    let hwm_after = proc_status_kb("VmHWM:");
    let rss_after = proc_status_kb("VmRSS:");
    eprintln!(
        "100 MB in {:?}; VmHWM {hwm_before} -> {hwm_after} kB, VmRSS {rss_before} -> {rss_after} kB",
        t.elapsed()
    );
    assert!(o.success(), "{o:?}");
    assert_eq!(bytes, 100_000_000);
    assert_eq!(lines, 1_000_000);
    assert_eq!(ebytes, 0);
    assert!(
        hwm_after < hwm_before + 4096,
        "peak grew {hwm_before} -> {hwm_after} kB"
    );
    assert!(
        rss_after < rss_before + 4096,
        "rss grew {rss_before} -> {rss_after} kB"
    );
});

both!(a_silent_stream_does_not_block_a_flooding_one, || {
    let sb = Sandbox::new().user_ns().pid_ns();
    // stderr floods (far more than a pipe holds) while stdout stays silent,
    // then the reverse.
    let (o, ob, ol, eb, el) = stream_counts(
        &sb,
        "yes e | head -c 4000000 >&2; echo out; yes o | head -c 3000000; echo err >&2",
        1024,
    );
    assert!(o.success(), "{o:?}");
    assert_eq!((ob, ol), (3_000_004, 1_500_001));
    assert_eq!((eb, el), (4_000_004, 2_000_001));
});

#[test]
fn lines_iterator_splits_long_lines_and_keeps_order() {
    let mut child = piped(Sandbox::new())
        .spawn(&sh(
            "echo one; echo two >&2; printf 'abcdefghijklmnopqrstuvwxyz\\n'; printf tail",
        ))
        .unwrap();
    let lines: Vec<_> = child
        .lines_with_max(10)
        .unwrap()
        .map(|l| l.unwrap())
        .collect();
    let o = child.wait().unwrap();
    assert!(o.success());
    let out: Vec<(String, bool)> = lines
        .iter()
        .filter(|l| l.stream == LogStream::Stdout)
        .map(|l| (l.text().into_owned(), l.newline))
        .collect();
    let want = [
        ("one", true),
        ("abcdefghij", false),
        ("klmnopqrst", false),
        ("uvwxyz", true),
        ("tail", false),
    ];
    let want: Vec<(String, bool)> = want.iter().map(|(s, n)| (s.to_string(), *n)).collect();
    assert_eq!(out, want);
    let err: Vec<_> = lines
        .iter()
        .filter(|l| l.stream == LogStream::Stderr)
        .map(|l| l.text().into_owned())
        .collect();
    assert_eq!(err, ["two"]);
}

#[test]
fn streaming_enforces_the_timeout() {
    let sb = Sandbox::new().timeout(Duration::from_millis(300));
    let t = Instant::now();
    let (o, ob, ..) = stream_counts(&sb, "echo a; exec sleep 100", 100);
    assert_eq!(o.reason, Reason::WallTimeLimit, "{o:?}");
    assert_eq!(ob, 2);
    assert!(t.elapsed() < Duration::from_secs(5));
}

both!(captured_output_is_capped_with_a_flag, || {
    let sb = Sandbox::new().user_ns().pid_ns();
    let out = sb
        .output_capped(&sh("head -c 10000000 /dev/zero; echo -n small >&2"), 1000)
        .unwrap();
    assert!(out.outcome.success(), "{:?}", out.outcome);
    assert_eq!(out.stdout.len(), 1000);
    assert!(out.stdout_truncated);
    assert_eq!(out.stdout_total, 10_000_000);
    assert_eq!(out.stderr, b"small");
    assert!(!out.stderr_truncated);
    assert_eq!(out.stderr_total, 5);
});

// ------------------------------------------------------- published ports

/// Wait until nothing accepts on `addr` any more (bounded).
fn eventually_refused(addr: std::net::SocketAddr) -> bool {
    for _ in 0..100 {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

both!(published_port_reaches_a_server_in_a_private_network, || {
    use std::os::fd::AsRawFd;
    // The box port: free on the host, so a direct connection must fail.
    let box_port = free_port();
    let direct: std::net::SocketAddr = ([127, 0, 0, 1], box_port).into();
    let l = loopback_listener();
    let via_fd = l.local_addr().unwrap();
    let via_addr: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let sb = box_with_private_net()
        .publish_listener(l.as_raw_fd(), box_port)
        .publish(via_addr, box_port);
    let mut child = spawn_cmd_ready(&sb, &server(box_port));
    drop(l);
    for addr in [via_fd, via_addr] {
        // Several connections, some at once.
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(move || http_get(addr)))
            .collect();
        for h in handles {
            let body = h.join().unwrap().unwrap();
            assert!(body.starts_with("pid=2 "), "{body}");
            assert!(body.trim_end().ends_with("ifs=lo"), "{body}");
        }
    }
    // Through nothing else: the box port is not reachable on the host. (It
    // was free when picked; another test's server may hold it by now, so
    // what counts is that the box's server does not answer there.)
    let reached = http_get(direct).is_ok_and(|b| b.trim_end().ends_with("ifs=lo"));
    assert!(!reached, "box port reachable directly");
    child.stop(Duration::from_secs(2)).unwrap();
    // The box is gone: so are its published ports.
    assert!(eventually_refused(via_fd), "{via_fd} still accepts");
    assert!(eventually_refused(via_addr), "{via_addr} still accepts");
});

both!(
    published_port_without_a_server_closes_the_connection,
    || {
        use std::io::Read;
        let via: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let sb = box_with_private_net().publish(via, 9);
        let mut child = spawn_ready(&sb, "echo ready; exec sleep 100");
        let mut s = std::net::TcpStream::connect(via).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        // Refused inside the box: the host side is closed at once.
        assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
        child.kill().unwrap();
        child.wait().unwrap();
    }
);

#[test]
fn publish_is_checked_before_spawn() {
    let a: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
    let e = Sandbox::new()
        .user_ns()
        .net_ns()
        .publish(([127, 0, 0, 1], 1234).into(), 80)
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("pid_ns"), "{e}");
    let e = box_with_private_net()
        .publish(a, 80)
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("port 0"), "{e}");
    // A host port in use fails at spawn, before any process exists.
    let l = loopback_listener();
    let e = box_with_private_net()
        .publish(l.local_addr().unwrap(), 80)
        .spawn(&Command::new("/bin/true"))
        .unwrap_err();
    assert!(e.to_string().contains("bind"), "{e}");
}
