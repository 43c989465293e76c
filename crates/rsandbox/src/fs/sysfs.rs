//! The box's `/sys` in the default view: never the host's.
//!
//! A sysfs shows the network devices of the network namespace of the
//! process that mounts it, so a box with a network namespace of its own gets
//! a fresh read-only sysfs: `/sys/class/net` lists its interfaces, not the
//! host's. The kernel lets a user namespace mount one when it owns that
//! network namespace (created together, as here) and a fully visible sysfs
//! exists in the mount namespace (the host's, or the template shell's).
//! Docker's masked `/sys` paths (moby `oci/defaults.go`) are hidden on top.
//! `/sys/fs/cgroup` never shows the host's cgroup tree: a box with a cgroup
//! and a cgroup namespace of its own sees its cgroup there (a read-only
//! cgroup2 rooted at it, `MountPlan::show_own_cgroup`), any other an empty
//! directory. A box sharing the host's network namespace gets an empty
//! read-only `/sys` instead (a sysfs would show the host's devices).

use std::path::Path;

use super::MountStep;
use crate::ns::Namespace;
use crate::report::{Enforcement, LayerReport};
use crate::Sandbox;

/// Docker's masked `/sys` paths, relative to the sysfs (moby
/// `oci/defaults.go` `maskedPaths`).
pub(crate) const SYS_MASKED: &[&str] = &["firmware", "devices/virtual/powercap"];

/// Whether the box gets a fresh sysfs (else an empty `/sys`): only a
/// network namespace of its own shows the box's devices.
/// And a sysfs on the host's `/sys`: a user namespace may mount one only
/// where a fully visible one exists (where the host's is masked, as in some
/// containers, the child falls back to an empty `/sys`: see `apply.rs`).
pub(crate) fn fresh(sb: &Sandbox) -> bool {
    sb.has_ns(Namespace::Net) && host_has_sysfs()
}

/// Whether the host's `/sys` is a sysfs (`SYSFS_MAGIC`).
fn host_has_sysfs() -> bool {
    const SYSFS_MAGIC: i64 = 0x6265_6572;
    // SAFETY: statfs of a static C string into a zeroed stack out-parameter.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::statfs(c"/sys".as_ptr(), &mut st) == 0 && st.f_type as i64 == SYSFS_MAGIC
    }
}

/// The default view's steps for `/sys`: a fresh sysfs, or an empty
/// read-only directory.
pub(crate) fn default_steps(sb: &Sandbox) -> Vec<MountStep> {
    if fresh(sb) {
        return vec![MountStep::Sysfs { dst: "/sys".into() }];
    }
    vec![
        MountStep::Dir {
            dst: "/sys".into(),
            mode: None,
        },
        MountStep::Mask {
            path: "/sys".into(),
        },
    ]
}

/// Whether the default view of `sb` mounts a sysfs of the box's own
/// network namespace. A namespace made ahead (`crate::netpool`) is not the
/// box's user namespace's, so the kernel would refuse the box that mount:
/// such a box attaches the sysfs the pool made inside the namespace
/// (`MountPlan::attach_sysfs`).
pub(crate) fn default_view_mounts(sb: &Sandbox) -> bool {
    takes_default(sb) && fresh(sb)
}

/// Whether the box's `/sys` is the default view's (no rootfs, no bare view,
/// no step of the caller's on `/sys`).
fn takes_default(sb: &Sandbox) -> bool {
    let own_step = sb
        .fs
        .steps
        .iter()
        .any(|s| super::normalize(s.dst()).is_some_and(|d| d == Path::new("/sys")));
    super::builds_fs(sb) && sb.fs.rootfs.is_none() && !sb.fs.bare && !own_step
}

/// The enforcement report's `filesystem:sys` entry: which `/sys` the box
/// got. `None` when the box builds no default view (no mount namespace, a
/// rootfs, a bare view) or replaces `/sys` with a step of its own.
pub(crate) fn report(sb: &Sandbox) -> Option<LayerReport> {
    if !takes_default(sb) {
        return None;
    }
    let applied = if fresh(sb) {
        "fresh read-only sysfs of the box's network namespace \
         (/sys/firmware, /sys/devices/virtual/powercap masked; /sys/fs/cgroup: the box's own cgroup, \
         if it has one, else empty), \
         or an empty read-only /sys where the kernel refuses the mount"
    } else {
        "empty read-only /sys (the box shares the host's network namespace: \
         or no sysfs on the host's /sys: a sysfs would show the host's devices)"
    };
    Some(LayerReport {
        layer: "filesystem:sys".into(),
        requested: "the box's /sys, not the host's".into(),
        applied: applied.into(),
        enforcement: Enforcement::Full,
    })
}
