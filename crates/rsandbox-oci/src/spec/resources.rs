//! `linux.resources`: the cgroup limits, given to the core's builder (and
//! written again by the runtime to the container's own directories, see
//! [`cgroup_values`] and `cgroups::write_all`).

use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxResources, Spec};
use rsandbox::cgroup::resources::Bound;
use rsandbox::cgroup::Resources;
use rsandbox::Sandbox;

use super::{Ctx, OciError, Res};

/// Every resource section, in the order runc applies them.
pub(super) fn apply(mut sb: Sandbox, spec: &Spec, cx: &mut Ctx) -> Res<Sandbox> {
    let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) else {
        return Ok(sb);
    };
    if let Some(m) = r.memory() {
        sb = memory(sb, m, &mut cx.warnings);
    }
    if let Some(p) = r.pids() {
        if p.limit() > 0 {
            sb = sb.pids_limit(p.limit() as u64);
        }
    }
    if let Some(c) = r.cpu() {
        sb = cpu(sb, c);
    }
    if r.hugepage_limits().as_ref().is_some_and(|v| !v.is_empty()) {
        return Err(OciError::unsupported(
            "linux.resources.hugepageLimits",
            "not supported; remove it",
        ));
    }
    if let Some(b) = r.block_io() {
        sb = map_block_io(sb, b)?;
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            sb = sb.net_classid(id);
        }
        for p in n.priorities().iter().flatten() {
            sb = sb.net_priority(p.name().clone(), p.priority());
        }
    }
    devices(sb, r, cx)
}

/// The values `create` writes into every directory of the container's
/// cgroup: the config's own, knobs the builder lacks included (memory
/// reservation, swap, swappiness, OOM killer, realtime). Negative is
/// unlimited, as the spec says; a pids limit of 0 is unlimited too.
pub(super) fn cgroup_values(r: &LinuxResources) -> Resources {
    let mut out = Resources::default();
    if let Some(m) = r.memory() {
        out.memory = m.limit().map(Bound::from_i64);
        out.memory_low = m.reservation().map(Bound::from_i64);
        out.swap = m.swap().map(Bound::from_i64);
        out.swappiness = m.swappiness();
        out.disable_oom_killer = m.disable_oom_killer() == Some(true);
    }
    if let Some(p) = r.pids() {
        out.pids = Some(match p.limit() {
            l if l <= 0 => Bound::Max,
            l => Bound::from_i64(l),
        });
    }
    if let Some(c) = r.cpu() {
        out.cpu_rt_period = c.realtime_period();
        out.cpu_rt_runtime = c.realtime_runtime().map(Bound::from_i64);
        out.cpuset_cpus = c.cpus().clone().filter(|s| !s.is_empty());
        out.cpuset_mems = c.mems().clone().filter(|s| !s.is_empty());
        out.cpu_shares = c.shares();
        out.cpu_period = c.period();
        out.cpu_quota = c.quota().map(Bound::from_i64);
    }
    out
}

/// `memory.limit`; the kernel-memory limits are gone from Linux: a warning.
fn memory(mut sb: Sandbox, m: &LinuxMemory, warnings: &mut Vec<String>) -> Sandbox {
    if let Some(limit) = m.limit() {
        if limit > 0 {
            sb = sb.memory_limit(limit as u64);
        }
    }
    if m.kernel().is_some() || m.kernel_tcp().is_some() {
        warnings.push(
            "linux.resources.memory.kernel*: kernel memory limits do not \
             exist on cgroup v2 / Linux 6.x; ignored"
                .into(),
        );
    }
    sb
}

/// The CPU quota, shares (as a v2 weight) and cpuset.
fn cpu(mut sb: Sandbox, c: &LinuxCpu) -> Sandbox {
    if let (Some(q), Some(per)) = (c.quota(), c.period()) {
        if q > 0 && per > 0 {
            sb = sb.cpu_limit(q as f64 / per as f64);
        }
    }
    if let Some(shares) = c.shares().filter(|s| *s > 0) {
        sb = sb.cpu_weight(rsandbox::cgroup::resources::shares_to_weight(shares));
    }
    if let Some(s) = c.cpus().as_ref().filter(|s| !s.is_empty()) {
        sb = sb.cpuset_cpus(s.clone());
    }
    if let Some(s) = c.mems().as_ref().filter(|s| !s.is_empty()) {
        sb = sb.cpuset_mems(s.clone());
    }
    sb
}

/// `devices`: the device cgroup rules, given to the core when they can be
/// enforced here, else a warning.
fn devices(mut sb: Sandbox, r: &LinuxResources, cx: &mut Ctx) -> Res<Sandbox> {
    let Some(d) = r.devices().as_ref().filter(|v| !v.is_empty()) else {
        return Ok(sb);
    };
    let rules = crate::devices::rules(d)?;
    match crate::devices::unenforceable() {
        None => {
            sb = sb
                .device_rules(rules.clone())
                .device_rules_via_ebpf(crate::devices::force_ebpf());
            cx.device_rules = rules;
        }
        Some(why) => cx.warnings.push(format!(
            "linux.resources.devices: not enforced: {why}; the minimal /dev \
             holds only the default devices, but a process with CAP_MKNOD \
             can make and open others"
        )),
    }
    Ok(sb)
}

/// `linux.resources.blockIO` onto the core's blkio knobs. Leaf weights
/// were CFQ's, which Linux 5.0 removed: refused.
fn map_block_io(mut sb: Sandbox, b: &oci_spec::runtime::LinuxBlockIo) -> Res<Sandbox> {
    use rsandbox::cgroup::extra::IoThrottle as T;
    let dev = |major: i64, minor: i64| -> Res<(u32, u32)> {
        match (u32::try_from(major), u32::try_from(minor)) {
            (Ok(a), Ok(b)) => Ok((a, b)),
            _ => Err(OciError::spec(
                "linux.resources.blockIO",
                format!("bad device {major}:{minor}"),
            )),
        }
    };
    let leaf = b.leaf_weight().is_some()
        || b.weight_device()
            .iter()
            .flatten()
            .any(|d| d.leaf_weight().is_some());
    if leaf {
        return Err(OciError::unsupported(
            "linux.resources.blockIO",
            "leafWeight is not supported (it was the CFQ scheduler's, removed in Linux \
             5.0); remove it",
        ));
    }
    if let Some(w) = b.weight() {
        sb = sb.blkio_weight(w);
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            let (ma, mi) = dev(d.major(), d.minor())?;
            sb = sb.blkio_weight_device(ma, mi, w);
        }
    }
    for (which, list) in [
        (T::ReadBps, b.throttle_read_bps_device()),
        (T::WriteBps, b.throttle_write_bps_device()),
        (T::ReadIops, b.throttle_read_iops_device()),
        (T::WriteIops, b.throttle_write_iops_device()),
    ] {
        for d in list.iter().flatten() {
            let (ma, mi) = dev(d.major(), d.minor())?;
            sb = sb.blkio_throttle(which, ma, mi, d.rate());
        }
    }
    Ok(sb)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(json: serde_json::Value) -> Resources {
        cgroup_values(&serde_json::from_value(json).unwrap())
    }

    /// Every knob `create` writes, with the spec's "negative: unlimited".
    #[test]
    fn the_config_values_map_one_to_one() {
        let r = values(serde_json::json!({
            "memory": {"limit": 1024, "reservation": -1, "swap": 4096,
                       "swappiness": 10, "disableOOMKiller": true},
            "pids": {"limit": 32},
            "cpu": {"shares": 512, "quota": -1, "period": 20000,
                    "realtimePeriod": 1000000, "realtimeRuntime": 950000,
                    "cpus": "0-1", "mems": ""}
        }));
        let want = Resources {
            memory: Some(Bound::Value(1024)),
            memory_low: Some(Bound::Max),
            swap: Some(Bound::Value(4096)),
            swappiness: Some(10),
            disable_oom_killer: true,
            pids: Some(Bound::Value(32)),
            cpu_shares: Some(512),
            cpu_period: Some(20000),
            cpu_quota: Some(Bound::Max),
            cpu_rt_period: Some(1_000_000),
            cpu_rt_runtime: Some(Bound::Value(950_000)),
            cpuset_cpus: Some("0-1".into()),
            cpuset_mems: None,
        };
        assert_eq!(r, want);
    }

    /// A pids limit of 0 (or below) is "no limit" in a config.
    #[test]
    fn zero_pids_is_unlimited() {
        let r = values(serde_json::json!({"pids": {"limit": 0}}));
        assert_eq!(r.pids, Some(Bound::Max));
        assert_eq!(values(serde_json::json!({})), Resources::default());
    }
}
