//! `clone3(CLONE_VM | CLONE_VFORK)` with a stack of the child's own: how a
//! box's first process is made without copying the caller's address space.
//!
//! A fork-like clone copies the caller's page tables, and the child's exec
//! tears its copy down: both cost in proportion to the caller's mapped
//! memory (a strict spawn took 88 ms from a Python caller holding 4 GiB,
//! 2.7 ms from a small one). Sharing the address space until the child execs
//! (as `posix_spawn` and bubblewrap's callers' `vfork` do) makes the cost
//! independent of the caller's size. It is sound under these rules, which
//! [`crate::spawn`] keeps (see `spawn/launcher.rs` for when this path is
//! taken):
//!
//! * The calling thread is suspended (`CLONE_VFORK`) until the child execs
//!   or exits, so the child may use that thread's TLS (`errno`) and the
//!   plan it borrows; it runs on a stack of its own ([`ChildStack`]), never
//!   on the caller's, and never returns into the caller's frames.
//! * The child writes no memory but its stack, its `errno` and the plan's
//!   child-side slots (timing stamps, the fds of mount sources, the
//!   `LISTEN_PID` value), which belong to this one spawn and which the
//!   parent never reads back; it allocates nothing (the guard allocator in
//!   `tests/no_alloc.rs` proves it on this path too) and maps nothing.
//! * Every signal is blocked in the calling thread around the clone, and the
//!   child sets every disposition to default before it unblocks them, so no
//!   handler of the caller ever runs in the child, on the caller's memory.
//! * Nothing the child does may change the shared `mm`: it does not set
//!   itself non-dumpable (that flag lives in the `mm`: the caller would
//!   lose it) and changes no kernel uid or gid (the kernel would reset the
//!   caller's dumpability); it only runs where its ids map to the caller's
//!   own. Until its exec it is the caller's memory under the caller's ids,
//!   which only the caller's own user could already read; the box's first
//!   process after the exec has a fresh `mm`.

use std::ffi::c_void;
use std::io;

use super::CloneArgs;

/// The child's entry point: never returns.
pub(crate) type Entry = unsafe extern "C" fn(*mut c_void) -> !;

/// Whether this architecture has the trampoline below.
pub(crate) const SUPPORTED: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// An anonymous mapping for the child's stack, with a guard page below it.
pub(crate) struct ChildStack {
    base: *mut c_void,
    len: usize,
}

impl ChildStack {
    /// 1 MiB: the setup routine's deepest path (the mount steps, in a debug
    /// build) uses well under it; pages are only touched as used.
    const SIZE: usize = 1 << 20;
    const GUARD: usize = 4096;

    pub(crate) fn new() -> io::Result<ChildStack> {
        let len = Self::SIZE + Self::GUARD;
        // SAFETY: a fresh private anonymous mapping; no existing memory is
        // touched.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = ChildStack { base, len };
        // SAFETY: the lowest page of the mapping we own.
        if unsafe { libc::mprotect(base, Self::GUARD, libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// Point `args` at this stack (the kernel starts the child at its top).
    pub(crate) fn set(&self, args: &mut CloneArgs) {
        args.stack = self.base as u64 + Self::GUARD as u64;
        args.stack_size = Self::SIZE as u64;
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: our own mapping; with CLONE_VFORK the child has exec'd or
        // exited by the time the clone returns, so nothing runs on it.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// Every signal blocked in the calling thread until dropped (then the
/// thread's previous mask is back).
pub(crate) struct SignalsBlocked(libc::sigset_t);

impl SignalsBlocked {
    pub(crate) fn new() -> SignalsBlocked {
        // SAFETY: sigset operations on stack values; pthread_sigmask on the
        // calling thread only.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            SignalsBlocked(old)
        }
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by `new` on the same thread.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
    }
}

/// `clone3(args)`; the child calls `entry(arg)` on the stack `args` names.
/// Returns the child's pid in the parent (after the child's exec or exit,
/// with `CLONE_VFORK`).
///
/// # Safety
/// `args` must carry `CLONE_VM | CLONE_VFORK` and a stack (see
/// [`ChildStack::set`]); `entry` must follow the module's rules and never
/// return; `arg` must stay valid until this returns.
pub(crate) unsafe fn clone3_vm(
    args: &mut CloneArgs,
    entry: Entry,
    arg: *mut c_void,
) -> io::Result<libc::pid_t> {
    let size = std::mem::size_of::<CloneArgs>();
    let args = args as *mut CloneArgs;
    // SAFETY: the syscall reads `args`; in the child (return value 0) the
    // kernel has switched to the new stack, where the trampoline calls
    // `entry`, which never returns; the parent continues as after any
    // syscall (only the listed registers change).
    let r: i64 = unsafe { trampoline(args, size, entry, arg) };
    if r < 0 {
        Err(io::Error::from_raw_os_error(-r as i32))
    } else {
        Ok(r as libc::pid_t)
    }
}

#[cfg(target_arch = "x86_64")]
unsafe fn trampoline(args: *mut CloneArgs, size: usize, entry: Entry, arg: *mut c_void) -> i64 {
    let r: i64;
    // SAFETY: see clone3_vm. The child clears the frame pointer, passes
    // `arg` in rdi and calls `entry` with the 16-byte aligned stack the
    // kernel gave it.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r13",
            "call r12",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 => r,
            in("rdi") args,
            in("rsi") size,
            in("r12") entry,
            in("r13") arg,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack)
        );
    }
    r
}

#[cfg(target_arch = "aarch64")]
unsafe fn trampoline(args: *mut CloneArgs, size: usize, entry: Entry, arg: *mut c_void) -> i64 {
    let r: i64;
    // SAFETY: see clone3_vm (x0 is 0 in the child, which is on its own
    // stack; it clears the frame pointer and calls entry(arg)).
    unsafe {
        std::arch::asm!(
            "svc 0",
            "cbnz x0, 2f",
            "mov x29, xzr",
            "mov x0, x21",
            "blr x20",
            "brk 0",
            "2:",
            inlateout("x0") args => r,
            in("x1") size,
            in("x8") libc::SYS_clone3,
            in("x20") entry,
            in("x21") arg,
            options(nostack)
        );
    }
    r
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
unsafe fn trampoline(_: *mut CloneArgs, _: usize, _: Entry, _: *mut c_void) -> i64 {
    -(libc::ENOSYS as i64)
}
