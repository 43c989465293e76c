//! `create`: set a container up from its bundle, stopped before the user's process.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::state_json;
use crate::cli::Cli;
use crate::error::OciError;
use crate::log::Logger;
use crate::state::{self, Locked, Saved};
use crate::{
    cgroup_path, cgroups, devices, hooks, pidfile, sealed_exe, spec, target, timing, tty, Res,
};

pub(crate) fn create(
    cli: &Cli,
    log: &Logger,
    bundle: &Path,
    pid_file: Option<&Path>,
    console_socket: Option<&Path>,
    preserve_fds: i32,
    id: &str,
) -> Res<()> {
    let bundle = std::fs::canonicalize(bundle).map_err(|e| OciError::io("bundle", bundle, e))?;
    let (spec, load_warnings) = spec::load(&bundle)?;
    timing::mark("load config.json");
    if needs_sealed_view(&spec) {
        // Nothing is changed yet: the command may start over in the view.
        sealed_exe::ensure(&cli.root).inspect(|_| timing::mark("sealed view of the runtime"))?;
    }
    let mapped = spec::map(&spec, &bundle)?;
    timing::mark("map the spec");
    for w in load_warnings.iter().chain(&mapped.warnings) {
        log.log("warning", w);
    }
    let locked = Locked::create(&cli.root, id)?;
    timing::mark("state dir + lock");
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let size = spec
        .process()
        .as_ref()
        .and_then(|p| p.console_size())
        .map(|b| (b.height() as u16, b.width() as u16));
    let tty = match (terminal, console_socket) {
        (true, Some(sock)) => Some((sock.to_path_buf(), size)),
        (true, None) => {
            let _ = std::fs::remove_dir_all(&locked.dir);
            return Err(OciError::Usage(
                "process.terminal is true: --console-socket is required".into(),
            ));
        }
        (false, Some(_)) => {
            let _ = std::fs::remove_dir_all(&locked.dir);
            return Err(OciError::Usage(
                "--console-socket given but process.terminal is false".into(),
            ));
        }
        (false, None) => None,
    };
    let opts = CreateOpts {
        pid_file,
        preserve_fds,
        tty,
    };
    let result = create_locked(cli, &locked, &bundle, id, &spec, mapped, opts);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&locked.dir);
    }
    result
}

/// Whether `create` must run from a sealed view of the runtime's binary
/// (CVE-2019-5736's class; see `sealed_exe`). Its forks that enter the
/// container (the core's child until it execs the box's init, the
/// createContainer hooks' processes until they exec) show the runtime's
/// file as `/proc/PID/exe` to whatever shares their PID namespace. In a
/// PID namespace of the container's own, nothing does while `create`
/// runs: the core's child is its first process, and the container's
/// process, forked by the box's init (a sealed memfd), waits for `start`
/// before it runs anything of the image. So the view is needed when the
/// PID namespace is the host's or a joined one, and when createContainer
/// hooks run in the container's namespaces (an `exec` may already run
/// the image's code there: the state is saved before them).
pub(crate) fn needs_sealed_view(spec: &oci_spec::runtime::Spec) -> bool {
    use oci_spec::runtime::LinuxNamespaceType;
    let own_pid_ns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|nss| {
            nss.iter()
                .any(|n| n.typ() == LinuxNamespaceType::Pid && n.path().is_none())
        });
    let hooks = spec.hooks().as_ref();
    !own_pid_ns || hooks::any(hooks, hooks::Kind::CreateContainer)
}

/// `create`'s options beyond the bundle.
struct CreateOpts<'a> {
    pid_file: Option<&'a Path>,
    preserve_fds: i32,
    /// Console socket and terminal size, with `process.terminal`.
    tty: Option<(PathBuf, Option<(u16, u16)>)>,
}

/// The container's cgroups made, its process spawned and registered; on
/// an error the cgroups are removed again.
fn create_locked(
    cli: &Cli,
    locked: &Locked,
    bundle: &Path,
    id: &str,
    spec: &oci_spec::runtime::Spec,
    mapped: spec::Mapped,
    opts: CreateOpts,
) -> Res<()> {
    let rel =
        cgroup_path::container_cgroup(mapped.cgroups_path.as_deref(), id, cli.systemd_cgroup)?;
    cgroups::check_unused(&rel)?;
    let created = cgroups::create(&rel)?;
    if let Err(e) = devices::write_own(&rel, &mapped.device_rules) {
        cgroups::remove(&created);
        return Err(e);
    }
    timing::mark("container cgroups");
    let rootfs = mapped
        .sandbox
        .fs_config()
        .rootfs
        .clone()
        .unwrap_or_default();
    let gate = match exec_gate(locked) {
        Ok(g) => g,
        Err(e) => {
            cgroups::remove(&created);
            return Err(e);
        }
    };
    let mut sb = mapped
        .sandbox
        .cgroup_parent(&rel)
        .start_gate(gate.as_raw_fd());
    for i in 0..opts.preserve_fds.max(0) {
        sb = sb.pass_fd(3 + i, 3 + i);
    }
    timing::mark("exec fifo");
    let child = match spawn(
        sb,
        &mapped.command,
        mapped.own_dev,
        opts.tty.as_ref(),
        locked,
        spec,
    ) {
        Ok(c) => c,
        Err(e) => {
            let _ = cgroups::destroy(&rel, &created);
            return Err(e);
        }
    };
    timing::mark("spawn (core)");
    if let Some(t) = child.spawn_timing().filter(|_| timing::on()) {
        eprintln!("core spawn stages:\n{t}");
    }
    drop(gate);
    if let Some(r) = &mapped.resources {
        cgroups::write_all(&rel, r);
    }
    let pid = container_pid(child.pid(), mapped.joins_pid);
    // The container outlives this command: leave the handle (pidfd, the
    // core's cgroup bookkeeping) to the process exit, without its drop.
    std::mem::forget(child);
    let saved = Saved {
        id: id.to_string(),
        bundle: bundle.to_path_buf(),
        pid,
        pid_start: 0,
        status: "created".into(),
        created: state::now_rfc3339(),
        annotations: mapped.annotations.clone(),
        cgroup: rel.clone(),
        cgroup_created: created.clone(),
        rootfs,
        hooks: spec.hooks().clone(),
    };
    register(locked, saved, &mapped.sysctls, spec, opts.pid_file).inspect_err(|_| {
        let _ = cgroups::destroy(&rel, &created);
    })
}

/// The exec FIFO: the container's process reads one byte from it before
/// exec; `start` writes that byte. Returns the runtime's read-write end.
fn exec_gate(locked: &Locked) -> Res<OwnedFd> {
    let fifo = state::exec_fifo(&locked.dir);
    let cpath = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes())
        .map_err(|_| OciError::Usage("--root: the path contains a NUL byte".into()))?;
    let last = |op| OciError::io(op, &fifo, std::io::Error::last_os_error());
    // SAFETY: mkfifo/open on a valid C string; the fd is new and ours.
    unsafe {
        if libc::mkfifo(cpath.as_ptr(), 0o600) != 0 {
            return Err(last("mkfifo"));
        }
        let fd = libc::open(cpath.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(last("open exec fifo"));
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Spawn the container's process through the core, on the terminal
/// `process.terminal` asks for (sent to the console socket).
fn spawn(
    sb: rsandbox::Sandbox,
    command: &rsandbox::Command,
    own_dev: bool,
    tty: Option<&(PathBuf, Option<(u16, u16)>)>,
    locked: &Locked,
    spec: &oci_spec::runtime::Spec,
) -> crate::error::Res<rsandbox::Child> {
    let spawn = |sb: rsandbox::Sandbox| {
        sb.spawn(command).map_err(|source| OciError::Spawn {
            context: "create",
            source,
        })
    };
    let Some((sock, size)) = tty else {
        return spawn(sb);
    };
    // The terminal from a devpts instance of the container's own.
    tty::with_own_devpts(
        &locked.dir,
        spec::devpts_gid(spec),
        *size,
        |pts, master, slave| {
            tty::send_fd(sock, &master)?;
            let sb = if own_dev {
                sb.clone().bind(pts, "/dev/pts")
            } else {
                sb.clone()
            };
            spawn(with_tty(sb, &slave))
        },
    )
    .unwrap_or_else(|| {
        // A runtime that may not mount: the host's devpts.
        let (master, slave) = tty::open_host_pty(*size)?;
        tty::send_fd(sock, &master)?;
        spawn(with_tty(sb.clone(), &slave))
    })
}

/// The container's first process: the spawned one, or with a joined PID
/// namespace the waiter's only child.
fn container_pid(pid: i32, joins_pid: bool) -> i32 {
    if !joins_pid {
        return pid;
    }
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()))
        .unwrap_or(pid)
}

/// After the spawn: the sysctls, the saved state, the createRuntime,
/// prestart and createContainer hooks, the pid file.
fn register(
    locked: &Locked,
    mut saved: Saved,
    sysctls: &[(&'static str, String, String)],
    spec: &oci_spec::runtime::Spec,
    pid_file: Option<&Path>,
) -> Res<()> {
    let pid = saved.pid;
    for (ns, key, value) in sysctls {
        apply_sysctl(pid, ns, key, value)?;
    }
    saved.pid_start = state::proc_stat(pid).map(|(_, t)| t).ok_or_else(|| {
        OciError::os_other("create", "the container's process died during create")
    })?;
    timing::mark("sysctls + pid check");
    locked.save(&saved)?;
    timing::mark("save state");
    let hk = spec.hooks().as_ref();
    use hooks::Kind::{CreateContainer, CreateRuntime, Prestart};
    // The state the hooks read, only if there are any (it reads /proc).
    if [CreateRuntime, Prestart, CreateContainer]
        .into_iter()
        .any(|k| hooks::any(hk, k))
    {
        let st = state_json(&saved);
        for kind in [CreateRuntime, Prestart] {
            hooks::run(hk, kind, &st, None)?;
        }
        if hooks::any(hk, CreateContainer) {
            let target = target::Target::open(&saved)?;
            hooks::run(hk, CreateContainer, &st, Some((spec, &target)))?;
        }
    }
    if let Some(p) = pid_file {
        pidfile::write(p, pid)?;
    }
    timing::mark("pid file");
    Ok(())
}

/// The pty slave as stdio and controlling terminal.
pub(crate) fn with_tty(sb: rsandbox::Sandbox, slave: &OwnedFd) -> rsandbox::Sandbox {
    use rsandbox::Stdio;
    let fd = slave.as_raw_fd();
    sb.stdin(Stdio::Fd(fd))
        .stdout(Stdio::Fd(fd))
        .stderr(Stdio::Fd(fd))
        .controlling_tty(true)
}

/// Set a namespaced sysctl from a thread that joined the container's
/// namespace (the /proc/sys/{net,kernel} files act on the opener's).
fn apply_sysctl(pid: i32, ns: &str, key: &str, value: &str) -> Res<()> {
    let nsfile = format!("/proc/{pid}/ns/{ns}");
    let key = key.to_string();
    let value = value.to_string();
    std::thread::spawn(move || -> Res<()> {
        let f = std::fs::File::open(&nsfile).map_err(|e| OciError::io("open", &nsfile, e))?;
        // SAFETY: setns on a namespace fd we own; it changes only this
        // thread, which ends right after.
        if unsafe { libc::setns(f.as_raw_fd(), 0) } != 0 {
            return Err(OciError::io(
                "setns",
                &nsfile,
                std::io::Error::last_os_error(),
            ));
        }
        if key == "kernel.domainname" {
            // SAFETY: setdomainname with a pointer and length of a live string.
            if unsafe { libc::setdomainname(value.as_ptr().cast(), value.len()) } != 0 {
                return Err(OciError::last_os("domainname: setdomainname"));
            }
            return Ok(());
        }
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        std::fs::write(&path, &value)
            .map_err(|e| OciError::io(format!("linux.sysctl {key}: write"), &path, e))
    })
    .join()
    .map_err(|_| OciError::os_other("linux.sysctl", "the sysctl thread panicked"))?
}

#[cfg(test)]
mod tests {
    use super::needs_sealed_view;

    fn spec(linux: serde_json::Value, hooks: serde_json::Value) -> oci_spec::runtime::Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "linux": linux,
            "hooks": hooks,
        }))
        .unwrap()
    }

    #[test]
    fn the_sealed_view_is_needed_where_the_pid_namespace_is_not_the_containers_own() {
        let none = serde_json::json!({});
        let ns = |v: serde_json::Value| serde_json::json!({ "namespaces": v });
        let own = ns(serde_json::json!([{"type": "pid"}, {"type": "mount"}]));
        assert!(!needs_sealed_view(&spec(own.clone(), none.clone())));
        let joined = ns(serde_json::json!([{"type": "pid", "path": "/proc/1/ns/pid"}]));
        assert!(needs_sealed_view(&spec(joined, none.clone())));
        let host = ns(serde_json::json!([{"type": "mount"}]));
        assert!(needs_sealed_view(&spec(host, none.clone())));
        assert!(needs_sealed_view(&spec(serde_json::json!({}), none)));
        let cc = serde_json::json!({"createContainer": [{"path": "/bin/true"}]});
        assert!(needs_sealed_view(&spec(own.clone(), cc)));
        let host_side = serde_json::json!({"createRuntime": [{"path": "/bin/true"}],
            "prestart": [{"path": "/bin/true"}], "poststop": [{"path": "/bin/true"}]});
        assert!(!needs_sealed_view(&spec(own, host_side)));
    }
}
