//! The box's init, parent side: the embedded init program
//! (`rsandbox-init`) in a sealed memfd, and the argv the child execs it
//! with.
//!
//! The child of the launch pipeline is a copy of the caller until it execs.
//! With a PID namespace it used to *become* the box's PID 1, so the caller's
//! memory and environment stayed inside the box for its whole life (an
//! embedding service's keys readable through `/proc/1/mem`). It now execs
//! the init program once the box is set up: the init's memory is its own
//! few pages, `/proc/1/exe` is a sealed memfd (nothing a box root could
//! overwrite), and the init forks the payload itself. The payload's argv
//! and environment travel as the init's own; the fds it must keep are named
//! on a control line (`rsandbox_init::proto`).
//!
//! The child makes the memfd the executable with
//! `execveat(fd, "", AT_EMPTY_PATH)`.

use std::ffi::CString;
use std::os::fd::{OwnedFd, RawFd};

use rsandbox_init::proto::{self, Control};

use crate::error::Result;
use crate::memfd::SealedFile;
use crate::report::{Enforcement, LayerReport};

/// The init program in a fresh sealed memfd (one per spawn: no fd of the
/// library's stays open in the caller between spawns).
pub(crate) fn image() -> Result<OwnedFd> {
    Ok(SealedFile::new(c"rsandbox-init", rsandbox_init::IMAGE)?.into_fd())
}

/// The payload's seccomp filter (its instructions' bytes) in a fresh
/// sealed memfd, which the init reads before it forks the payload.
pub(crate) fn filter(bytes: &[u8]) -> Result<OwnedFd> {
    Ok(SealedFile::new(c"rsandbox-seccomp", bytes)?.into_fd())
}

/// What the child needs to exec the init, prepared in the parent once every
/// fd of the spawn is known.
pub(crate) struct InitExec {
    /// Keeps `argv[0]` and the control line alive.
    _strings: [CString; 2],
    /// `["rsandbox-init", CONTROL, PROGRAM, ARGV0, ARGS..., NULL]`.
    pub argv: Vec<*const libc::c_char>,
    /// The init program's memfd.
    pub image: RawFd,
    /// `/proc/self/fd/<image>`: the same file by path, for where
    /// `execveat` on an fd fails (an emulator such as valgrind).
    pub image_path: CString,
    /// The fds the init inherits: the child clears their close-on-exec flag
    /// right before the exec (`-1`: none).
    pub inherit: [RawFd; 6],
}

impl InitExec {
    /// `program` and `argv` (NULL-terminated) are the payload's, prepared
    /// in the plan; `image` the init's memfd; `ctl` names the fds.
    pub(crate) fn new(
        program: &CString,
        argv: &[*const libc::c_char],
        image: RawFd,
        ctl: Control,
    ) -> InitExec {
        let mut line = [0u8; proto::CONTROL_MAX];
        let n = ctl.encode(&mut line);
        let strings = [
            CString::new(proto::ARGV0).unwrap_or_default(),
            // encode writes digits, letters and spaces only: no NUL inside.
            CString::new(&line[..n]).unwrap_or_default(),
        ];
        let mut v = Vec::with_capacity(argv.len() + 3);
        v.push(strings[0].as_ptr());
        v.push(strings[1].as_ptr());
        v.push(program.as_ptr());
        v.extend_from_slice(argv);
        InitExec {
            _strings: strings,
            argv: v,
            image,
            image_path: CString::new(format!("/proc/self/fd/{image}")).unwrap_or_default(),
            inherit: [
                ctl.status,
                ctl.err,
                ctl.gate,
                ctl.seccomp,
                ctl.connector,
                ctl.timing,
            ],
        }
    }
}

/// What the enforcement report says about the box's init.
pub(crate) fn report() -> LayerReport {
    LayerReport {
        layer: "init".into(),
        requested: "PID namespace".into(),
        applied: "rsandbox-init, exec'd from a sealed memfd: none of the caller's memory, \
                  environment or fds; non-dumpable; no capabilities; its own seccomp filter"
            .into(),
        enforcement: Enforcement::Full,
    }
}
