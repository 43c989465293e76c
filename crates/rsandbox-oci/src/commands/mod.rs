//! One module per verb; `dispatch` runs the parsed one. The helpers here
//! (a container's status, its state JSON, warning-only hooks) serve several.

mod create;
mod delete;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod start;
mod state;
mod update;

use std::path::Path;

use crate::cli::{Cli, Cmd};
use crate::error::OciError;
use crate::log::Logger;
use crate::state::Saved;
use crate::{cgroups, hooks, sealed_exe, timing, Res, OCI_VERSION};

/// Run the parsed verb. `exec` exits with its process's code.
pub fn dispatch(cli: &Cli, log: &Logger) -> Res<()> {
    if cli.systemd_cgroup && !Path::new("/run/systemd/system").exists() {
        return Err(OciError::Usage(
            "--systemd-cgroup: systemd is not running on this machine; drop the flag \
             (cgroupfs paths are used)"
                .into(),
        ));
    }
    // The commands that put a process of the runtime where a container's
    // process could reach it run from a sealed view of the runtime (see
    // sealed_exe): `exec` always; `create` and `start` decide from the
    // container's config (`create::needs_sealed_view`, startContainer
    // hooks).
    if matches!(cli.cmd, Cmd::Create { .. } | Cmd::Exec { .. }) {
        crate::state::make_root(&cli.root)?;
    }
    if matches!(cli.cmd, Cmd::Exec { .. }) {
        sealed_exe::ensure(&cli.root)?;
        timing::mark("sealed copy of the runtime");
    }
    let root = &cli.root;
    match &cli.cmd {
        Cmd::Create {
            bundle,
            pid_file,
            console_socket,
            preserve_fds,
            id,
            ..
        } => create::create(
            cli,
            log,
            bundle,
            pid_file.as_deref(),
            console_socket.as_deref(),
            *preserve_fds,
            id,
        ),
        Cmd::Start { id } => start::start(root, id, log),
        Cmd::State { id } => state::state(root, id),
        Cmd::Kill { all, id, signal } => kill::kill(root, id, signal, *all),
        Cmd::Delete { force, id } => delete::delete(root, id, *force, log),
        Cmd::List { format, quiet } => list::list(root, format, *quiet),
        Cmd::Ps { format, id } => state::ps(root, id, format),
        Cmd::Pause { id } => pause::pause(root, id, true),
        Cmd::Resume { id } => pause::pause(root, id, false),
        Cmd::Exec { .. } => {
            let code = exec::exec(cli, log)?;
            std::process::exit(code)
        }
        Cmd::Update { .. } => update::update(cli),
        Cmd::Features => features::print(),
    }
}

/// The container's status now.
pub(crate) fn status(s: &Saved) -> &'static str {
    if !crate::state::alive(s) {
        "stopped"
    } else if s.status == "created" {
        "created"
    } else if cgroups::frozen(&s.cgroup) {
        "paused"
    } else {
        "running"
    }
}

/// Run the container's `kind` hooks, whose failure is only a warning
/// (poststart and poststop, per runtime-spec): logged and printed.
pub(crate) fn run_warning_hooks(s: &Saved, kind: hooks::Kind, log: &Logger) {
    // Without any, no state to describe (it reads /proc and the cgroup).
    if !hooks::any(s.hooks.as_ref(), kind) {
        return;
    }
    if let Err(e) = hooks::run(s.hooks.as_ref(), kind, &state_json(s), None) {
        log.log("warning", &e.to_string());
        eprintln!("rsandbox-oci: warning: {e}");
    }
}

pub(crate) fn state_json(s: &Saved) -> serde_json::Value {
    let st = status(s);
    let mut v = serde_json::json!({
        "ociVersion": OCI_VERSION,
        "id": s.id,
        "status": st,
        "bundle": s.bundle,
        "rootfs": s.rootfs,
        "created": s.created,
        "owner": "",
    });
    if st != "stopped" {
        v["pid"] = s.pid.into();
    } else {
        v["pid"] = 0.into();
    }
    if !s.annotations.is_empty() {
        v["annotations"] = serde_json::to_value(&s.annotations).unwrap_or_default();
    }
    v
}
