//! The seccomp user-notification filter that brings the box's outgoing
//! `connect`/`sendto`/`sendmsg`/`sendmmsg` calls to the gateway, and the
//! gateway's side of it (receive, read the caller's memory, take its socket,
//! answer).
//!
//! The filter is a second line only: the box's network namespace has
//! nothing but `lo`, so a call that escapes it (io_uring, a foreign ABI)
//! reaches nothing outside. That is also why a loopback destination can be
//! let through with `SECCOMP_USER_NOTIF_FLAG_CONTINUE` despite the usual
//! time-of-check race: whatever address the kernel then uses, only the
//! box's own loopback is routable.
//!
//! The listener fd is made by the box's first process when it installs the
//! filter and sent to the gateway with `SCM_RIGHTS` on the egress socket
//! pair. That `sendmsg` would itself be trapped (and wait forever for a
//! listener nobody has yet), so the filter lets `sendmsg` on that one fd
//! number through. The fd is closed right after; a payload that later puts
//! a datagram socket at that number only gets `sendmsg` past the filter to
//! an unroutable address, unreported.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::error::{ChildError, ChildResult, Stage};

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;
const FLAG_WAIT_KILLABLE_RECV: libc::c_ulong = 1 << 5;
const RET_USER_NOTIF: u32 = 0x7fc0_0000;
const RET_ALLOW: u32 = 0x7fff_0000;
/// `SECCOMP_USER_NOTIF_FLAG_CONTINUE`.
const NOTIF_CONTINUE: u32 = 1;
const IOCTL_NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const IOCTL_NOTIF_SEND: libc::c_ulong = 0xc018_2101;
const IOCTL_NOTIF_ID_VALID: libc::c_ulong = 0x4008_2102;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
fn off_arg(i: u32, high: bool) -> u32 {
    16 + 8 * i + if high { 4 } else { 0 }
}

/// A symbolic BPF program: loads, compares with labelled targets, returns.
enum Ins {
    Ld(u32),
    /// `if A == k goto t else goto f` (labels).
    Jeq(u32, u8, u8),
    Ret(u32),
    Label(u8),
}

const NOTIFY: u8 = 1;
const ALLOW: u8 = 2;
const SENDTO: u8 = 3;
const SENDMSG: u8 = 4;
const NEXT: u8 = 0;

/// Assemble: labels become jump offsets (`NEXT` is the next instruction).
fn assemble(prog: &[Ins]) -> Vec<libc::sock_filter> {
    let mut at = [0usize; 8];
    let mut n = 0;
    for i in prog {
        match i {
            Ins::Label(l) => at[*l as usize] = n,
            _ => n += 1,
        }
    }
    let mut out = Vec::with_capacity(n);
    for i in prog {
        let pc = out.len();
        let off = |l: u8| {
            if l == NEXT {
                0
            } else {
                (at[l as usize] - pc - 1) as u8
            }
        };
        match *i {
            Ins::Ld(k) => out.push(bpf(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, k)),
            Ins::Jeq(k, t, f) => out.push(bpf(
                libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
                off(t),
                off(f),
                k,
            )),
            Ins::Ret(k) => out.push(bpf(libc::BPF_RET | libc::BPF_K, 0, 0, k)),
            Ins::Label(_) => {}
        }
    }
    out
}

fn bpf(code: u32, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// The filter: notify on `connect` and `sendmmsg`, on `sendto` with a
/// destination, on `sendmsg` except on fd `exempt`; allow the rest.
pub(crate) fn program(exempt: RawFd) -> Vec<libc::sock_filter> {
    use Ins::*;
    assemble(&[
        Ld(OFF_ARCH),
        Jeq(AUDIT_ARCH, NEXT, ALLOW),
        Ld(OFF_NR),
        Jeq(libc::SYS_connect as u32, NOTIFY, NEXT),
        Jeq(libc::SYS_sendmmsg as u32, NOTIFY, NEXT),
        Jeq(libc::SYS_sendto as u32, SENDTO, NEXT),
        Jeq(libc::SYS_sendmsg as u32, SENDMSG, ALLOW),
        Label(SENDTO),
        // sendto(fd, buf, len, flags, dest, addrlen): no dest, no question.
        Ld(off_arg(4, false)),
        Jeq(0, NEXT, NOTIFY),
        Ld(off_arg(4, true)),
        Jeq(0, ALLOW, NOTIFY),
        Label(SENDMSG),
        Ld(off_arg(0, false)),
        Jeq(exempt as u32, NEXT, NOTIFY),
        Ld(off_arg(0, true)),
        Jeq(0, ALLOW, NOTIFY),
        Label(NOTIFY),
        Ret(RET_USER_NOTIF),
        Label(ALLOW),
        Ret(RET_ALLOW),
    ])
}

/// In the box's first process: install the filter and send its listener to
/// the gateway on `sock` (the exempt fd), then close both. Raw syscalls on
/// the prepared program only.
///
/// # Safety
/// Runs in the cloned child; `filter` is the output of [`program`] for
/// `sock`.
pub(crate) unsafe fn install(filter: &[libc::sock_filter], sock: RawFd) -> ChildResult {
    let prog = libc::sock_fprog {
        len: filter.len() as libc::c_ushort,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    let seccomp = |flags: libc::c_ulong| {
        // SAFETY: the kernel copies the program `prog` describes.
        unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const libc::sock_fprog,
            )
        }
    };
    let mut fd = seccomp(FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV);
    if fd < 0 && crate::sys::errno() == libc::EINVAL {
        // Before Linux 5.19: a signal may interrupt a waiting call, which
        // is then restarted and notified again (handled by the gateway).
        fd = seccomp(FLAG_NEW_LISTENER);
    }
    if fd < 0 {
        return Err(ChildError::last(Stage::Seccomp, EGRESS_DETAIL));
    }
    let fd = fd as RawFd;
    let r = super::boxside::send_fds(sock, &[fd], 0);
    // SAFETY: closing descriptors this process owns.
    unsafe {
        libc::close(fd);
        libc::close(sock);
    }
    r.map_err(|e| ChildError::new(Stage::Seccomp, EGRESS_DETAIL + 1, e))
}

/// Detail of a `Stage::Seccomp` error raised by the egress filter.
pub(crate) const EGRESS_DETAIL: u32 = 100;

/// One notification.
pub(crate) type Notif = libc::seccomp_notif;

/// The gateway's end of the filter.
pub(crate) struct Listener(pub OwnedFd);

impl Listener {
    /// Receive the next notification (blocks; `poll` first).
    pub fn recv(&self) -> io::Result<Notif> {
        // SAFETY: zeroed plain-data struct, as the ioctl requires.
        let mut n: Notif = unsafe { std::mem::zeroed() };
        // SAFETY: RECV fills `n`.
        let r = unsafe { libc::ioctl(self.0.as_raw_fd(), IOCTL_NOTIF_RECV as _, &mut n) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n)
    }

    /// Whether notification `id` is still pending (its task alive and
    /// waiting): checked after reading its memory or taking its fd, so a
    /// recycled pid cannot fool us.
    pub fn valid(&self, id: u64) -> bool {
        // SAFETY: ID_VALID reads the u64.
        unsafe { libc::ioctl(self.0.as_raw_fd(), IOCTL_NOTIF_ID_VALID as _, &id) == 0 }
    }

    fn send(&self, id: u64, val: i64, error: i32, flags: u32) {
        let resp = libc::seccomp_notif_resp {
            id,
            val,
            error,
            flags,
        };
        // SAFETY: SEND reads `resp`; a stale id is refused with ENOENT.
        unsafe { libc::ioctl(self.0.as_raw_fd(), IOCTL_NOTIF_SEND as _, &resp) };
    }

    /// Let the call run as the caller made it.
    pub fn allow(&self, id: u64) {
        self.send(id, 0, 0, NOTIF_CONTINUE);
    }
    /// Make the call return `val`.
    pub fn ret(&self, id: u64, val: i64) {
        self.send(id, val, 0, 0);
    }
    /// Make the call fail with `errno`.
    pub fn fail(&self, id: u64, errno: i32) {
        self.send(id, 0, -errno, 0);
    }
}

/// Read `len` bytes at `addr` in process (thread) `pid`.
pub(crate) fn read_mem(pid: u32, addr: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: len,
    };
    // SAFETY: one local iovec over `buf`; the remote one is only read by
    // the kernel, checked against the target's mappings.
    let n = unsafe { libc::process_vm_readv(pid as libc::pid_t, &local, 1, &remote, 1, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// A copy of fd `fd` of the process whose thread is `tid`.
pub(crate) fn take_fd(tid: u32, fd: i32) -> io::Result<OwnedFd> {
    let pidfd = pidfd_of(tid)?;
    // SAFETY: pidfd_getfd with integer arguments; returns a new fd we own.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// A pidfd for the thread group of `tid` (`pidfd_open` wants a leader, and
/// a notification names the thread that made the call; a non-leader is
/// refused with EINVAL or ENOENT depending on the kernel).
fn pidfd_of(tid: u32) -> io::Result<OwnedFd> {
    let open = |pid: i64| {
        // SAFETY: pidfd_open with integer arguments.
        let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            // SAFETY: a fresh descriptor.
            Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
        }
    };
    match open(tid as i64) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOENT)) => {
            let status = std::fs::read_to_string(format!("/proc/{tid}/status"))?;
            match field(&status, "Tgid:") {
                Some(tgid) if tgid != tid as i64 => open(tgid),
                _ => Err(e),
            }
        }
        r => r,
    }
}

fn field(status: &str, key: &str) -> Option<i64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().last())
        .and_then(|v| v.parse().ok())
}

/// The pid of thread `tid` as seen inside the box (the last `NSpid`).
pub(crate) fn box_pid(tid: u32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    field(&status, "NSpid:").map(|p| p as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run the filter the way the kernel would, for one call.
    fn run(f: &[libc::sock_filter], arch: u32, nr: i64, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&(nr as u32).to_ne_bytes());
        data[4..8].copy_from_slice(&arch.to_ne_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        let mut pc = 0;
        let mut acc = 0u32;
        loop {
            let i = f[pc];
            match i.code as u32 {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                    let k = i.k as usize;
                    acc = u32::from_ne_bytes(data[k..k + 4].try_into().unwrap());
                    pc += 1;
                }
                c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => {
                    pc += 1 + if acc == i.k { i.jt } else { i.jf } as usize;
                }
                c if c == libc::BPF_RET | libc::BPF_K => return i.k,
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn the_filter_notifies_what_it_should() {
        let f = program(77);
        let a = AUDIT_ARCH;
        let n = RET_USER_NOTIF;
        assert_eq!(run(&f, a, libc::SYS_connect, [3, 9, 16, 0, 0, 0]), n);
        assert_eq!(run(&f, a, libc::SYS_sendmmsg, [3; 6]), n);
        assert_eq!(run(&f, a, libc::SYS_sendto, [3, 1, 1, 0, 0, 0]), RET_ALLOW);
        assert_eq!(run(&f, a, libc::SYS_sendto, [3, 1, 1, 0, 0x1000, 16]), n);
        assert_eq!(run(&f, a, libc::SYS_sendto, [3, 1, 1, 0, 1 << 40, 16]), n);
        assert_eq!(run(&f, a, libc::SYS_sendmsg, [3, 1, 0, 0, 0, 0]), n);
        assert_eq!(
            run(&f, a, libc::SYS_sendmsg, [77, 1, 0, 0, 0, 0]),
            RET_ALLOW
        );
        assert_eq!(
            run(&f, a, libc::SYS_sendmsg, [77 | 1 << 32, 1, 0, 0, 0, 0]),
            n
        );
        assert_eq!(run(&f, a, libc::SYS_read, [0; 6]), RET_ALLOW);
        assert_eq!(run(&f, 0x4000_0003, libc::SYS_connect, [0; 6]), RET_ALLOW);
    }
}
