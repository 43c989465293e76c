//! `rsandbox.Sandbox`: the core builder, immutable from Python.
//!
//! This file holds the class, its special methods, spawning, and the
//! setters the binding table cannot render (environment pairs, addresses,
//! namespace and enum names, overlays with an upper layer, rlimits by name,
//! device rules, mount steps). The mechanical setters are generated from
//! the table of `crates/rsandbox-surface` into `generated.rs`.
//!
//! Every builder method returns a *new* `Sandbox` (the receiver is left as
//! it was), so a base description can be shared between threads and
//! specialised freely: `base = Sandbox.strict(); a = base.memory_limit(..)`.

use std::os::fd::RawFd;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use rsandbox::limits::Resource;
use rsandbox::{Command, Sandbox, Stdio};

use crate::child::{PyChild, PyEnforcementReport};
use crate::convert::{self as conv, count};
use crate::errors::{to_py, IntoPyResult};

/// `subprocess.PIPE`, `subprocess.STDOUT`, `subprocess.DEVNULL`.
const PIPE: i64 = -1;
const STDOUT: i64 = -2;
const DEVNULL: i64 = -3;

/// A description of a sandbox (see the package docs).
#[pyclass(name = "Sandbox", module = "rsandbox._rsandbox", frozen, eq)]
#[derive(Clone, PartialEq)]
pub(crate) struct PySandbox {
    pub(crate) inner: Sandbox,
}

impl PySandbox {
    /// A new `Sandbox`: this one with `f` applied (the receiver unchanged).
    pub(crate) fn with(&self, f: impl FnOnce(Sandbox) -> Sandbox) -> Self {
        PySandbox {
            inner: f(self.inner.clone()),
        }
    }

    fn try_with(&self, f: impl FnOnce(Sandbox) -> PyResult<Sandbox>) -> PyResult<Self> {
        Ok(PySandbox {
            inner: f(self.inner.clone())?,
        })
    }
}

/// Where a standard stream goes: `None` (inherit), `PIPE`, `DEVNULL`, an fd
/// number, or an object with `fileno()`.
pub(crate) fn stdio(name: &str, obj: Option<&Bound<'_, PyAny>>) -> PyResult<Stdio> {
    let Some(obj) = obj else {
        return Ok(Stdio::Inherit);
    };
    let py = obj.py();
    if obj.is_none() {
        return Ok(Stdio::Inherit);
    }
    let fd: i64 = if obj.hasattr("fileno")? {
        obj.call_method0("fileno")?.extract()?
    } else {
        obj.extract()?
    };
    match fd {
        PIPE => Ok(Stdio::Pipe),
        DEVNULL => Ok(Stdio::Null),
        // Only valid for stderr: the core says so for the other streams.
        STDOUT => Ok(Stdio::Stdout),
        fd if fd >= 0 && fd <= i64::from(i32::MAX) => Ok(Stdio::Fd(fd as RawFd)),
        fd => Err(to_py(
            py,
            rsandbox::Error::invalid(
                name,
                format!("{fd}: expected None, PIPE, DEVNULL, a file descriptor or a file object"),
            ),
        )),
    }
}

/// An environment variable: both `str`, else `TypeError` naming the key.
fn env_pair(key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<(String, String)> {
    let Ok(k) = key.cast::<PyString>() else {
        return Err(PyTypeError::new_err(format!(
            "environment variable names must be str, not {}",
            key.get_type().name()?
        )));
    };
    let k = k.to_str()?.to_owned();
    let Ok(v) = value.cast::<PyString>() else {
        return Err(PyTypeError::new_err(format!(
            "environment variable {k:?}: value must be str, not {}",
            value.get_type().name()?
        )));
    };
    Ok((k, v.to_str()?.to_owned()))
}

/// A host socket address: `"ip:port"` (`"[::1]:80"`) or an `(ip, port)`
/// tuple; anything else is a `ConfigError` naming `publish`.
fn socket_addr(obj: &Bound<'_, PyAny>) -> PyResult<std::net::SocketAddr> {
    let bad = |why: String| to_py(obj.py(), rsandbox::Error::invalid("publish", why));
    if let Ok((ip, port)) = obj.extract::<(String, u16)>() {
        let ip: std::net::IpAddr = ip
            .parse()
            .map_err(|e| bad(format!("{ip:?}: {e} (expected an IP address)")))?;
        return Ok(std::net::SocketAddr::new(ip, port));
    }
    let text: String = obj.extract()?;
    text.parse()
        .map_err(|e| bad(format!("{text:?}: {e} (expected e.g. \"127.0.0.1:8080\")")))
}

/// A name of one of the core's serde enums (`DeviceKind`, `IoThrottle`),
/// else a `ConfigError` naming `field` and the names it takes.
fn enum_name<T: serde::de::DeserializeOwned>(
    py: Python<'_>,
    field: &str,
    name: &str,
    expected: &str,
) -> PyResult<T> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).map_err(|_| {
        to_py(
            py,
            rsandbox::Error::invalid(field, format!("{name:?}: expected one of {expected}")),
        )
    })
}

#[pymethods]
impl PySandbox {
    /// An empty description: no namespaces, a clean environment (only
    /// `PATH`), inherited stdio, kill-on-drop and die-with-parent on.
    #[new]
    fn new() -> Self {
        PySandbox {
            inner: Sandbox::new(),
        }
    }

    /// Every hardening layer on: all namespaces (user, pid, mount, uts, ipc,
    /// net, cgroup), every capability dropped, no_new_privs, the default
    /// seccomp profile.
    #[staticmethod]
    fn strict() -> Self {
        PySandbox {
            inner: Sandbox::strict(),
        }
    }

    /// Load a description saved with `to_json()`.
    #[staticmethod]
    fn from_json(py: Python<'_>, data: &str) -> PyResult<Self> {
        let inner: Sandbox = serde_json::from_str(data)
            .map_err(|e| to_py(py, rsandbox::Error::invalid("json", e.to_string())))?;
        Ok(PySandbox { inner })
    }

    /// Load a profile file (`.json` or `.toml`; see docs/profile.md).
    #[staticmethod]
    fn load(py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<Self> {
        let path = conv::path(path)?;
        let inner = py.detach(move || Sandbox::load(path)).py_err(py)?;
        Ok(PySandbox { inner })
    }

    /// Write the description to a profile file (`.json` or `.toml`).
    fn save(&self, py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<()> {
        let path = conv::path(path)?;
        let sb = self.inner.clone();
        py.detach(move || sb.save(path)).py_err(py)
    }

    /// Parse a TOML profile.
    #[staticmethod]
    fn from_toml(py: Python<'_>, data: &str) -> PyResult<Self> {
        let inner = Sandbox::from_toml(data).py_err(py)?;
        Ok(PySandbox { inner })
    }

    /// The description as a TOML profile.
    fn to_toml(&self, py: Python<'_>) -> PyResult<String> {
        self.inner.to_toml().py_err(py)
    }

    /// The description as JSON (plain data; `from_json` reads it back).
    fn to_json(&self, py: Python<'_>) -> PyResult<String> {
        serde_json::to_string(&self.inner)
            .map_err(|e| to_py(py, rsandbox::Error::invalid("json", e.to_string())))
    }

    /// Pickling (e.g. for `multiprocessing`): the JSON form.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let py = slf.py();
        let from_json = py.get_type::<PySandbox>().getattr("from_json")?;
        Ok((from_json, (slf.get().to_json(py)?,)))
    }

    fn __repr__(&self) -> String {
        format!("rsandbox.Sandbox.from_json({:?})", self.to_json_lossy())
    }

    // --- namespaces -------------------------------------------------------

    /// Run in the prepared network namespace `ns` (a `NetNs`) instead of a
    /// new one: no namespace to create and tear down per spawn. Boxes
    /// sharing it are cut off from the host's network, not from each
    /// other. Needs root to spawn. Not kept by `to_json` or pickling.
    fn net_ns_shared(&self, ns: &crate::netns::PyNetNs) -> Self {
        self.with(|s| s.net_ns_shared(&ns.inner))
    }
    /// Join the existing namespace at `path` (e.g. `/proc/PID/ns/net`)
    /// instead of creating one; `ns` is its name as in `namespaces`
    /// (`"net"`, `"mnt"`, `"pid"`, `"ipc"`, `"uts"`, `"cgroup"`).
    fn join_ns(&self, py: Python<'_>, ns: &str, path: &Bound<'_, PyAny>) -> PyResult<Self> {
        let kind = rsandbox::Namespace::ALL
            .into_iter()
            .find(|n| n.name() == ns)
            .ok_or_else(|| {
                let names: Vec<_> = rsandbox::Namespace::ALL.iter().map(|n| n.name()).collect();
                to_py(
                    py,
                    rsandbox::Error::invalid(
                        "join_ns",
                        format!(
                            "unknown namespace {ns:?}: expected one of {}",
                            names.join(", ")
                        ),
                    ),
                )
            })?;
        let path = conv::path(path)?;
        Ok(self.with(|s| s.join_ns(kind, path)))
    }
    /// The namespaces requested, by name.
    #[getter]
    fn namespaces(&self) -> Vec<&'static str> {
        self.inner.namespaces().iter().map(|n| n.name()).collect()
    }

    // --- identity, environment --------------------------------------------

    /// Set an environment variable (both `str`; anything else is a
    /// `TypeError`).
    fn env(&self, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Self> {
        let (k, v) = env_pair(key, value)?;
        Ok(self.with(|s| s.env(k, v)))
    }
    /// Set every variable of a mapping (keys and values `str`).
    fn envs(&self, vars: &Bound<'_, PyAny>) -> PyResult<Self> {
        let items = vars.call_method0("items")?;
        let mut pairs = Vec::new();
        for item in items.try_iter()? {
            let item = item?;
            let (k, v) = item
                .cast::<pyo3::types::PyTuple>()?
                .extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>()?;
            pairs.push(env_pair(&k, &v)?);
        }
        Ok(self.with(|s| pairs.into_iter().fold(s, |s, (k, v)| s.env(k, v))))
    }
    /// Forward TCP connections accepted on the host at `host` (`"ip:port"`
    /// or an `(ip, port)` tuple, bound at spawn) to `127.0.0.1:box_port`
    /// in the box's network namespace. Needs `net_ns` and `pid_ns`.
    fn publish(&self, host: &Bound<'_, PyAny>, box_port: u16) -> PyResult<Self> {
        let addr = socket_addr(host)?;
        Ok(self.with(|s| s.publish(addr, box_port)))
    }
    /// Let the box reach only what `policy` (an `Egress`) allows. Needs
    /// `net_ns` and `mount_ns` (the strict preset has both).
    fn egress(&self, policy: &crate::egress::PyEgress) -> Self {
        let p = policy.inner.clone();
        self.with(|s| s.egress(p))
    }

    // --- filesystem -------------------------------------------------------

    /// Create device node (or fifo) `dst`: `kind` `"char"`, `"block"` or
    /// `"fifo"`, numbers `major`:`minor`, permission bits `mode`, owner
    /// `uid`:`gid` (ids in the box). Made with mknod outside a user
    /// namespace (device rules must allow its `m` access); in one, the
    /// host's node is bound.
    #[pyo3(signature = (dst, kind, major=0, minor=0, mode=0o666, uid=0, gid=0))]
    #[allow(clippy::too_many_arguments)]
    fn device(
        &self,
        py: Python<'_>,
        dst: &Bound<'_, PyAny>,
        kind: &str,
        major: u32,
        minor: u32,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> PyResult<Self> {
        let dst = conv::path(dst)?;
        let kind: rsandbox::fs::DeviceKind = enum_name(py, "device", kind, "char, block, fifo")?;
        Ok(self.with(|s| s.device(dst, kind, major, minor, mode, uid, gid)))
    }
    /// Overlay `lowers` (topmost first) on `dst`; writes go to a discarded
    /// tmpfs, or persist in `upper` (with `work` on the same filesystem).
    #[pyo3(signature = (lowers, dst, *, upper=None, work=None))]
    fn overlay(
        &self,
        lowers: &Bound<'_, PyAny>,
        dst: &Bound<'_, PyAny>,
        upper: Option<&Bound<'_, PyAny>>,
        work: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let lowers = lowers
            .try_iter()?
            .map(|l| conv::path(&l?))
            .collect::<PyResult<Vec<_>>>()?;
        let dst = conv::path(dst)?;
        let upper = upper.map(conv::path).transpose()?;
        let work = work.map(conv::path).transpose()?;
        self.try_with(|s| {
            Ok(match (upper, work) {
                (None, None) => s.overlay(lowers, dst),
                (upper, work) => s.mount_step(rsandbox::fs::MountStep::Overlay {
                    lowers,
                    dst,
                    upper,
                    work,
                }),
            })
        })
    }
    /// Append one mount step given in its profile form, a mapping such as
    /// `{"type": "tmpfs", "dst": "/tmp", "size": 1 << 20, "mode": 0o700}`
    /// (docs/profile.md), for the fields no other method takes.
    fn mount_step(&self, py: Python<'_>, step: &Bound<'_, PyAny>) -> PyResult<Self> {
        let json: String = py
            .import("json")?
            .call_method1("dumps", (step,))?
            .extract()?;
        let step: rsandbox::fs::MountStep = serde_json::from_str(&json)
            .map_err(|e| to_py(py, rsandbox::Error::invalid("mount_step", e.to_string())))?;
        Ok(self.with(|s| s.mount_step(step)))
    }

    // --- limits -----------------------------------------------------------

    /// Set rlimit `resource` (`"nofile"`, `"RLIMIT_AS"`, ...) to `soft`/`hard`
    /// (`hard` defaults to `soft`; `UNLIMITED` for none).
    #[pyo3(signature = (resource, soft, hard=None))]
    fn rlimit(
        &self,
        py: Python<'_>,
        resource: &str,
        soft: &Bound<'_, PyAny>,
        hard: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let r = Resource::parse(resource).py_err(py)?;
        let soft = count("rlimit", soft)?;
        let hard = hard
            .map(|h| count("rlimit", h))
            .transpose()?
            .unwrap_or(soft);
        Ok(self.with(|s| s.rlimit(r, soft, hard)))
    }
    /// Restrict which devices the box may open or create: `rules`
    /// (`DeviceRule`s) are appended and applied in order (cgroup v1
    /// `devices`; `UnsupportedError` at spawn without one, unless
    /// `best_effort`). Begin with `DeviceRule.deny_all()` for an allow list.
    fn device_rules(&self, rules: Vec<PyRef<'_, crate::devices::PyDeviceRule>>) -> Self {
        let rules: Vec<_> = rules.iter().map(|r| r.inner.clone()).collect();
        self.with(|s| s.device_rules(rules))
    }
    /// Throttle I/O on device `major`:`minor` to `rate` per second; `which`
    /// is `"read_bps"`, `"write_bps"`, `"read_iops"` or `"write_iops"`.
    fn blkio_throttle(
        &self,
        py: Python<'_>,
        which: &str,
        major: u32,
        minor: u32,
        rate: u64,
    ) -> PyResult<Self> {
        let which: rsandbox::cgroup::extra::IoThrottle = enum_name(
            py,
            "blkio_throttle",
            which,
            "read_bps, write_bps, read_iops, write_iops",
        )?;
        Ok(self.with(|s| s.blkio_throttle(which, major, minor, rate)))
    }

    // --- hardening --------------------------------------------------------

    /// Drop every capability except these (`"CAP_NET_BIND_SERVICE"`, ...).
    fn keep_caps(&self, caps: Vec<String>) -> Self {
        self.with(|s| s.keep_caps(caps))
    }
    /// Give capability set `which` (`"bounding"`, `"effective"`,
    /// `"permitted"`, `"inheritable"` or `"ambient"`) exactly `caps`, with
    /// OCI (runc) semantics: sets not given are then empty, and a non-root
    /// payload keeps across exec only the ambient capabilities listed.
    fn cap_set(&self, py: Python<'_>, which: &str, caps: Vec<String>) -> PyResult<Self> {
        let set: rsandbox::CapSet = enum_name(
            py,
            "cap_set",
            which,
            "bounding, effective, permitted, inheritable, ambient",
        )?;
        Ok(self.with(|s| s.cap_set(set, caps)))
    }

    // --- checking, spawning -----------------------------------------------

    /// Check the whole description without spawning anything.
    fn validate(&self, py: Python<'_>) -> PyResult<()> {
        let sb = self.inner.clone();
        py.detach(move || sb.validate()).py_err(py)
    }

    /// What this description would enforce on this kernel, per layer.
    fn enforcement_report(&self, py: Python<'_>) -> PyResult<PyEnforcementReport> {
        let sb = self.inner.clone();
        let r = py.detach(move || sb.enforcement_report()).py_err(py)?;
        Ok(PyEnforcementReport { inner: r })
    }

    /// Spawn `argv` in the box. `stdin`/`stdout`/`stderr`: `None` (inherit),
    /// `PIPE`, `DEVNULL`, an fd or a file object.
    #[pyo3(signature = (argv, *, stdin=None, stdout=None, stderr=None))]
    fn spawn(
        &self,
        py: Python<'_>,
        argv: &Bound<'_, PyAny>,
        stdin: Option<&Bound<'_, PyAny>>,
        stdout: Option<&Bound<'_, PyAny>>,
        stderr: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyChild> {
        let args = conv::argv(argv)?;
        let sb = self
            .inner
            .clone()
            .stdin(stdio("stdin", stdin)?)
            .stdout(stdio("stdout", stdout)?)
            .stderr(stdio("stderr", stderr)?);
        let cmd = Command::from_argv(args);
        // Fds given as file objects stay open: the caller holds them for the
        // duration of this call, and the core duplicates them before it
        // returns.
        let child = py.detach(move || sb.spawn(&cmd)).py_err(py)?;
        PyChild::new(py, child, argv.clone().unbind())
    }
}

impl PySandbox {
    fn to_json_lossy(&self) -> String {
        serde_json::to_string(&self.inner).unwrap_or_default()
    }
}
