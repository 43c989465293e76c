//! Egress: an allow-list by domain that holds for every program in a box,
//! with violation reports, live updates, and secrets the payload can use
//! but never read. No helper binary, no root, no netfilter.
//!
//! **How it holds.** The box has its own network namespace with only `lo`:
//! nothing outside is routable from it, by construction. The only ways out
//! are the gateway's, threads of the caller's process that serve the box
//! on sockets its first process made in its namespace and handed over
//! (`boxside`):
//!
//! - **DNS** (`/etc/resolv.conf` of the box says `127.0.0.1`): allowed
//!   names that exist get a fake address, one per name (`dns`); any other
//!   name gets NXDOMAIN and is never looked up, so a query carries nothing
//!   out.
//! - **Every TCP connect** of the box to an address other than its own is
//!   brought to the gateway by a seccomp user-notification filter
//!   (`notify`): the gateway takes the socket (`pidfd_getfd`), checks the
//!   destination (a fake address stands for its name; other addresses
//!   need an address rule), and connects it to a capture listener in the
//!   box's namespace, noting where it meant to go. On accept, the TLS SNI
//!   or HTTP `Host` must name that same host (`conn`, `sniff`); the
//!   gateway then connects upstream from the caller's namespace and
//!   relays. Refusals are a reset (or `ECONNREFUSED` at connect).
//! - **The proxy endpoint** at `127.0.0.1:3128` (`HTTP_PROXY`,
//!   `HTTPS_PROXY` set in the box) takes `CONNECT` and absolute-form
//!   requests, checked the same way.
//! - **Datagrams** (UDP, ICMP, raw) to anything but the box's own
//!   addresses are refused with `EPERM`; IPv6 destinations follow the
//!   address rules (DNS answers IPv4 only).
//!
//! Whatever escapes the filter (io_uring, another ABI) still meets an
//! unroutable namespace: the filter decides what is captured and reported,
//! the namespace what is reachable.
//!
//! **Secrets** ([`EgressPolicy::secret`]): the box gets a random placeholder
//! in its environment; the gateway replaces it in the named header of
//! requests to that host only, in plain HTTP directly and in HTTPS through a
//! per-box CA (`tls`) that the box trusts through `SSL_CERT_FILE`,
//! `REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`, `NODE_EXTRA_CA_CERTS` and the
//! system bundle of its view. Each intercepted request is sent with
//! `Connection: close`, so every request's head passes the gateway.
//!
//! **Violations** ([`Violation`]) are kept in bounded memory, streamed live
//! ([`Child::violations`](crate::Child::violations),
//! [`Child::on_violation`](crate::Child::on_violation)) and returned in
//! [`Outcome::violations`](crate::Outcome::violations).
//! [`Child::update_egress`](crate::Child::update_egress) changes the rules of
//! a running box; connections already made stay.
//!
//! Limits: the SNI check cannot see a `Host` inside TLS (domain fronting on
//! a shared front end) except for hosts with secrets; a connection to an
//! address allowed by an address rule is not checked by name; UDP (QUIC)
//! is refused, so HTTP/3 clients fall back to TCP.

mod boxside;
mod conn;
mod dns;
mod gateway;
mod notify;
/// The policy is part of the description ([`crate::config::egress`]).
pub(crate) use crate::config::egress as policy;
mod relay;
mod shared;
mod sniff;
mod tls;
mod violation;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{ChildResult, Error, Result};
use crate::ns::Namespace;
use crate::sandbox::Sandbox;

pub use policy::{EgressPolicy, Secret, DEFAULT_PORTS, DEFAULT_PROXY_PORT};
pub use violation::{Violation, ViolationCallback, ViolationKind, Violations, MAX_KEPT};

/// Egress builder method.
impl Sandbox {
    /// Let the box reach only what `policy` allows (see [`crate::egress`]).
    /// Needs [`net_ns`](Self::net_ns) (its own, not a shared one) and
    /// [`mount_ns`](Self::mount_ns) (for its `/etc/resolv.conf`). Works
    /// rootless.
    pub fn egress(mut self, policy: EgressPolicy) -> Self {
        self.egress = Some(policy);
        self
    }
    /// The egress policy, if one is set.
    pub fn egress_policy(&self) -> Option<&EgressPolicy> {
        self.egress.as_ref()
    }
}

/// A secret as the gateway uses it.
#[derive(Debug, Clone)]
pub(crate) struct Placeholder {
    pub env: String,
    pub placeholder: String,
    pub host: String,
    pub header: String,
    pub value: String,
}

/// Fill `buf` from the kernel's random source.
pub(crate) fn random_bytes(buf: &mut [u8]) {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: getrandom writes at most the remaining length.
        let n = unsafe { libc::getrandom(buf[done..].as_mut_ptr().cast(), buf.len() - done, 0) };
        if n > 0 {
            done += n as usize;
        }
    }
}

fn placeholder() -> String {
    let mut b = [0u8; 16];
    random_bytes(&mut b);
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("rsandbox-secret-{hex}")
}

/// Checks on the sandbox as a whole (run by `Sandbox::validate` and
/// before every spawn).
pub(crate) fn validate(sb: &Sandbox) -> Result<()> {
    let Some(p) = &sb.egress else {
        return Ok(());
    };
    p.validate()?;
    if !sb.has_ns(Namespace::Net) || sb.shared_net.is_some() {
        return Err(Error::invalid(
            "egress",
            "needs the box's own network namespace: add net_ns() (not net_ns_shared)",
        ));
    }
    if sb.join_ns.iter().any(|(n, _)| *n == Namespace::Net) {
        return Err(Error::invalid(
            "egress",
            "cannot be combined with a joined network namespace",
        ));
    }
    if !sb.has_ns(Namespace::Mount) {
        return Err(Error::invalid(
            "egress",
            "needs a mount namespace for the box's /etc/resolv.conf: add mount_ns()",
        ));
    }
    if !p.secrets.is_empty() {
        tls::check_roots(&p.upstream_ca_pem)?;
        if box_bundle(sb).is_none() {
            return Err(Error::invalid(
                "egress.secret",
                format!(
                    "secrets need a system CA bundle in the box's view ({}) to add the box's CA to",
                    tls::SYSTEM_BUNDLES.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// The system CA bundle as the box sees it: the first of the usual paths
/// that is a file in its view.
fn box_bundle(sb: &Sandbox) -> Option<PathBuf> {
    tls::SYSTEM_BUNDLES
        .iter()
        .find_map(|p| view_file(sb, Path::new(p)))
}

/// Where `path` (absolute, in the box) leads in the box's view, following
/// symlinks as the box would: the file to mount over, or `None` when it
/// is missing there or lands in a file system the box gets fresh (`/proc`,
/// `/dev`, and with the default view `/tmp` and `/run`, where a host
/// symlink such as systemd-resolved's `/etc/resolv.conf` dangles in the
/// box).
fn view_file(sb: &Sandbox, path: &Path) -> Option<PathBuf> {
    let on_host = |p: &Path| host_path(sb, p);
    let mut fresh = vec!["/proc", "/dev"];
    if sb.fs_config().rootfs.is_none() {
        fresh.extend(["/tmp", "/run"]);
    }
    let mut p = path.to_path_buf();
    for _ in 0..8 {
        if fresh.iter().any(|f| p.starts_with(f)) {
            return None;
        }
        let meta = std::fs::symlink_metadata(on_host(&p)).ok()?;
        if meta.is_file() {
            return Some(p);
        }
        if !meta.file_type().is_symlink() {
            return None;
        }
        let target = std::fs::read_link(on_host(&p)).ok()?;
        p = lexical(&p.parent().unwrap_or(Path::new("/")).join(target));
    }
    None
}

/// Where the host keeps `path` (absolute, in the box's view).
fn host_path(sb: &Sandbox, p: &Path) -> PathBuf {
    match sb.program_root() {
        Some(r) => r.join(p.strip_prefix("/").unwrap_or(p)),
        None => p.to_path_buf(),
    }
}

/// `path` without `.` and `..` (at `/`, `..` stays `/`), as the kernel
/// walks a path: for a link whose target climbs.
fn lexical(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Everything egress needs for one spawn, prepared in the parent: the
/// sandbox as the box gets it (with its resolv.conf, CA bundle and
/// variables), the gateway's state, and the files those mounts come from.
pub(crate) struct EgressPlan {
    sandbox: Sandbox,
    shared: Arc<shared::Shared>,
    /// The gateway's end of the egress socket pair.
    parent_end: Option<OwnedFd>,
    dir: PathBuf,
}

impl Drop for EgressPlan {
    fn drop(&mut self) {
        // The box's mounts hold what they need; the files can go.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The child's part: the socket pair end and the filter, for the pipeline.
pub(crate) struct EgressChild {
    sock: OwnedFd,
    filter: Vec<libc::sock_filter>,
    proxy_port: u16,
}

// SAFETY: sock_filter is plain integers, never mutated after it is built.
unsafe impl Send for EgressChild {}
// SAFETY: as above.
unsafe impl Sync for EgressChild {}

fn private_dir() -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let mut b = [0u8; 8];
    random_bytes(&mut b);
    let dir = std::env::temp_dir().join(format!(
        "rsandbox-egress-{}-{}-{:x}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        u64::from_ne_bytes(b)
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Error::io("create the egress files' directory", Some(dir.clone()), e))?;
    Ok(dir)
}

fn write(dir: &Path, name: &str, data: &[u8]) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, data).map_err(|e| Error::io("write an egress file", Some(p.clone()), e))?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| Error::io("chmod an egress file", Some(p.clone()), e))?;
    Ok(p)
}

/// A fresh random placeholder for each secret: the box sees only these,
/// the gateway swaps in the real value on the way out.
fn placeholders(policy: &EgressPolicy) -> Vec<Placeholder> {
    policy
        .secrets
        .iter()
        .map(|s| Placeholder {
            env: s.env.clone(),
            placeholder: placeholder(),
            host: policy::normalize_name(&s.host).unwrap_or_default(),
            header: s.header.clone(),
            value: s.value.clone(),
        })
        .collect()
}

/// `bx` with the box's own CA bundle plus the gateway's CA mounted over
/// it, and the usual variables naming it, so clients in the box trust the
/// gateway's certificates (validated: the view has a bundle).
fn with_ca_bundle(sb: &Sandbox, bx: Sandbox, ca: &tls::BoxCa, dir: &Path) -> Result<Sandbox> {
    let at = box_bundle(sb).unwrap_or_else(|| PathBuf::from(tls::SYSTEM_BUNDLES[0]));
    let mut bundle = std::fs::read(host_path(sb, &at)).unwrap_or_default();
    bundle.extend_from_slice(b"\n");
    bundle.extend_from_slice(ca.pem().as_bytes());
    let b = write(dir, "ca-bundle.pem", &bundle)?;
    let mut bx = bx.ro_bind(b, &at);
    for var in [
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
    ] {
        bx = bx.env(var, at.to_string_lossy().into_owned());
    }
    Ok(bx)
}

/// `bx` with the secrets' placeholders in its environment and, when the
/// policy asks, the proxy variables pointing at the gateway (loopback
/// itself excepted).
fn with_env(mut bx: Sandbox, policy: &EgressPolicy, secrets: &[Placeholder]) -> Sandbox {
    for s in secrets {
        bx = bx.env(s.env.clone(), s.placeholder.clone());
    }
    if policy.proxy_env {
        let url = format!("http://127.0.0.1:{}", policy.proxy_port);
        for var in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
            bx = bx.env(var, url.clone());
        }
        for var in ["NO_PROXY", "no_proxy"] {
            bx = bx.env(var, "localhost,127.0.0.1,::1");
        }
    }
    bx
}

impl EgressPlan {
    /// Validate and prepare; `None` without an egress policy.
    pub(crate) fn prepare(sb: &Sandbox) -> Result<Option<EgressPlan>> {
        let Some(policy) = &sb.egress else {
            return Ok(None);
        };
        validate(sb)?;
        let rules = policy.compile()?;
        let secrets = placeholders(policy);
        let ca = if secrets.is_empty() {
            None
        } else {
            Some(tls::BoxCa::new(&policy.upstream_ca_pem)?)
        };
        let dir = private_dir()?;
        // Removes the directory should anything below fail.
        let mut plan = EgressPlan {
            sandbox: Sandbox::default(),
            shared: Arc::new(shared::Shared::new(
                Default::default(),
                policy,
                Vec::new(),
                None,
            )),
            parent_end: None,
            dir,
        };
        let mut bx = sb.clone();
        // Without a resolv.conf in its view (missing, or a link that
        // dangles in the box), the box's resolver asks 127.0.0.1 anyway:
        // glibc's and musl's default.
        if let Some(conf) = view_file(sb, Path::new("/etc/resolv.conf")) {
            let resolv = write(
                &plan.dir,
                "resolv.conf",
                b"nameserver 127.0.0.1\noptions ndots:0\n",
            )?;
            bx = bx.ro_bind(resolv, conf);
        }
        if let Some(ca) = &ca {
            bx = with_ca_bundle(sb, bx, ca, &plan.dir)?;
        }
        plan.sandbox = with_env(bx, policy, &secrets);
        plan.shared = Arc::new(shared::Shared::new(rules, policy, secrets, ca));
        Ok(Some(plan))
    }

    /// The sandbox as the box gets it.
    pub(crate) fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The child's part, its socket at or above `min_fd` (clear of the
    /// fds the child puts in place).
    pub(crate) fn child_part(&mut self, min_fd: RawFd) -> Result<EgressChild> {
        let mut sv = [0 as RawFd; 2];
        // SAFETY: socketpair writes two fds.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                sv.as_mut_ptr(),
            )
        };
        if r != 0 {
            return Err(Error::last_os("create the egress socket pair", None));
        }
        // SAFETY: two fresh descriptors we own.
        let (p, c) = unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) };
        let c = crate::sys::fd::fd_at_least(c, min_fd)?;
        self.parent_end = Some(p);
        let filter = notify::program(c.as_raw_fd());
        Ok(EgressChild {
            sock: c,
            filter,
            proxy_port: self
                .sandbox
                .egress
                .as_ref()
                .map_or(DEFAULT_PROXY_PORT, |p| p.proxy_port),
        })
    }

    /// After a successful spawn: start the gateway. `pidfd` is the box's
    /// first process's.
    pub(crate) fn start(mut self, pidfd: RawFd) -> Result<Egress> {
        // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor we own.
        let dup = unsafe { libc::fcntl(pidfd, libc::F_DUPFD_CLOEXEC, 3) };
        if dup < 0 {
            return Err(Error::last_os("duplicate the box's pidfd", None));
        }
        // SAFETY: a fresh descriptor.
        let dup = unsafe { OwnedFd::from_raw_fd(dup) };
        let conn = self
            .parent_end
            .take()
            .ok_or_else(|| Error::invalid("egress", "no socket pair"))?;
        let gw = gateway::Gateway::start(self.shared.clone(), conn, dup)
            .map_err(|e| Error::io("start the egress gateway", None, e))?;
        Ok(Egress { gw })
    }
}

impl EgressChild {
    /// The box's end of the socket pair (kept open until the filter is
    /// installed).
    pub(crate) fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// In the box's first process, once its `lo` is up: make the gateway's
    /// sockets there and send them.
    pub(crate) fn make_sockets(&self) -> ChildResult {
        boxside::make_and_send(self.sock.as_raw_fd(), self.proxy_port)
    }

    /// In the box's first process, before it drops its capabilities:
    /// install the notification filter and send its listener (this closes
    /// the socket).
    ///
    /// # Safety
    /// Runs in the cloned child, once.
    pub(crate) unsafe fn install_filter(&self) -> ChildResult {
        // SAFETY: the prepared program for this socket.
        unsafe { notify::install(&self.filter, self.sock.as_raw_fd()) }
    }
}

/// A running box's egress gateway, held by its [`Child`](crate::Child).
#[derive(Debug)]
pub(crate) struct Egress {
    gw: gateway::Gateway,
}

impl Egress {
    /// The live stream of violations.
    pub fn violations(&self) -> Violations {
        self.gw.shared.log.subscribe()
    }
    /// Call `cb` for each new violation.
    pub fn on_violation(&self, cb: ViolationCallback) {
        self.gw.shared.log.on_violation(cb)
    }
    /// The violations so far.
    pub fn snapshot(&self) -> Vec<Violation> {
        self.gw.shared.log.snapshot()
    }
    /// Stop serving (the box has ended).
    pub fn stop(&mut self) {
        self.gw.stop()
    }

    /// Replace the rules and secret values in force.
    pub fn update(&self, policy: &EgressPolicy) -> Result<()> {
        let rules = policy.compile()?;
        let sh = &self.gw.shared;
        let old = sh.secrets.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut new = Vec::new();
        for s in &policy.secrets {
            let Some(o) = old.iter().find(|o| o.env == s.env) else {
                return Err(Error::invalid(
                    "egress.secret",
                    format!(
                        "{} was not a secret when the box started: its environment has no placeholder for it",
                        s.env
                    ),
                ));
            };
            new.push(Placeholder {
                env: s.env.clone(),
                placeholder: o.placeholder.clone(),
                host: policy::normalize_name(&s.host).unwrap_or_default(),
                header: s.header.clone(),
                value: s.value.clone(),
            });
        }
        *sh.rules.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(rules);
        *sh.secrets.write().unwrap_or_else(|p| p.into_inner()) = new;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_files_follow_links_as_the_box_would() {
        let d = std::env::temp_dir().join(format!("rsandbox-egress-view-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        for dir in ["etc", "data"] {
            std::fs::create_dir_all(d.join(dir)).unwrap();
        }
        std::fs::write(d.join("etc/plain.conf"), b"x").unwrap();
        std::fs::write(d.join("data/real"), b"x").unwrap();
        let link = |name: &str, to: &str| std::os::unix::fs::symlink(to, d.join(name)).unwrap();
        link("etc/rel", "../data/real");
        link("etc/abs", "/data/real");
        link("etc/climb", "../../../data/real");
        link("etc/dangling", "../nope");
        link("etc/fresh", "/proc/self/status");
        link("etc/loop", "loop");
        let sb = Sandbox::new().mount_ns().rootfs(&d);
        let v = |p: &str| view_file(&sb, Path::new(p)).map(|p| p.display().to_string());
        assert_eq!(v("/etc/plain.conf").as_deref(), Some("/etc/plain.conf"));
        assert_eq!(v("/etc/rel").as_deref(), Some("/data/real"));
        assert_eq!(v("/etc/abs").as_deref(), Some("/data/real"));
        assert_eq!(v("/etc/climb").as_deref(), Some("/data/real"));
        assert_eq!(v("/etc/dangling"), None);
        assert_eq!(v("/etc/fresh"), None);
        assert_eq!(v("/etc/loop"), None);
        assert_eq!(v("/etc"), None);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
