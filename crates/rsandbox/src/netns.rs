//! A prepared network namespace that many boxes share
//! ([`Sandbox::net_ns_shared`]).
//!
//! Why: a new network namespace per box is the most expensive namespace to
//! make and, above all, to tear down. Its cleanup is asynchronous and
//! serialised kernel-wide (one `cleanup_net` worker, an RCU grace period
//! per batch), so a loop of boxes each with `net_ns()` is bounded by it
//! (85 strict boxes/s from one thread here, 246/s without a network
//! namespace). A [`NetNs`] is made once, and every box that uses it joins
//! it instead: nothing to create, nothing to tear down per spawn.
//!
//! How: the launching thread (rsandbox's launcher thread, or the caller's
//! main thread) enters the namespace with `setns` just before `clone3`,
//! without `CLONE_NEWNET`, so the child is born in it, and goes back to its
//! own namespace right after. The child cannot join by itself: once in its
//! new user namespace it has no privilege over a network namespace owned by
//! the caller's. Entering needs `CAP_SYS_ADMIN` over both namespaces, so
//! both creating and using a `NetNs` need `CAP_SYS_ADMIN` (root, or root of
//! an enclosing user namespace); without it the error says so and
//! `net_ns()` (a namespace per box) remains the unprivileged way.
//!
//! [`Sandbox::net_ns_shared`]: crate::Sandbox::net_ns_shared

use std::fmt;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::sys::caps::{has_effective_cap, CAP_SYS_ADMIN};

/// An empty network namespace with only `lo`, up, held open by an fd.
///
/// Cheap to clone (the fd is shared); the namespace lives as long as a
/// handle or a box in it does. Two handles are equal when they hold the
/// same namespace.
///
/// Trade-offs of sharing one namespace between boxes: they are isolated
/// from the host's network, not from each other. They share `lo`, so a
/// box can connect to a port another box listens on at 127.0.0.1, bind a
/// port another box then cannot, and reach another box's abstract Unix
/// sockets (unless Landlock scopes them, as
/// [`Sandbox::strict`](crate::Sandbox::strict) does where the kernel has
/// Landlock ABI 6); routes, firewall rules and sysctls are common to all.
/// A box root does not hold `CAP_NET_ADMIN` over it when the box has a user
/// namespace (the namespace belongs to the caller's user namespace), so it
/// cannot reconfigure it either. Use `net_ns()` where boxes must not see
/// each other.
#[derive(Clone)]
pub struct NetNs {
    inner: Arc<Inner>,
}

struct Inner {
    fd: OwnedFd,
    /// `st_ino` of the namespace file: what `readlink /proc/self/ns/net`
    /// shows inside a box as `net:[INODE]`.
    ino: u64,
    dev: u64,
}

impl NetNs {
    /// Create a fresh network namespace holding only `lo`, brought up.
    ///
    /// Needs `CAP_SYS_ADMIN` in the caller's user namespace; an
    /// [`Error::Privilege`] otherwise.
    pub fn new() -> Result<NetNs> {
        if !has_effective_cap(CAP_SYS_ADMIN) {
            return Err(privilege_error("create a shared network namespace"));
        }
        // On a short-lived thread: unshare moves only that thread, and the
        // fd keeps the namespace alive after the thread ends.
        let made = std::thread::Builder::new()
            .name("rsandbox-netns".into())
            .spawn(make_on_this_thread)
            .map_err(|e| Error::io("start a thread to create the network namespace", None, e))?
            .join()
            .map_err(|_| {
                Error::io(
                    "create the network namespace",
                    None,
                    std::io::Error::other("its thread panicked"),
                )
            })?;
        let fd = made?;
        NetNs::from_fd(fd)
    }

    fn from_fd(fd: OwnedFd) -> Result<NetNs> {
        // SAFETY: a zeroed stat is a valid out-parameter.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat into that stat on an fd we own.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
            return Err(Error::last_os("stat the network namespace", None));
        }
        Ok(NetNs {
            inner: Arc::new(Inner {
                fd,
                ino: st.st_ino,
                dev: st.st_dev,
            }),
        })
    }

    /// The namespace's inode number: a box in it reads `net:[INODE]` from
    /// `readlink /proc/self/ns/net`.
    pub fn inode(&self) -> u64 {
        self.inner.ino
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.inner.fd.as_raw_fd()
    }
}

/// The error for a caller without `CAP_SYS_ADMIN`.
pub(crate) fn privilege_error(action: &str) -> Error {
    Error::Privilege {
        privilege: "CAP_SYS_ADMIN".into(),
        action: action.into(),
        fix: "run as root (the box's uid may still be unprivileged), or give each box its \
              own namespace with net_ns(), which works unprivileged"
            .into(),
    }
}

/// Runs on a dedicated thread: unshare its network namespace, open it, and
/// bring `lo` up in it.
fn make_on_this_thread() -> Result<OwnedFd> {
    // SAFETY: unshare with a constant flag affects only this thread.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EPERM) {
            return Err(privilege_error("create a shared network namespace"));
        }
        return Err(Error::io("create a network namespace", None, e));
    }
    // SAFETY: open of a constant C path; the result is checked.
    let fd = unsafe {
        libc::open(
            c"/proc/thread-self/ns/net".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(Error::last_os(
            "open the new network namespace",
            Some("/proc/thread-self/ns/net".into()),
        ));
    }
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    crate::sys::net::loopback_up().map_err(|ce| {
        Error::io(
            "bring up lo in the shared network namespace",
            None,
            std::io::Error::from_raw_os_error(ce.errno),
        )
    })?;
    Ok(fd)
}

impl fmt::Debug for NetNs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetNs(net:[{}])", self.inner.ino)
    }
}

impl PartialEq for NetNs {
    fn eq(&self, other: &NetNs) -> bool {
        (self.inner.ino, self.inner.dev) == (other.inner.ino, other.inner.dev)
    }
}

impl Eq for NetNs {}

/// Switch the calling thread into a shared network namespace for the
/// duration of a clone, and back on drop (see the module docs).
pub(crate) struct Entered {
    home: OwnedFd,
}

impl Entered {
    /// Enter `fd`'s namespace, remembering the thread's own.
    pub(crate) fn enter(fd: RawFd) -> std::io::Result<Entered> {
        // SAFETY: open of a constant C path; the result is checked.
        let home = unsafe {
            libc::open(
                c"/proc/thread-self/ns/net".as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        if home < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        let home = unsafe { OwnedFd::from_raw_fd(home) };
        // SAFETY: setns on descriptors we hold; affects only this thread.
        if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(std::io::Error::new(
                e.kind(),
                format!("enter the prepared network namespace: {e}"),
            ));
        }
        Ok(Entered { home })
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        // SAFETY: setns back into the namespace this thread came from.
        let r = unsafe { libc::setns(self.home.as_raw_fd(), libc::CLONE_NEWNET) };
        // Going back needs the privilege that entering just used; if it
        // ever failed, this thread would create every later socket (and
        // every later box) in the shared namespace: stop rather than
        // silently misplace them.
        assert_eq!(
            r,
            0,
            "rsandbox: could not return the launching thread to its network namespace: {}",
            std::io::Error::last_os_error()
        );
    }
}
