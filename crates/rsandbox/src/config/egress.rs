//! The egress policy: what a box may reach, as plain data (serde, for
//! profiles), and its compiled form, checked once before spawn.
//!
//! Rules are strings so that every surface (Rust, C, Python, TOML, the
//! command line) writes them the same way:
//!
//! - a domain, `example.com`, or every subdomain of one, `*.pypi.org`
//!   (not `pypi.org` itself: list both for both);
//! - an address or a CIDR, `10.1.2.3`, `10.1.2.0/24`, `[2001:db8::]/32`;
//! - each optionally followed by `:PORT[,PORT...]` or `:*` (any port). A
//!   rule without ports allows 80 and 443.
//!
//! Anything not allowed is denied.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Ports a rule without a port list allows.
pub const DEFAULT_PORTS: [u16; 2] = [80, 443];

/// The port of the box's HTTP(S) proxy endpoint unless set otherwise.
pub const DEFAULT_PROXY_PORT: u16 = 3128;

/// What a box may reach on the network, by name or address. See the
/// [module docs](crate::egress) for how it is enforced.
///
/// ```
/// use rsandbox::egress::EgressPolicy;
/// let p = EgressPolicy::new()
///     .allow_domain("example.com")
///     .allow_domain("*.pypi.org:443")
///     .allow_cidr("10.1.2.0/24:443");
/// assert!(p.validate().is_ok());
/// assert!(EgressPolicy::new().allow_domain("*").validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EgressPolicy {
    /// Domain rules: `name[:ports]` or `*.suffix[:ports]`.
    pub(crate) allow_domains: Vec<String>,
    /// Address rules: `addr[/prefix][:ports]`.
    pub(crate) allow_cidrs: Vec<String>,
    /// Headers whose placeholder the gateway replaces with a secret.
    pub(crate) secrets: Vec<Secret>,
    /// The DNS server (UDP) the gateway asks for allowed names (`None`:
    /// the caller's own resolver, `getaddrinfo`).
    pub(crate) resolver: Option<SocketAddr>,
    /// Extra PEM roots trusted for upstream TLS (besides the system
    /// bundle), for connections the gateway terminates (secrets).
    pub(crate) upstream_ca_pem: Vec<String>,
    /// Port of the proxy endpoint on the box's loopback.
    pub(crate) proxy_port: u16,
    /// Set `HTTP_PROXY`/`HTTPS_PROXY` (and lower-case forms) in the box.
    pub(crate) proxy_env: bool,
}

impl Default for EgressPolicy {
    fn default() -> Self {
        EgressPolicy {
            allow_domains: Vec::new(),
            allow_cidrs: Vec::new(),
            secrets: Vec::new(),
            resolver: None,
            upstream_ca_pem: Vec::new(),
            proxy_port: DEFAULT_PROXY_PORT,
            proxy_env: true,
        }
    }
}

/// A header value the payload may use but never read: the box sees
/// `placeholder` in its environment variable `env`, and the gateway puts
/// `value` in its place in header `header` of requests to `host` (and to no
/// other host).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    /// Environment variable of the box holding the placeholder.
    pub env: String,
    /// The only host whose requests get the real value (an exact name).
    pub host: String,
    /// The request header the placeholder is replaced in.
    pub header: String,
    /// The real value.
    pub value: String,
}

impl EgressPolicy {
    /// A policy that allows nothing.
    pub fn new() -> EgressPolicy {
        EgressPolicy::default()
    }
    /// Allow a domain (`example.com`) or its subdomains (`*.example.com`),
    /// on ports 80 and 443 or those given (`example.com:22,8080`, `:*`).
    pub fn allow_domain(mut self, pattern: impl Into<String>) -> Self {
        self.allow_domains.push(pattern.into());
        self
    }
    /// Allow an address or CIDR (`10.1.2.0/24`, `[2001:db8::]/32:443`),
    /// on ports 80 and 443 or those given. No name is checked for these.
    pub fn allow_cidr(mut self, cidr: impl Into<String>) -> Self {
        self.allow_cidrs.push(cidr.into());
        self
    }
    /// A secret (see [`Secret`]): the box's variable `env` holds a
    /// placeholder that the gateway replaces with `value` in header
    /// `header` of requests to `host` only (HTTPS through a per-box CA the
    /// box trusts). `host` must be allowed by a domain rule.
    pub fn secret(
        mut self,
        env: impl Into<String>,
        host: impl Into<String>,
        header: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.secrets.push(Secret {
            env: env.into(),
            host: host.into(),
            header: header.into(),
            value: value.into(),
        });
        self
    }
    /// Resolve allowed names with the DNS server at `server` (UDP) instead
    /// of the caller's resolver: for tests and offline use.
    pub fn resolve_with(mut self, server: SocketAddr) -> Self {
        self.resolver = Some(server);
        self
    }
    /// Trust these PEM roots (besides the system bundle) for the upstream
    /// side of connections the gateway terminates.
    pub fn upstream_ca_pem(mut self, pem: impl Into<String>) -> Self {
        self.upstream_ca_pem.push(pem.into());
        self
    }
    /// The proxy endpoint's port on the box's loopback (default 3128).
    pub fn proxy_port(mut self, port: u16) -> Self {
        self.proxy_port = port;
        self
    }
    /// Whether the proxy variables are set in the box (default: on).
    /// Programs that ignore them are captured all the same.
    pub fn proxy_env(mut self, on: bool) -> Self {
        self.proxy_env = on;
        self
    }
    /// The domain rules, as given.
    pub fn domains(&self) -> &[String] {
        &self.allow_domains
    }
    /// The address rules, as given.
    pub fn cidrs(&self) -> &[String] {
        &self.allow_cidrs
    }
    /// The secrets.
    pub fn secrets(&self) -> &[Secret] {
        &self.secrets
    }

    /// Check every rule and secret; the compiled rules on success.
    pub fn validate(&self) -> Result<()> {
        self.compile().map(|_| ())
    }

    pub(crate) fn compile(&self) -> Result<Rules> {
        let mut rules = Rules::default();
        for spec in &self.allow_domains {
            rules.domains.push(parse_domain_rule(spec)?);
        }
        for spec in &self.allow_cidrs {
            rules.cidrs.push(parse_cidr_rule(spec)?);
        }
        if self.proxy_port == 0 {
            return Err(invalid("egress.proxy_port", "port 0 is not a port"));
        }
        if self.proxy_port == 53 {
            return Err(invalid("egress.proxy_port", "53 is the box's DNS port"));
        }
        for s in &self.secrets {
            check_secret(s, &rules)?;
        }
        if let Some(r) = self.resolver {
            if r.port() == 0 {
                return Err(invalid("egress.resolve_with", "port 0 is not a port"));
            }
        }
        Ok(rules)
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::invalid(field, reason)
}

/// A set of ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ports {
    Any,
    List(Vec<u16>),
}

impl Ports {
    fn contains(&self, p: u16) -> bool {
        match self {
            Ports::Any => true,
            Ports::List(l) => l.contains(&p),
        }
    }
}

/// A compiled domain rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DomainRule {
    /// Lower case, no trailing dot.
    name: String,
    /// `*.name`: strict subdomains only.
    wildcard: bool,
    ports: Ports,
}

impl DomainRule {
    fn matches(&self, name: &str) -> bool {
        if self.wildcard {
            name.len() > self.name.len() + 1
                && name.ends_with(&self.name)
                && name.as_bytes()[name.len() - self.name.len() - 1] == b'.'
        } else {
            name == self.name
        }
    }
}

/// A compiled address rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CidrRule {
    net: IpAddr,
    prefix: u8,
    ports: Ports,
}

impl CidrRule {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let m = mask32(self.prefix);
                u32::from(n) & m == u32::from(a) & m
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let m = mask128(self.prefix);
                u128::from(n) & m == u128::from(a) & m
            }
            _ => false,
        }
    }
}

fn mask32(p: u8) -> u32 {
    if p == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(p))
    }
}

fn mask128(p: u8) -> u128 {
    if p == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(p))
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// The compiled policy the gateway consults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Rules {
    pub domains: Vec<DomainRule>,
    pub cidrs: Vec<CidrRule>,
}

impl Rules {
    /// Whether some rule allows `name` (on any port): what DNS answers.
    pub fn name_allowed(&self, name: &str) -> bool {
        self.domains.iter().any(|r| r.matches(name))
    }
    /// Whether `name` may be reached on `port`.
    pub fn allows_name(&self, name: &str, port: u16) -> bool {
        self.domains
            .iter()
            .any(|r| r.matches(name) && r.ports.contains(port))
    }
    /// Whether `ip` may be reached on `port` by an address rule.
    pub fn allows_ip(&self, ip: IpAddr, port: u16) -> bool {
        self.cidrs
            .iter()
            .any(|r| r.contains(ip) && r.ports.contains(port))
    }
}

/// Split `spec` into host and ports: `host`, `host:ports`, `[v6]:ports`,
/// `[v6]/len:ports`. A bare IPv6 address (several colons, no brackets) has
/// no ports.
fn split_ports(spec: &str) -> (&str, Option<&str>) {
    if let Some(rest) = spec.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            let (host, after) = (&rest[..end], &rest[end + 1..]);
            // `[v6]/len:ports`: the prefix stays with the host.
            let (pfx, ports) = match after.find(':') {
                Some(i) => (&after[..i], Some(&after[i + 1..])),
                None => (after, None),
            };
            if pfx.is_empty() {
                return (host, ports);
            }
            // Re-join "host" + "/len" by slicing the original spec.
            let len = 1 + end + 1 + pfx.len();
            return (&spec[..len], ports);
        }
        return (spec, None);
    }
    if spec.matches(':').count() > 1 {
        return (spec, None);
    }
    match spec.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (spec, None),
    }
}

fn parse_ports(field: &str, spec: &str, ports: Option<&str>) -> Result<Ports> {
    let Some(ports) = ports else {
        return Ok(Ports::List(DEFAULT_PORTS.to_vec()));
    };
    if ports == "*" {
        return Ok(Ports::Any);
    }
    let mut out = Vec::new();
    for p in ports.split(',') {
        let n: u16 = p.trim().parse().map_err(|_| {
            invalid(
                field,
                format!("{spec:?}: port {p:?} is not a number from 1 to 65535"),
            )
        })?;
        if n == 0 {
            return Err(invalid(field, format!("{spec:?}: port 0 is not a port")));
        }
        out.push(n);
    }
    Ok(Ports::List(out))
}

fn parse_domain_rule(spec: &str) -> Result<DomainRule> {
    const F: &str = "egress.allow_domain";
    let (host, ports) = split_ports(spec.trim());
    let ports = parse_ports(F, spec, ports)?;
    let (wildcard, name) = match host.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, host),
    };
    if host.is_empty() {
        return Err(invalid(F, "an empty pattern matches nothing"));
    }
    if host == "*" {
        return Err(invalid(
            F,
            "\"*\" alone would allow every name; use *.suffix patterns",
        ));
    }
    if host.parse::<IpAddr>().is_ok() || host.contains('/') {
        return Err(invalid(
            F,
            format!("{spec:?} is an address: use allow_cidr (--allow-cidr)"),
        ));
    }
    let name = normalize_name(name).ok_or_else(|| {
        invalid(
            F,
            format!(
                "{spec:?} is not a domain name or *.suffix pattern \
                 (letters, digits, '-' and '_' in dot-separated labels of 1 to 63)"
            ),
        )
    })?;
    Ok(DomainRule {
        name,
        wildcard,
        ports,
    })
}

/// A DNS name in canonical form (lower case, no trailing dot), or `None`
/// when it is not one.
pub(crate) fn normalize_name(name: &str) -> Option<String> {
    let n = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let ok = !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    ok.then_some(n)
}

fn parse_cidr_rule(spec: &str) -> Result<CidrRule> {
    const F: &str = "egress.allow_cidr";
    let (host, ports) = split_ports(spec.trim());
    let ports = parse_ports(F, spec, ports)?;
    let bad = || {
        invalid(
            F,
            format!("{spec:?} is not an address or CIDR (10.0.0.0/8, [2001:db8::]/32:443)"),
        )
    };
    let (addr, prefix) = match host.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (host, None),
    };
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let net = canonical(addr.parse::<IpAddr>().map_err(|_| bad())?);
    let max = if net.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
        None => max,
    };
    if prefix == 0 {
        return Err(invalid(
            F,
            format!("{spec:?} allows every address; name the networks you need"),
        ));
    }
    Ok(CidrRule { net, prefix, ports })
}

/// Environment variable names the box may be given.
fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.as_bytes()[0].is_ascii_digit()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// HTTP header names (RFC 9110 tokens).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn check_secret(s: &Secret, rules: &Rules) -> Result<()> {
    const F: &str = "egress.secret";
    if !is_env_name(&s.env) {
        return Err(invalid(
            F,
            format!("{:?} is not an environment variable name", s.env),
        ));
    }
    if !is_token(&s.header) {
        return Err(invalid(
            F,
            format!("{:?} is not an HTTP header name", s.header),
        ));
    }
    if s.value.is_empty() || s.value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(invalid(
            F,
            format!(
                "the value for {} must be non-empty, on one line, without NUL",
                s.env
            ),
        ));
    }
    let host = normalize_name(&s.host)
        .ok_or_else(|| invalid(F, format!("{:?} is not a host name", s.host)))?;
    if !rules.name_allowed(&host) {
        return Err(invalid(
            F,
            format!("host {host} is not allowed by any allow_domain rule"),
        ));
    }
    Ok(())
}

/// The loopback addresses of either family.
pub(crate) fn is_loopback(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(a) => a.is_loopback(),
        IpAddr::V6(a) => a == Ipv6Addr::LOCALHOST,
    }
}

/// `0.0.0.0` / `::`: connecting there reaches the local host, as loopback.
pub(crate) fn is_unspecified(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(a) => a == Ipv4Addr::UNSPECIFIED,
        IpAddr::V6(a) => a.is_unspecified(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(p: EgressPolicy) -> String {
        match p.validate() {
            Err(Error::InvalidConfig { field, reason }) => format!("{field}: {reason}"),
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert!(err(EgressPolicy::new().allow_domain("")).contains("empty"));
        assert!(err(EgressPolicy::new().allow_domain("*")).contains("every name"));
        assert!(err(EgressPolicy::new().allow_domain("a.com:0")).contains("port 0"));
        assert!(err(EgressPolicy::new().allow_domain("a.com:x")).contains("not a number"));
        assert!(err(EgressPolicy::new().allow_domain("a..com")).contains("not a domain"));
        assert!(err(EgressPolicy::new().allow_domain("*.")).contains("not a domain"));
        assert!(err(EgressPolicy::new().allow_domain("a.*.com")).contains("not a domain"));
        assert!(err(EgressPolicy::new().allow_domain("10.0.0.1")).contains("allow_cidr"));
        assert!(err(EgressPolicy::new().allow_cidr("10.0.0.0/33")).contains("not an address"));
        assert!(err(EgressPolicy::new().allow_cidr("10.0.0/8")).contains("not an address"));
        assert!(err(EgressPolicy::new().allow_cidr("0.0.0.0/0")).contains("every address"));
        assert!(err(EgressPolicy::new().allow_cidr("10.0.0.0/8:0")).contains("port 0"));
        assert!(err(EgressPolicy::new().proxy_port(0)).contains("port 0"));
        let s = EgressPolicy::new().allow_domain("api.test");
        assert!(err(s.clone().secret("K", "other.test", "X-Key", "v")).contains("not allowed"));
        assert!(err(s.clone().secret("1K", "api.test", "X-Key", "v")).contains("variable"));
        assert!(err(s.clone().secret("K", "api.test", "X Key", "v")).contains("header"));
        assert!(err(s.secret("K", "api.test", "X-Key", "a\r\nb")).contains("one line"));
    }

    #[test]
    fn domain_rules_match_exact_names_and_strict_subdomains() {
        let r = EgressPolicy::new()
            .allow_domain("Example.COM.")
            .allow_domain("*.pypi.org:443")
            .compile()
            .unwrap();
        assert!(r.allows_name("example.com", 80));
        assert!(r.allows_name("example.com", 443));
        assert!(!r.allows_name("example.com", 22));
        assert!(!r.name_allowed("www.example.com"));
        assert!(r.allows_name("files.pypi.org", 443));
        assert!(!r.allows_name("files.pypi.org", 80));
        assert!(!r.name_allowed("pypi.org"));
        assert!(!r.name_allowed("evilpypi.org"));
        assert!(r.name_allowed("a.b.pypi.org"));
    }

    #[test]
    fn cidr_rules_match_addresses_and_ports() {
        let r = EgressPolicy::new()
            .allow_cidr("10.1.2.0/24:443")
            .allow_cidr("[2001:db8::]/32:*")
            .allow_cidr("192.0.2.7")
            .compile()
            .unwrap();
        assert!(r.allows_ip("10.1.2.9".parse().unwrap(), 443));
        assert!(r.allows_ip("::ffff:10.1.2.9".parse().unwrap(), 443));
        assert!(!r.allows_ip("10.1.3.9".parse().unwrap(), 443));
        assert!(!r.allows_ip("10.1.2.9".parse().unwrap(), 80));
        assert!(r.allows_ip("2001:db8::1".parse().unwrap(), 9));
        assert!(r.allows_ip("192.0.2.7".parse().unwrap(), 80));
        assert!(!r.allows_ip("192.0.2.8".parse().unwrap(), 80));
    }

    #[test]
    fn ports_split_from_hosts() {
        assert_eq!(split_ports("a.com"), ("a.com", None));
        assert_eq!(split_ports("a.com:1,2"), ("a.com", Some("1,2")));
        assert_eq!(split_ports("2001:db8::1"), ("2001:db8::1", None));
        assert_eq!(
            split_ports("[2001:db8::1]:443"),
            ("2001:db8::1", Some("443"))
        );
        assert_eq!(
            split_ports("[2001:db8::]/32:443"),
            ("[2001:db8::]/32", Some("443"))
        );
        assert_eq!(split_ports("10.0.0.0/8:22"), ("10.0.0.0/8", Some("22")));
    }
}
