//! Egress: the allow-list as the payload meets it, from inside the box.
//! Every server is local: the upstream side is servers this test starts on
//! the caller's loopback, and names are mapped by a test DNS server given
//! to the policy with `resolve_with` (it counts the queries it gets).

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use rsandbox::egress::{EgressPolicy, ViolationKind};
use rsandbox::{Command, Error, Sandbox};

/// A test resolver: the names it knows resolve to 127.0.0.1; it records
/// every name it is asked for.
struct Resolver {
    addr: SocketAddr,
    asked: Arc<Mutex<Vec<String>>>,
}

fn resolver(known: &[&str]) -> Resolver {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let (known, log) = (
        known.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        asked.clone(),
    );
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let Some(query) = q.queries().first().cloned() else {
                continue;
            };
            let name = query.name().to_ascii().trim_end_matches('.').to_string();
            log.lock().unwrap().push(name.clone());
            let mut r = Message::new();
            r.set_id(q.id())
                .set_message_type(MessageType::Response)
                .add_query(query.clone());
            if !known.contains(&name) {
                r.set_response_code(ResponseCode::NXDomain);
            } else if query.query_type() == RecordType::A {
                r.add_answer(Record::from_rdata(
                    query.name().clone(),
                    30,
                    RData::A(A(Ipv4Addr::LOCALHOST)),
                ));
            }
            let _ = sock.send_to(&r.to_vec().unwrap(), from);
        }
    });
    Resolver { addr, asked }
}

impl Resolver {
    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

/// A plain HTTP server on the caller's loopback: answers `hello <Host>`
/// and records each request head.
struct Http {
    port: u16,
    heads: Arc<Mutex<Vec<String>>>,
}

fn read_head(s: &mut impl Read) -> Option<String> {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).ok()? == 0 {
            return None;
        }
        buf.push(b[0]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

fn host_of(head: &str) -> String {
    head.lines()
        .find_map(|l| {
            l.strip_prefix("Host: ")
                .or_else(|| l.strip_prefix("host: "))
        })
        .unwrap_or("")
        .split(':')
        .next()
        .unwrap()
        .to_string()
}

fn respond(s: &mut impl Write, head: &str) {
    let body = format!("hello {}\n", host_of(head));
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(resp.as_bytes());
    let _ = s.flush();
}

fn http_server() -> Http {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let log = heads.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let log = log.clone();
            std::thread::spawn(move || {
                if let Some(h) = read_head(&mut s) {
                    log.lock().unwrap().push(h.clone());
                    respond(&mut s, &h);
                }
            });
        }
    });
    Http { port, heads }
}

/// An HTTPS server on the caller's loopback with a certificate for
/// `names`, signed by a CA of its own (returned as PEM).
struct Https {
    port: u16,
    ca_pem: String,
    heads: Arc<Mutex<Vec<String>>>,
}

#[allow(deprecated)]
fn https_server(names: &[&str]) -> Https {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let ca_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(p, ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .unwrap();
    let cfg = Arc::new(cfg);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let log = heads.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let (cfg, log) = (cfg.clone(), log.clone());
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(cfg).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, s);
                if let Some(h) = read_head(&mut tls) {
                    log.lock().unwrap().push(h.clone());
                    respond(&mut tls, &h);
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                }
            });
        }
    });
    Https {
        port,
        ca_pem: ca.pem(),
        heads,
    }
}

fn boxed(policy: EgressPolicy) -> Sandbox {
    Sandbox::strict()
        .timeout(Duration::from_secs(60))
        .egress(policy)
}

/// Run `script` under `sh` in the box; (exit code, stdout, stderr,
/// violations).
fn run(sb: &Sandbox, script: &str) -> (i32, String, String, Vec<rsandbox::egress::Violation>) {
    let out = sb
        .output(&Command::new("/bin/sh").args(["-c", script]))
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    (
        out.outcome.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.outcome.violations,
    )
}

both!(allowed_name_works_by_proxy_and_without, || {
    let dns = resolver(&["ok.test"]);
    let web = http_server();
    let tls = https_server(&["ok.test"]);
    let (p, tp) = (web.port, tls.port);
    let sb = boxed(
        EgressPolicy::new()
            .allow_domain(format!("ok.test:{p},{tp}"))
            .resolve_with(dns.addr),
    );
    let script = format!(
        "curl -sSk --max-time 20 https://ok.test:{tp}/e && \
         curl -sSk --max-time 20 --noproxy '*' https://ok.test:{tp}/f && \
         curl -sS --max-time 20 http://ok.test:{p}/a && \
         curl -sS --max-time 20 --noproxy '*' http://ok.test:{p}/b && \
         /usr/bin/python3 -c 'import urllib.request; print(urllib.request.urlopen(\"http://ok.test:{p}/c\", timeout=20).read().decode().strip())' && \
         NO_PROXY=\"*\" /usr/bin/python3 -c 'import threading, urllib.request
def get(): print(urllib.request.urlopen(\"http://ok.test:{p}/t\", timeout=20).read().decode().strip())
ts = [threading.Thread(target=get) for _ in range(3)]
[t.start() for t in ts]; [t.join() for t in ts]' && \
         /usr/bin/python3 -c 'import socket; s=socket.create_connection((\"ok.test\", {p}), timeout=20); s.sendall(b\"GET /d HTTP/1.1\\r\\nHost: ok.test\\r\\n\\r\\n\"); print(b\"\".join(iter(lambda: s.recv(4096), b\"\")).decode().splitlines()[-1])'"
    );
    let (code, out, err, v) = run(&sb, &script);
    assert_eq!(code, 0, "stdout {out}\nstderr {err}\nviolations {v:?}");
    // 2 by TLS, 2 by curl, 1 by urllib, 3 from threads (connects made by
    // threads other than the leader), 1 by a raw socket.
    assert_eq!(out.matches("hello ok.test").count(), 9, "{out}");
    assert!(v.is_empty(), "{v:?}");
    let tls_heads = tls.heads.lock().unwrap().clone();
    assert_eq!(tls_heads.len(), 2, "TLS relayed untouched: {tls_heads:?}");
    let heads = web.heads.lock().unwrap().clone();
    for path in ["/a", "/b", "/c", "/d", "/t"] {
        assert!(
            heads.iter().any(|h| h.starts_with(&format!("GET {path} "))),
            "{path} not seen: {heads:?}"
        );
    }
});

both!(denied_names_are_nxdomain_and_never_forwarded, || {
    let dns = resolver(&["ok.test", "no.test"]);
    let sb = boxed(
        EgressPolicy::new()
            .allow_domain("ok.test")
            .resolve_with(dns.addr),
    );
    let script = "getent hosts no.test; echo rc=$?; \
                  getent hosts aGVsbG8gZXhmaWx0cmF0aW9u.x9f3k2.no.test; echo rc=$?; \
                  getent hosts ok.test; echo rc=$?";
    let (_, out, err, v) = run(&sb, script);
    assert!(out.contains("rc=2\nrc=2\n"), "{out}\n{err}");
    assert!(
        out.contains("198.18."),
        "ok.test gets a fake address: {out}"
    );
    let asked = dns.asked();
    assert!(
        asked.iter().all(|n| n == "ok.test"),
        "only the allowed name went upstream: {asked:?}"
    );
    let dns_v: Vec<_> = v.iter().filter(|v| v.kind == ViolationKind::Dns).collect();
    assert!(
        dns_v.iter().any(|v| v.name.as_deref() == Some("no.test")),
        "{v:?}"
    );
    assert!(
        dns_v
            .iter()
            .any(|v| v.name.as_deref() == Some("agvsbg8gzxhmawx0cmf0aw9u.x9f3k2.no.test")),
        "{v:?}"
    );
});

both!(mismatched_names_ips_udp_and_ipv6_are_refused, || {
    let dns = resolver(&["ok.test", "evil.test"]);
    let web = http_server();
    let tls = https_server(&["ok.test", "evil.test"]);
    let (p, tp) = (web.port, tls.port);
    let sb = boxed(
        EgressPolicy::new()
            .allow_domain(format!("ok.test:{p},{tp}"))
            .resolve_with(dns.addr),
    );
    let py = |code: &str| format!("/usr/bin/python3 -c '{code}'; echo rc=$?");
    let script = [
        // TLS to ok.test's address with SNI evil.test.
        format!("curl -sSk --noproxy '*' --max-time 20 --resolve evil.test:{tp}:$(getent hosts ok.test | cut -d\" \" -f1) https://evil.test:{tp}/; echo rc=$?"),
        // HTTP to ok.test with Host evil.test.
        format!("curl -sS --noproxy '*' --max-time 20 -H 'Host: evil.test' http://ok.test:{p}/; echo rc=$?"),
        // CONNECT to a denied host through the proxy.
        format!("curl -sSk --max-time 20 https://evil.test:{tp}/; echo rc=$?"),
        // A direct connect by IP (the real address of ok.test).
        py(&format!("import socket; socket.create_connection((\"127.0.0.2\", {p}), timeout=5); socket.create_connection((\"10.9.8.7\", {p}), timeout=5)")),
        // UDP to anything but the box's own DNS.
        py("import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b\"x\", (\"10.9.8.7\", 9999))"),
        // IPv6.
        py(&format!("import socket; socket.create_connection((\"2001:db8::1\", {p}), timeout=5)")),
    ]
    .join("\n");
    let (_, out, err, v) = run(&sb, &script);
    let rcs: Vec<&str> = out.lines().filter(|l| l.starts_with("rc=")).collect();
    assert_eq!(rcs.len(), 6, "{out}\n{err}");
    assert!(rcs.iter().all(|r| *r != "rc=0"), "{out}\n{err}");
    let kinds: Vec<ViolationKind> = v.iter().map(|v| v.kind).collect();
    for k in [
        ViolationKind::Tls,
        ViolationKind::Http,
        ViolationKind::Proxy,
        ViolationKind::Connect,
        ViolationKind::Datagram,
    ] {
        assert!(
            kinds.contains(&k),
            "no {k:?} violation in {v:#?}\n{out}\n{err}"
        );
    }
    assert!(
        v.iter()
            .any(|v| v.kind == ViolationKind::Connect
                && v.addr == Some("2001:db8::1".parse().unwrap())),
        "{v:#?}"
    );
    assert!(
        v.iter()
            .any(|v| v.kind == ViolationKind::Tls && v.name.as_deref() == Some("evil.test")),
        "{v:#?}"
    );
    // Nothing reached a server under the wrong name.
    for h in web
        .heads
        .lock()
        .unwrap()
        .iter()
        .chain(tls.heads.lock().unwrap().iter())
    {
        assert!(!h.contains("evil.test"), "{h}");
    }
});

both!(a_live_update_lets_a_new_name_through, || {
    let dns = resolver(&["ok.test", "later.test"]);
    let web = http_server();
    let p = web.port;
    let policy = EgressPolicy::new()
        .allow_domain(format!("ok.test:{p}"))
        .resolve_with(dns.addr);
    let sb = boxed(policy.clone()).stdin(rsandbox::Stdio::Pipe);
    let script = format!(
        "curl -sS --max-time 20 http://later.test:{p}/; echo rc=$?; read go; \
         curl -sS --max-time 20 http://later.test:{p}/; echo rc=$?"
    );
    let mut child = sb
        .stdout(rsandbox::Stdio::Pipe)
        .spawn(&Command::new("/bin/sh").args(["-c", &script]))
        .unwrap();
    let mut live = child.violations();
    let first = live.next().expect("a violation before the update");
    assert_eq!(first.kind, ViolationKind::Proxy, "{first:?}");
    child
        .update_egress(policy.allow_domain(format!("later.test:{p}")))
        .unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let o = child.wait().unwrap();
    assert!(
        out.contains("rc=") && out.ends_with("hello later.test\nrc=0\n"),
        "{out}"
    );
    assert_eq!(o.violations.len(), 1, "{:?}", o.violations);
    assert!(live.next().is_none(), "the stream ends with the box");
});

both!(a_secret_reaches_its_host_only, || {
    // The payload's environment and the memory of every process of the box
    // it can read hold the placeholder, never the value.
    let dns = resolver(&["api.test", "other.test"]);
    let web = http_server();
    let tls = https_server(&["api.test"]);
    let (p, tp) = (web.port, tls.port);
    let secret = "sk-live-0123456789abcdef";
    // The payload looks for the secret without holding it: for each byte
    // plus one (its memory is shifted the same way before the search).
    let shifted: String = secret
        .bytes()
        .map(|b| format!("\\x{:02x}", b + 1))
        .collect();
    let sb = boxed(
        EgressPolicy::new()
            .allow_domain(format!("api.test:{p},{tp}"))
            .allow_domain(format!("other.test:{p}"))
            .secret("API_KEY", "api.test", "Authorization", secret)
            .upstream_ca_pem(tls.ca_pem.clone())
            .resolve_with(dns.addr),
    );
    let script = format!(
        "curl -sS --max-time 20 -H \"Authorization: Bearer $API_KEY\" https://api.test:{tp}/s && \
         curl -sS --max-time 20 --noproxy '*' -H \"Authorization: Bearer $API_KEY\" https://api.test:{tp}/t && \
         curl -sS --max-time 20 -H \"Authorization: Bearer $API_KEY\" http://api.test:{p}/u && \
         curl -sS --max-time 20 -H \"Authorization: Bearer $API_KEY\" http://other.test:{p}/v && \
         echo env=$API_KEY && \
         (grep -c sk-live /proc/self/environ; true) && \
         /usr/bin/python3 -c 'import os, re
found, scanned = 0, 0
table = bytes((i + 1) % 256 for i in range(256))
needle = b\"{shifted}\"
for pid in [p for p in os.listdir(\"/proc\") if p.isdigit()]:
    try:
        maps = open(\"/proc/%s/maps\" % pid).read().splitlines()
        mem = open(\"/proc/%s/mem\" % pid, \"rb\")
    except OSError: continue
    scanned += 1
    for line in maps:
        m = re.match(r\"([0-9a-f]+)-([0-9a-f]+) r\", line)
        if not m: continue
        try:
            mem.seek(int(m.group(1), 16)); found += mem.read(int(m.group(2), 16) - int(m.group(1), 16)).translate(table).count(needle)
        except (OSError, ValueError, OverflowError): pass
print(\"in-memory\", found, \"of\", scanned, \"processes\")'"
    );
    let (code, out, err, v) = run(&sb, &script);
    assert_eq!(code, 0, "{out}\n{err}\n{v:?}");
    assert!(out.contains("env=rsandbox-secret-"), "{out}");
    assert!(!out.contains(secret), "the payload saw the secret: {out}");
    // Every process of the box it can read (the payload's own at least:
    // PID 1, the exec'd init, is not readable to it).
    assert!(out.contains("in-memory 0 of "), "{out}");
    assert!(!out.contains("in-memory 0 of 0 "), "{out}");
    let tls_heads = tls.heads.lock().unwrap().clone();
    assert_eq!(tls_heads.len(), 2, "{tls_heads:?}");
    for h in &tls_heads {
        assert!(h.contains(&format!("Bearer {secret}")), "{h}");
    }
    let heads = web.heads.lock().unwrap().clone();
    let u = heads.iter().find(|h| h.starts_with("GET /u ")).expect("/u");
    assert!(u.contains(&format!("Bearer {secret}")), "{u}");
    let other = heads.iter().find(|h| h.starts_with("GET /v ")).expect("/v");
    assert!(
        !other.contains(secret) && other.contains("rsandbox-secret-"),
        "{other}"
    );
});

#[test]
fn bad_policies_are_typed_errors_before_spawn() {
    let cmd = Command::new("/bin/true");
    for (p, what) in [
        (EgressPolicy::new().allow_domain(""), "empty"),
        (EgressPolicy::new().allow_domain("*"), "every name"),
        (EgressPolicy::new().allow_domain("a.test:0"), "port 0"),
        (
            EgressPolicy::new().allow_cidr("10.0.0.0/40"),
            "not an address",
        ),
    ] {
        match boxed(p).spawn(&cmd) {
            Err(Error::InvalidConfig { reason, .. }) => assert!(reason.contains(what), "{reason}"),
            other => panic!("expected InvalidConfig for {what}, got {other:?}"),
        }
    }
    let without_net = Sandbox::new()
        .user_ns()
        .mount_ns()
        .egress(EgressPolicy::new().allow_domain("a.test"));
    assert!(matches!(
        without_net.spawn(&cmd),
        Err(Error::InvalidConfig { .. })
    ));
}

both!(works_without_a_pid_namespace, || {
    // The payload is then the box's first process: it installs the filter
    // itself, just before exec.
    let dns = resolver(&["ok.test"]);
    let web = http_server();
    let p = web.port;
    let sb = Sandbox::new()
        .user_ns()
        .mount_ns()
        .net_ns()
        .timeout(Duration::from_secs(60))
        .egress(
            EgressPolicy::new()
                .allow_domain(format!("ok.test:{p}"))
                .resolve_with(dns.addr),
        );
    let (code, out, err, v) = run(
        &sb,
        &format!("curl -sS --noproxy '*' --max-time 20 http://ok.test:{p}/; getent hosts no.test; echo rc=$?"),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(out, "hello ok.test\nrc=2\n", "{err}");
    assert!(
        v.iter().any(|v| v.name.as_deref() == Some("no.test")),
        "{v:?}"
    );
});

/// True in a process running one test alone (re-executed, or as nobody).
fn alone() -> bool {
    std::env::var_os("RSANDBOX_EGRESS_ALONE").is_some() || common::as_nobody()
}

fn rerun_alone(name: &str) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("RSANDBOX_EGRESS_ALONE", "1")
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

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

both!(the_gateway_leaves_nothing_behind, || {
    if !alone() {
        return rerun_alone("the_gateway_leaves_nothing_behind::caller");
    }
    let dns = resolver(&["ok.test"]);
    let web = http_server();
    let p = web.port;
    let sb = boxed(
        EgressPolicy::new()
            .allow_domain(format!("ok.test:{p}"))
            .resolve_with(dns.addr),
    );
    let script = format!(
        "curl -sS --max-time 20 http://ok.test:{p}/ && curl -sS --noproxy '*' --max-time 20 http://ok.test:{p}/; getent hosts no.test; true"
    );
    // Warm up: servers' threads, caches, and the machinery a process's
    // second spawn starts (the template view and its thread).
    for _ in 0..2 {
        assert_eq!(run(&sb, &script).0, 0);
    }
    let (fds, tasks) = (common::open_fds(), threads());
    for _ in 0..5 {
        let (code, out, ..) = run(&sb, &script);
        assert_eq!(code, 0, "{out}");
    }
    // Connections close with the box; their threads end soon after.
    for _ in 0..200 {
        if common::open_fds() <= fds && threads() <= tasks {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(common::open_fds(), fds, "fds left open by the gateway");
    assert!(threads() <= tasks, "threads left: {} > {tasks}", threads());
});
