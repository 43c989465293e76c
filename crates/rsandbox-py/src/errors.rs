//! `rsandbox::Error` → the Python exceptions of `rsandbox._errors`.
//!
//! The exception classes are plain Python (so they can inherit from both
//! `SandboxError` and a builtin such as `ValueError` or `PermissionError`);
//! this module only picks the class and passes the core's fields through.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rsandbox::Error;

/// The Python exception for a core error.
pub(crate) fn to_py(py: Python<'_>, e: Error) -> PyErr {
    build(py, &e).unwrap_or_else(|import_err| {
        // Only when `rsandbox._errors` cannot be imported (a broken install):
        // keep the core's message rather than losing it.
        let err = PyRuntimeError::new_err(e.to_string());
        err.set_cause(py, Some(import_err));
        err
    })
}

/// An exception class of `rsandbox._errors` by name.
pub(crate) fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("rsandbox._errors")?.getattr(name)
}

fn build(py: Python<'_>, e: &Error) -> PyResult<PyErr> {
    let msg = e.to_string();
    let kw = PyDict::new(py);
    let exc = match e {
        Error::InvalidConfig { field, reason } => {
            kw.set_item("field", field)?;
            kw.set_item("reason", reason)?;
            class(py, "ConfigError")?.call((msg,), Some(&kw))?
        }
        Error::Privilege {
            privilege,
            action,
            fix,
        } => {
            kw.set_item("privilege", privilege)?;
            kw.set_item("action", action)?;
            kw.set_item("fix", fix)?;
            class(py, "SandboxPermissionError")?.call((msg,), Some(&kw))?
        }
        Error::Unsupported { feature, detail } => {
            kw.set_item("feature", feature)?;
            kw.set_item("detail", detail)?;
            class(py, "UnsupportedError")?.call((msg,), Some(&kw))?
        }
        Error::ProgramNotFound { program, source } => {
            let errno = source.raw_os_error();
            kw.set_item("stage", rsandbox::Stage::Exec.name())?;
            let cls = if errno == Some(libc::ENOENT) {
                "ProgramNotFoundError"
            } else {
                "SpawnError"
            };
            class(py, cls)?.call((errno, msg, program.as_os_str()), Some(&kw))?
        }
        Error::Spawn {
            stage,
            detail,
            path,
            source,
        } => {
            kw.set_item("stage", stage.name())?;
            kw.set_item("detail", detail)?;
            let path = path.as_ref().map(|p| p.as_os_str());
            class(py, "SpawnError")?.call((source.raw_os_error(), msg, path), Some(&kw))?
        }
        Error::Io { op, path, source } => {
            kw.set_item("op", op)?;
            let path = path.as_ref().map(|p| p.as_os_str());
            class(py, "SandboxOSError")?.call((source.raw_os_error(), msg, path), Some(&kw))?
        }
        // `Error` is non_exhaustive: a variant added later still surfaces as
        // the base class, with the core's message.
        _ => class(py, "SandboxError")?.call1((msg,))?,
    };
    Ok(PyErr::from_value(exc))
}

/// Extension trait: `core_result.py_err(py)?`.
pub(crate) trait IntoPyResult<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for rsandbox::Result<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, e))
    }
}
