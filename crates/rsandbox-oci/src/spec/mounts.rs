//! `mounts`: binds, proc, tmpfs (the minimal `/dev` on `/dev`), sysfs,
//! mqueue and the cgroup trees, in the order given.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};
use rsandbox::fs::MountStep;
use rsandbox::Sandbox;

use super::{Ctx, OciError, Res};

/// Where sysfs went, for the cgroup mounts under it.
#[derive(Default)]
struct Sys {
    /// The host's `/sys` bound read-only here.
    bound: Option<PathBuf>,
    /// A fresh sysfs mounted here.
    fresh: Option<PathBuf>,
}

/// Every mount, when the container has a mount namespace; then the warning
/// for a container without a tmpfs on `/dev`.
pub(super) fn apply(mut sb: Sandbox, spec: &Spec, cx: &mut Ctx) -> Res<Sandbox> {
    let mut sys = Sys::default();
    let fs_on = cx.fs_on;
    for m in spec.mounts().iter().flatten().filter(|_| fs_on) {
        sb = one(sb, m, cx, &mut sys)?;
    }
    if cx.fs_on && !cx.dev_done {
        cx.warnings
            .push("mounts: no tmpfs on /dev; the rootfs's /dev is used as is".into());
    }
    Ok(sb)
}

/// One mount entry.
fn one(mut sb: Sandbox, m: &Mount, cx: &mut Ctx, sys: &mut Sys) -> Res<Sandbox> {
    let dst = m.destination();
    if !dst.is_absolute() {
        return Err(OciError::spec(
            "mounts",
            format!("destination {} must be absolute", dst.display()),
        ));
    }
    let opts: Vec<&str> = m.options().iter().flatten().map(String::as_str).collect();
    let typ = m.typ().as_deref().unwrap_or("");
    let is_bind = opts.iter().any(|o| *o == "bind" || *o == "rbind") || typ == "bind";
    let ro = opts.contains(&"ro");
    if is_bind {
        return bind(sb, m, cx.bundle, ro);
    }
    // In a user namespace the kernel mounts mqueue only for an IPC
    // namespace, and sysfs only for a network namespace, of the box.
    let user = cx.new_ns.contains(&LinuxNamespaceType::User);
    let no_own_ipc = user && !cx.has_ns(LinuxNamespaceType::Ipc);
    let no_own_net = user && !cx.has_ns(LinuxNamespaceType::Network);
    match typ {
        "proc" => sb = sb.proc(dst),
        "tmpfs" if dst == Path::new("/dev") => {
            sb = sb.dev("/dev");
            cx.dev_done = true;
        }
        "tmpfs" => sb = tmpfs(sb, m, &opts, ro)?,
        "devpts" if cx.dev_done && dst == Path::new("/dev/pts") => {}
        "mqueue" if no_own_ipc => cx.warnings.push(format!(
            "mounts: mqueue on {} not mounted (a user namespace without \
                 its own ipc namespace)",
            dst.display()
        )),
        "mqueue" => sb = sb.mqueue(dst),
        "sysfs" if no_own_net => {
            cx.warnings.push(format!(
                "mounts: sysfs on {}: the host's /sys is bound read-only (a user \
                 namespace without its own network namespace)",
                dst.display()
            ));
            sb = sb.ro_bind("/sys", dst);
            sys.bound = Some(dst.clone());
        }
        "sysfs" => {
            if !ro {
                cx.warnings.push(format!(
                    "mounts: sysfs on {} is mounted read-only",
                    dst.display()
                ));
            }
            sb = sb.sysfs(dst);
            sys.fresh = Some(dst.clone());
        }
        "cgroup" | "cgroup2" if sys.bound.as_ref().is_some_and(|s| dst.starts_with(s)) => {}
        "cgroup" | "cgroup2" if sys.fresh.as_ref().is_some_and(|s| dst.starts_with(s)) => {
            // What binding the host's /sys showed before there was a
            // sysfs step: the host's cgroup tree, read-only.
            cx.warnings.push(format!(
                "mounts: {typ} on {}: the host's /sys/fs/cgroup is bound read-only",
                dst.display()
            ));
            sb = sb.ro_bind("/sys/fs/cgroup", dst);
        }
        other => {
            return Err(OciError::unsupported(
                "mounts",
                format!(
                    "type {other:?} on {} is not supported by rsandbox-oci \
                     (supported: bind, proc, tmpfs, sysfs, devpts on /dev/pts, mqueue)",
                    dst.display()
                ),
            ))
        }
    }
    Ok(sb)
}

/// A bind mount; a relative source is under the bundle.
fn bind(sb: Sandbox, m: &Mount, bundle: &Path, ro: bool) -> Res<Sandbox> {
    let dst = m.destination();
    let src = m.source().as_ref().ok_or_else(|| {
        OciError::spec("mounts", format!("bind on {} has no source", dst.display()))
    })?;
    let src = if src.is_absolute() {
        src.clone()
    } else {
        bundle.join(src)
    };
    Ok(if ro {
        sb.ro_bind(src, dst)
    } else {
        sb.bind(src, dst)
    })
}

/// A tmpfs with its `size=` and `mode=` options (read-only with `ro`).
fn tmpfs(mut sb: Sandbox, m: &Mount, opts: &[&str], ro: bool) -> Res<Sandbox> {
    let dst = m.destination();
    let bad = |opt: String| OciError::spec("mounts", format!("{}: bad {opt}", dst.display()));
    let size = opts
        .iter()
        .find_map(|o| o.strip_prefix("size="))
        .map(|s| parse_size(s).ok_or_else(|| bad(format!("size={s}"))))
        .transpose()?
        .unwrap_or_else(default_tmpfs_size);
    let mode = opts
        .iter()
        .find_map(|o| o.strip_prefix("mode="))
        .map(|s| {
            u32::from_str_radix(s, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| bad(format!("mode={s}")))
        })
        .transpose()?;
    // runtime-tools checks the source mountinfo shows.
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty());
    sb = sb.mount_step(MountStep::Tmpfs {
        dst: dst.clone(),
        size,
        source,
        mode,
    });
    if ro {
        sb = sb.remount_ro(dst);
    }
    Ok(sb)
}

/// Parse a tmpfs `size=` option: bytes with an optional k/m/g suffix.
pub(super) fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mul) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1u64 << 10),
        'm' | 'M' => (&s[..s.len() - 1], 1 << 20),
        'g' | 'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// The kernel's default tmpfs size: half of RAM.
fn default_tmpfs_size() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(1 << 20);
    total * 1024 / 2
}
