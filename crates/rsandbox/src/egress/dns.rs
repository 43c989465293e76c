//! The box's DNS: answers for allowed names, NXDOMAIN for the rest, and
//! nothing ever forwarded for a name the policy does not allow (so a query
//! cannot carry data out).
//!
//! An allowed name that exists upstream gets a *fake* address, one per name
//! and per box, from 198.18.0.0/15 (RFC 2544's benchmarking range, never
//! routed): a connection to it then names its destination without doubt,
//! whatever real addresses the name shares with others, and the box never
//! learns a real address. The gateway connects to the real one. AAAA and
//! other types get an empty answer, so clients use the IPv4 one.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::policy::normalize_name;

/// First address of the fake range (198.18.0.0/15).
const FAKE_BASE: u32 = 0xC612_0000;
/// Addresses in the range, less the network's first.
const FAKE_COUNT: u32 = (1 << 17) - 1;
/// TTL of fake answers: stable for the box's life, so any will do.
const FAKE_TTL: u32 = 60;
/// How long a real lookup is reused.
const REAL_TTL: Duration = Duration::from_secs(60);
/// How long an upstream DNS server is waited for.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether `ip` is in the fake range.
pub(crate) fn is_fake(ip: IpAddr) -> bool {
    match super::policy::canonical(ip) {
        IpAddr::V4(a) => (u32::from(a) & !((1 << 17) - 1)) == FAKE_BASE,
        IpAddr::V6(_) => false,
    }
}

/// The box's names and their fake addresses, bounded: when the range is
/// used up, the oldest name gives its address up.
#[derive(Debug, Default)]
pub(crate) struct FakeTable {
    by_name: HashMap<String, u32>,
    by_index: HashMap<u32, String>,
    next: u32,
}

impl FakeTable {
    /// The fake address of `name`, given one if it has none.
    pub fn address(&mut self, name: &str) -> Ipv4Addr {
        if let Some(&i) = self.by_name.get(name) {
            return Ipv4Addr::from(FAKE_BASE + i);
        }
        let i = self.next % FAKE_COUNT + 1;
        self.next = self.next.wrapping_add(1);
        if let Some(old) = self.by_index.insert(i, name.to_string()) {
            self.by_name.remove(&old);
        }
        self.by_name.insert(name.to_string(), i);
        Ipv4Addr::from(FAKE_BASE + i)
    }

    /// The name a fake address stands for.
    pub fn name(&self, ip: IpAddr) -> Option<String> {
        let IpAddr::V4(a) = super::policy::canonical(ip) else {
            return None;
        };
        self.by_index.get(&(u32::from(a) - FAKE_BASE)).cloned()
    }
}

/// How allowed names are looked up on the caller's side.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Upstream {
    /// `getaddrinfo` (the caller's resolver, `/etc/hosts` included).
    System,
    /// This DNS server, over UDP.
    Server(SocketAddr),
}

/// Real addresses of names, looked up on the caller's side and reused for
/// a minute.
#[derive(Debug)]
pub(crate) struct Resolver {
    upstream: Upstream,
    cache: std::sync::Mutex<HashMap<String, (Vec<IpAddr>, Instant)>>,
}

/// Most names whose real addresses are kept.
const CACHE_MAX: usize = 4096;

impl Resolver {
    pub fn new(upstream: Upstream) -> Resolver {
        Resolver {
            upstream,
            cache: Default::default(),
        }
    }

    /// The real addresses of `name` (empty: it does not exist).
    pub fn lookup(&self, name: &str) -> Vec<IpAddr> {
        {
            let g = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((a, at)) = g.get(name) {
                if at.elapsed() < REAL_TTL {
                    return a.clone();
                }
            }
        }
        let addrs = match self.upstream {
            Upstream::System => (name, 0)
                .to_socket_addrs()
                .map(|it| it.map(|s| s.ip()).collect())
                .unwrap_or_default(),
            Upstream::Server(s) => query_server(s, name).unwrap_or_default(),
        };
        let mut g = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if g.len() >= CACHE_MAX {
            g.clear();
        }
        g.insert(name.to_string(), (addrs.clone(), Instant::now()));
        addrs
    }
}

/// Ask `server` for the A records of `name`, then AAAA when there are none.
fn query_server(server: SocketAddr, name: &str) -> io::Result<Vec<IpAddr>> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    let sock = UdpSocket::bind(bind)?;
    sock.connect(server)?;
    sock.set_read_timeout(Some(UPSTREAM_TIMEOUT))?;
    let fqdn = Name::from_ascii(format!("{name}.")).map_err(io::Error::other)?;
    for ty in [RecordType::A, RecordType::AAAA] {
        let id = rand_u16();
        let mut q = Message::new();
        q.set_id(id)
            .set_message_type(MessageType::Query)
            .set_op_code(OpCode::Query)
            .set_recursion_desired(true)
            .add_query(Query::query(fqdn.clone(), ty));
        sock.send(&q.to_vec().map_err(io::Error::other)?)?;
        let mut buf = [0u8; 4096];
        let reply = loop {
            let n = sock.recv(&mut buf)?;
            match Message::from_vec(&buf[..n]) {
                Ok(m) if m.id() == id => break m,
                _ => continue,
            }
        };
        if reply.response_code() == ResponseCode::NXDomain {
            return Ok(Vec::new());
        }
        let found: Vec<IpAddr> = reply
            .answers()
            .iter()
            .filter_map(|r| match r.data() {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            })
            .collect();
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(Vec::new())
}

/// A random 16-bit number (DNS ids).
pub(crate) fn rand_u16() -> u16 {
    let mut b = [0u8; 2];
    super::random_bytes(&mut b);
    u16::from_ne_bytes(b)
}

/// The (normalized) name of the first question of query `packet`, if it
/// parses: whether it needs a lookup upstream is decided from it.
pub(crate) fn query_name(packet: &[u8]) -> Option<String> {
    let q = Message::from_vec(packet).ok()?;
    normalize_name(&q.queries().first()?.name().to_ascii())
}

/// What the gateway decided for one query.
pub(crate) enum Decision {
    /// Not allowed: NXDOMAIN, and a violation for `name`.
    Denied(String),
    /// Allowed but unknown upstream: NXDOMAIN.
    Missing,
    /// Allowed and known: answer (A queries) with this fake address.
    Fake(Ipv4Addr),
}

/// The answer to the query `packet`, deciding with `decide(name)`; `None`
/// for a packet that is not a query (dropped).
pub(crate) fn respond(
    packet: &[u8],
    decide: impl FnOnce(&str) -> Decision,
) -> Option<(Vec<u8>, Option<String>)> {
    let q = Message::from_vec(packet).ok()?;
    if q.message_type() != MessageType::Query {
        return None;
    }
    let mut r = Message::new();
    r.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_op_code(q.op_code())
        .set_recursion_desired(q.recursion_desired())
        .set_recursion_available(true);
    let Some(query) = q.queries().first().cloned() else {
        r.set_response_code(ResponseCode::FormErr);
        return Some((r.to_vec().ok()?, None));
    };
    r.add_query(query.clone());
    if q.op_code() != OpCode::Query || q.queries().len() != 1 {
        r.set_response_code(ResponseCode::NotImp);
        return Some((r.to_vec().ok()?, None));
    }
    let ascii = query.name().to_ascii();
    let mut denied = None;
    match normalize_name(&ascii) {
        None => {
            r.set_response_code(ResponseCode::NXDomain);
            denied = Some(ascii);
        }
        Some(name) => match decide(&name) {
            Decision::Denied(n) => {
                r.set_response_code(ResponseCode::NXDomain);
                denied = Some(n);
            }
            Decision::Missing => {
                r.set_response_code(ResponseCode::NXDomain);
            }
            Decision::Fake(ip) => {
                if query.query_type() == RecordType::A {
                    r.add_answer(Record::from_rdata(
                        query.name().clone(),
                        FAKE_TTL,
                        RData::A(A(ip)),
                    ));
                }
            }
        },
    }
    Some((r.to_vec().ok()?, denied))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, ty: RecordType) -> Vec<u8> {
        let mut q = Message::new();
        q.set_id(7)
            .set_message_type(MessageType::Query)
            .set_recursion_desired(true)
            .add_query(Query::query(Name::from_ascii(name).unwrap(), ty));
        q.to_vec().unwrap()
    }

    #[test]
    fn fake_addresses_are_stable_bounded_and_reversible() {
        let mut t = FakeTable::default();
        let a = t.address("a.test");
        assert!(is_fake(a.into()));
        assert_eq!(t.address("a.test"), a);
        assert_ne!(t.address("b.test"), a);
        assert_eq!(t.name(a.into()).as_deref(), Some("a.test"));
        assert!(!is_fake("198.20.0.1".parse().unwrap()));
        assert!(is_fake("::ffff:198.19.255.255".parse().unwrap()));
        t.next = FAKE_COUNT; // wrap: the next name takes a.test's address
        assert_eq!(t.address("c.test"), a);
        assert_eq!(t.name(a.into()).as_deref(), Some("c.test"));
        assert!(!t.by_name.contains_key("a.test"));
    }

    #[test]
    fn answers_follow_the_decision() {
        let ip: Ipv4Addr = "198.18.0.9".parse().unwrap();
        let (r, d) = respond(&query("Ok.Test.", RecordType::A), |n| {
            assert_eq!(n, "ok.test");
            Decision::Fake(ip)
        })
        .unwrap();
        let m = Message::from_vec(&r).unwrap();
        assert_eq!(m.id(), 7);
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert!(matches!(m.answers()[0].data(), RData::A(a) if a.0 == ip));
        assert!(d.is_none());
        let (r, _) = respond(&query("ok.test.", RecordType::AAAA), |_| Decision::Fake(ip)).unwrap();
        let m = Message::from_vec(&r).unwrap();
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert!(m.answers().is_empty());
        let (r, d) = respond(&query("no.test.", RecordType::A), |n| {
            Decision::Denied(n.to_string())
        })
        .unwrap();
        assert_eq!(
            Message::from_vec(&r).unwrap().response_code(),
            ResponseCode::NXDomain
        );
        assert_eq!(d.as_deref(), Some("no.test"));
        assert!(respond(b"\x00\x01garbage", |_| Decision::Missing).is_none());
    }
}
