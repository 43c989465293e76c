//! The Python package as a surface: `drivers/driver.py` given every
//! scenario as JSON on stdin, one JSON line per scenario back. As root it
//! runs with the Python the package is installed in (`.venv`); nobody may
//! not read the checkout or the venv, so it runs a world-readable copy of
//! the installed package with the system's Python (the module is abi3, for
//! CPython >= 3.11), as python/tests/test_nobody.py does.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::artifacts;
use crate::observed::{Failure, Observed};
use crate::scenario::{Base, Prepared};
use crate::user::{TempDir, User};

pub fn run(user: User, scenarios: &[Prepared]) -> Vec<Observed> {
    let dir = TempDir::new("py", 0o755);
    let driver = dir.copy_in(&artifacts::driver("driver.py"), "driver.py");
    let mut cmd = match user {
        User::Root => {
            let mut c = user.command(&artifacts::python());
            c.arg(&driver);
            c
        }
        User::Nobody => {
            copy_package(&dir);
            let mut c = user.command(&system_python());
            c.arg("-S").arg(&driver).env("PYTHONPATH", dir.path());
            c
        }
    };
    let input = serde_json::to_string(&scenarios.iter().map(to_json).collect::<Vec<_>>()).unwrap();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the Python driver");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("the Python driver");
    writer.join().unwrap().expect("write to the Python driver");
    assert!(
        out.status.success(),
        "the Python driver failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| observe(serde_json::from_str(l).expect("a JSON line from the Python driver")))
        .collect()
}

/// A scenario as the driver reads it (arguments as written: durations in
/// seconds, as the Python setters take them).
fn to_json(s: &Prepared) -> Value {
    let base = match s.base {
        Base::Strict => "strict",
        Base::New => "new",
    };
    let steps: Vec<Value> = s.steps.iter().map(|(n, a)| json!([n, a])).collect();
    json!({"name": s.name, "base": base, "steps": steps, "argv": s.argv, "describe": s.describe})
}

/// The system's Python 3.
fn system_python() -> PathBuf {
    ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("a system python3 (apt-get install python3)")
}

/// Copy the package the venv's Python imports into `dir/rsandbox`, readable
/// by anyone.
fn copy_package(dir: &TempDir) {
    let out = Command::new(artifacts::python())
        .args([
            "-c",
            "import os, rsandbox; print(os.path.dirname(rsandbox.__file__))",
        ])
        .output()
        .expect("run the venv's python");
    assert!(
        out.status.success(),
        "the venv's Python cannot import rsandbox: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pkg = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let ok = Command::new("cp")
        .arg("-r")
        .arg(&pkg)
        .arg(dir.join("rsandbox"))
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "copy {}", pkg.display());
    let ok = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(dir.join("rsandbox"))
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "chmod the package copy");
    assert!(Path::new(&dir.join("rsandbox/__init__.py")).exists());
}

/// The driver's report, in the common shape. A raised exception must be
/// the class of its kind and the builtin a caller would catch.
fn observe(v: Value) -> Observed {
    if let Some(class) = v["exception"].as_str() {
        let builtins: Vec<&str> = v["builtins"]
            .as_array()
            .map(|b| b.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let typed = |kind: &str, builtin: &str| {
            if v["sandbox_error"] == true && builtins.contains(&builtin) {
                kind.to_owned()
            } else {
                format!("{class} (not a SandboxError and {builtin})")
            }
        };
        let kind = match class {
            "ConfigError" => typed("config", "ValueError"),
            "SandboxPermissionError" => typed("privilege", "PermissionError"),
            "UnsupportedError" => typed("unsupported", "OSError"),
            "ProgramNotFoundError" => typed("program_not_found", "FileNotFoundError"),
            "SpawnError" => typed("spawn", "OSError"),
            "SandboxOSError" => typed("io", "OSError"),
            other => other.to_owned(),
        };
        return Observed {
            error: Some(Failure {
                kind,
                field: v["field"]
                    .as_str()
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned),
                message: v["message"].as_str().unwrap_or_default().to_owned(),
            }),
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
