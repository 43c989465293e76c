//! Every generated setter with sample arguments: what the C and Python
//! bindings must turn into the same description (their JSON forms, nothing
//! run). It checks each row's rendering in both languages against the
//! other, units included (milliseconds in C, seconds in Python).

use serde_json::{json, Value};

use rsandbox_surface::{Setter, Ty};

use crate::scenario::{Base, Prepared};

/// The bases a setter is applied to: a setter that undoes part of one
/// (`no_seccomp`, `keep_all_caps`) changes the other.
pub const BASES: [Base; 2] = [Base::New, Base::Strict];

/// Each base alone, then each row of the table on each base with two sets
/// of sample arguments (flags on, then off; other values in two variants),
/// each described, nothing run.
pub fn all() -> Vec<Prepared> {
    let mut out: Vec<Prepared> = BASES
        .into_iter()
        .map(|b| prepared(base_name(b), b, vec![]))
        .collect();
    for r in rsandbox_surface::table::SECTIONS
        .iter()
        .flat_map(|s| s.rows)
    {
        for b in BASES {
            for variant in 0..2 {
                let args = r.args.iter().map(|a| value(r, a.ty, variant)).collect();
                let steps = vec![(r.name.to_owned(), args)];
                out.push(prepared(name(r, b, variant), b, steps));
            }
        }
    }
    out
}

/// The name of a base's own sample.
pub fn base_name(b: Base) -> String {
    format!("{b:?}")
}

/// The sample's name for `row` on `base` in `variant`.
pub fn name(row: &Setter, base: Base, variant: u32) -> String {
    format!("{}#{base:?}#{variant}", row.name)
}

fn prepared(name: String, base: Base, steps: Vec<(String, Vec<Value>)>) -> Prepared {
    Prepared {
        name,
        base,
        steps,
        argv: vec!["/bin/true".into()],
        describe: true,
    }
}

/// A value of kind `ty`, distinct per variant.
fn value(row: &Setter, ty: Ty, variant: u32) -> Value {
    let v = u64::from(variant);
    match ty {
        Ty::Flag => json!(variant == 0),
        Ty::Path | Ty::PathOr(_) => json!(format!("/sample/{}/{variant}", row.name)),
        Ty::Text | Ty::Bytes => json!(format!("sample-{variant}")),
        Ty::U16 => json!(100 + v),
        Ty::U32 => json!(1000 + v),
        Ty::I32 => json!(-10 - i64::from(variant)),
        Ty::Fd => json!(3 + v),
        Ty::F64 => json!(0.5 + f64::from(variant)),
        Ty::Count => json!(4096 * (v + 1)),
        Ty::Millis => json!(1.5 + f64::from(variant)),
        Ty::U32List => json!([1 + v, 2 + v]),
    }
}
