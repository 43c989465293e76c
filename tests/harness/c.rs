//! The C library as a surface: `drivers/driver.c`, compiled against
//! `include/sandbox.h` and the built `libsandbox.so` (strict warnings), with
//! a setter dispatch table written here from rsandbox-surface's table. The
//! scenarios go to it on stdin; one JSON line per scenario comes back.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use rsandbox_surface::{Setter, Ty};
use serde_json::Value;

use crate::artifacts;
use crate::observed::{Failure, Observed};
use crate::scenario::{Base, Prepared};
use crate::user::{TempDir, User};

pub fn run(user: User, scenarios: &[Prepared]) -> Vec<Observed> {
    let dir = TempDir::new("c", 0o755);
    let driver = build(&dir);
    let mut input = String::new();
    for s in scenarios {
        input.push_str(&script(s).unwrap_or_else(|e| panic!("{}: {e}", s.name)));
    }
    let mut child = user
        .command(&driver)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the C driver");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("the C driver");
    writer.join().unwrap().expect("write to the C driver");
    assert!(
        out.status.success(),
        "the C driver failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| observe(serde_json::from_str(l).expect("a JSON line from the C driver")))
        .collect()
}

/// Compile the driver into `dir` beside a copy of the library (found
/// through the rpath, as its soname `libsandbox.so.0`).
fn build(dir: &TempDir) -> PathBuf {
    let lib = dir.copy_in(&artifacts::libsandbox(), "libsandbox.so.0");
    std::os::unix::fs::symlink(&lib, dir.join("libsandbox.so")).unwrap();
    std::fs::write(dir.join("steps.h"), steps_h()).unwrap();
    let exe = dir.join("driver");
    let out = Command::new("cc")
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-O1",
        ])
        .arg("-I")
        .arg(artifacts::header_dir())
        .arg("-I")
        .arg(dir.path())
        .arg(artifacts::driver("driver.c"))
        .arg("-L")
        .arg(dir.path())
        .args(["-lsandbox", &format!("-Wl,-rpath,{}", dir.path().display())])
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("run cc (apt-get install gcc)");
    assert!(
        out.status.success(),
        "compiling tests/drivers/driver.c failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// The setter dispatch table: one `step_NAME` per row of the table,
/// converting its text arguments to the C types of its kinds.
pub fn steps_h() -> String {
    let rows: Vec<&Setter> = rsandbox_surface::table::SECTIONS
        .iter()
        .flat_map(|s| s.rows)
        .collect();
    let mut out =
        String::from("/* Written by tests/harness/c.rs from rsandbox-surface's table. */\n");
    for r in &rows {
        let mut prelude = String::new();
        let args: Vec<String> = r
            .args
            .iter()
            .enumerate()
            .map(|(i, a)| c_arg(a.ty, i, &mut prelude))
            .collect();
        let _ = writeln!(
            out,
            "static sandbox_result_t step_{n}(sandbox_t *sb, char **a) {{\n    (void)a;\n\
             {prelude}    return sandbox_{n}(sb{sep}{args});\n}}",
            n = r.name,
            sep = if args.is_empty() { "" } else { ", " },
            args = args.join(", ")
        );
    }
    out.push_str("static const struct step STEPS[] = {\n");
    for r in &rows {
        let _ = writeln!(out, "    {{\"{0}\", {1}, step_{0}}},", r.name, r.args.len());
    }
    out.push_str("};\n");
    out
}

/// The C expression converting text argument `i` to kind `ty` (a list
/// needs a statement first, in `prelude`: C leaves the order in which
/// arguments are evaluated open).
fn c_arg(ty: Ty, i: usize, prelude: &mut String) -> String {
    match ty {
        Ty::Flag => format!("a[{i}][0] == '1'"),
        Ty::Path | Ty::PathOr(_) | Ty::Text => format!("a[{i}]"),
        Ty::U16 => format!("(uint16_t)strtoul(a[{i}], NULL, 10)"),
        Ty::U32 => format!("(uint32_t)strtoul(a[{i}], NULL, 10)"),
        Ty::I32 => format!("(int32_t)strtol(a[{i}], NULL, 10)"),
        Ty::Fd => format!("(int)strtol(a[{i}], NULL, 10)"),
        Ty::F64 => format!("strtod(a[{i}], NULL)"),
        Ty::Count | Ty::Millis => format!("(uint64_t)strtoull(a[{i}], NULL, 10)"),
        Ty::Bytes => format!("(const uint8_t *)a[{i}], strlen(a[{i}])"),
        Ty::U32List => {
            let _ = writeln!(
                prelude,
                "    size_t n{i};\n    const uint32_t *v{i} = u32_list(a[{i}], &n{i});"
            );
            format!("v{i}, n{i}")
        }
    }
}

/// A scenario as the driver reads it.
pub fn script(s: &Prepared) -> Result<String, String> {
    let mut out = format!("scenario {}\n", encode(&s.name));
    let base = match s.base {
        Base::Strict => "strict",
        Base::New => "new",
    };
    let _ = writeln!(out, "base {base}");
    for (setter, values) in &s.steps {
        let row = crate::row(setter).ok_or_else(|| format!("{setter} is no row of the table"))?;
        if row.args.len() != values.len() {
            return Err(format!("{setter} takes {} arguments", row.args.len()));
        }
        let args: Vec<String> = row
            .args
            .iter()
            .zip(values)
            .map(|(a, v)| c_text(a.ty, v).map(|t| encode(&t)))
            .collect::<Result<_, _>>()?;
        let _ = writeln!(out, "step {setter} {}", args.join(" "));
    }
    let argv: Vec<String> = s.argv.iter().map(|a| encode(a)).collect();
    let verb = if s.describe { "describe" } else { "run" };
    let _ = writeln!(out, "argv {}\n{verb}", argv.join(" "));
    Ok(out)
}

/// A scenario's value as the text the driver converts for kind `ty`.
fn c_text(ty: Ty, v: &Value) -> Result<String, String> {
    let bad = || format!("{v} is not a value of kind {ty:?}");
    Ok(match (ty, v) {
        (Ty::Flag, Value::Bool(b)) => if *b { "1" } else { "0" }.to_owned(),
        (Ty::Path | Ty::PathOr(_) | Ty::Text | Ty::Bytes, Value::String(s)) => s.clone(),
        (Ty::Millis, Value::Number(n)) => {
            let secs = n.as_f64().ok_or_else(bad)?;
            format!("{}", (secs * 1000.0).round() as u64)
        }
        (Ty::U32List, Value::Array(items)) => items
            .iter()
            .map(|i| i.as_u64().map(|n| n.to_string()).ok_or_else(bad))
            .collect::<Result<Vec<_>, _>>()?
            .join(","),
        (_, Value::Number(n)) => n.to_string(),
        _ => return Err(bad()),
    })
}

/// Percent-encode a word of the driver's input.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"_./-:".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    if out.is_empty() {
        // A lone `%`: the empty word (a word cannot be empty on the line).
        out.push('%');
    }
    out
}

/// The driver's report, in the common shape.
fn observe(v: Value) -> Observed {
    if let Some(rc) = v["rc"].as_str() {
        let kind = match rc {
            "SANDBOX_INVALID_CONFIG" => "config",
            "SANDBOX_PRIVILEGE" => "privilege",
            "SANDBOX_UNSUPPORTED" => "unsupported",
            "SANDBOX_PROGRAM_NOT_FOUND" => "program_not_found",
            "SANDBOX_SPAWN_FAILED" => "spawn",
            "SANDBOX_IO" => "io",
            other => other,
        };
        let message = v["message"].as_str().unwrap_or_default();
        return Observed {
            error: Some(Failure::from_message(kind, message)),
            ..Observed::default()
        };
    }
    Observed {
        error: None,
        reason: v["reason"].as_str().map(str::to_owned),
        exit_code: v["exit_code"].as_i64().map(|c| c as i32),
        signal: v["signal"].as_i64().map(|s| s as i32),
        pids_peak: v["pids_peak"].as_u64(),
        stdout: v["stdout"].as_str().unwrap_or_default().to_owned(),
        stderr: v["stderr"].as_str().unwrap_or_default().to_owned(),
        json: v["json"].as_str().map(str::to_owned),
    }
}
