//! Forks with namespaces of their own: one `clone` with
//! `CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNS|CLONE_NEWNET|CLONE_NEWIPC|
//! CLONE_NEWUTS`, then, in the child and before it returns to the payload,
//! the steps of [`Isolation::enter`]. The user namespace comes first in the
//! kernel's order, so a template without capabilities may make the rest.
//!
//! Split (when the caller's filter allows it, `CONFIG_SPLIT`): the clone
//! makes only the user and pid namespaces ([`SPLIT_CLONE_FLAGS`]) and the
//! child makes the other four itself with one `unshare`
//! ([`UNSHARE_FLAGS`]) as its first step. Each is then owned by the
//! child's new user namespace, as the clone would have made them; but
//! the kernel's cost of making them (most of it the network namespace's,
//! about 0.6 ms of CPU) is paid in the child, on whichever core is free,
//! not in the template's one serving thread, which stays free to answer.
//!
//! Everything the child needs (the id-map lines, the `/proc` mount flags,
//! the highest capability, the filter to stack) is prepared in the template
//! by [`Isolation::prepare`]; the child only makes raw syscalls on it.

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;

/// The namespaces each fork gets (the low byte: the exit signal).
pub const NS_FLAGS: u64 = (libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS) as u64;

/// The exact flags of the fork's `clone`: what the template box's seccomp
/// filter lets through (see `super::policy`).
pub const CLONE_FLAGS: u64 = NS_FLAGS | crate::sys::CLONE_PIDFD | libc::SIGCHLD as u64;

/// The clone of a split fork: user and pid namespaces only (the child
/// must be pid 1 of its own, which only the clone can give).
pub const SPLIT_CLONE_FLAGS: u64 = (libc::CLONE_NEWUSER | libc::CLONE_NEWPID) as u64
    | crate::sys::CLONE_PIDFD
    | libc::SIGCHLD as u64;

/// What a split fork's child unshares: the rest of [`NS_FLAGS`].
pub const UNSHARE_FLAGS: u64 =
    (libc::CLONE_NEWNS | libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS) as u64;

const _: () = assert!(SPLIT_CLONE_FLAGS | UNSHARE_FLAGS == CLONE_FLAGS);

/// Mount flags of the fork's `/proc` (plus `MS_RDONLY` when the template's
/// `/proc` is read-only: a user namespace may not mount it more openly).
pub const PROC_FLAGS: u64 = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;

/// Mount flags that make every mount of the fork's namespace private.
pub const PRIVATE_FLAGS: u64 = libc::MS_REC | libc::MS_PRIVATE;

/// The step of the child's set-up that failed (sent back as `FAILED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Step {
    /// Writing `setgroups`, `gid_map` or `uid_map`.
    IdMaps = 1,
    /// Making the inherited mounts private.
    PrivateMounts,
    /// Mounting a fresh `/proc`.
    Proc,
    /// Bringing `lo` up.
    Loopback,
    /// Dropping every capability (bounding, ambient, the three sets).
    Capabilities,
    /// `PR_SET_NO_NEW_PRIVS`.
    NoNewPrivs,
    /// Stacking the description's seccomp filter.
    Seccomp,
    /// The `clone` itself (in the template).
    Clone,
    /// A split fork's `unshare` of its mount, net, ipc and uts namespaces.
    Namespaces,
    /// Applying the description's Landlock ruleset.
    Landlock,
    /// Covering the masked entries of the fork's `/proc` (`CONFIG_PROC`).
    ProcMasks,
}

impl Step {
    /// What the step does, for the caller's error.
    pub fn describe(n: i32) -> &'static str {
        match n {
            1 => "writing the fork's uid_map/gid_map",
            2 => "making the fork's mounts private",
            3 => "mounting the fork's /proc",
            4 => "bringing up the fork's loopback",
            5 => "dropping the fork's capabilities",
            6 => "setting no_new_privs in the fork",
            7 => "stacking the seccomp filter in the fork",
            8 => "cloning the fork into new namespaces",
            9 => "making the fork's mount, net, ipc and uts namespaces",
            10 => "applying the description's Landlock ruleset in the fork",
            11 => "masking the fork's /proc",
            _ => "isolating a fork",
        }
    }
}

/// One id-map line, formatted in the template.
struct Line {
    buf: [u8; 40],
    len: usize,
}

impl Line {
    /// `"<inside> <outside> 1\n"`: one id of the fork.
    fn map(inside: u32, outside: u32) -> Line {
        let mut l = Line {
            buf: [0; 40],
            len: 0,
        };
        let s = format!("{inside} {outside} 1\n");
        l.buf[..s.len()].copy_from_slice(s.as_bytes());
        l.len = s.len();
        l
    }
}

/// What the child needs, prepared before any fork.
pub struct Isolation {
    /// `None`: the uid stays unmapped (see [`may_map_uid`]).
    uid_line: Option<Line>,
    gid_line: Line,
    proc_flags: u64,
    last_cap: u32,
    filter: Vec<libc::sock_filter>,
    /// Clone with [`SPLIT_CLONE_FLAGS`] and unshare the rest in the child.
    split: bool,
    /// The description's Landlock ruleset, applied by each fork and closed
    /// in it. A raw fd: the template keeps it for its life, and no fork's
    /// copy of this struct may close it again when dropped.
    landlock: Option<RawFd>,
    /// `CONFIG_PROC`: the template box's mounts over its `/proc` entries
    /// (masks, binds), each bound again over the fork's fresh `/proc` (see
    /// [`Isolation::proc`]).
    masks: Vec<CString>,
}

/// The most mounts over `/proc` entries a fork re-applies (Docker's
/// masked paths are ten).
const MAX_MASKS: usize = 64;

impl Isolation {
    /// Prepare in the template: its own ids, its `/proc`'s flags, the
    /// filter the caller sent (empty: none to stack), and whether the
    /// caller's filter lets the split clone and `unshare` through, and the
    /// Landlock ruleset forks apply (kept open for the template's life),
    /// and whether the template box masks its `/proc` for its forks
    /// (`CONFIG_PROC`).
    pub fn prepare(
        filter: Vec<libc::sock_filter>,
        split: bool,
        landlock: Option<std::os::fd::OwnedFd>,
        masked_proc: bool,
    ) -> Isolation {
        use std::os::fd::IntoRawFd;
        // SAFETY: trivial getters.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let masks = if masked_proc {
            proc_masks()
        } else {
            Vec::new()
        };
        Isolation {
            uid_line: may_map_uid(uid).then(|| Line::map(uid, uid)),
            gid_line: Line::map(gid, gid),
            proc_flags: PROC_FLAGS
                | if masked_proc {
                    libc::MS_RDONLY
                } else {
                    proc_rdonly()
                },
            last_cap: crate::config::caps::cap_last_cap(),
            filter,
            split,
            landlock: landlock.map(IntoRawFd::into_raw_fd),
            masks,
        }
    }

    /// The flags of the fork's `clone`.
    pub fn clone_flags(&self) -> u64 {
        if self.split {
            SPLIT_CLONE_FLAGS
        } else {
            CLONE_FLAGS
        }
    }

    /// In the child, right after the clone: the steps in order. Raw
    /// syscalls on prepared data only.
    pub fn enter(&self) -> Result<(), (Step, i32)> {
        // SAFETY: unshare with integer flags.
        if self.split && unsafe { libc::unshare(UNSHARE_FLAGS as libc::c_int) } != 0 {
            return Err((Step::Namespaces, errno()));
        }
        self.id_maps().map_err(|e| (Step::IdMaps, e))?;
        mount(None, c"/", None, PRIVATE_FLAGS, None).map_err(|e| (Step::PrivateMounts, e))?;
        self.proc()?;
        crate::sys::net::loopback_up().map_err(|e| (Step::Loopback, e.errno))?;
        self.drop_caps().map_err(|e| (Step::Capabilities, e))?;
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err((Step::NoNewPrivs, errno()));
        }
        self.restrict_landlock().map_err(|e| (Step::Landlock, e))?;
        self.stack_filter().map_err(|e| (Step::Seccomp, e))
    }

    /// Apply the Landlock ruleset (after the mounts and id maps, which a
    /// Landlock domain would refuse), then close this process's copy of
    /// its fd, whether or not it applied: the payload must not be able to
    /// add rules that later forks would get.
    fn restrict_landlock(&self) -> Result<(), i32> {
        let Some(fd) = self.landlock else {
            return Ok(());
        };
        // SAFETY: landlock_restrict_self on an fd of this process; close
        // of this process's copy, once (the struct never closes it).
        unsafe {
            let r = libc::syscall(libc::SYS_landlock_restrict_self, fd, 0 as libc::c_uint);
            let e = errno();
            libc::close(fd);
            if r != 0 {
                return Err(e);
            }
        }
        Ok(())
    }

    /// The fork's own ids, each mapped to itself (the uid only where the
    /// kernel allows it, see [`may_map_uid`]); `setgroups` denied first,
    /// as the kernel requires of a map written without `CAP_SETGID` above.
    fn id_maps(&self) -> Result<(), i32> {
        write_file(c"/proc/self/setgroups", b"deny")?;
        let gid = &self.gid_line;
        write_file(c"/proc/self/gid_map", &gid.buf[..gid.len])?;
        match &self.uid_line {
            Some(uid) => write_file(c"/proc/self/uid_map", &uid.buf[..uid.len]),
            None => Ok(()),
        }
    }

    /// A fresh `/proc`, and under `CONFIG_PROC` the template box's masks
    /// over it again. Each mount (a read-only `/dev/null` or empty
    /// directory of the template box's, or what the description put
    /// there) is opened through the template's `/proc` before the fresh
    /// one covers it, then bound from its fd's magic link: the binds keep
    /// the masks' read-only flag, and need no `/dev/null` of the fork's own.
    fn proc(&self) -> Result<(), (Step, i32)> {
        // More than a fork can hold fds for: fail rather than leave one out.
        if self.masks.len() > MAX_MASKS {
            return Err((Step::ProcMasks, libc::E2BIG));
        }
        let mut held = [-1; MAX_MASKS];
        let r = self
            .open_masks(&mut held)
            .map_err(|e| (Step::ProcMasks, e))
            .and_then(|()| self.mount_proc().map_err(|e| (Step::Proc, e)))
            .and_then(|()| self.bind_masks(&held).map_err(|e| (Step::ProcMasks, e)));
        for fd in held.into_iter().filter(|&fd| fd >= 0) {
            // SAFETY: closes this process's own fds, opened above.
            unsafe { libc::close(fd) };
        }
        r
    }

    /// `O_PATH` fds of the template box's masks, in `held`.
    fn open_masks(&self, held: &mut [RawFd; MAX_MASKS]) -> Result<(), i32> {
        for (slot, path) in held.iter_mut().zip(&self.masks) {
            // SAFETY: open of a NUL-terminated path prepared in the template.
            let fd = unsafe {
                libc::open(
                    path.as_ptr(),
                    libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                )
            };
            if fd < 0 {
                return Err(errno());
            }
            *slot = fd;
        }
        Ok(())
    }

    /// Bind each held mask over its entry of the fresh `/proc`.
    fn bind_masks(&self, held: &[RawFd; MAX_MASKS]) -> Result<(), i32> {
        let mut buf = [0u8; 32];
        for (&fd, path) in held.iter().zip(&self.masks) {
            let src = crate::sys::fd::proc_fd_path(fd, &mut buf);
            mount(Some(src), path, None, libc::MS_BIND, None)?;
        }
        Ok(())
    }

    /// A fresh `/proc`. The kernel allows it in a user namespace only
    /// while another `proc` of the mount namespace is fully visible: under
    /// a template box whose `/proc` has masked entries (a box that mounts
    /// its own `/proc`, such as `Sandbox::strict()`, covers Docker's masked
    /// paths) only the read-only one the box keeps for its forks is
    /// (`CONFIG_PROC`), and the fork's must then be read-only too.
    fn mount_proc(&self) -> Result<(), i32> {
        mount(
            Some(c"proc"),
            c"/proc",
            Some(c"proc"),
            self.proc_flags,
            None,
        )
    }

    /// Empty the bounding and ambient sets (so an exec, even as uid 0 in
    /// the namespace, gains nothing), then the three sets.
    fn drop_caps(&self) -> Result<(), i32> {
        for cap in 0..=self.last_cap {
            // SAFETY: prctl with integer arguments.
            if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } != 0 {
                return Err(errno());
            }
        }
        // SAFETY: prctl with integer arguments.
        let r = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
                0,
                0,
                0,
            )
        };
        if r != 0 {
            return Err(errno());
        }
        if crate::sys::caps::capset3(0, 0, 0) != 0 {
            return Err(errno());
        }
        Ok(())
    }

    /// Stack the prepared filter (seccomp filters stack: the stricter
    /// answer wins), if there is one.
    fn stack_filter(&self) -> Result<(), i32> {
        if self.filter.is_empty() {
            return Ok(());
        }
        let r = crate::sys::seccomp_set_filter(&self.filter);
        if r != 0 {
            return Err(errno());
        }
        Ok(())
    }
}

/// Whether the fork may map its own uid in its namespace. The kernel
/// (Linux ≥ 5.12) lets a namespace map the parent's uid 0 only if its
/// creator held `CAP_SETFCAP`: a template that is uid 0 without it (a
/// strict box: root of its user namespace, capabilities dropped) leaves
/// its forks' uid unmapped. They then see themselves as the overflow uid
/// (65534); their uid on files and to the kernel is the template's either
/// way, and files they create are owned as the template's would be.
fn may_map_uid(uid: u32) -> bool {
    uid != 0 || crate::sys::caps::has_effective_cap(CAP_SETFCAP)
}

/// `CAP_SETFCAP`.
const CAP_SETFCAP: u32 = 31;

/// The mount points of the template box's mounts over its `/proc`
/// entries: Docker's masks, and whatever the description mounted under
/// `/proc` (a `mask`, a bind), from its `/proc/self/mountinfo`.
fn proc_masks() -> Vec<CString> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    proc_covers(&info)
        .into_iter()
        .filter_map(|p| CString::new(p).ok())
        .collect()
}

/// In `mountinfo` order, once each, the mount points strictly under
/// `/proc` of the mounts that are not proc's own: not the box's `/proc`,
/// nor its read-only remounts of `/proc/sys` and the like (a fork's whole
/// `/proc` is read-only), nor the proc kept for forks.
fn proc_covers(mountinfo: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in mountinfo.lines() {
        let Some((fields, rest)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = rest.split(' ').next().unwrap_or("");
        let Some(point) = fields.split(' ').nth(4).map(unescape) else {
            continue;
        };
        if fstype != "proc" && point.starts_with("/proc/") && !out.contains(&point) {
            out.push(point);
        }
    }
    out
}

/// A mountinfo field with its octal escapes (`\040` for a space) undone.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `MS_RDONLY` when the template's `/proc` is mounted read-only.
fn proc_rdonly() -> u64 {
    // SAFETY: statvfs fills a zeroed struct from a NUL-terminated path.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c"/proc".as_ptr(), &mut st) == 0 && st.f_flag & libc::ST_RDONLY != 0 {
            return libc::MS_RDONLY;
        }
    }
    0
}

/// The fork's `clone` with `flags` ([`Isolation::clone_flags`]): returns
/// 0 in the child, the pid in the template; the child's pidfd
/// (`CLONE_PIDFD`) lands in `pidfd`.
///
/// # Safety
/// The child must keep to raw syscalls on prepared data until it returns
/// to the payload: glibc's fork handlers do not run (this is a raw clone,
/// the only way to make a pid namespace the child itself is in).
pub unsafe fn clone(flags: u64, pidfd: &mut RawFd) -> io::Result<libc::pid_t> {
    // SAFETY: a fork-like clone (no new stack: the child continues on a
    // copy of this one); the pidfd is written to a live int. The
    // argument order of flags, stack and parent_tid is the same on x86_64
    // and aarch64.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            0usize,
            pidfd as *mut RawFd,
            0usize,
            0usize,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as libc::pid_t)
}

fn errno() -> i32 {
    // SAFETY: this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// `mount(2)` on NUL-terminated literals; the errno on failure.
fn mount(
    src: Option<&std::ffi::CStr>,
    target: &std::ffi::CStr,
    fstype: Option<&std::ffi::CStr>,
    flags: u64,
    data: Option<&std::ffi::CStr>,
) -> Result<(), i32> {
    let p = |s: Option<&std::ffi::CStr>| s.map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: every pointer is a NUL-terminated string or null.
    let r = unsafe {
        libc::mount(
            p(src),
            target.as_ptr(),
            p(fstype),
            flags as libc::c_ulong,
            p(data).cast(),
        )
    };
    if r != 0 {
        return Err(errno());
    }
    Ok(())
}

/// Write `bytes` to the file at `path` in one `write`.
fn write_file(path: &std::ffi::CStr, bytes: &[u8]) -> Result<(), i32> {
    // SAFETY: open/write/close on a NUL-terminated path and a live buffer.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(errno());
        }
        let n = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        let e = errno();
        libc::close(fd);
        if n != bytes.len() as isize {
            return Err(if n < 0 { e } else { libc::EIO });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mounts over a strict template box's `/proc` entries: the masks
    /// and a description's own, once each; not the box's `/proc`, its
    /// read-only remounts, nor the proc kept for forks.
    #[test]
    fn the_mounts_a_fork_binds_again() {
        let info = "\
60 59 0:40 / /proc rw,nosuid - tmpfs rsandbox-forks ro,size=4k,mode=700
61 60 0:41 / /proc/.forks-proc ro,nosuid - proc proc ro
62 60 0:42 / /proc rw,nosuid,nodev,noexec - proc proc rw
63 62 0:6 /null /proc/keys ro,nosuid - devtmpfs udev rw
64 62 0:43 / /proc/acpi ro - tmpfs tmpfs ro
65 62 0:42 /sys /proc/sys ro,nosuid - proc proc rw
66 62 0:6 /null /proc/keys ro,nosuid - devtmpfs udev rw
67 62 8:1 /srv/a\\040b /proc/my\\040info ro - ext4 /dev/sda1 rw
";
        assert_eq!(
            proc_covers(info),
            ["/proc/keys", "/proc/acpi", "/proc/my info"]
        );
        assert_eq!(unescape("a\\134b\\0"), "a\\b\\0");
    }
}
