//! Whether this process has spawned a box before.
//!
//! Two pieces of the launch pipeline pay off only over many spawns: the
//! template mount namespace (`fs/template.rs`: the default root view built
//! once, then copied by each box) and the network namespaces made ahead
//! (`netpool.rs`). For the first spawn of a process they cost more than they
//! save: the template is built and then copied, where the per-box path
//! builds the view once; the pool's thread starts and makes two namespaces
//! that a process which spawns once (the `rsandbox` command, a short script)
//! tears down unused at exit, on the same cores as the spawn. Measured with
//! `hyperfine -N 'rsandbox run -- /bin/true'` on 2 cores: 16.8 ms with both
//! from the first spawn, 10.9 ms with neither (README, Performance).
//!
//! So they start at a process's *second* spawn: the first goes the per-box
//! way, every later one takes the shared machinery. A forked child process
//! starts counting again (its pool and launcher threads did not come along).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::sandbox::Sandbox;

/// The pid of the process that counted (high 32 bits) and its spawns so far
/// (low 32 bits, saturating).
static SPAWNS: AtomicU64 = AtomicU64::new(0);

/// Count one spawn of this process; returns whether one came before it.
pub(crate) fn count_spawn() -> bool {
    let me = u64::from(std::process::id());
    let mut seen = SPAWNS.load(Ordering::Relaxed);
    loop {
        let before = if seen >> 32 == me {
            seen & 0xffff_ffff
        } else {
            0
        };
        let next = (me << 32) | (before + 1).min(0xffff_ffff);
        match SPAWNS.compare_exchange_weak(seen, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return before > 0,
            Err(now) => seen = now,
        }
    }
}

/// Whether the template may serve the view of `sb` (`warm`: from
/// [`count_spawn`]). A box that keeps a capability always takes it, cold or
/// not: only the template's copied mounts are locked by the kernel, so only
/// there can a box holding `CAP_SYS_ADMIN` in its user namespace not remount
/// a read-only bind read-write. A box without capabilities can do neither
/// on either path, and the two views are the same (`tests/fs.rs`).
pub(crate) fn shared_view(sb: &Sandbox, warm: bool) -> bool {
    warm || !sb.caps.drops_all()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_second_spawn_is_warm() {
        // Other unit tests may spawn in this process: only the order of
        // these two calls is known.
        super::count_spawn();
        assert!(super::count_spawn());
    }
}
