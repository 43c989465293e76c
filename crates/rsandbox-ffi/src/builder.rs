//! The builder: `sandbox_t`, a description of a box.
//!
//! Every setter mirrors the Rust method of the same name (without the
//! `sandbox_` prefix). Setters only record; nothing is checked until
//! `sandbox_validate` or a spawn, so configuration errors surface there, with
//! the message of the core.

use std::ffi::{c_char, c_int};
use std::time::Duration;

use rsandbox::limits::Resource;
use rsandbox::{IdMap, Sandbox, Stdio};

use crate::error::{
    as_mut, as_ref, bytes, c_path, c_str_array, guard, guard_value, out_ptr, text, write_out,
    FfiError, FfiResult,
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

/// Add a uid map line `inside outside count` (replaces the default single
/// mapping). Mapping ids other than your own needs root.
#[no_mangle]
pub extern "C" fn sandbox_uid_map(
    sb: *mut sandbox_t,
    inside: u32,
    outside: u32,
    count: u32,
) -> sandbox_result_t {
    guard(|| update(sb, |s| s.uid_map(IdMap::new(inside, outside, count))))
}

/// Add a gid map line `inside outside count` (replaces the default single
/// mapping).
#[no_mangle]
pub extern "C" fn sandbox_gid_map(
    sb: *mut sandbox_t,
    inside: u32,
    outside: u32,
    count: u32,
) -> sandbox_result_t {
    guard(|| update(sb, |s| s.gid_map(IdMap::new(inside, outside, count))))
}

/// The hostname inside the box (UTF-8); needs `sandbox_uts_ns`.
#[no_mangle]
pub extern "C" fn sandbox_hostname(sb: *mut sandbox_t, name: *const c_char) -> sandbox_result_t {
    guard(|| {
        let name = text(name, "name")?.to_owned();
        update(sb, |s| s.hostname(name))
    })
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

/// Remove environment variable `key` (UTF-8) from the inherited or default
/// set.
#[no_mangle]
pub extern "C" fn sandbox_env_remove(sb: *mut sandbox_t, key: *const c_char) -> sandbox_result_t {
    guard(|| {
        let key = text(key, "key")?.to_owned();
        update(sb, |s| s.env_remove(key))
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

/// Pass the caller's fd `fd` into the box as fd number `target` (>= 3).
/// The caller keeps ownership; `fd` must stay open until the spawn returns.
#[no_mangle]
pub extern "C" fn sandbox_pass_fd(
    sb: *mut sandbox_t,
    fd: c_int,
    target: c_int,
) -> sandbox_result_t {
    guard(|| update(sb, |s| s.pass_fd(fd, target)))
}

/// Mount a tmpfs of `size_bytes` bytes (> 0) on `dst` in the box.
#[no_mangle]
pub extern "C" fn sandbox_tmpfs(
    sb: *mut sandbox_t,
    dst: *const c_char,
    size_bytes: u64,
) -> sandbox_result_t {
    guard(|| {
        let dst = c_path(dst, "dst")?;
        update(sb, |s| s.tmpfs(dst, size_bytes))
    })
}

/// Create symlink `dst` in the box, pointing to `target`.
#[no_mangle]
pub extern "C" fn sandbox_symlink(
    sb: *mut sandbox_t,
    target: *const c_char,
    dst: *const c_char,
) -> sandbox_result_t {
    guard(|| {
        let target = c_path(target, "target")?;
        let dst = c_path(dst, "dst")?;
        update(sb, |s| s.symlink(target, dst))
    })
}

/// Create file `dst` in the box holding the `len` bytes at `data` (copied;
/// `data` may be NULL when `len` is 0).
#[no_mangle]
pub extern "C" fn sandbox_file(
    sb: *mut sandbox_t,
    dst: *const c_char,
    data: *const u8,
    len: usize,
) -> sandbox_result_t {
    guard(|| {
        let dst = c_path(dst, "dst")?;
        let data = bytes(data, len, "data")?.to_vec();
        update(sb, |s| s.file(dst, data))
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

/// Filter syscalls with an OCI / Docker JSON seccomp profile given as a
/// UTF-8 string (copied; parsed at validation).
#[no_mangle]
pub extern "C" fn sandbox_seccomp_oci_json(
    sb: *mut sandbox_t,
    json: *const c_char,
) -> sandbox_result_t {
    guard(|| {
        let json = text(json, "json")?.to_owned();
        update(sb, |s| s.seccomp_oci_json(json))
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
    guard(|| {
        let sb = as_ref(sb, "sb")?;
        let out = out_ptr(json_out, "json_out")?;
        let s = serde_json::to_string(&sb.inner)
            .map_err(|e| FfiError::new(sandbox_result_t::SANDBOX_ERROR, e.to_string()))?;
        write_out(out, crate::string_out(s));
        Ok(())
    })
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
        let sb = as_ref(sb, "sb")?;
        let out = out_ptr(json_out, "json_out")?;
        let report = sb.inner.enforcement_report()?;
        let s = serde_json::to_string(&report)
            .map_err(|e| FfiError::new(sandbox_result_t::SANDBOX_ERROR, e.to_string()))?;
        write_out(out, crate::string_out(s));
        Ok(())
    })
}

/// A new user namespace (the caller's uid/gid mapped to `sandbox_uid`/`sandbox_gid`).
#[no_mangle]
pub extern "C" fn sandbox_user_ns(sb: *mut sandbox_t) -> sandbox_result_t {
    guard(|| update(sb, |s| s.user_ns()))
}

/// A new PID namespace: the box sees only its own processes; a small init is PID 1.
#[no_mangle]
pub extern "C" fn sandbox_pid_ns(sb: *mut sandbox_t) -> sandbox_result_t {
    guard(|| update(sb, |s| s.pid_ns()))
}

/// A new mount namespace (every mount made private first).
#[no_mangle]
pub extern "C" fn sandbox_mount_ns(sb: *mut sandbox_t) -> sandbox_result_t {
    guard(|| update(sb, |s| s.mount_ns()))
}

/// A new UTS namespace (see `sandbox_hostname`).
#[no_mangle]
pub extern "C" fn sandbox_uts_ns(sb: *mut sandbox_t) -> sandbox_result_t {
    guard(|| update(sb, |s| s.uts_ns()))
}

/// A new IPC namespace.
#[no_mangle]
pub extern "C" fn sandbox_ipc_ns(sb: *mut sandbox_t) -> sandbox_result_t {
    guard(|| update(sb, |s| s.ipc_ns()))
}

/// A new network namespace with only `lo`, brought up.
#[no_mangle]
pub extern "C" fn sandbox_net_ns(sb: *mut sandbox_t) -> sandbox_result_t {
    guard(|| update(sb, |s| s.net_ns()))
}

/// A new cgroup namespace.
#[no_mangle]
pub extern "C" fn sandbox_cgroup_ns(sb: *mut sandbox_t) -> sandbox_result_t {
    guard(|| update(sb, |s| s.cgroup_ns()))
}

/// A new time namespace (an error at spawn where the kernel lacks it).
#[no_mangle]
pub extern "C" fn sandbox_time_ns(sb: *mut sandbox_t) -> sandbox_result_t {
    guard(|| update(sb, |s| s.time_ns()))
}

/// Every namespace but time: user, pid, mount, uts, ipc, net, cgroup.
#[no_mangle]
pub extern "C" fn sandbox_all_ns(sb: *mut sandbox_t) -> sandbox_result_t {
    guard(|| update(sb, |s| s.all_ns()))
}

/// Start from the caller's environment (read at spawn) instead of a clean one holding only PATH.
#[no_mangle]
pub extern "C" fn sandbox_inherit_env(sb: *mut sandbox_t) -> sandbox_result_t {
    guard(|| update(sb, |s| s.inherit_env()))
}

/// Forget every variable set so far and stop inheriting: an empty environment (not even PATH) unless variables are set after.
#[no_mangle]
pub extern "C" fn sandbox_env_clear(sb: *mut sandbox_t) -> sandbox_result_t {
    guard(|| update(sb, |s| s.env_clear()))
}

/// Filter syscalls with the built-in default seccomp profile.
#[no_mangle]
pub extern "C" fn sandbox_seccomp_default(sb: *mut sandbox_t) -> sandbox_result_t {
    guard(|| update(sb, |s| s.seccomp_default()))
}

/// No seccomp filter (e.g. to relax `sandbox_strict`).
#[no_mangle]
pub extern "C" fn sandbox_no_seccomp(sb: *mut sandbox_t) -> sandbox_result_t {
    guard(|| update(sb, |s| s.no_seccomp()))
}

/// Drop every capability from every set and lock securebits.
#[no_mangle]
pub extern "C" fn sandbox_drop_caps(sb: *mut sandbox_t) -> sandbox_result_t {
    guard(|| update(sb, |s| s.drop_caps()))
}

/// Keep every capability the box would otherwise have (undoes `sandbox_drop_caps`).
#[no_mangle]
pub extern "C" fn sandbox_keep_all_caps(sb: *mut sandbox_t) -> sandbox_result_t {
    guard(|| update(sb, |s| s.keep_all_caps()))
}

/// Landlock: deny every filesystem access not allowed by a rule.
#[no_mangle]
pub extern "C" fn sandbox_landlock_deny_fs(sb: *mut sandbox_t) -> sandbox_result_t {
    guard(|| update(sb, |s| s.landlock_deny_fs()))
}

/// Landlock: deny every TCP bind and connect (unless ports are allowed).
#[no_mangle]
pub extern "C" fn sandbox_landlock_deny_tcp(sb: *mut sandbox_t) -> sandbox_result_t {
    guard(|| update(sb, |s| s.landlock_deny_tcp()))
}

/// Landlock: deny connecting to abstract unix sockets created outside the box.
#[no_mangle]
pub extern "C" fn sandbox_landlock_scope_abstract_unix(sb: *mut sandbox_t) -> sandbox_result_t {
    guard(|| update(sb, |s| s.landlock_scope_abstract_unix()))
}

/// Landlock: deny sending signals to processes outside the box.
#[no_mangle]
pub extern "C" fn sandbox_landlock_scope_signals(sb: *mut sandbox_t) -> sandbox_result_t {
    guard(|| update(sb, |s| s.landlock_scope_signals()))
}

/// Kill the whole tree when its `sandbox_child_t` is freed unwaited (default: on).
#[no_mangle]
pub extern "C" fn sandbox_kill_on_drop(sb: *mut sandbox_t, on: bool) -> sandbox_result_t {
    guard(|| update(sb, |s| s.kill_on_drop(on)))
}

/// Kill the box when the calling process dies (default: on).
#[no_mangle]
pub extern "C" fn sandbox_die_with_parent(sb: *mut sandbox_t, on: bool) -> sandbox_result_t {
    guard(|| update(sb, |s| s.die_with_parent(on)))
}

/// Set (true) or never set (false) no_new_privs; unset, it is set only when seccomp or Landlock need it.
#[no_mangle]
pub extern "C" fn sandbox_no_new_privs(sb: *mut sandbox_t, on: bool) -> sandbox_result_t {
    guard(|| update(sb, |s| s.no_new_privs(on)))
}

/// Give the box its own cgroup even without cgroup limits, for usage accounting (peak memory, CPU time) and a reliable kill of the tree.
#[no_mangle]
pub extern "C" fn sandbox_accounting(sb: *mut sandbox_t, on: bool) -> sandbox_result_t {
    guard(|| update(sb, |s| s.accounting(on)))
}

/// Best effort for layers that may be unenforceable here (capabilities, Landlock, cgroup limits): apply what is possible instead of failing (default: off, strict).
#[no_mangle]
pub extern "C" fn sandbox_best_effort(sb: *mut sandbox_t, on: bool) -> sandbox_result_t {
    guard(|| update(sb, |s| s.best_effort(on)))
}

/// Working directory inside the box (absolute; default `/`).
///
/// `dir`: a NUL-terminated path (any bytes), copied.
#[no_mangle]
pub extern "C" fn sandbox_cwd(sb: *mut sandbox_t, dir: *const c_char) -> sandbox_result_t {
    guard(|| {
        let dir = c_path(dir, "dir")?;
        update(sb, |s| s.cwd(dir))
    })
}

/// Use host directory `dir` as the box's `/`, read-only once the steps are applied. Needs `sandbox_mount_ns`.
///
/// `dir`: a NUL-terminated path (any bytes), copied.
#[no_mangle]
pub extern "C" fn sandbox_rootfs(sb: *mut sandbox_t, dir: *const c_char) -> sandbox_result_t {
    guard(|| {
        let dir = c_path(dir, "dir")?;
        update(sb, |s| s.rootfs(dir))
    })
}

/// Like `sandbox_rootfs`, but `/` stays writable (writes land in `dir` on the host).
///
/// `dir`: a NUL-terminated path (any bytes), copied.
#[no_mangle]
pub extern "C" fn sandbox_rootfs_rw(sb: *mut sandbox_t, dir: *const c_char) -> sandbox_result_t {
    guard(|| {
        let dir = c_path(dir, "dir")?;
        update(sb, |s| s.rootfs_rw(dir))
    })
}

/// Mount a fresh proc on `dst`.
///
/// `dst`: a NUL-terminated path (any bytes), copied.
#[no_mangle]
pub extern "C" fn sandbox_proc(sb: *mut sandbox_t, dst: *const c_char) -> sandbox_result_t {
    guard(|| {
        let dst = c_path(dst, "dst")?;
        update(sb, |s| s.proc(dst))
    })
}

/// Mount a minimal /dev on `dst`.
///
/// `dst`: a NUL-terminated path (any bytes), copied.
#[no_mangle]
pub extern "C" fn sandbox_dev(sb: *mut sandbox_t, dst: *const c_char) -> sandbox_result_t {
    guard(|| {
        let dst = c_path(dst, "dst")?;
        update(sb, |s| s.dev(dst))
    })
}

/// Create directory `dst` (and missing parents) in the box.
///
/// `dst`: a NUL-terminated path (any bytes), copied.
#[no_mangle]
pub extern "C" fn sandbox_dir(sb: *mut sandbox_t, dst: *const c_char) -> sandbox_result_t {
    guard(|| {
        let dst = c_path(dst, "dst")?;
        update(sb, |s| s.dir(dst))
    })
}

/// Hide `path` in the box.
///
/// `path`: a NUL-terminated path (any bytes), copied.
#[no_mangle]
pub extern "C" fn sandbox_mask(sb: *mut sandbox_t, path: *const c_char) -> sandbox_result_t {
    guard(|| {
        let path = c_path(path, "path")?;
        update(sb, |s| s.mask(path))
    })
}

/// Make `path` (and the mounts under it) read-only.
///
/// `path`: a NUL-terminated path (any bytes), copied.
#[no_mangle]
pub extern "C" fn sandbox_remount_ro(sb: *mut sandbox_t, path: *const c_char) -> sandbox_result_t {
    guard(|| {
        let path = c_path(path, "path")?;
        update(sb, |s| s.remount_ro(path))
    })
}

/// Filter syscalls with an OCI / Docker JSON seccomp profile read from host file `path` (parsed at validation).
///
/// `path`: a NUL-terminated path (any bytes), copied.
#[no_mangle]
pub extern "C" fn sandbox_seccomp_oci_file(
    sb: *mut sandbox_t,
    path: *const c_char,
) -> sandbox_result_t {
    guard(|| {
        let path = c_path(path, "path")?;
        update(sb, |s| s.seccomp_oci_file(path))
    })
}

/// Create the box's cgroup under `path` instead of under the caller's own cgroup.
///
/// `path`: a NUL-terminated path (any bytes), copied.
#[no_mangle]
pub extern "C" fn sandbox_cgroup_parent(
    sb: *mut sandbox_t,
    path: *const c_char,
) -> sandbox_result_t {
    guard(|| {
        let path = c_path(path, "path")?;
        update(sb, |s| s.cgroup_parent(path))
    })
}

/// Landlock: allow reading beneath `path`; deny every filesystem access outside the rules.
///
/// `path`: a NUL-terminated path (any bytes), copied.
#[no_mangle]
pub extern "C" fn sandbox_landlock_read(
    sb: *mut sandbox_t,
    path: *const c_char,
) -> sandbox_result_t {
    guard(|| {
        let path = c_path(path, "path")?;
        update(sb, |s| s.landlock_read(path))
    })
}

/// Landlock: allow reading and writing beneath `path`.
///
/// `path`: a NUL-terminated path (any bytes), copied.
#[no_mangle]
pub extern "C" fn sandbox_landlock_write(
    sb: *mut sandbox_t,
    path: *const c_char,
) -> sandbox_result_t {
    guard(|| {
        let path = c_path(path, "path")?;
        update(sb, |s| s.landlock_write(path))
    })
}

/// Landlock: allow reading and executing beneath `path`.
///
/// `path`: a NUL-terminated path (any bytes), copied.
#[no_mangle]
pub extern "C" fn sandbox_landlock_exec(
    sb: *mut sandbox_t,
    path: *const c_char,
) -> sandbox_result_t {
    guard(|| {
        let path = c_path(path, "path")?;
        update(sb, |s| s.landlock_exec(path))
    })
}

/// Bind host path `src` onto `dst` in the box, writable, recursively.
///
/// `src`, `dst`: NUL-terminated paths (any bytes), copied.
#[no_mangle]
pub extern "C" fn sandbox_bind(
    sb: *mut sandbox_t,
    src: *const c_char,
    dst: *const c_char,
) -> sandbox_result_t {
    guard(|| {
        let src = c_path(src, "src")?;
        let dst = c_path(dst, "dst")?;
        update(sb, |s| s.bind(src, dst))
    })
}

/// Bind host path `src` onto `dst` in the box, read-only, recursively.
///
/// `src`, `dst`: NUL-terminated paths (any bytes), copied.
#[no_mangle]
pub extern "C" fn sandbox_ro_bind(
    sb: *mut sandbox_t,
    src: *const c_char,
    dst: *const c_char,
) -> sandbox_result_t {
    guard(|| {
        let src = c_path(src, "src")?;
        let dst = c_path(dst, "dst")?;
        update(sb, |s| s.ro_bind(src, dst))
    })
}

/// The uid the payload runs as inside the user namespace.
#[no_mangle]
pub extern "C" fn sandbox_uid(sb: *mut sandbox_t, uid: u32) -> sandbox_result_t {
    guard(|| update(sb, |s| s.uid(uid)))
}

/// The gid the payload runs as inside the user namespace.
#[no_mangle]
pub extern "C" fn sandbox_gid(sb: *mut sandbox_t, gid: u32) -> sandbox_result_t {
    guard(|| update(sb, |s| s.gid(gid)))
}

/// Limit the memory of the whole tree to `bytes` (cgroup); going over it ends as `SANDBOX_REASON_OUT_OF_MEMORY`. 0 is refused at spawn.
#[no_mangle]
pub extern "C" fn sandbox_memory_limit(sb: *mut sandbox_t, bytes: u64) -> sandbox_result_t {
    guard(|| update(sb, |s| s.memory_limit(bytes)))
}

/// Limit the number of processes and threads of the whole tree (cgroup `pids.max`).
#[no_mangle]
pub extern "C" fn sandbox_pids_limit(sb: *mut sandbox_t, n: u64) -> sandbox_result_t {
    guard(|| update(sb, |s| s.pids_limit(n)))
}

/// Limit CPU bandwidth to `cores` CPUs (e.g. 0.5: half of one CPU).
#[no_mangle]
pub extern "C" fn sandbox_cpu_limit(sb: *mut sandbox_t, cores: f64) -> sandbox_result_t {
    guard(|| update(sb, |s| s.cpu_limit(cores)))
}

/// Relative CPU weight, 1..=10000 (default 100), against sibling cgroups.
#[no_mangle]
pub extern "C" fn sandbox_cpu_weight(sb: *mut sandbox_t, weight: u64) -> sandbox_result_t {
    guard(|| update(sb, |s| s.cpu_weight(weight)))
}

/// `RLIMIT_NOFILE`, soft = hard = `n`.
#[no_mangle]
pub extern "C" fn sandbox_rlimit_nofile(sb: *mut sandbox_t, n: u64) -> sandbox_result_t {
    guard(|| update(sb, |s| s.rlimit_nofile(n)))
}

/// `RLIMIT_FSIZE`, soft = hard = `bytes`.
#[no_mangle]
pub extern "C" fn sandbox_rlimit_fsize(sb: *mut sandbox_t, bytes: u64) -> sandbox_result_t {
    guard(|| update(sb, |s| s.rlimit_fsize(bytes)))
}

/// `RLIMIT_AS`, soft = hard = `bytes`.
#[no_mangle]
pub extern "C" fn sandbox_rlimit_as(sb: *mut sandbox_t, bytes: u64) -> sandbox_result_t {
    guard(|| update(sb, |s| s.rlimit_as(bytes)))
}

/// `RLIMIT_STACK`, soft = hard = `bytes`.
#[no_mangle]
pub extern "C" fn sandbox_rlimit_stack(sb: *mut sandbox_t, bytes: u64) -> sandbox_result_t {
    guard(|| update(sb, |s| s.rlimit_stack(bytes)))
}

/// `RLIMIT_CORE`, soft = hard = `bytes` (the default in a box is 0).
#[no_mangle]
pub extern "C" fn sandbox_rlimit_core(sb: *mut sandbox_t, bytes: u64) -> sandbox_result_t {
    guard(|| update(sb, |s| s.rlimit_core(bytes)))
}

/// `RLIMIT_CPU`, soft = `secs`, hard = `secs + 1`.
#[no_mangle]
pub extern "C" fn sandbox_rlimit_cpu(sb: *mut sandbox_t, secs: u64) -> sandbox_result_t {
    guard(|| update(sb, |s| s.rlimit_cpu(secs)))
}

/// Landlock: allow binding TCP `port`; every other TCP bind is denied.
#[no_mangle]
pub extern "C" fn sandbox_landlock_bind_port(sb: *mut sandbox_t, port: u16) -> sandbox_result_t {
    guard(|| update(sb, |s| s.landlock_bind_port(port)))
}

/// Landlock: allow connecting to TCP `port`; every other TCP connect is denied.
#[no_mangle]
pub extern "C" fn sandbox_landlock_connect_port(sb: *mut sandbox_t, port: u16) -> sandbox_result_t {
    guard(|| update(sb, |s| s.landlock_connect_port(port)))
}

/// Kill the whole tree once it has run `timeout_ms` milliseconds (wall clock); the outcome then says `SANDBOX_REASON_WALL_TIME_LIMIT`.
#[no_mangle]
pub extern "C" fn sandbox_timeout(sb: *mut sandbox_t, timeout_ms: u64) -> sandbox_result_t {
    guard(|| update(sb, |s| s.timeout(Duration::from_millis(timeout_ms))))
}

/// With a timeout: send SIGTERM first and SIGKILL `grace_ms` milliseconds later.
#[no_mangle]
pub extern "C" fn sandbox_grace(sb: *mut sandbox_t, grace_ms: u64) -> sandbox_result_t {
    guard(|| update(sb, |s| s.grace(Duration::from_millis(grace_ms))))
}

/// Limit the CPU time of each process of the box to `limit_ms` milliseconds (rounded up to whole seconds); going over it ends as `SANDBOX_REASON_CPU_TIME_LIMIT`.
#[no_mangle]
pub extern "C" fn sandbox_cpu_time_limit(sb: *mut sandbox_t, limit_ms: u64) -> sandbox_result_t {
    guard(|| update(sb, |s| s.cpu_time_limit(Duration::from_millis(limit_ms))))
}

/// What this kernel and machine offer (namespaces, cgroup mounts, seccomp,
/// Landlock ABI...), probed now, as JSON written to `*json_out`, owned by
/// the caller (free with `sandbox_string_free`).
#[no_mangle]
pub extern "C" fn sandbox_features(json_out: *mut *mut c_char) -> sandbox_result_t {
    guard(|| {
        let out = out_ptr(json_out, "json_out")?;
        let s = serde_json::to_string(&rsandbox::features::probe())
            .map_err(|e| FfiError::new(sandbox_result_t::SANDBOX_ERROR, e.to_string()))?;
        write_out(out, crate::string_out(s));
        Ok(())
    })
}
