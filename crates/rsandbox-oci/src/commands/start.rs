//! `start`: release a created container.

use std::io::Write;
use std::path::Path;

use super::{run_warning_hooks, state_json, status};
use crate::error::OciError;
use crate::log::Logger;
use crate::state::{self, Locked};
use crate::{hooks, sealed_exe, spec, target, timing, Res};

/// Release a created container: one byte into its exec FIFO, then remove
/// the FIFO, which is what marks the container as started (the saved state
/// is not rewritten; see `state::read_state`).
pub(crate) fn start(root: &Path, id: &str, log: &Logger) -> Res<()> {
    let l = Locked::open(root, id)?;
    let mut s = l.load()?;
    let st = status(&s);
    timing::mark("lock + load + status");
    if st != "created" {
        return Err(OciError::WrongState {
            verb: "start",
            id: id.to_string(),
            status: st,
            hint: "",
        });
    }
    // startContainer hooks join the container's namespaces, described by
    // the config; without any, config.json is not read at all.
    if hooks::any(s.hooks.as_ref(), hooks::Kind::StartContainer) {
        // They put a process of the runtime into the container: from a
        // sealed copy. Nothing is changed yet, so the command may start
        // over in it (the lock's fd is close-on-exec).
        sealed_exe::ensure(root)?;
        let (spec, _) = spec::load(&s.bundle)?;
        let target = target::Target::open(&s)?;
        hooks::run(
            s.hooks.as_ref(),
            hooks::Kind::StartContainer,
            &state_json(&s),
            Some((&spec, &target)),
        )?;
    }
    let fifo = state::exec_fifo(&l.dir);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags_nonblock()
        .open(&fifo)
        .map_err(|e| OciError::io("open exec fifo", &fifo, e))?;
    (&f).write_all(&[1])
        .map_err(|e| OciError::io("release the container through", &fifo, e))?;
    drop(f);
    std::fs::remove_file(&fifo).map_err(|e| OciError::io("remove the exec fifo", &fifo, e))?;
    timing::mark("release through the fifo");
    // Running from here on; in memory only, for the poststart hook's state.
    s.status = "running".into();
    // A failing poststart hook is a warning (runtime-spec).
    run_warning_hooks(&s, hooks::Kind::Poststart, log);
    Ok(())
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}
impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
    }
}
