//! Seccomp: a syscall policy compiled to BPF in the parent, installed last in
//! the child.
//!
//! - [`policy`]: the builder ([`SeccompPolicy`], [`Action`], [`ArgCmp`]);
//! - [`profile`]: the built-in default profile;
//! - [`oci`]: OCI / Docker JSON profiles;
//! - `compile`: policy → one BPF filter, which also kills foreign
//!   architectures and x32 syscalls;
//! - `bpf`: the code generator (a search tree on the syscall number, so the
//!   kernel loads the filter quickly).

mod bpf;
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
        Ok(compile::compile(self, compile::Arch::native()?)?.len())
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

/// A policy compiled once: the filter plus what the report says of it.
#[derive(Debug)]
struct Compiled {
    filter: Vec<libc::sock_filter>,
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
        filter: compile::compile(&policy, compile::Arch::native()?)?,
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
    /// The filter (shared with the cache).
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
        let what = format!(
            "{what}: {} rules, default {:?}; {} BPF instructions",
            compiled.rules,
            compiled.default_action,
            compiled.filter.len()
        );
        Ok(Some(SeccompProgram {
            compiled,
            set_nnp,
            early: !set_nnp,
            what,
        }))
    }

    /// The filter's instructions as bytes (`struct sock_filter`s), for the
    /// box's init, which installs it in the payload it forks.
    pub(crate) fn filter_bytes(&self) -> &[u8] {
        let f = &self.compiled.filter;
        // SAFETY: sock_filter is plain integers; viewing them as bytes is
        // sound.
        unsafe {
            std::slice::from_raw_parts(f.as_ptr().cast::<u8>(), std::mem::size_of_val(&f[..]))
        }
    }

    /// Whether installing the filter sets no_new_privs first.
    pub(crate) fn sets_no_new_privs(&self) -> bool {
        self.set_nnp
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
        let f = &self.compiled.filter;
        // A stack struct pointing into the prepared program: no allocation.
        let prog = libc::sock_fprog {
            len: f.len() as libc::c_ushort,
            filter: f.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: the kernel copies the program from `prog`, which points at
        // `f.len()` valid instructions.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0 as libc::c_ulong,
                &prog as *const libc::sock_fprog,
            )
        };
        if r != 0 {
            return Err(ChildError::last(Stage::Seccomp, 0));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::bpf::{restrictiveness, ret_value, run};
    use super::compile::{compile, lookup, Arch, Lookup};
    use super::*;

    const X86: u32 = 0xC000_003E;

    /// What the policy means for one call, straight from its definition:
    /// the most restrictive action among matching rules, else the default.
    /// `nrs`: each rule's number on the architecture.
    fn meaning(p: &SeccompPolicy, nrs: &[Option<u32>], nr: u32, args: [u64; 6]) -> u32 {
        let holds = |c: &ArgCmp| {
            let x = if c.low32 {
                args[c.index as usize] & 0xffff_ffff
            } else {
                args[c.index as usize]
            };
            match c.op {
                CmpOp::Eq => x == c.value,
                CmpOp::Ne => x != c.value,
                CmpOp::Lt => x < c.value,
                CmpOp::Le => x <= c.value,
                CmpOp::Gt => x > c.value,
                CmpOp::Ge => x >= c.value,
                CmpOp::MaskedEq(m) => x & m == c.value,
            }
        };
        p.rules()
            .iter()
            .zip(nrs)
            .filter(|(_, n)| **n == Some(nr))
            .map(|(r, _)| r)
            .filter(|r| r.args.iter().all(holds))
            .map(|r| r.action)
            .min_by_key(|&a| restrictiveness(a))
            .map_or(ret_value(p.default_action()), ret_value)
    }

    /// A small deterministic generator (xorshift), so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Every syscall number (and some that are not), with arguments at and
    /// around each value the policy compares against, and random ones.
    fn agrees_everywhere(p: &SeccompPolicy) {
        let arch = Arch::X86_64;
        let prog = compile(p, arch).unwrap();
        let nrs: Vec<Option<u32>> = p
            .rules()
            .iter()
            .map(|r| match lookup(arch, &r.syscall) {
                Lookup::Nr(n) => Some(n as u32),
                _ => None,
            })
            .collect();
        let mut edges = vec![0u64, 1, u64::MAX, 0xffff_ffff, 0x1_0000_0000];
        for r in p.rules() {
            for c in &r.args {
                for d in [0u64, 1, 0x1_0000_0000] {
                    edges.push(c.value.wrapping_add(d));
                    edges.push(c.value.wrapping_sub(d));
                }
                edges.push(c.value | 0xdead_0000_0000_0000);
            }
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for nr in (0..470u32).chain([1000, 0x3fff_ffff, 0xffff_ffff]) {
            for round in 0..40 {
                let mut args = [0u64; 6];
                for a in &mut args {
                    let x = rng.next();
                    *a = if round % 4 == 3 {
                        x
                    } else {
                        edges[(x % edges.len() as u64) as usize]
                    };
                }
                assert_eq!(
                    run(&prog, nr, X86, args),
                    meaning(p, &nrs, nr, args),
                    "nr {nr} args {args:x?}"
                );
            }
        }
    }

    #[test]
    fn default_profile_means_what_it_says() {
        agrees_everywhere(&profile::default_profile());
    }

    #[test]
    fn mixed_actions_and_every_comparison_mean_what_they_say() {
        let p = SeccompPolicy::new(Action::Errno(13))
            .allow("read")
            .allow("write")
            .rule("write", Action::Log)
            .rule_if("write", Action::KillProcess, [ArgCmp::eq(0, 99)])
            .rule_if(
                "openat",
                Action::Allow,
                [ArgCmp::new(2, CmpOp::Lt, 0x1_0000_0005)],
            )
            .rule_if(
                "openat",
                Action::Trap,
                [ArgCmp::new(2, CmpOp::Ge, 0x7_0000_0000)],
            )
            .rule_if(
                "mmap",
                Action::Allow,
                [ArgCmp::new(1, CmpOp::Le, 4096), ArgCmp::ne(3, 0x22)],
            )
            .rule_if(
                "mmap",
                Action::Errno(1),
                [ArgCmp::new(1, CmpOp::Gt, 0xffff_ffff_0000)],
            )
            .rule_if(
                "ioctl",
                Action::Allow,
                [ArgCmp::masked_eq(1, 0xff00, 0x5400).low32()],
            )
            .rule_if("ioctl", Action::Errno(25), [ArgCmp::eq(1, 0x5412).low32()])
            .rule_if(
                "ioctl",
                Action::KillThread,
                [ArgCmp::new(1, CmpOp::Gt, 7).low32()],
            )
            .rule_if(
                "kill",
                Action::Errno(1),
                [ArgCmp::new(0, CmpOp::Le, 1).low32()],
            )
            .rule_if(
                "kill",
                Action::Errno(3),
                [ArgCmp::masked_eq(1, 0xf_0000_000f, 0x1_0000_0009)],
            )
            .allow("exit_group");
        agrees_everywhere(&p);
        // The same rules under a permissive default.
        let mut q = SeccompPolicy::new(Action::Allow);
        for r in p.rules() {
            q.push(r.clone());
        }
        agrees_everywhere(&q);
    }

    #[test]
    fn many_rules_need_long_jumps_and_still_agree() {
        // An allow-list of every x86_64 syscall but a few: the search tree
        // spans far more than a conditional jump reaches.
        let mut p = SeccompPolicy::new(Action::EPERM);
        for (name, nr) in super::tables::X86_64 {
            if nr % 17 != 0 {
                p = p.rule_if(*name, Action::Allow, [ArgCmp::ne(0, *nr as u64)]);
            }
        }
        let prog = compile(&p, Arch::X86_64).unwrap();
        assert!(prog.len() > 1000, "{}", prog.len());
        agrees_everywhere(&p);
    }

    #[test]
    fn foreign_arch_and_x32_are_killed() {
        let p = profile::default_profile();
        let prog = compile(&p, Arch::X86_64).unwrap();
        let kill = libc::SECCOMP_RET_KILL_PROCESS;
        // i386 (int 0x80) and an x32 number.
        assert_eq!(run(&prog, 0, 0x4000_0003, [0; 6]), kill);
        assert_eq!(run(&prog, 0x4000_0000, X86, [0; 6]), kill);
        assert_eq!(run(&prog, 0x7fff_ffff, X86, [0; 6]), kill);
        // -1 is left to the kernel (ENOSYS) under the default action.
        assert_eq!(
            run(&prog, 0xffff_ffff, X86, [0; 6]),
            libc::SECCOMP_RET_ALLOW
        );
        let a = compile(&p, Arch::Aarch64).unwrap();
        assert_eq!(a[1].k, 0xC000_00B7);
        assert_eq!(
            run(&a, 0x4000_0000, 0xC000_00B7, [0; 6]),
            libc::SECCOMP_RET_ALLOW
        );
        assert_eq!(run(&a, 0, X86, [0; 6]), kill);
    }

    #[test]
    fn default_profile_is_one_short_filter_for_both_arches() {
        let p = profile::default_profile();
        for arch in [Arch::X86_64, Arch::Aarch64] {
            let prog = compile(&p, arch).unwrap();
            // A search tree: a call the profile does not name is decided in
            // a handful of compares, not one per rule.
            assert!(prog.len() < 400, "{arch:?}: {}", prog.len());
        }
    }

    #[test]
    fn low32_values_must_fit() {
        let p = SeccompPolicy::new(Action::Allow).rule_if(
            "ioctl",
            Action::EPERM,
            [ArgCmp::eq(1, 0x1_0000_5412).low32()],
        );
        assert!(matches!(p.check(), Err(Error::InvalidConfig { .. })));
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
