//! TLS for secrets: a per-box certificate authority (made at spawn, its key
//! only in the caller's memory, trusted only by that box), leaf
//! certificates for the hosts that have secrets, and the upstream side
//! verified against the system's roots (plus any the policy adds).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

use crate::error::{Error, Result};

/// Where distributions keep the system's CA bundle.
pub(crate) const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// rustls's `ring` provider: no post-quantum key exchange (rustls marks it
/// deprecated for that), but no aws-lc build either, which keeps the
/// library light to build; the box-facing side is local anyway.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The box's certificate authority.
pub(crate) struct BoxCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// Server configurations per host, made on first use.
    servers: Mutex<HashMap<String, Arc<ServerConfig>>>,
    /// The upstream side's configuration.
    client: Arc<ClientConfig>,
}

impl std::fmt::Debug for BoxCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BoxCa")
    }
}

fn tls_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::io(
        format!("egress TLS: {what}"),
        None,
        io::Error::other(e.to_string()),
    )
}

impl BoxCa {
    /// A fresh CA; `extra_roots`: PEM roots trusted upstream besides the
    /// system bundle.
    pub fn new(extra_roots: &[String]) -> Result<BoxCa> {
        let key = KeyPair::generate().map_err(|e| tls_err("make the CA key", e))?;
        let mut p = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| tls_err("CA parameters", e))?;
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        p.distinguished_name
            .push(DnType::CommonName, "rsandbox egress CA (one box)");
        let issuer = CertifiedIssuer::self_signed(p, key).map_err(|e| tls_err("sign the CA", e))?;
        Ok(BoxCa {
            issuer,
            servers: Mutex::new(HashMap::new()),
            client: Arc::new(client_config(extra_roots)?),
        })
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server configuration presenting a certificate for `host`.
    fn server(&self, host: &str) -> io::Result<Arc<ServerConfig>> {
        let mut g = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = g.get(host) {
            return Ok(c.clone());
        }
        let key = KeyPair::generate().map_err(io::Error::other)?;
        let mut p = CertificateParams::new(vec![host.to_string()]).map_err(io::Error::other)?;
        p.distinguished_name.push(DnType::CommonName, host);
        let cert = p.signed_by(&key, &self.issuer).map_err(io::Error::other)?;
        let chain = vec![cert.der().clone(), self.issuer.der().clone()];
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let cfg = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(chain, der)
            .map_err(io::Error::other)?;
        let cfg = Arc::new(cfg);
        if g.len() < 256 {
            g.insert(host.to_string(), cfg.clone());
        }
        Ok(cfg)
    }

    /// Terminate the box's TLS connection `sock` (whose first bytes,
    /// `hello`, were already read) as `host`.
    pub fn accept(
        &self,
        host: &str,
        sock: TcpStream,
        hello: &[u8],
    ) -> io::Result<Tls<ServerConnection>> {
        let mut conn = ServerConnection::new(self.server(host)?).map_err(io::Error::other)?;
        let mut rd = hello;
        while !rd.is_empty() {
            conn.read_tls(&mut rd)?;
        }
        conn.process_new_packets().map_err(io::Error::other)?;
        Ok(Tls { conn, sock })
    }

    /// Open TLS to the real `host` over `sock`.
    pub fn connect(&self, host: &str, sock: TcpStream) -> io::Result<Tls<ClientConnection>> {
        let name = ServerName::try_from(host.to_string()).map_err(io::Error::other)?;
        let conn = ClientConnection::new(self.client.clone(), name).map_err(io::Error::other)?;
        Ok(Tls { conn, sock })
    }
}

/// Roots from the system bundle plus `extra`.
fn client_config(extra: &[String]) -> Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    if let Some(bytes) = SYSTEM_BUNDLES.iter().find_map(|p| std::fs::read(p).ok()) {
        for c in CertificateDer::pem_slice_iter(&bytes).flatten() {
            let _ = roots.add(c);
        }
    }
    for (i, pem) in extra.iter().enumerate() {
        let mut n = 0;
        for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let c =
                c.map_err(|e| Error::invalid("egress.upstream_ca_pem", format!("entry {i}: {e}")))?;
            roots
                .add(c)
                .map_err(|e| Error::invalid("egress.upstream_ca_pem", format!("entry {i}: {e}")))?;
            n += 1;
        }
        if n == 0 {
            return Err(Error::invalid(
                "egress.upstream_ca_pem",
                format!("entry {i} holds no PEM certificate"),
            ));
        }
    }
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("client configuration", e))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Check PEM roots without building anything else (validation).
pub(crate) fn check_roots(extra: &[String]) -> Result<()> {
    client_config(extra).map(|_| ())
}

/// A TLS connection over a blocking socket.
pub(crate) struct Tls<C> {
    pub conn: C,
    pub sock: TcpStream,
}

/// What both rustls connection kinds offer that the relay needs.
pub(crate) trait Conn {
    fn common(&mut self) -> &mut rustls::ConnectionCommon<Self::Data>;
    type Data;
}
impl Conn for ServerConnection {
    type Data = rustls::server::ServerConnectionData;
    fn common(&mut self) -> &mut rustls::ConnectionCommon<Self::Data> {
        self
    }
}
impl Conn for ClientConnection {
    type Data = rustls::client::ClientConnectionData;
    fn common(&mut self) -> &mut rustls::ConnectionCommon<Self::Data> {
        self
    }
}

impl<C: Conn> Tls<C> {
    /// Send what rustls has queued.
    fn flush(&mut self) -> io::Result<()> {
        let c = self.conn.common();
        while c.wants_write() {
            c.write_tls(&mut self.sock)?;
        }
        Ok(())
    }

    /// Read plaintext into `buf`, pulling records off the socket as needed;
    /// 0 at the end.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.common().reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            self.flush()?;
            let n = self.conn.common().read_tls(&mut self.sock)?;
            if n == 0 {
                return Ok(0);
            }
            self.conn
                .common()
                .process_new_packets()
                .map_err(io::Error::other)?;
            self.flush()?;
        }
    }

    /// Write all of `data` as plaintext.
    pub fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.conn.common().writer().write_all(data)?;
        self.flush()
    }

    /// Finish the handshake (client side: before anything is sent).
    pub fn handshake(&mut self) -> io::Result<()> {
        while self.conn.common().is_handshaking() {
            self.flush()?;
            if self.conn.common().wants_read() {
                if self.conn.common().read_tls(&mut self.sock)? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                self.conn
                    .common()
                    .process_new_packets()
                    .map_err(io::Error::other)?;
            }
        }
        self.flush()
    }

    /// Send close_notify and stop writing.
    pub fn close(&mut self) {
        self.conn.common().send_close_notify();
        let _ = self.flush();
        let _ = self.sock.shutdown(std::net::Shutdown::Write);
    }

    /// Plaintext already decrypted and waiting.
    fn buffered(&mut self) -> bool {
        self.conn
            .common()
            .process_new_packets()
            .map(|s| s.plaintext_bytes_to_read() > 0)
            .unwrap_or(false)
    }
}

/// Copy plaintext both ways between two TLS connections until both ends
/// are done. One thread: rustls connections cannot be split.
pub(crate) fn relay<A: Conn, B: Conn>(a: &mut Tls<A>, b: &mut Tls<B>) {
    let mut buf = vec![0u8; 64 * 1024];
    let (mut a_open, mut b_open) = (true, true);
    while a_open || b_open {
        let mut pfds = [
            libc::pollfd {
                fd: a.sock.as_raw_fd(),
                events: if a_open { libc::POLLIN } else { 0 },
                revents: 0,
            },
            libc::pollfd {
                fd: b.sock.as_raw_fd(),
                events: if b_open { libc::POLLIN } else { 0 },
                revents: 0,
            },
        ];
        let ready_a = a_open && a.buffered();
        let ready_b = b_open && b.buffered();
        if !ready_a && !ready_b {
            // SAFETY: two valid pollfds.
            let r = unsafe { libc::poll(pfds.as_mut_ptr(), 2, -1) };
            if r < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return;
            }
        }
        if a_open && (ready_a || pfds[0].revents != 0) {
            match a.read(&mut buf) {
                Ok(0) | Err(_) => {
                    a_open = false;
                    b.close();
                }
                Ok(n) => {
                    if b.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
        if b_open && (ready_b || pfds[1].revents != 0) {
            match b.read(&mut buf) {
                Ok(0) | Err(_) => {
                    b_open = false;
                    a.close();
                }
                Ok(n) => {
                    if a.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    }
}
