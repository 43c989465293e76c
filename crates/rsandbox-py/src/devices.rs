//! `rsandbox.DeviceRule`: one rule of `Sandbox.device_rules` (the core's
//! `DeviceRule`), immutable. The core checks kind and access at
//! validation; here values are only carried.

use pyo3::prelude::*;
use rsandbox::DeviceRule;

/// One device access rule (cgroup v1 `devices`): allow or deny `access` (a
/// subset of "rwm") to devices of `kind` ("a" all, "b" block, "c"
/// character) with numbers `major`:`minor` (`None`: any).
#[pyclass(name = "DeviceRule", module = "rsandbox._rsandbox", frozen, eq)]
#[derive(Clone, PartialEq)]
pub(crate) struct PyDeviceRule {
    pub(crate) inner: DeviceRule,
}

#[pymethods]
impl PyDeviceRule {
    /// A rule; `allow=False` denies.
    #[new]
    #[pyo3(signature = (allow, kind, major=None, minor=None, access="rwm"))]
    fn new(allow: bool, kind: char, major: Option<u32>, minor: Option<u32>, access: &str) -> Self {
        PyDeviceRule {
            inner: DeviceRule {
                allow,
                ..DeviceRule::allow(kind, major, minor, access)
            },
        }
    }

    /// Allow `access` to device `kind major:minor` (`None`: any number).
    #[staticmethod]
    #[pyo3(signature = (kind, major=None, minor=None, access="rwm"))]
    fn allow(kind: char, major: Option<u32>, minor: Option<u32>, access: &str) -> Self {
        PyDeviceRule {
            inner: DeviceRule::allow(kind, major, minor, access),
        }
    }

    /// Deny `access` to device `kind major:minor` (`None`: any number).
    #[staticmethod]
    #[pyo3(signature = (kind, major=None, minor=None, access="rwm"))]
    fn deny(kind: char, major: Option<u32>, minor: Option<u32>, access: &str) -> Self {
        PyDeviceRule {
            inner: DeviceRule::deny(kind, major, minor, access),
        }
    }

    /// Deny every access to every device: the usual first rule of an
    /// allow list.
    #[staticmethod]
    fn deny_all() -> Self {
        PyDeviceRule {
            inner: DeviceRule::deny_all(),
        }
    }

    /// Whether the rule allows (the Rust field `allow`; the name `allow`
    /// is the constructor above).
    #[getter]
    fn allowed(&self) -> bool {
        self.inner.allow
    }
    /// "a", "b" or "c".
    #[getter]
    fn kind(&self) -> char {
        self.inner.kind
    }
    /// The major number, `None` for any.
    #[getter]
    fn major(&self) -> Option<u32> {
        self.inner.major
    }
    /// The minor number, `None` for any.
    #[getter]
    fn minor(&self) -> Option<u32> {
        self.inner.minor
    }
    /// A subset of "rwm".
    #[getter]
    fn access(&self) -> &str {
        &self.inner.access
    }

    fn __repr__(&self) -> String {
        let num = |n: Option<u32>| n.map_or("None".to_string(), |n| n.to_string());
        let r = &self.inner;
        format!(
            "rsandbox.DeviceRule({}, {:?}, {}, {}, {:?})",
            if r.allow { "True" } else { "False" },
            r.kind.to_string(),
            num(r.major),
            num(r.minor),
            r.access
        )
    }
}
