//! Device rules on cgroup v2: an eBPF program of type
//! `BPF_PROG_TYPE_CGROUP_DEVICE` made from the rules, attached to the box's
//! cgroup2 directory, as runc and crun do on v2 hosts (cgroup v2 has no
//! `devices` controller).
//!
//! The kernel runs the program on each device access of a process in the
//! cgroup (opening a device node to read or write it, `mknod`) with
//! `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`,
//! `access_type` being `access << 16 | type` (type `BPF_DEVCG_DEV_BLOCK` 1,
//! `BPF_DEVCG_DEV_CHAR` 2; access `BPF_DEVCG_ACC_MKNOD` 1, `READ` 2,
//! `WRITE` 4), and refuses the access (`EPERM`) when it returns 0.
//!
//! The program is generated from the rules as [`normalize`]d (the state
//! they leave a v1 `devices` cgroup in: a default and exceptions) and gives
//! the kernel's v1 verdict ([`permits`]): with everything denied by default,
//! one exception must match the device and hold every requested access;
//! with everything allowed, no matching exception may share any requested
//! access. Registers: r2 access, r3 type, r4 major, r5 minor; then one block
//! per exception that jumps to the next block at its first mismatch and
//! returns the exception's verdict otherwise; then the default verdict.
//!
//! Hand-encoded (a dozen opcodes) rather than through an eBPF crate: the
//! loaders on crates.io (aya, libbpf-rs) bring an ELF/BTF loader or the C
//! libbpf for what is one `bpf(2)` call on a few dozen instructions.
//!
//! [`normalize`]: super::devices::normalize
//! [`permits`]: super::devices::permits

use super::bpf::Insn;
use crate::config::devices::DeviceRule;

// Opcodes: class | operation | source (bpf_common.h, bpf.h).
/// `dst = *(u32 *)(src + off)`.
pub(crate) const LDX_W: u8 = 0x61;
/// `dst = src` (64-bit).
pub(crate) const MOV_X: u8 = 0xbf;
/// `dst = imm` (64-bit, imm sign-extended).
pub(crate) const MOV_K: u8 = 0xb7;
/// `dst &= imm` (64-bit, imm sign-extended).
pub(crate) const AND_K: u8 = 0x57;
/// `dst >>= imm` (64-bit, logical).
pub(crate) const RSH_K: u8 = 0x77;
/// `if dst == imm goto +off` (64-bit).
pub(crate) const JEQ_K: u8 = 0x15;
/// `if dst != imm goto +off` (64-bit, imm sign-extended).
pub(crate) const JNE_K: u8 = 0x55;
/// `if dst & imm goto +off` (64-bit, imm sign-extended).
pub(crate) const JSET_K: u8 = 0x45;
/// `if (u32)dst != (u32)imm goto +off` (`BPF_JMP32`, Linux ≥ 5.1).
pub(crate) const JNE32_K: u8 = 0x56;
/// Return r0.
pub(crate) const EXIT: u8 = 0x95;

/// The `bpf_cgroup_dev_ctx` type bits.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

impl Insn {
    fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        let regs = if cfg!(target_endian = "little") {
            src << 4 | dst
        } else {
            dst << 4 | src
        };
        Insn {
            code,
            regs,
            off,
            imm,
        }
    }

    /// The destination register.
    #[cfg(test)]
    pub fn dst(self) -> u8 {
        if cfg!(target_endian = "little") {
            self.regs & 0xf
        } else {
            self.regs >> 4
        }
    }

    /// The source register.
    #[cfg(test)]
    pub fn src(self) -> u8 {
        if cfg!(target_endian = "little") {
            self.regs >> 4
        } else {
            self.regs & 0xf
        }
    }
}

/// The access bits of the context for a subset of `"rwm"`.
pub(crate) fn access_bits(access: &str) -> i32 {
    access
        .chars()
        .map(|c| match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => 0,
        })
        .fold(0, |a, b| a | b)
}

/// A jump to the next block, its offset patched once the block is done.
struct Block {
    insns: Vec<Insn>,
    /// Indexes of the jumps to the next block.
    to_next: Vec<usize>,
}

impl Block {
    fn jump_next(&mut self, code: u8, dst: u8, imm: i32) {
        self.to_next.push(self.insns.len());
        self.insns.push(Insn::new(code, dst, 0, 0, imm));
    }

    /// `goto next` when `reg != n` (32-bit compare for numbers past
    /// `i32::MAX`, which a 64-bit immediate would sign-extend).
    fn number(&mut self, reg: u8, n: Option<u32>) {
        match n {
            None => {}
            Some(n) => match i32::try_from(n) {
                Ok(imm) => self.jump_next(JNE_K, reg, imm),
                Err(_) => self.jump_next(JNE32_K, reg, n as i32),
            },
        }
    }

    /// The instructions, each jump to the next block resolved (offsets
    /// count from the instruction after the jump).
    fn finish(mut self) -> Vec<Insn> {
        let len = self.insns.len();
        for i in self.to_next {
            self.insns[i].off = (len - i - 1) as i16;
        }
        self.insns
    }
}

/// The program for `rules` (any list: it is [`normalize`]d here).
///
/// [`normalize`]: super::devices::normalize
pub(crate) fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    let n = crate::config::devices::normalize(rules);
    let default_allow = n[0].allow;
    let mut p = vec![
        // r2 = access_type; r3 = type (low 16 bits); r2 = access (high 16).
        Insn::new(LDX_W, 2, 1, 0, 0),
        Insn::new(MOV_X, 3, 2, 0, 0),
        Insn::new(AND_K, 3, 0, 0, 0xffff),
        Insn::new(RSH_K, 2, 0, 0, 16),
        Insn::new(LDX_W, 4, 1, 4, 0),
        Insn::new(LDX_W, 5, 1, 8, 0),
    ];
    for ex in &n[1..] {
        let mut b = Block {
            insns: Vec::new(),
            to_next: Vec::new(),
        };
        // The kernel's type match: a type bit of the request that the
        // exception lacks is a mismatch.
        let ex_type = if ex.kind == 'b' { DEV_BLOCK } else { DEV_CHAR };
        b.jump_next(JSET_K, 3, (DEV_BLOCK | DEV_CHAR) & !ex_type);
        let access = access_bits(&ex.access);
        if default_allow {
            // A denial matches when it shares any requested access bit.
            b.insns.push(Insn::new(MOV_X, 0, 2, 0, 0));
            b.insns.push(Insn::new(AND_K, 0, 0, 0, access));
            b.jump_next(JEQ_K, 0, 0);
        } else {
            // An allowance matches when it holds every requested bit.
            b.jump_next(JSET_K, 2, !access);
        }
        b.number(4, ex.major);
        b.number(5, ex.minor);
        b.insns.push(Insn::new(MOV_K, 0, 0, 0, i32::from(ex.allow)));
        b.insns.push(Insn::new(EXIT, 0, 0, 0, 0));
        p.extend(b.finish());
    }
    p.push(Insn::new(MOV_K, 0, 0, 0, i32::from(default_allow)));
    p.push(Insn::new(EXIT, 0, 0, 0, 0));
    p
}

/// What the program enforces, for the enforcement report.
pub(crate) fn describe(rules: &[DeviceRule], insns: usize) -> String {
    let n = crate::config::devices::normalize(rules);
    format!(
        "eBPF BPF_CGROUP_DEVICE program of {insns} instructions: {}",
        crate::config::devices::summary(&n)
    )
}

/// Whether a device program can be loaded here: loads a program that allows
/// everything and closes it. For a caller that must decide ahead whether
/// device rules can be enforced on cgroup v2 (an OCI runtime).
pub(crate) fn probe() -> crate::error::Result<()> {
    super::bpf::load(&program(&[])).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::devices::{normalize, permits};

    /// Run `prog` on a context: an interpreter of exactly the opcodes the
    /// generator emits (anything else panics), with the kernel's semantics.
    fn run(prog: &[Insn], ctx: [u32; 3]) -> u64 {
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 100_000, "no exit");
            let i = prog[pc];
            let (d, s) = (i.dst() as usize, i.src() as usize);
            let imm = i.imm as i64 as u64;
            let mut jump = |taken: bool| {
                if taken {
                    pc = (pc as i64 + i.off as i64) as usize;
                }
            };
            match i.code {
                LDX_W => {
                    assert_eq!(s, 1, "context loads only");
                    r[d] = u64::from(ctx[i.off as usize / 4]);
                }
                MOV_X => r[d] = r[s],
                MOV_K => r[d] = imm,
                AND_K => r[d] &= imm,
                RSH_K => r[d] >>= i.imm,
                JEQ_K => jump(r[d] == imm),
                JNE_K => jump(r[d] != imm),
                JSET_K => jump(r[d] & imm != 0),
                JNE32_K => jump(r[d] as u32 != i.imm as u32),
                EXIT => return r[0],
                c => panic!("opcode {c:#x} not emitted by the generator"),
            }
            pc += 1;
        }
    }

    const ACCESSES: [&str; 7] = ["m", "r", "w", "rm", "wm", "rw", "rwm"];

    /// Compare the program with the v1 verdict over every type and access,
    /// for the numbers the rules name, their neighbours, and others.
    /// Returns the first disagreement.
    fn disagreement(rules: &[DeviceRule], prog: &[Insn]) -> Option<String> {
        let n = normalize(rules);
        let mut nums = vec![0u32, 1, 3, 5, 8, 136, 4095, i32::MAX as u32, u32::MAX - 1];
        for r in &n {
            for x in [r.major, r.minor].into_iter().flatten() {
                nums.extend([x, x.wrapping_add(1), x.wrapping_sub(1)]);
            }
        }
        nums.sort();
        nums.dedup();
        for (kind, ty) in [('b', 1u32), ('c', 2)] {
            for &major in &nums {
                for &minor in &nums {
                    for a in ACCESSES {
                        let ctx = [(access_bits(a) as u32) << 16 | ty, major, minor];
                        let want = permits(&n, kind, major, minor, a);
                        let got = run(prog, ctx);
                        if got != u64::from(want) {
                            return Some(format!(
                                "{kind} {major}:{minor} {a}: program {got}, v1 {want} \
                                 (rules {n:?})"
                            ));
                        }
                    }
                }
            }
        }
        None
    }

    /// Rule lists: hand-picked, then pseudo-random ones.
    fn cases() -> Vec<Vec<DeviceRule>> {
        let c = |ma, mi, a: &str| DeviceRule::allow('c', ma, mi, a);
        let mut v = vec![
            vec![],
            vec![DeviceRule::deny_all()],
            vec![
                DeviceRule::deny_all(),
                c(Some(1), Some(3), "rwm"),
                c(None, None, "m"),
                DeviceRule::allow('b', Some(8), None, "r"),
                c(Some(136), None, "rw"),
            ],
            vec![
                DeviceRule::deny('c', Some(1), Some(5), "w"),
                DeviceRule::deny('b', None, Some(0), "rm"),
                DeviceRule::deny('c', Some(u32::MAX - 1), Some(3_000_000_000), "r"),
            ],
            vec![
                DeviceRule::deny_all(),
                c(Some(3_000_000_000), None, "rw"),
                c(Some(1), Some(u32::MAX), "r"),
            ],
        ];
        // xorshift: deterministic, no dependency.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for _ in 0..60 {
            let len = 1 + next(8);
            let list = (0..len)
                .map(|_| {
                    let kind = ['a', 'b', 'c', 'c'][next(4) as usize];
                    let num = |k: u64| [None, Some(1), Some(3), Some(8)][k as usize];
                    let access = ACCESSES[next(7) as usize];
                    DeviceRule {
                        allow: next(2) == 0,
                        kind,
                        major: num(next(4)),
                        minor: num(next(4)),
                        access: access.into(),
                    }
                })
                .collect();
            v.push(list);
        }
        v
    }

    #[test]
    fn program_gives_the_v1_verdict() {
        for rules in cases() {
            let prog = program(&rules);
            if let Some(d) = disagreement(&rules, &prog) {
                panic!("{d}");
            }
        }
    }

    /// The comparison catches a wrong program: flipping any jump or any
    /// immediate of the exception blocks of a rich rule set changes some
    /// verdict.
    #[test]
    fn the_grid_catches_mutated_programs() {
        for rules in [cases()[2].clone(), cases()[3].clone()] {
            let prog = program(&rules);
            assert!(disagreement(&rules, &prog).is_none());
            let mut caught = 0;
            let mut tried = 0;
            for i in 6..prog.len() - 2 {
                let mut m = prog.to_vec();
                m[i] = match m[i].code {
                    // An allowance of "rwm": its access check never fires
                    // for the kernel's three access bits (it is kept for
                    // exactness), so dropping it changes no verdict.
                    JSET_K if m[i].imm == !7 => continue,
                    JSET_K | JNE_K | JNE32_K | JEQ_K => Insn { off: 0, ..m[i] },
                    AND_K | MOV_K => Insn {
                        imm: m[i].imm ^ 1,
                        ..m[i]
                    },
                    _ => continue,
                };
                tried += 1;
                if disagreement(&rules, &m).is_some() {
                    caught += 1;
                }
            }
            assert_eq!(caught, tried, "{rules:?}");
            // The default verdict too.
            let mut m = prog.clone();
            let last = m.len() - 2;
            m[last].imm ^= 1;
            assert!(disagreement(&rules, &m).is_some());
        }
    }

    #[test]
    fn encoding_and_layout() {
        let p = program(&[
            DeviceRule::deny_all(),
            DeviceRule::allow('c', Some(1), Some(3), "rw"),
        ]);
        // Prologue 6, block of 6 (type, access, major, minor, mov, exit),
        // default 2.
        assert_eq!(p.len(), 14);
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        // r2 = *(u32 *)(r1 + 0): dst 2, src 1.
        assert_eq!(
            (p[0].code, p[0].dst(), p[0].src(), p[0].off),
            (LDX_W, 2, 1, 0)
        );
        // The type check jumps past the rest of the block to the default.
        assert_eq!((p[6].code, p[6].imm, p[6].off), (JSET_K, DEV_BLOCK, 5));
        assert_eq!((p[7].code, p[7].imm, p[7].off), (JSET_K, !6, 4));
        assert_eq!((p[12].code, p[12].imm), (MOV_K, 0));
        assert_eq!(p[13].code, EXIT);
    }
}
