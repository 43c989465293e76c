//! The two `bpf(2)` calls of the v2 device filter: load a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program, attach it to a cgroup2
//! directory. Both need `CAP_SYS_ADMIN` (or `CAP_BPF`, Linux ≥ 5.8) in the
//! initial user namespace: without it they are [`Error::Privilege`].

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::error::{Error, Result};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    pub code: u8,
    /// `dst_reg:4, src_reg:4`, a C bit-field: dst in the low nibble on
    /// little-endian machines, in the high one on big-endian ones.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

/// The `BPF_PROG_LOAD` part of `union bpf_attr`, up to `prog_name` plus
/// the two fields after it (newer kernels accept a shorter attr; older
/// ones a longer one whose tail is zero).
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The `BPF_PROG_ATTACH` part of `union bpf_attr`.
#[repr(C)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

/// The license string: no GPL-only helper is called, any string loads.
const LICENSE: &[u8] = b"Apache-2.0\0";

/// What to do without the privilege to load or attach.
const FIX: &str = "run as root (a user namespace's root is not enough: the capability \
    counts in the initial user namespace; on kernels before 5.11 the program is also \
    charged to RLIMIT_MEMLOCK), or drop device_rules and keep the box from making \
    device nodes (no CAP_MKNOD, or a user namespace, where the kernel refuses mknod \
    of devices), or set best_effort(true) to run without the rules";

/// `bpf(cmd, attr, size)`.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> libc::c_long {
    // SAFETY: `attr` is a live, fully initialised repr(C) bpf_attr prefix
    // of the given size; the pointers inside it point to buffers that
    // outlive the call.
    unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    }
}

fn privilege(action: String) -> Error {
    Error::Privilege {
        privilege: "CAP_SYS_ADMIN (or CAP_BPF)".into(),
        action,
        fix: FIX.into(),
    }
}

/// Load `prog` as a cgroup device program; on a refusal by the verifier,
/// load it again with the verifier's log asked for and put that log in the
/// error.
pub(crate) fn load(prog: &[Insn]) -> Result<OwnedFd> {
    let attempt = |log: Option<&mut Vec<u8>>| {
        let mut name = [0u8; 16];
        name[..12].copy_from_slice(b"rsbx_devices");
        let mut attr = ProgLoad {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: prog.len() as u32,
            insns: prog.as_ptr() as u64,
            license: LICENSE.as_ptr() as u64,
            prog_name: name,
            ..ProgLoad::default()
        };
        if let Some(buf) = log {
            attr.log_level = 1;
            attr.log_size = buf.len() as u32;
            attr.log_buf = buf.as_mut_ptr() as u64;
        }
        let fd = bpf(BPF_PROG_LOAD, &mut attr);
        if fd < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            // SAFETY: a fresh fd the kernel gave us.
            Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
        }
    };
    let action = || {
        format!(
            "load the eBPF device filter (BPF_PROG_TYPE_CGROUP_DEVICE, {} instructions) \
             that enforces device_rules on cgroup v2",
            prog.len()
        )
    };
    match attempt(None) {
        Ok(fd) => Ok(fd),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)) => {
            Err(privilege(action()))
        }
        Err(e) => {
            let mut buf = vec![0u8; 64 << 10];
            // ENOSPC: the log was cut to the buffer, still worth showing.
            let _ = attempt(Some(&mut buf));
            let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
            let log = String::from_utf8_lossy(&buf[..end]);
            Err(Error::io(
                format!(
                    "{} (kernel without BPF_PROG_TYPE_CGROUP_DEVICE, or a program it \
                     refuses: please report it); verifier log: {}",
                    action(),
                    if log.trim().is_empty() {
                        "(empty)"
                    } else {
                        log.trim()
                    }
                ),
                None,
                e,
            ))
        }
    }
}

/// Attach the program `prog` to the cgroup2 directory `cgroup` (at
/// `path`, for messages), among the others (`BPF_F_ALLOW_MULTI`: every
/// program attached here and in the ancestors must allow an access). The
/// attachment holds the program: `prog` may be closed afterwards, and
/// removing the cgroup detaches it.
pub(crate) fn attach(cgroup: BorrowedFd<'_>, prog: &OwnedFd, path: &Path) -> Result<()> {
    let mut attr = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    if bpf(BPF_PROG_ATTACH, &mut attr) == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    let action = format!("attach the eBPF device filter to {}", path.display());
    match e.raw_os_error() {
        // With the capability (the load just worked), EPERM says an
        // ancestor holds a device program that allows no other.
        Some(libc::EPERM) => Err(Error::Privilege {
            privilege: "a cgroup whose ancestors allow more device programs".into(),
            action,
            fix: "an ancestor cgroup has a device program attached without \
                  BPF_F_ALLOW_MULTI (`bpftool cgroup tree` shows it): pass \
                  cgroup_parent(<a cgroup outside it>), or set best_effort(true) to \
                  run without the rules"
                .into(),
        }),
        _ => Err(Error::io(action, None, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A program the verifier refuses (no exit): the error carries the
    /// verifier's log; without the privilege, the typed privilege error.
    #[test]
    fn refusals_say_why() {
        let bad = [Insn {
            code: super::super::devices_bpf::MOV_K,
            regs: 0,
            off: 0,
            imm: 1,
        }];
        let e = load(&bad).unwrap_err();
        // SAFETY: trivial getter.
        if unsafe { libc::geteuid() } == 0 {
            let s = e.to_string();
            assert!(matches!(e, Error::Io { .. }), "{e:?}");
            assert!(
                s.contains("verifier log: ") && !s.contains("(empty)"),
                "{s}"
            );
            assert!(load(&super::super::devices_bpf::program(&[])).is_ok());
        } else {
            assert!(matches!(e, Error::Privilege { .. }), "{e:?}");
        }
    }
}
