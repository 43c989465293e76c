//! Published ports (`sandbox_publish`: an address given as text), and
//! profiles in files and TOML. Socket activation (`sandbox_listen_fd`) and
//! `sandbox_publish_listener` are generated (`generated.rs`). Each function
//! mirrors the Rust method of the same name.

use std::ffi::c_char;
use std::net::SocketAddr;

use rsandbox::Sandbox;

use crate::builder::{boxed, sandbox_t, update};
use crate::error::{as_ref, c_path, guard, out_ptr, text, write_out, FfiError};
use crate::sandbox_result_t;

/// Publish box port `box_port`: TCP connections accepted on the host at
/// `host` ("127.0.0.1:8080", "[::1]:8080"; UTF-8; an unparsable address is
/// `SANDBOX_INVALID_ARGUMENT`) are forwarded to 127.0.0.1:`box_port` inside
/// the box's network namespace. `host` is bound at spawn. Needs
/// `sandbox_net_ns` and `sandbox_pid_ns`; works rootless.
#[no_mangle]
pub extern "C" fn sandbox_publish(
    sb: *mut sandbox_t,
    host: *const c_char,
    box_port: u16,
) -> sandbox_result_t {
    guard(|| {
        let host = text(host, "host")?;
        let addr: SocketAddr = host.parse().map_err(|e| {
            FfiError::arg(
                "host",
                format!("{host:?}: {e} (expected e.g. \"127.0.0.1:8080\")"),
            )
        })?;
        update(sb, |s| s.publish(addr, box_port))
    })
}

/// A description read from a profile file (`path` ending in .json or
/// .toml; the schema of docs/profile.md), written to `*sb_out`, owned by
/// the caller (free with `sandbox_free`). A bad file or key is
/// `SANDBOX_INVALID_CONFIG` naming the file; an unreadable one `SANDBOX_IO`.
#[no_mangle]
pub extern "C" fn sandbox_load(
    path: *const c_char,
    sb_out: *mut *mut sandbox_t,
) -> sandbox_result_t {
    guard(|| {
        let path = c_path(path, "path")?;
        let out = out_ptr(sb_out, "sb_out")?;
        write_out(out, boxed(Sandbox::load(path)?));
        Ok(())
    })
}

/// Write the description to a profile file (`path` ending in .json or
/// .toml).
#[no_mangle]
pub extern "C" fn sandbox_save(sb: *const sandbox_t, path: *const c_char) -> sandbox_result_t {
    guard(|| {
        let sb = as_ref(sb, "sb")?;
        let path = c_path(path, "path")?;
        Ok(sb.inner.save(path)?)
    })
}

/// The description as a TOML profile, in a new NUL-terminated string
/// written to `*toml_out`, owned by the caller (free with
/// `sandbox_string_free`).
#[no_mangle]
pub extern "C" fn sandbox_to_toml(
    sb: *const sandbox_t,
    toml_out: *mut *mut c_char,
) -> sandbox_result_t {
    guard(|| {
        let sb = as_ref(sb, "sb")?;
        let out = out_ptr(toml_out, "toml_out")?;
        let s = sb.inner.to_toml()?;
        write_out(out, crate::string_out(s));
        Ok(())
    })
}

/// A description read from a TOML profile (UTF-8), written to `*sb_out`,
/// owned by the caller (free with `sandbox_free`).
#[no_mangle]
pub extern "C" fn sandbox_from_toml(
    toml: *const c_char,
    sb_out: *mut *mut sandbox_t,
) -> sandbox_result_t {
    guard(|| {
        let toml = text(toml, "toml")?;
        let out = out_ptr(sb_out, "sb_out")?;
        write_out(out, boxed(Sandbox::from_toml(toml)?));
        Ok(())
    })
}
