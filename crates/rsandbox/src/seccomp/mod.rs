//! Seccomp: a syscall policy compiled to BPF in the parent, installed last in
//! the child.
//!
//! - [`policy`]: the builder ([`SeccompPolicy`], [`Action`], [`ArgCmp`]);
//! - [`profile`]: the built-in default profile;
//! - [`oci`]: OCI / Docker JSON profiles;
//! - `compile`: policy → a small stack of BPF filters (with `seccompiler`),
//!   plus a guard that kills foreign architectures and x32 syscalls.

mod compile;
pub mod oci;
pub mod policy;
pub mod profile;
mod tables;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::error::{ChildError, ChildResult, Error, Result, Stage};
use crate::report::{Enforcement, LayerReport};
use crate::Sandbox;

pub use compile::{is_known_syscall, MAX_FILTER_INSNS, MAX_TOTAL_INSNS};
pub use policy::{Action, ArgCmp, CmpOp, Rule, SeccompPolicy};

/// Where the policy comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeccompSource {
    /// The built-in default profile.
    Default,
    /// A policy built in code.
    Policy(SeccompPolicy),
    /// An OCI / Docker JSON profile, as text.
    OciJson(String),
    /// An OCI / Docker JSON profile, read at spawn time.
    OciFile(PathBuf),
}

/// Seccomp configuration of a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeccompConfig {
    /// `None`: no filter.
    pub(crate) source: Option<SeccompSource>,
}

impl SeccompConfig {
    /// The policy this configuration describes (parsing the profile).
    pub fn policy(&self) -> Result<Option<SeccompPolicy>> {
        Ok(match &self.source {
            None => None,
            Some(SeccompSource::Default) => Some(profile::default_profile()),
            Some(SeccompSource::Policy(p)) => Some(p.clone()),
            Some(SeccompSource::OciJson(s)) => Some(oci::parse(s)?),
            Some(SeccompSource::OciFile(path)) => {
                let meta = std::fs::metadata(path)
                    .map_err(|e| Error::io("read seccomp profile", Some(path.clone()), e))?;
                if meta.len() > oci::MAX_PROFILE_BYTES as u64 {
                    return Err(Error::invalid(
                        "seccomp profile: size",
                        format!(
                            "{} is {} bytes; at most {} are accepted",
                            path.display(),
                            meta.len(),
                            oci::MAX_PROFILE_BYTES
                        ),
                    ));
                }
                let s = std::fs::read_to_string(path)
                    .map_err(|e| Error::io("read seccomp profile", Some(path.clone()), e))?;
                Some(oci::parse(&s)?)
            }
        })
    }
}

impl SeccompPolicy {
    /// Compile for this machine's architecture, to check that the kernel
    /// would accept it; returns the number of BPF instructions.
    pub fn check(&self) -> Result<usize> {
        let progs = compile::compile(self, compile::Arch::native()?)?;
        Ok(progs.iter().map(Vec::len).sum())
    }
}

/// Seccomp builder methods.
impl Sandbox {
    /// Filter syscalls with `policy`.
    pub fn seccomp(mut self, policy: SeccompPolicy) -> Self {
        self.seccomp.source = Some(SeccompSource::Policy(policy));
        self
    }
    /// Filter syscalls with the built-in default profile
    /// ([`profile::default_profile`]).
    pub fn seccomp_default(mut self) -> Self {
        self.seccomp.source = Some(SeccompSource::Default);
        self
    }
    /// Filter syscalls with an OCI / Docker JSON profile (parsed at
    /// validation).
    pub fn seccomp_oci_json(mut self, json: impl Into<String>) -> Self {
        self.seccomp.source = Some(SeccompSource::OciJson(json.into()));
        self
    }
    /// Filter syscalls with an OCI / Docker JSON profile read from `path` at
    /// validation.
    pub fn seccomp_oci_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.seccomp.source = Some(SeccompSource::OciFile(path.into()));
        self
    }
    /// No seccomp filter (e.g. to relax [`Sandbox::strict`]).
    pub fn no_seccomp(mut self) -> Self {
        self.seccomp.source = None;
        self
    }
    /// The seccomp configuration.
    pub fn seccomp_config(&self) -> &SeccompConfig {
        &self.seccomp
    }
}

/// A policy compiled once: the filters plus what the report says of it.
#[derive(Debug)]
struct Compiled {
    filters: Vec<Vec<libc::sock_filter>>,
    rules: usize,
    default_action: Action,
}

// SAFETY: sock_filter is plain integers; `Compiled` is never mutated after
// it is built, so sharing it between threads is sound.
unsafe impl Send for Compiled {}
// SAFETY: as above.
unsafe impl Sync for Compiled {}

/// Most policies a process keeps compiled (a few distinct policies is the
/// norm; past this the cache is simply emptied).
const CACHE_MAX: usize = 64;

/// Process-wide cache of compiled policies, keyed by the policy's canonical
/// form (the built-in profile by name, others by their JSON), so a box that
/// is spawned many times compiles its filter once. Compiling the default
/// profile costs about as much as a whole spawn; a cache hit is a hash
/// lookup.
fn compiled(source: &SeccompSource, config: &SeccompConfig) -> Result<Arc<Compiled>> {
    static CACHE: Mutex<Option<HashMap<String, Arc<Compiled>>>> = Mutex::new(None);
    let mut parsed = None;
    let key = match source {
        SeccompSource::Default => "default".to_string(),
        SeccompSource::OciJson(text) => format!("oci:{text}"),
        // A file may change between spawns: key by what it says now.
        SeccompSource::Policy(_) | SeccompSource::OciFile(_) => {
            let p = config.policy()?.expect("a source gives a policy");
            let key = format!("policy:{}", serde_json::to_string(&p).unwrap_or_default());
            parsed = Some(p);
            key
        }
    };
    if let Some(c) = CACHE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(|m| m.get(&key))
    {
        return Ok(c.clone());
    }
    let policy = match parsed {
        Some(p) => p,
        None => config.policy()?.expect("a source gives a policy"),
    };
    let c = Arc::new(Compiled {
        filters: compile::compile(&policy, compile::Arch::native()?)?,
        rules: policy.rules.len(),
        default_action: policy.default_action,
    });
    let mut g = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let map = g.get_or_insert_with(HashMap::new);
    if map.len() >= CACHE_MAX {
        map.clear();
    }
    map.insert(key, c.clone());
    Ok(c)
}

/// A compiled filter, ready to install.
#[derive(Debug)]
pub(crate) struct SeccompProgram {
    /// The filters, installed in this order (shared with the cache).
    compiled: Arc<Compiled>,
    /// Set no_new_privs first (unless the caller turned it off explicitly,
    /// in which case installing needs `CAP_SYS_ADMIN`).
    set_nnp: bool,
    /// Install before the identity switch and the capability drop, while
    /// `CAP_SYS_ADMIN` is still held (no_new_privs turned off, as runc
    /// does): the filter then also covers the rest of the setup.
    pub(crate) early: bool,
    /// Short description, for the report.
    what: String,
}

impl SeccompProgram {
    /// Compile the policy; `None` when no filter is requested.
    pub(crate) fn prepare(sb: &Sandbox) -> Result<Option<SeccompProgram>> {
        let Some(source) = &sb.seccomp.source else {
            return Ok(None);
        };
        let compiled = compiled(source, &sb.seccomp)?;
        let set_nnp = sb.caps.no_new_privs != Some(false);
        if !set_nnp
            && !crate::spawn::plan::has_effective_cap(crate::spawn::plan::CAP_SYS_ADMIN)
            && !sb.has_ns(crate::Namespace::User)
        {
            return Err(Error::Privilege {
                privilege: "CAP_SYS_ADMIN".into(),
                action: "install a seccomp filter without no_new_privs".into(),
                fix: "leave no_new_privs on (the default with seccomp), add user_ns(), or run as root"
                    .into(),
            });
        }
        let what = match &sb.seccomp.source {
            Some(SeccompSource::Default) => "default profile".to_string(),
            Some(SeccompSource::Policy(_)) => "custom policy".to_string(),
            Some(SeccompSource::OciJson(_)) => "OCI profile".to_string(),
            Some(SeccompSource::OciFile(p)) => format!("OCI profile {}", p.display()),
            None => String::new(),
        };
        let insns: usize = compiled.filters.iter().map(Vec::len).sum();
        let what = format!(
            "{what}: {} rules, default {:?}; {} filters, {insns} BPF instructions",
            compiled.rules,
            compiled.default_action,
            compiled.filters.len()
        );
        Ok(Some(SeccompProgram {
            compiled,
            set_nnp,
            early: !set_nnp,
            what,
        }))
    }

    /// What the report says about this layer.
    pub(crate) fn report(this: Option<&SeccompProgram>) -> LayerReport {
        match this {
            None => LayerReport::not_requested("seccomp"),
            Some(p) => LayerReport {
                layer: "seccomp".into(),
                requested: p.what.clone(),
                applied: format!("{} (arch-checked; x32 and foreign ABIs killed)", p.what),
                enforcement: Enforcement::Full,
            },
        }
    }

    /// Install the filter. Runs in the child, last before exec (or, when
    /// `early`, before the identity switch).
    ///
    /// # Safety
    /// Raw syscalls on prepared data only.
    pub(crate) unsafe fn install(&self) -> ChildResult {
        if self.set_nnp {
            // SAFETY: prctl with integer arguments.
            if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
                return Err(ChildError::last(Stage::NoNewPrivs, 0));
            }
        }
        for (i, f) in self.compiled.filters.iter().enumerate() {
            // A stack struct pointing into the prepared program: no
            // allocation.
            let prog = libc::sock_fprog {
                len: f.len() as libc::c_ushort,
                filter: f.as_ptr() as *mut libc::sock_filter,
            };
            // SAFETY: the kernel copies the program from `prog`, which
            // points at `f.len()` valid instructions.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0 as libc::c_ulong,
                    &prog as *const libc::sock_fprog,
                )
            };
            if r != 0 {
                return Err(ChildError::last(Stage::Seccomp, i as u32));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::compile::{compile, guard, lookup, Arch, Lookup};
    use super::*;

    #[test]
    fn guard_kills_foreign_arch_and_x32() {
        let g = guard(Arch::X86_64);
        assert_eq!(g[1].k, 0xC000_003E);
        assert_eq!(g[2].k, libc::SECCOMP_RET_KILL_PROCESS);
        assert!(g.iter().any(|i| i.k == 0x4000_0000));
        let g = guard(Arch::Aarch64);
        assert_eq!(g[1].k, 0xC000_00B7);
        assert_eq!(g.len(), 4);
    }

    #[test]
    fn default_profile_compiles_for_both_arches() {
        let p = profile::default_profile();
        for arch in [Arch::X86_64, Arch::Aarch64] {
            let progs = compile(&p, arch).unwrap();
            // guard + EPERM + ENOSYS (default allow: no default filter)
            assert_eq!(progs.len(), 3, "{arch:?}");
        }
    }

    #[test]
    fn names_resolve_per_arch() {
        assert!(matches!(lookup(Arch::X86_64, "open"), Lookup::Nr(2)));
        assert!(matches!(lookup(Arch::Aarch64, "open"), Lookup::OtherArch));
        assert!(matches!(lookup(Arch::Aarch64, "openat"), Lookup::Nr(56)));
        assert!(matches!(
            lookup(Arch::X86_64, "frobnicate"),
            Lookup::Unknown
        ));
    }

    #[test]
    fn policy_roundtrips_through_serde() {
        let sb = Sandbox::new().seccomp(SeccompPolicy::new(Action::EPERM).allow("read").rule_if(
            "ioctl",
            Action::KillProcess,
            [ArgCmp::eq(1, 0x5412).low32()],
        ));
        let json = serde_json::to_string(&sb).unwrap();
        let back: Sandbox = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sb);
    }

    #[test]
    fn errno_and_arg_index_are_checked() {
        let p = SeccompPolicy::new(Action::Allow).rule("read", Action::Errno(5000));
        assert!(matches!(p.check(), Err(Error::InvalidConfig { .. })));
        let p =
            SeccompPolicy::new(Action::Allow).rule_if("read", Action::EPERM, [ArgCmp::eq(6, 0)]);
        assert!(matches!(p.check(), Err(Error::InvalidConfig { .. })));
    }

    #[test]
    fn docker_style_profile_with_foreign_names_loads() {
        let json = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
            "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]}],
            "syscalls":[
              {"names":["read","write","_llseek","chown32","socketcall","arm_fadvise64_64"],
               "action":"SCMP_ACT_ALLOW"},
              {"names":["ptrace"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_PTRACE"]}},
              {"names":["personality"],"action":"SCMP_ACT_ALLOW",
               "args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"}],"excludes":{"caps":["CAP_SYS_ADMIN"]}}
            ]}"#;
        let p = SeccompPolicy::from_oci_json(json).unwrap();
        assert_eq!(p.default_action(), Action::EPERM);
        // ptrace needs a capability we never keep: skipped.
        assert!(p.rules().iter().all(|r| r.syscall != "ptrace"));
        assert!(p.check().is_ok());
    }

    #[test]
    fn without_nnp_the_filter_goes_in_early() {
        let sb = Sandbox::new()
            .drop_caps()
            .no_new_privs(false)
            .seccomp_default()
            .user_ns();
        let p = SeccompProgram::prepare(&sb).unwrap().unwrap();
        assert!(p.early && !p.set_nnp);
        let p = SeccompProgram::prepare(&Sandbox::new().drop_caps().seccomp_default())
            .unwrap()
            .unwrap();
        assert!(!p.early && p.set_nnp);
    }
}
