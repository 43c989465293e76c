//! Policy → BPF, in the parent, with `seccompiler`.
//!
//! `seccompiler` compiles a filter with one match action and one mismatch
//! action. A policy with several actions becomes a small stack of filters,
//! which the kernel evaluates together, keeping the most restrictive result:
//!
//! - a *guard* (hand-written): kill the process on a foreign architecture
//!   (i386 via `int 0x80`, arm32 compat...) and, on x86_64, on any x32
//!   syscall number (`nr | 0x4000_0000`);
//! - unless the default action is `Allow`, a *default* filter: calls matched
//!   by any rule → allow (decided by the next filters), others → default;
//! - for each non-allow action `A`, a filter: calls matched by a rule of `A`
//!   → `A`, others → allow.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};

use super::policy::{Action, CmpOp, SeccompPolicy};
use super::tables;
use crate::error::{Error, Result};

/// The kernel's limit on one filter (`BPF_MAXINSNS`).
pub const MAX_FILTER_INSNS: usize = 4096;
/// The kernel's limit on all filters of a task (`MAX_INSNS_PER_PATH`),
/// counting a 4-instruction penalty per filter.
pub const MAX_TOTAL_INSNS: usize = 32768;

/// The architecture of this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub(crate) fn native() -> Result<Arch> {
        if cfg!(target_arch = "x86_64") {
            Ok(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Ok(Arch::Aarch64)
        } else {
            Err(Error::Unsupported {
                feature: "seccomp on this architecture".into(),
                detail: format!(
                    "rsandbox compiles filters for x86_64 and aarch64, not {}",
                    std::env::consts::ARCH
                ),
            })
        }
    }
    fn table(self) -> &'static [(&'static str, i64)] {
        match self {
            Arch::X86_64 => tables::X86_64,
            Arch::Aarch64 => tables::AARCH64,
        }
    }
    fn other(self) -> Arch {
        match self {
            Arch::X86_64 => Arch::Aarch64,
            Arch::Aarch64 => Arch::X86_64,
        }
    }
    fn target(self) -> TargetArch {
        match self {
            Arch::X86_64 => TargetArch::x86_64,
            Arch::Aarch64 => TargetArch::aarch64,
        }
    }
    fn audit(self) -> u32 {
        match self {
            // AUDIT_ARCH_X86_64 = EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
            Arch::X86_64 => 0xC000_003E,
            // AUDIT_ARCH_AARCH64 = EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
            Arch::Aarch64 => 0xC000_00B7,
        }
    }
}

/// What a syscall name means on an architecture.
pub(crate) enum Lookup {
    /// The number on the target architecture.
    Nr(i64),
    /// A real syscall, but not on this architecture (skipped).
    OtherArch,
    /// Not a syscall at all.
    Unknown,
}

pub(crate) fn lookup(arch: Arch, name: &str) -> Lookup {
    if let Some(&(_, nr)) = arch.table().iter().find(|(n, _)| *n == name) {
        Lookup::Nr(nr)
    } else if arch.other().table().iter().any(|(n, _)| *n == name)
        || tables::OTHER_ARCHES.contains(&name)
    {
        Lookup::OtherArch
    } else {
        Lookup::Unknown
    }
}

/// Whether `name` is a syscall on any supported architecture.
pub fn is_known_syscall(name: &str) -> bool {
    tables::X86_64.iter().any(|(n, _)| *n == name)
        || tables::AARCH64.iter().any(|(n, _)| *n == name)
        || tables::OTHER_ARCHES.contains(&name)
}

fn bad(reason: impl Into<String>) -> Error {
    Error::invalid("seccomp", reason)
}

fn condition(c: &super::policy::ArgCmp) -> Result<SeccompCondition> {
    if c.index > 5 {
        return Err(bad(format!(
            "argument index {} is out of range (0 to 5)",
            c.index
        )));
    }
    let op = match c.op {
        CmpOp::Eq => SeccompCmpOp::Eq,
        CmpOp::Ne => SeccompCmpOp::Ne,
        CmpOp::Lt => SeccompCmpOp::Lt,
        CmpOp::Le => SeccompCmpOp::Le,
        CmpOp::Gt => SeccompCmpOp::Gt,
        CmpOp::Ge => SeccompCmpOp::Ge,
        CmpOp::MaskedEq(m) => SeccompCmpOp::MaskedEq(m),
    };
    let len = if c.low32 {
        SeccompCmpArgLen::Dword
    } else {
        SeccompCmpArgLen::Qword
    };
    SeccompCondition::new(c.index, len, op, c.value)
        .map_err(|e| bad(format!("argument comparison: {e}")))
}

/// Per syscall number: `None` = matches unconditionally, `Some(rules)` =
/// matches when one of the rules (a conjunction of conditions) holds.
type Chains = BTreeMap<i64, Option<Vec<SeccompRule>>>;

fn add(chains: &mut Chains, nr: i64, rule: Option<SeccompRule>) {
    let slot = chains.entry(nr).or_insert_with(|| Some(Vec::new()));
    match (slot.as_mut(), rule) {
        (None, _) => {}
        (Some(_), None) => *slot = None,
        (Some(v), Some(r)) => v.push(r),
    }
}

fn to_seccompiler_rules(chains: Chains) -> BTreeMap<i64, Vec<SeccompRule>> {
    chains
        .into_iter()
        .map(|(nr, c)| (nr, c.unwrap_or_default()))
        .collect()
}

fn build(
    chains: Chains,
    mismatch: Action,
    matched: Action,
    arch: Arch,
    what: &str,
) -> Result<BpfProgram> {
    let f = SeccompFilter::new(
        to_seccompiler_rules(chains),
        mismatch.to_seccompiler(),
        matched.to_seccompiler(),
        arch.target(),
    )
    .map_err(|e| bad(format!("{what} filter: {e}")))?;
    let prog: BpfProgram = f.try_into().map_err(|e| match e {
        seccompiler::BackendError::FilterTooLarge(n) => bad(format!(
            "the {what} filter compiles to {n} BPF instructions; the kernel accepts at most \
             {MAX_FILTER_INSNS} per filter (use fewer argument rules)"
        )),
        e => bad(format!("{what} filter: {e}")),
    })?;
    if prog.len() > MAX_FILTER_INSNS {
        return Err(bad(format!(
            "the {what} filter compiles to {} BPF instructions; the kernel accepts at most \
             {MAX_FILTER_INSNS} per filter (use fewer argument rules)",
            prog.len()
        )));
    }
    Ok(prog)
}

const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Kill on a foreign architecture and on x32 syscall numbers.
pub(crate) fn guard(arch: Arch) -> Vec<libc::sock_filter> {
    let kill = libc::SECCOMP_RET_KILL_PROCESS;
    let mut p = vec![
        insn(BPF_LD_W_ABS, 0, 0, OFF_ARCH),
        insn(BPF_JEQ_K, 1, 0, arch.audit()),
        insn(BPF_RET_K, 0, 0, kill),
    ];
    if arch == Arch::X86_64 {
        p.extend([
            insn(BPF_LD_W_ABS, 0, 0, OFF_NR),
            // nr < 0x4000_0000: a native number.
            insn(BPF_JGE_K, 0, 2, X32_SYSCALL_BIT),
            // nr >= 0x8000_0000 (e.g. -1, which the kernel fails with
            // ENOSYS): harmless, allow.
            insn(BPF_JGE_K, 1, 0, 0x8000_0000),
            insn(BPF_RET_K, 0, 0, kill),
        ]);
    }
    p.push(insn(BPF_RET_K, 0, 0, libc::SECCOMP_RET_ALLOW));
    p
}

/// Compile `policy` for `arch` into the filters to install, in order.
pub(crate) fn compile(policy: &SeccompPolicy, arch: Arch) -> Result<Vec<Vec<libc::sock_filter>>> {
    let mut all: Chains = BTreeMap::new();
    let mut by_action: BTreeMap<Action, Chains> = BTreeMap::new();
    for (i, r) in policy.rules.iter().enumerate() {
        let nr = match lookup(arch, &r.syscall) {
            Lookup::Nr(nr) => nr,
            Lookup::OtherArch => continue,
            Lookup::Unknown => {
                return Err(bad(format!(
                    "rule {i}: unknown syscall name {:?}",
                    r.syscall
                )))
            }
        };
        if let Action::Errno(e) = r.action {
            if e > 4095 {
                return Err(bad(format!(
                    "rule {i}: errno {e} is out of range (0 to 4095)"
                )));
            }
        }
        let rule = if r.args.is_empty() {
            None
        } else {
            let conds = r.args.iter().map(condition).collect::<Result<Vec<_>>>()?;
            Some(SeccompRule::new(conds).map_err(|e| bad(format!("rule {i}: {e}")))?)
        };
        add(&mut all, nr, rule.clone());
        if r.action != Action::Allow {
            add(by_action.entry(r.action).or_default(), nr, rule);
        }
    }
    if let Action::Errno(e) = policy.default_action {
        if e > 4095 {
            return Err(bad(format!(
                "default errno {e} is out of range (0 to 4095)"
            )));
        }
    }

    let mut progs = vec![guard(arch)];
    let mut seccompiler_progs = Vec::new();
    if policy.default_action != Action::Allow {
        seccompiler_progs.push(build(
            all,
            policy.default_action,
            Action::Allow,
            arch,
            "default-action",
        )?);
    }
    for (action, chains) in by_action {
        seccompiler_progs.push(build(chains, Action::Allow, action, arch, "rule")?);
    }
    for p in seccompiler_progs {
        progs.push(
            p.into_iter()
                .map(|s| insn(s.code, s.jt, s.jf, s.k))
                .collect(),
        );
    }
    let total: usize = progs.iter().map(|p| p.len() + 4).sum();
    if total > MAX_TOTAL_INSNS {
        return Err(bad(format!(
            "the policy compiles to {total} BPF instructions in {} filters; the kernel \
             accepts at most {MAX_TOTAL_INSNS}",
            progs.len()
        )));
    }
    Ok(progs)
}
