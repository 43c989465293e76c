//! `rsandbox.Sandbox`: the core builder, immutable from Python.
//!
//! Every builder method returns a *new* `Sandbox` (the receiver is left as
//! it was), so a base description can be shared between threads and
//! specialised freely: `base = Sandbox.strict(); a = base.memory_limit(..)`.

use std::os::fd::RawFd;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use rsandbox::limits::Resource;
use rsandbox::{Command, IdMap, Sandbox, Stdio};

use crate::child::{PyChild, PyEnforcementReport};
use crate::convert::{self as conv, count, limit_duration};
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
    fn with(&self, f: impl FnOnce(Sandbox) -> Sandbox) -> Self {
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
fn stdio(name: &str, obj: Option<&Bound<'_, PyAny>>) -> PyResult<Stdio> {
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

    /// A new user namespace (the caller's uid/gid mapped to `uid`/`gid`).
    fn user_ns(&self) -> Self {
        self.with(Sandbox::user_ns)
    }
    /// A new PID namespace; a small init (PID 1) reaps and forwards signals.
    fn pid_ns(&self) -> Self {
        self.with(Sandbox::pid_ns)
    }
    /// A new mount namespace.
    fn mount_ns(&self) -> Self {
        self.with(Sandbox::mount_ns)
    }
    /// A new UTS namespace (see `hostname`).
    fn uts_ns(&self) -> Self {
        self.with(Sandbox::uts_ns)
    }
    /// A new IPC namespace.
    fn ipc_ns(&self) -> Self {
        self.with(Sandbox::ipc_ns)
    }
    /// A new network namespace with only `lo`, up.
    fn net_ns(&self) -> Self {
        self.with(Sandbox::net_ns)
    }
    /// Run in the prepared network namespace `ns` (a `NetNs`) instead of a
    /// new one: no namespace to create and tear down per spawn. Boxes
    /// sharing it are cut off from the host's network, not from each
    /// other. Needs root to spawn. Not kept by `to_json` or pickling.
    fn net_ns_shared(&self, ns: &crate::netns::PyNetNs) -> Self {
        self.with(|s| s.net_ns_shared(&ns.inner))
    }
    /// A new cgroup namespace.
    fn cgroup_ns(&self) -> Self {
        self.with(Sandbox::cgroup_ns)
    }
    /// A new time namespace.
    fn time_ns(&self) -> Self {
        self.with(Sandbox::time_ns)
    }
    /// User, pid, mount, uts, ipc, net and cgroup namespaces.
    fn all_ns(&self) -> Self {
        self.with(Sandbox::all_ns)
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

    /// The uid inside the user namespace.
    fn uid(&self, uid: u32) -> Self {
        self.with(|s| s.uid(uid))
    }
    /// The gid inside the user namespace.
    fn gid(&self, gid: u32) -> Self {
        self.with(|s| s.gid(gid))
    }
    /// Supplementary groups of the payload (ids as seen in the box),
    /// replacing those set before. In a user namespace this needs a gid
    /// map the caller is privileged over (root).
    fn groups(&self, gids: Vec<u32>) -> Self {
        self.with(|s| s.groups(gids))
    }
    /// The payload's file mode creation mask (at most `0o777`, checked at
    /// spawn).
    fn umask(&self, mask: u32) -> Self {
        self.with(|s| s.umask(mask))
    }
    /// The payload's `oom_score_adj` (-1000..=1000, checked at spawn;
    /// lowering it needs `CAP_SYS_RESOURCE`).
    fn oom_score_adj(&self, adj: i32) -> Self {
        self.with(|s| s.oom_score_adj(adj))
    }
    /// Add a uid map line (`inside`, `outside`, `count`).
    #[pyo3(signature = (inside, outside, count=1))]
    fn uid_map(&self, inside: u32, outside: u32, count: u32) -> Self {
        self.with(|s| s.uid_map(IdMap::new(inside, outside, count)))
    }
    /// Add a gid map line (`inside`, `outside`, `count`).
    #[pyo3(signature = (inside, outside, count=1))]
    fn gid_map(&self, inside: u32, outside: u32, count: u32) -> Self {
        self.with(|s| s.gid_map(IdMap::new(inside, outside, count)))
    }
    /// The hostname inside the box (needs `uts_ns`).
    fn hostname(&self, name: String) -> Self {
        self.with(|s| s.hostname(name))
    }
    /// Start from the caller's environment instead of a clean one.
    fn inherit_env(&self) -> Self {
        self.with(Sandbox::inherit_env)
    }
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
    /// Remove an environment variable.
    fn env_remove(&self, key: String) -> Self {
        self.with(|s| s.env_remove(key))
    }
    /// An empty environment (not even `PATH`) unless variables are set after.
    fn env_clear(&self) -> Self {
        self.with(Sandbox::env_clear)
    }
    /// Working directory inside the box (default `/`).
    fn cwd(&self, dir: &Bound<'_, PyAny>) -> PyResult<Self> {
        let dir = conv::path(dir)?;
        Ok(self.with(|s| s.cwd(dir)))
    }
    /// Pass the caller's fd `fd` into the box as `target` (>= 3).
    fn pass_fd(&self, fd: RawFd, target: RawFd) -> Self {
        self.with(|s| s.pass_fd(fd, target))
    }
    /// Hold the payload, set up, just before exec until a byte can be read
    /// from fd `fd` (EOF makes it exit): an OCI runtime's create/start.
    /// `spawn` returns once it waits; `fd` must stay open until then.
    fn start_gate(&self, fd: RawFd) -> Self {
        self.with(|s| s.start_gate(fd))
    }
    /// Make the payload's stdin (a terminal) the controlling terminal of
    /// the box's session.
    #[pyo3(signature = (on=true))]
    fn controlling_tty(&self, on: bool) -> Self {
        self.with(|s| s.controlling_tty(on))
    }
    /// Socket activation: pass the listening socket `fd` into the box (fd
    /// 3, 4, ... in call order; `LISTEN_FDS`/`LISTEN_PID` set as systemd
    /// does). `fd` must stay open until `spawn` returns.
    fn listen_fd(&self, fd: RawFd) -> Self {
        self.with(|s| s.listen_fd(fd))
    }
    /// Forward TCP connections accepted on the host at `host` (`"ip:port"`
    /// or an `(ip, port)` tuple, bound at spawn) to `127.0.0.1:box_port`
    /// in the box's network namespace. Needs `net_ns` and `pid_ns`.
    fn publish(&self, host: &Bound<'_, PyAny>, box_port: u16) -> PyResult<Self> {
        let addr = socket_addr(host)?;
        Ok(self.with(|s| s.publish(addr, box_port)))
    }
    /// Like `publish`, with a listening TCP socket `fd` of the caller's
    /// (duplicated at spawn).
    fn publish_listener(&self, fd: RawFd, box_port: u16) -> Self {
        self.with(|s| s.publish_listener(fd, box_port))
    }
    /// Record per-stage timestamps of each spawn (`Child.spawn_timing`).
    #[pyo3(signature = (on=true))]
    fn record_timing(&self, on: bool) -> Self {
        self.with(|s| s.record_timing(on))
    }
    /// Kill the whole tree when the `Child` is garbage-collected (default on).
    #[pyo3(signature = (on=true))]
    fn kill_on_drop(&self, on: bool) -> Self {
        self.with(|s| s.kill_on_drop(on))
    }
    /// Kill the box when this process dies (default on).
    #[pyo3(signature = (on=true))]
    fn die_with_parent(&self, on: bool) -> Self {
        self.with(|s| s.die_with_parent(on))
    }

    // --- filesystem -------------------------------------------------------

    /// Host directory `dir` becomes `/` (read-only); needs `mount_ns`.
    fn rootfs(&self, dir: &Bound<'_, PyAny>) -> PyResult<Self> {
        let dir = conv::path(dir)?;
        Ok(self.with(|s| s.rootfs(dir)))
    }
    /// Like `rootfs`, but `/` stays writable.
    fn rootfs_rw(&self, dir: &Bound<'_, PyAny>) -> PyResult<Self> {
        let dir = conv::path(dir)?;
        Ok(self.with(|s| s.rootfs_rw(dir)))
    }
    /// Bind host path `src` onto `dst`, writable.
    fn bind(&self, src: &Bound<'_, PyAny>, dst: &Bound<'_, PyAny>) -> PyResult<Self> {
        let (src, dst) = (conv::path(src)?, conv::path(dst)?);
        Ok(self.with(|s| s.bind(src, dst)))
    }
    /// Bind host path `src` onto `dst`, read-only.
    fn ro_bind(&self, src: &Bound<'_, PyAny>, dst: &Bound<'_, PyAny>) -> PyResult<Self> {
        let (src, dst) = (conv::path(src)?, conv::path(dst)?);
        Ok(self.with(|s| s.ro_bind(src, dst)))
    }
    /// A tmpfs of `size` bytes on `dst`.
    fn tmpfs(&self, dst: &Bound<'_, PyAny>, size: &Bound<'_, PyAny>) -> PyResult<Self> {
        let (dst, size) = (conv::path(dst)?, count("tmpfs", size)?);
        Ok(self.with(|s| s.tmpfs(dst, size)))
    }
    /// A fresh proc filesystem on `dst` (default `/proc`).
    #[pyo3(signature = (dst=None))]
    fn proc(&self, dst: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let dst = dst.map(conv::path).transpose()?.unwrap_or("/proc".into());
        Ok(self.with(|s| s.proc(dst)))
    }
    /// A minimal /dev on `dst` (default `/dev`).
    #[pyo3(signature = (dst=None))]
    fn dev(&self, dst: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let dst = dst.map(conv::path).transpose()?.unwrap_or("/dev".into());
        Ok(self.with(|s| s.dev(dst)))
    }
    /// A fresh mqueue on `dst` (default `/dev/mqueue`; rootless, it needs
    /// `ipc_ns`).
    #[pyo3(signature = (dst=None))]
    fn mqueue(&self, dst: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let dst = dst
            .map(conv::path)
            .transpose()?
            .unwrap_or("/dev/mqueue".into());
        Ok(self.with(|s| s.mqueue(dst)))
    }
    /// A fresh read-only sysfs on `dst` (default `/sys`; rootless, it needs
    /// `net_ns`).
    #[pyo3(signature = (dst=None))]
    fn sysfs(&self, dst: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let dst = dst.map(conv::path).transpose()?.unwrap_or("/sys".into());
        Ok(self.with(|s| s.sysfs(dst)))
    }
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
    /// Create directory `dst` (and missing parents).
    fn dir(&self, dst: &Bound<'_, PyAny>) -> PyResult<Self> {
        let dst = conv::path(dst)?;
        Ok(self.with(|s| s.dir(dst)))
    }
    /// Create symlink `dst` pointing to `target`.
    fn symlink(&self, target: &Bound<'_, PyAny>, dst: &Bound<'_, PyAny>) -> PyResult<Self> {
        let (target, dst) = (conv::path(target)?, conv::path(dst)?);
        Ok(self.with(|s| s.symlink(target, dst)))
    }
    /// Create file `dst` holding `data` (`bytes`, or `str` as UTF-8).
    fn file(&self, dst: &Bound<'_, PyAny>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let dst = conv::path(dst)?;
        let data: Vec<u8> = match data.cast::<PyString>() {
            Ok(s) => s.to_str()?.as_bytes().to_vec(),
            Err(_) => data.extract::<Vec<u8>>()?,
        };
        Ok(self.with(|s| s.file(dst, data)))
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
    /// Hide `path` in the box.
    fn mask(&self, path: &Bound<'_, PyAny>) -> PyResult<Self> {
        let p = conv::path(path)?;
        Ok(self.with(|s| s.mask(p)))
    }
    /// Make `path` (and the mounts under it) read-only.
    fn remount_ro(&self, path: &Bound<'_, PyAny>) -> PyResult<Self> {
        let p = conv::path(path)?;
        Ok(self.with(|s| s.remount_ro(p)))
    }

    // --- limits -----------------------------------------------------------

    /// Wall-clock limit in seconds (or a `timedelta`): the tree is killed.
    fn timeout(&self, seconds: &Bound<'_, PyAny>) -> PyResult<Self> {
        let d = limit_duration("timeout", seconds)?;
        Ok(self.with(|s| s.timeout(d)))
    }
    /// With a timeout: SIGTERM first, SIGKILL `seconds` later.
    fn grace(&self, seconds: &Bound<'_, PyAny>) -> PyResult<Self> {
        let d = limit_duration("grace", seconds)?;
        Ok(self.with(|s| s.grace(d)))
    }
    /// CPU-time limit per process in seconds (rounded up to whole seconds).
    fn cpu_time_limit(&self, seconds: &Bound<'_, PyAny>) -> PyResult<Self> {
        let d = limit_duration("cpu_time_limit", seconds)?;
        Ok(self.with(|s| s.cpu_time_limit(d)))
    }
    /// Memory limit of the whole tree in bytes (cgroup; swap off).
    fn memory_limit(&self, bytes: &Bound<'_, PyAny>) -> PyResult<Self> {
        let n = count("memory_limit", bytes)?;
        Ok(self.with(|s| s.memory_limit(n)))
    }
    /// Process/thread limit of the whole tree (cgroup).
    fn pids_limit(&self, n: &Bound<'_, PyAny>) -> PyResult<Self> {
        let n = count("pids_limit", n)?;
        Ok(self.with(|s| s.pids_limit(n)))
    }
    /// CPU bandwidth in cores (e.g. 0.5).
    fn cpu_limit(&self, cores: f64) -> Self {
        self.with(|s| s.cpu_limit(cores))
    }
    /// Relative CPU weight, 1..=10000.
    fn cpu_weight(&self, weight: &Bound<'_, PyAny>) -> PyResult<Self> {
        let w = count("cpu_weight", weight)?;
        Ok(self.with(|s| s.cpu_weight(w)))
    }
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
    /// `RLIMIT_NOFILE` = `n`.
    fn rlimit_nofile(&self, n: &Bound<'_, PyAny>) -> PyResult<Self> {
        let n = count("rlimit_nofile", n)?;
        Ok(self.with(|s| s.rlimit_nofile(n)))
    }
    /// `RLIMIT_FSIZE` = `bytes`.
    fn rlimit_fsize(&self, bytes: &Bound<'_, PyAny>) -> PyResult<Self> {
        let n = count("rlimit_fsize", bytes)?;
        Ok(self.with(|s| s.rlimit_fsize(n)))
    }
    /// `RLIMIT_AS` = `bytes`.
    fn rlimit_as(&self, bytes: &Bound<'_, PyAny>) -> PyResult<Self> {
        let n = count("rlimit_as", bytes)?;
        Ok(self.with(|s| s.rlimit_as(n)))
    }
    /// `RLIMIT_STACK` = `bytes`.
    fn rlimit_stack(&self, bytes: &Bound<'_, PyAny>) -> PyResult<Self> {
        let n = count("rlimit_stack", bytes)?;
        Ok(self.with(|s| s.rlimit_stack(n)))
    }
    /// `RLIMIT_CORE` = `bytes`.
    fn rlimit_core(&self, bytes: &Bound<'_, PyAny>) -> PyResult<Self> {
        let n = count("rlimit_core", bytes)?;
        Ok(self.with(|s| s.rlimit_core(n)))
    }
    /// `RLIMIT_CPU`: soft `seconds`, hard `seconds + 1`.
    fn rlimit_cpu(&self, seconds: &Bound<'_, PyAny>) -> PyResult<Self> {
        let n = count("rlimit_cpu", seconds)?;
        Ok(self.with(|s| s.rlimit_cpu(n)))
    }
    /// Create the box's cgroup under `path`.
    fn cgroup_parent(&self, path: &Bound<'_, PyAny>) -> PyResult<Self> {
        let p = conv::path(path)?;
        Ok(self.with(|s| s.cgroup_parent(p)))
    }
    /// Restrict which devices the box may open or create: `rules`
    /// (`DeviceRule`s) are appended and applied in order (cgroup v1
    /// `devices`; `UnsupportedError` at spawn without one, unless
    /// `best_effort`). Begin with `DeviceRule.deny_all()` for an allow list.
    fn device_rules(&self, rules: Vec<PyRef<'_, crate::devices::PyDeviceRule>>) -> Self {
        let rules: Vec<_> = rules.iter().map(|r| r.inner.clone()).collect();
        self.with(|s| s.device_rules(rules))
    }
    /// Run on these CPUs only (cpuset, e.g. `"0-1,3"`).
    fn cpuset_cpus(&self, cpus: String) -> Self {
        self.with(|s| s.cpuset_cpus(cpus))
    }
    /// Use these memory nodes only (cpuset, e.g. `"0"`).
    fn cpuset_mems(&self, mems: String) -> Self {
        self.with(|s| s.cpuset_mems(mems))
    }
    /// Block I/O weight, 10..=1000 (needs a scheduler with weights).
    fn blkio_weight(&self, weight: u16) -> Self {
        self.with(|s| s.blkio_weight(weight))
    }
    /// Block I/O weight, 10..=1000, on device `major`:`minor`.
    fn blkio_weight_device(&self, major: u32, minor: u32, weight: u16) -> Self {
        self.with(|s| s.blkio_weight_device(major, minor, weight))
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
    /// Tag the box's packets with this class id (cgroup v1 `net_cls`).
    fn net_classid(&self, classid: u32) -> Self {
        self.with(|s| s.net_classid(classid))
    }
    /// Priority `prio` of the box's traffic on interface `ifname` (cgroup
    /// v1 `net_prio`).
    fn net_priority(&self, ifname: String, prio: u32) -> Self {
        self.with(|s| s.net_priority(ifname, prio))
    }
    /// Give the box a cgroup even without cgroup limits (usage accounting).
    #[pyo3(signature = (on=true))]
    fn accounting(&self, on: bool) -> Self {
        self.with(|s| s.accounting(on))
    }

    // --- hardening --------------------------------------------------------

    /// Filter syscalls with the built-in default profile.
    fn seccomp_default(&self) -> Self {
        self.with(Sandbox::seccomp_default)
    }
    /// Filter syscalls with an OCI / Docker JSON profile given as text.
    fn seccomp_oci_json(&self, json: String) -> Self {
        self.with(|s| s.seccomp_oci_json(json))
    }
    /// Filter syscalls with an OCI / Docker JSON profile read from `path`.
    fn seccomp_oci_file(&self, path: &Bound<'_, PyAny>) -> PyResult<Self> {
        let p = conv::path(path)?;
        Ok(self.with(|s| s.seccomp_oci_file(p)))
    }
    /// No seccomp filter.
    fn no_seccomp(&self) -> Self {
        self.with(Sandbox::no_seccomp)
    }
    /// Drop every capability and lock securebits.
    fn drop_caps(&self) -> Self {
        self.with(Sandbox::drop_caps)
    }
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
    /// Keep every capability (undoes `drop_caps`).
    fn keep_all_caps(&self) -> Self {
        self.with(Sandbox::keep_all_caps)
    }
    /// Set (or never set) no_new_privs.
    #[pyo3(signature = (on=true))]
    fn no_new_privs(&self, on: bool) -> Self {
        self.with(|s| s.no_new_privs(on))
    }
    /// Landlock: allow reading beneath `path`.
    fn landlock_read(&self, path: &Bound<'_, PyAny>) -> PyResult<Self> {
        let p = conv::path(path)?;
        Ok(self.with(|s| s.landlock_read(p)))
    }
    /// Landlock: allow reading and writing beneath `path`.
    fn landlock_write(&self, path: &Bound<'_, PyAny>) -> PyResult<Self> {
        let p = conv::path(path)?;
        Ok(self.with(|s| s.landlock_write(p)))
    }
    /// Landlock: allow reading and executing beneath `path`.
    fn landlock_exec(&self, path: &Bound<'_, PyAny>) -> PyResult<Self> {
        let p = conv::path(path)?;
        Ok(self.with(|s| s.landlock_exec(p)))
    }
    /// Landlock: deny every filesystem access outside the rules.
    fn landlock_deny_fs(&self) -> Self {
        self.with(Sandbox::landlock_deny_fs)
    }
    /// Landlock: allow binding TCP `port` (every other bind denied).
    fn landlock_bind_port(&self, port: u16) -> Self {
        self.with(|s| s.landlock_bind_port(port))
    }
    /// Landlock: allow connecting to TCP `port` (every other denied).
    fn landlock_connect_port(&self, port: u16) -> Self {
        self.with(|s| s.landlock_connect_port(port))
    }
    /// Landlock: deny every TCP bind and connect.
    fn landlock_deny_tcp(&self) -> Self {
        self.with(Sandbox::landlock_deny_tcp)
    }
    /// Landlock: no connecting to abstract unix sockets made outside.
    fn landlock_scope_abstract_unix(&self) -> Self {
        self.with(Sandbox::landlock_scope_abstract_unix)
    }
    /// Landlock: no signals to processes outside the box.
    fn landlock_scope_signals(&self) -> Self {
        self.with(Sandbox::landlock_scope_signals)
    }
    /// Apply what this kernel and these privileges allow instead of failing;
    /// the enforcement report says what is missing.
    #[pyo3(signature = (on=true))]
    fn best_effort(&self, on: bool) -> Self {
        self.with(|s| s.best_effort(on))
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
