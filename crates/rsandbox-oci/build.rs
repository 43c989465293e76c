//! Link `rsandbox-oci` as a position-dependent executable: every OCI
//! command (`create`, `start`, `delete`, ...) is a process of its own, and a
//! PIE's ~10,000 relative relocations cost ld.so their processing and tens
//! of copy-on-write page faults at each start (see README, "The first
//! spawn of a process").

fn main() {
    println!("cargo::rustc-link-arg-bins=-no-pie");
}
