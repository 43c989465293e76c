//! What a connection's first bytes say about where it is going: the SNI of
//! a TLS ClientHello, or the request line and `Host` of an HTTP/1 request.
//! Pure parsing on a byte buffer, bounded, never trusting a length field.

/// The largest TLS ClientHello or HTTP request head looked at.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// What the first bytes of a connection are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sniff {
    /// Not enough bytes yet to tell.
    NeedMore,
    /// A TLS ClientHello, with its server name when it sends one.
    Tls { sni: Option<String> },
    /// An HTTP/1 request head of `len` bytes.
    Http(RequestHead),
    /// Something else (another protocol, or a malformed start).
    Other,
}

/// An HTTP/1 request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestHead {
    pub method: String,
    pub target: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    /// Header (name, value) pairs in order.
    pub headers: Vec<(String, String)>,
    /// Length of the head, the blank line included.
    pub len: usize,
}

impl RequestHead {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Host` header's host, without port, lower case.
    pub fn host(&self) -> Option<String> {
        self.header("host").map(|h| host_of(h).0)
    }
}

/// `host[:port]` or `[v6][:port]` split into (lower-case host, port).
pub(crate) fn host_of(hostport: &str) -> (String, Option<u16>) {
    let s = hostport.trim();
    if let Some(rest) = s.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            let port = rest[end + 1..]
                .strip_prefix(':')
                .and_then(|p| p.parse().ok());
            return (rest[..end].to_ascii_lowercase(), port);
        }
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h.to_ascii_lowercase(), p.parse().ok()),
        _ => (s.to_ascii_lowercase(), None),
    }
}

/// Look at the first bytes of a connection.
pub(crate) fn sniff(buf: &[u8]) -> Sniff {
    match buf.first() {
        None => Sniff::NeedMore,
        Some(0x16) => tls(buf),
        Some(b) if b.is_ascii_uppercase() => http(buf),
        Some(_) => Sniff::Other,
    }
}

/// A big-endian reader that fails instead of reading past the end.
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Some(h)
    }
    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| b[0] as usize)
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2).map(|b| (b[0] as usize) << 8 | b[1] as usize)
    }
    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| (b[0] as usize) << 16 | (b[1] as usize) << 8 | b[2] as usize)
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(n)
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(n)
    }
}

/// The handshake bytes carried by the TLS records at the start of `buf`
/// (a ClientHello may span several records), or `None` if a record is not
/// a handshake record.
fn handshake_bytes(buf: &[u8]) -> Option<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    let mut r = Reader { b: buf };
    loop {
        let Some(hdr) = r.take(5) else {
            return Some((out, false));
        };
        if hdr[0] != 0x16 || hdr[1] != 3 {
            return None;
        }
        let len = (hdr[3] as usize) << 8 | hdr[4] as usize;
        match r.take(len) {
            Some(body) => out.extend_from_slice(body),
            None => {
                out.extend_from_slice(r.b);
                return Some((out, false));
            }
        }
        // Complete once the handshake message's own length is covered.
        if out.len() >= 4 {
            let need = 4 + ((out[1] as usize) << 16 | (out[2] as usize) << 8 | out[3] as usize);
            if out.len() >= need {
                return Some((out, true));
            }
        }
    }
}

fn tls(buf: &[u8]) -> Sniff {
    let Some((hs, complete)) = handshake_bytes(buf) else {
        return Sniff::Other;
    };
    if hs.first().is_some_and(|t| *t != 1) {
        return Sniff::Other;
    }
    if !complete {
        return if buf.len() >= MAX_HEAD {
            Sniff::Other
        } else {
            Sniff::NeedMore
        };
    }
    match client_hello_sni(&hs) {
        Some(sni) => Sniff::Tls { sni },
        None => Sniff::Other,
    }
}

/// The server name of a complete ClientHello handshake message: `Some(None)`
/// when it has no SNI extension, `None` when it is malformed.
fn client_hello_sni(hs: &[u8]) -> Option<Option<String>> {
    let mut r = Reader { b: hs };
    r.u8()?; // handshake type
    let len = r.u24()?;
    let mut r = Reader { b: r.take(len)? };
    r.take(2 + 32)?; // version, random
    r.vec8()?; // session id
    r.vec16()?; // cipher suites
    r.vec8()?; // compression methods
    if r.b.is_empty() {
        return Some(None);
    }
    let mut ext = Reader { b: r.vec16()? };
    while !ext.b.is_empty() {
        let ty = ext.u16()?;
        let data = ext.vec16()?;
        if ty != 0 {
            continue;
        }
        let mut list = Reader {
            b: Reader { b: data }.vec16()?,
        };
        while !list.b.is_empty() {
            let kind = list.u8()?;
            let name = list.vec16()?;
            if kind == 0 {
                let s = std::str::from_utf8(name).ok()?;
                return Some(Some(s.to_ascii_lowercase()));
            }
        }
        return Some(None);
    }
    Some(None)
}

fn http(buf: &[u8]) -> Sniff {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        // Keep waiting only while the bytes still look like a request line.
        let line_end = find(buf, b"\r\n").unwrap_or(buf.len());
        let line = &buf[..line_end];
        let plausible = line
            .iter()
            .take(16)
            .take_while(|b| **b != b' ')
            .all(|b| b.is_ascii_uppercase() || *b == b'-');
        return if buf.len() >= MAX_HEAD || !plausible {
            Sniff::Other
        } else {
            Sniff::NeedMore
        };
    };
    match parse_head(&buf[..end + 4]) {
        Some(h) => Sniff::Http(h),
        None => Sniff::Other,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parse a complete request head (ending in the blank line).
pub(crate) fn parse_head(head: &[u8]) -> Option<RequestHead> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?;
    let target = first.next()?;
    let version = first.next()?;
    if first.next().is_some()
        || method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase() || b == b'-')
        || target.is_empty()
        || !(version == "HTTP/1.1" || version == "HTTP/1.0")
    {
        return None;
    }
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':')?;
        if k.is_empty() || k.bytes().any(|b| b == b' ' || b == b'\t') {
            return None;
        }
        headers.push((k.to_string(), v.trim().to_string()));
    }
    Some(RequestHead {
        method: method.to_string(),
        target: target.to_string(),
        version: version.to_string(),
        headers,
        len: head.len(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal ClientHello record with `sni` (or none).
    pub(crate) fn client_hello(sni: Option<&str>) -> Vec<u8> {
        let mut ext = Vec::new();
        if let Some(name) = sni {
            let n = name.as_bytes();
            let mut list = vec![0u8];
            list.extend_from_slice(&(n.len() as u16).to_be_bytes());
            list.extend_from_slice(n);
            let mut data = (list.len() as u16).to_be_bytes().to_vec();
            data.extend_from_slice(&list);
            ext.extend_from_slice(&[0, 0]);
            ext.extend_from_slice(&(data.len() as u16).to_be_bytes());
            ext.extend_from_slice(&data);
        }
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]);
        body.push(0);
        body.extend_from_slice(&[0, 2, 0x13, 0x01]);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut hs = vec![1];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn tls_sni_is_read_and_truncation_waits() {
        let ch = client_hello(Some("API.Example.com"));
        assert_eq!(
            sniff(&ch),
            Sniff::Tls {
                sni: Some("api.example.com".into())
            }
        );
        assert_eq!(sniff(&ch[..20]), Sniff::NeedMore);
        assert_eq!(sniff(&client_hello(None)), Sniff::Tls { sni: None });
        // A ClientHello split over two records.
        let mut two = ch[..5 + 10].to_vec();
        two[3..5].copy_from_slice(&10u16.to_be_bytes());
        let rest = &ch[15..];
        two.extend_from_slice(&[0x16, 3, 1]);
        two.extend_from_slice(&(rest.len() as u16).to_be_bytes());
        two.extend_from_slice(rest);
        assert_eq!(
            sniff(&two),
            Sniff::Tls {
                sni: Some("api.example.com".into())
            }
        );
    }

    #[test]
    fn garbage_is_other_and_lengths_are_never_trusted() {
        assert_eq!(
            sniff(b"\x16\x03\x01\xff\xff\x01\xff\xff\xff"),
            Sniff::NeedMore
        );
        let mut bad = client_hello(Some("a.test"));
        let n = bad.len();
        bad[n - 11] = 0xff; // SNI list length past the end
        assert_eq!(sniff(&bad), Sniff::Other);
        assert_eq!(sniff(b"SSH-2.0-OpenSSH_9.2\r\n"), Sniff::Other);
        assert_eq!(sniff(b"\x00\x01"), Sniff::Other);
    }

    #[test]
    fn http_request_heads_are_parsed() {
        let req = b"GET http://a.test:8080/x HTTP/1.1\r\nHost: A.test:8080\r\nX-Key: k\r\n\r\nbody";
        let Sniff::Http(h) = sniff(req) else {
            panic!("not http")
        };
        assert_eq!(h.method, "GET");
        assert_eq!(h.target, "http://a.test:8080/x");
        assert_eq!(h.host().as_deref(), Some("a.test"));
        assert_eq!(h.header("x-key"), Some("k"));
        assert_eq!(h.len, req.len() - 4);
        assert_eq!(sniff(b"GET / HTTP/1.1\r\nHost: a"), Sniff::NeedMore);
        assert_eq!(sniff(b"GET / HTTP/2\r\n\r\n"), Sniff::Other);
        assert_eq!(host_of("[::1]:80"), ("::1".into(), Some(80)));
        assert_eq!(host_of("b.test"), ("b.test".into(), None));
    }
}
