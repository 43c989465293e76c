//! One connection from the box, captured or through the proxy endpoint:
//! check what its first bytes say (TLS SNI, HTTP `Host`) against where it
//! was going, connect upstream from the caller's network namespace, and
//! relay; refusals are a reset and a violation.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::policy::normalize_name;
use super::relay;
use super::shared::{Shared, Target};
use super::sniff::{self, host_of, RequestHead, Sniff, MAX_HEAD};
use super::violation::{Violation, ViolationKind};
use super::Placeholder;

/// How long a server-speaks-first protocol (SSH, SMTP...) may keep the
/// box silent before the connection is made on the strength of its
/// destination alone.
const FIRST_BYTES: Duration = Duration::from_millis(300);
/// How long the rest of a started TLS ClientHello or HTTP head may take.
const HEAD_TIME: Duration = Duration::from_secs(10);
/// How long an upstream connect may take.
const CONNECT_TIME: Duration = Duration::from_secs(10);

/// A connection the notification handler sent to a capture listener.
pub(crate) fn captured(sh: &Arc<Shared>, s: TcpStream, peer: SocketAddr) {
    let key = SocketAddr::new(super::policy::canonical(peer.ip()), peer.port());
    let t = sh.take_capture(key);
    match t {
        Some(t) => serve(sh, s, t, Vec::new()),
        // Someone connected to the capture port directly.
        None => relay::reset(s),
    }
}

/// Read the connection's first bytes: whatever comes within
/// [`FIRST_BYTES`], then more while they are an unfinished TLS ClientHello
/// or HTTP head.
fn first_bytes(s: &mut TcpStream, mut buf: Vec<u8>) -> (Vec<u8>, Sniff) {
    let start = Instant::now();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let what = sniff::sniff(&buf);
        if what != Sniff::NeedMore {
            return (buf, what);
        }
        let limit = if buf.is_empty() {
            FIRST_BYTES
        } else {
            HEAD_TIME
        };
        let left = limit.saturating_sub(start.elapsed());
        if left.is_zero() || buf.len() >= MAX_HEAD {
            return (buf, Sniff::Other);
        }
        let _ = s.set_read_timeout(Some(left));
        match s.read(&mut chunk) {
            Ok(0) => return (buf, Sniff::Other),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return (buf, Sniff::Other),
        }
    }
}

fn refuse(sh: &Shared, s: TcpStream, v: Violation) {
    sh.record(v);
    relay::reset(s);
}

fn violation(kind: ViolationKind, t: &Target, reason: String) -> Violation {
    let mut v = Violation::new(kind, reason)
        .port(t.port)
        .pid(t.tid.and_then(super::notify::box_pid));
    v.name = t.name.clone();
    v.addr = t.ip;
    v
}

/// The secrets whose host is `name`.
fn secrets_for(sh: &Shared, name: Option<&str>) -> Vec<Placeholder> {
    let Some(name) = name else {
        return Vec::new();
    };
    sh.secrets
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|p| p.host == name)
        .cloned()
        .collect()
}

/// Check and forward one connection whose destination is `t`; `pending`
/// holds bytes already read from the box.
pub(crate) fn serve(sh: &Arc<Shared>, mut s: TcpStream, t: Target, pending: Vec<u8>) {
    let (buf, what) = first_bytes(&mut s, pending);
    let _ = s.set_read_timeout(None);
    match what {
        Sniff::Tls { sni } => {
            if let Some(name) = &t.name {
                let bad = match &sni {
                    Some(n) if n == name => None,
                    Some(n) => Some(format!(
                        "TLS server name {n} is not {name}, where the connection goes"
                    )),
                    None => Some(format!("TLS without a server name, to {name}")),
                };
                if let Some(reason) = bad {
                    let mut v = violation(ViolationKind::Tls, &t, reason);
                    v.name = sni.or(v.name);
                    return refuse(sh, s, v);
                }
            }
            let subs = secrets_for(sh, t.name.as_deref());
            if !subs.is_empty() && sh.ca.is_some() {
                return intercept(sh, s, &t, &buf, &subs);
            }
            passthrough(sh, s, &t, &buf)
        }
        Sniff::Http(head) => {
            if let Some(name) = &t.name {
                match head.host() {
                    Some(h) if &h == name => {}
                    host => {
                        let reason = match &host {
                            Some(h) => {
                                format!("HTTP Host {h} is not {name}, where the connection goes")
                            }
                            None => format!("HTTP request without a Host, to {name}"),
                        };
                        let mut v = violation(ViolationKind::Http, &t, reason);
                        v.name = host.or(v.name);
                        return refuse(sh, s, v);
                    }
                }
            }
            let subs = secrets_for(sh, t.name.as_deref());
            if subs.is_empty() {
                return passthrough(sh, s, &t, &buf);
            }
            let mut out = rewrite(&head, &head.target, &subs);
            out.extend_from_slice(&buf[head.len..]);
            passthrough(sh, s, &t, &out)
        }
        Sniff::Other | Sniff::NeedMore => passthrough(sh, s, &t, &buf),
    }
}

/// Connect to where `t` goes, from the caller's network namespace.
fn upstream(sh: &Shared, t: &Target) -> io::Result<TcpStream> {
    let addrs: Vec<IpAddr> = match (&t.name, t.ip) {
        (Some(n), _) => sh.resolver.lookup(n),
        (None, Some(ip)) => vec![ip],
        (None, None) => Vec::new(),
    };
    let mut last = io::Error::from(io::ErrorKind::NotFound);
    for ip in addrs {
        match TcpStream::connect_timeout(&SocketAddr::new(ip, t.port), CONNECT_TIME) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Connect upstream, send `first`, and relay both ways.
fn passthrough(sh: &Shared, s: TcpStream, t: &Target, first: &[u8]) {
    let mut up = match upstream(sh, t) {
        Ok(u) => u,
        Err(_) => return relay::reset(s),
    };
    if !first.is_empty() && up.write_all(first).is_err() {
        return relay::reset(s);
    }
    relay::both(s, up)
}

/// A request head for upstream: origin-form `target`, hop-by-hop proxy
/// headers dropped, `Connection: close` (one request per connection, so
/// every request's head passes here), and each secret's placeholder
/// replaced in its header.
fn rewrite(head: &RequestHead, target: &str, subs: &[Placeholder]) -> Vec<u8> {
    let mut out = format!("{} {} {}\r\n", head.method, target, head.version);
    for (k, v) in &head.headers {
        let lk = k.to_ascii_lowercase();
        if matches!(
            lk.as_str(),
            "connection" | "proxy-connection" | "proxy-authorization" | "keep-alive"
        ) {
            continue;
        }
        let mut v = v.clone();
        for s in subs.iter().filter(|s| s.header.eq_ignore_ascii_case(k)) {
            v = v.replace(&s.placeholder, &s.value);
        }
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

/// HTTPS to a host with secrets: terminate the box's TLS with the box's CA,
/// check the `Host` of the request, open TLS upstream, send the request
/// with its secrets in place, relay the rest.
fn intercept(sh: &Shared, s: TcpStream, t: &Target, hello: &[u8], subs: &[Placeholder]) {
    let (Some(ca), Some(name)) = (sh.ca.as_ref(), t.name.as_deref()) else {
        return relay::reset(s);
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(mut down) = ca.accept(name, s, hello) else {
        return;
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head = loop {
        match down.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            match sniff::parse_head(&buf[..end + 4]) {
                Some(h) => break h,
                None => return down.close(),
            }
        }
        if buf.len() > MAX_HEAD {
            return down.close();
        }
    };
    if head.host().as_deref() != Some(name) {
        let mut v = violation(
            ViolationKind::Http,
            t,
            format!(
                "HTTP Host {:?} is not {name}, where the connection goes",
                head.host()
            ),
        );
        v.name = head.host().or(v.name);
        sh.record(v);
        return down.close();
    }
    let _ = down.sock.set_read_timeout(None);
    let Ok(up) = upstream(sh, t) else {
        return down.close();
    };
    let Ok(mut up) = ca.connect(name, up) else {
        return down.close();
    };
    let mut first = rewrite(&head, &head.target, subs);
    first.extend_from_slice(&buf[head.len..]);
    if up.handshake().is_err() || up.write_all(&first).is_err() {
        return down.close();
    }
    super::tls::relay(&mut down, &mut up);
}

/// A connection to the proxy endpoint: `CONNECT host:port` or an
/// absolute-form request (`GET http://host/...`).
pub(crate) fn proxy(sh: &Arc<Shared>, mut s: TcpStream) {
    let _ = s.set_read_timeout(Some(HEAD_TIME * 3));
    let (head, rest) = match read_head(&mut s) {
        Ok(h) => h,
        Err(Some(status)) => return answer(s, status),
        Err(None) => return,
    };
    let _ = s.set_read_timeout(None);
    if head.method == "CONNECT" {
        return proxy_connect(sh, s, &head, rest);
    }
    proxy_http(sh, s, &head, rest)
}

/// The request head of a proxy connection and the bytes read past it.
/// `Err` with the status to answer for a malformed or oversized head, or
/// `None` when the client went away (or sent too slowly).
fn read_head(s: &mut TcpStream) -> Result<(RequestHead, Vec<u8>), Option<&'static str>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            match sniff::parse_head(&buf[..end + 4]) {
                Some(h) => break h,
                None => return Err(Some("400 Bad Request")),
            }
        }
        if buf.len() > MAX_HEAD {
            return Err(Some("431 Request Header Fields Too Large"));
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return Err(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let rest = buf[head.len..].to_vec();
    Ok((head, rest))
}

/// `CONNECT host:port`: a tunnel, served like a captured connection once
/// the target is allowed (port 443 unless given).
fn proxy_connect(sh: &Arc<Shared>, mut s: TcpStream, head: &RequestHead, rest: Vec<u8>) {
    let (host, port) = host_of(&head.target);
    let Some(t) = proxy_target(sh, &host, port.unwrap_or(443), &head.target) else {
        return answer(s, "403 Forbidden");
    };
    if s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    serve(sh, s, t, rest)
}

/// A plain-HTTP absolute-form request: forwarded with the path alone and
/// the secrets swapped in, once the target is allowed and the Host header
/// names the same host (the rules were checked against the URI's).
fn proxy_http(sh: &Arc<Shared>, s: TcpStream, head: &RequestHead, rest: Vec<u8>) {
    let Some(rest_of_uri) = head.target.strip_prefix("http://") else {
        return answer(s, "400 Bad Request");
    };
    let (authority, path) = match rest_of_uri.find('/') {
        Some(i) => (&rest_of_uri[..i], &rest_of_uri[i..]),
        None => (rest_of_uri, "/"),
    };
    let (host, port) = host_of(authority);
    let Some(t) = proxy_target(sh, &host, port.unwrap_or(80), &head.target) else {
        return answer(s, "403 Forbidden");
    };
    if let (Some(name), Some(h)) = (&t.name, head.host()) {
        if &h != name {
            sh.record(violation(
                ViolationKind::Http,
                &t,
                format!("HTTP Host {h} is not {name}, the proxy request's host"),
            ));
            return answer(s, "403 Forbidden");
        }
    }
    let subs = secrets_for(sh, t.name.as_deref());
    let mut first = rewrite(head, path, &subs);
    first.extend_from_slice(&rest);
    let Ok(mut up) = upstream(sh, &t) else {
        return answer(s, "502 Bad Gateway");
    };
    if up.write_all(&first).is_err() {
        return answer(s, "502 Bad Gateway");
    }
    relay::both(s, up)
}

/// Where a proxy request for `host:port` may go, or `None` after recording
/// the violation.
fn proxy_target(sh: &Shared, host: &str, port: u16, asked: &str) -> Option<Target> {
    let rules = sh.rules();
    if let Ok(ip) = host.parse::<IpAddr>() {
        if rules.allows_ip(ip, port) {
            return Some(Target {
                name: None,
                ip: Some(ip),
                port,
                tid: None,
            });
        }
        sh.record(
            Violation::new(ViolationKind::Proxy, format!("no rule allows {asked}")).addr(ip, port),
        );
        return None;
    }
    match normalize_name(host) {
        Some(n) if rules.allows_name(&n, port) => Some(Target {
            name: Some(n),
            ip: None,
            port,
            tid: None,
        }),
        _ => {
            sh.record(
                Violation::new(ViolationKind::Proxy, format!("no rule allows {asked}"))
                    .name(host)
                    .port(port),
            );
            None
        }
    }
}

fn answer(mut s: TcpStream, status: &str) {
    let _ = s.write_all(
        format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
    );
}
