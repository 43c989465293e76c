//! Policy → one BPF filter, in the parent: names resolved per
//! architecture, every value checked, then [`bpf::filter`](super::bpf)
//! generates the code (a search tree on the syscall number; see there why
//! not `seccompiler`'s linear chains). The filter also kills foreign
//! architectures (i386 via `int 0x80`, arm32 compat...) and, on x86_64, any
//! x32 syscall number (`nr | 0x4000_0000`).

use std::collections::BTreeMap;

use super::bpf::{self, Cond, NrRule};
use super::policy::{Action, SeccompPolicy};
use super::tables;
use crate::error::{Error, Result};

/// The kernel's limit on one filter (`BPF_MAXINSNS`).
pub const MAX_FILTER_INSNS: usize = 4096;
/// The kernel's limit on all filters of a task (`MAX_INSNS_PER_PATH`),
/// counting a 4-instruction penalty per filter (a box's filter stacks on
/// any its caller already has).
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
    if let Some(nr) = number(arch, name) {
        Lookup::Nr(nr)
    } else if number(arch.other(), name).is_some() || tables::OTHER_ARCHES.contains(&name) {
        Lookup::OtherArch
    } else {
        Lookup::Unknown
    }
}

/// `name`'s number on `arch`: a binary search of the table sorted by name
/// (made once per process). A linear scan per rule made the default
/// profile's ~390 lookups a measurable part of a one-shot spawn's plan.
/// Where a name is listed twice, the lowest number wins, as a scan of the
/// table (sorted by number) finds it.
fn number(arch: Arch, name: &str) -> Option<i64> {
    use std::sync::OnceLock;
    type Index = OnceLock<Vec<(&'static str, i64)>>;
    static X86_64: Index = OnceLock::new();
    static AARCH64: Index = OnceLock::new();
    let cell = match arch {
        Arch::X86_64 => &X86_64,
        Arch::Aarch64 => &AARCH64,
    };
    let index = cell.get_or_init(|| {
        let mut v = arch.table().to_vec();
        // Stable: equal names keep the table's (number) order.
        v.sort_by(|a, b| a.0.cmp(b.0));
        v
    });
    let i = index.partition_point(|(n, _)| *n < name);
    index.get(i).filter(|(n, _)| *n == name).map(|&(_, nr)| nr)
}

/// Whether `name` is a syscall on any supported architecture.
pub fn is_known_syscall(name: &str) -> bool {
    number(Arch::X86_64, name).is_some()
        || number(Arch::Aarch64, name).is_some()
        || tables::OTHER_ARCHES.contains(&name)
}

fn bad(reason: impl Into<String>) -> Error {
    Error::invalid("seccomp", reason)
}

fn condition(i: usize, c: &super::policy::ArgCmp) -> Result<Cond> {
    if c.index > 5 {
        return Err(bad(format!(
            "rule {i}: argument index {} is out of range (0 to 5)",
            c.index
        )));
    }
    if c.low32 {
        let mask = match c.op {
            super::policy::CmpOp::MaskedEq(m) => m,
            _ => 0,
        };
        if c.value > u64::from(u32::MAX) || mask > u64::from(u32::MAX) {
            return Err(bad(format!(
                "rule {i}: argument {} compares only its low 32 bits, but the value {:#x}                  (or its mask) does not fit in 32 bits",
                c.index, c.value
            )));
        }
    }
    Ok(Cond {
        index: c.index,
        op: c.op,
        value: c.value,
        low32: c.low32,
    })
}

/// `what` names the action in the error (made only then).
fn check_action(a: Action, what: impl FnOnce() -> String) -> Result<()> {
    match a {
        Action::Errno(e) if e > 4095 => Err(bad(format!(
            "{}: errno {e} is out of range (0 to 4095)",
            what()
        ))),
        _ => Ok(()),
    }
}

/// Compile `policy` for `arch` into the filter to install.
pub(crate) fn compile(policy: &SeccompPolicy, arch: Arch) -> Result<Vec<libc::sock_filter>> {
    check_action(policy.default_action, || "default action".into())?;
    let mut by_nr: BTreeMap<u32, Vec<NrRule>> = BTreeMap::new();
    for (i, r) in policy.rules.iter().enumerate() {
        check_action(r.action, || format!("rule {i}"))?;
        let conds = r
            .args
            .iter()
            .map(|c| condition(i, c))
            .collect::<Result<Vec<_>>>()?;
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
        let nr = u32::try_from(nr).map_err(|_| bad(format!("rule {i}: bad number {nr}")))?;
        by_nr.entry(nr).or_default().push(NrRule {
            conds,
            action: r.action,
        });
    }
    if let Some(a) = policy.newer {
        check_action(a, || "newer syscalls' action".into())?;
    }
    let rules: Vec<(u32, Vec<NrRule>)> = by_nr.into_iter().collect();
    // Numbers above the highest the policy names (runc's rule for its
    // -ENOSYS stub); a policy that names none on this architecture has no
    // such bound.
    let newer = policy
        .newer
        .zip(rules.last().map(|(nr, _)| *nr))
        .map(|(a, max)| (max, a));
    let prog = bpf::filter(
        arch.audit(),
        arch == Arch::X86_64,
        policy.default_action,
        newer,
        &rules,
    )?;
    if prog.len() > MAX_FILTER_INSNS {
        return Err(bad(format!(
            "the policy compiles to {} BPF instructions; the kernel accepts at most \
             {MAX_FILTER_INSNS} in one filter (use fewer argument rules)",
            prog.len()
        )));
    }
    Ok(prog)
}
