//! The binding table of rsandbox: one row per mechanical setter of the
//! `Sandbox` builder, rendered into
//!
//! - the C setters, `crates/rsandbox-ffi/src/generated.rs` (and through
//!   cbindgen, `include/sandbox.h`),
//! - the Python setters, `crates/rsandbox-py/src/generated.rs`,
//! - the setter section of the stubs, `python/rsandbox/_rsandbox.pyi`.
//!
//! The generated files are committed, like the header, so a reader (and
//! cbindgen) sees plain code; `cargo run -p rsandbox-surface` rewrites them
//! and `cargo test -p rsandbox-surface` fails when one has drifted from the
//! table. The rows carry no code: a row names the core method, the kinds of
//! its arguments and one doc, and each renderer knows how its language
//! takes each kind, so the bindings stay as thin as the hand-written ones
//! were. The setters that need more than a kind can say (stdio, rlimit,
//! device rules...) stay hand-written, and the table lists them
//! ([`table::HAND_WRITTEN`]) so that every builder method of the core is
//! accounted for (`tests/coverage.rs`).
//!
//! After pydantic-core's `error_types!` (one list generating many items)
//! and rustls-ffi's committed, diff-checked header.

pub mod model;
mod render;
pub mod table;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use model::*;

/// The C setters, relative to the workspace root.
pub const C_SETTERS: &str = "crates/rsandbox-ffi/src/generated.rs";
/// The Python setters.
pub const PY_SETTERS: &str = "crates/rsandbox-py/src/generated.rs";
/// The stubs holding the generated section.
pub const PYI: &str = "python/rsandbox/_rsandbox.pyi";

/// A rendered file: where it goes and what it holds.
#[derive(Debug)]
pub struct Generated {
    /// Relative to the workspace root.
    pub path: &'static str,
    /// The whole file.
    pub text: String,
}

/// The workspace root this crate sits in.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every generated file, rendered from the table. The stubs are read from
/// `root` (only their generated section is replaced); the Rust files are
/// formatted with `rustfmt`, as `cargo fmt` would.
pub fn generate(root: &Path) -> Result<Vec<Generated>, String> {
    let pyi_path = root.join(PYI);
    let pyi = std::fs::read_to_string(&pyi_path)
        .map_err(|e| format!("read {}: {e}", pyi_path.display()))?;
    Ok(vec![
        Generated {
            path: C_SETTERS,
            text: rustfmt(&render::c::file())?,
        },
        Generated {
            path: PY_SETTERS,
            text: rustfmt(&render::py::file())?,
        },
        Generated {
            path: PYI,
            text: render::pyi::splice(&pyi).map_err(|e| format!("{PYI}: {e}"))?,
        },
    ])
}

/// The generated files whose committed text under `root` differs from the
/// table's.
pub fn stale(root: &Path) -> Result<Vec<&'static str>, String> {
    Ok(generate(root)?
        .into_iter()
        .filter(|g| std::fs::read_to_string(root.join(g.path)).ok().as_ref() != Some(&g.text))
        .map(|g| g.path)
        .collect())
}

/// Write the generated files under `root`; returns those that changed.
pub fn write(root: &Path) -> Result<Vec<&'static str>, String> {
    let mut changed = Vec::new();
    for g in generate(root)? {
        let path = root.join(g.path);
        if std::fs::read_to_string(&path).ok().as_ref() != Some(&g.text) {
            std::fs::write(&path, &g.text).map_err(|e| format!("write {}: {e}", path.display()))?;
            changed.push(g.path);
        }
    }
    Ok(changed)
}

/// `src` formatted by rustfmt (edition 2021, default style: the workspace
/// has no rustfmt.toml), so the files pass `cargo fmt --check` as written.
fn rustfmt(src: &str) -> Result<String, String> {
    let rustfmt = std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into());
    let mut child = Command::new(&rustfmt)
        .args(["--edition", "2021", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("run rustfmt (rustup component add rustfmt): {e}"))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = src.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("rustfmt: {e}"))?;
    writer
        .join()
        .expect("rustfmt writer")
        .map_err(|e| format!("rustfmt stdin: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "rustfmt failed on the rendered code: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("rustfmt output: {e}"))
}

#[cfg(test)]
mod tests {
    use super::table::{HAND_WRITTEN, SECTIONS, UNBOUND};
    use super::*;
    use std::collections::HashSet;

    /// A method is a row, hand-written or unbound: once.
    #[test]
    fn every_method_is_listed_once() {
        let mut seen = HashSet::new();
        let names = SECTIONS
            .iter()
            .flat_map(|s| s.rows.iter().map(|r| r.name))
            .chain(HAND_WRITTEN.iter().map(|h| h.method))
            .chain(UNBOUND.iter().map(|u| u.method));
        for name in names {
            assert!(seen.insert(name), "{name} is listed twice");
        }
    }

    /// The C parameters of a row have distinct names (`sb` and the length
    /// parameters `len` and `n` included).
    #[test]
    fn c_parameters_do_not_clash() {
        for r in SECTIONS.iter().flat_map(|s| s.rows) {
            let mut seen = HashSet::from(["sb", "s"]);
            for a in r.args {
                assert!(
                    seen.insert(a.c_name()),
                    "{}: {} clashes",
                    r.name,
                    a.c_name()
                );
                let extra = match a.ty {
                    Ty::Bytes => Some("len"),
                    Ty::U32List => Some("n"),
                    _ => None,
                };
                if let Some(extra) = extra {
                    assert!(seen.insert(extra), "{}: {extra} clashes", r.name);
                }
            }
        }
    }
}
