//! `rsandbox.Egress` (the core's `EgressPolicy`), `Violation`, and the live
//! stream `Violations`.

use std::sync::Mutex;
use std::time::Duration;

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use rsandbox::egress::{EgressPolicy, Violation, Violations};

use crate::errors::to_py;

/// How long one GIL-released wait for the next violation lasts at most.
const SLICE: Duration = Duration::from_millis(50);

/// What a box may reach on the network (see the package docs): domains
/// (`"example.com"`, `"*.pypi.org:443"`), addresses or CIDRs
/// (`"10.1.2.0/24:443"`), secrets `(env, host, header, value)`, and the
/// resolver for allowed names (`"127.0.0.1:53"` or `(ip, port)`; default:
/// this machine's). Checked when a sandbox using it is validated or
/// spawned.
#[pyclass(name = "Egress", module = "rsandbox._rsandbox", frozen, eq)]
#[derive(Clone, PartialEq)]
pub(crate) struct PyEgress {
    pub(crate) inner: EgressPolicy,
}

#[pymethods]
impl PyEgress {
    // The keyword arguments of the Python constructor, one per field.
    #[allow(clippy::too_many_arguments)]
    #[new]
    #[pyo3(signature = (allow_domains=Vec::new(), allow_cidrs=Vec::new(), secrets=Vec::new(), resolve_with=None, upstream_ca_pem=Vec::new(), proxy_port=3128, proxy_env=true))]
    fn new(
        py: Python<'_>,
        allow_domains: Vec<String>,
        allow_cidrs: Vec<String>,
        secrets: Vec<(String, String, String, String)>,
        resolve_with: Option<&Bound<'_, PyAny>>,
        upstream_ca_pem: Vec<String>,
        proxy_port: u16,
        proxy_env: bool,
    ) -> PyResult<Self> {
        let mut p = EgressPolicy::new()
            .proxy_port(proxy_port)
            .proxy_env(proxy_env);
        for d in allow_domains {
            p = p.allow_domain(d);
        }
        for c in allow_cidrs {
            p = p.allow_cidr(c);
        }
        for (env, host, header, value) in secrets {
            p = p.secret(env, host, header, value);
        }
        for pem in upstream_ca_pem {
            p = p.upstream_ca_pem(pem);
        }
        if let Some(r) = resolve_with {
            let addr = if let Ok((ip, port)) = r.extract::<(String, u16)>() {
                format!("{ip}:{port}")
            } else {
                r.extract::<String>()?
            };
            let a = addr.parse().map_err(|_| {
                to_py(
                    py,
                    rsandbox::Error::invalid(
                        "egress.resolve_with",
                        format!("{addr:?}: expected \"ip:port\" or (ip, port)"),
                    ),
                )
            })?;
            p = p.resolve_with(a);
        }
        Ok(PyEgress { inner: p })
    }

    /// The domain rules, as given.
    #[getter]
    fn allow_domains(&self) -> Vec<String> {
        self.inner.domains().to_vec()
    }
    /// The address rules, as given.
    #[getter]
    fn allow_cidrs(&self) -> Vec<String> {
        self.inner.cidrs().to_vec()
    }
    /// Check every rule now (`ConfigError` naming the bad one).
    fn validate(&self, py: Python<'_>) -> PyResult<()> {
        self.inner.validate().map_err(|e| to_py(py, e))
    }
    fn __repr__(&self) -> String {
        format!(
            "Egress(allow_domains={:?}, allow_cidrs={:?}, secrets={})",
            self.inner.domains(),
            self.inner.cidrs(),
            self.inner.secrets().len()
        )
    }
}

/// One refused query or connection.
#[pyclass(name = "Violation", module = "rsandbox._rsandbox", frozen)]
pub(crate) struct PyViolation {
    pub(crate) inner: Violation,
}

#[pymethods]
impl PyViolation {
    /// When, in milliseconds since the Unix epoch.
    #[getter]
    fn time_ms(&self) -> u64 {
        self.inner.time_ms
    }
    /// What was refused: `"dns"`, `"connect"`, `"tls"`, `"http"`,
    /// `"proxy"`, `"datagram"` or `"limit"`.
    #[getter]
    fn kind(&self) -> String {
        crate::child::serde_name(&self.inner.kind)
    }
    /// The name asked for, if any.
    #[getter]
    fn name(&self) -> Option<String> {
        self.inner.name.clone()
    }
    /// The address asked for, if any.
    #[getter]
    fn addr(&self) -> Option<String> {
        self.inner.addr.map(|a| a.to_string())
    }
    /// The port, if known.
    #[getter]
    fn port(&self) -> Option<u16> {
        self.inner.port
    }
    /// The pid as seen in the box, if known.
    #[getter]
    fn pid(&self) -> Option<i32> {
        self.inner.pid
    }
    /// Why it was refused.
    #[getter]
    fn reason(&self) -> String {
        self.inner.reason.clone()
    }
    fn __repr__(&self) -> String {
        let opt = |s: Option<String>| s.map_or("None".to_string(), |s| format!("{s:?}"));
        format!(
            "Violation(kind={:?}, name={}, addr={}, port={}, reason={:?})",
            self.kind(),
            opt(self.inner.name.clone()),
            opt(self.addr()),
            self.inner
                .port
                .map_or("None".to_string(), |p| p.to_string()),
            self.inner.reason
        )
    }
}

/// A live stream of a box's violations: iterate it (each `next` blocks
/// until the next one, with the GIL released; Ctrl-C interrupts); it ends
/// when the box does.
#[pyclass(name = "Violations", module = "rsandbox._rsandbox", frozen)]
pub(crate) struct PyViolations {
    pub(crate) inner: Mutex<Violations>,
}

#[pymethods]
impl PyViolations {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    fn __next__(&self, py: Python<'_>) -> PyResult<PyViolation> {
        use std::sync::mpsc::RecvTimeoutError;
        loop {
            let r = py.detach(|| {
                self.inner
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .next_timeout(SLICE)
            });
            match r {
                Ok(v) => return Ok(PyViolation { inner: v }),
                Err(RecvTimeoutError::Disconnected) => return Err(PyStopIteration::new_err(())),
                Err(RecvTimeoutError::Timeout) => py.check_signals()?,
            }
        }
    }
}
