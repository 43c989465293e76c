//! Argument conversions: Python values → the core's types. No policy here:
//! values the core can judge are passed through for the core to judge.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::errors::to_py;

/// `str`, `bytes` or `os.PathLike` → raw OS bytes (via `os.fsencode`, so
/// undecodable names round-trip through surrogateescape).
pub(crate) fn os_string(obj: &Bound<'_, PyAny>) -> PyResult<OsString> {
    let encoded = obj.py().import("os")?.call_method1("fsencode", (obj,))?;
    let bytes = encoded.cast::<PyBytes>()?;
    Ok(OsString::from_vec(bytes.as_bytes().to_vec()))
}

/// A path argument: `str`, `bytes` or `os.PathLike`.
pub(crate) fn path(obj: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    os_string(obj).map(PathBuf::from)
}

/// File contents: `bytes` (or another buffer of bytes), or `str` written
/// as UTF-8.
pub(crate) fn bytes(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    match obj.cast::<PyString>() {
        Ok(s) => Ok(s.to_str()?.as_bytes().to_vec()),
        Err(_) => obj.extract::<Vec<u8>>(),
    }
}

/// An argv: a sequence of `str` / `bytes` / `os.PathLike`; a single `str`,
/// `bytes` or path-like is a program without arguments (as in `subprocess`).
pub(crate) fn argv(obj: &Bound<'_, PyAny>) -> PyResult<Vec<OsString>> {
    let single = obj.is_instance_of::<PyString>()
        || obj.is_instance_of::<PyBytes>()
        || obj.hasattr("__fspath__")?;
    if single {
        return Ok(vec![os_string(obj)?]);
    }
    obj.try_iter()?
        .map(|item| os_string(&item?))
        .collect::<PyResult<Vec<_>>>()
}

/// Seconds as `int`, `float` or `datetime.timedelta`, checked by the core
/// (`field` names the builder method in errors).
pub(crate) fn limit_duration(field: &str, obj: &Bound<'_, PyAny>) -> PyResult<Duration> {
    let secs = seconds(obj)?;
    rsandbox::limits::duration_from_secs(field, secs).map_err(|e| to_py(obj.py(), e))
}

/// Seconds as `int`, `float` or `datetime.timedelta`.
pub(crate) fn seconds(obj: &Bound<'_, PyAny>) -> PyResult<f64> {
    if obj.hasattr("total_seconds")? {
        obj.call_method0("total_seconds")?.extract()
    } else {
        obj.extract()
    }
}

/// A wait timeout (not a sandbox setting): negative counts as zero.
pub(crate) fn wait_timeout(obj: &Bound<'_, PyAny>) -> PyResult<Duration> {
    let secs = seconds(obj)?;
    if secs.is_nan() {
        return Err(PyValueError::new_err("timeout: NaN is not a duration"));
    }
    Ok(Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX))
}

/// A non-negative integer for `field`; a negative one is a configuration
/// error (a `ValueError`), not an `OverflowError`.
pub(crate) fn count(field: &str, obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    match obj.extract::<u64>() {
        Ok(v) => Ok(v),
        Err(e) => {
            if obj.extract::<i64>().is_ok_and(|v| v < 0) || obj.lt(0).unwrap_or(false) {
                Err(to_py(
                    obj.py(),
                    rsandbox::Error::invalid(field, "must not be negative"),
                ))
            } else {
                Err(e)
            }
        }
    }
}
