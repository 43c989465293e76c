//! OCI runtime-spec `LinuxSeccomp` profiles, and the Docker / Podman
//! profile files (`seccomp.json`) that extend them, loaded as runc and the
//! engines load them:
//!
//! - a syscall name no table here knows (a newer kernel's, another
//!   architecture's private call, a typo) is skipped, as runc (through
//!   libseccomp) skips it, and listed in the enforcement report
//!   ([`SeccompPolicy::skipped_syscalls`]); names of another architecture
//!   are skipped silently;
//! - Docker's `archMap` picks the native architecture's entry (and is an
//!   error next to `architectures`, as in Docker); `includes`/`excludes`
//!   with `arches` (the native one, by Docker's names `amd64`/`arm64` or
//!   `SCMP_ARCH_*`), `caps` (against the capabilities the box keeps, as
//!   Docker checks the container's bounding set: `includes` needs all of
//!   them, `excludes` any) and `minKernel` (against the running kernel)
//!   decide whether an entry applies;
//! - `defaultErrnoRet`, Podman's older `defaultErrno` (an errno name) and,
//!   per entry, `errnoRet` / `errno` give the errno of `SCMP_ACT_ERRNO`;
//! - with a default action that refuses (not `SCMP_ACT_ALLOW`/`LOG`) and
//!   an errno other than `ENOSYS`, syscalls numbered above every one the
//!   profile names answer `ENOSYS` (runc's stub), so programs fall back.
//!
//! A malformed profile is an [`Error::InvalidConfig`] whose field names
//! the JSON path (`syscalls[3].includes.minKernel`).
//!
//! Differences from runc, all on the strict side: the filter is compiled
//! for the native architecture only, so the sub-architectures `archMap`
//! or `architectures` list (i386, x32, arm) are killed rather than
//! filtered (the enforcement report says so); `SCMP_ACT_NOTIFY`,
//! `SCMP_ACT_TRACE` and `listenerPath` are refused (no supervisor process
//! exists to answer them).

use serde::Deserialize;

use super::compile::is_known_syscall;
use super::policy::{Action, ArgCmp, CmpOp, Rule, SeccompPolicy};
use crate::config::caps::{parse_cap, CAP_NAMES};
use crate::error::{Error, Result};

/// Largest profile accepted, in bytes.
pub const MAX_PROFILE_BYTES: usize = 4 << 20;

/// What the entries of a profile are decided against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Context {
    /// The capabilities the box keeps (bit n: capability n).
    pub caps: u64,
    /// The running kernel's (major, minor).
    pub kernel: (u32, u32),
}

impl Context {
    /// A box that keeps no capability, on this kernel.
    pub(crate) fn no_caps() -> Context {
        Context {
            caps: 0,
            kernel: running_kernel(),
        }
    }
    /// A box that keeps `caps`, on this kernel.
    pub(crate) fn with_caps(caps: u64) -> Context {
        Context {
            caps,
            kernel: running_kernel(),
        }
    }
    fn has_cap(&self, name: &str) -> bool {
        parse_cap(name).is_some_and(|c| c < 64 && self.caps & (1 << c) != 0)
    }
}

/// The running kernel's (major, minor), from `uname` (read once).
fn running_kernel() -> (u32, u32) {
    static KERNEL: std::sync::OnceLock<(u32, u32)> = std::sync::OnceLock::new();
    *KERNEL.get_or_init(|| {
        // SAFETY: uname fills a zeroed struct we own.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::uname(&mut u) } != 0 {
            return (0, 0);
        }
        // SAFETY: uname NUL-terminates `release`.
        let rel = unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) };
        parse_version(&rel.to_string_lossy()).unwrap_or((0, 0))
    })
}

/// `major.minor` at the start of a release string ("6.18.44-fc", "4.8").
fn parse_version(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let rest = s.strip_prefix(&format!("{major}."))?;
    let minor: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((major, minor.parse().ok()?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Profile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    /// Podman's older spelling: an errno name.
    #[serde(default)]
    default_errno: Option<String>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
    #[serde(default)]
    arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    flags: Option<Vec<String>>,
    #[serde(default)]
    listener_path: Option<String>,
    #[serde(default)]
    listener_metadata: Option<String>,
    #[serde(default)]
    syscalls: Option<Vec<Syscall>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Syscall {
    #[serde(default)]
    names: Option<Vec<String>>,
    /// Docker's older single-name form.
    #[serde(default)]
    name: Option<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    /// Podman: the errno by name.
    #[serde(default)]
    errno: Option<String>,
    #[serde(default)]
    args: Option<Vec<Arg>>,
    #[serde(default)]
    #[allow(dead_code)]
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
    arches: Option<Vec<String>>,
    #[serde(default)]
    caps: Option<Vec<String>>,
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

/// Errno names a profile may use (`defaultErrno`, `errno`).
const ERRNOS: &[(&str, i32)] = &[
    ("EPERM", libc::EPERM),
    ("ENOENT", libc::ENOENT),
    ("ESRCH", libc::ESRCH),
    ("EINTR", libc::EINTR),
    ("EIO", libc::EIO),
    ("ENXIO", libc::ENXIO),
    ("E2BIG", libc::E2BIG),
    ("ENOEXEC", libc::ENOEXEC),
    ("EBADF", libc::EBADF),
    ("ECHILD", libc::ECHILD),
    ("EAGAIN", libc::EAGAIN),
    ("ENOMEM", libc::ENOMEM),
    ("EACCES", libc::EACCES),
    ("EFAULT", libc::EFAULT),
    ("EBUSY", libc::EBUSY),
    ("EEXIST", libc::EEXIST),
    ("EXDEV", libc::EXDEV),
    ("ENODEV", libc::ENODEV),
    ("ENOTDIR", libc::ENOTDIR),
    ("EISDIR", libc::EISDIR),
    ("EINVAL", libc::EINVAL),
    ("ENFILE", libc::ENFILE),
    ("EMFILE", libc::EMFILE),
    ("ENOTTY", libc::ENOTTY),
    ("EFBIG", libc::EFBIG),
    ("ENOSPC", libc::ENOSPC),
    ("ESPIPE", libc::ESPIPE),
    ("EROFS", libc::EROFS),
    ("EMLINK", libc::EMLINK),
    ("EPIPE", libc::EPIPE),
    ("ERANGE", libc::ERANGE),
    ("ENOSYS", libc::ENOSYS),
    ("ENOTSUP", libc::ENOTSUP),
    ("EOPNOTSUPP", libc::EOPNOTSUPP),
    ("EAFNOSUPPORT", libc::EAFNOSUPPORT),
    ("EPROTONOSUPPORT", libc::EPROTONOSUPPORT),
    ("ENOTSOCK", libc::ENOTSOCK),
    ("ENODATA", libc::ENODATA),
];

fn err(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::invalid(format!("seccomp profile: {}", field.into()), reason)
}

/// The errno of an entry or of the default: the number, the name, or
/// both when they agree.
fn errno_of(
    field_ret: &str,
    ret: Option<u32>,
    field_name: &str,
    name: Option<&str>,
) -> Result<Option<u32>> {
    let by_name = match name.filter(|n| !n.is_empty()) {
        None => None,
        Some(n) => match ERRNOS.iter().find(|(e, _)| *e == n) {
            Some(&(_, v)) => Some(v as u32),
            None => return Err(err(field_name, format!("unknown errno name {n:?}"))),
        },
    };
    if let Some(v) = ret {
        if v > 4095 {
            return Err(err(
                field_ret,
                format!("errno {v} is out of range (0 to 4095)"),
            ));
        }
    }
    match (ret, by_name) {
        (Some(a), Some(b)) if a != b => Err(err(
            field_name,
            format!("names errno {b}, but {field_ret} says {a}"),
        )),
        (Some(a), _) => Ok(Some(a)),
        (None, b) => Ok(b),
    }
}

fn action(field: &str, name: &str, errno: Option<u32>, default_errno: u32) -> Result<Action> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => Action::Errno(errno.unwrap_or(default_errno)),
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

/// The native architecture's names: Docker's (`amd64`), the kernel's and
/// libseccomp's.
fn native_arch_names() -> &'static [&'static str] {
    if cfg!(target_arch = "aarch64") {
        &["arm64", "aarch64", "SCMP_ARCH_AARCH64"]
    } else {
        &["amd64", "x86_64", "SCMP_ARCH_X86_64"]
    }
}

fn is_native(arch: &str) -> bool {
    native_arch_names().contains(&arch)
}

fn check_arch(field: String, a: &str) -> Result<()> {
    if ARCHES.contains(&a) {
        Ok(())
    } else {
        Err(err(field, format!("unknown architecture {a:?}")))
    }
}

/// The architectures the profile asks to filter: `architectures`, or the
/// native entry of `archMap` with its sub-architectures (as Docker turns
/// one into the other). Checked for unknown names.
fn architectures(p: &Profile) -> Result<Vec<String>> {
    let listed = p.architectures.as_deref().unwrap_or_default();
    let map = p.arch_map.as_deref().unwrap_or_default();
    if !listed.is_empty() && !map.is_empty() {
        return Err(err(
            "archMap",
            "both architectures and archMap are given; use one of them (as Docker requires)",
        ));
    }
    for (i, a) in listed.iter().enumerate() {
        check_arch(format!("architectures[{i}]"), a)?;
    }
    let mut out = listed.to_vec();
    for (i, m) in map.iter().enumerate() {
        check_arch(format!("archMap[{i}].architecture"), &m.architecture)?;
        let subs = m.sub_architectures.as_deref().unwrap_or_default();
        for (j, s) in subs.iter().enumerate() {
            check_arch(format!("archMap[{i}].subArchitectures[{j}]"), s)?;
        }
        if is_native(&m.architecture) {
            out.push(m.architecture.clone());
            out.extend(subs.iter().cloned());
        }
    }
    Ok(out)
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

/// Check an `includes`/`excludes` filter's fields and decide its three
/// conditions here: `[arch, caps, kernel]`, each `Some(holds)`, or `None`
/// for a field it does not set. `caps_all`: every listed capability must
/// be kept (`includes`) rather than any (`excludes`).
fn conditions(field: &str, f: &Filter, ctx: &Context, caps_all: bool) -> Result<[Option<bool>; 3]> {
    let arches = f.arches.as_deref().unwrap_or_default();
    let caps = f.caps.as_deref().unwrap_or_default();
    for (i, c) in caps.iter().enumerate() {
        if parse_cap(c).is_none_or(|n| n as usize >= CAP_NAMES.len()) {
            return Err(err(
                format!("{field}.caps[{i}]"),
                format!("unknown capability {c:?}"),
            ));
        }
    }
    let kernel = match f.min_kernel.as_deref() {
        None | Some("") => None,
        Some(k) => {
            let v = parse_version(k).ok_or_else(|| {
                err(
                    format!("{field}.minKernel"),
                    format!("{k:?} is not a kernel version (expected e.g. \"4.8\")"),
                )
            })?;
            Some(ctx.kernel >= v)
        }
    };
    let arch = (!arches.is_empty()).then(|| arches.iter().any(|a| is_native(a)));
    let caps = (!caps.is_empty()).then(|| {
        if caps_all {
            caps.iter().all(|c| ctx.has_cap(c))
        } else {
            caps.iter().any(|c| ctx.has_cap(c))
        }
    });
    Ok([arch, caps, kernel])
}

/// Whether an entry applies (Docker's rules): every condition `includes`
/// sets holds, and none that `excludes` sets does.
fn applies(field: &str, s: &Syscall, ctx: &Context) -> Result<bool> {
    let inc = match &s.includes {
        Some(f) => conditions(&format!("{field}.includes"), f, ctx, true)?,
        None => [None; 3],
    };
    let exc = match &s.excludes {
        Some(f) => conditions(&format!("{field}.excludes"), f, ctx, false)?,
        None => [None; 3],
    };
    Ok(inc.iter().all(|c| *c != Some(false)) && exc.iter().all(|c| *c != Some(true)))
}

/// Parse a profile into a policy, deciding its conditional entries
/// against `ctx`.
pub(crate) fn parse(json: &str, ctx: &Context) -> Result<SeccompPolicy> {
    let p = read_profile(json)?;
    architectures(&p)?;
    for (i, f) in p.flags.as_deref().unwrap_or_default().iter().enumerate() {
        if !FLAGS.contains(&f.as_str()) {
            return Err(err(format!("flags[{i}]"), format!("unknown flag {f:?}")));
        }
    }
    let mut policy = default_policy(&p)?;
    for (i, s) in p.syscalls.iter().flatten().enumerate() {
        add_entry(&mut policy, &format!("syscalls[{i}]"), s, ctx)?;
    }
    Ok(policy)
}

/// The profile's JSON, bounded in size (it comes from a bundle), without
/// a notify listener: that needs a supervisor, which rsandbox does not run.
fn read_profile(json: &str) -> Result<Profile> {
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
    let _ = &p.listener_metadata;
    if p.listener_path.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(err(
            "listenerPath",
            "user notification needs a supervisor process, which rsandbox does not run",
        ));
    }
    Ok(p)
}

/// An empty policy with the profile's default action (EPERM when it
/// refuses without an errno).
fn default_policy(p: &Profile) -> Result<SeccompPolicy> {
    let default_errno = errno_of(
        "defaultErrnoRet",
        p.default_errno_ret,
        "defaultErrno",
        p.default_errno.as_deref(),
    )?
    .unwrap_or(libc::EPERM as u32);
    let default_action = action("defaultAction", &p.default_action, None, default_errno)?;
    let mut policy = SeccompPolicy::new(default_action);
    // runc's -ENOSYS stub: only for a default that refuses, and not when
    // it refuses with ENOSYS already.
    if !matches!(default_action, Action::Allow | Action::Log | Action::ENOSYS) {
        policy = policy.newer_syscalls(Action::ENOSYS);
    }
    Ok(policy)
}

/// One `syscalls` entry (`field`) into `policy`: checked whole first, then
/// added only if its conditions apply. Names this kernel's table does not
/// know are skipped and listed (as runc does), not refused.
fn add_entry(policy: &mut SeccompPolicy, field: &str, s: &Syscall, ctx: &Context) -> Result<()> {
    let errno = errno_of(
        &format!("{field}.errnoRet"),
        s.errno_ret,
        &format!("{field}.errno"),
        s.errno.as_deref(),
    )?;
    let act = action(
        &format!("{field}.action"),
        &s.action,
        errno,
        libc::EPERM as u32,
    )?;
    let args = s
        .args
        .iter()
        .flatten()
        .enumerate()
        .map(|(j, a)| arg(&format!("{field}.args[{j}]"), a))
        .collect::<Result<Vec<_>>>()?;
    let names = entry_names(field, s)?;
    if !applies(field, s, ctx)? {
        return Ok(());
    }
    for n in names {
        if !is_known_syscall(n) {
            if !policy.skipped.contains(n) {
                policy.skipped.push(n.clone());
            }
            continue;
        }
        policy.push(Rule {
            syscall: n.clone(),
            action: act,
            args: args.clone(),
        });
    }
    Ok(())
}

/// The entry's syscall names (`names`, or the older single `name`), none
/// of them empty.
fn entry_names<'a>(field: &str, s: &'a Syscall) -> Result<Vec<&'a String>> {
    let names: Vec<&String> = match (&s.names, &s.name) {
        (Some(_), Some(_)) => {
            return Err(err(
                format!("{field}.name"),
                "both name and names are given; use one of them",
            ))
        }
        (Some(v), None) => v.iter().collect(),
        (None, Some(n)) => vec![n],
        (None, None) => Vec::new(),
    };
    if names.is_empty() {
        return Err(err(format!("{field}.names"), "is empty"));
    }
    for (j, n) in names.iter().enumerate() {
        if n.is_empty() {
            return Err(err(format!("{field}.names[{j}]"), "is empty"));
        }
    }
    Ok(names)
}

/// The sub-architectures a profile asks to filter, which the filter kills
/// instead (it is compiled for the native architecture only): for the
/// enforcement report. Empty for a malformed profile (parsing reports
/// that).
pub(crate) fn killed_sub_arches(json: &str) -> Vec<String> {
    serde_json::from_str::<Profile>(json)
        .ok()
        .and_then(|p| architectures(&p).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|a| !is_native(a))
        .collect()
}

impl SeccompPolicy {
    /// Parse an OCI runtime-spec `LinuxSeccomp` JSON document (also Docker's
    /// and Podman's profile format; see [`super::oci`]). Capability-gated
    /// entries are decided as for a box that keeps no capability;
    /// [`Sandbox::seccomp_oci_json`](crate::Sandbox::seccomp_oci_json)
    /// decides them against the box's own.
    pub fn from_oci_json(json: &str) -> crate::Result<SeccompPolicy> {
        parse(json, &Context::no_caps())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("6.18.44-fc-v1300"), Some((6, 18)));
        assert_eq!(parse_version("4.8"), Some((4, 8)));
        assert_eq!(parse_version("5"), None);
        assert_eq!(parse_version("x.y"), None);
    }
}
