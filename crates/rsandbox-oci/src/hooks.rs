//! runtime-spec hooks: each one a program run with the container's state
//! JSON on its stdin. `prestart`, `createRuntime`, `poststart` and
//! `poststop` run in the runtime's namespaces; `createContainer` and
//! `startContainer` in the container's (joined through the core, as
//! `exec` does, so their path is resolved in the container's root).

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks, Spec};

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

/// The hooks of `kind` in `hooks` (a config's `hooks`).
pub fn of(hooks: Option<&Hooks>, kind: Kind) -> Vec<Hook> {
    let Some(h) = hooks else {
        return Vec::new();
    };
    #[allow(deprecated)]
    let list = match kind {
        Kind::Prestart => h.prestart(),
        Kind::CreateRuntime => h.create_runtime(),
        Kind::CreateContainer => h.create_container(),
        Kind::StartContainer => h.start_container(),
        Kind::Poststart => h.poststart(),
        Kind::Poststop => h.poststop(),
    };
    list.clone().unwrap_or_default()
}

/// Run the hooks of `kind` one after the other, `state` on each one's
/// stdin, its status the one of the hook's point in the lifecycle (a
/// short-lived process may already be gone at `poststart`); the first
/// failure (exit status, timeout) stops them. `inside`: run inside the
/// namespaces of this container process, as the config describes them.
pub fn run(
    hooks: Option<&Hooks>,
    kind: Kind,
    state: &serde_json::Value,
    inside: Option<(&Spec, i32)>,
) -> Result<(), String> {
    let mut state = state.clone();
    state["status"] = match kind {
        Kind::Poststart => "running",
        Kind::Poststop => "stopped",
        _ => "created",
    }
    .into();
    let input = state.to_string();
    for (i, h) in of(hooks, kind).iter().enumerate() {
        let what = format!("hooks.{}[{i}] ({})", kind.name(), h.path().display());
        let timeout = h.timeout().map(|t| Duration::from_secs(t.max(1) as u64));
        match inside {
            None => run_here(h, &input, timeout),
            Some((spec, pid)) => run_inside(spec, h, &input, timeout, pid),
        }
        .map_err(|e| format!("{what}: {e}"))?;
    }
    Ok(())
}

fn run_here(h: &Hook, input: &str, timeout: Option<Duration>) -> Result<(), String> {
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
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is not an error.
        let _ = stdin.write_all(input.as_bytes());
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            return if st.success() {
                Ok(())
            } else {
                Err(format!("failed: {st}"))
            };
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {:?}", timeout.unwrap_or_default()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn run_inside(
    spec: &Spec,
    h: &Hook,
    input: &str,
    timeout: Option<Duration>,
    pid: i32,
) -> Result<(), String> {
    let mut process = oci_spec::runtime::Process::default();
    let mut args = h.args().clone().unwrap_or_default();
    if args.is_empty() {
        args.push(h.path().to_string_lossy().into_owned());
    }
    process.set_args(Some(args));
    process.set_env(h.env().clone());
    // Hooks run with the runtime's privileges.
    process.set_capabilities(None);
    let (mut sb, _, _) = crate::spec::exec_sandbox(spec, &process, pid)?;
    sb = sb.keep_all_caps().no_new_privs(false);
    let cmd = rsandbox::Command::from_argv(
        std::iter::once(h.path().to_string_lossy().into_owned())
            .chain(h.args().iter().flatten().skip(1).cloned()),
    );
    if let Some(t) = timeout {
        sb = sb.timeout(t);
    }
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fresh fds we own.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut w = std::fs::File::from(w);
    // The state fits the pipe's buffer (64 KiB) unless annotations are huge.
    let _ = w.write_all(input.as_bytes());
    drop(w);
    sb = sb
        .stdin(rsandbox::Stdio::Fd(r.as_raw_fd()))
        .stdout(rsandbox::Stdio::Null);
    let out = sb.status(&cmd).map_err(|e| e.to_string())?;
    drop(r);
    if out.success() {
        Ok(())
    } else {
        Err(format!("failed: {out:?}"))
    }
}
