//! Classic BPF code generation for seccomp: one filter per policy, with a
//! binary search on the syscall number.
//!
//! Why not a linear chain (what `seccompiler` and libseccomp's default
//! emit): when a filter is attached, the kernel precomputes which syscalls
//! it always allows by *emulating the filter once per syscall number*
//! (`seccomp_cache_prepare`, ~460 numbers on x86_64). A chain of N compares
//! costs ~460 × N emulated instructions at every spawn: measured here, a
//! 362-instruction chain took 370 µs to load and a 176-instruction search
//! tree over the same numbers 56 µs. The search also makes every
//! non-cached syscall cheaper at run time (≈ log₂ N compares instead of N).
//!
//! Layout of a filter:
//!
//! ```text
//! ld arch; jeq AUDIT_ARCH ? +1 : 0; ret KILL_PROCESS     (foreign ABI)
//! ld nr;   [x86_64: x32 numbers → ret KILL_PROCESS]
//! search tree over intervals of numbers → ja <ret or block>
//! one ret per action (default, newer numbers, unconditional rules)
//! blocks: per number with conditions, its rules from the most
//!         restrictive action down: conditions (each jumps to the next
//!         rule when false); ret action ...; ret <default action>
//! ```
//!
//! The tree searches intervals, not numbers: consecutive numbers that end
//! in the same `ret` (an allow-list's runs of allowed syscalls, the gaps
//! between them) are one interval, so the 390-rule allow-list of the
//! default profile compiles to 236 instructions and installs as fast as
//! the 73-rule deny-list it replaced (`benches/examples/seccomp_stage.rs`:
//! ×0.97 in one run).
//!
//! The first rule that matches returns, and rules are sorted by the
//! kernel's action precedence, so the most restrictive matching action
//! wins whatever the rules' order, as [`SeccompPolicy`](super::SeccompPolicy)
//! documents.

use super::policy::{Action, CmpOp};
use crate::error::{Error, Result};

const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_ALU_AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const BPF_JA: u16 = 0x05; // BPF_JMP | BPF_JA
const BPF_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const BPF_JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K

/// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The numbers a search-tree leaf tests one by one.
const LEAF: usize = 4;

/// The return value of an action.
pub(crate) fn ret_value(a: Action) -> u32 {
    match a {
        Action::Allow => libc::SECCOMP_RET_ALLOW,
        Action::Errno(e) => libc::SECCOMP_RET_ERRNO | (e & libc::SECCOMP_RET_DATA),
        Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
        Action::KillThread => libc::SECCOMP_RET_KILL_THREAD,
        Action::Trap => libc::SECCOMP_RET_TRAP,
        Action::Log => libc::SECCOMP_RET_LOG,
    }
}

/// Sort key: lower is more restrictive, by the kernel's precedence (it
/// compares the action bits as a signed number). Between two errno actions
/// the larger errno comes first, so the choice is deterministic.
pub(crate) fn restrictiveness(a: Action) -> (i32, std::cmp::Reverse<u32>) {
    let errno = if let Action::Errno(e) = a { e } else { 0 };
    (
        (ret_value(a) & libc::SECCOMP_RET_ACTION_FULL) as i32,
        std::cmp::Reverse(errno),
    )
}

/// One argument comparison, checked by the compiler.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cond {
    pub index: u8,
    pub op: CmpOp,
    pub value: u64,
    pub low32: bool,
}

/// A rule for one syscall number: all conditions hold → `action`.
#[derive(Debug, Clone)]
pub(crate) struct NrRule {
    pub conds: Vec<Cond>,
    pub action: Action,
}

/// A jump target while the program is assembled.
#[derive(Clone, Copy)]
enum Tgt {
    /// The next instruction.
    Next,
    Label(usize),
}

struct Insn {
    code: u16,
    jt: Tgt,
    jf: Tgt,
    k: u32,
    /// `BPF_JA` whose `k` is the distance to this label.
    ja: Option<usize>,
}

/// A tiny assembler with forward labels.
struct Asm {
    code: Vec<Insn>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    fn new() -> Asm {
        Asm {
            code: Vec::new(),
            labels: Vec::new(),
        }
    }
    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }
    fn bind(&mut self, l: usize) {
        self.labels[l] = Some(self.code.len());
    }
    fn op(&mut self, code: u16, k: u32) {
        self.code.push(Insn {
            code,
            jt: Tgt::Next,
            jf: Tgt::Next,
            k,
            ja: None,
        });
    }
    fn jmp(&mut self, code: u16, k: u32, jt: Tgt, jf: Tgt) {
        self.code.push(Insn {
            code,
            jt,
            jf,
            k,
            ja: None,
        });
    }
    fn ja(&mut self, l: usize) {
        self.code.push(Insn {
            code: BPF_JA,
            jt: Tgt::Next,
            jf: Tgt::Next,
            k: 0,
            ja: Some(l),
        });
    }
    fn ret(&mut self, a: Action) {
        self.op(BPF_RET_K, ret_value(a));
    }
    fn ld(&mut self, off: u32) {
        self.op(BPF_LD_W_ABS, off);
    }

    /// Resolve labels to forward offsets. Conditional jumps reach at most
    /// 255 instructions; the generator only uses them inside one rule or
    /// to skip one instruction, and `ja` (32-bit) for everything else.
    fn finish(self) -> Result<Vec<libc::sock_filter>> {
        let Asm { code, labels } = self;
        let dist = |i: usize, l: usize| -> usize {
            let at = labels[l].expect("every label is bound");
            assert!(at > i, "BPF jumps go forward");
            at - i - 1
        };
        let short = |i: usize, t: Tgt| -> Result<u8> {
            match t {
                Tgt::Next => Ok(0),
                Tgt::Label(l) => u8::try_from(dist(i, l)).map_err(|_| {
                    Error::invalid(
                        "seccomp",
                        "a rule compiles to more than 255 BPF instructions (use fewer argument \
                         comparisons per rule)",
                    )
                }),
            }
        };
        code.iter()
            .enumerate()
            .map(|(i, ins)| {
                let k = match ins.ja {
                    Some(l) => dist(i, l) as u32,
                    None => ins.k,
                };
                Ok(libc::sock_filter {
                    code: ins.code,
                    jt: short(i, ins.jt)?,
                    jf: short(i, ins.jf)?,
                    k,
                })
            })
            .collect()
    }
}

/// Emit code that falls through when `c` holds and jumps to `fail` when it
/// does not. Arguments are 64-bit little-endian words: low half at
/// `16 + 8 i`, high half 4 bytes on.
fn cond(a: &mut Asm, c: &Cond, fail: usize) {
    let lo_off = OFF_ARGS + 8 * u32::from(c.index);
    let hi_off = lo_off + 4;
    let (vlo, vhi) = (c.value as u32, (c.value >> 32) as u32);
    let pass = a.label();
    let f = Tgt::Label(fail);
    let p = Tgt::Label(pass);
    let n = Tgt::Next;
    // The high half first (unless only the low half counts): it decides
    // alone unless it is equal.
    match c.op {
        CmpOp::Eq => {
            if !c.low32 {
                a.ld(hi_off);
                a.jmp(BPF_JEQ_K, vhi, n, f);
            }
            a.ld(lo_off);
            a.jmp(BPF_JEQ_K, vlo, n, f);
        }
        CmpOp::Ne => {
            if !c.low32 {
                a.ld(hi_off);
                a.jmp(BPF_JEQ_K, vhi, n, p);
            }
            a.ld(lo_off);
            a.jmp(BPF_JEQ_K, vlo, f, n);
        }
        CmpOp::MaskedEq(mask) => {
            let (mlo, mhi) = (mask as u32, (mask >> 32) as u32);
            if !c.low32 {
                a.ld(hi_off);
                a.op(BPF_ALU_AND_K, mhi);
                a.jmp(BPF_JEQ_K, vhi, n, f);
            }
            a.ld(lo_off);
            a.op(BPF_ALU_AND_K, mlo);
            a.jmp(BPF_JEQ_K, vlo, n, f);
        }
        CmpOp::Gt | CmpOp::Ge | CmpOp::Lt | CmpOp::Le => {
            // x > v  ⇔ hi > vhi, or hi == vhi and lo > vlo (unsigned);
            // x < v  ⇔ !(x >= v).
            let greater = matches!(c.op, CmpOp::Gt | CmpOp::Ge);
            let (yes, no) = if greater { (p, f) } else { (f, p) };
            if !c.low32 {
                a.ld(hi_off);
                a.jmp(BPF_JGT_K, vhi, yes, n);
                a.jmp(BPF_JEQ_K, vhi, n, no);
            }
            a.ld(lo_off);
            // Gt: lo > vlo; Ge: lo >= vlo; Lt: !(lo >= vlo); Le: !(lo > vlo).
            let code = match c.op {
                CmpOp::Gt | CmpOp::Le => BPF_JGT_K,
                _ => BPF_JGE_K,
            };
            a.jmp(code, vlo, yes, no);
        }
    }
    a.bind(pass);
}

/// Compile one filter for an architecture (`audit`: its `AUDIT_ARCH_*`;
/// `x32`: whether x32 numbers exist and must be killed). `rules` is sorted
/// by number; each number's rules are in any order. `newer`: numbers above
/// this one get this action instead of `default`.
pub(crate) fn filter(
    audit: u32,
    x32: bool,
    default: Action,
    newer: Option<(u32, Action)>,
    rules: &[(u32, Vec<NrRule>)],
) -> Result<Vec<libc::sock_filter>> {
    let mut a = Asm::new();
    arch_check(&mut a, audit, x32);

    // One `ret` per action, shared by the default, the newer numbers and
    // every number whose only rule is unconditional; other numbers get a
    // block of their own.
    let mut rets = SharedRets::default();
    let default_l = rets.label(&mut a, default);
    let mut targets = Vec::with_capacity(rules.len());
    let mut blocks = Vec::new();
    for (i, (_, rs)) in rules.iter().enumerate() {
        match rs.as_slice() {
            [only] if only.conds.is_empty() => targets.push(rets.label(&mut a, only.action)),
            _ => {
                let l = a.label();
                targets.push(l);
                blocks.push((i, l));
            }
        }
    }
    let newer = newer.map(|(above, act)| (above, rets.label(&mut a, act)));
    let (starts, tgts) = intervals(rules, &targets, default_l, newer);
    search(&mut a, &starts, &tgts);

    for &(act, l) in &rets.0 {
        a.bind(l);
        a.ret(act);
    }
    for (i, l) in blocks {
        a.bind(l);
        rule_block(&mut a, &rules[i].1, default);
    }
    a.finish()
}

/// The filter's head: kill a call made under another architecture (its
/// numbers mean other syscalls), and x32 calls where they exist; then load
/// the syscall number for the search.
fn arch_check(a: &mut Asm, audit: u32, x32: bool) {
    let dispatch = a.label();
    a.ld(OFF_ARCH);
    a.jmp(BPF_JEQ_K, audit, Tgt::Label(dispatch), Tgt::Next);
    a.ret(Action::KillProcess);
    a.bind(dispatch);
    a.ld(OFF_NR);
    if x32 {
        // 0x4000_0000 <= nr < 0x8000_0000: an x32 call → kill. Larger
        // numbers (e.g. -1) are no syscall: the default (or newer) action.
        let native = a.label();
        a.jmp(BPF_JGE_K, X32_SYSCALL_BIT, Tgt::Next, Tgt::Label(native));
        a.jmp(BPF_JGE_K, 0x8000_0000, Tgt::Label(native), Tgt::Next);
        a.ret(Action::KillProcess);
        a.bind(native);
    }
}

/// The shared `ret` labels, one per action, in the order first asked for.
#[derive(Default)]
struct SharedRets(Vec<(Action, usize)>);

impl SharedRets {
    /// The label of `act`'s shared `ret`, made on first use.
    fn label(&mut self, a: &mut Asm, act: Action) -> usize {
        match self.0.iter().find(|(x, _)| *x == act) {
            Some(&(_, l)) => l,
            None => {
                let l = a.label();
                self.0.push((act, l));
                l
            }
        }
    }
}

/// One number's block: its rules tried most restrictive first (so the
/// strictest matching rule wins whatever their order in the policy), then
/// the default.
fn rule_block(a: &mut Asm, rules: &[NrRule], default: Action) {
    let mut sorted: Vec<&NrRule> = rules.iter().collect();
    sorted.sort_by_key(|r| restrictiveness(r.action));
    for r in sorted {
        let next = a.label();
        for c in &r.conds {
            cond(a, c, next);
        }
        a.ret(r.action);
        a.bind(next);
        if r.conds.is_empty() {
            break; // always matches: nothing after it can be reached
        }
    }
    a.ret(default);
}

/// The whole number space as intervals: `starts[i]..starts[i + 1]` goes to
/// `targets[i]` (`starts[0]` is 0, the last runs to `u32::MAX`). Numbers
/// with rules are intervals of one; adjacent intervals with the same target
/// merge, so an allow-list of a few hundred syscalls, mostly in runs, is a
/// few dozen intervals.
fn intervals(
    rules: &[(u32, Vec<NrRule>)],
    targets: &[usize],
    default_l: usize,
    newer: Option<(u32, usize)>,
) -> (Vec<u32>, Vec<usize>) {
    let mut starts: Vec<u32> = Vec::new();
    let mut tgts: Vec<usize> = Vec::new();
    let mut push = |start: u32, t: usize| {
        if tgts.last() != Some(&t) {
            starts.push(start);
            tgts.push(t);
        }
    };
    let mut next = 0u64; // first number not yet covered
    for ((nr, _), &t) in rules.iter().zip(targets) {
        if u64::from(*nr) > next {
            push(next as u32, default_l);
        }
        push(*nr, t);
        next = u64::from(*nr) + 1;
    }
    match newer {
        Some((above, t)) => {
            if next <= u64::from(above) {
                push(next as u32, default_l);
            }
            if let Some(first) = above.checked_add(1) {
                push(first, t);
            }
        }
        None if next <= u64::from(u32::MAX) => push(next as u32, default_l),
        None => {}
    }
    (starts, tgts)
}

/// A binary search over sorted interval starts (the accumulator holds the
/// number, which is at least `starts[0]`); jumps to the target of the
/// interval the number falls in.
fn search(a: &mut Asm, starts: &[u32], targets: &[usize]) {
    if starts.len() <= LEAF {
        for i in 0..starts.len() - 1 {
            // below the next start → this interval's target; else on.
            let skip = a.label();
            a.jmp(BPF_JGE_K, starts[i + 1], Tgt::Label(skip), Tgt::Next);
            a.ja(targets[i]);
            a.bind(skip);
        }
        a.ja(targets[starts.len() - 1]);
        return;
    }
    let mid = starts.len() / 2;
    let right = a.label();
    let left = a.label();
    // nr >= starts[mid] → right half (a long jump), else fall into the left.
    a.jmp(BPF_JGE_K, starts[mid], Tgt::Next, Tgt::Label(left));
    a.ja(right);
    a.bind(left);
    search(a, &starts[..mid], &targets[..mid]);
    a.bind(right);
    search(a, &starts[mid..], &targets[mid..]);
}

/// A classic-BPF interpreter for the subset [`filter`] emits, to test the
/// generated code against the policy's meaning.
#[cfg(test)]
pub(crate) fn run(prog: &[libc::sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
    let word = |off: u32| -> u32 {
        match off {
            OFF_NR => nr,
            OFF_ARCH => arch,
            o if (OFF_ARGS..OFF_ARGS + 48).contains(&o) => {
                let i = ((o - OFF_ARGS) / 8) as usize;
                if (o - OFF_ARGS).is_multiple_of(8) {
                    args[i] as u32
                } else {
                    (args[i] >> 32) as u32
                }
            }
            o => panic!("load at {o}"),
        }
    };
    let (mut pc, mut acc) = (0usize, 0u32);
    loop {
        let i = prog[pc];
        pc += 1;
        match i.code {
            BPF_LD_W_ABS => acc = word(i.k),
            BPF_ALU_AND_K => acc &= i.k,
            BPF_RET_K => return i.k,
            BPF_JA => pc += i.k as usize,
            BPF_JEQ_K | BPF_JGT_K | BPF_JGE_K => {
                let t = match i.code {
                    BPF_JEQ_K => acc == i.k,
                    BPF_JGT_K => acc > i.k,
                    _ => acc >= i.k,
                };
                pc += usize::from(if t { i.jt } else { i.jf });
            }
            c => panic!("opcode {c:#x}"),
        }
    }
}
