//! Compile this crate's source a second time, as the init program itself: a
//! static executable with no C library (`--cfg rsandbox_init_bin`,
//! `panic=abort`, no start files), written to `OUT_DIR/rsandbox-init` for
//! `lib.rs` to embed. `rustc` is the one cargo uses (`RUSTC`), for the same
//! target.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(rsandbox_init_bin)");
    println!("cargo::rerun-if-changed=src");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = std::env::var("TARGET").expect("TARGET");
    let bin = out.join("rsandbox-init");
    let status = Command::new(rustc)
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "bin",
            "--crate-name",
            "rsandbox_init",
        ])
        .args(["--target", &target, "--cfg", "rsandbox_init_bin"])
        .args([
            "-C",
            "panic=abort",
            "-C",
            "opt-level=s",
            "-C",
            "debuginfo=0",
        ])
        .args(["-C", "strip=symbols", "-C", "relocation-model=static"])
        .args(["-C", "link-arg=-nostartfiles", "-C", "link-arg=-nostdlib"])
        .args([
            "-C",
            "link-arg=-static",
            "-C",
            "link-arg=-Wl,--build-id=none",
        ])
        .arg("src/lib.rs")
        .arg("-o")
        .arg(&bin)
        // A wrapper's or the outer build's flags are for the outer build.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("run rustc for the init program");
    assert!(status.success(), "compiling the init program failed");
}
