//! The C setters: `crates/rsandbox-ffi/src/generated.rs`.
//!
//! Each row becomes `sandbox_<name>(sb, args...)`: the arguments checked
//! and converted with the crate's helpers (`c_path`, `text`, `bytes`,
//! `array`), then the core's method applied through `update`, inside the
//! panic boundary `guard`. cbindgen reads the file like any other of the
//! crate, so the rows reach `include/sandbox.h` with their docs.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::doc::{self, Lang};
use super::GENERATED_BY;
use crate::model::{Arg, Setter, Ty};
use crate::table::SECTIONS;

/// The whole file, before rustfmt.
pub fn file() -> String {
    let mut body = String::new();
    let mut uses = Uses::default();
    for section in SECTIONS {
        let _ = writeln!(body, "\n// --- {} ---", section.title);
        for s in section.rows {
            body.push_str(&function(s, &mut uses));
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "//! The mechanical setters of `sandbox_t`: one per row of the binding\n\
         //! table. Every setter mirrors the Rust method of the same name (without\n\
         //! the `sandbox_` prefix) and only records; nothing is checked until\n\
         //! `sandbox_validate` or a spawn.\n//!\n{GENERATED_BY}\n"
    );
    out.push_str(&uses.render());
    out.push_str(&body);
    out
}

/// The imports the rendered functions need.
#[derive(Default)]
struct Uses {
    ffi: BTreeSet<&'static str>,
    error: BTreeSet<&'static str>,
    duration: bool,
}

impl Uses {
    fn render(&self) -> String {
        let mut out = String::new();
        if !self.ffi.is_empty() {
            let ffi: Vec<_> = self.ffi.iter().copied().collect();
            let _ = writeln!(out, "use std::ffi::{{{}}};", ffi.join(", "));
        }
        if self.duration {
            out.push_str("use std::time::Duration;\n");
        }
        out.push_str("\nuse crate::builder::{sandbox_t, update};\n");
        let error: Vec<_> = self.error.iter().copied().collect();
        let _ = writeln!(out, "use crate::error::{{{}}};", error.join(", "));
        out.push_str("use crate::sandbox_result_t;\n");
        out
    }
}

/// One `extern "C"` setter.
fn function(s: &Setter, uses: &mut Uses) -> String {
    uses.error.insert("guard");
    let mut out = String::from("\n");
    for line in doc::lines(s, Lang::C) {
        let _ = writeln!(out, "///{}{line}", if line.is_empty() { "" } else { " " });
    }
    let params: Vec<String> = std::iter::once("sb: *mut sandbox_t".to_owned())
        .chain(s.args.iter().map(|a| param(a, uses)))
        .collect();
    let converts: Vec<String> = s.args.iter().filter_map(|a| convert(a, uses)).collect();
    let values: Vec<String> = s.args.iter().map(|a| value(a, uses)).collect();
    let call = match s.via {
        Some(ctor) => format!("{ctor}({})", values.join(", ")),
        None => values.join(", "),
    };
    let update = format!("update(sb, |s| s.{}({call}))", s.name);
    let _ = writeln!(
        out,
        "#[no_mangle]\npub extern \"C\" fn sandbox_{}({}) -> sandbox_result_t {{",
        s.name,
        params.join(", ")
    );
    if converts.is_empty() {
        let _ = writeln!(out, "guard(|| {update})");
    } else {
        let _ = writeln!(out, "guard(|| {{\n{}\n{update}\n}})", converts.join("\n"));
    }
    out.push_str("}\n");
    out
}

/// The C parameter(s) of `a`.
fn param(a: &Arg, uses: &mut Uses) -> String {
    let n = a.c_name();
    let ty = match a.ty {
        Ty::Flag => "bool",
        Ty::Path | Ty::PathOr(_) | Ty::Text => {
            uses.ffi.insert("c_char");
            "*const c_char"
        }
        Ty::U16 => "u16",
        Ty::U32 => "u32",
        Ty::I32 => "i32",
        Ty::Fd => {
            uses.ffi.insert("c_int");
            "c_int"
        }
        Ty::F64 => "f64",
        Ty::Count | Ty::Millis => "u64",
        Ty::Bytes => return format!("{n}: *const u8, len: usize"),
        Ty::U32List => return format!("{n}: *const u32, n: usize"),
    };
    format!("{n}: {ty}")
}

/// The checked conversion of `a` into an owned value, if it needs one.
fn convert(a: &Arg, uses: &mut Uses) -> Option<String> {
    let n = a.c_name();
    let (helper, text) = match a.ty {
        Ty::Path | Ty::PathOr(_) => ("c_path", format!("let {n} = c_path({n}, \"{n}\")?;")),
        Ty::Text => ("text", format!("let {n} = text({n}, \"{n}\")?.to_owned();")),
        Ty::Bytes => (
            "bytes",
            format!("let {n} = bytes({n}, len, \"{n}\")?.to_vec();"),
        ),
        Ty::U32List => (
            "array",
            format!("let {n} = array({n}, n, \"{n}\")?.to_vec();"),
        ),
        _ => return None,
    };
    uses.error.insert(helper);
    Some(text)
}

/// The value passed to the core for `a`.
fn value(a: &Arg, uses: &mut Uses) -> String {
    match a.ty {
        Ty::Millis => {
            uses.duration = true;
            format!("Duration::from_millis({})", a.c_name())
        }
        _ => a.c_name().to_owned(),
    }
}
