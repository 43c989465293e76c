//! `update`: change a running container's cgroup limits.

use std::path::Path;

use rsandbox::cgroup::resources::Bound;
use rsandbox::cgroup::Resources;
use rsandbox::config::limits::CPU_PERIOD_US;

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
    let mut r = match resources {
        Some(p) => update_from_json(p)?,
        None => Resources::default(),
    };
    r.memory = memory.map(Bound::from_i64).or(r.memory);
    r.pids = pids_limit.map(Bound::from_i64).or(r.pids);
    r.cpu_quota = cpu_quota.map(Bound::from_i64).or(r.cpu_quota);
    r.cpu_period = cpu_period.or(r.cpu_period);
    r.cpu_shares = cpu_shares.or(r.cpu_shares);
    // The period goes with a quota (the default one when not given); a
    // period alone changes nothing, as `update` has always done.
    r.cpu_period = r.cpu_quota.map(|_| r.cpu_period.unwrap_or(CPU_PERIOD_US));
    let l = Locked::open(&cli.root, id)?;
    let s = l.load()?;
    if super::status(&s) == "stopped" {
        return Err(OciError::NotRunning(id.to_string()));
    }
    cgroups::update(&s.cgroup, &r)
}

/// Read a runtime-spec LinuxResources JSON (path or "-" for stdin): the
/// memory limit, pids limit and cpu quota, period and shares in it.
fn update_from_json(p: &Path) -> Res<Resources> {
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
    let mut u = Resources::default();
    if let Some(m) = r.memory() {
        u.memory = m.limit().map(Bound::from_i64);
    }
    if let Some(p) = r.pids() {
        u.pids = Some(Bound::from_i64(p.limit()));
    }
    if let Some(c) = r.cpu() {
        u.cpu_quota = c.quota().map(Bound::from_i64);
        u.cpu_period = c.period();
        u.cpu_shares = c.shares();
    }
    Ok(u)
}
