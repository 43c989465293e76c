//! `update`: change a running container's cgroup limits.

use std::path::Path;

use crate::cli::{Cli, Cmd};
use crate::error::OciError;
use crate::state::Locked;
use crate::{cgroups, Res};

/// Apply `--resources` (a JSON file or stdin), then the single-limit flags
/// over it, to a container that is not stopped.
pub(crate) fn update(cli: &Cli) -> Res<()> {
    let Cmd::Update {
        resources,
        memory,
        pids_limit,
        cpu_quota,
        cpu_period,
        cpu_shares,
        id,
    } = &cli.cmd
    else {
        unreachable!("update::update is called for `update` only")
    };
    let mut u = match resources {
        Some(p) => update_from_json(p)?,
        None => cgroups::Update::default(),
    };
    u.memory = memory.or(u.memory);
    u.pids = pids_limit.or(u.pids);
    u.cpu_quota = cpu_quota.or(u.cpu_quota);
    u.cpu_period = cpu_period.or(u.cpu_period);
    u.cpu_shares = cpu_shares.or(u.cpu_shares);
    let l = Locked::open(&cli.root, id)?;
    let s = l.load()?;
    if super::status(&s) == "stopped" {
        return Err(OciError::NotRunning(id.to_string()));
    }
    cgroups::update(&s.cgroup, &u)
}

/// Read a runtime-spec LinuxResources JSON (path or "-" for stdin).
fn update_from_json(p: &Path) -> Res<cgroups::Update> {
    let text = if p == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|source| {
            OciError::Os {
                op: "--resources -: read stdin".into(),
                source,
            }
        })?;
        s
    } else {
        std::fs::read_to_string(p).map_err(|e| OciError::io("read", p, e))?
    };
    let r: oci_spec::runtime::LinuxResources =
        serde_json::from_str(&text).map_err(|e| OciError::json("parse resources", e))?;
    let mut u = cgroups::Update::default();
    if let Some(m) = r.memory() {
        u.memory = m.limit();
    }
    if let Some(p) = r.pids() {
        u.pids = Some(p.limit());
    }
    if let Some(c) = r.cpu() {
        u.cpu_quota = c.quota();
        u.cpu_period = c.period();
        u.cpu_shares = c.shares();
    }
    Ok(u)
}
