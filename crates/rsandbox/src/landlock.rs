//! Landlock: path and port rules, created in the parent, applied in the child.
//!
//! The ruleset is built in the parent with the `landlock` crate (every path
//! is opened there, `O_PATH`, in the caller's mount namespace: rules name
//! *host* paths; bind mounts of them inside the box are the same inodes and
//! are covered). The child only calls `landlock_restrict_self` on the
//! prepared fd.
//!
//! Once any path rule is given (or [`Sandbox::landlock_deny_fs`]), every
//! filesystem access this kernel can restrict is denied outside the rules.
//! The same for TCP bind/connect once a port rule is given, and for the
//! scopes (abstract unix sockets, signals) when asked.
//!
//! Strict by default: filesystem rules need Landlock ABI 3 (so truncation is
//! covered), port rules ABI 4, scopes ABI 6; an older kernel is an
//! [`Error::Unsupported`] before spawn unless [`Sandbox::best_effort`] is on,
//! and then the enforcement report says what is missing.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use landlock::{
    make_bitflags, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort,
    PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, Scope, ABI,
};

use crate::error::{step, ChildError, ChildResult, Error, Result, Stage};
use crate::report::{Enforcement, LayerReport};
use crate::Sandbox;

pub use crate::config::landlock::*;

/// Landlock builder methods.
impl Sandbox {
    fn landlock_path(mut self, path: PathBuf, read: bool, write: bool, exec: bool) -> Self {
        self.landlock.fs = true;
        if let Some(r) = self.landlock.paths.iter_mut().find(|r| r.path == path) {
            r.read |= read;
            r.write |= write;
            r.exec |= exec;
        } else {
            self.landlock.paths.push(PathRule {
                path,
                read,
                write,
                exec,
            });
        }
        self
    }
    /// Allow reading files and listing directories beneath `path`; deny
    /// every filesystem access outside the rules.
    pub fn landlock_read(self, path: impl Into<PathBuf>) -> Self {
        self.landlock_path(path.into(), true, false, false)
    }
    /// Allow reading and writing (create, remove, truncate, rename...)
    /// beneath `path`.
    pub fn landlock_write(self, path: impl Into<PathBuf>) -> Self {
        self.landlock_path(path.into(), true, true, false)
    }
    /// Allow reading and executing beneath `path`.
    pub fn landlock_exec(self, path: impl Into<PathBuf>) -> Self {
        self.landlock_path(path.into(), true, false, true)
    }
    /// Restrict the filesystem with no rule: every access is denied (add
    /// rules after to open paths).
    pub fn landlock_deny_fs(mut self) -> Self {
        self.landlock.fs = true;
        self
    }
    /// Allow binding TCP `port`; every other TCP bind is denied.
    pub fn landlock_bind_port(mut self, port: u16) -> Self {
        self.landlock
            .bind_ports
            .get_or_insert_with(Vec::new)
            .push(port);
        self
    }
    /// Allow connecting to TCP `port`; every other TCP connect is denied.
    pub fn landlock_connect_port(mut self, port: u16) -> Self {
        self.landlock
            .connect_ports
            .get_or_insert_with(Vec::new)
            .push(port);
        self
    }
    /// Deny every TCP bind and connect (unless ports are allowed).
    pub fn landlock_deny_tcp(mut self) -> Self {
        self.landlock.bind_ports.get_or_insert_with(Vec::new);
        self.landlock.connect_ports.get_or_insert_with(Vec::new);
        self
    }
    /// Deny connecting to abstract unix sockets created outside the box.
    pub fn landlock_scope_abstract_unix(mut self) -> Self {
        self.landlock.scope_abstract_unix = true;
        self
    }
    /// Deny sending signals to processes outside the box.
    pub fn landlock_scope_signals(mut self) -> Self {
        self.landlock.scope_signals = true;
        self
    }
    /// The Landlock configuration.
    pub fn landlock_config(&self) -> &LandlockConfig {
        &self.landlock
    }
}

/// The Landlock ABI of this kernel (0: none).
pub fn abi_version() -> i32 {
    crate::sys::kernel::landlock_abi() as i32
}

/// Minimum ABI for full enforcement of each part.
const FS_ABI: i32 = 3;
const NET_ABI: i32 = 4;

const FILE_ACCESS: BitFlags<AccessFs> =
    make_bitflags!(AccessFs::{ReadFile | WriteFile | Execute | Truncate | IoctlDev});

/// What the description asks for, as the report lists it.
fn requested(c: &LandlockConfig) -> Vec<String> {
    let mut requested = Vec::new();
    if c.fs {
        requested.push(format!("fs: {} path rules", c.paths.len()));
    }
    if let Some(p) = &c.bind_ports {
        requested.push(format!("tcp bind {p:?}"));
    }
    if let Some(p) = &c.connect_ports {
        requested.push(format!("tcp connect {p:?}"));
    }
    if c.scope_abstract_unix {
        requested.push("scope abstract-unix".into());
    }
    if c.scope_signals {
        requested.push("scope signals".into());
    }
    requested
}

/// The parts asked for that ABI `abi` lacks: an error, or (best effort)
/// the list the report gives.
fn missing_parts(c: &LandlockConfig, abi: i32) -> Result<Vec<String>> {
    let want_net = c.bind_ports.is_some() || c.connect_ports.is_some();
    let want_scope = c.scope_abstract_unix || c.scope_signals;
    let mut missing = Vec::new();
    for (want, min, what) in [
        (c.fs, FS_ABI, "filesystem rules (with truncate)"),
        (want_net, NET_ABI, "TCP port rules"),
        (want_scope, SCOPE_ABI, "scoping"),
    ] {
        if !want || abi >= min {
            continue;
        }
        if !c.best_effort {
            return Err(Error::Unsupported {
                feature: format!("Landlock ABI {min} ({what})"),
                detail: format!(
                    "this kernel offers Landlock ABI {abi}; use best_effort(true) to \
                     run with what it has"
                ),
            });
        }
        missing.push(format!("{what} need ABI {min}"));
    }
    Ok(missing)
}

/// The ruleset handling every access ABI `abi` offers of those asked for,
/// and what it covers, as the report lists it.
fn handled(c: &LandlockConfig, abi: i32) -> Result<(Ruleset, Vec<String>)> {
    let mut applied = Vec::new();
    let mut rs = Ruleset::default().set_compatibility(CompatLevel::BestEffort);
    if c.fs {
        rs = rs
            .handle_access(AccessFs::from_all(ABI::from(abi)))
            .map_err(|e| ll_err("Landlock: handle filesystem access", None, e))?;
        let truncate = if abi < FS_ABI {
            ", truncate not covered"
        } else {
            ""
        };
        applied.push(format!(
            "fs: {} path rules (ABI {abi}{truncate})",
            c.paths.len()
        ));
    }
    if abi >= NET_ABI {
        if let Some(p) = &c.bind_ports {
            rs = rs
                .handle_access(AccessNet::BindTcp)
                .map_err(|e| ll_err("Landlock: handle TCP bind", None, e))?;
            applied.push(format!("tcp bind {p:?}"));
        }
        if let Some(p) = &c.connect_ports {
            rs = rs
                .handle_access(AccessNet::ConnectTcp)
                .map_err(|e| ll_err("Landlock: handle TCP connect", None, e))?;
            applied.push(format!("tcp connect {p:?}"));
        }
    }
    if abi >= SCOPE_ABI {
        if c.scope_abstract_unix {
            rs = rs
                .scope(Scope::AbstractUnixSocket)
                .map_err(|e| ll_err("Landlock: scope abstract unix sockets", None, e))?;
            applied.push("scope abstract-unix".into());
        }
        if c.scope_signals {
            rs = rs
                .scope(Scope::Signal)
                .map_err(|e| ll_err("Landlock: scope signals", None, e))?;
            applied.push("scope signals".into());
        }
    }
    Ok((rs, applied))
}

/// The path rules and (ABI 4 and later) the port rules, added to the
/// created ruleset.
fn add_rules(mut created: RulesetCreated, c: &LandlockConfig, abi: i32) -> Result<RulesetCreated> {
    let fs_all = AccessFs::from_all(ABI::from(abi));
    for r in c.paths.iter().filter(|_| c.fs) {
        let fd = PathFd::new(&r.path).map_err(|e| {
            Error::invalid(
                "landlock path",
                format!("{}: cannot be opened: {e}", r.path.display()),
            )
        })?;
        let is_dir = std::fs::metadata(&r.path).is_ok_and(|m| m.is_dir());
        let mut access = rights(r) & fs_all;
        if !is_dir {
            access &= FILE_ACCESS;
        }
        if access.is_empty() {
            continue;
        }
        created = created
            .add_rule(PathBeneath::new(fd, access))
            .map_err(|e| ll_err("Landlock: add path rule", Some(&r.path), e))?;
    }
    if abi < NET_ABI {
        return Ok(created);
    }
    for &p in c.bind_ports.iter().flatten() {
        created = created
            .add_rule(NetPort::new(p, AccessNet::BindTcp))
            .map_err(|e| ll_err("Landlock: add bind rule", None, e))?;
    }
    for &p in c.connect_ports.iter().flatten() {
        created = created
            .add_rule(NetPort::new(p, AccessNet::ConnectTcp))
            .map_err(|e| ll_err("Landlock: add connect rule", None, e))?;
    }
    Ok(created)
}

fn rights(r: &PathRule) -> BitFlags<AccessFs> {
    let mut a = BitFlags::empty();
    if r.read || r.exec {
        a |= AccessFs::ReadFile | AccessFs::ReadDir;
    }
    if r.exec {
        a |= AccessFs::Execute;
    }
    if r.write {
        a |= make_bitflags!(AccessFs::{WriteFile | Truncate | MakeReg | MakeDir | MakeSym
            | MakeSock | MakeFifo | RemoveFile | RemoveDir | Refer | IoctlDev});
    }
    a
}

fn ll_err(what: &str, path: Option<&Path>, e: impl std::fmt::Display) -> Error {
    Error::io(
        what,
        path.map(Path::to_path_buf),
        io::Error::other(e.to_string()),
    )
}

/// A ruleset prepared in the parent.
#[derive(Debug)]
pub(crate) struct LandlockPlan {
    /// `None` in best effort on a kernel without Landlock.
    fd: Option<OwnedFd>,
    set_nnp: bool,
    report: LayerReport,
}

impl LandlockPlan {
    /// Create the ruleset; `None` when no rule is requested.
    pub(crate) fn prepare(sb: &Sandbox) -> Result<Option<LandlockPlan>> {
        Self::prepare_for_abi(sb, abi_version())
    }

    /// [`prepare`](Self::prepare) as if the kernel offered `abi` (at most
    /// the real one: the ruleset is really created).
    pub(crate) fn prepare_for_abi(sb: &Sandbox, abi: i32) -> Result<Option<LandlockPlan>> {
        let c = &sb.landlock;
        if !c.requested() {
            return Ok(None);
        }
        if sb.caps.drop && sb.caps.no_new_privs == Some(false) {
            return Err(Error::invalid(
                "no_new_privs",
                "Landlock needs no_new_privs once capabilities are dropped (it is \
                 otherwise only allowed with CAP_SYS_ADMIN)",
            ));
        }
        let set_nnp = sb.caps.no_new_privs != Some(false);
        let requested = requested(c).join("; ");
        let missing = missing_parts(c, abi)?;
        if abi < 1 {
            let why = "nothing: this kernel has no Landlock".to_string();
            return Ok(Some(LandlockPlan::nothing(set_nnp, requested, why)));
        }
        let (rs, applied) = handled(c, abi)?;
        if applied.is_empty() {
            let why = format!("nothing ({})", missing.join("; "));
            return Ok(Some(LandlockPlan::nothing(set_nnp, requested, why)));
        }
        let created = rs
            .create()
            .map_err(|e| ll_err("Landlock: create ruleset", None, e))?;
        let fd: Option<OwnedFd> = add_rules(created, c, abi)?.into();
        let Some(fd) = fd else {
            return Err(ll_err("Landlock: create ruleset", None, "no ruleset fd"));
        };
        let mut applied = applied.join("; ");
        let enforcement = if missing.is_empty() {
            Enforcement::Full
        } else {
            applied.push_str(&format!("; missing: {}", missing.join("; ")));
            Enforcement::Partial
        };
        Ok(Some(LandlockPlan {
            fd: Some(fd),
            set_nnp,
            report: LayerReport {
                layer: "landlock".into(),
                requested,
                applied,
                enforcement,
            },
        }))
    }

    /// A plan that restricts nothing (the kernel offers none of what was
    /// asked, best effort), reported as such.
    fn nothing(set_nnp: bool, requested: String, applied: String) -> LandlockPlan {
        LandlockPlan {
            fd: None,
            set_nnp,
            report: LayerReport {
                layer: "landlock".into(),
                requested,
                applied,
                enforcement: Enforcement::NotEnforced,
            },
        }
    }

    /// What the report says about this layer.
    pub(crate) fn report(_sb: &Sandbox, this: Option<&LandlockPlan>) -> LayerReport {
        match this {
            None => LayerReport::not_requested("landlock"),
            Some(p) => p.report.clone(),
        }
    }

    /// The ruleset's fd (`None`: nothing to apply on this kernel) and
    /// the report's entry, for a template whose forks apply it.
    pub(crate) fn into_parts(self) -> (Option<OwnedFd>, LayerReport) {
        (self.fd, self.report)
    }

    /// Move the ruleset fd to a number at or above `min` (see
    /// `Plan::min_fd`): it is used after the child's dup2 calls.
    pub(crate) fn with_fd_at_least(mut self, min: std::os::fd::RawFd) -> Result<Self> {
        if let Some(fd) = self.fd.take() {
            self.fd = Some(crate::sys::fd::fd_at_least(fd, min)?);
        }
        Ok(self)
    }

    /// The ruleset's fd, which the child uses.
    pub(crate) fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        self.fd.as_ref().map(|f| f.as_raw_fd())
    }

    /// `landlock_restrict_self` in the child.
    ///
    /// # Safety
    /// Raw syscalls on prepared data only.
    pub(crate) unsafe fn apply(&self) -> ChildResult {
        let Some(fd) = &self.fd else {
            return Ok(());
        };
        if self.set_nnp {
            // SAFETY: prctl with integer arguments.
            if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
                return Err(ChildError::last(Stage::NoNewPrivs, step::FOR_LANDLOCK));
            }
        }
        // SAFETY: landlock_restrict_self on the ruleset fd the plan owns.
        let r = unsafe {
            libc::syscall(
                libc::SYS_landlock_restrict_self,
                fd.as_raw_fd(),
                0 as libc::c_uint,
            )
        };
        if r != 0 {
            return Err(ChildError::last(Stage::Landlock, 0));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sb() -> Sandbox {
        Sandbox::new()
            .landlock_read("/usr")
            .landlock_connect_port(443)
            .landlock_scope_signals()
    }

    #[test]
    fn older_kernel_is_an_error_when_strict() {
        match LandlockPlan::prepare_for_abi(&sb(), 2) {
            Err(Error::Unsupported { feature, .. }) => {
                assert!(feature.contains("ABI 3"), "{feature}")
            }
            other => panic!("{other:?}"),
        }
        match LandlockPlan::prepare_for_abi(&Sandbox::new().landlock_scope_signals(), 5) {
            Err(Error::Unsupported { feature, .. }) => {
                assert!(feature.contains("ABI 6"), "{feature}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn older_kernel_is_reported_in_best_effort() {
        if abi_version() < 2 {
            panic!("this test needs a kernel with Landlock ABI >= 2");
        }
        let p = LandlockPlan::prepare_for_abi(&sb().best_effort(true), 2)
            .unwrap()
            .unwrap();
        assert_eq!(p.report.enforcement, Enforcement::Partial);
        assert!(
            p.report.applied.contains("truncate not covered"),
            "{:?}",
            p.report
        );
        assert!(
            p.report.applied.contains("TCP port rules need ABI 4"),
            "{:?}",
            p.report
        );
        assert!(p.fd.is_some());
        let p = LandlockPlan::prepare_for_abi(&sb().best_effort(true), 0)
            .unwrap()
            .unwrap();
        assert_eq!(p.report.enforcement, Enforcement::NotEnforced);
        assert!(p.fd.is_none());
    }

    #[test]
    fn full_on_this_kernel() {
        if abi_version() < 6 {
            panic!("this test needs Landlock ABI >= 6 (this host has 7)");
        }
        let p = LandlockPlan::prepare(&sb()).unwrap().unwrap();
        assert_eq!(p.report.enforcement, Enforcement::Full, "{:?}", p.report);
    }

    #[test]
    fn missing_path_is_a_config_error() {
        let sb = Sandbox::new().landlock_read("/nonexistent/rsandbox");
        match LandlockPlan::prepare(&sb) {
            Err(Error::InvalidConfig { field, .. }) => assert_eq!(field, "landlock path"),
            other => panic!("{other:?}"),
        }
    }
}
