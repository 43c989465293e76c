//! The gateway: threads of the caller's process that serve one box, from
//! the sockets its first process made (DNS, capture, proxy) and the seccomp
//! listener. It lives as long as the box: it stops when the box's first
//! process exits (or when the [`Child`](crate::Child) reaps it).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::dns::{self};
use super::notify::{self, Listener, Notif};
use super::policy::{canonical, is_loopback, is_unspecified};
use super::shared::{Shared, Target, MAX_CONNS};
use super::violation::{Violation, ViolationKind};

/// Stack of a connection's thread (TLS interception included): small, as
/// a box may hold [`MAX_CONNS`] of them.
const CONN_STACK: usize = 256 << 10;
/// Most DNS lookups of allowed names in flight at once.
const MAX_LOOKUPS: usize = 32;

/// The running gateway of one box.
pub(crate) struct Gateway {
    pub shared: Arc<Shared>,
    /// An eventfd: `stop` adds to it. An eventfd rather than a pipe, whose
    /// write would raise SIGPIPE in the caller's thread once the gateway's
    /// thread has ended and closed the read end.
    stop: Option<OwnedFd>,
    main: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gateway")
    }
}

fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd with integer arguments; a fresh descriptor.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl Gateway {
    /// Start serving the box: `conn` is our end of the egress socket pair
    /// (the box sends its sockets and the seccomp listener on it), `pidfd`
    /// a copy of the box's first process's pidfd (readable when it exits).
    pub fn start(shared: Arc<Shared>, conn: OwnedFd, pidfd: OwnedFd) -> io::Result<Gateway> {
        // Dropping the Gateway (a box that outlives its Child) stops
        // nothing: only `stop`, or the box's end, does.
        let stop = eventfd()?;
        let theirs = stop.try_clone()?;
        let sh = shared.clone();
        let main = std::thread::Builder::new()
            .name("rsandbox-egress".into())
            .spawn(move || {
                block_sigpipe();
                main_loop(sh, conn, pidfd, theirs);
            })?;
        Ok(Gateway {
            shared,
            stop: Some(stop),
            main: Some(main),
        })
    }

    /// Stop every listening thread and wait for them (connections already
    /// accepted run until their ends close); the live iterators end.
    pub fn stop(&mut self) {
        if let Some(e) = self.stop.take() {
            let _ = crate::sys::write_all(e.as_raw_fd(), &1u64.to_ne_bytes());
        }
        if let Some(t) = self.main.take() {
            let _ = t.join();
        }
        self.shared.log.close();
    }
}

/// Block SIGPIPE in this thread (and the threads it starts): `splice` to a
/// socket whose peer is gone raises it (there is no `MSG_NOSIGNAL` for
/// splice), and a C host may not ignore it. Blocked, it stays pending on
/// the thread and is dropped with it.
fn block_sigpipe() {
    // SAFETY: sigset operations on a zeroed stack set; pthread_sigmask
    // changes only this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Receive one message with up to 8 fds; (data byte, fds). None at EOF.
fn recv_fds(sock: RawFd) -> Option<(u8, Vec<OwnedFd>)> {
    let mut data = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: a zeroed msghdr over the stack buffers; the fds received are
    // fresh and ours.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        let n = loop {
            let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break n;
        };
        if n <= 0 {
            return None;
        }
        let mut fds = Vec::new();
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize)
                    / std::mem::size_of::<RawFd>();
                let p = libc::CMSG_DATA(c).cast::<RawFd>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(p.add(i))));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        Some((data[0], fds))
    }
}

/// What one descriptor of the gateway's loop is.
enum Source {
    /// Told to stop (the `Child` reaped the box): the eventfd.
    Stop,
    /// The box's first process exited: the box is over.
    Ended,
    /// The socket pair: the box's sockets, then the seccomp listener.
    Pair(OwnedFd),
    Notify(Listener),
    Dns(UdpSocket),
    Accept(TcpListener, Kind),
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Dns,
    Capture,
    Proxy,
}

/// The gateway's thread: one `poll` over the stop eventfd, the box's pidfd,
/// the socket pair, the seccomp listener and the box's sockets. DNS for
/// denied names and notifications are answered inline (neither blocks);
/// lookups upstream and connections get threads of their own.
fn main_loop(sh: Arc<Shared>, conn: OwnedFd, pidfd: OwnedFd, stop: OwnedFd) {
    let mut srcs: Vec<(RawFd, Source)> = vec![
        (stop.as_raw_fd(), Source::Stop),
        (pidfd.as_raw_fd(), Source::Ended),
        (conn.as_raw_fd(), Source::Pair(conn)),
    ];
    let mut udp = None;
    loop {
        let pfds = match poll_sources(&srcs) {
            Ok(p) => p,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let Some(pass) = serve_ready(&sh, &srcs, &pfds, udp.as_ref()) else {
            return;
        };
        for i in pass.gone.into_iter().rev() {
            srcs.remove(i);
        }
        for s in pass.added {
            if let Source::Dns(u) = &s {
                udp = u.try_clone().ok();
            }
            let fd = match &s {
                Source::Notify(l) => l.0.as_raw_fd(),
                Source::Dns(u) => u.as_raw_fd(),
                Source::Accept(l, _) => l.as_raw_fd(),
                _ => continue,
            };
            srcs.push((fd, s));
        }
    }
}

/// Wait (without a timeout: the stop eventfd and the pidfd end it) until
/// a source is readable; their pollfds, in the order of `srcs`.
fn poll_sources(srcs: &[(RawFd, Source)]) -> io::Result<Vec<libc::pollfd>> {
    let mut pfds: Vec<libc::pollfd> = srcs
        .iter()
        .map(|(fd, _)| libc::pollfd {
            fd: *fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: a valid array of pollfds.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, -1) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pfds)
}

/// What a pass over the ready sources changes in the poll set: sources
/// the box's messages brought, and indices of sources that ended.
struct Pass {
    added: Vec<Source>,
    gone: Vec<usize>,
}

/// Serve every ready source once. `None` when the gateway must stop (asked
/// to, or the box ended), after answering the DNS queries already sent
/// on `udp`.
fn serve_ready(
    sh: &Arc<Shared>,
    srcs: &[(RawFd, Source)],
    pfds: &[libc::pollfd],
    udp: Option<&UdpSocket>,
) -> Option<Pass> {
    let mut pass = Pass {
        added: Vec::new(),
        gone: Vec::new(),
    };
    for (i, p) in pfds.iter().enumerate() {
        if p.revents == 0 {
            continue;
        }
        match &srcs[i].1 {
            Source::Stop | Source::Ended => {
                // Answer what the box already asked, then stop.
                if let Some(u) = udp {
                    drain_dns(sh, u);
                }
                return None;
            }
            Source::Pair(c) => match recv_fds(c.as_raw_fd()) {
                Some((flag, fds)) => pass.added.extend(box_sockets(sh, flag, fds)),
                None => pass.gone.push(i),
            },
            Source::Notify(l) => {
                if p.revents & libc::POLLIN == 0 {
                    pass.gone.push(i);
                    continue;
                }
                match l.recv() {
                    Ok(n) => on_notif(sh, l, &n),
                    Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::ENOENT)) => {}
                    Err(_) => pass.gone.push(i),
                }
            }
            Source::Dns(u) => {
                let _ = dns_one(sh, u);
            }
            Source::Accept(l, kind) => accept_one(sh, l, *kind),
        }
    }
    Some(pass)
}

/// The sources a message on the socket pair brings: the box's sockets
/// (first message, see `boxside`), or the seccomp listener (second).
fn box_sockets(sh: &Shared, has_v6: u8, mut fds: Vec<OwnedFd>) -> Vec<Source> {
    if fds.len() == 1 {
        return vec![Source::Notify(Listener(fds.remove(0)))];
    }
    if fds.len() < 4 {
        return Vec::new();
    }
    let v6 = (has_v6 == 1 && fds.len() > 4).then(|| fds.pop()).flatten();
    let mut it = fds.into_iter();
    let (Some(udp), Some(dns_tcp), Some(cap4), Some(proxy)) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Vec::new();
    };
    let cap4 = TcpListener::from(cap4);
    *sh.capture4.lock().unwrap_or_else(|p| p.into_inner()) = cap4.local_addr().ok();
    let mut out = vec![
        Source::Dns(UdpSocket::from(udp)),
        Source::Accept(TcpListener::from(dns_tcp), Kind::Dns),
        Source::Accept(cap4, Kind::Capture),
        Source::Accept(TcpListener::from(proxy), Kind::Proxy),
    ];
    if let Some(l) = v6.map(TcpListener::from) {
        *sh.capture6.lock().unwrap_or_else(|p| p.into_inner()) = l.local_addr().ok();
        out.push(Source::Accept(l, Kind::Capture));
    }
    for s in &out {
        if let Source::Dns(u) = s {
            let _ = u.set_nonblocking(true);
        }
        if let Source::Accept(l, _) = s {
            let _ = l.set_nonblocking(true);
        }
    }
    out
}

/// Accept one connection and serve it on a thread of its own.
fn accept_one(sh: &Arc<Shared>, l: &TcpListener, kind: Kind) {
    let Ok((s, peer)) = l.accept() else { return };
    let _ = s.set_nonblocking(false);
    let Some(slot) = sh.slot() else {
        sh.record(
            Violation::new(
                ViolationKind::Limit,
                format!("more than {MAX_CONNS} connections at once"),
            )
            .port(peer.port()),
        );
        return super::relay::reset(s);
    };
    let sh2 = sh.clone();
    let _ = std::thread::Builder::new()
        .name("rsandbox-egress-conn".into())
        .stack_size(CONN_STACK)
        .spawn(move || {
            let _slot = slot;
            match kind {
                Kind::Dns => dns_tcp_conn(&sh2, s),
                Kind::Capture => super::conn::captured(&sh2, s, peer),
                Kind::Proxy => super::conn::proxy(&sh2, s),
            }
        });
}

/// Answer every query waiting on `sock` (the box's last ones, at its end).
fn drain_dns(sh: &Arc<Shared>, sock: &UdpSocket) {
    while dns_one(sh, sock) {}
}

/// Take one query off `sock` and answer it: at once for a denied name, on
/// a lookup thread (bounded) for an allowed one. False when none waited.
fn dns_one(sh: &Arc<Shared>, sock: &UdpSocket) -> bool {
    let mut buf = [0u8; 4096];
    let Ok((n, from)) = sock.recv_from(&mut buf) else {
        return false;
    };
    let packet = buf[..n].to_vec();
    let Ok(reply_sock) = sock.try_clone() else {
        return true;
    };
    let answer = {
        let sh = sh.clone();
        move || {
            if let Some(reply) = dns_answer(&sh, &packet) {
                let _ = reply_sock.send_to(&reply, from);
            }
        }
    };
    let needs_lookup =
        super::dns::query_name(&buf[..n]).is_some_and(|name| sh.rules().name_allowed(&name));
    if !needs_lookup || sh.lookups.fetch_add(1, Ordering::AcqRel) >= MAX_LOOKUPS {
        if needs_lookup {
            sh.lookups.fetch_sub(1, Ordering::AcqRel);
        }
        answer();
        return true;
    }
    let sh2 = sh.clone();
    let spawned = std::thread::Builder::new()
        .name("rsandbox-egress-lookup".into())
        .spawn(move || {
            answer();
            sh2.lookups.fetch_sub(1, Ordering::AcqRel);
        });
    if spawned.is_err() {
        sh.lookups.fetch_sub(1, Ordering::AcqRel);
    }
    true
}

/// The reply to one DNS query packet, recording a violation for a denied
/// name.
fn dns_answer(sh: &Shared, packet: &[u8]) -> Option<Vec<u8>> {
    let (reply, denied) = dns::respond(packet, |n| sh.decide(n))?;
    if let Some(name) = denied {
        sh.record(
            Violation::new(
                ViolationKind::Dns,
                "no rule allows this name: NXDOMAIN, not forwarded",
            )
            .name(name)
            .port(53),
        );
    }
    Some(reply)
}

/// DNS over TCP: 2-byte length-prefixed messages until the box closes.
fn dns_tcp_conn(sh: &Shared, mut s: TcpStream) {
    use std::io::{Read, Write};
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(30)));
    loop {
        let mut len = [0u8; 2];
        if s.read_exact(&mut len).is_err() {
            return;
        }
        let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
        if s.read_exact(&mut q).is_err() {
            return;
        }
        let Some(r) = dns_answer(sh, &q) else { return };
        let mut out = (r.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(&r);
        if s.write_all(&out).is_err() {
            return;
        }
    }
}

/// A socket address read from the box's memory.
fn parse_sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes(b.get(0..2)?.try_into().ok()?) as i32;
    let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
    match family {
        libc::AF_INET => {
            let a: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), port))
        }
        libc::AF_INET6 => {
            let a: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(a)), port))
        }
        _ => None,
    }
}

fn sockopt(fd: RawFd, level: libc::c_int, opt: libc::c_int) -> Option<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = 4 as libc::socklen_t;
    // SAFETY: getsockopt into a correctly sized int.
    let r = unsafe {
        libc::getsockopt(
            fd,
            level,
            opt,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(v)
}

/// The destination address a trapped connect/sendto/sendmsg/sendmmsg
/// names, read from the box's memory (at most 128 bytes); `None` when
/// unreadable or for another call.
fn notif_dest(n: &Notif) -> Option<Vec<u8>> {
    let a = n.data.args;
    let nr = n.data.nr as libc::c_long;
    if nr == libc::SYS_connect {
        notify::read_mem(n.pid, a[1], (a[2] as usize).min(128)).ok()
    } else if nr == libc::SYS_sendto {
        notify::read_mem(n.pid, a[4], (a[5] as usize).min(128)).ok()
    } else if nr == libc::SYS_sendmsg {
        msg_name(n.pid, a[1])
    } else if nr == libc::SYS_sendmmsg {
        mmsg_name(n.pid, a[1], a[2])
    } else {
        None
    }
}

/// Whether `fd` is a TCP socket (the only kind the gateway relays).
fn is_tcp(fd: RawFd) -> bool {
    let ty = sockopt(fd, libc::SOL_SOCKET, libc::SO_TYPE);
    let proto = sockopt(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL);
    ty == Some(libc::SOCK_STREAM) && proto == Some(libc::IPPROTO_TCP)
}

/// A trapped connect or send of the box to an address outside it: a TCP
/// connect the rules allow is captured (relayed by the gateway), anything
/// else is refused and recorded; loopback and what cannot be read run as
/// asked.
fn on_notif(sh: &Arc<Shared>, l: &Listener, n: &Notif) {
    let a = n.data.args;
    let nr = n.data.nr as libc::c_long;
    let dest = notif_dest(n);
    // Unreadable, not IP, or loopback: let it run. Nothing but the box's
    // loopback is routable, so the kernel can only fail the rest.
    let Some(dest) = dest.as_deref().and_then(parse_sockaddr) else {
        return l.allow(n.id);
    };
    let ip = canonical(dest.ip());
    if is_loopback(ip) || is_unspecified(ip) || !l.valid(n.id) {
        return l.allow(n.id);
    }
    let fd = a[0] as i32;
    let Ok(sock) = notify::take_fd(n.pid, fd) else {
        return l.allow(n.id);
    };
    if !l.valid(n.id) {
        return;
    }
    let tid = Some(n.pid);
    let tcp = is_tcp(sock.as_raw_fd());
    if tcp && nr != libc::SYS_connect {
        // An address on a connected TCP socket is ignored by the kernel;
        // on an unconnected one it is TCP Fast Open, which goes through
        // connect here instead.
        let connected = peer(sock.as_raw_fd()).is_some();
        return if connected {
            l.allow(n.id)
        } else {
            l.fail(n.id, libc::EOPNOTSUPP)
        };
    }
    if !tcp {
        sh.record(
            Violation::new(
                ViolationKind::Datagram,
                "datagrams may only go to the box's own addresses (DNS at 127.0.0.1:53)",
            )
            .addr(ip, dest.port())
            .pid(notify::box_pid(n.pid)),
        );
        return l.fail(n.id, libc::EPERM);
    }
    match connect_target(sh, ip, dest.port(), tid) {
        Ok(t) => capture(sh, l, n.id, sock, t),
        Err(v) => {
            sh.record(v);
            l.fail(n.id, libc::ECONNREFUSED)
        }
    }
}

/// Where a TCP connect to `ip:port` may go, by the rules in force.
fn connect_target(
    sh: &Shared,
    ip: IpAddr,
    port: u16,
    tid: Option<u32>,
) -> Result<Target, Violation> {
    let rules = sh.rules();
    let refused = |reason: String| {
        Violation::new(ViolationKind::Connect, reason)
            .addr(ip, port)
            .pid(tid.and_then(notify::box_pid))
    };
    let (name, allowed) = if dns::is_fake(ip) {
        let name = sh.fake.lock().unwrap_or_else(|p| p.into_inner()).name(ip);
        let Some(n) = name else {
            return Err(refused("an address the box's DNS never gave".into()));
        };
        let ok = rules.allows_name(&n, port);
        (Some(n), ok)
    } else {
        (None, rules.allows_ip(ip, port))
    };
    if !allowed {
        return Err(match name {
            Some(n) => refused(format!("no rule allows {n} on port {port}")).name(n),
            None => refused("no rule allows this address and port (connect by name)".into()),
        });
    }
    Ok(Target {
        name,
        ip: Some(ip),
        port,
        tid,
    })
}

fn sockaddr_of(fd: RawFd, peer: bool) -> Option<SocketAddr> {
    // SAFETY: zeroed storage large enough for any address.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let p = (&mut ss as *mut libc::sockaddr_storage).cast();
    // SAFETY: get{peer,sock}name into the storage.
    let r = unsafe {
        if peer {
            libc::getpeername(fd, p, &mut len)
        } else {
            libc::getsockname(fd, p, &mut len)
        }
    };
    if r != 0 {
        return None;
    }
    // SAFETY: viewing the storage as the bytes it holds.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (&ss as *const libc::sockaddr_storage).cast::<u8>(),
            len as usize,
        )
    };
    parse_sockaddr(bytes)
}

fn peer(fd: RawFd) -> Option<SocketAddr> {
    sockaddr_of(fd, true)
}

fn raw_sockaddr(a: SocketAddr, v6_socket: bool) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: zeroed plain-data storage, then filled as the family says.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let ip6 = match a.ip() {
        IpAddr::V6(v6) => Some(v6),
        IpAddr::V4(v4) if v6_socket => Some(v4.to_ipv6_mapped()),
        IpAddr::V4(_) => None,
    };
    match (ip6, a.ip()) {
        (Some(v6), _) => {
            // SAFETY: sockaddr_storage is large enough for sockaddr_in6.
            let sa = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_port = a.port().to_be();
            sa.sin6_addr.s6_addr = v6.octets();
            (ss, std::mem::size_of::<libc::sockaddr_in6>() as u32)
        }
        (None, IpAddr::V4(v4)) => {
            // SAFETY: as above, for sockaddr_in.
            let sa = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_port = a.port().to_be();
            sa.sin_addr.s_addr = u32::from_ne_bytes(v4.octets());
            (ss, std::mem::size_of::<libc::sockaddr_in>() as u32)
        }
        (None, IpAddr::V6(_)) => unreachable!("a v6 address always maps"),
    }
}

/// Send the box's socket to a capture listener in its own namespace,
/// noting where it meant to go, and answer its `connect` with the result.
fn capture(sh: &Shared, l: &Listener, id: u64, sock: OwnedFd, t: Target) {
    let fd = sock.as_raw_fd();
    let v6_socket = sockopt(fd, libc::SOL_SOCKET, libc::SO_DOMAIN) == Some(libc::AF_INET6);
    let cap4 = *sh.capture4.lock().unwrap_or_else(|p| p.into_inner());
    let cap6 = *sh.capture6.lock().unwrap_or_else(|p| p.into_inner());
    let dest = match (v6_socket, cap6, cap4) {
        (true, Some(c6), _) => c6,
        (_, _, Some(c4)) => c4,
        _ => return l.fail(id, libc::ENETUNREACH),
    };
    // A restarted call (a signal interrupted the wait) finds the socket
    // already on its way to us.
    if let Some(p) = peer(fd) {
        return if canonical(p.ip()) == canonical(dest.ip()) && p.port() == dest.port() {
            l.ret(id, 0)
        } else {
            l.fail(id, libc::EISCONN)
        };
    }
    // Connected without a bind of ours: the kernel then picks the local
    // port for this 4-tuple, and may reuse one of a connection in
    // TIME_WAIT on loopback (`tcp_tw_reuse`), where a port bound ahead
    // could not be; many short connections would run out of ports.
    let (ss, len) = raw_sockaddr(dest, v6_socket);
    // SAFETY: connect to a correctly sized address.
    let r = unsafe { libc::connect(fd, (&ss as *const libc::sockaddr_storage).cast(), len) };
    let e = if r == 0 {
        0
    } else {
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    };
    if e != 0 && e != libc::EINPROGRESS {
        return l.fail(id, e);
    }
    // The local address is set now (also while a non-blocking connect is
    // in progress); the accept side waits for this record if it comes
    // first.
    let Some(local) = sockaddr_of(fd, false) else {
        return l.fail(id, libc::EINVAL);
    };
    let key_ip = if is_unspecified(local.ip()) {
        dest.ip()
    } else {
        local.ip()
    };
    sh.note_capture(SocketAddr::new(canonical(key_ip), local.port()), t);
    if e == 0 {
        l.ret(id, 0)
    } else {
        l.fail(id, e)
    }
}

/// The destination of `sendmsg(fd, msg, ...)`: `msg->msg_name`.
fn msg_name(pid: u32, msg: u64) -> Option<Vec<u8>> {
    let hdr = notify::read_mem(pid, msg, std::mem::size_of::<libc::msghdr>()).ok()?;
    let name = u64::from_ne_bytes(hdr.get(0..8)?.try_into().ok()?);
    let len = u32::from_ne_bytes(hdr.get(8..12)?.try_into().ok()?) as usize;
    if name == 0 {
        return None;
    }
    notify::read_mem(pid, name, len.min(128)).ok()
}

/// The first non-loopback IP destination among the first messages of
/// `sendmmsg(fd, vec, vlen, ...)`.
fn mmsg_name(pid: u32, vec: u64, vlen: u64) -> Option<Vec<u8>> {
    let size = std::mem::size_of::<libc::mmsghdr>() as u64;
    for i in 0..vlen.min(16) {
        if let Some(name) = msg_name(pid, vec + i * size) {
            if parse_sockaddr(&name)
                .is_some_and(|a| !is_loopback(a.ip()) && !is_unspecified(a.ip()))
            {
                return Some(name);
            }
        }
    }
    None
}
