//! `delete`: remove a stopped (or, with --force, any) container.

use std::path::Path;

use super::{run_warning_hooks, status};
use crate::error::OciError;
use crate::log::Logger;
use crate::state::{self, Locked};
use crate::{cgroups, hooks, timing, Res};

pub(crate) fn delete(root: &Path, id: &str, force: bool, log: &Logger) -> Res<()> {
    let l = match Locked::open(root, id) {
        Ok(l) => l,
        // runc: `delete --force` of an unknown container succeeds.
        Err(_) if force && state::check_id(id).is_ok() => {
            let _ = std::fs::remove_dir_all(root.join(id));
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let s = l.load()?;
    let st = status(&s);
    timing::mark("lock + load + status");
    if st != "stopped" && !(force || st == "created") {
        return Err(OciError::WrongState {
            verb: "delete",
            id: id.to_string(),
            status: st,
            hint: " (use --force)",
        });
    }
    if cgroups::frozen(&s.cgroup) {
        let _ = cgroups::freeze(&s.cgroup, false);
    }
    cgroups::destroy(&s.cgroup, &s.cgroup_created)?;
    timing::mark("kill + remove cgroups");
    std::fs::remove_dir_all(&l.dir).map_err(|e| OciError::io("remove", &l.dir, e))?;
    timing::mark("remove state dir");
    // A failing poststop hook is a warning (runtime-spec).
    run_warning_hooks(&s, hooks::Kind::Poststop, log);
    Ok(())
}
