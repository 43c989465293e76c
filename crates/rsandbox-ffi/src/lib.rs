//! The C API of rsandbox: `libsandbox.so` / `libsandbox.a` and
//! `include/sandbox.h` (generated from this crate by cbindgen).
//!
//! A thin layer: every function converts its C arguments, calls the Rust
//! core, and converts the result. No policy, validation or syscalls of its
//! own live here.
//!
//! Conventions (after rustls-ffi): opaque types (`sandbox_t`,
//! `sandbox_child_t`, `sandbox_output_t`, `sandbox_template_t`,
//! `sandbox_fork_t`, `sandbox_pool_t`) created and freed by explicit
//! functions; fallible functions return a `sandbox_result_t` with stable
//! numbers and record a message for `sandbox_last_error_message()`; every
//! pointer is checked for NULL; out-parameters are written only on success;
//! every entry point runs inside a panic boundary (a panic returns
//! `SANDBOX_PANIC`).
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
// The C API takes raw pointers by design; each dereference goes through the
// checked helpers of `error.rs`, which state the contract.
#![allow(clippy::not_unsafe_ptr_arg_deref)]
#![allow(non_camel_case_types)]

mod builder;
mod cgroup;
mod child;
mod egress;
mod error;
mod fs;
mod generated;
mod netns;
mod ns;
mod pool;
mod services;
mod template;

use std::ffi::{c_char, CString};

pub use builder::*;
pub use cgroup::*;
pub use child::*;
pub use egress::*;
pub use error::{
    sandbox_last_error_errno, sandbox_last_error_message, sandbox_last_error_stage,
    sandbox_result_name, sandbox_result_t,
};
pub use fs::*;
pub use generated::*;
pub use netns::*;
pub use ns::*;
pub use pool::*;
pub use services::*;
pub use template::*;

/// A Rust string as a C string owned by the caller (interior NULs escaped).
pub(crate) fn string_out(s: String) -> *mut c_char {
    CString::new(s.replace('\0', "\\0"))
        .unwrap_or_default()
        .into_raw()
}

/// `v` as JSON, written to `*json_out` (a caller-owned string, freed with
/// `sandbox_string_free`).
pub(crate) fn json_out<T: serde::Serialize + ?Sized>(
    v: &T,
    json_out: *mut *mut c_char,
) -> error::FfiResult<()> {
    let out = error::out_ptr(json_out, "json_out")?;
    let s = serde_json::to_string(v)
        .map_err(|e| error::FfiError::new(sandbox_result_t::SANDBOX_ERROR, e.to_string()))?;
    error::write_out(out, string_out(s));
    Ok(())
}

/// Free a string returned by the library (`sandbox_to_json`,
/// `sandbox_enforcement_report`). NULL is allowed.
#[no_mangle]
pub extern "C" fn sandbox_string_free(s: *mut c_char) {
    error::guard_value((), || {
        if !s.is_null() {
            // SAFETY: by the API contract a non-NULL `s` came from
            // `string_out` (CString::into_raw) and is freed once.
            drop(unsafe { CString::from_raw(s) });
        }
    })
}

/// The library's version, e.g. "0.1.0" (static; never to be freed).
#[no_mangle]
pub extern "C" fn sandbox_version() -> *const c_char {
    const V: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    V.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;
    use std::path::Path;

    /// The committed header must be what cbindgen generates from this crate.
    /// Regenerate it with
    /// `SANDBOX_UPDATE_HEADER=1 cargo test -p rsandbox-ffi header`.
    #[test]
    fn header_is_up_to_date() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).unwrap();
        let mut generated = Vec::new();
        cbindgen::Builder::new()
            .with_crate(dir)
            .with_config(config)
            .generate()
            .expect("cbindgen failed")
            .write(&mut generated);
        let generated = String::from_utf8(generated).unwrap();
        let path = dir.join("../../include/sandbox.h");
        if std::env::var_os("SANDBOX_UPDATE_HEADER").is_some() {
            std::fs::write(&path, &generated).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "include/sandbox.h is out of date with crates/rsandbox-ffi; regenerate it with\n  \
             SANDBOX_UPDATE_HEADER=1 cargo test -p rsandbox-ffi header\nand commit it"
        );
    }

    fn last_message() -> String {
        // SAFETY: the library returns a valid NUL-terminated string.
        unsafe { CStr::from_ptr(sandbox_last_error_message()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn null_pointers_are_reported() {
        assert_eq!(
            sandbox_pid_ns(std::ptr::null_mut()),
            sandbox_result_t::SANDBOX_NULL_PARAMETER
        );
        assert_eq!(last_message(), "sb is NULL");
        let sb = sandbox_new();
        assert_eq!(
            sandbox_hostname(sb, std::ptr::null()),
            sandbox_result_t::SANDBOX_NULL_PARAMETER
        );
        assert_eq!(last_message(), "name is NULL");
        sandbox_free(sb);
    }

    #[test]
    fn invalid_utf8_and_unchanged_builder() {
        let sb = sandbox_new();
        assert_eq!(sandbox_uts_ns(sb), sandbox_result_t::SANDBOX_OK);
        let bad = c"\xff\xfe";
        assert_eq!(
            sandbox_hostname(sb, bad.as_ptr()),
            sandbox_result_t::SANDBOX_INVALID_UTF8
        );
        // The failed setter left the description as it was.
        // SAFETY: `sb` came from sandbox_new.
        assert!(unsafe { &*sb }.inner.has_ns(rsandbox::Namespace::Uts));
        sandbox_free(sb);
    }

    #[test]
    fn config_errors_come_from_the_core() {
        let sb = sandbox_new();
        sandbox_memory_limit(sb, 0);
        assert_eq!(
            sandbox_validate(sb),
            sandbox_result_t::SANDBOX_INVALID_CONFIG
        );
        assert!(last_message().contains("memory"), "{}", last_message());
        sandbox_free(sb);
    }
}
