//! From bwrap's options to the core builder: the same box bubblewrap
//! would make, or a usage error naming what cannot be made the same.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use rsandbox::seccomp::{Action, ArgCmp, SeccompPolicy};
use rsandbox::{Command, Namespace, Sandbox};

use super::args::{BindKind, CapOp, EnvOp, FsOp, Options, Usage};

/// A box ready to spawn, and what must live until it has.
pub struct Built {
    pub sandbox: Sandbox,
    pub command: Command,
    /// The namespaces bwrap reports ids of (`--info-fd`, `--json-status-fd`).
    pub reported_ns: Vec<&'static str>,
    /// Host directory holding `--bind-data` files until the spawn.
    pub data_dir: Option<DataDir>,
}

/// A private directory (0700) for the files `--bind-data` binds; removed
/// when dropped (the box's mounts keep the files themselves alive).
pub struct DataDir(PathBuf);

impl DataDir {
    fn new() -> Result<DataDir, Usage> {
        let base = std::env::var_os("TMPDIR").unwrap_or_else(|| "/tmp".into());
        let mut tmpl = Path::new(&base)
            .join("rsandbox-bwrap-XXXXXX")
            .into_os_string()
            .into_encoded_bytes();
        tmpl.push(0);
        // SAFETY: tmpl is a NUL-terminated writable buffer mkdtemp fills in.
        let r = unsafe { libc::mkdtemp(tmpl.as_mut_ptr().cast()) };
        if r.is_null() {
            return Err(Usage(format!(
                "--bind-data: cannot create a directory under {}: {}",
                Path::new(&base).display(),
                std::io::Error::last_os_error()
            )));
        }
        tmpl.pop();
        // SAFETY: the bytes came from an OsString plus what mkdtemp wrote.
        let path = PathBuf::from(unsafe { OsString::from_encoded_bytes_unchecked(tmpl) });
        Ok(DataDir(path))
    }

    fn write(&self, n: usize, data: &[u8], mode: u32) -> Result<PathBuf, Usage> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let p = self.0.join(format!("data-{n}"));
        let err = |e: std::io::Error| Usage(format!("--bind-data: {}: {e}", p.display()));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&p)
            .and_then(|mut f| std::io::Write::write_all(&mut f, data))
            .map_err(err)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).map_err(err)?;
        Ok(p)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn is_root_path(p: &Path) -> bool {
    p.components()
        .all(|c| matches!(c, std::path::Component::RootDir))
}

/// The kernel's default tmpfs size (half of RAM), which bwrap's tmpfs
/// gets when `--size` is not given.
fn default_tmpfs_size() -> u64 {
    // SAFETY: sysconf only reads system values.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    ((pages.max(1) as u64) * (page.max(4096) as u64) / 2).max(1 << 20)
}

/// A bind source as bwrap takes it: symlinks followed (`realpath`).
fn source(src: &Path, try_: bool) -> Result<Option<PathBuf>, Usage> {
    match std::fs::canonicalize(src) {
        Ok(p) => Ok(Some(p)),
        Err(e) if try_ && e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Usage(format!(
            "Can't find source path {}: {e}",
            src.display()
        ))),
    }
}

/// The root bind among `ops`: the last bind onto `/` whose source exists
/// (it covers whatever the operations before it mounted), with its index.
fn root_bind(ops: &[FsOp]) -> Result<Option<(usize, PathBuf, BindKind)>, Usage> {
    for (i, op) in ops.iter().enumerate().rev() {
        if let FsOp::Bind {
            src,
            dst,
            kind,
            try_,
        } = op
        {
            if is_root_path(dst) {
                if let Some(src) = source(src, *try_)? {
                    return Ok(Some((i, src, *kind)));
                }
            }
        }
    }
    Ok(None)
}

/// Apply the filesystem operations in order. A bind onto `/` becomes the
/// box's root; the operations before it are covered by it and skipped
/// (what they would have written into a writable host root is not made).
fn filesystem(
    mut sb: Sandbox,
    ops: &[FsOp],
    data_dir: &mut Option<DataDir>,
) -> Result<Sandbox, Usage> {
    let mut rest = ops;
    if let Some((i, src, kind)) = root_bind(ops)? {
        sb = match kind {
            BindKind::Ro => sb.rootfs(src),
            BindKind::Rw | BindKind::Dev => sb.rootfs_rw(src),
        }
        .rootfs_nodev(kind != BindKind::Dev);
        rest = &ops[i + 1..];
    }
    for op in rest {
        if let FsOp::Bind {
            dst, try_: true, ..
        } = op
        {
            if is_root_path(dst) {
                // A missing source: skipped, as bwrap skips it.
                continue;
            }
        }
        sb = one_op(sb, op, data_dir)?;
    }
    Ok(sb)
}

fn one_op(sb: Sandbox, op: &FsOp, data_dir: &mut Option<DataDir>) -> Result<Sandbox, Usage> {
    Ok(match op {
        FsOp::Bind {
            src,
            dst,
            kind,
            try_,
        } => match (source(src, *try_)?, kind) {
            (None, _) => sb,
            (Some(s), BindKind::Ro) => sb.ro_bind_nodev(s, dst),
            (Some(s), BindKind::Rw) => sb.bind_nodev(s, dst),
            (Some(s), BindKind::Dev) => sb.bind(s, dst),
        },
        FsOp::Tmpfs { dst, size, perms } if is_root_path(dst) => {
            if size.is_some() || perms.is_some() {
                return Err(Usage(
                    "--tmpfs / with --size or --perms is not supported (/ is a tmpfs already)"
                        .into(),
                ));
            }
            sb
        }
        FsOp::Tmpfs { dst, size, perms } => sb.mount_step(rsandbox::fs::MountStep::Tmpfs {
            dst: dst.clone(),
            size: size.unwrap_or_else(default_tmpfs_size),
            source: None,
            mode: Some(perms.unwrap_or(0o755)),
        }),
        FsOp::Proc(d) if sb.has_ns(Namespace::User) && !sb.has_ns(Namespace::Pid) => {
            host_proc(sb, d)
        }
        FsOp::Proc(d) => sb.proc(d),
        // bwrap's /dev also has `core -> /proc/kcore`.
        FsOp::Dev(d) => sb.dev(d).symlink("/proc/kcore", d.join("core")),
        FsOp::Mqueue(d) => sb.mqueue(d),
        FsOp::Dir { dst, perms } => sb.dir_mode(dst, perms.unwrap_or(0o755)),
        FsOp::Symlink { target, dst } => sb.symlink(target, dst),
        // bwrap's files are 0666 unless --perms says otherwise.
        FsOp::File { data, dst, perms } => sb
            .file(dst, data.clone())
            .chmod(dst, perms.unwrap_or(0o666)),
        FsOp::BindData {
            data,
            dst,
            readonly,
            perms,
        } => {
            if data_dir.is_none() {
                *data_dir = Some(DataDir::new()?);
            }
            let dir = data_dir.as_ref().expect("just made");
            let n = dir.0.read_dir().map(|d| d.count()).unwrap_or(0);
            let file = dir.write(n, data, perms.unwrap_or(0o600))?;
            if *readonly {
                sb.ro_bind(file, dst)
            } else {
                sb.bind(file, dst)
            }
        }
        FsOp::RemountRo(p) => sb.remount_ro(p),
        FsOp::Chmod { mode, path } => sb.chmod(path, *mode),
        FsOp::Overlay {
            lowers,
            rw,
            dst,
            readonly,
        } => {
            let lowers = lowers.iter().rev().cloned();
            let sb = match rw {
                Some((upper, work)) => sb.overlay_persist(lowers, upper, work, dst),
                None => sb.overlay(lowers, dst),
            };
            if *readonly {
                sb.remount_ro(dst)
            } else {
                sb
            }
        }
    })
}

/// `--proc` in a user namespace without a PID namespace, where the kernel
/// refuses a new proc: bwrap binds the host's (the box shares its PID
/// namespace anyway) with `sys`, `sysrq-trigger`, `irq` and `bus` made
/// read-only.
fn host_proc(mut sb: Sandbox, dst: &Path) -> Sandbox {
    sb = sb.bind_nodev("/proc", dst);
    for sub in ["sys", "sysrq-trigger", "irq", "bus"] {
        if Path::new("/proc").join(sub).exists() {
            sb = sb.remount_ro(dst.join(sub));
        }
    }
    sb
}

/// The caller's effective capabilities (`CapEff` of /proc/self/status),
/// sorted: what bwrap run by root starts from.
fn effective_caps() -> Vec<&'static str> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let bits = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let mut v: Vec<&str> = rsandbox::caps::CAP_NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| *i < 64 && bits & (1 << i) != 0)
        .map(|(_, c)| *c)
        .collect();
    v.sort_unstable();
    v
}

/// bwrap's capabilities: as root, the caller's (all of them) minus
/// `--cap-drop`; otherwise none plus `--cap-add`; applied in order.
fn capabilities(sb: Sandbox, ops: &[CapOp], root: bool) -> Result<Sandbox, Usage> {
    let all = rsandbox::caps::CAP_NAMES;
    let own = if root { effective_caps() } else { Vec::new() };
    let mut set = own.clone();
    let find = |name: &str| -> Result<&'static str, Usage> {
        let up = name.to_ascii_uppercase();
        let full = if up.starts_with("CAP_") {
            up
        } else {
            format!("CAP_{up}")
        };
        all.iter()
            .find(|c| **c == full)
            .copied()
            .ok_or_else(|| Usage(format!("Unknown cap: {name}")))
    };
    for op in ops {
        match op {
            CapOp::Add(n) if n.eq_ignore_ascii_case("ALL") => set = all.to_vec(),
            CapOp::Drop(n) if n.eq_ignore_ascii_case("ALL") => set.clear(),
            CapOp::Add(n) => {
                let c = find(n)?;
                if !set.contains(&c) {
                    set.push(c);
                }
            }
            CapOp::Drop(n) => {
                let c = find(n)?;
                set.retain(|x| *x != c);
            }
        }
    }
    set.sort_unstable();
    Ok(if root && set == own {
        sb.keep_all_caps()
    } else {
        sb.keep_caps(set)
    })
}

fn environment(mut sb: Sandbox, ops: &[EnvOp]) -> Sandbox {
    for op in ops {
        sb = match op {
            EnvOp::Set(k, v) => sb.env(k, v),
            EnvOp::Unset(k) => sb.env_remove(k),
            EnvOp::Clear => sb.env_clear(),
        };
    }
    sb
}

/// The host path that `path` in the box shows, when the last operation
/// covering it is a bind (`None` under anything else: a tmpfs, a
/// directory made in the box, ...). Symlinks in the box are not followed.
pub fn host_path(ops: &[FsOp], path: &Path) -> Option<PathBuf> {
    ops.iter().rev().find_map(|op| match op {
        FsOp::Bind { src, dst, .. } => path.strip_prefix(dst).ok().map(|rest| {
            if rest.as_os_str().is_empty() {
                Some(src.clone())
            } else {
                Some(src.join(rest))
            }
        }),
        FsOp::Tmpfs { dst, .. }
        | FsOp::Proc(dst)
        | FsOp::Dev(dst)
        | FsOp::Mqueue(dst)
        | FsOp::Dir { dst, .. }
        | FsOp::Symlink { dst, .. }
        | FsOp::File { dst, .. }
        | FsOp::BindData { dst, .. }
        | FsOp::Overlay { dst, .. }
            if path.starts_with(dst) =>
        {
            Some(None)
        }
        _ => None,
    })?
}

/// Where bwrap starts the payload without `--chdir`: the caller's working
/// directory when the box shows it (through a bind, or made with `--dir`
/// or `--tmpfs`), else `$HOME` the same way, else `/`.
fn default_cwd(ops: &[FsOp]) -> PathBuf {
    let visible = |dir: &Path| -> bool {
        let made = ops
            .iter()
            .any(|op| matches!(op, FsOp::Tmpfs { dst, .. } | FsOp::Dir { dst, .. } if dst == dir));
        made || host_path(ops, dir).is_some_and(|h| h.is_dir())
    };
    let cwd = std::env::current_dir().ok();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    cwd.into_iter()
        .chain(home)
        .find(|d| d.is_absolute() && visible(d))
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// `--disable-userns`: bwrap nests one more user namespace and lowers
/// `user.max_user_namespaces` in it; rsandbox refuses the system calls
/// that would make or enter one instead (the payload cannot undo a
/// seccomp filter, nor a sysctl of its parent namespace): `unshare` and
/// `clone` with `CLONE_NEWUSER`, `setns` into a user namespace or one of
/// any type, and `clone3` (ENOSYS, so libc falls back to `clone`, whose
/// flags the filter can see).
fn no_user_namespaces() -> SeccompPolicy {
    let newuser = libc::CLONE_NEWUSER as u64;
    let eperm = Action::Errno(libc::EPERM as u32);
    SeccompPolicy::new(Action::Allow)
        .rule_if("unshare", eperm, [ArgCmp::masked_eq(0, newuser, newuser)])
        .rule_if("clone", eperm, [ArgCmp::masked_eq(0, newuser, newuser)])
        .rule_if("setns", eperm, [ArgCmp::eq(1, newuser)])
        .rule_if("setns", eperm, [ArgCmp::eq(1, 0)])
        .deny("clone3", libc::ENOSYS)
}

/// Whether this process may create a user namespace: a child cloned into
/// one exits at once.
fn userns_allowed() -> bool {
    // SAFETY: the child runs only _exit; the parent reaps it by pid.
    unsafe {
        let pid = libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        );
        if pid == 0 {
            libc::_exit(0);
        }
        if pid < 0 {
            return false;
        }
        let mut st = 0;
        libc::waitpid(pid as libc::pid_t, &mut st, 0);
        true
    }
}

fn ns_exists(name: &str) -> bool {
    Path::new("/proc/self/ns").join(name).exists()
}

/// The box these options describe.
pub fn build(o: &Options) -> Result<Built, Usage> {
    if o.command.is_empty() {
        return Err(Usage("No command specified".into()));
    }
    // SAFETY: getuid has no preconditions.
    let real_uid = unsafe { libc::getuid() };
    let root = real_uid == 0;
    let user = o.unshare_user || !root || (o.unshare_user_try && ns_exists("user"));
    if o.uid.is_some_and(|u| u != real_uid) && !user {
        return Err(Usage("Specifying --uid requires --unshare-user".into()));
    }
    // SAFETY: getgid has no preconditions.
    if o.gid.is_some_and(|g| g != unsafe { libc::getgid() }) && !user {
        return Err(Usage("Specifying --gid requires --unshare-user".into()));
    }
    if o.as_pid_1 && !o.unshare_pid {
        return Err(Usage("Specifying --as-pid-1 requires --unshare-pid".into()));
    }
    if o.hostname.is_some() && !o.unshare_uts {
        return Err(Usage("Specifying --hostname requires --unshare-uts".into()));
    }
    if o.seccomp.is_some() && o.disable_userns {
        return Err(Usage(
            "--disable-userns with --seccomp is not supported: rsandbox implements \
             --disable-userns with a seccomp filter of its own"
                .into(),
        ));
    }
    if o.disable_userns && !user {
        return Err(Usage("--disable-userns requires --unshare-user".into()));
    }
    if o.assert_userns_disabled && userns_allowed() {
        return Err(Usage(
            "--assert-userns-disabled: creating a user namespace is allowed here".into(),
        ));
    }
    let mut sb = Sandbox::new()
        .mount_ns()
        .bare_fs(true)
        .inherit_env()
        .die_with_parent(o.die_with_parent)
        .payload_as_pid1(o.as_pid_1)
        // bwrap sets no_new_privs for every payload.
        .no_new_privs(true);
    let mut reported = vec!["mnt"];
    if user {
        sb = sb.user_ns();
    }
    let cgroup = o.unshare_cgroup || (o.unshare_cgroup_try && ns_exists("cgroup"));
    for (on, name) in [
        (cgroup, "cgroup"),
        (o.unshare_ipc, "ipc"),
        (o.unshare_net, "net"),
        (o.unshare_pid, "pid"),
        (o.unshare_uts, "uts"),
    ] {
        if !on {
            continue;
        }
        reported.push(name);
        sb = match name {
            "cgroup" => sb.cgroup_ns(),
            "ipc" => sb.ipc_ns(),
            "net" => sb.net_ns(),
            "pid" => sb.pid_ns(),
            _ => sb.uts_ns(),
        };
    }
    reported.sort_unstable();
    if let Some(u) = o.uid {
        sb = sb.uid(u);
    }
    if let Some(g) = o.gid {
        sb = sb.gid(g);
    }
    if let Some(h) = &o.hostname {
        sb = sb.hostname(h.clone());
    }
    let mut data_dir = None;
    sb = filesystem(sb, &o.fs, &mut data_dir)?;
    sb = environment(sb, &o.env);
    sb = capabilities(sb, &o.caps, root)?;
    // bwrap sets PWD to where the payload starts, whatever the
    // environment options said.
    let cwd = o.chdir.clone().unwrap_or_else(|| default_cwd(&o.fs));
    sb = sb.env("PWD", cwd.to_string_lossy()).cwd(cwd);
    if o.disable_userns {
        sb = sb.seccomp(no_user_namespaces());
    }
    if let Some(prog) = &o.seccomp {
        sb = sb.seccomp_bpf(prog.clone());
    }
    for fd in super::inherited_fds(o) {
        sb = sb.pass_fd(fd, fd);
    }
    let mut command = Command::from_argv(o.command.iter().cloned());
    if let Some(a) = &o.argv0 {
        command = command.arg0(a.clone());
    }
    Ok(Built {
        sandbox: sb,
        command,
        reported_ns: reported,
        data_dir,
    })
}
