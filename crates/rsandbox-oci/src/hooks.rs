//! runtime-spec hooks: each one a program run with the container's state
//! JSON on its stdin.
//!
//! - `prestart`, `createRuntime`, `poststart` and `poststop` run here, in
//!   the runtime's namespaces.
//! - `createContainer` is a program of the host (its path "MUST resolve in
//!   the runtime namespace"): it is checked on the host first, and runs in
//!   the container's namespaces except the mount namespace, in the
//!   container's cgroups, with the runtime's privileges. That is what runc,
//!   crun and youki give it (they run it from the container's init before
//!   `pivot_root`, where `/` is still the host's). Joining the container's
//!   mount namespace instead would let the image choose what runs with
//!   every capability: the path itself, a script's interpreter, or the
//!   dynamic loader and libraries of a host binary.
//! - `startContainer` is resolved in the container (as the runtime-spec
//!   says), so it runs as the container's process would: its namespaces,
//!   user, capabilities, no_new_privs, seccomp filter and cgroups, as runc
//!   runs it from the container's init just before the process's exec.

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks, Spec};

use crate::error::{OciError, Res};
use crate::target::Target;

/// Which hooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }
}

/// The hooks of `kind` in `hooks` (a config's `hooks`), if listed.
fn list(hooks: Option<&Hooks>, kind: Kind) -> Option<&Vec<Hook>> {
    let h = hooks?;
    #[allow(deprecated)]
    let list = match kind {
        Kind::Prestart => h.prestart(),
        Kind::CreateRuntime => h.create_runtime(),
        Kind::CreateContainer => h.create_container(),
        Kind::StartContainer => h.start_container(),
        Kind::Poststart => h.poststart(),
        Kind::Poststop => h.poststop(),
    };
    list.as_ref()
}

/// Whether `hooks` has any hook of `kind` (without copying them).
pub fn any(hooks: Option<&Hooks>, kind: Kind) -> bool {
    list(hooks, kind).is_some_and(|l| !l.is_empty())
}

/// The hooks of `kind` in `hooks`, copied.
pub fn of(hooks: Option<&Hooks>, kind: Kind) -> Vec<Hook> {
    list(hooks, kind).cloned().unwrap_or_default()
}

/// Run the hooks of `kind` one after the other, `state` on each one's
/// stdin, its status the one of the hook's point in the lifecycle (a
/// short-lived process may already be gone at `poststart`); the first
/// failure (exit status, timeout) stops them. `inside`: the container
/// (its config and its pinned first process), for `createContainer` and
/// `startContainer`.
pub fn run(
    hooks: Option<&Hooks>,
    kind: Kind,
    state: &serde_json::Value,
    inside: Option<(&Spec, &Target)>,
) -> Res<()> {
    let mut state = state.clone();
    state["status"] = match kind {
        Kind::Poststart => "running",
        Kind::Poststop => "stopped",
        _ => "created",
    }
    .into();
    let input = state.to_string();
    for (i, h) in of(hooks, kind).iter().enumerate() {
        let timeout = h.timeout().map(|t| Duration::from_secs(t.max(1) as u64));
        match (inside, kind) {
            (Some((spec, t)), Kind::CreateContainer) => {
                run_create_container(spec, t, h, &input, timeout)
            }
            (Some((spec, t)), Kind::StartContainer) => {
                run_start_container(spec, t, h, &input, timeout)
            }
            _ => run_here(h, &input, timeout),
        }
        .map_err(|e| OciError::Hook {
            kind: kind.name(),
            index: i,
            path: h.path().clone(),
            source: Box::new(e),
        })?;
    }
    Ok(())
}

fn run_here(h: &Hook, input: &str, timeout: Option<Duration>) -> Res<()> {
    let mut cmd = std::process::Command::new(h.path());
    let args = h.args().clone().unwrap_or_default();
    if let Some((arg0, rest)) = args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    let mut child = cmd.spawn().map_err(|e| OciError::io("run", h.path(), e))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is not an error.
        let _ = stdin.write_all(input.as_bytes());
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let status = child.try_wait().map_err(|source| OciError::Os {
            op: "wait for the hook".into(),
            source,
        })?;
        if let Some(st) = status {
            return if st.success() {
                Ok(())
            } else {
                Err(OciError::Failed(st.to_string()))
            };
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(OciError::TimedOut(timeout.unwrap_or_default()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The hook's command: its path, `args[0]` as argv[0] when given, the rest.
fn command(h: &Hook) -> rsandbox::Command {
    let args = h.args().clone().unwrap_or_default();
    let mut cmd = rsandbox::Command::new(h.path()).args(args.iter().skip(1));
    if let Some(a0) = args.first() {
        cmd = cmd.arg0(a0);
    }
    cmd
}

/// Check that `path` is a program of the runtime's (host's) filesystem:
/// absolute, and an executable regular file there.
fn check_host_program(path: &Path) -> Res<()> {
    if !path.is_absolute() {
        return Err(OciError::HookProgram("the path must be absolute".into()));
    }
    let meta = std::fs::metadata(path).map_err(|e| {
        OciError::HookProgram(format!(
            "not found in the runtime's namespace ({e}); createContainer hooks are \
             programs of the host, never of the container's image"
        ))
    })?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(OciError::HookProgram(
            "not an executable file in the runtime's namespace".into(),
        ));
    }
    Ok(())
}

fn run_create_container(
    spec: &Spec,
    target: &Target,
    h: &Hook,
    input: &str,
    timeout: Option<Duration>,
) -> Res<()> {
    check_host_program(h.path())?;
    let mut warnings = Vec::new();
    let mut sb = rsandbox::Sandbox::new().env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            sb = sb.env(k, v);
        }
    }
    // The runtime's filesystem and privileges (as runc's hook has them),
    // the container's other namespaces.
    let sb = crate::spec::join_container(sb, spec, &target.proc_path(), false, &mut warnings)?
        .no_new_privs(false);
    run_gated(sb, &command(h), input, timeout, target, spec)
}

fn run_start_container(
    spec: &Spec,
    target: &Target,
    h: &Hook,
    input: &str,
    timeout: Option<Duration>,
) -> Res<()> {
    // The container's process, with the hook's command (and its env, else
    // the container's, as runc does).
    let mut process = spec
        .process()
        .clone()
        .ok_or_else(|| OciError::spec("process", "missing (startContainer hooks run as it)"))?;
    let mut args = h.args().clone().unwrap_or_default();
    if args.is_empty() {
        args.push(h.path().to_string_lossy().into_owned());
    }
    process.set_args(Some(args));
    if h.env().is_some() {
        process.set_env(h.env().clone());
    }
    let (sb, _, _) = crate::spec::exec_sandbox(spec, &process, &target.proc_path())?;
    run_gated(sb, &command(h), input, timeout, target, spec)
}

fn pipe() -> Res<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(OciError::last_os("pipe"));
    }
    // SAFETY: fresh fds we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Spawn the hook held before its exec (core `start_gate`), move it into
/// the cgroups of the container's process, then let it exec and wait.
fn run_gated(
    sb: rsandbox::Sandbox,
    cmd: &rsandbox::Command,
    input: &str,
    timeout: Option<Duration>,
    target: &Target,
    spec: &Spec,
) -> Res<()> {
    let (r, w) = pipe()?;
    let mut w = std::fs::File::from(w);
    // The state fits the pipe's buffer (64 KiB) unless annotations are huge.
    let _ = w.write_all(input.as_bytes());
    drop(w);
    let (gate_r, gate_w) = pipe()?;
    let mut sb = sb
        .kill_on_drop(true)
        .stdin(rsandbox::Stdio::Fd(r.as_raw_fd()))
        .stdout(rsandbox::Stdio::Null)
        .start_gate(gate_r.as_raw_fd());
    if let Some(t) = timeout {
        sb = sb.timeout(t);
    }
    let cgroup = target.read("cgroup")?;
    target.confirm()?;
    let mut child = sb.spawn(cmd).map_err(|source| OciError::Spawn {
        context: "spawn the hook",
        source,
    })?;
    drop((r, gate_r));
    // In a joined PID namespace the hook is the core's waiter's child.
    let hook = if crate::spec::has_pid_ns(spec) {
        let p = child.pid();
        std::fs::read_to_string(format!("/proc/{p}/task/{p}/children"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
            .ok_or_else(|| OciError::Failed("the hook's process is gone before its exec".into()))?
    } else {
        child.pid()
    };
    crate::cgroups::join_cgroups(&cgroup, hook)?;
    std::fs::File::from(gate_w)
        .write_all(&[1])
        .map_err(|source| OciError::Os {
            op: "release the hook".into(),
            source,
        })?;
    let out = child.wait().map_err(|source| OciError::Spawn {
        context: "wait for the hook",
        source,
    })?;
    if out.success() {
        Ok(())
    } else {
        Err(OciError::Failed(format!("{out:?}")))
    }
}
