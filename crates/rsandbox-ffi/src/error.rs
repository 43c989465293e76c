//! Result codes, the per-thread last error, the panic boundary, and the
//! checked conversions of C arguments.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// The result of every fallible `sandbox_*` call. The numbers are stable:
/// new codes are only ever added.
///
/// On any code but `SANDBOX_OK`, `sandbox_last_error_message()` says what
/// failed (and `sandbox_last_error_errno()` / `sandbox_last_error_stage()`
/// add detail), and out-parameters are left untouched.
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sandbox_result_t {
    /// Success.
    SANDBOX_OK = 0,
    /// A required pointer argument was NULL.
    SANDBOX_NULL_PARAMETER = 1,
    /// A string argument that must be text (hostname, environment, JSON,
    /// capability names) is not valid UTF-8.
    SANDBOX_INVALID_UTF8 = 2,
    /// An argument is out of its domain (an unknown constant, a negative fd).
    SANDBOX_INVALID_ARGUMENT = 3,
    /// The sandbox description is invalid; nothing was spawned.
    SANDBOX_INVALID_CONFIG = 4,
    /// The caller lacks a privilege the description needs.
    SANDBOX_PRIVILEGE = 5,
    /// The kernel or machine lacks a feature the description needs.
    SANDBOX_UNSUPPORTED = 6,
    /// The program does not exist (or is not executable) in the box.
    SANDBOX_PROGRAM_NOT_FOUND = 7,
    /// The child failed between clone and exec (see the stage and errno).
    SANDBOX_SPAWN_FAILED = 8,
    /// A host-side operation failed (pipes, clone, cgroup files...).
    SANDBOX_IO = 9,
    /// `sandbox_child_wait_timeout` / `sandbox_child_try_wait`: the sandbox
    /// is still running. Not an error: no message is set.
    SANDBOX_STILL_RUNNING = 10,
    /// An error of a kind this version of the C API does not know.
    SANDBOX_ERROR = 11,
    /// A bug: the library panicked. The object involved may be left in its
    /// default state; the message says where.
    SANDBOX_PANIC = 99,
}

use sandbox_result_t::*;

/// An error on its way to the caller.
#[derive(Debug)]
pub(crate) struct FfiError {
    pub code: sandbox_result_t,
    pub message: String,
    pub errno: i32,
    pub stage: u32,
}

impl FfiError {
    pub fn new(code: sandbox_result_t, message: impl Into<String>) -> FfiError {
        FfiError {
            code,
            message: message.into(),
            errno: 0,
            stage: 0,
        }
    }
    pub fn null(arg: &str) -> FfiError {
        FfiError::new(SANDBOX_NULL_PARAMETER, format!("{arg} is NULL"))
    }
    pub fn arg(arg: &str, why: impl std::fmt::Display) -> FfiError {
        FfiError::new(SANDBOX_INVALID_ARGUMENT, format!("invalid {arg}: {why}"))
    }
}

impl From<rsandbox::Error> for FfiError {
    fn from(e: rsandbox::Error) -> FfiError {
        use rsandbox::Error as E;
        let code = match &e {
            E::InvalidConfig { .. } => SANDBOX_INVALID_CONFIG,
            E::Privilege { .. } => SANDBOX_PRIVILEGE,
            E::Unsupported { .. } => SANDBOX_UNSUPPORTED,
            E::ProgramNotFound { .. } => SANDBOX_PROGRAM_NOT_FOUND,
            E::Spawn { .. } => SANDBOX_SPAWN_FAILED,
            E::Io { .. } => SANDBOX_IO,
            _ => SANDBOX_ERROR,
        };
        FfiError {
            code,
            message: e.to_string(),
            errno: e.raw_os_error().unwrap_or(0),
            stage: e.stage().map_or(0, |s| s as u32),
        }
    }
}

pub(crate) type FfiResult<T = ()> = Result<T, FfiError>;

struct LastError {
    message: CString,
    errno: i32,
    stage: u32,
}

thread_local! {
    static LAST_ERROR: RefCell<Option<LastError>> = const { RefCell::new(None) };
}

fn set_last_error(e: &FfiError) {
    let message = CString::new(e.message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|l| {
        *l.borrow_mut() = Some(LastError {
            message,
            errno: e.errno,
            stage: e.stage,
        })
    });
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    let what = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("rsandbox panicked (a bug, please report it): {what}")
}

/// The panic boundary around every entry point returning a result code.
pub(crate) fn guard(f: impl FnOnce() -> FfiResult) -> sandbox_result_t {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => SANDBOX_OK,
        Ok(Err(e)) => {
            if e.code != SANDBOX_STILL_RUNNING {
                set_last_error(&e);
            }
            e.code
        }
        Err(p) => {
            set_last_error(&FfiError::new(SANDBOX_PANIC, panic_message(&*p)));
            SANDBOX_PANIC
        }
    }
}

/// The panic boundary for entry points returning a value: `fallback` on
/// panic (the message is recorded).
pub(crate) fn guard_value<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(p) => {
            set_last_error(&FfiError::new(SANDBOX_PANIC, panic_message(&*p)));
            fallback
        }
    }
}

/// The message of the last failed `sandbox_*` call on this thread, or ""
/// when none failed yet.
///
/// The string is owned by the library and stays valid until the next
/// `sandbox_*` call that fails on this same thread; copy it to keep it. Each
/// thread has its own last error, so this is thread-safe.
#[no_mangle]
pub extern "C" fn sandbox_last_error_message() -> *const c_char {
    guard_value(c"".as_ptr(), || {
        LAST_ERROR.with(|l| match &*l.borrow() {
            Some(e) => e.message.as_ptr(),
            None => c"".as_ptr(),
        })
    })
}

/// The errno behind the last failed call on this thread (0 when there is
/// none, e.g. for an invalid configuration).
#[no_mangle]
pub extern "C" fn sandbox_last_error_errno() -> c_int {
    guard_value(0, || {
        LAST_ERROR.with(|l| l.borrow().as_ref().map_or(0, |e| e.errno))
    })
}

/// The stage of the launch pipeline at which the last failed spawn on this
/// thread failed in the child (1 = sync ... 20 = execve, the numbers of
/// rsandbox's `Stage`), or 0 when the error did not come from the child.
#[no_mangle]
pub extern "C" fn sandbox_last_error_stage() -> u32 {
    guard_value(0, || {
        LAST_ERROR.with(|l| l.borrow().as_ref().map_or(0, |e| e.stage))
    })
}

/// A static, human-readable name for a result code, e.g. "SANDBOX_OK";
/// "unknown result" for a number this version does not know. Never NULL;
/// never to be freed.
#[no_mangle]
pub extern "C" fn sandbox_result_name(result: c_int) -> *const c_char {
    let name: &'static CStr = match result {
        0 => c"SANDBOX_OK",
        1 => c"SANDBOX_NULL_PARAMETER",
        2 => c"SANDBOX_INVALID_UTF8",
        3 => c"SANDBOX_INVALID_ARGUMENT",
        4 => c"SANDBOX_INVALID_CONFIG",
        5 => c"SANDBOX_PRIVILEGE",
        6 => c"SANDBOX_UNSUPPORTED",
        7 => c"SANDBOX_PROGRAM_NOT_FOUND",
        8 => c"SANDBOX_SPAWN_FAILED",
        9 => c"SANDBOX_IO",
        10 => c"SANDBOX_STILL_RUNNING",
        11 => c"SANDBOX_ERROR",
        99 => c"SANDBOX_PANIC",
        _ => c"unknown result",
    };
    name.as_ptr()
}

// ---------------------------------------------------------------------------
// Checked conversions of C arguments. The contract of the whole C API: every
// pointer argument is either NULL or valid for its type (and strings are
// NUL-terminated) for the duration of the call. NULL is checked here; the
// rest is the caller's promise, written in the header.

/// A shared reference from a C pointer, or NULL_PARAMETER.
pub(crate) fn as_ref<'a, T>(p: *const T, name: &str) -> FfiResult<&'a T> {
    // SAFETY: by the API contract a non-NULL pointer is valid for reads and
    // not mutated by another thread during the call.
    unsafe { p.as_ref() }.ok_or_else(|| FfiError::null(name))
}

/// An exclusive reference from a C pointer, or NULL_PARAMETER.
pub(crate) fn as_mut<'a, T>(p: *mut T, name: &str) -> FfiResult<&'a mut T> {
    // SAFETY: by the API contract a non-NULL pointer is valid and not used
    // by another thread during the call.
    unsafe { p.as_mut() }.ok_or_else(|| FfiError::null(name))
}

/// Check an out-parameter before doing any work.
pub(crate) fn out_ptr<T>(p: *mut T, name: &str) -> FfiResult<*mut T> {
    if p.is_null() {
        Err(FfiError::null(name))
    } else {
        Ok(p)
    }
}

/// Write an out-parameter checked by [`out_ptr`].
pub(crate) fn write_out<T>(p: *mut T, v: T) {
    // SAFETY: `p` was checked non-NULL by `out_ptr`; by the API contract it
    // is valid for writes of a `T`. `write` does not drop the old value,
    // which C owns and may be uninitialized.
    unsafe { p.write(v) }
}

/// A NUL-terminated C string.
pub(crate) fn c_str<'a>(p: *const c_char, name: &str) -> FfiResult<&'a CStr> {
    if p.is_null() {
        return Err(FfiError::null(name));
    }
    // SAFETY: non-NULL, and by the API contract NUL-terminated and valid for
    // the duration of the call.
    Ok(unsafe { CStr::from_ptr(p) })
}

/// A C string that must be UTF-8 text.
pub(crate) fn text<'a>(p: *const c_char, name: &str) -> FfiResult<&'a str> {
    c_str(p, name)?.to_str().map_err(|e| {
        FfiError::new(
            SANDBOX_INVALID_UTF8,
            format!("{name} is not valid UTF-8: {e}"),
        )
    })
}

/// A C string taken as a path: any bytes but NUL, as Linux allows.
pub(crate) fn c_path(p: *const c_char, name: &str) -> FfiResult<PathBuf> {
    Ok(PathBuf::from(OsStr::from_bytes(c_str(p, name)?.to_bytes())))
}

/// An array of `n` C strings (each any bytes but NUL).
pub(crate) fn c_str_array(
    p: *const *const c_char,
    n: usize,
    name: &str,
) -> FfiResult<Vec<OsString>> {
    if p.is_null() {
        return Err(FfiError::null(name));
    }
    if n > isize::MAX as usize / std::mem::size_of::<*const c_char>() {
        return Err(FfiError::arg(name, "count too large"));
    }
    // SAFETY: non-NULL, and by the API contract valid for reads of `n`
    // pointers for the duration of the call.
    let items = unsafe { std::slice::from_raw_parts(p, n) };
    items
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let s = c_str(s, &format!("{name}[{i}]"))?;
            Ok(OsStr::from_bytes(s.to_bytes()).to_os_string())
        })
        .collect()
}

/// A byte buffer of `len` bytes (NULL allowed when `len` is 0).
pub(crate) fn bytes<'a>(p: *const u8, len: usize, name: &str) -> FfiResult<&'a [u8]> {
    array(p, len, name)
}

/// An array of `n` plain values (NULL allowed when `n` is 0).
pub(crate) fn array<'a, T>(p: *const T, n: usize, name: &str) -> FfiResult<&'a [T]> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(FfiError::null(name));
    }
    if n > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(FfiError::arg(name, "length too large"));
    }
    // SAFETY: non-NULL, and by the API contract aligned and valid for reads
    // of `n` values of `T` for the duration of the call.
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> String {
        // SAFETY: the library returns a valid NUL-terminated string.
        unsafe { CStr::from_ptr(sandbox_last_error_message()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_a_result_code() {
        let rc = guard(|| panic!("boom"));
        assert_eq!(rc, SANDBOX_PANIC);
        assert!(message().contains("boom"), "{}", message());
        assert_eq!(guard_value(7, || panic!("again")), 7);
    }

    #[test]
    fn the_last_error_is_per_thread() {
        assert_eq!(
            guard(|| Err(FfiError::null("here"))),
            SANDBOX_NULL_PARAMETER
        );
        let other = std::thread::spawn(message).join().unwrap();
        assert_eq!(other, "");
        assert_eq!(message(), "here is NULL");
        // STILL_RUNNING is not an error: the message stays.
        let rc = guard(|| Err(FfiError::new(SANDBOX_STILL_RUNNING, "running")));
        assert_eq!(rc, SANDBOX_STILL_RUNNING);
        assert_eq!(message(), "here is NULL");
    }

    #[test]
    fn result_names_match_the_enum() {
        for rc in [
            SANDBOX_OK,
            SANDBOX_INVALID_CONFIG,
            SANDBOX_STILL_RUNNING,
            SANDBOX_PANIC,
        ] {
            // SAFETY: static NUL-terminated strings.
            let name = unsafe { CStr::from_ptr(sandbox_result_name(rc as c_int)) };
            assert_eq!(name.to_str().unwrap(), format!("{rc:?}"));
        }
    }
}
