//! The checks on a description and a command that need nothing prepared:
//! everything a user can get wrong, refused with a typed error that names
//! the builder method before anything is spawned. One function per concern;
//! the engines check their own parts (`fs::validate`, `net::validate`, ...).

use std::ffi::OsStr;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::command::Command;
use crate::error::{Error, Result};
use crate::idmap::{self, IdMap};
use crate::ns::Namespace;
use crate::sandbox::{Sandbox, HOSTNAME_MAX};
use crate::stdio::Stdio;
use crate::sys::caps::{has_effective_cap, CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN};

/// Checks that need nothing prepared: everything a user can get wrong.
pub(crate) fn validate(sb: &Sandbox, cmd: &Command) -> Result<()> {
    if cmd.program.as_os_str().is_empty() {
        return Err(Error::invalid(
            "program",
            "argv is empty: no program to run",
        ));
    }
    if has_nul(cmd.program.as_os_str()) {
        return Err(Error::invalid("program", "contains a NUL byte"));
    }
    for (i, a) in cmd.args.iter().enumerate() {
        if has_nul(a) {
            return Err(Error::invalid(
                format!("argument {}", i + 1),
                "contains a NUL byte",
            ));
        }
    }
    if cmd.arg0.as_deref().is_some_and(has_nul) {
        return Err(Error::invalid("argv[0]", "contains a NUL byte"));
    }
    validate_sandbox(sb)
}

/// The checks on the description alone (also run by `Sandbox::validate`).
pub(crate) fn validate_sandbox(sb: &Sandbox) -> Result<()> {
    payload_pid1(sb)?;
    process(sb)?;
    hostname(sb)?;
    cwd(sb)?;
    namespaces(sb)?;
    ids(sb)?;
    joins(sb)?;
    fds(sb)?;
    crate::fs::validate(sb)?;
    crate::cgroup::devices::check_nodes(sb)?;
    crate::net::validate(sb)?;
    crate::egress::validate(sb)?;
    Ok(())
}

/// `payload_as_pid1`: a PID namespace of the box's own, and no service the init runs.
fn payload_pid1(sb: &Sandbox) -> Result<()> {
    if sb.payload_pid1 {
        let why = if !sb.has_ns(Namespace::Pid) {
            Some("needs a new PID namespace: add pid_ns()")
        } else if sb.join_ns.iter().any(|(n, _)| *n == Namespace::Pid) {
            Some("cannot be combined with joining a PID namespace")
        } else if !sb.published.is_empty() || !sb.listen_fds.is_empty() {
            Some("cannot be combined with published ports or socket activation, which the init serves")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(Error::invalid("payload_as_pid1", why));
        }
    }
    Ok(())
}

/// The process's own settings: umask, oom_score_adj, environment names
/// and values.
fn process(sb: &Sandbox) -> Result<()> {
    if let Some(m) = sb.umask.filter(|m| *m > 0o777) {
        return Err(Error::invalid("umask", format!("{m:#o} is above 0o777")));
    }
    if let Some(a) = sb.oom_score_adj.filter(|a| !(-1000..=1000).contains(a)) {
        return Err(Error::invalid(
            "oom_score_adj",
            format!("{a} is outside -1000..=1000"),
        ));
    }
    for (k, v) in &sb.env {
        if k.is_empty() {
            return Err(Error::invalid("env", "variable name is empty"));
        }
        if k.contains('=') {
            return Err(Error::invalid(
                "env",
                format!("variable name {k:?} contains '='"),
            ));
        }
        if k.contains('\0') {
            return Err(Error::invalid(
                "env",
                format!("variable name {k:?} contains a NUL byte"),
            ));
        }
        if v.as_deref().is_some_and(|v| v.contains('\0')) {
            return Err(Error::invalid(
                "env",
                format!("value of {k} contains a NUL byte"),
            ));
        }
    }
    Ok(())
}

/// The hostname: a UTS namespace to set it in, a length the kernel takes.
fn hostname(sb: &Sandbox) -> Result<()> {
    if let Some(h) = &sb.hostname {
        if !sb.has_ns(Namespace::Uts) && !sb.join_ns.iter().any(|(n, _)| *n == Namespace::Uts) {
            return Err(Error::invalid(
                "hostname",
                "needs a UTS namespace: add uts_ns() (--unshare uts)",
            ));
        }
        if h.is_empty() || h.len() > HOSTNAME_MAX {
            return Err(Error::invalid(
                "hostname",
                format!("must be 1 to {HOSTNAME_MAX} bytes, got {}", h.len()),
            ));
        }
        if h.contains('\0') {
            return Err(Error::invalid("hostname", "contains a NUL byte"));
        }
    }
    Ok(())
}

/// The working directory: absolute, not under a process's /proc
/// directory, and present in the box's view.
fn cwd(sb: &Sandbox) -> Result<()> {
    if let Some(cwd) = &sb.cwd {
        if has_nul(cwd.as_os_str()) {
            return Err(Error::invalid("cwd", "contains a NUL byte"));
        }
        if !cwd.is_absolute() {
            return Err(Error::invalid(
                "cwd",
                format!("must be an absolute path, got {}", cwd.display()),
            ));
        }
        if under_a_process_in_proc(cwd) {
            return Err(Error::invalid(
                "cwd",
                format!(
                    "{} is inside a process's /proc directory, whose fd, cwd and root \
                     links lead outside the box; choose a directory of the box's own tree",
                    cwd.display()
                ),
            ));
        }
        if !crate::fs::creates_path(sb, cwd) {
            let host = in_root(sb, cwd);
            if !host.is_dir() {
                return Err(Error::invalid(
                    "cwd",
                    format!("{} does not exist or is not a directory", cwd.display()),
                ));
            }
        }
    }
    Ok(())
}

/// The namespaces asked for: known to this kernel, and creatable by this
/// caller.
fn namespaces(sb: &Sandbox) -> Result<()> {
    for ns in &sb.namespaces {
        if !ns.supported() {
            return Err(Error::Unsupported {
                feature: format!("{} namespace", ns.name()),
                detail: format!(
                    "/proc/self/ns/{} is missing: this kernel was built without it",
                    ns.name()
                ),
            });
        }
    }

    let user_ns = sb.has_ns(Namespace::User);
    let root = has_effective_cap(CAP_SYS_ADMIN);
    if !user_ns && !sb.namespaces.is_empty() && !root {
        return Err(Error::Privilege {
            privilege: "CAP_SYS_ADMIN".into(),
            action: "create namespaces without a user namespace".into(),
            fix: "add user_ns() (--unshare user) to create them unprivileged, or run as root"
                .into(),
        });
    }
    Ok(())
}

/// Id maps, supplementary groups and the uid/gid switch: mappable by
/// this caller, each group mapped.
fn ids(sb: &Sandbox) -> Result<()> {
    let user_ns = sb.has_ns(Namespace::User);
    if !user_ns && (!sb.uid_map.is_empty() || !sb.gid_map.is_empty()) {
        return Err(Error::invalid(
            "uid_map",
            "id maps need a user namespace: add user_ns()",
        ));
    }
    if user_ns {
        // SAFETY: trivial getters.
        let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
        maps_allowed(sb, euid, egid)?;
        groups_mapped(sb, euid, egid)?;
        map_lines(sb)?;
    } else if (sb.uid.is_some() || sb.gid.is_some()) && !has_effective_cap(CAP_SETUID) {
        return Err(Error::Privilege {
            privilege: "CAP_SETUID/CAP_SETGID".into(),
            action: "switch to another uid/gid without a user namespace".into(),
            fix: "add user_ns() to choose the ids seen inside the box, or run as root".into(),
        });
    }
    Ok(())
}

/// The kernel lets a caller without CAP_SETUID/CAP_SETGID map only its
/// own id: say so before the child's map write fails.
fn maps_allowed(sb: &Sandbox, euid: libc::uid_t, egid: libc::gid_t) -> Result<()> {
    let can_setuid = has_effective_cap(CAP_SETUID);
    let can_setgid = has_effective_cap(CAP_SETGID);
    if !sb.uid_map.is_empty() && !can_setuid && !idmap::is_self_only(&sb.uid_map, euid) {
        return Err(Error::Privilege {
            privilege: "CAP_SETUID".into(),
            action: "map uids other than your own into the user namespace".into(),
            fix: format!("run as root, or map only your own uid ({euid}) with a count of 1"),
        });
    }
    if !sb.gid_map.is_empty() && !can_setgid && !idmap::is_self_only(&sb.gid_map, egid) {
        return Err(Error::Privilege {
            privilege: "CAP_SETGID".into(),
            action: "map gids other than your own into the user namespace".into(),
            fix: format!("run as root, or map only your own gid ({egid}) with a count of 1"),
        });
    }
    Ok(())
}

/// Supplementary groups are ids of the box: each must be mapped (the
/// default map holds the box's gid alone), or setgroups fails in the
/// child.
fn groups_mapped(sb: &Sandbox, euid: libc::uid_t, egid: libc::gid_t) -> Result<()> {
    let default_gmap = [IdMap::new(sb.gid.unwrap_or(egid), egid, 1)];
    let gmap: &[IdMap] = if sb.gid_map.is_empty() {
        &default_gmap
    } else {
        &sb.gid_map
    };
    if let Some(g) = sb.groups.iter().find(|g| !idmap::maps_inside(gmap, **g)) {
        let why = if sb.identity == crate::identity::BoxIdentity::Unprivileged && euid == 0 {
            "; the unprivileged identity (strict()) maps only the box's own gid: \
             add host_identity(), or gid_map lines for the groups"
        } else {
            ""
        };
        return Err(Error::invalid(
            "groups",
            format!("gid {g} is not mapped by the box's gid map{why}"),
        ));
    }
    Ok(())
}

/// Map lines the kernel would refuse at write time (in the child, too
/// late for a typed error): a count of 0, more than 340 lines.
fn map_lines(sb: &Sandbox) -> Result<()> {
    for (field, maps) in [("uid_map", &sb.uid_map), ("gid_map", &sb.gid_map)] {
        if maps.iter().any(|m| m.count == 0) {
            return Err(Error::invalid(field, "a map line has a count of 0"));
        }
        if maps.len() > 340 {
            return Err(Error::invalid(
                field,
                "the kernel accepts at most 340 lines",
            ));
        }
    }
    Ok(())
}

/// A shared network namespace and the namespaces joined by path.
fn joins(sb: &Sandbox) -> Result<()> {
    let root = has_effective_cap(CAP_SYS_ADMIN);
    if sb.shared_net.is_some() {
        if sb.has_ns(Namespace::Net) || sb.join_ns.iter().any(|(n, _)| *n == Namespace::Net) {
            return Err(Error::invalid(
                "net_ns_shared",
                "a box has one network namespace: join one or share one, not both",
            ));
        }
        if !root {
            return Err(crate::netns::privilege_error(
                "run a box in a shared network namespace",
            ));
        }
    }
    for (ns, path) in &sb.join_ns {
        if matches!(ns, Namespace::User | Namespace::Time) {
            return Err(Error::invalid(
                "join_ns",
                format!(
                    "the {} namespace cannot be joined (only mnt, pid, net, ipc, uts, cgroup)",
                    ns.name()
                ),
            ));
        }
        // With a rootfs or mount steps the filesystem is built in the joined
        // mount namespace (its root becomes the box's); a new user namespace
        // would own no mount there.
        if *ns == Namespace::Mount && sb.has_ns(Namespace::User) {
            return Err(Error::invalid(
                "join_ns",
                "a joined mount namespace cannot be combined with a new user namespace",
            ));
        }
        if sb.has_ns(*ns) {
            return Err(Error::invalid(
                "join_ns",
                format!("the {} namespace is both joined and created", ns.name()),
            ));
        }
        if !path.is_absolute() {
            return Err(Error::invalid(
                "join_ns",
                format!("{} must be an absolute path", path.display()),
            ));
        }
    }
    Ok(())
}

/// Passed fds and the standard streams.
fn fds(sb: &Sandbox) -> Result<()> {
    let mut targets = Vec::new();
    for &(src, dst) in &sb.fds {
        if dst < 3 {
            return Err(Error::invalid(
                "pass_fd",
                format!("target fd {dst} must be 3 or more (use stdin/stdout/stderr for 0-2)"),
            ));
        }
        if targets.contains(&dst) {
            return Err(Error::invalid(
                "pass_fd",
                format!("target fd {dst} is given twice"),
            ));
        }
        targets.push(dst);
        if !fd_is_open(src) {
            return Err(Error::invalid(
                "pass_fd",
                format!("source fd {src} is not open"),
            ));
        }
    }
    for (name, s) in [
        ("stdin", &sb.stdin),
        ("stdout", &sb.stdout),
        ("stderr", &sb.stderr),
    ] {
        match s {
            Stdio::Fd(fd) if !fd_is_open(*fd) => {
                return Err(Error::invalid(name, format!("fd {fd} is not open")))
            }
            Stdio::File(p) | Stdio::Append(p) if has_nul(p.as_os_str()) => {
                return Err(Error::invalid(name, "path contains a NUL byte"))
            }
            Stdio::Stdout if name != "stderr" => {
                return Err(Error::invalid(
                    name,
                    "Stdio::Stdout (merge into stdout) is only for stderr",
                ))
            }
            Stdio::Append(_) if name == "stdin" => {
                return Err(Error::invalid(name, "stdin cannot be opened for appending"))
            }
            _ => {}
        }
    }
    Ok(())
}

/// `/proc/<pid>/...`, `/proc/self/...`, `/proc/thread-self/...`: the
/// process directories whose `fd/N`, `cwd`, `root` and `exe` are magic links
/// to wherever the process's files are (crun and youki refuse such a cwd
/// too; the child resolves the cwd without magic links in any case).
fn under_a_process_in_proc(path: &Path) -> bool {
    use std::path::Component;
    // Lexically, `..` included (the kernel clamps `..` at the root too).
    let mut parts: Vec<&OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => parts.push(n),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    match parts.as_slice() {
        [proc, p, ..] if *proc == "proc" => {
            let b = p.as_bytes();
            b == b"self" || b == b"thread-self" || b.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only queries the descriptor table.
    fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0
}

fn has_nul(s: &OsStr) -> bool {
    s.as_bytes().contains(&0)
}

/// `path` (absolute, inside the box) as seen from the host.
fn in_root(sb: &Sandbox, path: &Path) -> PathBuf {
    match crate::fs::program_root(sb) {
        Some(root) => root.join(path.strip_prefix("/").unwrap_or(path)),
        None => path.to_path_buf(),
    }
}
