//! Link the `rsandbox` command as a position-dependent executable: each run
//! is one process, and a PIE's ~8,000 relative relocations (vtables and
//! static tables in `.data.rel.ro`) cost ld.so their processing and ~30
//! copy-on-write page faults at every start, about 0.5 ms here (see README,
//! "The first spawn of a process"). The price: the command's own code and
//! data sit at a fixed address (shared libraries, heap and stack stay
//! randomized). The core crate, libsandbox and the Python module are built
//! as before.

fn main() {
    println!("cargo::rustc-link-arg-bins=-no-pie");
}
