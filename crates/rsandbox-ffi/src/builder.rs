//! The builder: `sandbox_t`, a description of a box, its life cycle, its
//! JSON form and report, and the setters the binding table cannot render
//! (environment variables, stdio, overlays, rlimits by number, capability
//! names). The mechanical setters are generated from the table of
//! `crates/rsandbox-surface` into `generated.rs`.
//!
//! Every setter mirrors the Rust method of the same name (without the
//! `sandbox_` prefix). Setters only record; nothing is checked until
//! `sandbox_validate` or a spawn, so configuration errors surface there, with
//! the message of the core.

use std::ffi::{c_char, c_int};

use rsandbox::limits::Resource;
use rsandbox::{Sandbox, Stdio};

use crate::error::{
    as_mut, as_ref, c_path, c_str_array, guard, guard_value, out_ptr, text, write_out, FfiError,
    FfiResult,
};
use crate::sandbox_result_t;

/// A sandbox description (the builder). Create it with `sandbox_new` or
/// `sandbox_strict`, configure it with the `sandbox_*` setters, spawn from it
/// any number of times, and free it with `sandbox_free`.
///
/// Thread safety: a `sandbox_t` may be moved between threads. Setters need
/// exclusive access; spawning and the other functions taking a
/// `const sandbox_t *` may run concurrently from several threads while no
/// setter runs.
pub struct sandbox_t {
    pub(crate) inner: Sandbox,
}

/// Apply a (infallible) builder method to the description behind `sb`.
pub(crate) fn update(sb: *mut sandbox_t, f: impl FnOnce(Sandbox) -> Sandbox) -> FfiResult {
    let sb = as_mut(sb, "sb")?;
    let cur = std::mem::take(&mut sb.inner);
    sb.inner = f(cur);
    Ok(())
}

pub(crate) fn boxed(inner: Sandbox) -> *mut sandbox_t {
    Box::into_raw(Box::new(sandbox_t { inner }))
}

/// A new, empty description: no namespaces, a clean environment (PATH
/// only), inherited stdio, kill-on-drop and die-with-parent on.
///
/// Returns an object owned by the caller, to free with `sandbox_free`
/// (NULL only if memory ran out or the library panicked).
#[no_mangle]
pub extern "C" fn sandbox_new() -> *mut sandbox_t {
    guard_value(std::ptr::null_mut(), || boxed(Sandbox::new()))
}

/// The strict preset: every namespace, every capability dropped with
/// securebits locked, no_new_privs, and the default seccomp profile. Relax
/// it with the usual setters (`sandbox_no_seccomp`, `sandbox_best_effort`...).
///
/// Returns an object owned by the caller, to free with `sandbox_free`.
#[no_mangle]
pub extern "C" fn sandbox_strict() -> *mut sandbox_t {
    guard_value(std::ptr::null_mut(), || boxed(Sandbox::strict()))
}

/// A copy of `sb` (NULL when `sb` is NULL), owned by the caller.
#[no_mangle]
pub extern "C" fn sandbox_clone(sb: *const sandbox_t) -> *mut sandbox_t {
    guard_value(std::ptr::null_mut(), || match as_ref(sb, "sb") {
        Ok(sb) => boxed(sb.inner.clone()),
        Err(_) => std::ptr::null_mut(),
    })
}

/// Free a description. NULL is allowed (a no-op). Children spawned from it
/// are independent and stay valid.
#[no_mangle]
pub extern "C" fn sandbox_free(sb: *mut sandbox_t) {
    guard_value((), || {
        if !sb.is_null() {
            // SAFETY: by the API contract a non-NULL `sb` came from
            // `sandbox_new`/`sandbox_strict`/`sandbox_clone`/`sandbox_from_json`
            // (Box::into_raw) and is freed once.
            drop(unsafe { Box::from_raw(sb) });
        }
    })
}

/// Check the whole description without spawning anything: the same checks
/// a spawn makes first.
#[no_mangle]
pub extern "C" fn sandbox_validate(sb: *const sandbox_t) -> sandbox_result_t {
    guard(|| Ok(as_ref(sb, "sb")?.inner.validate()?))
}

/// Set environment variable `key` to `value` (both UTF-8, copied).
#[no_mangle]
pub extern "C" fn sandbox_env(
    sb: *mut sandbox_t,
    key: *const c_char,
    value: *const c_char,
) -> sandbox_result_t {
    guard(|| {
        let key = text(key, "key")?.to_owned();
        let value = text(value, "value")?.to_owned();
        update(sb, |s| s.env(key, value))
    })
}

/// How a standard stream of the payload is wired (`sandbox_stdin`,
/// `sandbox_stdout`, `sandbox_stderr`).
#[allow(non_camel_case_types)]
pub type sandbox_stdio_t = c_int;
/// The caller's own stream (the default).
pub const SANDBOX_STDIO_INHERIT: sandbox_stdio_t = 0;
/// `/dev/null`.
pub const SANDBOX_STDIO_NULL: sandbox_stdio_t = 1;
/// A pipe; the caller's end is on the child (`sandbox_child_stdout_fd`...).
pub const SANDBOX_STDIO_PIPE: sandbox_stdio_t = 2;
/// The caller's file descriptor `fd` (borrowed: duplicated at spawn; it
/// must stay open until the spawn returns).
pub const SANDBOX_STDIO_FD: sandbox_stdio_t = 3;
/// stderr only: wherever stdout goes (the shell's `2>&1`).
pub const SANDBOX_STDIO_STDOUT: sandbox_stdio_t = 4;

fn stdio(kind: sandbox_stdio_t, fd: c_int) -> FfiResult<Stdio> {
    match kind {
        SANDBOX_STDIO_INHERIT => Ok(Stdio::Inherit),
        SANDBOX_STDIO_NULL => Ok(Stdio::Null),
        SANDBOX_STDIO_PIPE => Ok(Stdio::Pipe),
        SANDBOX_STDIO_FD if fd >= 0 => Ok(Stdio::Fd(fd)),
        SANDBOX_STDIO_FD => Err(FfiError::arg("fd", format!("{fd} is negative"))),
        SANDBOX_STDIO_STDOUT => Ok(Stdio::Stdout),
        k => Err(FfiError::arg("stdio kind", format!("unknown value {k}"))),
    }
}

/// Standard input of the payload: one of the `SANDBOX_STDIO_*` kinds; `fd`
/// is used only with `SANDBOX_STDIO_FD`.
#[no_mangle]
pub extern "C" fn sandbox_stdin(
    sb: *mut sandbox_t,
    kind: sandbox_stdio_t,
    fd: c_int,
) -> sandbox_result_t {
    guard(|| {
        let s = stdio(kind, fd)?;
        update(sb, |sb| sb.stdin(s))
    })
}

/// Standard output of the payload (see `sandbox_stdin`).
#[no_mangle]
pub extern "C" fn sandbox_stdout(
    sb: *mut sandbox_t,
    kind: sandbox_stdio_t,
    fd: c_int,
) -> sandbox_result_t {
    guard(|| {
        let s = stdio(kind, fd)?;
        update(sb, |sb| sb.stdout(s))
    })
}

/// Standard error of the payload (see `sandbox_stdin`).
#[no_mangle]
pub extern "C" fn sandbox_stderr(
    sb: *mut sandbox_t,
    kind: sandbox_stdio_t,
    fd: c_int,
) -> sandbox_result_t {
    guard(|| {
        let s = stdio(kind, fd)?;
        update(sb, |sb| sb.stderr(s))
    })
}

fn file_stdio(p: *const c_char, append: bool) -> FfiResult<Stdio> {
    let p = c_path(p, "path")?;
    Ok(if append {
        Stdio::Append(p)
    } else {
        Stdio::File(p)
    })
}

/// Standard input of the payload read from host file `path` (opened at
/// spawn).
#[no_mangle]
pub extern "C" fn sandbox_stdin_file(sb: *mut sandbox_t, path: *const c_char) -> sandbox_result_t {
    guard(|| {
        let s = file_stdio(path, false)?;
        update(sb, |sb| sb.stdin(s))
    })
}

/// Standard output of the payload written to host file `path`, created or
/// truncated at spawn (`append`: opened for appending instead).
#[no_mangle]
pub extern "C" fn sandbox_stdout_file(
    sb: *mut sandbox_t,
    path: *const c_char,
    append: bool,
) -> sandbox_result_t {
    guard(|| {
        let s = file_stdio(path, append)?;
        update(sb, |sb| sb.stdout(s))
    })
}

/// Standard error of the payload written to host file `path` (see
/// `sandbox_stdout_file`).
#[no_mangle]
pub extern "C" fn sandbox_stderr_file(
    sb: *mut sandbox_t,
    path: *const c_char,
    append: bool,
) -> sandbox_result_t {
    guard(|| {
        let s = file_stdio(path, append)?;
        update(sb, |sb| sb.stderr(s))
    })
}

/// Overlay the `n_lowers` host directories `lowers` (topmost first) on `dst`;
/// writes go to a tmpfs discarded when the box ends.
#[no_mangle]
pub extern "C" fn sandbox_overlay(
    sb: *mut sandbox_t,
    lowers: *const *const c_char,
    n_lowers: usize,
    dst: *const c_char,
) -> sandbox_result_t {
    guard(|| {
        let lowers = c_str_array(lowers, n_lowers, "lowers")?;
        let dst = c_path(dst, "dst")?;
        update(sb, |s| s.overlay(lowers, dst))
    })
}

/// Overlay the `n_lowers` host directories `lowers` (topmost first) on
/// `dst`; writes persist in host directory `upper` (`work`: an empty
/// directory on the same filesystem).
#[no_mangle]
pub extern "C" fn sandbox_overlay_persist(
    sb: *mut sandbox_t,
    lowers: *const *const c_char,
    n_lowers: usize,
    upper: *const c_char,
    work: *const c_char,
    dst: *const c_char,
) -> sandbox_result_t {
    guard(|| {
        let lowers = c_str_array(lowers, n_lowers, "lowers")?;
        let upper = c_path(upper, "upper")?;
        let work = c_path(work, "work")?;
        let dst = c_path(dst, "dst")?;
        update(sb, |s| s.overlay_persist(lowers, upper, work, dst))
    })
}

/// Set rlimit `resource` (an `RLIMIT_*` number from <sys/resource.h>, e.g.
/// `RLIMIT_NOFILE`) to `soft`/`hard` (`RLIM_INFINITY` for none). Hard limits
/// can only be lowered.
#[no_mangle]
pub extern "C" fn sandbox_rlimit(
    sb: *mut sandbox_t,
    resource: c_int,
    soft: u64,
    hard: u64,
) -> sandbox_result_t {
    guard(|| {
        use Resource::*;
        let r = [
            Cpu, Fsize, Data, Stack, Core, Nofile, As, Nproc, Memlock, Msgqueue, Locks, Sigpending,
        ]
        .into_iter()
        .find(|r| i64::from(r.raw()) == i64::from(resource))
        .ok_or_else(|| FfiError::arg("resource", format!("unknown rlimit {resource}")))?;
        update(sb, |s| s.rlimit(r, soft, hard))
    })
}

/// `n` UTF-8 capability names at `caps`.
fn cap_names(caps: *const *const c_char, n: usize) -> FfiResult<Vec<String>> {
    c_str_array(caps, n, "caps")?
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            c.into_string().map_err(|_| {
                FfiError::new(
                    sandbox_result_t::SANDBOX_INVALID_UTF8,
                    format!("caps[{i}] is not valid UTF-8"),
                )
            })
        })
        .collect()
}

/// Drop every capability except the `n` named in `caps` (UTF-8 names like
/// "CAP_NET_BIND_SERVICE" or "net_bind_service").
#[no_mangle]
pub extern "C" fn sandbox_keep_caps(
    sb: *mut sandbox_t,
    caps: *const *const c_char,
    n: usize,
) -> sandbox_result_t {
    guard(|| {
        let caps = cap_names(caps, n)?;
        update(sb, |s| s.keep_caps(caps))
    })
}

/// Which capability set of `sandbox_cap_set`.
#[allow(non_camel_case_types)]
pub type sandbox_cap_set_t = c_int;
/// The bounding set.
pub const SANDBOX_CAP_BOUNDING: sandbox_cap_set_t = 0;
/// The effective set.
pub const SANDBOX_CAP_EFFECTIVE: sandbox_cap_set_t = 1;
/// The permitted set.
pub const SANDBOX_CAP_PERMITTED: sandbox_cap_set_t = 2;
/// The inheritable set.
pub const SANDBOX_CAP_INHERITABLE: sandbox_cap_set_t = 3;
/// The ambient set.
pub const SANDBOX_CAP_AMBIENT: sandbox_cap_set_t = 4;

/// Give capability set `which` (a `SANDBOX_CAP_*` constant; another value
/// is `SANDBOX_INVALID_ARGUMENT`) exactly the `n` capabilities named in
/// `caps`, with OCI (runc) semantics: once any set is given this way, the
/// sets not given are empty and `sandbox_keep_caps` no longer applies; a
/// non-root payload keeps across its exec only the ambient capabilities
/// listed, box root the bounding set. Effective must be within permitted,
/// inheritable within bounding, ambient within permitted and inheritable
/// (`SANDBOX_INVALID_CONFIG` at validation otherwise).
#[no_mangle]
pub extern "C" fn sandbox_cap_set(
    sb: *mut sandbox_t,
    which: sandbox_cap_set_t,
    caps: *const *const c_char,
    n: usize,
) -> sandbox_result_t {
    guard(|| {
        use rsandbox::CapSet;
        let set = match which {
            SANDBOX_CAP_BOUNDING => CapSet::Bounding,
            SANDBOX_CAP_EFFECTIVE => CapSet::Effective,
            SANDBOX_CAP_PERMITTED => CapSet::Permitted,
            SANDBOX_CAP_INHERITABLE => CapSet::Inheritable,
            SANDBOX_CAP_AMBIENT => CapSet::Ambient,
            w => return Err(FfiError::arg("which", format!("unknown value {w}"))),
        };
        let caps = cap_names(caps, n)?;
        update(sb, |s| s.cap_set(set, caps))
    })
}

/// The description as JSON (the serde form of the Rust `Sandbox`), in a new
/// NUL-terminated string written to `*json_out`, owned by the caller and to
/// free with `sandbox_string_free`.
#[no_mangle]
pub extern "C" fn sandbox_to_json(
    sb: *const sandbox_t,
    json_out: *mut *mut c_char,
) -> sandbox_result_t {
    guard(|| crate::json_out(&as_ref(sb, "sb")?.inner, json_out))
}

/// A description read from JSON (UTF-8; the form `sandbox_to_json` writes),
/// written to `*sb_out`, owned by the caller (free with `sandbox_free`).
#[no_mangle]
pub extern "C" fn sandbox_from_json(
    json: *const c_char,
    sb_out: *mut *mut sandbox_t,
) -> sandbox_result_t {
    guard(|| {
        let json = text(json, "json")?;
        let out = out_ptr(sb_out, "sb_out")?;
        let inner: Sandbox = serde_json::from_str(json).map_err(|e| {
            FfiError::new(
                sandbox_result_t::SANDBOX_INVALID_CONFIG,
                format!("invalid sandbox JSON: {e}"),
            )
        })?;
        write_out(out, boxed(inner));
        Ok(())
    })
}

/// What this description would enforce on this kernel, layer by layer, as
/// JSON, computed without spawning. Written to `*json_out`, owned by the
/// caller (free with `sandbox_string_free`).
#[no_mangle]
pub extern "C" fn sandbox_enforcement_report(
    sb: *const sandbox_t,
    json_out: *mut *mut c_char,
) -> sandbox_result_t {
    guard(|| {
        let report = as_ref(sb, "sb")?.inner.enforcement_report()?;
        crate::json_out(&report, json_out)
    })
}

/// What this kernel and machine offer (namespaces, cgroup mounts, seccomp,
/// Landlock ABI...), probed now, as JSON written to `*json_out`, owned by
/// the caller (free with `sandbox_string_free`).
#[no_mangle]
pub extern "C" fn sandbox_features(json_out: *mut *mut c_char) -> sandbox_result_t {
    guard(|| crate::json_out(&rsandbox::features::probe(), json_out))
}
