//! The no-allocation rule as a test: this allocator aborts when called in
//! any process other than the test process, so a child that allocates
//! between clone and exec (the pre-exec routine, the PID-1 init, the port
//! connector, the `LISTEN_PID` slot) dies with SIGABRT instead of running
//! the payload. Test binaries include it with `mod guard;` (through
//! `common`) or `#[path = "common/guard.rs"] mod guard;`.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI32, Ordering};

/// The guarding allocator.
pub struct GuardAlloc;
static PARENT: AtomicI32 = AtomicI32::new(0);

fn check() {
    // SAFETY: raw getpid (glibc's cached pid is stale after a raw clone).
    let me = unsafe { libc::syscall(libc::SYS_getpid) } as i32;
    // The first allocation happens in the test process, before any fork.
    let parent = match PARENT.compare_exchange(0, me, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => me,
        Err(p) => p,
    };
    if me != parent {
        let msg = b"rsandbox: allocation in a forked child before exec\n";
        // SAFETY: write and abort are async-signal-safe.
        unsafe {
            libc::write(2, msg.as_ptr().cast(), msg.len());
            libc::abort();
        }
    }
}

// SAFETY: delegates to the system allocator after the check.
unsafe impl GlobalAlloc for GuardAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        check();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        check();
        // SAFETY: forwarded; p was allocated by System with l.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        check();
        // SAFETY: forwarded; p was allocated by System with l.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: GuardAlloc = GuardAlloc;
