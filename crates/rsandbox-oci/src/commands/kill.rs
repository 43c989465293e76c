//! `kill`: signal a container's process (or all of them).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::status;
use crate::error::OciError;
use crate::state::{self, Locked, Saved};
use crate::{cgroups, Res};

/// Parse `9`, `KILL` or `SIGKILL`.
fn parse_signal(s: &str) -> Res<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => {
            return Err(OciError::Usage(format!(
                "unknown signal {s:?} (a number 1-64, KILL or SIGKILL)"
            )))
        }
    };
    Ok(n)
}

/// Signal the container's first process through a pidfd, after checking
/// that the pid is still the container's (start time).
fn signal_pid(s: &Saved, sig: i32) -> Res<()> {
    // SAFETY: pidfd_open with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, s.pid, 0) };
    if fd < 0 {
        return Err(OciError::NotRunning(s.id.clone()));
    }
    // SAFETY: a fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    if !state::alive(s) {
        return Err(OciError::NotRunning(s.id.clone()));
    }
    // SAFETY: pidfd_send_signal on our pidfd, no siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        return Err(OciError::last_os("kill"));
    }
    Ok(())
}

pub(crate) fn kill(root: &Path, id: &str, signal: &str, all: bool) -> Res<()> {
    let sig = parse_signal(signal)?;
    let l = Locked::open(root, id)?;
    let s = l.load()?;
    if all {
        cgroups::signal_all(&s.cgroup, sig);
        return Ok(());
    }
    if status(&s) == "stopped" {
        return Err(OciError::NotRunning(id.to_string()));
    }
    signal_pid(&s, sig)
}
