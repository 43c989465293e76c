//! `rsandbox.Child` (a running sandbox), `Outcome`, and the enforcement
//! report.
//!
//! Waiting never holds the GIL for long: each wait is a series of short
//! slices run with the GIL released (`py.detach`), with `py.check_signals()`
//! between them, so Ctrl-C during a wait kills the sandbox and raises
//! `KeyboardInterrupt` within one slice.

use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use rsandbox::{Child, EnforcementReport, ExitStatus, LayerReport, Outcome, Reason};

use crate::convert;
use crate::errors::{class, IntoPyResult};

/// How long one GIL-released wait slice lasts at most.
const SLICE: Duration = Duration::from_millis(50);

/// A running (or finished) sandbox.
#[pyclass(name = "Child", module = "rsandbox._rsandbox", frozen)]
pub(crate) struct PyChild {
    inner: Mutex<Child>,
    pid: i32,
    pidfd: RawFd,
    args: Py<PyAny>,
    stdin: Option<Py<PyAny>>,
    stdout: Option<Py<PyAny>>,
    stderr: Option<Py<PyAny>>,
    outcome: OnceLock<Outcome>,
}

/// Wrap our end of a pipe in a Python file object that owns it.
pub(crate) fn file_object(py: Python<'_>, fd: OwnedFd, mode: &str) -> PyResult<Py<PyAny>> {
    let f = py
        .import("io")?
        .call_method1("open", (fd.as_raw_fd(), mode))?;
    // The file object closes the fd from now on.
    let _ = fd.into_raw_fd();
    Ok(f.unbind())
}

impl PyChild {
    pub(crate) fn new(py: Python<'_>, mut child: Child, args: Py<PyAny>) -> PyResult<PyChild> {
        let stdin = child
            .stdin
            .take()
            .map(|p| file_object(py, OwnedFd::from(p), "wb"))
            .transpose()?;
        let stdout = child
            .stdout
            .take()
            .map(|p| file_object(py, OwnedFd::from(p), "rb"))
            .transpose()?;
        let stderr = child
            .stderr
            .take()
            .map(|p| file_object(py, OwnedFd::from(p), "rb"))
            .transpose()?;
        Ok(PyChild {
            pid: child.pid(),
            pidfd: child.as_fd().as_raw_fd(),
            inner: Mutex::new(child),
            args,
            stdin,
            stdout,
            stderr,
            outcome: OnceLock::new(),
        })
    }

    /// Lock the core handle. Called only with the GIL released (inside
    /// `py.detach`), so a thread blocked here never blocks the interpreter.
    fn lock(&self) -> MutexGuard<'_, Child> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn done(&self, o: Outcome) -> PyOutcome {
        let _ = self.outcome.set(o.clone());
        PyOutcome { inner: o }
    }

    /// Kill the tree and reap it (used when a wait is interrupted).
    fn kill_and_reap(&self, py: Python<'_>) {
        let r = py.detach(|| {
            let mut c = self.lock();
            let _ = c.kill();
            c.wait()
        });
        if let Ok(o) = r {
            let _ = self.outcome.set(o);
        }
    }

    fn close_pipes(&self, py: Python<'_>) -> PyResult<()> {
        for f in [&self.stdin, &self.stdout, &self.stderr]
            .into_iter()
            .flatten()
        {
            // Flushing stdin may fail (the payload is gone): closing still
            // releases the fd.
            if let Err(e) = f.bind(py).call_method0("close") {
                if !e.is_instance_of::<pyo3::exceptions::PyBrokenPipeError>(py) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

#[pymethods]
impl PyChild {
    /// The pid of the sandbox's first process (its init with a PID
    /// namespace), in the caller's PID namespace.
    #[getter]
    fn pid(&self) -> i32 {
        self.pid
    }

    /// The argv given to `spawn`.
    #[getter]
    fn args(&self, py: Python<'_>) -> Py<PyAny> {
        self.args.clone_ref(py)
    }

    /// The pidfd: readable once the sandbox has ended (for `select`,
    /// `selectors`, event loops). Owned by the `Child`; do not close it.
    fn fileno(&self) -> RawFd {
        self.pidfd
    }

    /// Writable file object for the payload's stdin, when it is `PIPE`.
    #[getter]
    fn stdin(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.stdin.as_ref().map(|f| f.clone_ref(py))
    }
    /// Readable file object for the payload's stdout, when it is `PIPE`.
    #[getter]
    fn stdout(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.stdout.as_ref().map(|f| f.clone_ref(py))
    }
    /// Readable file object for the payload's stderr, when it is `PIPE`.
    #[getter]
    fn stderr(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.stderr.as_ref().map(|f| f.clone_ref(py))
    }

    /// The outcome once the sandbox has been waited for, else `None`.
    #[getter]
    fn outcome(&self) -> Option<PyOutcome> {
        self.outcome.get().map(|o| PyOutcome { inner: o.clone() })
    }

    /// Like `subprocess.Popen.returncode`: `None` until waited for, then the
    /// exit code, or `-N` when killed by signal N.
    #[getter]
    fn returncode(&self) -> Option<i32> {
        self.outcome.get().map(|o| returncode(o.status))
    }

    /// What each isolation layer asked for and what is really applied.
    #[getter]
    fn enforcement(&self, py: Python<'_>) -> PyEnforcementReport {
        let r = py.detach(|| self.lock().enforcement().clone());
        PyEnforcementReport { inner: r }
    }

    /// Limits asked for but not applied (only with `best_effort`).
    #[getter]
    fn unapplied_limits(&self, py: Python<'_>) -> Vec<String> {
        py.detach(|| self.lock().unapplied_limits())
    }

    /// How long each stage of the spawn took, as `(stage, seconds)` in
    /// pipeline order (ending with `"exec"`), when timing was on
    /// (`Sandbox.record_timing` or `RSANDBOX_TIMING=1`); else `None`.
    #[getter]
    fn spawn_timing(&self, py: Python<'_>) -> Option<Vec<(&'static str, f64)>> {
        py.detach(|| {
            let c = self.lock();
            let t = c.spawn_timing()?;
            Some(
                t.stages()
                    .into_iter()
                    .map(|(n, d)| (n, d.as_secs_f64()))
                    .collect(),
            )
        })
    }

    /// The outcome if the sandbox has ended, else `None`; never blocks.
    /// Also enforces the wall-clock limit when it is due.
    fn poll(&self, py: Python<'_>) -> PyResult<Option<PyOutcome>> {
        let r = py.detach(|| self.lock().try_wait()).py_err(py)?;
        Ok(r.map(|o| self.done(o)))
    }

    /// Wait for the sandbox to end (enforcing its limits) and return its
    /// `Outcome`. With `timeout` (seconds), raise `TimeoutExpired` if it is
    /// still running then (it is not killed). Ctrl-C kills the sandbox and
    /// raises `KeyboardInterrupt`.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<PyOutcome> {
        let until = timeout
            .map(convert::wait_timeout)
            .transpose()?
            .map(|d| Instant::now().checked_add(d));
        loop {
            let slice = match until {
                Some(Some(u)) => u.saturating_duration_since(Instant::now()).min(SLICE),
                _ => SLICE,
            };
            let r = py.detach(|| self.lock().wait_timeout(slice));
            if let Some(o) = r.py_err(py)? {
                return Ok(self.done(o));
            }
            if let Err(e) = py.check_signals() {
                self.kill_and_reap(py);
                return Err(e);
            }
            if let Some(Some(u)) = until {
                if Instant::now() >= u {
                    let secs = timeout.map(convert::seconds).transpose()?;
                    let exc = class(py, "TimeoutExpired")?.call1((self.args.bind(py), secs))?;
                    return Err(PyErr::from_value(exc));
                }
            }
        }
    }

    /// Kill the whole tree (SIGKILL). Idempotent.
    fn kill(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.lock().kill()).py_err(py)
    }

    /// Send `signal` to the tree (to the init, which forwards it, with a PID
    /// namespace; to the process group otherwise).
    fn send_signal(&self, py: Python<'_>, signal: i32) -> PyResult<()> {
        py.detach(|| self.lock().signal(signal)).py_err(py)
    }

    /// A live stream of the box's egress violations (`Violations`): those
    /// so far, then each new one; it ends with the box. Empty without an
    /// egress policy.
    fn violations(&self, py: Python<'_>) -> crate::egress::PyViolations {
        let v = py.detach(|| self.lock().violations());
        crate::egress::PyViolations {
            inner: Mutex::new(v),
        }
    }

    /// Call `callback(violation)` for each new egress violation, on a
    /// gateway thread (it takes the GIL to run; an exception it raises is
    /// reported as unraisable).
    fn on_violation(&self, py: Python<'_>, callback: Py<PyAny>) {
        py.detach(|| {
            self.lock().on_violation(move |v| {
                Python::attach(|py| {
                    let arg = crate::egress::PyViolation { inner: v.clone() };
                    if let Err(e) = callback.call1(py, (arg,)) {
                        e.write_unraisable(py, None);
                    }
                })
            })
        })
    }

    /// Change the egress rules (and secret values) of the running box to
    /// `policy`'s; connections already made stay.
    fn update_egress(&self, py: Python<'_>, policy: &crate::egress::PyEgress) -> PyResult<()> {
        let p = policy.inner.clone();
        py.detach(|| self.lock().update_egress(p)).py_err(py)
    }

    /// Send SIGTERM.
    fn terminate(&self, py: Python<'_>) -> PyResult<()> {
        self.send_signal(py, libc::SIGTERM)
    }

    /// Await the `Outcome` without blocking the event loop: the loop watches
    /// the pidfd (`loop.add_reader`), no thread per child. The sandbox's
    /// wall-clock limit is enforced as with `wait()`.
    fn wait_async(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let m = slf.py().import("rsandbox._aio")?;
        Ok(m.call_method1("wait_child", (slf,))?.unbind())
    }

    /// Seconds until the next wall-clock deadline of the sandbox (timeout or
    /// end of grace), `None` when there is none; used by `wait_async`.
    fn _next_deadline(&self, py: Python<'_>) -> Option<f64> {
        py.detach(|| self.lock().next_deadline())
            .map(|d| d.saturating_duration_since(Instant::now()).as_secs_f64())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Leaving the `with` block kills the whole tree, reaps it and closes
    /// the pipes.
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.kill_and_reap(py);
        self.close_pipes(py)?;
        Ok(false)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let args = self.args.bind(py).repr()?;
        Ok(match self.outcome.get() {
            Some(o) => format!(
                "<rsandbox.Child pid={} args={args} returncode={}>",
                self.pid,
                returncode(o.status)
            ),
            None => format!("<rsandbox.Child pid={} args={args} running>", self.pid),
        })
    }
}

/// `subprocess` convention: the exit code, or `-N` for signal N.
fn returncode(s: ExitStatus) -> i32 {
    match s {
        ExitStatus::Exited(c) => c,
        ExitStatus::Signaled(sig) => -sig,
    }
}

/// The serde name of a core enum value (`"wall_time_limit"`, `"full"`...),
/// so the names stay those of the core's JSON.
pub(crate) fn serde_name<T: serde_json_name::Named>(v: &T) -> String {
    v.name()
}

mod serde_json_name {
    pub(crate) trait Named {
        fn name(&self) -> String;
    }
    impl<T: serde::Serialize> Named for T {
        fn name(&self) -> String {
            match serde_json::to_value(self) {
                Ok(serde_json::Value::String(s)) => s,
                Ok(v) => v.to_string(),
                Err(e) => e.to_string(),
            }
        }
    }
}

/// How a sandbox ended and what it used.
#[pyclass(name = "Outcome", module = "rsandbox._rsandbox", frozen)]
pub(crate) struct PyOutcome {
    pub(crate) inner: Outcome,
}

#[pymethods]
impl PyOutcome {
    /// Why it ended: `"exited"`, `"signaled"`, `"wall_time_limit"`,
    /// `"cpu_time_limit"`, `"out_of_memory"`, `"seccomp_violation"` or
    /// `"killed"`.
    #[getter]
    fn reason(&self) -> String {
        serde_name(&self.inner.reason)
    }
    /// The exit code, or `-N` when killed by signal N (as `subprocess`).
    #[getter]
    fn returncode(&self) -> i32 {
        returncode(self.inner.status)
    }
    /// The exit code when the payload exited, else `None`.
    #[getter]
    fn exit_code(&self) -> Option<i32> {
        self.inner.exit_code()
    }
    /// The signal that killed the payload, else `None`.
    #[getter]
    fn signal(&self) -> Option<i32> {
        self.inner.signal()
    }
    /// True when the payload exited with code 0.
    #[getter]
    fn success(&self) -> bool {
        self.inner.success()
    }
    /// The wall-clock limit ended it.
    #[getter]
    fn timed_out(&self) -> bool {
        self.inner.timed_out()
    }
    /// The memory limit ended it (OOM kill).
    #[getter]
    fn oom_killed(&self) -> bool {
        self.inner.oom_killed()
    }
    /// The CPU-time limit ended it.
    #[getter]
    fn cpu_time_exceeded(&self) -> bool {
        self.inner.reason == Reason::CpuTimeLimit
    }
    /// The seccomp filter killed it.
    #[getter]
    fn seccomp_violation(&self) -> bool {
        self.inner.reason == Reason::SeccompViolation
    }
    /// Wall-clock seconds from spawn to reap.
    #[getter]
    fn wall_time(&self) -> f64 {
        self.inner.wall_time.as_secs_f64()
    }
    /// User CPU seconds of the reaped tree.
    #[getter]
    fn user_time(&self) -> f64 {
        self.inner.user_time.as_secs_f64()
    }
    /// System CPU seconds of the reaped tree.
    #[getter]
    fn system_time(&self) -> f64 {
        self.inner.system_time.as_secs_f64()
    }
    /// CPU seconds of the whole tree (the cgroup's count when there is one).
    #[getter]
    fn cpu_time(&self) -> f64 {
        self.inner
            .cgroup
            .as_ref()
            .and_then(|c| c.cpu_time)
            .unwrap_or(self.inner.user_time + self.inner.system_time)
            .as_secs_f64()
    }
    /// Largest resident set size of any process of the tree, in bytes.
    #[getter]
    fn max_rss(&self) -> u64 {
        self.inner.max_rss
    }
    /// Peak memory of the whole tree in bytes (cgroup), when measured.
    #[getter]
    fn memory_peak(&self) -> Option<u64> {
        self.inner.cgroup.as_ref().and_then(|c| c.memory_peak)
    }
    /// Peak number of processes (cgroup), when measured.
    #[getter]
    fn pids_peak(&self) -> Option<u64> {
        self.inner.cgroup.as_ref().and_then(|c| c.pids_peak)
    }
    /// OOM kills in the box (cgroup), when measured.
    #[getter]
    fn oom_kills(&self) -> Option<u64> {
        self.inner.cgroup.as_ref().and_then(|c| c.oom_kills)
    }
    /// Limits asked for but not applied (only with `best_effort`).
    #[getter]
    fn unapplied_limits(&self) -> Vec<String> {
        self.inner
            .cgroup
            .as_ref()
            .map(|c| c.unapplied.clone())
            .unwrap_or_default()
    }
    /// What each isolation layer asked for and what was really applied.
    /// What the egress gateway refused (`Violation`s), in order.
    #[getter]
    fn violations(&self) -> Vec<crate::egress::PyViolation> {
        self.inner
            .violations
            .iter()
            .map(|v| crate::egress::PyViolation { inner: v.clone() })
            .collect()
    }
    #[getter]
    fn enforcement(&self) -> PyEnforcementReport {
        PyEnforcementReport {
            inner: self.inner.enforcement.clone(),
        }
    }
    /// The outcome as JSON (the core's serde form).
    fn to_json(&self) -> String {
        serde_json::to_string(&self.inner).unwrap_or_default()
    }
    fn __repr__(&self) -> String {
        format!(
            "<rsandbox.Outcome reason={} returncode={} wall_time={:.3}>",
            self.reason(),
            self.returncode(),
            self.wall_time()
        )
    }
}

/// What a sandbox enforces, layer by layer.
#[pyclass(name = "EnforcementReport", module = "rsandbox._rsandbox", frozen)]
pub(crate) struct PyEnforcementReport {
    pub(crate) inner: EnforcementReport,
}

#[pymethods]
impl PyEnforcementReport {
    /// Every layer, in pipeline order.
    #[getter]
    fn layers(&self) -> Vec<PyLayerReport> {
        self.inner
            .layers
            .iter()
            .cloned()
            .map(PyLayerReport::from)
            .collect()
    }
    /// The entry for `name` (`"seccomp"`, `"namespace:pid"`,
    /// `"limit:memory"`...), or `None`.
    fn layer(&self, name: &str) -> Option<PyLayerReport> {
        self.inner.layer(name).cloned().map(PyLayerReport::from)
    }
    /// True when every requested layer is fully enforced.
    #[getter]
    fn fully_enforced(&self) -> bool {
        self.inner.fully_enforced()
    }
    /// The requested layers that are not fully enforced.
    #[getter]
    fn gaps(&self) -> Vec<PyLayerReport> {
        self.inner
            .gaps()
            .cloned()
            .map(PyLayerReport::from)
            .collect()
    }
    fn __str__(&self) -> String {
        self.inner.to_string()
    }
    fn __repr__(&self) -> String {
        format!(
            "<rsandbox.EnforcementReport layers={} fully_enforced={}>",
            self.inner.layers.len(),
            self.inner.fully_enforced()
        )
    }
}

/// One layer of the enforcement report.
#[pyclass(name = "LayerReport", module = "rsandbox._rsandbox", frozen)]
pub(crate) struct PyLayerReport {
    inner: LayerReport,
}

impl From<LayerReport> for PyLayerReport {
    fn from(inner: LayerReport) -> Self {
        PyLayerReport { inner }
    }
}

#[pymethods]
impl PyLayerReport {
    /// The layer: `"namespace:pid"`, `"seccomp"`, `"limit:memory"`...
    #[getter]
    fn layer(&self) -> String {
        self.inner.layer.clone()
    }
    /// What the description asked for.
    #[getter]
    fn requested(&self) -> String {
        self.inner.requested.clone()
    }
    /// What is really applied.
    #[getter]
    fn applied(&self) -> String {
        self.inner.applied.clone()
    }
    /// `"full"`, `"partial"`, `"not_enforced"` or `"not_requested"`.
    #[getter]
    fn enforcement(&self) -> String {
        serde_name(&self.inner.enforcement)
    }
    fn __repr__(&self) -> String {
        format!(
            "<rsandbox.LayerReport {} {} requested={:?} applied={:?}>",
            self.inner.layer,
            self.enforcement(),
            self.inner.requested,
            self.inner.applied
        )
    }
}
