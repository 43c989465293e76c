//! `rsandbox.Template` (a box whose payload waits at its ready point),
//! `rsandbox.ForkedBox` (a box forked from it) and the payload side,
//! `_serve_forks` (wrapped by `rsandbox.serve_forks()`).
//!
//! Waiting on a fork releases the GIL in short slices, polling the fork's
//! pidfd, with `py.check_signals()` between them, as `Child.wait` does: a
//! Ctrl-C kills the fork and raises `KeyboardInterrupt`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rsandbox::template::{ForkedBox, Template, TemplateOptions};
use rsandbox::{Command, EnforcementReport, Stdio};

use crate::cgroup_stats::PyCgroupStats;
use crate::child::{file_object, PyEnforcementReport};
use crate::convert;
use crate::errors::{class, to_py, IntoPyResult};
use crate::sandbox::{stdio, PySandbox};

/// How long one GIL-released wait slice lasts at most.
const SLICE: Duration = Duration::from_millis(50);

#[pymethods]
impl PySandbox {
    /// Spawn `argv` in the box as a template and wait (at most
    /// `ready_timeout` seconds, default 30) until it calls
    /// `rsandbox.serve_forks()` (C: `sandbox_serve_forks`). `stdin`/
    /// `stdout`/`stderr` are the template's own until its ready point
    /// (`None`, `DEVNULL`, an fd or a file object; each fork gets its own).
    /// `fork_namespaces=True`: every fork gets user, pid, mount, net, ipc
    /// and uts namespaces of its own (Rust
    /// `TemplateOptions::fork_namespaces`, docs/template.md).
    #[pyo3(signature = (
        argv, *, ready_timeout=None, fork_namespaces=false, stdin=None, stdout=None, stderr=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn template(
        &self,
        py: Python<'_>,
        argv: &Bound<'_, PyAny>,
        ready_timeout: Option<&Bound<'_, PyAny>>,
        fork_namespaces: bool,
        stdin: Option<&Bound<'_, PyAny>>,
        stdout: Option<&Bound<'_, PyAny>>,
        stderr: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTemplate> {
        let cmd = Command::from_argv(convert::argv(argv)?);
        let ready = match ready_timeout {
            Some(t) => convert::wait_timeout(t)?,
            None => rsandbox::template::DEFAULT_READY_TIMEOUT,
        };
        let opts = TemplateOptions::new()
            .ready_timeout(ready)
            .fork_namespaces(fork_namespaces);
        let sb = self
            .inner
            .clone()
            .stdin(template_stdio("stdin", stdin)?)
            .stdout(template_stdio("stdout", stdout)?)
            .stderr(template_stdio("stderr", stderr)?);
        let t = py
            .detach(move || sb.template_with(&cmd, &opts))
            .py_err(py)?;
        Ok(PyTemplate {
            pid: t.pid(),
            report: t.enforcement().clone(),
            inner: Mutex::new(Some(t)),
            args: argv.clone().unbind(),
        })
    }
}

/// A template's own stdio: a `PIPE` would have no reader (the template's
/// `Child` is not handed out), so it is refused.
fn template_stdio(name: &str, obj: Option<&Bound<'_, PyAny>>) -> PyResult<Stdio> {
    match stdio(name, obj)? {
        Stdio::Pipe => Err(PyValueError::new_err(format!(
            "{name}: a template's stream cannot be PIPE (give each fork its own)"
        ))),
        s => Ok(s),
    }
}

/// A box whose payload waits in `serve_forks`, ready to be forked.
#[pyclass(name = "Template", module = "rsandbox._rsandbox", frozen)]
pub(crate) struct PyTemplate {
    inner: Mutex<Option<Template>>,
    pid: i32,
    args: Py<PyAny>,
    report: EnforcementReport,
}

impl PyTemplate {
    fn get(&self) -> PyResult<Template> {
        let t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        t.clone()
            .ok_or_else(|| PyValueError::new_err("fork from a closed Template"))
    }
}

#[pymethods]
impl PyTemplate {
    /// The template payload's pid in the caller's PID namespace.
    #[getter]
    fn pid(&self) -> i32 {
        self.pid
    }

    /// What the template box enforces, with a `template` layer saying how
    /// its forks are made.
    #[getter]
    fn enforcement(&self) -> PyEnforcementReport {
        PyEnforcementReport {
            inner: self.report.clone(),
        }
    }

    /// The argv given to `Sandbox.template`.
    #[getter]
    fn args(&self, py: Python<'_>) -> Py<PyAny> {
        self.args.clone_ref(py)
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// Fork a box from the template: its `serve_forks()` returns `arg`.
    /// `stdin`/`stdout`/`stderr`: `None` (this process's own), `PIPE`,
    /// `DEVNULL`, `STDOUT` (stderr only), an fd or a file object.
    #[pyo3(signature = (arg=0, *, stdin=None, stdout=None, stderr=None))]
    fn fork(
        &self,
        py: Python<'_>,
        arg: u64,
        stdin: Option<&Bound<'_, PyAny>>,
        stdout: Option<&Bound<'_, PyAny>>,
        stderr: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyForkedBox> {
        let t = self.get()?;
        let i = stream(py, 0, stdio("stdin", stdin)?, None)?;
        let o = stream(py, 1, stdio("stdout", stdout)?, None)?;
        let e = stream(py, 2, stdio("stderr", stderr)?, Some(&o.theirs))?;
        let f = py
            .detach(|| t.fork_with_stdio(arg, i.theirs.as_fd(), o.theirs.as_fd(), e.theirs.as_fd()))
            .py_err(py)?;
        drop((i.theirs, o.theirs, e.theirs));
        Ok(PyForkedBox {
            pid: f.pid(),
            report: f.enforcement().clone(),
            pidfd: f.as_fd().as_raw_fd(),
            arg,
            inner: Mutex::new(f),
            stdin: i.ours.map(|fd| file_object(py, fd, "wb")).transpose()?,
            stdout: o.ours.map(|fd| file_object(py, fd, "rb")).transpose()?,
            stderr: e.ours.map(|fd| file_object(py, fd, "rb")).transpose()?,
            returncode: OnceLock::new(),
        })
    }

    /// Let the template go: later forks raise `ValueError`; the template
    /// box ends once the forks already made are gone too. Idempotent.
    fn close(&self, py: Python<'_>) {
        let t = self.inner.lock().unwrap_or_else(|e| e.into_inner()).take();
        py.detach(move || drop(t));
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyAny>) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let args = self.args.bind(py).repr()?;
        let state = if self.closed() { " closed" } else { "" };
        Ok(format!(
            "<rsandbox.Template pid={} args={args}{state}>",
            self.pid
        ))
    }
}

/// One standard stream of a fork: the fd the fork gets, and our end when
/// it is a pipe.
struct Stream {
    theirs: OwnedFd,
    ours: Option<OwnedFd>,
}

/// The fork's stream `n` (0, 1, 2) for `how`; `stdout` is the fork's
/// stdout when `n` is stderr (for `STDOUT`).
fn stream(py: Python<'_>, n: RawFd, how: Stdio, stdout: Option<&OwnedFd>) -> PyResult<Stream> {
    let io = |e: std::io::Error| to_py(py, rsandbox::Error::io("a fork's stdio", None, e));
    let own = |theirs| Ok(Stream { theirs, ours: None });
    match how {
        Stdio::Inherit => own(dup_fd(n).map_err(io)?),
        Stdio::Fd(fd) => own(dup_fd(fd).map_err(io)?),
        Stdio::Null => {
            let f = std::fs::OpenOptions::new()
                .read(n == 0)
                .write(n != 0)
                .open("/dev/null")
                .map_err(io)?;
            own(f.into())
        }
        Stdio::Stdout => match stdout {
            Some(o) if n == 2 => own(o.try_clone().map_err(io)?),
            _ => Err(PyValueError::new_err("STDOUT is only for stderr")),
        },
        Stdio::Pipe => {
            let (r, w) = std::io::pipe().map_err(io)?;
            let (r, w) = (OwnedFd::from(r), OwnedFd::from(w));
            let (theirs, ours) = if n == 0 { (r, w) } else { (w, r) };
            Ok(Stream {
                theirs,
                ours: Some(ours),
            })
        }
        _ => Err(PyValueError::new_err("unsupported stdio for a fork")),
    }
}

/// Our own copy (close-on-exec) of the caller's fd `fd`, taken while the
/// caller's object holds it open.
#[allow(unsafe_code)]
fn dup_fd(fd: RawFd) -> std::io::Result<OwnedFd> {
    // SAFETY: `fd` is an fd of this process that the caller's Python
    // object keeps open for the duration of this call (the GIL is held);
    // it is only borrowed long enough to duplicate it. A closed fd fails
    // with EBADF.
    unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()
}

/// A box forked from a `Template`.
#[pyclass(name = "ForkedBox", module = "rsandbox._rsandbox", frozen)]
pub(crate) struct PyForkedBox {
    inner: Mutex<ForkedBox>,
    pid: i32,
    pidfd: RawFd,
    arg: u64,
    report: EnforcementReport,
    stdin: Option<Py<PyAny>>,
    stdout: Option<Py<PyAny>>,
    stderr: Option<Py<PyAny>>,
    returncode: OnceLock<i32>,
}

/// `subprocess` convention: the exit code, or `-N` for signal N.
fn returncode(s: std::process::ExitStatus) -> i32 {
    s.code().unwrap_or_else(|| -s.signal().unwrap_or_default())
}

impl PyForkedBox {
    /// Lock the core handle; called with the GIL released.
    fn lock(&self) -> MutexGuard<'_, ForkedBox> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait at most `d` for the pidfd; then, if it ended, the status.
    fn wait_slice(&self, d: Duration) -> rsandbox::Result<Option<i32>> {
        let f = self.lock();
        if !readable(f.as_fd(), d) {
            return Ok(None);
        }
        let mut f = f;
        Ok(Some(returncode(f.wait()?)))
    }

    fn done(&self, code: i32) -> i32 {
        *self.returncode.get_or_init(|| code)
    }
}

/// Whether `fd` polls readable within `d`.
fn readable(fd: BorrowedFd<'_>, d: Duration) -> bool {
    let mut p = [pollfd(fd)];
    let ms = d.as_millis().min(i32::MAX as u128) as i32;
    poll(&mut p, ms) > 0
}

fn pollfd(fd: BorrowedFd<'_>) -> libc::pollfd {
    libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }
}

#[allow(unsafe_code)]
fn poll(p: &mut [libc::pollfd], ms: i32) -> i32 {
    // SAFETY: `p` is a live slice of pollfd of the given length.
    unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) }
}

#[pymethods]
impl PyForkedBox {
    /// The fork's pid in the template box's PID namespace.
    #[getter]
    fn pid(&self) -> i32 {
        self.pid
    }

    /// The argument the fork's `serve_forks()` returned.
    #[getter]
    fn arg(&self) -> u64 {
        self.arg
    }

    /// The fork's pidfd: readable once it has ended. Owned by the
    /// `ForkedBox`; do not close it.
    fn fileno(&self) -> RawFd {
        self.pidfd
    }

    /// Writable file object for the fork's stdin, when it is `PIPE`.
    #[getter]
    fn stdin(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.stdin.as_ref().map(|f| f.clone_ref(py))
    }
    /// Readable file object for the fork's stdout, when it is `PIPE`.
    #[getter]
    fn stdout(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.stdout.as_ref().map(|f| f.clone_ref(py))
    }
    /// Readable file object for the fork's stderr, when it is `PIPE`.
    #[getter]
    fn stderr(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.stderr.as_ref().map(|f| f.clone_ref(py))
    }

    /// `None` until waited for, then the exit code, or `-N` when killed by
    /// signal N.
    #[getter]
    fn returncode(&self) -> Option<i32> {
        self.returncode.get().copied()
    }

    /// What the fork enforces: the template box's layers, which it
    /// inherits, with what it makes its own (a namespaced fork's
    /// namespaces, capabilities and stacked filter) and a `template` layer
    /// saying what it shares with the template and its siblings.
    #[getter]
    fn enforcement(&self) -> PyEnforcementReport {
        PyEnforcementReport {
            inner: self.report.clone(),
        }
    }

    /// What the fork's own cgroup saw (`CgroupStats`), once it was waited
    /// for; `None` before, or when the template's description has no
    /// cgroup limits. A fork the memory limit ended has `oom_kills` >= 1.
    #[getter]
    fn cgroup_stats(&self, py: Python<'_>) -> Option<PyCgroupStats> {
        let stats = py.detach(|| self.lock().cgroup_stats().cloned())?;
        Some(PyCgroupStats { inner: stats })
    }

    /// The return code if the fork has ended, else `None`; never blocks.
    fn poll(&self, py: Python<'_>) -> PyResult<Option<i32>> {
        let r = py.detach(|| self.wait_slice(Duration::ZERO)).py_err(py)?;
        Ok(r.map(|c| self.done(c)))
    }

    /// Wait for the fork to end and return its return code. With `timeout`
    /// (seconds), raise `TimeoutExpired` if it is still running then (it is
    /// not killed). Ctrl-C kills the fork and raises `KeyboardInterrupt`.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<i32> {
        if let Some(c) = self.returncode.get() {
            return Ok(*c);
        }
        let until = timeout
            .map(convert::wait_timeout)
            .transpose()?
            .map(|d| Instant::now().checked_add(d));
        loop {
            let slice = match until {
                Some(Some(u)) => u.saturating_duration_since(Instant::now()).min(SLICE),
                _ => SLICE,
            };
            if let Some(c) = py.detach(|| self.wait_slice(slice)).py_err(py)? {
                return Ok(self.done(c));
            }
            if let Err(e) = py.check_signals() {
                let _ = self.kill(py);
                let _ = py
                    .detach(|| self.lock().wait())
                    .map(|s| self.done(returncode(s)));
                return Err(e);
            }
            if let Some(Some(u)) = until {
                if Instant::now() >= u {
                    let secs = timeout.map(convert::seconds).transpose()?;
                    let cmd = format!("fork {}", self.arg);
                    let exc = class(py, "TimeoutExpired")?.call1((cmd, secs))?;
                    return Err(PyErr::from_value(exc));
                }
            }
        }
    }

    /// Kill the fork (SIGKILL, through its pidfd).
    fn kill(&self, py: Python<'_>) -> PyResult<()> {
        self.send_signal(py, libc::SIGKILL)
    }

    /// Send SIGTERM.
    fn terminate(&self, py: Python<'_>) -> PyResult<()> {
        self.send_signal(py, libc::SIGTERM)
    }

    /// Send `signal` to the fork (through its pidfd). A no-op once it was
    /// waited for.
    fn send_signal(&self, py: Python<'_>, signal: i32) -> PyResult<()> {
        if self.returncode.get().is_some() {
            return Ok(());
        }
        py.detach(|| self.lock().signal(signal)).py_err(py)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Leaving the `with` block kills the fork, waits for it and closes the
    /// pipes.
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyAny>) -> PyResult<bool> {
        if self.returncode.get().is_none() {
            let _ = self.kill(py);
            if let Ok(s) = py.detach(|| self.lock().wait()) {
                self.done(returncode(s));
            }
        }
        for f in [&self.stdin, &self.stdout, &self.stderr]
            .into_iter()
            .flatten()
        {
            if let Err(e) = f.bind(py).call_method0("close") {
                if !e.is_instance_of::<pyo3::exceptions::PyBrokenPipeError>(py) {
                    return Err(e);
                }
            }
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        match self.returncode.get() {
            Some(c) => format!(
                "<rsandbox.ForkedBox pid={} arg={} returncode={c}>",
                self.pid, self.arg
            ),
            None => format!(
                "<rsandbox.ForkedBox pid={} arg={} running>",
                self.pid, self.arg
            ),
        }
    }
}

/// The payload side: serve fork requests; returns the fork's argument in
/// each fork. Holds the GIL throughout, so the fork's one thread holds it
/// when it returns (the Python wrapper refuses to start while other
/// threads run: they would be lost in the forks). In the fork, Python's
/// after-fork work runs as after `os.fork()`: its locks reinitialised, the
/// `os.register_at_fork(after_in_child=...)` hooks called (`random`
/// reseeds, `threading` forgets the template's thread state).
#[pyfunction]
pub(crate) fn _serve_forks(py: Python<'_>) -> PyResult<u64> {
    let arg = rsandbox::template::serve_forks().map_err(|e| {
        let e = rsandbox::Error::io("serve_forks: not started as a template", None, e);
        to_py(py, e)
    })?;
    after_fork_in_child(py);
    Ok(arg)
}

/// `PyOS_AfterFork_Child`, in a fork made while this thread held the GIL.
#[allow(unsafe_code)]
fn after_fork_in_child(_gil: Python<'_>) {
    // SAFETY: called in the child of a fork(), on the thread that forked,
    // which holds the GIL (the token proves it), as the C API requires.
    unsafe { pyo3::ffi::PyOS_AfterFork_Child() }
}
