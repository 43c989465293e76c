//! Thin wrappers over the raw syscalls libc does not wrap (or wraps in a way
//! that is unsafe after clone). Every function here is a single syscall with
//! no allocation, so it may be used in the child between clone and exec.

pub(crate) mod caps;
pub(crate) mod fd;
pub(crate) mod kernel;
pub(crate) mod mount;
pub(crate) mod net;
pub(crate) mod vfork;

use std::io;
use std::os::fd::RawFd;

/// `struct clone_args` for `clone3` (kernel ≥ 5.3; `cgroup` needs ≥ 5.7).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct CloneArgs {
    /// Clone flags (`CLONE_*`).
    pub flags: u64,
    /// Where to store the pidfd (`CLONE_PIDFD`).
    pub pidfd: u64,
    /// Where to store the child's tid (`CLONE_CHILD_SETTID`).
    pub child_tid: u64,
    /// Where to store the child's tid (`CLONE_PARENT_SETTID`).
    pub parent_tid: u64,
    /// Signal sent to the parent on exit.
    pub exit_signal: u64,
    /// Stack (0: share the parent's address layout, like fork).
    pub stack: u64,
    /// Stack size.
    pub stack_size: u64,
    /// TLS.
    pub tls: u64,
    /// Pointer to a pid array (`set_tid`).
    pub set_tid: u64,
    /// Length of `set_tid`.
    pub set_tid_size: u64,
    /// A cgroup2 directory fd (`CLONE_INTO_CGROUP`).
    pub cgroup: u64,
}

/// `CLONE_PIDFD`.
pub const CLONE_PIDFD: u64 = 0x1000;
/// `CLONE_INTO_CGROUP`.
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
/// `P_PIDFD` for `waitid`.
pub const P_PIDFD: libc::idtype_t = 3;

/// `clone3`: returns 0 in the child, the pid in the parent.
///
/// # Safety
/// Forks the calling process; the child must only make raw syscalls on data
/// prepared before the call, then `execve` or `_exit`.
pub unsafe fn clone3(args: &mut CloneArgs) -> io::Result<libc::pid_t> {
    // SAFETY: args points to a valid clone_args of the given size; the
    // caller upholds the post-fork rules.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as libc::pid_t)
    }
}

/// Legacy `clone` used like fork (no new stack), for kernels without
/// `clone3`. With `CLONE_PIDFD` the pidfd is stored in `*pidfd`.
///
/// # Safety
/// As for [`clone3`].
pub unsafe fn clone_legacy(flags: u64, pidfd: *mut libc::c_int) -> io::Result<libc::pid_t> {
    // SAFETY: x86_64/aarch64 argument order is (flags, stack, parent_tid,
    // child_tid, tls); stack 0 means "same stack", as fork does.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags | libc::SIGCHLD as u64,
            0usize,
            pidfd,
            0usize,
            0usize,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as libc::pid_t)
    }
}

/// `pidfd_open(pid, 0)`.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<RawFd> {
    // SAFETY: plain syscall with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as RawFd)
    }
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)`.
pub fn pidfd_send_signal(pidfd: RawFd, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall; a NULL siginfo is allowed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// What `waitid` reported for an exited child.
#[derive(Debug, Clone, Copy)]
pub struct WaitResult {
    /// `CLD_EXITED`, `CLD_KILLED` or `CLD_DUMPED`.
    pub code: i32,
    /// Exit status or signal number.
    pub status: i32,
    /// The child's resource usage, including its waited-for descendants.
    pub rusage: libc::rusage,
}

/// The raw `waitid` syscall, which (unlike the libc wrapper) also returns the
/// child's `rusage`. Returns `None` with `WNOHANG` when nothing exited yet.
pub fn waitid(
    idtype: libc::idtype_t,
    id: libc::id_t,
    options: libc::c_int,
) -> io::Result<Option<WaitResult>> {
    // SAFETY: zeroed siginfo_t and rusage are valid out-parameters.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pointers are to live, correctly typed locals.
        let r = unsafe {
            libc::syscall(
                libc::SYS_waitid,
                idtype,
                id,
                &mut info as *mut libc::siginfo_t,
                options,
                &mut ru as *mut libc::rusage,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        break;
    }
    // SAFETY: waitid filled the siginfo as a SIGCHLD record (or left it
    // zeroed with WNOHANG, detected through si_pid == 0).
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    Ok(Some(WaitResult {
        code: info.si_code,
        status,
        rusage: ru,
    }))
}

/// `close_range(first, last, flags)` (kernel ≥ 5.9; `CLOSE_RANGE_CLOEXEC` ≥ 5.11).
pub fn close_range(first: u32, last: u32, flags: u32) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Close fds `first..=last`: `close_range`, or, when a seccomp filter
/// installed early (without no_new_privs) denies it (profiles older than
/// Linux 5.9 do not list it), `close` on each fd up to the hard
/// RLIMIT_NOFILE (capped at 2^20). Raw syscalls only (safe after fork).
pub fn close_fds(first: u32, last: u32) {
    if close_range(first, last, 0).is_ok() {
        return;
    }
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills a stack struct.
    let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0 {
        rl.rlim_max.min(1 << 20) as u32
    } else {
        1 << 20
    };
    for fd in first..=last.min(max.saturating_sub(1)) {
        // SAFETY: close on an integer; fds not open give EBADF.
        unsafe { libc::close(fd as libc::c_int) };
    }
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, 0, prog)` of `filter` (filters stack:
/// the stricter answer wins). A stack struct pointing into the caller's
/// prepared program: no allocation, usable after clone. Returns 0 or -1.
pub(crate) fn seccomp_set_filter(filter: &[libc::sock_filter]) -> i64 {
    let prog = libc::sock_fprog {
        len: filter.len() as libc::c_ushort,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: the kernel copies `filter.len()` live instructions from `prog`.
    unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0 as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        )
    }
}

/// Write `n` in decimal at the start of `out` (no NUL); the number of
/// digits written. No allocation: for a child between clone and exec.
/// `out` must hold 20 bytes, or as many as `n` has digits.
pub(crate) fn write_decimal(mut n: u64, out: &mut [u8]) -> usize {
    let mut digits = [0u8; 20];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for (o, d) in out.iter_mut().zip(digits[..len].iter().rev()) {
        *o = *d;
    }
    len
}

/// The current thread's errno.
#[inline]
pub fn errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// `_exit` without running any atexit handler or destructor.
#[inline]
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(code) }
}

/// Write all of `buf` to `fd`, retrying on EINTR. Allocation-free.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: buf is a valid slice for reading.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(io::Error::from_raw_os_error(e));
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// Whether `fd` has something to read now (data, EOF or an error: a read
/// would not block). Allocation-free.
pub fn readable(fd: RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no timeout.
    unsafe { libc::poll(&mut pfd, 1, 0) == 1 }
}

/// Read until `buf` is full or EOF, retrying on EINTR; returns bytes read.
/// Allocation-free.
pub fn read_full(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: the tail of buf is valid for writing.
        let n = unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        if n < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(io::Error::from_raw_os_error(e));
        }
        if n == 0 {
            break;
        }
        got += n as usize;
    }
    Ok(got)
}

/// `Err` with the errno and where it happened, for a negative return
/// (std's `cvt` for the child's `ChildResult`): the child path's common
/// check, allocation-free.
pub(crate) fn check(
    r: libc::c_int,
    stage: crate::error::Stage,
    detail: u32,
) -> crate::error::ChildResult {
    if r < 0 {
        Err(crate::error::ChildError::last(stage, detail))
    } else {
        Ok(())
    }
}
