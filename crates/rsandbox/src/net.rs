//! Network services of a box: socket activation (`listen_fd`) and published
//! ports (`publish`).
//!
//! **Socket activation** follows systemd's convention: the listening sockets
//! are fds 3, 4, … in the payload, `LISTEN_FDS` says how many, and
//! `LISTEN_PID` holds the payload's own pid *as seen inside the box* (2 in a
//! PID namespace, where the init is 1). The pid is only known after the last
//! fork, so the parent prepares an environment slot of fixed size and the
//! child writes its pid into it right before `execve`, with no allocation.
//!
//! **Publishing** forwards TCP connections accepted on the host to a port on
//! the box's own loopback, rootless and without a helper binary. A rootless
//! parent cannot enter the box's network namespace (`setns` needs
//! `CAP_SYS_ADMIN` over the namespace's owner *and* in the caller's own user
//! namespace), so the box brings the sockets out instead: before it sets
//! anything else up, the child forks a tiny *connector* that stays in the
//! box's network namespace. It holds one end of a `SOCK_SEQPACKET` pair;
//! for each host connection the parent sends it the box port, the connector
//! creates a TCP socket in the box's namespace, connects it to
//! `127.0.0.1:port`, and returns the connected fd with `SCM_RIGHTS` (or the
//! errno). The parent then copies bytes both ways on a thread. The connector
//! is a fork of the library's process, so it follows the child's rule: raw
//! syscalls on stack data only, no allocation. It drops every capability,
//! makes itself non-dumpable (the payload cannot ptrace it or open its
//! `/proc` files), closes every other fd, and dies with its parent (the box's
//! init). When the box ends, the namespace's init is gone, the connector is
//! killed, the parent sees EOF on the pair, and the forwarding threads stop.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::error::{ChildError, ChildResult, Error, Result, Stage};
use crate::ns::Namespace;
use crate::sandbox::Sandbox;
use crate::sys;

/// Socket activation and port publishing builder methods.
impl Sandbox {
    /// Socket activation: pass the caller's listening socket `fd` into the
    /// box. The n-th call's socket is fd `3 + n - 1` in the payload;
    /// `LISTEN_FDS` and `LISTEN_PID` are set as systemd does, so a server
    /// in an empty network namespace (see [`net_ns`](Self::net_ns)) can
    /// still serve. The caller keeps ownership; `fd` must stay open until
    /// `spawn` returns. Targets of [`pass_fd`](Self::pass_fd) must not
    /// overlap fds 3… used here.
    pub fn listen_fd(mut self, fd: RawFd) -> Self {
        self.listen_fds.push(fd);
        self
    }

    /// Publish box port `box_port`: TCP connections accepted on the host at
    /// `host` are forwarded to `127.0.0.1:box_port` inside the box's network
    /// namespace. `host` is bound at spawn (port 0 is refused: the port
    /// could not be known). Needs [`net_ns`](Self::net_ns) and
    /// [`pid_ns`](Self::pid_ns) (the connector lives and dies with the box's
    /// init). Works rootless.
    pub fn publish(mut self, host: SocketAddr, box_port: u16) -> Self {
        self.published.push(Publish {
            host: HostSide::Addr(host),
            box_port,
        });
        self
    }

    /// Like [`publish`](Self::publish), with a listening TCP socket the
    /// caller made (e.g. bound to port 0 to get a free one). The caller
    /// keeps ownership; `fd` is duplicated at spawn.
    pub fn publish_listener(mut self, fd: RawFd, box_port: u16) -> Self {
        self.published.push(Publish {
            host: HostSide::Fd(fd),
            box_port,
        });
        self
    }
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    /// Where the host accepts connections.
    pub host: HostSide,
    /// The port on the box's loopback they are forwarded to.
    pub box_port: u16,
}

/// The host side of a published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostSide {
    /// An address bound at spawn.
    Addr(SocketAddr),
    /// A listening socket of the caller (borrowed, duplicated at spawn).
    Fd(RawFd),
}

/// The fds the listening sockets take in the box: (caller fd, target).
pub(crate) fn listen_targets(sb: &Sandbox) -> impl Iterator<Item = (RawFd, RawFd)> + '_ {
    sb.listen_fds
        .iter()
        .enumerate()
        .map(|(i, &fd)| (fd, 3 + i as RawFd))
}

fn socket_type(fd: RawFd) -> io::Result<libc::c_int> {
    let mut ty: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt with a correctly sized out-parameter.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut ty as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ty)
}

fn is_listening(fd: RawFd) -> bool {
    let mut on: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt with a correctly sized out-parameter.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut on as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    r == 0 && on != 0
}

/// Checks on `listen_fds` and `published`.
pub(crate) fn validate(sb: &Sandbox) -> Result<()> {
    for &fd in &sb.listen_fds {
        if let Err(e) = socket_type(fd) {
            return Err(Error::invalid(
                "listen_fd",
                format!("fd {fd} is not an open socket ({e})"),
            ));
        }
    }
    let n = sb.listen_fds.len() as RawFd;
    if let Some(&(_, t)) = sb.fds.iter().find(|&&(_, t)| t >= 3 && t < 3 + n) {
        return Err(Error::invalid(
            "pass_fd",
            format!(
                "target fd {t} is taken by a listen_fd socket (fds 3 to {})",
                2 + n
            ),
        ));
    }
    if sb.published.is_empty() {
        return Ok(());
    }
    if !sb.has_ns(Namespace::Net) || !sb.has_ns(Namespace::Pid) {
        return Err(Error::invalid(
            "publish",
            "needs a network and a PID namespace: add net_ns() and pid_ns()",
        ));
    }
    for p in &sb.published {
        if p.box_port == 0 {
            return Err(Error::invalid("publish", "box port 0 is not a port"));
        }
        match &p.host {
            HostSide::Addr(a) if a.port() == 0 => {
                return Err(Error::invalid(
                    "publish",
                    format!(
                        "host address {a}: port 0 cannot be known after binding; \
                         bind a listener yourself and use publish_listener"
                    ),
                ))
            }
            HostSide::Fd(fd) => {
                if socket_type(*fd).ok() != Some(libc::SOCK_STREAM) || !is_listening(*fd) {
                    return Err(Error::invalid(
                        "publish",
                        format!("fd {fd} is not a listening TCP socket"),
                    ));
                }
            }
            HostSide::Addr(_) => {}
        }
    }
    Ok(())
}

/// The environment slot `LISTEN_PID=<pid>` filled in the child right before
/// exec. Its buffer is a raw allocation (freed on drop) rather than part of
/// a `CString`, because the child writes through it.
pub(crate) struct ListenPidSlot {
    buf: *mut u8,
}

const LISTEN_PID: &[u8] = b"LISTEN_PID=";
/// Room for the digits of any pid and the NUL.
const SLOT_LEN: usize = LISTEN_PID.len() + 12;

impl ListenPidSlot {
    pub(crate) fn new() -> ListenPidSlot {
        let mut v = vec![0u8; SLOT_LEN];
        v[..LISTEN_PID.len()].copy_from_slice(LISTEN_PID);
        ListenPidSlot {
            buf: Box::into_raw(v.into_boxed_slice()).cast(),
        }
    }

    /// The C string for `envp`.
    pub(crate) fn as_ptr(&self) -> *const libc::c_char {
        self.buf.cast()
    }

    /// Write the calling process's pid into the slot. Async-signal-safe: a
    /// raw `getpid` and byte stores into the (copy-on-write) buffer.
    ///
    /// # Safety
    /// Only in the cloned child, where nothing else reads the buffer while
    /// it is written.
    pub(crate) unsafe fn fill(&self) {
        // SAFETY: raw getpid (glibc may cache a stale pid after clone).
        let mut pid = unsafe { libc::syscall(libc::SYS_getpid) } as u64;
        let mut digits = [0u8; 20];
        let mut n = 0;
        loop {
            digits[n] = b'0' + (pid % 10) as u8;
            n += 1;
            pid /= 10;
            if pid == 0 {
                break;
            }
        }
        for i in 0..n {
            // SAFETY: LISTEN_PID.len() + n + 1 <= SLOT_LEN (a pid has at
            // most 10 digits); buf points to SLOT_LEN bytes we own.
            unsafe { *self.buf.add(LISTEN_PID.len() + i) = digits[n - 1 - i] };
        }
        // SAFETY: as above.
        unsafe { *self.buf.add(LISTEN_PID.len() + n) = 0 };
    }
}

impl Drop for ListenPidSlot {
    fn drop(&mut self) {
        // SAFETY: buf came from Box::into_raw of a SLOT_LEN-byte slice.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.buf, SLOT_LEN)) });
    }
}
