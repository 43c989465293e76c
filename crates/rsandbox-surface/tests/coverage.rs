//! The table accounts for the whole builder, and the committed files are
//! what it renders.
//!
//! The core's builder methods are read from its source (every `impl
//! Sandbox` block under `crates/rsandbox/src`, wherever it lives): a public
//! method taking `self` by value and returning `Self` or `Sandbox`. Each
//! must be a row, a hand-written entry or an unbound one, so a setter added
//! to the core without reaching C and Python fails here, naming it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rsandbox_surface::table::{HAND_WRITTEN, SECTIONS, UNBOUND};

fn root() -> PathBuf {
    rsandbox_surface::workspace_root()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn is_sandbox(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Sandbox" || s.ident == "Self"))
}

/// A builder method: public, `self` by value, returning the builder.
fn is_builder_method(f: &syn::ImplItemFn) -> bool {
    let public = matches!(f.vis, syn::Visibility::Public(_));
    let by_value = matches!(
        f.sig.inputs.first(),
        Some(syn::FnArg::Receiver(r)) if r.reference.is_none()
    );
    let returns_builder = matches!(&f.sig.output, syn::ReturnType::Type(_, t) if is_sandbox(t));
    public && by_value && returns_builder
}

/// The builder methods of the core's `Sandbox`.
fn core_builder_methods() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&root().join("crates/rsandbox/src"), &mut files);
    let mut methods = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for item in ast.items {
            let syn::Item::Impl(imp) = item else { continue };
            if imp.trait_.is_some() || !is_sandbox(&imp.self_ty) {
                continue;
            }
            for item in imp.items {
                if let syn::ImplItem::Fn(f) = item {
                    if is_builder_method(&f) {
                        methods.insert(f.sig.ident.to_string());
                    }
                }
            }
        }
    }
    methods
}

fn table_methods() -> BTreeSet<String> {
    SECTIONS
        .iter()
        .flat_map(|s| s.rows.iter().map(|r| r.name))
        .chain(HAND_WRITTEN.iter().map(|h| h.method))
        .chain(UNBOUND.iter().map(|u| u.method))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_builder_method_of_the_core_is_in_the_table() {
    let core = core_builder_methods();
    assert!(
        core.len() > 80 && core.contains("memory_limit") && core.contains("device_rules"),
        "the scan found too few builder methods ({}): did the core's layout change? {core:?}",
        core.len()
    );
    let table = table_methods();
    let missing: Vec<_> = core.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "builder methods of the core that neither C nor Python offers: {missing:?}.\n\
         Add a row to crates/rsandbox-surface/src/table.rs and run \
         `cargo run -p rsandbox-surface` (or list them in HAND_WRITTEN / UNBOUND, saying why)"
    );
    let stale: Vec<_> = table.difference(&core).collect();
    assert!(
        stale.is_empty(),
        "the table names methods the core no longer has: {stale:?}"
    );
}

/// The hand-written bindings the table names exist: the C functions in the
/// header, the Python methods in the stubs (which stubtest holds to the
/// compiled module).
#[test]
fn hand_written_bindings_exist() {
    let header = std::fs::read_to_string(root().join("include/sandbox.h")).unwrap();
    let stubs = std::fs::read_to_string(root().join(rsandbox_surface::PYI)).unwrap();
    for h in HAND_WRITTEN {
        for c in h.c {
            assert!(
                header.contains(&format!(" {c}(")),
                "{}: {c} is not in include/sandbox.h",
                h.method
            );
        }
        for py in h.py {
            assert!(
                stubs.contains(&format!("    def {py}(")),
                "{}: Sandbox.{py} is not in {}",
                h.method,
                rsandbox_surface::PYI
            );
        }
    }
}

/// Every row reaches the header (through the generated C file and cbindgen).
#[test]
fn every_row_is_in_the_header() {
    let header = std::fs::read_to_string(root().join("include/sandbox.h")).unwrap();
    for r in SECTIONS.iter().flat_map(|s| s.rows) {
        assert!(
            header.contains(&format!(" sandbox_{}(", r.name)),
            "sandbox_{} is not in include/sandbox.h: regenerate it with \
             SANDBOX_UPDATE_HEADER=1 cargo test -p rsandbox-ffi header",
            r.name
        );
    }
}

/// The committed generated files are what the table renders (as
/// include/sandbox.h is what cbindgen renders).
#[test]
fn generated_files_are_up_to_date() {
    let stale = rsandbox_surface::stale(&root()).unwrap();
    assert!(
        stale.is_empty(),
        "{stale:?} differ from the binding table; regenerate with\n  \
         cargo run -p rsandbox-surface\n  \
         SANDBOX_UPDATE_HEADER=1 cargo test -p rsandbox-ffi header\nand commit them"
    );
}
