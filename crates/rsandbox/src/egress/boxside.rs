//! What the box's first process does for the gateway, between clone and
//! exec: make the sockets the gateway serves the box on, in the box's own
//! network namespace (a rootless caller cannot enter it to make them), and
//! hand them over. Raw syscalls on stack data only: no allocation.
//!
//! Sockets, in this order in one `SCM_RIGHTS` message:
//! 0. UDP `0.0.0.0:53` (DNS; every loopback address of the box);
//! 1. TCP `0.0.0.0:53` (DNS over TCP);
//! 2. TCP `127.0.0.1:<any>` (where captured connections are sent);
//! 3. TCP `127.0.0.1:<proxy port>` (the HTTP(S) proxy endpoint);
//! 4. TCP `[::1]:<any>` (captured IPv6 connections), when the box has IPv6.
//!
//! The one data byte says whether the fifth is there.

use std::os::fd::RawFd;

use crate::error::{ChildError, ChildResult, Stage};
use crate::sys;

/// Detail numbers of `Stage::Loopback` errors from here.
const DETAIL: u32 = 100;

/// Send `fds` (at most 8) and one data byte on the stream `sock`; the errno
/// on failure.
pub(crate) fn send_fds(sock: RawFd, fds: &[RawFd], byte: u8) -> Result<(), i32> {
    let mut data = [byte];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut cbuf = [0u64; 8]; // room for 8 fds, aligned
                              // SAFETY: a zeroed msghdr pointing at the stack buffers above; the
                              // control message is built within `cbuf`.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        let n = fds.len().min(8);
        let bytes = (n * std::mem::size_of::<RawFd>()) as u32;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(bytes) as _;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(bytes) as _;
        let p = libc::CMSG_DATA(c).cast::<RawFd>();
        for (i, fd) in fds.iter().take(n).enumerate() {
            std::ptr::write_unaligned(p.add(i), *fd);
        }
        loop {
            if libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) >= 0 {
                return Ok(());
            }
            let e = sys::errno();
            if e != libc::EINTR {
                return Err(e);
            }
        }
    }
}

/// A socket of `ty` bound to `addr` (IPv4 when `v6` is false), listening
/// when it is a stream socket.
fn bound(v6: bool, ty: libc::c_int, addr: [u8; 16], port: u16) -> Result<RawFd, i32> {
    // SAFETY: socket/setsockopt/bind/listen on stack sockaddrs.
    unsafe {
        let family = if v6 { libc::AF_INET6 } else { libc::AF_INET };
        let fd = libc::socket(family, ty | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(sys::errno());
        }
        let r = if v6 {
            let on: libc::c_int = 1;
            libc::setsockopt(
                fd,
                libc::IPPROTO_IPV6,
                libc::IPV6_V6ONLY,
                (&on as *const libc::c_int).cast(),
                4,
            );
            let mut sa: libc::sockaddr_in6 = std::mem::zeroed();
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_port = port.to_be();
            sa.sin6_addr.s6_addr = addr;
            libc::bind(
                fd,
                (&sa as *const libc::sockaddr_in6).cast(),
                std::mem::size_of::<libc::sockaddr_in6>() as u32,
            )
        } else {
            let mut sa: libc::sockaddr_in = std::mem::zeroed();
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_port = port.to_be();
            sa.sin_addr.s_addr = u32::from_ne_bytes([addr[0], addr[1], addr[2], addr[3]]);
            libc::bind(
                fd,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as u32,
            )
        };
        if r == 0 && (ty != libc::SOCK_STREAM || libc::listen(fd, 4096) == 0) {
            return Ok(fd);
        }
        let e = sys::errno();
        libc::close(fd);
        Err(e)
    }
}

/// Make the gateway's sockets in this (the box's) network namespace and
/// send them on `sock`. Needs `CAP_NET_BIND_SERVICE` in the namespace's
/// user namespace (port 53), which the box's first process holds before it
/// drops its capabilities.
pub(crate) fn make_and_send(sock: RawFd, proxy_port: u16) -> ChildResult {
    const ANY: [u8; 16] = [0; 16];
    const LO4: [u8; 16] = [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut lo6 = [0u8; 16];
    lo6[15] = 1;
    let mut fds = [-1 as RawFd; 5];
    let wanted: [(bool, libc::c_int, [u8; 16], u16); 4] = [
        (false, libc::SOCK_DGRAM, ANY, 53),
        (false, libc::SOCK_STREAM, ANY, 53),
        (false, libc::SOCK_STREAM, LO4, 0),
        (false, libc::SOCK_STREAM, LO4, proxy_port),
    ];
    let mut result = Ok(());
    for (i, (v6, ty, addr, port)) in wanted.into_iter().enumerate() {
        match bound(v6, ty, addr, port) {
            Ok(fd) => fds[i] = fd,
            Err(e) => {
                result = Err(ChildError::new(Stage::Loopback, DETAIL + i as u32, e));
                break;
            }
        }
    }
    let mut n = 4;
    if result.is_ok() {
        // IPv6 may be off in this kernel: then captured IPv6 sockets are
        // sent to the IPv4 listener through a v4-mapped address.
        if let Ok(fd) = bound(true, libc::SOCK_STREAM, lo6, 0) {
            fds[4] = fd;
            n = 5;
        }
        if let Err(e) = send_fds(sock, &fds[..n], (n == 5) as u8) {
            result = Err(ChildError::new(Stage::Loopback, DETAIL + 10, e));
        }
    }
    for fd in fds.into_iter().filter(|fd| *fd >= 0) {
        // SAFETY: closing descriptors made above.
        unsafe { libc::close(fd) };
    }
    result
}
