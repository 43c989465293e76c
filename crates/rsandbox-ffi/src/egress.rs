//! Egress: the allow-list by domain, secrets, violations and live updates
//! (`Sandbox::egress`, `Child::violations`, `Child::on_violation`,
//! `Child::update_egress` of the Rust core). Each `sandbox_egress_*` setter
//! adds to the description's egress policy, creating it on first use: any
//! of them puts the box's network behind the gateway (see
//! docs/egress.md).

use std::ffi::{c_char, c_void, CString};
use std::net::SocketAddr;

use rsandbox::egress::{EgressPolicy, Violation};
use rsandbox::Sandbox;

use crate::builder::{sandbox_t, update};
use crate::child::sandbox_child_t;
use crate::error::{as_mut, as_ref, guard, text, FfiError};
use crate::sandbox_result_t;

/// Apply `f` to the description's egress policy (a new one if none).
fn policy(
    sb: *mut sandbox_t,
    f: impl FnOnce(EgressPolicy) -> EgressPolicy,
) -> crate::error::FfiResult {
    update(sb, |s: Sandbox| {
        let p = s.egress_policy().cloned().unwrap_or_default();
        s.egress(f(p))
    })
}

/// Allow a domain ("example.com") or its subdomains ("*.example.com"), on
/// ports 80 and 443 or those given ("example.com:22,8080", ":*" for any).
/// Checked at spawn (`SANDBOX_INVALID_CONFIG`: empty, "*" alone, port 0...).
#[no_mangle]
pub extern "C" fn sandbox_egress_allow_domain(
    sb: *mut sandbox_t,
    pattern: *const c_char,
) -> sandbox_result_t {
    guard(|| {
        let p = text(pattern, "pattern")?.to_string();
        policy(sb, |e| e.allow_domain(p))
    })
}

/// Allow an address or CIDR ("10.1.2.0/24", "[2001:db8::]/32:443"), on
/// ports 80 and 443 or those given; not checked by name.
#[no_mangle]
pub extern "C" fn sandbox_egress_allow_cidr(
    sb: *mut sandbox_t,
    cidr: *const c_char,
) -> sandbox_result_t {
    guard(|| {
        let c = text(cidr, "cidr")?.to_string();
        policy(sb, |e| e.allow_cidr(c))
    })
}

/// A secret: the box's variable `env` holds a placeholder that the gateway
/// replaces with `value` in header `header` of requests to `host` only
/// (HTTPS through a per-box CA the box trusts). All four are copied.
#[no_mangle]
pub extern "C" fn sandbox_egress_secret(
    sb: *mut sandbox_t,
    env: *const c_char,
    host: *const c_char,
    header: *const c_char,
    value: *const c_char,
) -> sandbox_result_t {
    guard(|| {
        let (env, host) = (
            text(env, "env")?.to_string(),
            text(host, "host")?.to_string(),
        );
        let (header, value) = (
            text(header, "header")?.to_string(),
            text(value, "value")?.to_string(),
        );
        policy(sb, |e| e.secret(env, host, header, value))
    })
}

/// Resolve allowed names with the DNS server at `addr` ("127.0.0.1:5353",
/// UDP) instead of this machine's resolver: for tests and offline use.
#[no_mangle]
pub extern "C" fn sandbox_egress_resolve_with(
    sb: *mut sandbox_t,
    addr: *const c_char,
) -> sandbox_result_t {
    guard(|| {
        let a = text(addr, "addr")?;
        let a: SocketAddr = a.parse().map_err(|e| {
            FfiError::arg(
                "addr",
                format!("{a:?}: {e} (expected e.g. \"127.0.0.1:53\")"),
            )
        })?;
        policy(sb, |e| e.resolve_with(a))
    })
}

/// Trust these PEM roots (besides the system bundle) upstream, for the
/// connections the gateway terminates (hosts with secrets).
#[no_mangle]
pub extern "C" fn sandbox_egress_upstream_ca_pem(
    sb: *mut sandbox_t,
    pem: *const c_char,
) -> sandbox_result_t {
    guard(|| {
        let p = text(pem, "pem")?.to_string();
        policy(sb, |e| e.upstream_ca_pem(p))
    })
}

/// The proxy endpoint's port on the box's loopback (default 3128).
#[no_mangle]
pub extern "C" fn sandbox_egress_proxy_port(sb: *mut sandbox_t, port: u16) -> sandbox_result_t {
    guard(|| policy(sb, |e| e.proxy_port(port)))
}

/// Whether HTTP_PROXY / HTTPS_PROXY are set in the box (default: true).
#[no_mangle]
pub extern "C" fn sandbox_egress_proxy_env(sb: *mut sandbox_t, on: bool) -> sandbox_result_t {
    guard(|| policy(sb, |e| e.proxy_env(on)))
}

/// One refused query or connection, as passed to a
/// `sandbox_violation_fn`. Every string is valid only during the call.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct sandbox_violation_t {
    /// When, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// What was refused: "dns", "connect", "tls", "http", "proxy",
    /// "datagram" or "limit".
    pub kind: *const c_char,
    /// The name asked for, or NULL.
    pub name: *const c_char,
    /// The address asked for, or NULL.
    pub addr: *const c_char,
    /// The port, or -1.
    pub port: i32,
    /// The pid as seen in the box, or -1.
    pub pid: i32,
    /// Why it was refused.
    pub reason: *const c_char,
}

/// Called on a gateway thread (not the caller's) for each violation, with
/// the `userdata` given to `sandbox_child_on_violation`.
#[allow(non_camel_case_types)]
pub type sandbox_violation_fn =
    Option<extern "C" fn(violation: *const sandbox_violation_t, userdata: *mut c_void)>;

fn cstr(s: &str) -> CString {
    CString::new(s.replace('\0', "?")).unwrap_or_default()
}

/// A `*mut c_void` the caller promised may be used from another thread.
struct UserData(*mut c_void);
// SAFETY: the documented contract of sandbox_child_on_violation.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

fn call(cb: extern "C" fn(*const sandbox_violation_t, *mut c_void), v: &Violation, ud: &UserData) {
    let kind = serde_json::to_value(v.kind)
        .ok()
        .and_then(|k| k.as_str().map(cstr))
        .unwrap_or_default();
    let name = v.name.as_deref().map(cstr);
    let addr = v.addr.map(|a| cstr(&a.to_string()));
    let reason = cstr(&v.reason);
    let c = sandbox_violation_t {
        time_ms: v.time_ms,
        kind: kind.as_ptr(),
        name: name.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
        addr: addr.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
        port: v.port.map_or(-1, i32::from),
        pid: v.pid.unwrap_or(-1),
        reason: reason.as_ptr(),
    };
    cb(&c, ud.0);
}

/// Call `cb(violation, userdata)` for each new egress violation of the box
/// (on a gateway thread, so `userdata` must be safe to use from another
/// thread, and `cb` must not call back into this child). Without an egress
/// policy it is never called. `cb` NULL is `SANDBOX_NULL_POINTER`.
#[no_mangle]
pub extern "C" fn sandbox_child_on_violation(
    child: *mut sandbox_child_t,
    cb: sandbox_violation_fn,
    userdata: *mut c_void,
) -> sandbox_result_t {
    guard(|| {
        let child = as_mut(child, "child")?;
        let cb = cb.ok_or_else(|| FfiError::null("cb"))?;
        let ud = UserData(userdata);
        child.inner.on_violation(move |v| call(cb, v, &ud));
        Ok(())
    })
}

/// The egress violations recorded so far (all of them once the box has
/// been waited for), as a JSON array of objects with `time_ms`, `kind`,
/// `name`, `addr`, `port`, `pid`, `reason`; written to `*json_out`, owned
/// by the caller (free with `sandbox_string_free`). Empty ("[]") without an
/// egress policy. Does not block.
#[no_mangle]
pub extern "C" fn sandbox_child_violations_json(
    child: *const sandbox_child_t,
    json_out: *mut *mut c_char,
) -> sandbox_result_t {
    guard(|| {
        let child = as_ref(child, "child")?;
        crate::json_out(&child.inner.recorded_violations(), json_out)
    })
}

/// Replace the egress rules (and secret values) of the running box with the
/// egress policy of description `policy_from` (built with the
/// `sandbox_egress_*` setters); connections already made stay.
/// `SANDBOX_INVALID_CONFIG` when `policy_from` has no egress policy, the
/// box was spawned without one, or the policy is invalid.
#[no_mangle]
pub extern "C" fn sandbox_child_update_egress(
    child: *mut sandbox_child_t,
    policy_from: *const sandbox_t,
) -> sandbox_result_t {
    guard(|| {
        let child = as_mut(child, "child")?;
        let from = as_ref(policy_from, "policy_from")?;
        let p = from.inner.egress_policy().cloned().ok_or_else(|| {
            FfiError::from(rsandbox::Error::invalid(
                "policy_from",
                "this description has no egress policy (use the sandbox_egress_* setters)",
            ))
        })?;
        Ok(child.inner.update_egress(p)?)
    })
}
