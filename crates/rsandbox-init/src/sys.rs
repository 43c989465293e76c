//! Raw Linux system calls, without libc: the init is a static program with no
//! C library, so it makes the few calls it needs itself. Each wrapper is one
//! `syscall`/`svc` instruction; results are the kernel's (`-errno` on
//! failure).

/// System call numbers (x86_64).
#[cfg(target_arch = "x86_64")]
#[allow(missing_docs)]
mod nr {
    pub const READ: usize = 0;
    pub const PREAD64: usize = 17;
    pub const WRITE: usize = 1;
    pub const CLOSE: usize = 3;
    pub const MMAP: usize = 9;
    pub const RT_SIGACTION: usize = 13;
    pub const RT_SIGPROCMASK: usize = 14;
    pub const RT_SIGRETURN: usize = 15;
    pub const SOCKET: usize = 41;
    pub const CONNECT: usize = 42;
    pub const SENDMSG: usize = 46;
    pub const RECVMSG: usize = 47;
    pub const CLONE: usize = 56;
    pub const EXECVE: usize = 59;
    pub const EXIT: usize = 60;
    pub const WAIT4: usize = 61;
    pub const KILL: usize = 62;
    pub const FCNTL: usize = 72;
    pub const CAPSET: usize = 126;
    pub const PRCTL: usize = 157;
    pub const GETPID: usize = 39;
    pub const CLOCK_GETTIME: usize = 228;
    pub const EXIT_GROUP: usize = 231;
    pub const PPOLL: usize = 271;
    pub const SIGNALFD4: usize = 289;
    pub const SECCOMP: usize = 317;
    pub const RESTART_SYSCALL: usize = 219;
    pub const CLOSE_RANGE: usize = 436;
}

/// System call numbers (aarch64).
#[cfg(target_arch = "aarch64")]
#[allow(missing_docs)]
mod nr {
    pub const READ: usize = 63;
    pub const PREAD64: usize = 67;
    pub const WRITE: usize = 64;
    pub const CLOSE: usize = 57;
    pub const MMAP: usize = 222;
    pub const RT_SIGACTION: usize = 134;
    pub const RT_SIGPROCMASK: usize = 135;
    pub const RT_SIGRETURN: usize = 139;
    pub const SOCKET: usize = 198;
    pub const CONNECT: usize = 203;
    pub const SENDMSG: usize = 211;
    pub const RECVMSG: usize = 212;
    pub const CLONE: usize = 220;
    pub const EXECVE: usize = 221;
    pub const EXIT: usize = 93;
    pub const WAIT4: usize = 260;
    pub const KILL: usize = 129;
    pub const FCNTL: usize = 25;
    pub const CAPSET: usize = 91;
    pub const PRCTL: usize = 167;
    pub const GETPID: usize = 172;
    pub const CLOCK_GETTIME: usize = 113;
    pub const EXIT_GROUP: usize = 94;
    pub const PPOLL: usize = 73;
    pub const SIGNALFD4: usize = 74;
    pub const SECCOMP: usize = 277;
    pub const RESTART_SYSCALL: usize = 128;
    pub const CLOSE_RANGE: usize = 436;
}

pub use nr::*;

/// `AUDIT_ARCH_*` of this target, for the init's own seccomp filter.
#[cfg(target_arch = "x86_64")]
pub const AUDIT_ARCH: u32 = 0xc000_003e;
/// `AUDIT_ARCH_*` of this target, for the init's own seccomp filter.
#[cfg(target_arch = "aarch64")]
pub const AUDIT_ARCH: u32 = 0xc000_00b7;

/// A system call with up to six arguments.
///
/// # Safety
/// The arguments must be what the kernel expects for `n` (pointers valid for
/// the access the call makes).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn syscall6(n: usize, a: [usize; 6]) -> isize {
    let r: isize;
    // SAFETY: the caller passes valid arguments; `syscall` clobbers only
    // rcx and r11 besides rax.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") n as isize => r,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    r
}

/// A system call with up to six arguments.
///
/// # Safety
/// As for the x86_64 version.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
pub unsafe fn syscall6(n: usize, a: [usize; 6]) -> isize {
    let r: isize;
    // SAFETY: the caller passes valid arguments; `svc 0` preserves every
    // register but x0.
    unsafe {
        core::arch::asm!(
            "svc 0",
            in("x8") n,
            inlateout("x0") a[0] as isize => r,
            in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
            options(nostack),
        );
    }
    r
}

/// Shorthand for calls with fewer arguments.
///
/// # Safety
/// As for [`syscall6`].
#[inline(always)]
pub unsafe fn sc(n: usize, a0: usize, a1: usize, a2: usize, a3: usize) -> isize {
    // SAFETY: forwarded to the caller's contract.
    unsafe { syscall6(n, [a0, a1, a2, a3, 0, 0]) }
}

/// `exit_group(code)`.
pub fn exit(code: i32) -> ! {
    // SAFETY: exit_group takes an integer and does not return.
    unsafe { sc(EXIT_GROUP, code as usize, 0, 0, 0) };
    loop {
        // SAFETY: as above (not reached).
        unsafe { sc(EXIT, code as usize, 0, 0, 0) };
    }
}

/// `close(fd)`, ignoring errors.
pub fn close(fd: i32) {
    if fd >= 0 {
        // SAFETY: close takes an integer.
        unsafe { sc(CLOSE, fd as usize, 0, 0, 0) };
    }
}

/// `close_range(lo, hi, 0)`.
pub fn close_range(lo: u32, hi: u32) {
    if lo <= hi {
        // SAFETY: integers only.
        unsafe { sc(CLOSE_RANGE, lo as usize, hi as usize, 0, 0) };
    }
}

/// Write all of `buf`; false on error.
pub fn write_all(fd: i32, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        // SAFETY: buf is valid for reads of its length.
        let r = unsafe { sc(WRITE, fd as usize, buf.as_ptr() as usize, buf.len(), 0) };
        if r == -EINTR {
            continue;
        }
        if r <= 0 {
            return false;
        }
        buf = &buf[r as usize..];
    }
    true
}

/// `fcntl(fd, F_SETFD, flags)`.
pub fn set_cloexec(fd: i32, on: bool) {
    if fd >= 0 {
        // SAFETY: integers only.
        unsafe { sc(FCNTL, fd as usize, F_SETFD, on as usize, 0) };
    }
}

/// `prctl(option, arg)`.
pub fn prctl(option: usize, arg: usize) -> isize {
    // SAFETY: the prctl options used here take integers.
    unsafe { sc(PRCTL, option, arg, 0, 0) }
}

/// `CLOCK_MONOTONIC` in nanoseconds (0 on failure).
pub fn monotonic_ns() -> u64 {
    let mut ts = [0i64; 2];
    // SAFETY: clock_gettime writes a struct timespec (two longs).
    let r = unsafe { sc(CLOCK_GETTIME, 1, ts.as_mut_ptr() as usize, 0, 0) };
    if r < 0 {
        return 0;
    }
    ts[0] as u64 * 1_000_000_000 + ts[1] as u64
}

/// `EINVAL`.
pub const EINVAL: isize = 22;
/// `EINTR`.
pub const EINTR: isize = 4;
/// `EAGAIN`.
pub const EAGAIN: isize = 11;
/// `F_SETFD`.
pub const F_SETFD: usize = 2;
/// `PR_SET_PDEATHSIG`.
pub const PR_SET_PDEATHSIG: usize = 1;
/// `PR_SET_DUMPABLE`.
pub const PR_SET_DUMPABLE: usize = 4;
/// `PR_SET_NAME`.
pub const PR_SET_NAME: usize = 15;
/// `PR_SET_NO_NEW_PRIVS`.
pub const PR_SET_NO_NEW_PRIVS: usize = 38;
/// `SIGCHLD`.
pub const SIGCHLD: i32 = 17;
/// `SIGKILL`.
pub const SIGKILL: i32 = 9;
/// `SIGSTOP`.
pub const SIGSTOP: i32 = 19;
/// `WNOHANG`.
pub const WNOHANG: usize = 1;
/// `__WALL`.
pub const WALL: usize = 0x4000_0000;
