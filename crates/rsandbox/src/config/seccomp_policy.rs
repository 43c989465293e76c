//! The policy builder: a default action plus per-syscall rules, each with an
//! action and optional argument comparisons. Plain data (serde), compiled to
//! BPF by [`compile`](crate::seccomp::compile).
//!
//! Semantics: a syscall that matches no rule gets the default action. When
//! several rules match one call, the most restrictive action wins (the
//! kernel's precedence: kill-process > kill-thread > trap > errno > log >
//! allow), whatever their order. With [`SeccompPolicy::newer_syscalls`], a
//! syscall numbered above every syscall the policy names (on the
//! architecture it is compiled for) gets that action instead of the
//! default: `ENOSYS` there lets a program fall back from a syscall newer
//! than the policy, as runc arranges for its profiles.

use serde::{Deserialize, Serialize};

/// What the filter does with a syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Let the call through.
    Allow,
    /// Fail the call with this errno (e.g. `libc::EPERM`).
    Errno(u32),
    /// Kill the whole process (`SIGSYS`, reported as a seccomp violation).
    KillProcess,
    /// Kill the calling thread.
    KillThread,
    /// Send `SIGSYS` to the caller (it may handle it).
    Trap,
    /// Let the call through and log it (audit).
    Log,
}

impl Action {
    /// `SECCOMP_RET_ERRNO | EPERM`, the usual denial.
    pub const EPERM: Action = Action::Errno(libc::EPERM as u32);
    /// `SECCOMP_RET_ERRNO | ENOSYS`: "not implemented", so libc falls back.
    pub const ENOSYS: Action = Action::Errno(libc::ENOSYS as u32);
}

/// How an argument is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CmpOp {
    /// `arg == value`
    Eq,
    /// `arg != value`
    Ne,
    /// `arg < value` (unsigned)
    Lt,
    /// `arg <= value` (unsigned)
    Le,
    /// `arg > value` (unsigned)
    Gt,
    /// `arg >= value` (unsigned)
    Ge,
    /// `arg & mask == value`
    MaskedEq(u64),
}

/// One comparison on one syscall argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgCmp {
    /// Argument index, 0 to 5.
    pub index: u8,
    /// The comparison.
    pub op: CmpOp,
    /// The value compared against.
    pub value: u64,
    /// Compare only the low 32 bits (for `int`/`unsigned int` arguments
    /// such as an ioctl request, whose high bits the kernel ignores).
    #[serde(default)]
    pub low32: bool,
}

impl ArgCmp {
    /// `arg[index] <op> value` on all 64 bits.
    pub fn new(index: u8, op: CmpOp, value: u64) -> ArgCmp {
        ArgCmp {
            index,
            op,
            value,
            low32: false,
        }
    }
    /// `arg[index] == value`.
    pub fn eq(index: u8, value: u64) -> ArgCmp {
        ArgCmp::new(index, CmpOp::Eq, value)
    }
    /// `arg[index] != value`.
    pub fn ne(index: u8, value: u64) -> ArgCmp {
        ArgCmp::new(index, CmpOp::Ne, value)
    }
    /// `arg[index] & mask == value`.
    pub fn masked_eq(index: u8, mask: u64, value: u64) -> ArgCmp {
        ArgCmp::new(index, CmpOp::MaskedEq(mask), value)
    }
    /// Compare only the low 32 bits.
    pub fn low32(mut self) -> ArgCmp {
        self.low32 = true;
        self
    }
}

/// One rule: `syscall` with all of `args` matching gets `action`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Syscall name, as in the kernel's tables (`"openat"`).
    pub syscall: String,
    /// What happens when the rule matches.
    pub action: Action,
    /// Comparisons that must all hold (empty: every call matches).
    #[serde(default)]
    pub args: Vec<ArgCmp>,
}

/// A seccomp policy: a default action and rules.
///
/// ```
/// use rsandbox::seccomp::{Action, ArgCmp, SeccompPolicy};
/// let p = SeccompPolicy::new(Action::Allow)
///     .deny("ptrace", libc::EPERM)
///     .rule_if("socket", Action::EPERM, [ArgCmp::eq(0, libc::AF_PACKET as u64)])
///     .rule("reboot", Action::KillProcess);
/// assert_eq!(p.rules().len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeccompPolicy {
    pub(crate) default_action: Action,
    #[serde(default)]
    pub(crate) rules: Vec<Rule>,
    /// The action for syscalls numbered above every one the rules name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) newer: Option<Action>,
    /// Names a loaded profile listed that no syscall table knows (skipped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) skipped: Vec<String>,
}

impl SeccompPolicy {
    /// An empty policy: every syscall gets `default_action`.
    pub fn new(default_action: Action) -> SeccompPolicy {
        SeccompPolicy {
            default_action,
            rules: Vec::new(),
            newer: None,
            skipped: Vec::new(),
        }
    }

    /// Syscalls numbered above every syscall the rules name (on the
    /// architecture the policy is compiled for) get `action` instead of the
    /// default action. `Action::ENOSYS` is the usual choice for a policy
    /// that denies by default: a program trying a syscall newer than the
    /// policy then falls back, as it would on an older kernel (runc does
    /// the same for its profiles). Numbers that are no syscall at all (`-1`)
    /// are above too.
    pub fn newer_syscalls(mut self, action: Action) -> Self {
        self.newer = Some(action);
        self
    }

    /// The action for syscalls newer than the policy, if set
    /// ([`newer_syscalls`](Self::newer_syscalls)).
    pub fn newer_action(&self) -> Option<Action> {
        self.newer
    }

    /// The syscall names a loaded profile listed that no syscall table
    /// here knows (a newer kernel's, or a misspelling): they were skipped,
    /// as runc skips them, and the enforcement report lists them.
    pub fn skipped_syscalls(&self) -> &[String] {
        &self.skipped
    }

    /// `syscall` always gets `action`.
    pub fn rule(self, syscall: impl Into<String>, action: Action) -> Self {
        self.rule_if(syscall, action, [])
    }

    /// `syscall` gets `action` when every comparison in `args` holds.
    pub fn rule_if(
        mut self,
        syscall: impl Into<String>,
        action: Action,
        args: impl IntoIterator<Item = ArgCmp>,
    ) -> Self {
        self.rules.push(Rule {
            syscall: syscall.into(),
            action,
            args: args.into_iter().collect(),
        });
        self
    }

    /// `syscall` is allowed.
    pub fn allow(self, syscall: impl Into<String>) -> Self {
        self.rule(syscall, Action::Allow)
    }

    /// `syscall` fails with `errno`.
    pub fn deny(self, syscall: impl Into<String>, errno: i32) -> Self {
        self.rule(syscall, Action::Errno(errno as u32))
    }

    /// Add a rule.
    pub fn push(&mut self, rule: Rule) {
        self.rules.push(rule);
    }

    /// The default action.
    pub fn default_action(&self) -> Action {
        self.default_action
    }

    /// The rules, in the order added.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether every call of `syscall` is allowed, whatever its arguments:
    /// each rule naming it allows without conditions, and with none the
    /// default action allows.
    pub(crate) fn plainly_allows(&self, syscall: &str) -> bool {
        let mut named = self
            .rules
            .iter()
            .filter(|r| r.syscall == syscall)
            .peekable();
        if named.peek().is_none() {
            return self.default_action == Action::Allow;
        }
        named.all(|r| r.action == Action::Allow && r.args.is_empty())
    }
}
