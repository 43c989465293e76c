//! `exec`: run another process in a running container.

use super::create::with_tty;
use super::status;
use crate::cli::{Cli, Cmd};
use crate::error::OciError;
use crate::log::Logger;
use crate::state::Locked;
use crate::{cgroups, pidfile, spec, target, tty, Res};

pub(crate) fn exec(cli: &Cli, log: &Logger) -> Res<i32> {
    let Cmd::Exec {
        process,
        detach,
        pid_file,
        tty,
        console_socket,
        cwd,
        env,
        user,
        preserve_fds,
        id,
        command,
    } = &cli.cmd
    else {
        unreachable!()
    };
    let l = Locked::open(&cli.root, id)?;
    let s = l.load()?;
    let st = status(&s);
    if st != "running" {
        return Err(OciError::WrongState {
            verb: "exec in",
            id: id.to_string(),
            status: st,
            hint: "",
        });
    }
    let (spec, mut load_warnings) = spec::load(&s.bundle)?;
    let mut proc: oci_spec::runtime::Process = match process {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| OciError::io("read", p, e))?;
            let (proc, w) = spec::parse_process(&text, p)?;
            load_warnings = w;
            proc
        }
        None => {
            if command.is_empty() {
                return Err(OciError::Usage("exec: give a command or --process".into()));
            }
            let mut pr = spec.process().clone().ok_or_else(|| {
                OciError::spec("process", "missing in config.json (give --process)")
            })?;
            pr.set_args(Some(command.clone()));
            pr
        }
    };
    if let Some(c) = cwd {
        proc.set_cwd(c.clone());
    }
    if !env.is_empty() {
        let mut e = proc.env().clone().unwrap_or_default();
        e.extend(env.iter().cloned());
        proc.set_env(Some(e));
    }
    if let Some(u) = user {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u.as_str(), None),
        };
        let mut usr = proc.user().clone();
        let numeric = || OciError::Usage(format!("--user {u}: not numeric (uid[:gid])"));
        usr.set_uid(uid.parse().map_err(|_| numeric())?);
        if let Some(g) = gid {
            usr.set_gid(g.parse().map_err(|_| numeric())?);
        }
        proc.set_user(usr);
    }
    if *tty {
        proc.set_terminal(Some(true));
    }
    // The container's process pinned (pidfd) before anything about it is
    // read, and its namespaces opened through its /proc directory fd.
    let target = target::Target::open(&s)?;
    let (mut sb, cmd, warnings) = spec::exec_sandbox(&spec, &proc, &target.proc_path())?;
    // Into the container's cgroups first, as runc does: the exec'd process
    // inherits them, so the container's limits bind it and `kill --all`,
    // `ps`, `pause` and `delete` find it. Left where the runtime runs
    // (conmon's cgroup, under podman) it escaped `--memory`.
    let cgroup = target.read("cgroup")?;
    cgroups::join_cgroups(&cgroup, 0)?;
    let pty = if proc.terminal().unwrap_or(false) {
        let sock = console_socket
            .as_ref()
            .ok_or_else(|| OciError::Usage("exec: a terminal needs --console-socket".into()))?;
        let size = proc
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        let (master, slave) = tty::open_pty_in(&target.proc_path(), size)?;
        tty::send_fd(sock, &master)?;
        sb = with_tty(sb, &slave);
        Some(slave)
    } else {
        None
    };
    for w in load_warnings.iter().chain(&warnings) {
        log.log("warning", w);
    }
    for i in 0..(*preserve_fds).max(0) {
        sb = sb.pass_fd(3 + i, 3 + i);
    }
    // Everything read about the container above was its own: its process
    // was alive all along (the core opens the namespaces through the
    // pinned directory, where a dead process's entries are gone).
    target.confirm()?;
    let mut child = sb.spawn(&cmd).map_err(|source| OciError::Spawn {
        context: "exec",
        source,
    })?;
    drop((pty, target));
    if let Some(p) = pid_file {
        pidfile::write(p, child.pid())?;
    }
    drop(l);
    if *detach {
        std::mem::forget(child);
        return Ok(0);
    }
    let out = child.wait().map_err(|source| OciError::Spawn {
        context: "exec: wait",
        source,
    })?;
    Ok(out.code())
}
