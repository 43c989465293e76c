//! The init's own seccomp filter: once the payload is forked, the init needs
//! a dozen system calls; every other call kills it (and so the box), so code
//! a payload might manage to run in the init could do nothing with it.

use crate::sys;

/// `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Insn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;

/// What the init's loop calls (see `run.rs`).
const ALLOWED: [usize; 16] = [
    sys::READ,
    sys::WRITE,
    sys::CLOSE,
    sys::EXIT,
    sys::EXIT_GROUP,
    sys::WAIT4,
    sys::KILL,
    sys::PPOLL,
    sys::RT_SIGPROCMASK,
    sys::RT_SIGRETURN,
    sys::RESTART_SYSCALL,
    // The published ports' connector: a TCP socket to the box's loopback,
    // sent back over its socket pair.
    sys::SOCKET,
    sys::CONNECT,
    sys::SENDMSG,
    sys::RECVMSG,
    sys::CLOCK_GETTIME,
];

const N: usize = ALLOWED.len();
/// Arch load, arch check, kill; number load; one compare per call; kill,
/// allow.
pub const LEN: usize = N + 6;

const fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

/// The program.
pub static PROGRAM: [Insn; LEN] = {
    let mut p = [insn(0, 0, 0, 0); LEN];
    // seccomp_data: nr at offset 0, arch at offset 4. A foreign
    // architecture is killed (x32 numbers, with bit 30 set, match no
    // compare either).
    p[0] = insn(LD_W_ABS, 0, 0, 4);
    p[1] = insn(JEQ_K, 1, 0, sys::AUDIT_ARCH);
    p[2] = insn(RET_K, 0, 0, RET_KILL_PROCESS);
    p[3] = insn(LD_W_ABS, 0, 0, 0);
    let mut j = 0;
    while j < N {
        // On a match, jump over the remaining compares and the kill.
        let skip = (N - j) as u8;
        p[4 + j] = insn(JEQ_K, skip, 0, ALLOWED[j] as u32);
        j += 1;
    }
    p[4 + N] = insn(RET_K, 0, 0, RET_KILL_PROCESS);
    p[5 + N] = insn(RET_K, 0, 0, RET_ALLOW);
    p
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Run the program on (arch, nr) like the kernel would.
    fn eval(arch: u32, nr: u32) -> u32 {
        let mut pc = 0;
        let mut acc = 0;
        loop {
            let i = PROGRAM[pc];
            match i.code {
                LD_W_ABS => acc = if i.k == 4 { arch } else { nr },
                JEQ_K => {
                    pc += if acc == i.k {
                        i.jt as usize
                    } else {
                        i.jf as usize
                    };
                }
                RET_K => return i.k,
                _ => unreachable!(),
            }
            pc += 1;
        }
    }

    #[test]
    fn allows_the_list_and_kills_the_rest() {
        for nr in ALLOWED {
            assert_eq!(eval(sys::AUDIT_ARCH, nr as u32), RET_ALLOW, "nr {nr}");
        }
        for nr in [sys::EXECVE, sys::CLONE, sys::MMAP, 1000, 0x4000_0001] {
            assert_eq!(
                eval(sys::AUDIT_ARCH, nr as u32),
                RET_KILL_PROCESS,
                "nr {nr}"
            );
        }
        assert_eq!(eval(0x4000_0003, sys::READ as u32), RET_KILL_PROCESS);
    }
}
