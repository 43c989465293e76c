//! OCI runtime-spec `LinuxSeccomp` profiles (also Docker's `seccomp.json`).
//!
//! Accepted: `defaultAction`, `defaultErrnoRet`, `architectures`, `flags`,
//! `syscalls[].{names, action, errnoRet, args, comment, includes,
//! excludes}` and Docker's `archMap`. Differences from runc/libseccomp, all
//! on the strict side:
//! - a name that is a syscall on no supported architecture is an error
//!   (names of the other supported architecture are skipped);
//! - every foreign architecture, and the x32 ABI, is killed whatever
//!   `architectures` lists: the filter is compiled for the native one only;
//! - `SCMP_ACT_NOTIFY`, `SCMP_ACT_TRACE` and `listenerPath` are refused
//!   (no supervisor process exists to answer them);
//! - Docker `includes`/`excludes` are evaluated against the native
//!   architecture; a rule that `includes` capabilities is skipped (the
//!   strict preset drops them all), `minKernel` is ignored.

use serde::Deserialize;

use super::compile::is_known_syscall;
use super::policy::{Action, ArgCmp, CmpOp, Rule, SeccompPolicy};
use crate::error::{Error, Result};

/// Largest profile accepted, in bytes.
pub const MAX_PROFILE_BYTES: usize = 4 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Profile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    arch_map: Option<serde_json::Value>,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    listener_path: Option<String>,
    #[serde(default)]
    listener_metadata: Option<String>,
    #[serde(default)]
    syscalls: Vec<Syscall>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Syscall {
    names: Vec<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Vec<Arg>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    min_kernel: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Arg {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

const ARCHES: &[&str] = &[
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

const FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

fn err(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::invalid(format!("seccomp profile: {}", field.into()), reason)
}

fn action(field: &str, name: &str, errno: Option<u32>, default_errno: u32) -> Result<Action> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => {
            let e = errno.unwrap_or(default_errno);
            if e > 4095 {
                return Err(err(field, format!("errno {e} is out of range (0 to 4095)")));
            }
            Action::Errno(e)
        }
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_TRACE" | "SCMP_ACT_NOTIFY" => {
            return Err(err(
                field,
                format!("action {name} needs a supervisor process, which rsandbox does not run"),
            ))
        }
        other => {
            return Err(err(
                field,
                format!(
                    "unknown action {other:?} (expected SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, \
                     SCMP_ACT_KILL, SCMP_ACT_KILL_THREAD, SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP \
                     or SCMP_ACT_LOG)"
                ),
            ))
        }
    })
}

fn native_arch_names() -> &'static [&'static str] {
    if cfg!(target_arch = "aarch64") {
        &["arm64", "aarch64", "SCMP_ARCH_AARCH64"]
    } else {
        &["amd64", "x86_64", "SCMP_ARCH_X86_64"]
    }
}

/// Whether a Docker `includes`/`excludes` filter matches this build.
fn matches(f: &Filter) -> bool {
    let arch_ok = f.arches.is_empty()
        || f.arches
            .iter()
            .any(|a| native_arch_names().contains(&a.as_str()));
    arch_ok && f.caps.is_empty()
}

fn arg(field: &str, a: &Arg) -> Result<ArgCmp> {
    if a.index > 5 {
        return Err(err(
            field,
            format!("argument index {} is out of range (0 to 5)", a.index),
        ));
    }
    let op = match a.op.as_str() {
        "SCMP_CMP_EQ" => CmpOp::Eq,
        "SCMP_CMP_NE" => CmpOp::Ne,
        "SCMP_CMP_LT" => CmpOp::Lt,
        "SCMP_CMP_LE" => CmpOp::Le,
        "SCMP_CMP_GT" => CmpOp::Gt,
        "SCMP_CMP_GE" => CmpOp::Ge,
        "SCMP_CMP_MASKED_EQ" => {
            return Ok(ArgCmp::masked_eq(a.index as u8, a.value, a.value_two));
        }
        other => return Err(err(field, format!("unknown comparison {other:?}"))),
    };
    Ok(ArgCmp::new(a.index as u8, op, a.value))
}

/// Parse a profile into a policy.
pub(crate) fn parse(json: &str) -> Result<SeccompPolicy> {
    if json.len() > MAX_PROFILE_BYTES {
        return Err(err(
            "size",
            format!(
                "the profile is {} bytes; at most {MAX_PROFILE_BYTES} are accepted",
                json.len()
            ),
        ));
    }
    let p: Profile = serde_json::from_str(json).map_err(|e| err("json", e.to_string()))?;
    let _ = (&p.arch_map, &p.listener_metadata);
    if p.listener_path.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(err(
            "listenerPath",
            "user notification needs a supervisor process, which rsandbox does not run",
        ));
    }
    for (i, a) in p.architectures.iter().enumerate() {
        if !ARCHES.contains(&a.as_str()) {
            return Err(err(
                format!("architectures[{i}]"),
                format!("unknown architecture {a:?}"),
            ));
        }
    }
    for (i, f) in p.flags.iter().enumerate() {
        if !FLAGS.contains(&f.as_str()) {
            return Err(err(format!("flags[{i}]"), format!("unknown flag {f:?}")));
        }
    }
    let default_errno = p.default_errno_ret.unwrap_or(libc::EPERM as u32);
    let default_action = action(
        "defaultAction",
        &p.default_action,
        p.default_errno_ret,
        default_errno,
    )?;
    let mut policy = SeccompPolicy::new(default_action);
    for (i, s) in p.syscalls.iter().enumerate() {
        let field = format!("syscalls[{i}]");
        let _ = &s.comment;
        let act = action(
            &format!("{field}.action"),
            &s.action,
            s.errno_ret,
            libc::EPERM as u32,
        )?;
        let args = s
            .args
            .iter()
            .enumerate()
            .map(|(j, a)| arg(&format!("{field}.args[{j}]"), a))
            .collect::<Result<Vec<_>>>()?;
        if s.names.is_empty() {
            return Err(err(format!("{field}.names"), "is empty"));
        }
        for (j, n) in s.names.iter().enumerate() {
            if !is_known_syscall(n) {
                return Err(err(
                    format!("{field}.names[{j}]"),
                    format!("unknown syscall name {n:?}"),
                ));
            }
        }
        if s.includes.as_ref().is_some_and(|f| !matches(f))
            || s.excludes.as_ref().is_some_and(|f| {
                // An `excludes` naming only capabilities does not apply:
                // we hold none of them.
                let arch_listed = !f.arches.is_empty()
                    && f.arches
                        .iter()
                        .any(|a| native_arch_names().contains(&a.as_str()));
                let _ = &f.min_kernel;
                arch_listed
            })
        {
            continue;
        }
        for n in &s.names {
            policy.push(Rule {
                syscall: n.clone(),
                action: act,
                args: args.clone(),
            });
        }
    }
    Ok(policy)
}
