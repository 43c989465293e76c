//! Terminals: a pty pair whose master goes to the engine's console socket
//! (SCM_RIGHTS, as runc sends it) and whose slave becomes the container
//! process's stdio and controlling terminal.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

type Res<T> = Result<T, String>;

fn last(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// A new pty pair: (master, slave), with the window size if given.
pub fn open_pty(size: Option<(u16, u16)>) -> Res<(OwnedFd, OwnedFd)> {
    let ptmx = CString::new("/dev/ptmx").expect("no NUL");
    // SAFETY: open on a valid C string.
    let m = unsafe {
        libc::open(
            ptmx.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if m < 0 {
        return Err(last("open /dev/ptmx"));
    }
    // SAFETY: a fresh fd we own.
    let master = unsafe { OwnedFd::from_raw_fd(m) };
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK takes a pointer to an int.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } != 0 {
        return Err(last("unlock pty"));
    }
    // SAFETY: TIOCGPTPEER returns a new fd for the slave.
    let s = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if s < 0 {
        return Err(last("open pty slave"));
    }
    // SAFETY: a fresh fd we own.
    let slave = unsafe { OwnedFd::from_raw_fd(s) };
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ takes a pointer to a winsize.
        if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
            return Err(last("set the terminal size"));
        }
    }
    Ok((master, slave))
}

/// Send `fd` over the unix socket at `socket` (SCM_RIGHTS).
pub fn send_fd(socket: &Path, fd: &OwnedFd) -> Res<()> {
    let sock = UnixStream::connect(socket)
        .map_err(|e| format!("connect to console socket {}: {e}", socket.display()))?;
    let name = b"/dev/ptmx";
    let mut iov = libc::iovec {
        iov_base: name.as_ptr() as *mut libc::c_void,
        iov_len: name.len(),
    };
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    let mut buf = vec![0u8; space];
    // SAFETY: a zeroed msghdr is valid; the pointers set below stay alive
    // (iov, buf) for the sendmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = buf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg has a control buffer of CMSG_SPACE(int) bytes, so the
    // first header and its data fit.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>(), fd.as_raw_fd());
    }
    // SAFETY: sendmsg on our socket with the message built above.
    if unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, 0) } < 0 {
        return Err(last("send the terminal to the console socket"));
    }
    Ok(())
}
