//! The box's PID 1, as a program of its own.
//!
//! A box with a PID namespace needs an init: the first process of the
//! namespace, which reaps orphans, forwards signals to the payload and reports
//! the payload's wait status. The launch pipeline's child sets the box up
//! (mounts, ids, capabilities, Landlock) as a copy of the caller, then
//! `execveat`s this program from a sealed memfd, so the init holds nothing of
//! the caller: not its memory (an embedding service's keys), not its
//! environment, not its fds, and `/proc/1/exe` is a sealed memfd, never a
//! host binary a box root could overwrite (runc CVE-2019-5736).
//!
//! The init makes itself non-dumpable before anything else (no process of the
//! box exists yet), forks the payload, which installs the box's seccomp
//! filter and execs, then drops every capability and filters itself down to
//! the dozen syscalls its loop needs (bubblewrap installs the box's filter in
//! its init for the same reason): a payload that reached it could neither read
//! it nor use it to escape the box's filter.
//!
//! The crate is `no_std` and uses no libc: raw syscalls only
//! ([`sys`]), so the binary is a few kilobytes, static, and starts in tens of
//! microseconds. `build.rs` compiles this same source as that binary
//! (`--cfg rsandbox_init_bin`, `panic=abort`, no start files) and
//! [`IMAGE`] embeds it; as a library the crate also gives the launch
//! pipeline the control protocol ([`proto`]) both sides speak.
#![no_std]
#![cfg_attr(rsandbox_init_bin, no_main)]
#![cfg_attr(rsandbox_init_bin, no_builtins)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod proto;
pub mod sys;

// The program's parts: compiled into the binary, and into the tests (the
// library itself only carries the protocol and the image).
#[cfg(any(test, rsandbox_init_bin))]
#[cfg_attr(test, allow(dead_code))]
mod filter;
#[cfg(any(test, rsandbox_init_bin))]
#[cfg_attr(test, allow(dead_code))]
mod run;

#[cfg(rsandbox_init_bin)]
mod entry;

/// The init program (a static ELF executable for this target), compiled
/// from this crate by `build.rs`.
#[cfg(not(rsandbox_init_bin))]
pub static IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rsandbox-init"));
