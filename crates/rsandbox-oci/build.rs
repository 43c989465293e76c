//! Link `rsandbox-oci` as a position-dependent executable: every OCI
//! command (`create`, `start`, `delete`, ...) is a process of its own (and
//! `create` re-executes itself once), and a PIE's ~19,000 relative
//! relocations cost ld.so their processing and tens of copy-on-write page
//! faults at each start, about 0.6 ms here (see README, "The first spawn of
//! a process"). The price: the runtime's own code and data sit at a fixed
//! address (shared libraries, heap and stack stay randomized).

fn main() {
    println!("cargo::rustc-link-arg-bins=-no-pie");
}
