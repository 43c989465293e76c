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
//! namespace), so the box brings the sockets out instead: the box's init
//! (`rsandbox-init`, which lives in the box's network namespace for the
//! box's whole life) holds one end of a `SOCK_SEQPACKET` pair, the
//! *connector*; for each host connection the parent sends it the box port,
//! the init creates a TCP socket in the box's namespace, connects it to
//! `127.0.0.1:port`, and returns the connected fd with `SCM_RIGHTS` (or the
//! errno). The parent then copies bytes both ways on a thread. The init has
//! no capability, is non-dumpable and filters its own system calls down to
//! what this needs. When the box ends, the init is gone, the parent sees EOF
//! on the pair, and the forwarding threads stop.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::ns::Namespace;
use crate::sandbox::Sandbox;

pub use crate::config::net::{HostSide, Publish};

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
        // Ten placeholder digits: the string keeps its room when it is
        // copied into the box's init by exec, which writes the pid there.
        v[LISTEN_PID.len()..LISTEN_PID.len() + 10].fill(b'0');
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
        let pid = unsafe { libc::syscall(libc::SYS_getpid) } as u64;
        // SAFETY: the slot's SLOT_LEN bytes, ours; nothing else reads them
        // while they are written. A pid has at most 10 digits, so they and
        // the NUL fit after the name.
        let digits = unsafe {
            let free = SLOT_LEN - LISTEN_PID.len();
            std::slice::from_raw_parts_mut(self.buf.add(LISTEN_PID.len()), free)
        };
        let n = crate::sys::write_decimal(pid, digits);
        digits[n] = 0;
    }
}

impl Drop for ListenPidSlot {
    fn drop(&mut self) {
        // SAFETY: buf came from Box::into_raw of a SLOT_LEN-byte slice.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.buf, SLOT_LEN)) });
    }
}

/// Everything publishing needs, prepared in the parent: the host listeners
/// (bound now, so a port in use fails before any clone) and the socket pair
/// to the connector.
pub(crate) struct PublishPlan {
    listeners: Vec<(TcpListener, u16)>,
    parent_end: OwnedFd,
    /// The connector's end (CLOEXEC; inherited across the clone).
    child_end: OwnedFd,
}

impl PublishPlan {
    /// `min_fd`: the connector's end is numbered at least that (the child
    /// still holds it after its dup2 calls; see `Plan::min_fd`).
    pub(crate) fn prepare(sb: &Sandbox, min_fd: RawFd) -> Result<Option<PublishPlan>> {
        if sb.published.is_empty() {
            return Ok(None);
        }
        let mut listeners = Vec::with_capacity(sb.published.len());
        for p in &sb.published {
            let l = match &p.host {
                HostSide::Addr(a) => TcpListener::bind(a).map_err(|e| {
                    Error::io(
                        format!("bind {a} to publish box port {}", p.box_port),
                        None,
                        e,
                    )
                })?,
                HostSide::Fd(fd) => {
                    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor we own.
                    let d = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3) };
                    if d < 0 {
                        return Err(Error::last_os(format!("duplicate fd {fd}"), None));
                    }
                    // SAFETY: d is a fresh listening TCP socket (validated).
                    unsafe { TcpListener::from_raw_fd(d) }
                }
            };
            l.set_nonblocking(true)
                .map_err(|e| Error::io("set the published listener nonblocking", None, e))?;
            listeners.push((l, p.box_port));
        }
        let mut sv = [0 as RawFd; 2];
        // SAFETY: socketpair writes two fds into the array.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                sv.as_mut_ptr(),
            )
        };
        if r != 0 {
            return Err(Error::last_os("create the connector socket pair", None));
        }
        // SAFETY: two fresh descriptors we own.
        let (parent_end, child_end) =
            unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) };
        Ok(Some(PublishPlan {
            listeners,
            parent_end,
            child_end: crate::sys::fd::fd_at_least(child_end, min_fd)?,
        }))
    }

    /// The connector's fd, for the child.
    pub(crate) fn connector_fd(&self) -> RawFd {
        self.child_end.as_raw_fd()
    }

    /// After a successful spawn: close our copy of the connector's end and
    /// start one accept thread per published port. The threads end (closing
    /// the host listeners) when the box's connector is gone.
    pub(crate) fn start(self) -> Result<()> {
        drop(self.child_end);
        let conn = Arc::new(Mutex::new(self.parent_end));
        for (l, port) in self.listeners {
            let conn = Arc::clone(&conn);
            std::thread::Builder::new()
                .name(format!("rsandbox-publish-{port}"))
                .spawn(move || accept_loop(l, port, conn))
                .map_err(|e| Error::io("start a port forwarding thread", None, e))?;
        }
        Ok(())
    }
}

/// Accept on the host and forward each connection into the box, until the
/// connector's end of the pair hangs up.
fn accept_loop(l: TcpListener, port: u16, conn: Arc<Mutex<OwnedFd>>) {
    let conn_fd = conn.lock().unwrap_or_else(|p| p.into_inner()).as_raw_fd();
    loop {
        let mut pfds = [
            libc::pollfd {
                fd: l.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: conn_fd,
                events: 0,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds; conn_fd stays open while `conn` lives.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if pfds[1].revents != 0 {
            return; // the box is gone
        }
        let host = match l.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => continue,
        };
        let inner = {
            let g = conn.lock().unwrap_or_else(|p| p.into_inner());
            request(g.as_raw_fd(), port)
        };
        match inner {
            Ok(inner) => {
                let _ = host.set_nonblocking(false);
                splice_both(host, inner);
            }
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => return,
            Err(_) => drop(host), // refused inside the box: close the host side
        }
    }
}

/// Ask the connector for a socket connected to `127.0.0.1:port` in the box.
fn request(conn: RawFd, port: u16) -> io::Result<TcpStream> {
    let req = port.to_ne_bytes();
    // SAFETY: send of a 2-byte stack buffer.
    let n = unsafe { libc::send(conn, req.as_ptr().cast(), req.len(), libc::MSG_NOSIGNAL) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut errno = [0u8; 4];
    let mut iov = libc::iovec {
        iov_base: errno.as_mut_ptr().cast(),
        iov_len: errno.len(),
    };
    let mut cbuf = [0u64; 8]; // aligned room for one SCM_RIGHTS fd
                              // SAFETY: zeroed msghdr pointing at the stack buffers above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    // SAFETY: recvmsg into the buffers described by msg.
    let n = unsafe { libc::recvmsg(conn, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n == 0 {
        return Err(io::Error::from_raw_os_error(libc::EPIPE));
    }
    let mut fd = None;
    // SAFETY: walking the control messages recvmsg filled in.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let p = libc::CMSG_DATA(c).cast::<RawFd>();
                fd = Some(OwnedFd::from_raw_fd(std::ptr::read_unaligned(p)));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    match (i32::from_ne_bytes(errno), fd) {
        (0, Some(fd)) => Ok(TcpStream::from(fd)),
        (0, None) => Err(io::Error::other("the connector sent no socket")),
        (e, _) => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Copy bytes both ways between the host connection and the box socket,
/// one thread per direction; each half-closes its destination at EOF.
fn splice_both(a: TcpStream, b: TcpStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let pump = |mut from: TcpStream, mut to: TcpStream| {
        move || {
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(std::net::Shutdown::Write);
        }
    };
    let _ = std::thread::Builder::new()
        .name("rsandbox-fwd".into())
        .spawn(pump(a, b2));
    let _ = std::thread::Builder::new()
        .name("rsandbox-fwd".into())
        .spawn(pump(b, a2));
}
