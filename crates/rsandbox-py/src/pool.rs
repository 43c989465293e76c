//! `rsandbox.Pool`: a warm pool of boxes of one description
//! (`Sandbox.pool(n)`), each ready to run one command.

use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rsandbox::{Command, Pool};

use crate::child::PyChild;
use crate::convert;
use crate::errors::IntoPyResult;
use crate::sandbox::{stdio, PySandbox};

#[pymethods]
impl PySandbox {
    /// Keep `n` boxes of this description ready (1 to 1024); `Pool.spawn`
    /// then only releases one and execs. `stdin`/`stdout`/`stderr` are
    /// those of every pooled payload: `None` (inherit), `PIPE` (pipes of
    /// each `Child`'s own), `DEVNULL`, or an fd or file object that must
    /// stay open as long as the pool. The first box is made before this
    /// returns, so a description that cannot spawn raises here. Needs a PID
    /// namespace (`pid_ns()`) with rsandbox's init.
    #[pyo3(signature = (n, *, stdin=None, stdout=None, stderr=None))]
    fn pool(
        &self,
        py: Python<'_>,
        n: &Bound<'_, PyAny>,
        stdin: Option<&Bound<'_, PyAny>>,
        stdout: Option<&Bound<'_, PyAny>>,
        stderr: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyPool> {
        let n = usize::try_from(convert::count("pool size", n)?).unwrap_or(usize::MAX);
        let sb = self
            .inner
            .clone()
            .stdin(stdio("stdin", stdin)?)
            .stdout(stdio("stdout", stdout)?)
            .stderr(stdio("stderr", stderr)?);
        let pool = py.detach(move || sb.pool(n)).py_err(py)?;
        Ok(PyPool {
            capacity: pool.capacity(),
            inner: Mutex::new(Some(Arc::new(pool))),
        })
    }
}

/// `n` boxes of one description, ready to run a command each.
#[pyclass(name = "Pool", module = "rsandbox._rsandbox", frozen)]
pub(crate) struct PyPool {
    /// `None` once closed; an `Arc` so a spawn runs without the lock.
    inner: Mutex<Option<Arc<Pool>>>,
    capacity: usize,
}

impl PyPool {
    fn get(&self) -> PyResult<Arc<Pool>> {
        let p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        p.clone()
            .ok_or_else(|| PyValueError::new_err("spawn from a closed Pool"))
    }
}

#[pymethods]
impl PyPool {
    /// Run `argv` in a ready box (or in a box spawned now when none is
    /// ready); the usual `Child`. A missing program raises
    /// `ProgramNotFoundError` before any box is used.
    fn spawn(&self, py: Python<'_>, argv: &Bound<'_, PyAny>) -> PyResult<PyChild> {
        let pool = self.get()?;
        let cmd = Command::from_argv(convert::argv(argv)?);
        let child = py.detach(move || pool.spawn(&cmd)).py_err(py)?;
        PyChild::new(py, child, argv.clone().unbind())
    }

    /// How many boxes are ready now (0 once closed).
    #[getter]
    fn ready(&self) -> usize {
        self.get().map_or(0, |p| p.ready())
    }

    /// How many boxes the pool keeps ready.
    #[getter]
    fn capacity(&self) -> usize {
        self.capacity
    }

    /// The refill's last error, if its last attempt failed (spawns then go
    /// directly, where the same error surfaces), else `None`.
    #[getter]
    fn last_error(&self) -> Option<String> {
        self.get().ok().and_then(|p| p.last_error())
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// Stop the refill and kill the boxes still waiting; the `Child`ren
    /// already spawned are the caller's. Later spawns raise `ValueError`.
    /// Idempotent.
    fn close(&self, py: Python<'_>) {
        let p = self.inner.lock().unwrap_or_else(|e| e.into_inner()).take();
        py.detach(move || drop(p));
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyAny>) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        let state = if self.closed() { " closed" } else { "" };
        format!("<rsandbox.Pool capacity={}{state}>", self.capacity)
    }
}
