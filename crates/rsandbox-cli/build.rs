//! Link the `rsandbox` command as a position-dependent executable: each run
//! is one process, and a PIE's ~8,000 relative relocations (vtables and
//! static tables in `.data.rel.ro`) cost ld.so their processing and ~30
//! copy-on-write page faults at every start (see README, "The first spawn
//! of a process"). The library, the C library and the Python module are
//! unaffected.

fn main() {
    println!("cargo::rustc-link-arg-bins=-no-pie");
}
