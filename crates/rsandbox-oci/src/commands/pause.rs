//! `pause` and `resume`: freeze and thaw a container's cgroup.

use std::path::Path;

use super::status;
use crate::error::OciError;
use crate::state::Locked;
use crate::{cgroups, Res};

pub(crate) fn pause(root: &Path, id: &str, on: bool) -> Res<()> {
    let l = Locked::open(root, id)?;
    let s = l.load()?;
    let st = status(&s);
    match (on, st) {
        (true, "running") | (false, "paused") => cgroups::freeze(&s.cgroup, on),
        _ => Err(OciError::WrongState {
            verb: if on { "pause" } else { "resume" },
            id: id.to_string(),
            status: st,
            hint: "",
        }),
    }
}
