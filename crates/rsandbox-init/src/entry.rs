//! What a program without a C library must provide itself: the entry point
//! (`_start`, which hands the initial stack to [`run::main`]), the panic
//! handler, and the memory functions the compiler may call.

use crate::run;

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl _start",
    "_start:",
    "xor rbp, rbp",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {main}",
    "ud2",
    main = sym start,
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".globl _start",
    "_start:",
    "mov x29, xzr",
    "mov x0, sp",
    "bl {main}",
    "brk #0",
    main = sym start,
);

/// Called by `_start` with the initial stack pointer.
extern "C" fn start(sp: *const usize) -> ! {
    // SAFETY: `sp` is the kernel's initial stack.
    unsafe { run::main(sp) }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    crate::sys::exit(crate::proto::SETUP_FAILED)
}

// The crate is `no_builtins`, so these loops are not turned back into calls
// to themselves.

/// # Safety
/// C's `memcpy`.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: the caller passes valid, non-overlapping ranges of n bytes.
        unsafe { *dst.add(i) = *src.add(i) };
    }
    dst
}

/// # Safety
/// C's `memmove`.
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) < (src as usize) {
        for i in 0..n {
            // SAFETY: valid ranges of n bytes; copying upwards is safe here.
            unsafe { *dst.add(i) = *src.add(i) };
        }
    } else {
        for i in (0..n).rev() {
            // SAFETY: as above, copying downwards.
            unsafe { *dst.add(i) = *src.add(i) };
        }
    }
    dst
}

/// # Safety
/// C's `memset`.
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: the caller passes a valid range of n bytes.
        unsafe { *dst.add(i) = c as u8 };
    }
    dst
}

/// # Safety
/// C's `memcmp`.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: the caller passes valid ranges of n bytes.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return x as i32 - y as i32;
        }
    }
    0
}

/// # Safety
/// C's `bcmp`.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: forwarded.
    unsafe { memcmp(a, b, n) }
}

/// The prebuilt `core` was compiled for unwinding and names a personality
/// routine; with `panic=abort` nothing unwinds, so it is never called.
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}
