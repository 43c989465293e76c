//! Making a box's cgroup: a directory per hierarchy its limits need, under
//! the caller's cgroup (or `cgroup_parent`), with the limits written. Two
//! backends: pure cgroup v2 (one directory, which `CLONE_INTO_CGROUP`
//! places the child in) and hybrid or pure v1 (a directory per v1
//! controller, and the cgroup2 directory as a helper). Device rules go to
//! the v1 `devices` controller where there is one, else to an eBPF program
//! attached to the cgroup2 directory. Best effort collects what could not be
//! applied ([`Shortfalls`]); strict fails at the first.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::{
    bpf, devices, devices_bpf, limits_of, open_dir, parent_in, sweep_stale, v1, v2, Cgroup, Kind,
    Layout, COUNTER, SELF_PARENT,
};
use crate::config::limits::CgroupLimits;
use crate::error::{Error, Result};
use crate::report::{Limit, Unapplied};
use crate::Sandbox;

/// Where a limit that cannot be applied goes: into the cgroup's list of
/// unapplied limits (best effort), or back to the caller as the error.
struct Shortfalls {
    best_effort: bool,
}

impl Shortfalls {
    fn note(&self, cg: &mut Cgroup, what: Vec<Limit>, err: Error) -> Result<()> {
        if !self.best_effort {
            return Err(err);
        }
        for limit in what {
            cg.unapplied.push(Unapplied {
                limit,
                reason: err.to_string(),
            });
        }
        Ok(())
    }
}

/// A device program loaded ahead, and how the report describes it.
type DeviceProgram = (OwnedFd, String);

/// What every directory of one box's cgroup is made from.
struct Target<'a> {
    /// The directory name, the same in every hierarchy.
    name: String,
    cgroup_parent: Option<&'a Path>,
    layout: &'a Layout,
    limits: CgroupLimits,
}

impl Target<'_> {
    /// The parent directory in the hierarchy mounted at `mount`, where the
    /// caller is at `self_path`; stale boxes of dead processes swept.
    fn parent(&self, mount: &Path, self_path: Option<&Path>) -> PathBuf {
        let parent = parent_in(mount, self_path, self.cgroup_parent, self.layout);
        sweep_stale(&parent);
        parent
    }
}

impl Cgroup {
    /// The cgroup for `sb` in `layout`.
    pub(super) fn create_in(sb: &Sandbox, layout: &Layout) -> Result<Cgroup> {
        let lim = &sb.limits;
        // SAFETY: trivial getter.
        let me = unsafe { libc::getpid() };
        let target = Target {
            name: format!("rsandbox-{me}-{}", COUNTER.fetch_add(1, Ordering::Relaxed)),
            cgroup_parent: lim.cgroup_parent.as_deref(),
            layout,
            limits: lim.cgroup_limits(),
        };
        let mut cg = Cgroup {
            dirs: Vec::new(),
            v2_fd: None,
            unapplied: Vec::new(),
            devices_applied: None,
        };
        let sf = Shortfalls {
            best_effort: lim.best_effort,
        };
        let rules = &target.limits.extra.devices;
        let use_ebpf =
            !rules.is_empty() && (lim.devices_ebpf || !layout.v1_mounts.contains_key("devices"));
        let prog = match use_ebpf {
            true => cg.load_device_program(&target, &sf)?,
            false => None,
        };
        if layout.is_pure_v2() {
            cg.create_v2(&target, prog, &sf)?;
        } else {
            cg.create_v1_dirs(&target, use_ebpf, &sf)?;
            cg.create_cpuacct_helper(&target);
            cg.create_unified(&target, prog, lim.accounting, &sf)?;
        }
        Ok(cg)
    }

    /// The eBPF device program, loaded before anything is created (its
    /// privilege is the first to miss); attached once the cgroup2 directory
    /// exists.
    fn load_device_program(
        &mut self,
        t: &Target<'_>,
        sf: &Shortfalls,
    ) -> Result<Option<DeviceProgram>> {
        let rules = &t.limits.extra.devices;
        let insns = devices_bpf::program(rules);
        let loaded = match t.layout.v2_mount {
            None => Err(devices::unsupported()),
            Some(_) => bpf::load(&insns),
        };
        match loaded {
            Ok(fd) => Ok(Some((fd, devices_bpf::describe(rules, insns.len())))),
            Err(e) => sf.note(self, vec![Limit::DeviceRules], e).map(|()| None),
        }
    }

    /// Pure cgroup v2: one directory with every controller the limits need
    /// enabled in its parent, the limits written, the device program
    /// attached.
    fn create_v2(
        &mut self,
        t: &Target<'_>,
        prog: Option<DeviceProgram>,
        sf: &Shortfalls,
    ) -> Result<()> {
        let mount = t.layout.v2_mount.as_deref().expect("pure v2 has a mount");
        let moved = SELF_PARENT
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let parent = match (t.cgroup_parent, moved) {
            (None, Some(p)) => p,
            _ => parent_in(
                mount,
                t.layout.v2_self.as_deref(),
                t.cgroup_parent,
                t.layout,
            ),
        };
        let mut all: Vec<Limit> = v2::needed_controllers(&t.limits)
            .into_iter()
            .flat_map(|c| limits_of(c, &t.limits))
            .collect();
        if prog.is_some() {
            all.push(Limit::DeviceRules);
        }
        if let Err(err) = t.limits.extra.v2_controllers() {
            return sf.note(self, all, err);
        }
        let missing = v2::missing_controllers(&parent, &t.limits);
        if !missing.is_empty() {
            return sf.note(self, all, missing_controllers(&missing, &parent));
        }
        sweep_stale(&parent);
        let dir = parent.join(&t.name);
        if let Err(e) = self.make_v2_dir(&parent, &dir, &t.limits) {
            self.remove_quiet();
            self.dirs.clear();
            self.v2_fd = None;
            return sf.note(self, all, e);
        }
        if let (Some((prog, what)), Some(fd)) = (prog, &self.v2_fd) {
            match bpf::attach(fd.as_fd(), &prog, &dir) {
                Ok(()) => self.devices_applied = Some(what),
                Err(e) => sf.note(self, vec![Limit::DeviceRules], e)?,
            }
        }
        Ok(())
    }

    /// Enable the controllers in `parent`, make `dir`, write the limits and
    /// keep an fd for `CLONE_INTO_CGROUP`.
    fn make_v2_dir(&mut self, parent: &Path, dir: &Path, cl: &CgroupLimits) -> Result<()> {
        // A caller who may not change the parent at all gets the
        // delegation error the write below gives.
        if v2::holds_processes(parent) && may_write(&parent.join("cgroup.subtree_control")) {
            return Err(internal_processes(parent));
        }
        v2::enable_controllers(parent, &v2::needed_controllers(cl))
            .map_err(|e| busy_parent(e, parent))?;
        self.mkdir(dir, Kind::V2)?;
        v2::write_limits(dir, cl)?;
        self.v2_fd = Some(open_dir(dir)?);
        Ok(())
    }

    /// Hybrid or pure v1: a directory per controller the limits need (the
    /// `devices` one unless the eBPF program enforces the rules).
    fn create_v1_dirs(&mut self, t: &Target<'_>, use_ebpf: bool, sf: &Shortfalls) -> Result<()> {
        let ctrls = v1::needed_controllers(&t.limits).into_iter();
        for ctrl in ctrls.filter(|c| !(use_ebpf && *c == "devices")) {
            let what = limits_of(ctrl, &t.limits);
            let Some(mount) = t.layout.v1_mounts.get(ctrl) else {
                sf.note(self, what, no_hierarchy(ctrl))?;
                continue;
            };
            let parent = t.parent(mount, t.layout.v1_self.get(ctrl).map(PathBuf::as_path));
            let dir = parent.join(&t.name);
            let r = self
                .mkdir(&dir, Kind::V1(ctrl))
                .and_then(|()| v1::write_limits(ctrl, &dir, &t.limits));
            match r {
                Ok(()) if ctrl == "devices" => {
                    let rules = devices::normalize(&t.limits.extra.devices);
                    self.devices_applied =
                        Some(format!("cgroup v1 devices: {}", devices::summary(&rules)));
                }
                Ok(()) => {}
                Err(e) => {
                    if let Some(pos) = self.dirs.iter().position(|d| d.path == dir) {
                        let _ = std::fs::remove_dir(&dir);
                        self.dirs.remove(pos);
                    }
                    sf.note(self, what, e)?;
                }
            }
        }
        Ok(())
    }

    /// A v1 `cpuacct` directory for the CPU time, only where no cgroup2
    /// hierarchy is mounted (the cgroup2 directory's `cpu.stat` gives it
    /// wherever one is, hybrid hosts too, so this would cost a mkdir, a
    /// join and an rmdir per spawn for nothing). A helper: its failure is
    /// tolerated silently.
    fn create_cpuacct_helper(&mut self, t: &Target<'_>) {
        let layout = t.layout;
        let Some(mount) = layout.v1_mounts.get("cpuacct") else {
            return;
        };
        if layout.v2_mount.is_some() {
            return;
        }
        let cpu_shared = layout.v1_mounts.get("cpu") == Some(mount);
        let have_cpu = self.dirs.iter().any(|d| d.kind == Kind::V1("cpu"));
        if self.dirs.is_empty() || cpu_shared && have_cpu {
            return;
        }
        let parent = t.parent(mount, layout.v1_self.get("cpuacct").map(PathBuf::as_path));
        let _ = self.mkdir_as(&parent.join(&t.name), Kind::V1("cpuacct"), true);
    }

    /// The cgroup2 directory of a hybrid host: a helper (CPU time, usage,
    /// killing the tree) unless the device program is attached there, then
    /// the box must be in it.
    fn create_unified(
        &mut self,
        t: &Target<'_>,
        prog: Option<DeviceProgram>,
        accounting: bool,
        sf: &Shortfalls,
    ) -> Result<()> {
        let Some(mount) = &t.layout.v2_mount else {
            return Ok(());
        };
        let parent = t.parent(mount, t.layout.v2_self.as_deref());
        let dir = parent.join(&t.name);
        let helper = !self.dirs.is_empty() && prog.is_none();
        match self.mkdir_as(&dir, Kind::V2, helper) {
            Ok(()) => {
                // With no v1 directory, CLONE_INTO_CGROUP places the child;
                // otherwise `attach` writes every directory.
                if self.dirs.len() == 1 {
                    self.v2_fd = open_dir(&dir).ok();
                }
                if let Some(prog) = prog {
                    self.attach_unified_program(&dir, prog, sf)?;
                }
                Ok(())
            }
            Err(e) if accounting && self.dirs.is_empty() && !sf.best_effort => Err(e),
            Err(e) if prog.is_some() => sf.note(self, vec![Limit::DeviceRules], e),
            Err(_) => Ok(()),
        }
    }

    /// Attach the device program to the hybrid host's cgroup2 directory;
    /// where that fails (best effort), the directory is a helper again.
    fn attach_unified_program(
        &mut self,
        dir: &Path,
        (prog, what): DeviceProgram,
        sf: &Shortfalls,
    ) -> Result<()> {
        let r = open_dir(dir).and_then(|fd| bpf::attach(fd.as_fd(), &prog, dir));
        match r {
            Ok(()) => self.devices_applied = Some(what),
            Err(e) => {
                sf.note(self, vec![Limit::DeviceRules], e)?;
                let n = self.dirs.len();
                if let Some(d) = self.dirs.last_mut() {
                    d.helper = n > 1;
                }
            }
        }
        Ok(())
    }
}

/// Controllers the parent does not offer.
fn missing_controllers(missing: &[&str], parent: &Path) -> Error {
    Error::Unsupported {
        feature: format!("cgroup controllers {}", missing.join(", ")),
        detail: format!(
            "not available in {} (cgroup.controllers); enable them in the \
             parent's cgroup.subtree_control or delegate them \
             (systemd: Delegate=yes)",
            parent.display()
        ),
    }
}

/// No v1 hierarchy mounts `ctrl` (and v2 is not the only hierarchy).
fn no_hierarchy(ctrl: &str) -> Error {
    if ctrl == "devices" {
        return devices::unsupported();
    }
    Error::Unsupported {
        feature: format!("cgroup controller {ctrl}"),
        detail: "no cgroup v1 hierarchy mounts it and cgroup v2 is not the only hierarchy".into(),
    }
}

/// `EBUSY` from `cgroup.subtree_control`: the parent holds processes (v2's
/// "no internal processes" rule), with the fix.
fn busy_parent(e: Error, parent: &Path) -> Error {
    match e {
        Error::Io { source, .. } if source.raw_os_error() == Some(libc::EBUSY) => {
            internal_processes(parent)
        }
        e => e,
    }
}

/// Whether this process may write `path` (its effective ids).
fn may_write(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: a valid C string; no out-parameters.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::W_OK, libc::AT_EACCESS) == 0 }
}

/// The box's cgroup would go under `parent`, which holds processes.
fn internal_processes(parent: &Path) -> Error {
    Error::Privilege {
        privilege: "a cgroup without processes (cgroup v2 \"no internal processes\" rule)".into(),
        action: format!(
            "enable controllers in {}/cgroup.subtree_control",
            parent.display()
        ),
        fix: "the parent cgroup holds processes (the caller's own cgroup usually \
              does): call rsandbox::cgroup::move_self_to_leaf(\"caller\") first, or \
              pass cgroup_parent(<a cgroup with no processes>)"
            .into(),
    }
}
