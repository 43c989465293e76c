//! `state` and `ps`: a container's state JSON and its processes.

use std::path::Path;

use crate::error::OciError;
use crate::state::Locked;
use crate::{cgroups, Res};

/// Print the container's runtime-spec state.
pub(crate) fn state(root: &Path, id: &str) -> Res<()> {
    let l = Locked::open(root, id)?;
    let s = l.load()?;
    println!(
        "{}",
        serde_json::to_string_pretty(&super::state_json(&s))
            .map_err(|e| OciError::json("print the state", e))?
    );
    Ok(())
}

/// Print the pids in the container's cgroup, as a table or JSON.
pub(crate) fn ps(root: &Path, id: &str, format: &str) -> Res<()> {
    let l = Locked::open(root, id)?;
    let s = l.load()?;
    let pids = cgroups::pids(&s.cgroup);
    if format == "json" {
        println!(
            "{}",
            serde_json::to_string(&pids).map_err(|e| OciError::json("print the pids", e))?
        );
    } else {
        println!("PID");
        for p in pids {
            println!("{p}");
        }
    }
    Ok(())
}
