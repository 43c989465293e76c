//! `rsandbox.NetNs`: a prepared network namespace many boxes share
//! (`Sandbox.net_ns_shared`), so each spawn does not create and tear down
//! a network namespace of its own.

use pyo3::prelude::*;

use crate::errors::IntoPyResult;

/// An empty network namespace (only `lo`, up), held open.
#[pyclass(name = "NetNs", module = "rsandbox._rsandbox", frozen, eq)]
#[derive(Clone, PartialEq)]
pub(crate) struct PyNetNs {
    pub(crate) inner: rsandbox::NetNs,
}

#[pymethods]
impl PyNetNs {
    /// Create it. Needs CAP_SYS_ADMIN (root): `PermissionError` otherwise
    /// (`Sandbox.net_ns()`, one namespace per box, works unprivileged).
    #[new]
    fn new(py: Python<'_>) -> PyResult<Self> {
        let inner = py.detach(rsandbox::NetNs::new).py_err(py)?;
        Ok(PyNetNs { inner })
    }

    /// Its inode: a box in it reads `net:[INODE]` from `/proc/self/ns/net`.
    #[getter]
    fn inode(&self) -> u64 {
        self.inner.inode()
    }

    fn __repr__(&self) -> String {
        format!("<rsandbox.NetNs net:[{}]>", self.inner.inode())
    }
}
