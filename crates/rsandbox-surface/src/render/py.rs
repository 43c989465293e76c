//! The Python setters: `crates/rsandbox-py/src/generated.rs`.
//!
//! Each row becomes a method of `rsandbox.Sandbox` in a `#[pymethods]`
//! block of its own (PyO3's `multiple-pymethods`): the arguments converted
//! with the crate's `convert` helpers, then a new `Sandbox` returned with
//! the core's method applied (`PySandbox::with`), the receiver unchanged.

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
            body.push_str(&method(s, &mut uses));
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "//! The mechanical setters of `rsandbox.Sandbox`: one per row of the\n\
         //! binding table. Each returns a new `Sandbox`, the receiver unchanged.\n\
         //!\n{GENERATED_BY}\n"
    );
    out.push_str(&uses.render());
    out.push_str("\n#[pymethods]\nimpl PySandbox {");
    out.push_str(&body);
    out.push_str("}\n");
    out
}

/// The imports the rendered methods need.
#[derive(Default)]
struct Uses {
    raw_fd: bool,
    sandbox: bool,
    convert: BTreeSet<&'static str>,
}

impl Uses {
    fn render(&self) -> String {
        let mut out = String::new();
        if self.raw_fd {
            out.push_str("use std::os::fd::RawFd;\n\n");
        }
        out.push_str("use pyo3::prelude::*;\n");
        if self.sandbox {
            out.push_str("use rsandbox::Sandbox;\n");
        }
        out.push('\n');
        if !self.convert.is_empty() {
            let c: Vec<_> = self.convert.iter().copied().collect();
            let _ = writeln!(out, "use crate::convert::{{{}}};", c.join(", "));
        }
        out.push_str("use crate::sandbox::PySandbox;\n");
        out
    }
}

/// One method.
fn method(s: &Setter, uses: &mut Uses) -> String {
    let mut out = String::from("\n");
    for line in doc::lines(s, Lang::Py) {
        let _ = writeln!(out, "///{}{line}", if line.is_empty() { "" } else { " " });
    }
    if s.args.iter().any(|a| default(a).is_some()) {
        let sig: Vec<String> = s
            .args
            .iter()
            .map(|a| match default(a) {
                Some(d) => format!("{}={d}", a.name),
                None => a.name.to_owned(),
            })
            .collect();
        let _ = writeln!(out, "#[pyo3(signature = ({}))]", sig.join(", "));
    }
    let params: Vec<String> = std::iter::once("&self".to_owned())
        .chain(s.args.iter().map(|a| param(a, uses)))
        .collect();
    let converts: Vec<String> = s.args.iter().filter_map(|a| convert(s, a, uses)).collect();
    let names: Vec<&str> = s.args.iter().map(|a| a.name).collect();
    let apply = match (s.via, names.is_empty()) {
        (_, true) => {
            uses.sandbox = true;
            format!("self.with(Sandbox::{})", s.name)
        }
        (Some(ctor), false) => format!("self.with(|s| s.{}({ctor}({})))", s.name, names.join(", ")),
        (None, false) => format!("self.with(|s| s.{}({}))", s.name, names.join(", ")),
    };
    let ret = if converts.is_empty() {
        "Self"
    } else {
        "PyResult<Self>"
    };
    let _ = writeln!(out, "fn {}({}) -> {ret} {{", s.name, params.join(", "));
    for c in &converts {
        let _ = writeln!(out, "{c}");
    }
    if converts.is_empty() {
        let _ = writeln!(out, "{apply}");
    } else {
        let _ = writeln!(out, "Ok({apply})");
    }
    out.push_str("}\n");
    out
}

/// The default of `a` in the signature (a Rust expression), if it has one.
fn default(a: &Arg) -> Option<&'static str> {
    match a.ty {
        Ty::Flag => Some("true"),
        Ty::PathOr(_) => Some("None"),
        _ => a.py_default,
    }
}

/// The Rust parameter PyO3 extracts `a` into.
fn param(a: &Arg, uses: &mut Uses) -> String {
    let ty = match a.ty {
        Ty::Flag => "bool",
        Ty::Path | Ty::Count | Ty::Millis | Ty::Bytes => "&Bound<'_, PyAny>",
        Ty::PathOr(_) => "Option<&Bound<'_, PyAny>>",
        Ty::Text => "String",
        Ty::U16 => "u16",
        Ty::U32 => "u32",
        Ty::I32 => "i32",
        Ty::Fd => {
            uses.raw_fd = true;
            "RawFd"
        }
        Ty::F64 => "f64",
        Ty::U32List => "Vec<u32>",
    };
    format!("{}: {ty}", a.name)
}

/// The conversion of `a` into the core's type, if PyO3's extraction is not
/// enough (paths, counts that must not be negative, durations, bytes).
fn convert(s: &Setter, a: &Arg, uses: &mut Uses) -> Option<String> {
    let n = a.name;
    let (helper, text) = match a.ty {
        Ty::Path => ("self as conv", format!("let {n} = conv::path({n})?;")),
        Ty::PathOr(d) => (
            "self as conv",
            format!(
                "let {n} = {n}.map(conv::path).transpose()?.unwrap_or_else(|| \"{d}\".into());"
            ),
        ),
        Ty::Bytes => ("self as conv", format!("let {n} = conv::bytes({n})?;")),
        Ty::Count => ("count", format!("let {n} = count(\"{}\", {n})?;", s.name)),
        Ty::Millis => (
            "limit_duration",
            format!("let {n} = limit_duration(\"{}\", {n})?;", s.name),
        ),
        _ => return None,
    };
    uses.convert.insert(helper);
    Some(text)
}
