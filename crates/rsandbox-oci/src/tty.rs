//! Terminals: a pty pair whose master goes to the engine's console socket
//! (SCM_RIGHTS, as runc sends it) and whose slave becomes the container
//! process's stdio and controlling terminal.
//!
//! The pty comes from the container's own devpts instance, as with runc
//! (whose init opens `/dev/ptmx` inside the container): then `ttyname`
//! works in the container, and nothing of the host's devpts (its other
//! terminals' numbers, its `ptmx`) is handed to it.
//!
//! - `create`: a new devpts instance is made for the container, the pty
//!   opened from it, and the instance bound on the container's `/dev/pts`
//!   (so its `/dev/ptmx` makes further ptys there too). The bind source
//!   needs a path: the instance is attached in a private mount namespace
//!   of the thread that spawns the container, never in the runtime's.
//! - `exec`: the pty is opened from the running container's `/dev/pts/ptmx`,
//!   resolved inside its root (`openat2` `RESOLVE_IN_ROOT`) and checked to
//!   be a devpts `ptmx` before it is opened.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use crate::error::{OciError, Res};

fn last(what: &str) -> OciError {
    OciError::last_os(what)
}

/// `p` as a C string (a path of ours, or of the container's `/proc`).
fn cpath(p: &Path) -> Res<CString> {
    CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| OciError::os_other(format!("path {}", p.display()), "contains a NUL byte"))
}

/// A pty pair (master, slave) from an open `ptmx` (a devpts instance's
/// master multiplexer), with the window size if given.
fn pty_from(master: OwnedFd, size: Option<(u16, u16)>) -> Res<(OwnedFd, OwnedFd)> {
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

fn owned(fd: RawFd, what: &str) -> Res<OwnedFd> {
    if fd < 0 {
        return Err(last(what));
    }
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn cstr(s: &str) -> CString {
    CString::new(s).expect("no NUL")
}

/// A new devpts instance (a detached mount): the core's options, plus
/// `gid` (the config's, as a host id) for new terminals.
fn new_devpts(gid: Option<u32>) -> Res<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_SET_FLAG: libc::c_uint = 0;
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
    const MOUNT_ATTR_NOEXEC: libc::c_uint = 0x8;
    let fstype = cstr("devpts");
    // SAFETY: fsopen on a C string; the fd is ours.
    let ctx = owned(
        unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) } as RawFd,
        "fsopen devpts",
    )?;
    let mut opts = vec![
        ("source", Some("devpts".to_string())),
        ("newinstance", None),
        ("ptmxmode", Some("0666".into())),
        ("mode", Some("0620".into())),
    ];
    if let Some(g) = gid {
        opts.push(("gid", Some(g.to_string())));
    }
    for (k, v) in opts {
        let k = cstr(k);
        let v = v.map(|v| cstr(&v));
        let (cmd, vp) = match &v {
            Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
            None => (FSCONFIG_SET_FLAG, std::ptr::null()),
        };
        // SAFETY: fsconfig on our context with C strings that outlive it.
        if unsafe { libc::syscall(libc::SYS_fsconfig, ctx.as_raw_fd(), cmd, k.as_ptr(), vp, 0) } < 0
        {
            return Err(last("devpts options"));
        }
    }
    // SAFETY: fsconfig and fsmount on our context; the mount fd is ours.
    unsafe {
        if libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        ) < 0
        {
            return Err(last("create devpts"));
        }
        owned(
            libc::syscall(
                libc::SYS_fsmount,
                ctx.as_raw_fd(),
                FSMOUNT_CLOEXEC,
                MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
            ) as RawFd,
            "mount devpts",
        )
    }
}

/// Run `f` on a new thread whose mount namespace is a private copy of this
/// process's (so that what it mounts is seen by nothing else, and dies with
/// it). `None` where this process may not make one (not root).
fn on_private_mount_thread<T: Send>(f: impl FnOnce() -> Res<T> + Send) -> Option<Res<T>> {
    std::thread::scope(|sc| {
        sc.spawn(|| {
            // SAFETY: unshare on this thread only (CLONE_FS: its own root
            // and cwd, which a new mount namespace needs).
            if unsafe { libc::unshare(libc::CLONE_FS | libc::CLONE_NEWNS) } != 0 {
                return None;
            }
            // Nothing mounted here may propagate to the runtime's mounts.
            // SAFETY: mount on constant C strings.
            let r = unsafe {
                libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                )
            };
            if r != 0 {
                return Some(Err(last("make the thread's mounts private")));
            }
            Some(f())
        })
        .join()
        .unwrap_or_else(|_| Some(Err(OciError::os_other("the terminal thread", "panicked"))))
    })
}

/// Spawn a container with a terminal of its own devpts instance: `spawn`
/// gets the path to bind on the container's `/dev/pts` and the pty pair,
/// and runs on a thread of a private mount namespace where that path is
/// the new instance (see the module docs). `scratch`: a directory of the
/// runtime's where an empty `pts` may be made for the while. `None` where
/// the runtime may not mount (not root).
pub fn with_own_devpts<T: Send>(
    scratch: &Path,
    gid: Option<u32>,
    size: Option<(u16, u16)>,
    spawn: impl FnOnce(&Path, OwnedFd, OwnedFd) -> Res<T> + Send,
) -> Option<Res<T>> {
    let at: PathBuf = scratch.join("pts");
    on_private_mount_thread(|| {
        let mnt = new_devpts(gid)?;
        // SAFETY: openat on the new instance's root fd; the fd is ours.
        let master = owned(
            unsafe {
                libc::openat(
                    mnt.as_raw_fd(),
                    c"ptmx".as_ptr(),
                    libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
                )
            },
            "open the container's ptmx",
        )?;
        let (master, slave) = pty_from(master, size)?;
        std::fs::create_dir(&at).map_err(|e| OciError::io("mkdir", &at, e))?;
        let cat = cpath(&at)?;
        const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
        // SAFETY: move_mount of our detached mount onto a C string path.
        let r = unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                mnt.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_FDCWD,
                cat.as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH,
            )
        };
        let out = if r < 0 {
            Err(last("attach the container's devpts"))
        } else {
            spawn(&at, master, slave)
        };
        // SAFETY: umount2 on a C string, in this thread's namespace only.
        unsafe { libc::umount2(cat.as_ptr(), libc::MNT_DETACH) };
        let _ = std::fs::remove_dir(&at);
        out
    })
}

/// A pty pair from the devpts of the running container whose root is
/// reached through `proc_dir/root` (`target::Target::proc_path`): its
/// `/dev/pts/ptmx`, resolved inside its root and checked to be a devpts
/// `ptmx` (5:2) before it is opened.
pub fn open_pty_in(proc_dir: &Path, size: Option<(u16, u16)>) -> Res<(OwnedFd, OwnedFd)> {
    const DEVPTS_SUPER_MAGIC: libc::c_long = 0x1cd1;
    let root = cpath(&proc_dir.join("root"))?;
    // SAFETY: open on a C string; the fd is ours.
    let root = owned(
        unsafe {
            libc::open(
                root.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        },
        "open the container's root",
    )?;
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
    const RESOLVE_IN_ROOT: u64 = 0x10;
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: openat2 on our root fd, a C string and an open_how on the stack.
    let ptmx = owned(
        unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root.as_raw_fd(),
                c"dev/pts/ptmx".as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        } as RawFd,
        "find the container's /dev/pts/ptmx",
    )?;
    // SAFETY: fstat/fstatfs into zeroed stack structs, on our fd.
    let ok = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        let mut fs: libc::statfs = std::mem::zeroed();
        libc::fstat(ptmx.as_raw_fd(), &mut st) == 0
            && st.st_mode & libc::S_IFMT == libc::S_IFCHR
            && libc::major(st.st_rdev) == 5
            && libc::minor(st.st_rdev) == 2
            && libc::fstatfs(ptmx.as_raw_fd(), &mut fs) == 0
            && fs.f_type == DEVPTS_SUPER_MAGIC
    };
    if !ok {
        return Err(OciError::os_other(
            "open the container's /dev/pts/ptmx",
            "not a devpts ptmx (refused)",
        ));
    }
    let path = cstr(&format!("/proc/self/fd/{}", ptmx.as_raw_fd()));
    // SAFETY: open on a C string; the fd is ours.
    let master = owned(
        unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            )
        },
        "open the container's ptmx",
    )?;
    pty_from(master, size)
}

/// A pty pair from the runtime's own `/dev/ptmx` (the host's devpts): only
/// where the runtime may not mount a devpts for the container (not root).
pub fn open_host_pty(size: Option<(u16, u16)>) -> Res<(OwnedFd, OwnedFd)> {
    let ptmx = cstr("/dev/ptmx");
    // SAFETY: open on a valid C string.
    let m = unsafe {
        libc::open(
            ptmx.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    pty_from(owned(m, "open /dev/ptmx")?, size)
}

/// Send `fd` over the unix socket at `socket` (SCM_RIGHTS).
pub fn send_fd(socket: &Path, fd: &OwnedFd) -> Res<()> {
    let sock = UnixStream::connect(socket)
        .map_err(|e| OciError::io("connect to console socket", socket, e))?;
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
