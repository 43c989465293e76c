//! Where the built surfaces are. The harness builds nothing: it runs what
//! `scripts/test.sh` built before it (the workspace build, then
//! `scripts/test-c.sh` and `scripts/test-python.sh`), so nothing is built
//! twice. A missing one fails the test saying how to build it.
//!
//! Overrides: `RSANDBOX_TEST_CLI` (the command), `RSANDBOX_TEST_LIBDIR`
//! (where `libsandbox.so` is), `RSANDBOX_TEST_PYTHON` (a Python that
//! imports `rsandbox`).

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The directory of the test binary's profile (`target/debug`): it runs as
/// `target/debug/deps/surfaces-HASH`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary sits in target/<profile>/deps")
        .to_owned()
}

fn require(path: PathBuf, how: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: {how} (scripts/test.sh builds it before these tests)",
        path.display()
    );
    path
}

fn from_env(var: &str) -> Option<PathBuf> {
    std::env::var_os(var).map(PathBuf::from)
}

/// The `rsandbox` command.
pub fn cli() -> PathBuf {
    let p = from_env("RSANDBOX_TEST_CLI").unwrap_or_else(|| profile_dir().join("rsandbox"));
    require(p, "build it with `cargo build -p rsandbox-cli`")
}

/// `libsandbox.so`.
pub fn libsandbox() -> PathBuf {
    let dir = from_env("RSANDBOX_TEST_LIBDIR").unwrap_or_else(profile_dir);
    require(
        dir.join("libsandbox.so"),
        "build it with `cargo build -p rsandbox-ffi` (scripts/test-c.sh)",
    )
}

/// `include/sandbox.h`.
pub fn header_dir() -> PathBuf {
    root().join("include")
}

/// A Python with the package installed (`.venv`, made by
/// scripts/test-python.sh).
pub fn python() -> PathBuf {
    let p = from_env("RSANDBOX_TEST_PYTHON").unwrap_or_else(|| root().join(".venv/bin/python"));
    require(
        p,
        "install the package with scripts/test-python.sh (a .venv with `maturin develop`)",
    )
}

/// A driver program of `tests/drivers`.
pub fn driver(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("drivers")
        .join(name)
}
