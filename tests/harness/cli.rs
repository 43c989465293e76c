//! The `rsandbox` command as a surface: each step becomes its flag, the
//! outcome comes from `--json` (the last line of stdout, after the
//! payload's own output), a refused description from exit status 125 and
//! the message on stderr.

use serde_json::Value;

use crate::artifacts;
use crate::observed::{Failure, Observed};
use crate::scenario::{Base, Prepared};
use crate::user::{TempDir, User};

/// The command's exit status when it did not run the payload.
const REFUSED: i32 = 125;

pub fn run(user: User, scenarios: &[Prepared]) -> Vec<Observed> {
    let dir = TempDir::new("cli", 0o755);
    let cli = dir.copy_in(&artifacts::cli(), "rsandbox");
    scenarios
        .iter()
        .map(|s| {
            let args = args(s).unwrap_or_else(|e| panic!("{}: {e}", s.name));
            let out = user
                .command(&cli)
                .args(&args)
                .output()
                .expect("run rsandbox");
            observe(out)
        })
        .collect()
}

/// The command line of a scenario.
pub fn args(s: &Prepared) -> Result<Vec<String>, String> {
    let mut args = vec!["run".to_owned()];
    if s.base == Base::New {
        args.push("--relaxed".into());
    }
    for (setter, values) in &s.steps {
        args.extend(flag(setter, values)?);
    }
    args.push("--json".into());
    args.push("--".into());
    args.extend(s.argv.iter().cloned());
    Ok(args)
}

/// A value as the command reads it: numbers and text as written.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The flags that make one builder step.
fn flag(setter: &str, v: &[Value]) -> Result<Vec<String>, String> {
    let one = |name: &str| -> Result<Vec<String>, String> {
        match v {
            [x] => Ok(vec![name.to_owned(), text(x)]),
            _ => Err(format!("{setter} takes one value on the command line")),
        }
    };
    let pair = |name: &str| -> Result<Vec<String>, String> {
        match v {
            [a, b] => Ok(vec![name.to_owned(), format!("{}:{}", text(a), text(b))]),
            _ => Err(format!("{setter} takes two values on the command line")),
        }
    };
    let on = |name: &str, when: bool| -> Result<Vec<String>, String> {
        match v {
            [Value::Bool(b)] if *b == when => Ok(vec![name.to_owned()]),
            _ => Err(format!("the command has {name} for {setter}({when}) only")),
        }
    };
    let unshare = |ns: &str| Ok(vec!["--unshare".to_owned(), ns.to_owned()]);
    match setter {
        "user_ns" => unshare("user"),
        "pid_ns" => unshare("pid"),
        "mount_ns" => unshare("mount"),
        "uts_ns" => unshare("uts"),
        "ipc_ns" => unshare("ipc"),
        "net_ns" => unshare("net"),
        "cgroup_ns" => unshare("cgroup"),
        "time_ns" => unshare("time"),
        "all_ns" => Ok(vec!["--unshare-all".into()]),
        "uid" => one("--uid"),
        "gid" => one("--gid"),
        "hostname" => one("--hostname"),
        "inherit_env" => Ok(vec!["--inherit-env".into()]),
        "env_remove" => one("--unsetenv"),
        "cwd" => one("--cwd"),
        "rootfs" => one("--rootfs"),
        "bind" => pair("--bind"),
        "ro_bind" => pair("--ro-bind"),
        "tmpfs" => pair("--tmpfs"),
        "memory_limit" => one("--memory"),
        "pids_limit" => one("--pids"),
        "cpu_limit" => one("--cpus"),
        "cpu_time_limit" => one("--cpu-time"),
        "rlimit_nofile" => one("--nofile"),
        "timeout" => one("--timeout"),
        "grace" => one("--grace"),
        "seccomp_default" => Ok(vec!["--seccomp".into(), "default".into()]),
        "no_seccomp" => Ok(vec!["--seccomp".into(), "none".into()]),
        "seccomp_oci_file" => one("--seccomp"),
        "landlock_read" => one("--landlock-read"),
        "landlock_write" => one("--landlock-write"),
        "landlock_exec" => one("--landlock-exec"),
        "best_effort" => on("--best-effort", true),
        "die_with_parent" => on("--no-die-with-parent", false),
        other => Err(format!("the command has no flag for {other}")),
    }
}

/// The command's result, in the common shape.
fn observe(out: std::process::Output) -> Observed {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.code() == Some(REFUSED) {
        if let Some(message) = stderr.trim_end().strip_prefix("rsandbox: ") {
            return Observed {
                error: Some(Failure::from_message(kind(message), message)),
                ..Observed::default()
            };
        }
    }
    let (payload, last) = match stdout.trim_end_matches('\n').rsplit_once('\n') {
        Some((payload, last)) => (format!("{payload}\n"), last),
        None => (String::new(), stdout.trim_end()),
    };
    let outcome: Value = serde_json::from_str(last).unwrap_or_else(|e| {
        panic!(
            "no --json outcome ({e}); status {}, stdout {stdout:?}, stderr {stderr:?}",
            out.status
        )
    });
    let status = &outcome["status"];
    Observed {
        error: None,
        reason: outcome["reason"].as_str().map(str::to_owned),
        exit_code: status["exited"].as_i64().map(|c| c as i32),
        signal: status["signaled"].as_i64().map(|s| s as i32),
        pids_peak: outcome["cgroup"]["pids_peak"].as_u64(),
        stdout: payload,
        stderr,
        json: None,
    }
}

/// The kind of a refusal, from the core's message.
fn kind(message: &str) -> &'static str {
    [
        ("invalid ", "config"),
        ("missing privilege ", "privilege"),
        ("unsupported: ", "unsupported"),
        ("program not found: ", "program_not_found"),
        ("sandbox setup failed", "spawn"),
    ]
    .into_iter()
    .find(|(prefix, _)| message.starts_with(prefix))
    .map_or("unrecognised", |(_, k)| k)
}
