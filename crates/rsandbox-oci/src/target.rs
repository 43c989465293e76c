//! A running container's first process, held so that a reused pid is never
//! mistaken for it (`exec`, and the hooks that run inside the container).
//!
//! The pid is pinned with `pidfd_open` first; its start time is checked;
//! then `/proc/PID` is opened once, and everything read about the process
//! (its namespaces, its cgroups) goes through that directory fd, which the
//! kernel ties to the process and not to the number: once the process is
//! gone, lookups under it fail instead of reaching a newcomer with the same
//! pid. [`Target::confirm`] checks, after everything was opened, that the
//! pidfd's process is still alive and still has the saved start time, so
//! what was opened was the container's.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use crate::state::{self, Saved};

use crate::error::{OciError, Res};

/// The container's first process, pinned.
pub struct Target {
    /// The container's id, for the messages.
    id: String,
    pid: i32,
    start: u64,
    pidfd: OwnedFd,
    proc_dir: OwnedFd,
}

fn open_fd(dirfd: libc::c_int, path: &str, flags: libc::c_int) -> std::io::Result<OwnedFd> {
    let c = CString::new(path).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: openat on a valid C string; the fd returned is ours.
    let fd = unsafe { libc::openat(dirfd, c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl Target {
    /// Pin the saved container's first process; an error if it is gone
    /// (or its pid now names another process).
    pub fn open(s: &Saved) -> Res<Target> {
        let gone = || OciError::NotRunning(s.id.clone());
        // SAFETY: pidfd_open with integer arguments.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, s.pid, 0) };
        if fd < 0 {
            return Err(gone());
        }
        // SAFETY: a fresh fd we own.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        if !state::alive(s) {
            return Err(gone());
        }
        let proc_dir = open_fd(
            libc::AT_FDCWD,
            &format!("/proc/{}", s.pid),
            libc::O_PATH | libc::O_DIRECTORY,
        )
        .map_err(|_| gone())?;
        let t = Target {
            id: s.id.clone(),
            pid: s.pid,
            start: s.pid_start,
            pidfd,
            proc_dir,
        };
        t.confirm().map_err(|_| gone())?;
        Ok(t)
    }

    /// `/proc/PID` as a path through the pinned directory fd
    /// (`/proc/self/fd/N`), for paths below it (`ns/net`, `root`): valid
    /// while this `Target` lives, and only for this process.
    pub fn proc_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.proc_dir.as_raw_fd()))
    }

    /// Read a file under the process's `/proc/PID` (`cgroup`, ...).
    pub fn read(&self, name: &str) -> Res<String> {
        let err = |e| OciError::io("read", format!("/proc/{}/{name}", self.pid), e);
        let f = open_fd(self.proc_dir.as_raw_fd(), name, libc::O_RDONLY).map_err(err)?;
        let mut s = String::new();
        std::fs::File::from(f).read_to_string(&mut s).map_err(err)?;
        Ok(s)
    }

    /// Check that the pinned process still runs with its saved start time
    /// (so everything opened through this `Target` so far was its own).
    pub fn confirm(&self) -> Res<()> {
        let mut p = libc::pollfd {
            fd: self.pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one stack pollfd, no wait. A pidfd polls readable
        // once its process has exited.
        let exited = unsafe { libc::poll(&mut p, 1, 0) } != 0;
        let stat = self.read("stat").ok();
        let start = stat.as_deref().and_then(state::parse_stat);
        match start {
            Some((st, t)) if !exited && st != 'Z' && st != 'X' && t == self.start => Ok(()),
            _ => Err(OciError::NotRunning(self.id.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `clone3` with `set_tid`: a child with exactly pid `pid` (needs root),
    /// which execs `sleep 100`. The child runs raw syscalls only.
    fn spawn_with_pid(pid: i32) -> std::io::Result<i32> {
        #[repr(C)]
        #[derive(Default)]
        struct CloneArgs {
            flags: u64,
            pidfd: u64,
            child_tid: u64,
            parent_tid: u64,
            exit_signal: u64,
            stack: u64,
            stack_size: u64,
            tls: u64,
            set_tid: u64,
            set_tid_size: u64,
            cgroup: u64,
        }
        let tid = [pid as libc::pid_t];
        let args = CloneArgs {
            exit_signal: libc::SIGCHLD as u64,
            set_tid: tid.as_ptr() as u64,
            set_tid_size: 1,
            ..Default::default()
        };
        let prog = c"/bin/sleep";
        let argv = [c"sleep".as_ptr(), c"100".as_ptr(), std::ptr::null()];
        let envp = [std::ptr::null::<libc::c_char>()];
        // SAFETY: clone3 as fork; the child only calls execve and _exit on
        // data prepared above.
        let r = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        if r == 0 {
            // SAFETY: as above.
            unsafe {
                libc::execve(prog.as_ptr(), argv.as_ptr(), envp.as_ptr());
                libc::_exit(127);
            }
        }
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(r as i32)
    }

    fn saved(pid: i32) -> Saved {
        Saved {
            id: "t".into(),
            bundle: "/".into(),
            pid,
            pid_start: state::proc_stat(pid).unwrap().1,
            status: "running".into(),
            created: String::new(),
            annotations: Default::default(),
            cgroup: "/".into(),
            cgroup_created: Vec::new(),
            rootfs: "/".into(),
            hooks: None,
        }
    }

    /// F14: the container's process dies and its pid goes to another
    /// process between the runtime's check and its use of the pid. Through
    /// the pinned handle nothing of the newcomer is reached (its namespaces,
    /// its cgroups), and `confirm` says the container is gone; by number,
    /// `/proc/PID/ns/net` would have been the newcomer's.
    #[test]
    fn a_reused_pid_is_never_the_container() {
        // SAFETY: trivial getter.
        assert_eq!(unsafe { libc::geteuid() }, 0, "needs root (clone3 set_tid)");
        let mut first = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap();
        let pid = first.id() as i32;
        let mut other = saved(pid);
        other.pid_start += 1;
        assert!(Target::open(&other).is_err(), "another start time");
        let t = Target::open(&saved(pid)).unwrap();
        t.confirm().unwrap();
        assert!(std::fs::File::open(t.proc_path().join("ns/net")).is_ok());
        first.kill().unwrap();
        first.wait().unwrap();
        let second = spawn_with_pid(pid).expect("clone3 with the freed pid");
        assert_eq!(second, pid);
        let by_number = std::fs::File::open(format!("/proc/{pid}/ns/net"));
        let pinned = std::fs::File::open(t.proc_path().join("ns/net"));
        let cgroup = t.read("cgroup");
        let confirmed = t.confirm();
        // SAFETY: killing and reaping our own child.
        unsafe {
            libc::kill(second, libc::SIGKILL);
            libc::waitpid(second, std::ptr::null_mut(), 0);
        }
        assert!(by_number.is_ok(), "the newcomer is there by number");
        assert!(pinned.is_err(), "a reused pid's namespace was reached");
        assert!(cgroup.is_err(), "a reused pid's cgroups were read");
        assert!(
            confirmed.is_err(),
            "a reused pid was taken for the container"
        );
    }
}
