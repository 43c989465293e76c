//! The kernel's floor: raw `clone` into the namespaces a box gets, with
//! nothing of rsandbox around it. No sandbox with those namespaces can do
//! better on this kernel, so a row's ratio to its floor is the sandbox's
//! own share of the cost.

use std::ffi::{CStr, CString};

/// User, pid, mount, net, ipc and uts namespaces: a namespaced template
/// fork's.
pub const SIX_NAMESPACES: u64 = rsandbox::template::NS_FLAGS;

/// The six and a cgroup namespace: `Sandbox::strict()`'s seven.
pub const SEVEN_NAMESPACES: u64 = SIX_NAMESPACES | libc::CLONE_NEWCGROUP as u64;

/// A program to exec in the floor's child, prepared before the clone (the
/// child only calls `execve` and `_exit`).
pub struct Exec {
    _owned: Vec<CString>,
    argv: Vec<*const libc::c_char>,
}

impl Exec {
    pub fn new(program: &str) -> Exec {
        let owned = vec![CString::new(program).expect("no NUL in the program")];
        let argv = owned
            .iter()
            .map(|c| c.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        Exec {
            _owned: owned,
            argv,
        }
    }

    fn program(&self) -> &CStr {
        // SAFETY: argv[0] points into `_owned`, alive as long as self.
        unsafe { CStr::from_ptr(self.argv[0]) }
    }
}

/// A child in the namespaces `flags` that execs `exec` (with an empty
/// environment) or, without one, exits 0 at once.
pub fn clone_child(flags: u64, exec: Option<&Exec>) -> libc::pid_t {
    let flags = flags | libc::SIGCHLD as u64;
    // SAFETY: clone without CLONE_VM and without a new stack, as fork
    // does: the child is a copy of this process and only calls execve and
    // _exit, on data prepared before the clone.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if pid == 0 {
        if let Some(e) = exec {
            let envp: [*const libc::c_char; 1] = [std::ptr::null()];
            // SAFETY: argv and envp are NULL-terminated arrays of C
            // strings that outlive the call.
            unsafe { libc::execve(e.program().as_ptr(), e.argv.as_ptr(), envp.as_ptr()) };
            // SAFETY: the exec failed; end the child without running anything.
            unsafe { libc::_exit(127) };
        }
        // SAFETY: the child ends here without running anything else.
        unsafe { libc::_exit(0) };
    }
    assert!(pid > 0, "clone: {}", std::io::Error::last_os_error());
    pid as libc::pid_t
}

/// Wait for a floor child; panics unless it exited 0.
pub fn reap(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: waits for our own child; status is a valid out-pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(r == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
}
