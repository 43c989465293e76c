//! The template protocol: fixed-size messages on a `SOCK_SEQPACKET` pair,
//! fds carried with `SCM_RIGHTS`. Shared by the caller side
//! ([`super::Template`]) and the payload side ([`super::serve_forks`]).
//!
//! Caller → template: a [`Request`] (the fork's `u64` argument) with three
//! fds, the fork's stdin, stdout and stderr.
//! Template → caller: a [`Reply`]: `READY` once at the ready point,
//! `FORKED` per request (with the child's pidfd) or `FAILED` when the
//! child could not isolate itself, `EXITED` when a forked child has been
//! reaped by the template (its raw wait status).
//! Before all of it the caller queues one `CONFIG` message: whether forks
//! get namespaces, whether requests carry a gate, and the seccomp filter
//! forks stack. `READY`'s `status` echoes the `CONFIG` flags the template
//! understood (a template of the first versions says 0), so a caller
//! learns whether an older `serve_forks` would ignore one it needs.

use std::io;
use std::mem;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Env var that names the template's end of the socket in the payload.
pub const FD_ENV: &str = "RSANDBOX_TEMPLATE_FD";

/// The template reached its ready point.
pub const READY: u32 = 1;
/// A fork was made; a pidfd rides along.
pub const FORKED: u32 = 2;
/// A forked child was reaped; `status` is its wait status.
pub const EXITED: u32 = 3;
/// A fork failed to isolate itself and exited: `pid` carries the failed
/// step ([`super::isolate::Step`]), `status` the errno.
pub const FAILED: u32 = 4;

/// Caller → template, queued before the box starts and read by
/// `serve_forks` before it says `READY`: `u32 CONFIG, u32 flags`, then a
/// seccomp filter (`struct sock_filter`s) each fork stacks, possibly none.
/// Optional: a caller that sends none (one speaking the first version of
/// the protocol) gets plain forks.
pub const CONFIG: u32 = 5;
/// `CONFIG` flag: every fork gets namespaces of its own.
pub const CONFIG_NAMESPACES: u32 = 1;
/// `CONFIG` flag: every request carries a fourth fd, the gate (one end of
/// a socket pair). The fork reads one byte from it before it returns from
/// `serve_forks`, so the caller can move it into a cgroup of its own
/// first; EOF instead of the byte ends the fork ([`wait_gate`]).
pub const CONFIG_GATE: u32 = 2;
/// `CONFIG` flag, with [`CONFIG_NAMESPACES`]: the template box's filter
/// lets the split clone and `unshare` through (see `isolate`), so each
/// fork makes its mount, net, ipc and uts namespaces itself. A template
/// without it (a filter of the caller's own, or a caller of an older
/// version) makes all six in one clone, as before.
pub const CONFIG_SPLIT: u32 = 4;
/// `CONFIG` flag, with [`CONFIG_NAMESPACES`]: the message carries one fd,
/// the description's Landlock ruleset, which each fork applies after
/// making its namespaces (the template box itself runs without it: a
/// Landlock domain would refuse the fork's `/proc` mount and id maps).
/// The fork closes it before it returns from `serve_forks`: a payload
/// holding it could add rules to it, which later forks would get.
pub const CONFIG_LANDLOCK: u32 = 8;
/// `CONFIG` flag, with [`CONFIG_NAMESPACES`]: the template box mounts its
/// own `/proc` with masks, and keeps a read-only proc under it for the
/// forks (see `fs::plan::forks_proc_ops`). Each fork then mounts its
/// `/proc` read-only (the kernel allows no more) and covers the masked
/// entries again with the template box's masks.
pub const CONFIG_PROC: u32 = 16;
/// The `CONFIG` flags this version understands (echoed in `READY`).
pub const CONFIG_KNOWN: u32 =
    CONFIG_NAMESPACES | CONFIG_GATE | CONFIG_SPLIT | CONFIG_LANDLOCK | CONFIG_PROC;
/// Largest `CONFIG` message: the header and a filter of `BPF_MAXINSNS`.
pub const CONFIG_MAX: usize = 8 + 4096 * 8;

/// One message from the template.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
pub struct Reply {
    /// [`READY`], [`FORKED`] or [`EXITED`].
    pub kind: u32,
    /// The forked child's pid (in the template's pid namespace).
    pub pid: i32,
    /// The raw wait status for [`EXITED`]; the understood `CONFIG` flags
    /// for [`READY`].
    pub status: i32,
}

/// Size of a request: the fork's argument.
pub const REQUEST_LEN: usize = 8;

/// Most fds one message carries (stdio and the gate).
const MAX_FDS: usize = 4;

/// Send `bytes` with `fds` attached as `SCM_RIGHTS`.
pub fn send(sock: RawFd, bytes: &[u8], fds: &[RawFd]) -> io::Result<()> {
    assert!(fds.len() <= MAX_FDS);
    let mut cbuf = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: msghdr is plain data; zero is a valid start.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let data_len = mem::size_of_val(fds) as u32;
        // SAFETY: CMSG_SPACE is a pure size computation.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(data_len) } as usize;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        // SAFETY: the control buffer (64 bytes) holds one header and 4 fds;
        // CMSG_FIRSTHDR/CMSG_DATA point inside it.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(data_len) as usize;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(c).cast(), fds.len());
        }
    }
    // SAFETY: msg points at live buffers for the call's duration.
    let n = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receive one message into `bytes`; returns its length (0 at EOF) and
/// the fds that came with it, owned.
pub fn recv(sock: RawFd, bytes: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    recv_with(sock, bytes, 0)
}

/// [`recv`] with extra `MSG_*` flags (`MSG_DONTWAIT`).
pub fn recv_with(sock: RawFd, bytes: &mut [u8], flags: i32) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut cbuf = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: bytes.as_mut_ptr().cast(),
        iov_len: bytes.len(),
    };
    // SAFETY: msghdr is plain data; zero is a valid start.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = mem::size_of_val(&cbuf);
    let n = loop {
        // SAFETY: msg points at live buffers for the call's duration.
        let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC | flags) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    Ok((n, take_fds(&msg)))
}

/// The `SCM_RIGHTS` fds of a received message.
fn take_fds(msg: &libc::msghdr) -> Vec<OwnedFd> {
    let mut fds = Vec::new();
    // SAFETY: walks the control buffer the kernel filled, with the libc
    // macros; each fd received is new and owned by no one else.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let p: *const RawFd = libc::CMSG_DATA(c).cast();
                for i in 0..len / mem::size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(p.add(i).read_unaligned()));
                }
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    fds
}

/// A reply as bytes.
pub fn reply_bytes(r: &Reply) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[0..4].copy_from_slice(&r.kind.to_ne_bytes());
    b[4..8].copy_from_slice(&r.pid.to_ne_bytes());
    b[8..12].copy_from_slice(&r.status.to_ne_bytes());
    b
}

/// A `CONFIG` message as bytes.
pub fn config_bytes(flags: u32, filter: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(8 + filter.len());
    b.extend_from_slice(&CONFIG.to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(filter);
    b
}

/// A `CONFIG` message back into its flags and filter (`None` if it is
/// not one, or the filter is not whole instructions).
pub fn parse_config(b: &[u8]) -> Option<(u32, Vec<libc::sock_filter>)> {
    const INSN: usize = mem::size_of::<libc::sock_filter>();
    let word = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    if b.len() < 8 || word(0) != CONFIG || !(b.len() - 8).is_multiple_of(INSN) {
        return None;
    }
    let filter = b[8..]
        .chunks_exact(INSN)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    Some((word(4), filter))
}

/// Bytes back into a reply (`None` if the length is wrong).
pub fn parse_reply(b: &[u8]) -> Option<Reply> {
    if b.len() != 12 {
        return None;
    }
    let word = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
    Some(Reply {
        kind: u32::from_ne_bytes(word(0)),
        pid: i32::from_ne_bytes(word(4)),
        status: i32::from_ne_bytes(word(8)),
    })
}

/// waitid on a pidfd: the raw wait status (`W*` macros' encoding) that
/// `EXITED` carries.
pub fn reap(pidfd: RawFd) -> i32 {
    // SAFETY: siginfo_t is plain data, filled by waitid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: P_PIDFD (3) with our own child's pidfd.
    let r = unsafe {
        libc::waitid(
            3 as libc::idtype_t,
            pidfd as libc::id_t,
            &mut info,
            libc::WEXITED,
        )
    };
    if r < 0 {
        return 0x7f00; // "stopped" encoding: never a real exit here
    }
    // SAFETY: waitid filled a SIGCHLD siginfo.
    let st = unsafe { info.si_status() };
    match info.si_code {
        libc::CLD_EXITED => (st & 0xff) << 8,
        libc::CLD_DUMPED => st | 0x80,
        _ => st,
    }
}

/// In a fork of a gated template, before it returns to the payload: block
/// until the caller writes the byte that says the fork is in its cgroup,
/// then close the gate. EOF (the caller could not place it, or is gone)
/// ends the fork before any payload code runs. Raw syscalls, no allocation.
pub fn wait_gate(gate: RawFd) {
    let mut b = [0u8; 1];
    // SAFETY: read into a live one-byte buffer; close and _exit are plain
    // syscalls on this process's own fd.
    unsafe {
        let n = loop {
            let n = libc::read(gate, b.as_mut_ptr().cast(), 1);
            if n >= 0 || *libc::__errno_location() != libc::EINTR {
                break n;
            }
        };
        libc::close(gate);
        if n != 1 {
            libc::_exit(127);
        }
    }
}
