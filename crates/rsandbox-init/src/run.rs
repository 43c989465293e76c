//! The init's life, in order: become non-dumpable, reset what the exec kept
//! (ignored signals), take what the control line names (the payload's seccomp
//! filter, the timing page), fork the payload, shed everything (fds,
//! capabilities, most system calls), then reap and forward signals until the
//! payload ends, and report its status.

use crate::filter;
use crate::proto::{self, command, init_detail, timing_slot, Control, Record};
use crate::sys::{self, sc, syscall6};

/// The payload's seccomp filter, read from its memfd before the fork
/// (`BPF_MAXINSNS` instructions of 8 bytes at most).
static mut FILTER: [u64; 4096] = [0; 4096];

/// Entry point, called by `_start` with the initial stack pointer.
///
/// # Safety
/// `sp` must be the process's initial stack (argc, argv, NULL, envp, NULL).
pub unsafe fn main(sp: *const usize) -> ! {
    // Before anything else: while dumpable, a process of the box's user
    // could open /proc/1/mem. No other process of the box exists yet.
    sys::prctl(sys::PR_SET_DUMPABLE, 0);
    // SAFETY: the kernel's initial stack layout.
    let (argc, argv, envp) = unsafe {
        let argc = *sp;
        let argv = sp.add(1) as *const *const u8;
        (argc, argv, argv.add(argc + 1) as *const *mut u8)
    };
    if argc < 4 {
        sys::exit(proto::SETUP_FAILED);
    }
    // SAFETY: argv[1] is a NUL-terminated string from the kernel.
    let Some(ctl) = Control::decode(unsafe { c_bytes(*argv.add(1)) }) else {
        sys::exit(proto::SETUP_FAILED);
    };
    reset_dispositions();
    let set = blocked_set();
    // SAFETY: a valid sigset of 8 bytes.
    unsafe {
        sc(
            sys::RT_SIGPROCMASK,
            0, /* SIG_BLOCK */
            &set as *const u64 as usize,
            0,
            8,
        )
    };
    let timing =
        map_timing(ctl.timing).unwrap_or_else(|e| init_failed(ctl.err, init_detail::TIMING, e));
    let filter_len = read_filter(ctl.seccomp)
        .unwrap_or_else(|e| init_failed(ctl.err, init_detail::READ_FILTER, e));
    // SAFETY: signalfd4 reads an 8-byte mask.
    let sigfd = unsafe {
        sc(
            sys::SIGNALFD4,
            usize::MAX,
            &set as *const u64 as usize,
            8,
            0x80000,
        )
    };
    if sigfd < 0 {
        init_failed(ctl.err, init_detail::SIGNALFD, sigfd);
    }
    // Named before the fork, so the payload cannot see pid 1 under the
    // memfd's name however soon it runs (its exec renames it).
    sys::prctl(sys::PR_SET_NAME, COMM.as_ptr() as usize);
    // SAFETY: a fork (no new stack, no shared memory): both sides go on with
    // their own copy of this small process.
    let pid = unsafe { sc(sys::CLONE, sys::SIGCHLD as usize, 0, 0, 0) };
    if pid < 0 {
        report(ctl.err, proto::STAGE_INIT_FORK, 0, pid);
        sys::exit(proto::SETUP_FAILED);
    }
    if pid == 0 {
        // SAFETY: argv/envp are the kernel's; the filter was read above.
        unsafe { payload(&ctl, argv, envp, timing, filter_len) }
    }
    shed(&ctl, sigfd as i32);
    // SAFETY: argv is the kernel's, argc entries.
    unsafe { wipe_args(argc, argv) };
    init_loop(pid as i32, ctl.status, sigfd as i32, ctl.connector)
}

/// The init's name (`comm`), NUL-terminated for `PR_SET_NAME`.
const COMM: &[u8] = b"rsandbox-init\0";

/// Report a failure of the init's own set-up and exit.
fn init_failed(err: i32, detail: u32, neg_errno: isize) -> ! {
    report(err, proto::STAGE_INIT, detail, neg_errno);
    sys::exit(proto::SETUP_FAILED)
}

/// The bytes of a C string (without its NUL).
///
/// # Safety
/// `p` points to a NUL-terminated string that outlives the result.
unsafe fn c_bytes<'a>(p: *const u8) -> &'a [u8] {
    let mut n = 0;
    // SAFETY: reads up to the NUL, which the caller guarantees.
    unsafe {
        while *p.add(n) != 0 {
            n += 1;
        }
        core::slice::from_raw_parts(p, n)
    }
}

/// Write an error record for the pipeline (ignored when there is no pipe).
fn report(err: i32, stage: u32, detail: u32, neg_errno: isize) {
    if err < 0 {
        return;
    }
    let rec = Record {
        stage,
        detail,
        errno: (-neg_errno) as i32,
    };
    // SAFETY: Record is repr(C) plain integers.
    let bytes = unsafe {
        core::slice::from_raw_parts(
            (&rec as *const Record).cast::<u8>(),
            core::mem::size_of::<Record>(),
        )
    };
    sys::write_all(err, bytes);
}

/// Every signal back to its default action: an exec keeps ignored signals
/// (the caller's ignored SIGPIPE, say), and the payload must not inherit
/// them.
fn reset_dispositions() {
    let dfl = [0usize; 4]; // struct sigaction: handler SIG_DFL, no flags
    for sig in 1..=64usize {
        if sig == sys::SIGKILL as usize || sig == sys::SIGSTOP as usize {
            continue;
        }
        // SAFETY: a zeroed kernel sigaction; reserved signals give EINVAL.
        unsafe { sc(sys::RT_SIGACTION, sig, dfl.as_ptr() as usize, 0, 8) };
    }
}

/// The forwarded signals and SIGCHLD, as a kernel sigset.
fn blocked_set() -> u64 {
    let mut set = 1u64 << (sys::SIGCHLD - 1);
    for s in proto::FORWARDED {
        set |= 1u64 << (s - 1);
    }
    set
}

/// Map the shared timing page (`None` when timing is off).
fn map_timing(fd: i32) -> Result<Option<*mut u64>, isize> {
    if fd < 0 {
        return Ok(None);
    }
    // SAFETY: a shared mapping of one page of the memfd.
    let p = unsafe { syscall6(sys::MMAP, [0, 4096, 3, 1, fd as usize, 0]) };
    sys::close(fd);
    if (-4095..0).contains(&p) {
        return Err(p);
    }
    Ok(Some(p as *mut u64))
}

/// Record the time in a timing slot.
fn stamp(page: Option<*mut u64>, slot: usize) {
    if let Some(p) = page {
        // SAFETY: the slot lies in the mapped page.
        unsafe { core::ptr::write_volatile(p.add(slot), sys::monotonic_ns()) };
    }
}

/// Read the payload's filter from its memfd (from offset 0: the writer left
/// the file offset at the end); returns its length in instructions (0:
/// none). An empty or torn filter is an error, never "no filter".
fn read_filter(fd: i32) -> Result<usize, isize> {
    if fd < 0 {
        return Ok(0);
    }
    let buf = core::ptr::addr_of_mut!(FILTER).cast::<u8>();
    let cap = 4096 * 8;
    let mut got = 0usize;
    while got < cap {
        // SAFETY: reads into the static buffer, within its size.
        let r = unsafe {
            syscall6(
                sys::PREAD64,
                [fd as usize, buf as usize + got, cap - got, got, 0, 0],
            )
        };
        if r == -sys::EINTR {
            continue;
        }
        if r < 0 {
            return Err(r);
        }
        if r == 0 {
            break;
        }
        got += r as usize;
    }
    sys::close(fd);
    if got == 0 || !got.is_multiple_of(8) {
        return Err(-sys::EINVAL);
    }
    Ok(got / 8)
}

/// The forked payload: set up what exec keeps, then exec.
///
/// # Safety
/// Runs in the freshly forked child; `argv`/`envp` are the init's.
unsafe fn payload(
    ctl: &Control,
    argv: *const *const u8,
    envp: *const *mut u8,
    timing: Option<*mut u64>,
    filter_len: usize,
) -> ! {
    stamp(timing, timing_slot::INIT);
    unblock_signals(ctl.err);
    if ctl.listen_pid {
        // SAFETY: envp is the init's own, writable, NULL-terminated.
        unsafe { fill_listen_pid(envp) };
    }
    sys::close(ctl.status);
    sys::close(ctl.connector);
    // SAFETY: argv[2] is the program, argv[3..] the payload's argv, both
    // NULL-terminated as the kernel laid them out.
    let mut target = unsafe {
        Target {
            program: *argv.add(2),
            argv: argv.add(3),
            envp: envp as *const *const u8,
        }
    };
    let mut err = ctl.err;
    // Before the wait when the library says the filter lets the gate's
    // read, close and write through: a failure is still reported then.
    let filter_first = filter_len > 0 && ctl.gate >= 0 && ctl.filter_before_gate;
    if filter_first {
        install_filter(err, ctl.no_new_privs, filter_len);
    }
    if ctl.gate >= 0 {
        // Setup is done: close what exec would close (the caller's pipes
        // must not stay held while the payload waits), which lets the spawn
        // return, then wait to be started. Nothing can be reported after.
        sys::close(err);
        err = -1;
        target = wait_at_gate(ctl, target);
    } else {
        sys::set_cloexec(err, true);
    }
    if filter_len > 0 && !filter_first {
        install_filter(err, ctl.no_new_privs, filter_len);
    }
    stamp(timing, timing_slot::SECCOMP);
    // SAFETY: the target's strings and arrays are NUL/NULL-terminated (the
    // kernel's, or the gate's message checked by `command::decode`).
    let r = unsafe {
        sc(
            sys::EXECVE,
            target.program as usize,
            target.argv as usize,
            target.envp as usize,
            0,
        )
    };
    if err >= 0 {
        report(err, proto::STAGE_EXEC, 0, r);
    } else {
        // Past the gate nothing reaches the caller: say it on stderr.
        // SAFETY: the program is a NUL-terminated string.
        exec_failed_message(unsafe { c_bytes(target.program) }, r);
    }
    sys::exit(proto::SETUP_FAILED)
}

/// Give the payload the empty signal mask the init's own blocking hid.
fn unblock_signals(err: i32) {
    let empty = 0u64;
    // SAFETY: an 8-byte sigset.
    let r = unsafe {
        sc(
            sys::RT_SIGPROCMASK,
            2, /* SIG_SETMASK */
            &empty as *const u64 as usize,
            0,
            8,
        )
    };
    if r < 0 {
        report(err, proto::STAGE_SIGNALS, 0, r);
        sys::exit(proto::SETUP_FAILED);
    }
}

/// Wait at the gate: for one byte, or for the command to exec instead of
/// `target` with a command gate. The gate is closed after.
fn wait_at_gate(ctl: &Control, mut target: Target) -> Target {
    if ctl.command_gate {
        target = read_command(ctl.gate, target.envp);
    } else {
        let mut go = [0u8; 1];
        if !read_exact(ctl.gate, &mut go) {
            sys::exit(proto::SETUP_FAILED);
        }
    }
    sys::close(ctl.gate);
    target
}

/// What the payload execs: program, argv and environment, each
/// NUL/NULL-terminated.
struct Target {
    program: *const u8,
    argv: *const *const u8,
    envp: *const *const u8,
}

/// A command gate's message (`proto::command`), read into [`COMMAND`].
static mut COMMAND: [u8; command::BODY_MAX] = [0; command::BODY_MAX];
/// The command's argv pointers, into [`COMMAND`].
static mut ARGV: [*const u8; command::ARGS_MAX + 1] = [core::ptr::null(); command::ARGS_MAX + 1];
/// The command's environment pointers, into [`COMMAND`].
static mut ENVP: [*const u8; command::ENV_MAX + 1] = [core::ptr::null(); command::ENV_MAX + 1];

/// Wait at a command gate and read what to exec; EOF (the pool dropped
/// the box) or a malformed message ends the payload (status 127).
fn read_command(gate: i32, box_env: *const *const u8) -> Target {
    let mut len = [0u8; 4];
    if !read_exact(gate, &mut len) {
        sys::exit(proto::SETUP_FAILED);
    }
    let n = u32::from_ne_bytes(len) as usize;
    if n > command::BODY_MAX {
        bad_command();
    }
    // SAFETY: the payload process is single-threaded; these statics are
    // its own and nothing else refers to them.
    let (body, argv, envp) = unsafe {
        (
            &mut (&mut *core::ptr::addr_of_mut!(COMMAND))[..n],
            &mut *core::ptr::addr_of_mut!(ARGV),
            &mut *core::ptr::addr_of_mut!(ENVP),
        )
    };
    if !read_exact(gate, body) {
        sys::exit(proto::SETUP_FAILED);
    }
    let Some(d) = command::decode(body, argv, envp) else {
        bad_command();
    };
    Target {
        program: d.program,
        argv: argv.as_ptr(),
        envp: if d.has_env { envp.as_ptr() } else { box_env },
    }
}

fn bad_command() -> ! {
    sys::write_all(2, b"rsandbox: malformed command at the gate\n");
    sys::exit(proto::SETUP_FAILED)
}

/// Fill `buf` from `fd` (retrying on EINTR); false on EOF or an error.
fn read_exact(fd: i32, buf: &mut [u8]) -> bool {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reads into the rest of `buf`, within its length.
        let r = unsafe {
            sc(
                sys::READ,
                fd as usize,
                buf.as_mut_ptr() as usize + got,
                buf.len() - got,
                0,
            )
        };
        if r == -sys::EINTR {
            continue;
        }
        if r <= 0 {
            return false;
        }
        got += r as usize;
    }
    true
}

/// Install the payload's filter (no_new_privs first when asked).
fn install_filter(err: i32, no_new_privs: bool, len: usize) {
    if no_new_privs {
        let r = sys::prctl(sys::PR_SET_NO_NEW_PRIVS, 1);
        if r < 0 {
            report(err, proto::STAGE_NO_NEW_PRIVS, 0, r);
            sys::exit(proto::SETUP_FAILED);
        }
    }
    // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    let prog: [usize; 2] = [len, core::ptr::addr_of!(FILTER) as usize];
    // SAFETY: the kernel copies `len` instructions from the static buffer.
    let r = unsafe {
        sc(
            sys::SECCOMP,
            1, /* SET_MODE_FILTER */
            0,
            prog.as_ptr() as usize,
            0,
        )
    };
    if r < 0 {
        report(err, proto::STAGE_SECCOMP, 0, r);
        sys::exit(proto::SETUP_FAILED);
    }
}

/// Write this process's pid over the digits of `LISTEN_PID=0000000000`.
///
/// # Safety
/// `envp` is a NULL-terminated array of writable NUL-terminated strings.
unsafe fn fill_listen_pid(envp: *const *mut u8) {
    const KEY: &[u8] = b"LISTEN_PID=";
    // SAFETY: getpid takes nothing.
    let pid = unsafe { sc(sys::GETPID, 0, 0, 0, 0) } as u32;
    let mut digits = [0u8; 10];
    let d = proto::format_u32(pid, &mut digits);
    let mut e = envp;
    // SAFETY: walking the NULL-terminated array; writes stay within each
    // string, whose value was prepared with ten digits of room.
    unsafe {
        while !(*e).is_null() {
            let s = *e;
            let bytes = c_bytes(s);
            if bytes.starts_with(KEY) && bytes.len() >= KEY.len() + d.len() {
                let v = s.add(KEY.len());
                for (i, &b) in d.iter().enumerate() {
                    *v.add(i) = b;
                }
                *v.add(d.len()) = 0;
                return;
            }
            e = e.add(1);
        }
    }
}

/// "rsandbox: exec PROGRAM failed: errno N" on fd 2.
fn exec_failed_message(program: &[u8], neg_errno: isize) {
    let mut digits = [0u8; 10];
    let n = proto::format_u32(neg_errno.unsigned_abs() as u32, &mut digits);
    for part in [
        &b"rsandbox: exec "[..],
        program,
        b" failed: errno ",
        n,
        b"\n",
    ] {
        sys::write_all(2, part);
    }
}

/// After the fork: keep only the status pipe, the signalfd and the
/// connector (the caller's pipes see EOF when the payload is done with
/// them), drop every capability and filter itself.
fn shed(ctl: &Control, sigfd: i32) {
    let mut keep = [ctl.status, sigfd, ctl.connector];
    keep.sort_unstable();
    let mut lo = 0u32;
    for fd in keep {
        if fd < 0 {
            continue;
        }
        if (fd as u32) > lo {
            sys::close_range(lo, fd as u32 - 1);
        }
        lo = fd as u32 + 1;
    }
    sys::close_range(lo, u32::MAX);
    // Whoever reaps the init may have stopped reading the status pipe (an
    // OCI engine after `create`): the write must fail, not kill the init
    // before it exits with the payload's code.
    let ign = [1usize, 0, 0, 0]; // struct sigaction: handler SIG_IGN
                                 // SAFETY: a kernel sigaction for SIGPIPE (13).
    unsafe { sc(sys::RT_SIGACTION, 13, ign.as_ptr() as usize, 0, 8) };
    // struct __user_cap_header_struct (v3, this process) and two zeroed
    // data structs: no capability in any set.
    let hdr: [u32; 2] = [0x2008_0522, 0];
    let data = [0u32; 6];
    // SAFETY: capset reads the header and two data structs.
    unsafe {
        sc(
            sys::CAPSET,
            hdr.as_ptr() as usize,
            data.as_ptr() as usize,
            0,
            0,
        )
    };
    if sys::prctl(sys::PR_SET_NO_NEW_PRIVS, 1) == 0 {
        let prog: [usize; 2] = [filter::LEN, filter::PROGRAM.as_ptr() as usize];
        // SAFETY: the kernel copies the static program. A kernel without
        // seccomp filters leaves the init unfiltered (the box's own filter,
        // which needs them too, would have failed already).
        unsafe { sc(sys::SECCOMP, 1, 0, prog.as_ptr() as usize, 0) };
    }
}

/// Zero the control line and the payload's argv in this process's argument
/// area (the payload has its own copy), so `ps` in the box shows
/// `rsandbox-init` alone.
///
/// # Safety
/// `argv` holds `argc` NUL-terminated strings, laid out by the kernel.
unsafe fn wipe_args(argc: usize, argv: *const *const u8) {
    for i in 1..argc {
        // SAFETY: each argument is a writable NUL-terminated string of the
        // process's argument area.
        unsafe {
            let p = *argv.add(i) as *mut u8;
            let n = c_bytes(p).len();
            core::ptr::write_bytes(p, 0, n);
        }
    }
}

/// Reap every child; forward signals to the payload; serve the connector;
/// when the payload ends, report its wait status and exit as it did (the
/// kernel then kills what is left of the namespace).
fn init_loop(payload: i32, status_w: i32, sigfd: i32, mut connector: i32) -> ! {
    loop {
        reap(payload, status_w);
        // struct pollfd { int fd; short events, revents; } as two ints:
        // on these little-endian targets revents is the high half.
        let mut fds: [i32; 4] = [sigfd, 1 /* POLLIN */, connector, 1];
        let n = if connector >= 0 { 2 } else { 1 };
        // SAFETY: ppoll on `n` pollfds, no timeout, no mask change.
        let r = unsafe { sc(sys::PPOLL, fds.as_mut_ptr() as usize, n, 0, 0) };
        if r < 0 {
            continue;
        }
        if fds[1] >> 16 != 0 {
            forward_signals(payload, sigfd);
        }
        if n == 2 && fds[3] >> 16 != 0 && !connector::serve(connector) {
            sys::close(connector);
            connector = -1;
        }
    }
}

/// Reap what has exited; when it is the payload, report and exit.
fn reap(payload: i32, status_w: i32) {
    loop {
        let mut st: i32 = 0;
        // struct rusage: 18 longs on the supported targets.
        let mut ru = [0i64; 18];
        // SAFETY: wait4 writes the status int and the rusage struct.
        let p = unsafe {
            sc(
                sys::WAIT4,
                usize::MAX,
                &mut st as *mut i32 as usize,
                sys::WNOHANG | sys::WALL,
                ru.as_mut_ptr() as usize,
            )
        };
        if p == payload as isize {
            let head = [ru[0], ru[1], ru[2], ru[3], ru[4]];
            let rec = proto::StatusRecord::from_rusage(st, &head);
            sys::write_all(status_w, &rec.encode());
            sys::exit(proto::exit_code_for(st));
        }
        if p <= 0 {
            return;
        }
    }
}

/// Read pending signals and send each but SIGCHLD on to the payload (our
/// child, not yet reaped: its pid cannot have been reused).
fn forward_signals(payload: i32, sigfd: i32) {
    let mut infos = [0u32; 32 * 8]; // eight signalfd_siginfo of 128 bytes
                                    // SAFETY: reads whole siginfo records into the stack buffer.
    let r = unsafe {
        sc(
            sys::READ,
            sigfd as usize,
            infos.as_mut_ptr() as usize,
            1024,
            0,
        )
    };
    if r <= 0 {
        return;
    }
    for i in 0..(r as usize / 128) {
        let sig = infos[i * 32];
        if sig as i32 != sys::SIGCHLD {
            // SAFETY: kill with integers.
            unsafe { sc(sys::KILL, payload as usize, sig as usize, 0, 0) };
        }
    }
}

/// The published ports' connector (rsandbox's `net.rs` is the other end):
/// for each 2-byte port, a TCP socket connected to `127.0.0.1:port` in the
/// box's network namespace, sent back with `SCM_RIGHTS` (or the errno).
mod connector {
    use crate::sys::{self, sc, syscall6};

    /// Serve one request; false when the other end is gone.
    pub fn serve(conn: i32) -> bool {
        let mut port = [0u8; 2];
        let mut iov = [port.as_mut_ptr() as usize, 2];
        // struct msghdr: name, namelen, iov, iovlen, control, controllen, flags
        let mut msg = [0usize; 7];
        msg[2] = iov.as_mut_ptr() as usize;
        msg[3] = 1;
        // SAFETY: recvmsg into the stack buffers msg describes.
        let n = unsafe { sc(sys::RECVMSG, conn as usize, msg.as_mut_ptr() as usize, 0, 0) };
        if n == -sys::EINTR || n == -sys::EAGAIN {
            return true;
        }
        if n <= 0 {
            return false;
        }
        let (fd, errno) = connect_loopback(u16::from_ne_bytes(port));
        let ok = send_back(conn, fd, errno);
        sys::close(fd);
        ok
    }

    fn connect_loopback(port: u16) -> (i32, i32) {
        // SAFETY: socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0).
        let fd = unsafe { sc(sys::SOCKET, 2, 1 | 0x80000, 0, 0) };
        if fd < 0 {
            return (-1, (-fd) as i32);
        }
        // struct sockaddr_in: family, port (big endian), 127.0.0.1, zeros.
        let mut sa = [0u8; 16];
        sa[0..2].copy_from_slice(&2u16.to_ne_bytes());
        sa[2..4].copy_from_slice(&port.to_be_bytes());
        sa[4..8].copy_from_slice(&[127, 0, 0, 1]);
        loop {
            // SAFETY: connect with a 16-byte sockaddr_in.
            let r = unsafe { sc(sys::CONNECT, fd as usize, sa.as_ptr() as usize, 16, 0) };
            if r == 0 {
                return (fd as i32, 0);
            }
            if r != -sys::EINTR {
                sys::close(fd as i32);
                return (-1, (-r) as i32);
            }
        }
    }

    fn send_back(conn: i32, fd: i32, errno: i32) -> bool {
        let mut payload = errno.to_ne_bytes();
        let mut iov = [payload.as_mut_ptr() as usize, 4];
        // struct cmsghdr { size_t len; int level, type; } + one int, padded.
        let mut cbuf = [0u64; 3];
        let mut msg = [0usize; 7];
        msg[2] = iov.as_mut_ptr() as usize;
        msg[3] = 1;
        if fd >= 0 {
            cbuf[0] = 16 + 4; // CMSG_LEN(sizeof(int))
            cbuf[1] = 1 | (1 << 32); // SOL_SOCKET, SCM_RIGHTS
            cbuf[2] = fd as u32 as u64;
            msg[4] = cbuf.as_mut_ptr() as usize;
            msg[5] = 24; // CMSG_SPACE(sizeof(int))
        }
        // SAFETY: sendmsg of the stack buffers msg describes, MSG_NOSIGNAL.
        let r = unsafe {
            syscall6(
                sys::SENDMSG,
                [conn as usize, msg.as_ptr() as usize, 0x4000, 0, 0, 0],
            )
        };
        r >= 0 || r == -sys::EINTR
    }
}
