//! bubblewrap's command line, parsed as bwrap parses it: left to right,
//! filesystem operations kept in order, `--perms` and `--size` modifying
//! the next operation, `--args FD` splicing NUL-separated arguments in
//! place. Nothing here touches the system but reading the fds the options
//! name (`--args`, `--file`, `--bind-data`): the sandbox is built from the
//! result in `build.rs`.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// A usage error, worded as bwrap words its own (`bwrap: MESSAGE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn usage<T>(msg: impl Into<String>) -> Result<T, Usage> {
    Err(Usage(msg.into()))
}

/// How a bind treats its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindKind {
    /// `--bind`: writable, no device access.
    Rw,
    /// `--ro-bind`: read-only, recursively.
    Ro,
    /// `--dev-bind`: writable, device nodes usable.
    Dev,
}

/// One filesystem operation, in command-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsOp {
    /// `--bind`, `--ro-bind`, `--dev-bind` and their `-try` forms.
    Bind {
        src: PathBuf,
        dst: PathBuf,
        kind: BindKind,
        /// `-try`: a missing source is skipped.
        try_: bool,
    },
    /// `--tmpfs`, with `--size` and `--perms`.
    Tmpfs {
        dst: PathBuf,
        size: Option<u64>,
        perms: Option<u32>,
    },
    /// `--proc`.
    Proc(PathBuf),
    /// `--dev`.
    Dev(PathBuf),
    /// `--mqueue`.
    Mqueue(PathBuf),
    /// `--dir`, with `--perms`.
    Dir { dst: PathBuf, perms: Option<u32> },
    /// `--symlink TARGET DST`.
    Symlink { target: PathBuf, dst: PathBuf },
    /// `--file FD DST`: the contents read from FD, with `--perms`.
    File {
        data: Vec<u8>,
        dst: PathBuf,
        perms: Option<u32>,
    },
    /// `--bind-data` / `--ro-bind-data FD DST`.
    BindData {
        data: Vec<u8>,
        dst: PathBuf,
        readonly: bool,
        perms: Option<u32>,
    },
    /// `--remount-ro DST`.
    RemountRo(PathBuf),
    /// `--chmod OCTAL PATH`.
    Chmod { mode: u32, path: PathBuf },
    /// `--overlay`, `--tmp-overlay`, `--ro-overlay`: lowers bottom first,
    /// as given by `--overlay-src`.
    Overlay {
        lowers: Vec<PathBuf>,
        rw: Option<(PathBuf, PathBuf)>,
        dst: PathBuf,
        readonly: bool,
    },
}

/// An environment change, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvOp {
    Set(String, String),
    Unset(String),
    Clear,
}

/// A capability change, in order (`ALL` kept as the name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapOp {
    Add(String),
    Drop(String),
}

/// Everything the command line asked for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Options {
    pub fs: Vec<FsOp>,
    pub env: Vec<EnvOp>,
    pub caps: Vec<CapOp>,
    pub unshare_user: bool,
    pub unshare_user_try: bool,
    pub unshare_ipc: bool,
    pub unshare_pid: bool,
    pub unshare_net: bool,
    pub unshare_uts: bool,
    pub unshare_cgroup: bool,
    pub unshare_cgroup_try: bool,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub hostname: Option<String>,
    pub chdir: Option<PathBuf>,
    pub new_session: bool,
    pub as_pid_1: bool,
    pub die_with_parent: bool,
    /// The compiled BPF program of `--seccomp` / `--add-seccomp-fd`.
    pub seccomp: Option<Vec<u8>>,
    pub json_status_fd: Option<i32>,
    pub info_fd: Option<i32>,
    pub sync_fd: Option<i32>,
    pub block_fd: Option<i32>,
    pub argv0: Option<OsString>,
    pub level_prefix: bool,
    /// Warnings to print (bwrap's wording) once parsing is done.
    pub warnings: Vec<String>,
    pub disable_userns: bool,
    /// `--lock-file`: paths in the box locked while it runs.
    pub lock_files: Vec<PathBuf>,
    pub assert_userns_disabled: bool,
    /// Fds the options consumed (not passed into the box).
    pub consumed_fds: Vec<i32>,
    /// `--help` / `--version`.
    pub help: bool,
    pub version: bool,
    /// The command and its arguments.
    pub command: Vec<OsString>,
}

/// Options bubblewrap documents that rsandbox has no equivalent for, each
/// with its number of arguments and the reason given in the error.
const UNSUPPORTED: &[(&str, usize, &str)] = &[
    (
        "--userns",
        1,
        "joining an existing user namespace is not supported",
    ),
    (
        "--userns2",
        1,
        "joining an existing user namespace is not supported",
    ),
    (
        "--pidns",
        1,
        "joining an existing PID namespace by fd is not supported",
    ),
    ("--userns-block-fd", 1, "rsandbox writes the id maps itself"),
    ("--exec-label", 1, "SELinux labels are not supported"),
    ("--file-label", 1, "SELinux labels are not supported"),
];

/// Read everything from `fd` (the caller's), then close it.
pub fn read_fd(opt: &str, fd: i32) -> Result<Vec<u8>, Usage> {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    if fd < 0 || !crate::bwrap::fd_is_open(fd) {
        return usage(format!("{opt}: fd {fd} is not open"));
    }
    // SAFETY: the fd was handed to us on the command line to be consumed;
    // nothing else in this process owns it.
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)
        .map_err(|e| Usage(format!("{opt}: cannot read fd {fd}: {e}")))?;
    Ok(buf)
}

/// The host path of the caller's fd (`--bind-fd`): the name the kernel
/// keeps for it, checked to be the very file the fd holds (the core then
/// binds that inode, checked again in the box).
fn fd_path(opt: &str, fd: i32) -> Result<PathBuf, Usage> {
    use std::os::unix::fs::MetadataExt;
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map_err(|e| Usage(format!("{opt}: fd {fd}: {e}")))?;
    let by_fd = std::fs::metadata(format!("/proc/self/fd/{fd}"));
    let by_path = std::fs::metadata(&link);
    match (by_fd, by_path) {
        (Ok(a), Ok(b)) if link.is_absolute() && a.dev() == b.dev() && a.ino() == b.ino() => {
            Ok(link)
        }
        _ => usage(format!(
            "{opt}: fd {fd} is not a file reachable by its path ({})",
            link.display()
        )),
    }
}

/// The arguments of the options, taken one by one.
struct Cursor {
    args: Vec<OsString>,
    pos: usize,
}

impl Cursor {
    fn take(&mut self, opt: &str, n: usize) -> Result<Vec<OsString>, Usage> {
        if self.pos + n > self.args.len() {
            let what = if n == 1 { "an argument" } else { "arguments" };
            return usage(format!("{opt} takes {n} {what}"));
        }
        let out = self.args[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(out)
    }
    fn one(&mut self, opt: &str) -> Result<OsString, Usage> {
        Ok(self.take(opt, 1)?.remove(0))
    }
    fn path(&mut self, opt: &str) -> Result<PathBuf, Usage> {
        Ok(self.one(opt)?.into())
    }
    fn two_paths(&mut self, opt: &str) -> Result<(PathBuf, PathBuf), Usage> {
        let v = self.take(opt, 2)?;
        Ok((v[0].clone().into(), v[1].clone().into()))
    }
    fn string(&mut self, opt: &str) -> Result<String, Usage> {
        self.one(opt)?
            .into_string()
            .map_err(|_| Usage(format!("{opt}: argument is not valid UTF-8")))
    }
    fn fd(&mut self, opt: &str) -> Result<i32, Usage> {
        let s = self.string(opt)?;
        match s.parse::<i32>() {
            Ok(n) if n >= 0 => Ok(n),
            _ => usage(format!("Invalid fd: {s}")),
        }
    }
    fn id(&mut self, opt: &str) -> Result<u32, Usage> {
        let s = self.string(opt)?;
        s.parse::<u32>()
            .map_err(|_| Usage(format!("Invalid {}: {s}", &opt[2..])))
    }
}

fn octal(opt: &str, s: &str) -> Result<u32, Usage> {
    match u32::from_str_radix(s, 8) {
        Ok(m) if m <= 0o7777 => Ok(m),
        _ => usage(format!("{opt}: {s:?} is not an octal mode (at most 07777)")),
    }
}

/// Parse bwrap's arguments (without the program name).
pub fn parse(args: Vec<OsString>) -> Result<Options, Usage> {
    let mut o = Options::default();
    let mut c = Cursor { args, pos: 0 };
    let mut perms: Option<u32> = None;
    let mut size: Option<u64> = None;
    let mut overlay_src: Vec<PathBuf> = Vec::new();
    while c.pos < c.args.len() {
        let arg = c.args[c.pos].clone();
        let Some(opt) = arg.to_str().filter(|a| a.starts_with('-')) else {
            break;
        };
        c.pos += 1;
        if opt == "--" {
            break;
        }
        let opt = opt.to_string();
        if opt == "--args" {
            let fd = c.fd(&opt)?;
            let data = read_fd(&opt, fd)?;
            o.consumed_fds.push(fd);
            // Each argument ends with a NUL; empty ones are arguments too.
            let body = data.strip_suffix(&[0]).unwrap_or(&data);
            let extra: Vec<OsString> = if data.is_empty() {
                Vec::new()
            } else {
                body.split(|b| *b == 0)
                    .map(|s| OsString::from_vec(s.to_vec()))
                    .collect()
            };
            c.args.splice(c.pos..c.pos, extra);
            continue;
        }
        if opt == "--perms" {
            if perms.is_some() {
                return usage("--perms given twice for the same action");
            }
            let s = c.string(&opt)?;
            perms = Some(octal(&opt, &s)?);
            continue;
        }
        if opt == "--size" {
            if size.is_some() {
                return usage("--size given twice for the same action");
            }
            let s = c.string(&opt)?;
            size = Some(
                s.parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0 && *n <= i64::MAX as u64)
                    .ok_or_else(|| Usage(format!("Invalid size: {s}")))?,
            );
            continue;
        }
        let had_perms = perms.take();
        let had_size = size.take();
        let takes_perms = matches!(
            opt.as_str(),
            "--bind-data" | "--ro-bind-data" | "--file" | "--dir" | "--tmpfs"
        );
        if had_perms.is_some() && !takes_perms {
            return usage("--perms must be followed by an option that creates a file");
        }
        if had_size.is_some() && opt != "--tmpfs" {
            return usage("--size must be followed by --tmpfs");
        }
        if !overlay_src.is_empty()
            && !matches!(
                opt.as_str(),
                "--overlay-src" | "--overlay" | "--tmp-overlay" | "--ro-overlay"
            )
        {
            return usage(
                "--overlay-src must be followed by another --overlay-src or one of \
                 --overlay, --tmp-overlay, or --ro-overlay",
            );
        }
        if opt == "--overlay-src" {
            overlay_src.push(c.path(&opt)?);
            continue;
        }
        if let Some((_, n, why)) = UNSUPPORTED.iter().find(|(name, _, _)| *name == opt) {
            c.take(&opt, *n)?;
            return usage(format!("{opt} is not supported by rsandbox bwrap: {why}"));
        }
        one_option(&mut o, &mut c, &opt, had_perms, had_size, &mut overlay_src)?;
    }
    if !overlay_src.is_empty() {
        return usage(
            "--overlay-src must be followed by another --overlay-src or one of \
             --overlay, --tmp-overlay, or --ro-overlay",
        );
    }
    o.command = c.args[c.pos..].to_vec();
    Ok(o)
}

fn bind(c: &mut Cursor, opt: &str, kind: BindKind, try_: bool) -> Result<FsOp, Usage> {
    let (src, dst) = c.two_paths(opt)?;
    Ok(FsOp::Bind {
        src,
        dst,
        kind,
        try_,
    })
}

/// One option that is neither a modifier nor unsupported.
fn one_option(
    o: &mut Options,
    c: &mut Cursor,
    opt: &str,
    perms: Option<u32>,
    size: Option<u64>,
    overlay_src: &mut Vec<PathBuf>,
) -> Result<(), Usage> {
    match opt {
        "--help" => o.help = true,
        "--version" => o.version = true,
        "--level-prefix" => o.level_prefix = true,
        "--bind" => o.fs.push(bind(c, opt, BindKind::Rw, false)?),
        "--bind-try" => o.fs.push(bind(c, opt, BindKind::Rw, true)?),
        "--ro-bind" => o.fs.push(bind(c, opt, BindKind::Ro, false)?),
        "--ro-bind-try" => o.fs.push(bind(c, opt, BindKind::Ro, true)?),
        "--dev-bind" => o.fs.push(bind(c, opt, BindKind::Dev, false)?),
        "--dev-bind-try" => o.fs.push(bind(c, opt, BindKind::Dev, true)?),
        "--tmpfs" => o.fs.push(FsOp::Tmpfs {
            dst: c.path(opt)?,
            size,
            perms,
        }),
        "--proc" => o.fs.push(FsOp::Proc(c.path(opt)?)),
        "--dev" => o.fs.push(FsOp::Dev(c.path(opt)?)),
        "--mqueue" => o.fs.push(FsOp::Mqueue(c.path(opt)?)),
        "--dir" => o.fs.push(FsOp::Dir {
            dst: c.path(opt)?,
            perms,
        }),
        "--symlink" => {
            let (target, dst) = c.two_paths(opt)?;
            o.fs.push(FsOp::Symlink { target, dst });
        }
        "--file" | "--bind-data" | "--ro-bind-data" => {
            let fd = c.fd(opt)?;
            let dst = c.path(opt)?;
            let data = read_fd(opt, fd)?;
            o.consumed_fds.push(fd);
            o.fs.push(if opt == "--file" {
                FsOp::File { data, dst, perms }
            } else {
                FsOp::BindData {
                    data,
                    dst,
                    readonly: opt == "--ro-bind-data",
                    perms,
                }
            });
        }
        "--remount-ro" => o.fs.push(FsOp::RemountRo(c.path(opt)?)),
        "--bind-fd" | "--ro-bind-fd" => {
            let fd = c.fd(opt)?;
            let dst = c.path(opt)?;
            o.fs.push(FsOp::Bind {
                src: fd_path(opt, fd)?,
                dst,
                kind: if opt == "--bind-fd" {
                    BindKind::Rw
                } else {
                    BindKind::Ro
                },
                try_: false,
            });
            o.consumed_fds.push(fd);
        }
        "--chmod" => {
            let mode = c.string(opt)?;
            let mode = octal(opt, &mode)?;
            o.fs.push(FsOp::Chmod {
                mode,
                path: c.path(opt)?,
            });
        }
        "--overlay" | "--tmp-overlay" | "--ro-overlay" => overlay(o, c, opt, overlay_src)?,
        _ => return other_option(o, c, opt),
    }
    Ok(())
}

fn overlay(
    o: &mut Options,
    c: &mut Cursor,
    opt: &str,
    overlay_src: &mut Vec<PathBuf>,
) -> Result<(), Usage> {
    let rw = if opt == "--overlay" {
        Some(c.two_paths(opt)?)
    } else {
        None
    };
    let dst = c.path(opt)?;
    let need = if opt == "--ro-overlay" { 2 } else { 1 };
    if overlay_src.len() < need {
        let what = if need == 1 { "one" } else { "two" };
        return usage(format!("{opt} requires at least {what} --overlay-src"));
    }
    o.fs.push(FsOp::Overlay {
        lowers: std::mem::take(overlay_src),
        rw,
        dst,
        readonly: opt == "--ro-overlay",
    });
    Ok(())
}

/// Namespaces, identity, environment, process and fd options.
fn other_option(o: &mut Options, c: &mut Cursor, opt: &str) -> Result<(), Usage> {
    match opt {
        "--unshare-all" => {
            o.unshare_user_try = true;
            o.unshare_ipc = true;
            o.unshare_pid = true;
            o.unshare_net = true;
            o.unshare_uts = true;
            o.unshare_cgroup_try = true;
        }
        "--share-net" => o.unshare_net = false,
        "--unshare-user" => o.unshare_user = true,
        "--unshare-user-try" => o.unshare_user_try = true,
        "--unshare-ipc" => o.unshare_ipc = true,
        "--unshare-pid" => o.unshare_pid = true,
        "--unshare-net" => o.unshare_net = true,
        "--unshare-uts" => o.unshare_uts = true,
        "--unshare-cgroup" => o.unshare_cgroup = true,
        "--unshare-cgroup-try" => o.unshare_cgroup_try = true,
        "--uid" => o.uid = Some(c.id(opt)?),
        "--gid" => o.gid = Some(c.id(opt)?),
        "--hostname" => o.hostname = Some(c.string(opt)?),
        "--chdir" => {
            if o.chdir.is_some() {
                o.warnings
                    .push("Only the last --chdir option will take effect".into());
            }
            o.chdir = Some(c.path(opt)?);
        }
        "--lock-file" => o.lock_files.push(c.path(opt)?),
        "--setenv" => {
            let k = c.string(opt)?;
            let v = c.string(opt)?;
            o.env.push(EnvOp::Set(k, v));
        }
        "--unsetenv" => o.env.push(EnvOp::Unset(c.string(opt)?)),
        "--clearenv" => o.env.push(EnvOp::Clear),
        "--new-session" => o.new_session = true,
        "--as-pid-1" => o.as_pid_1 = true,
        "--disable-userns" => o.disable_userns = true,
        "--assert-userns-disabled" => o.assert_userns_disabled = true,
        "--die-with-parent" => o.die_with_parent = true,
        "--cap-add" => o.caps.push(CapOp::Add(c.string(opt)?)),
        "--cap-drop" => o.caps.push(CapOp::Drop(c.string(opt)?)),
        "--seccomp" | "--add-seccomp-fd" => {
            if o.seccomp.is_some() {
                return usage(format!(
                    "{opt}: rsandbox bwrap installs one seccomp program (--seccomp or one \
                     --add-seccomp-fd)"
                ));
            }
            let fd = c.fd(opt)?;
            o.seccomp = Some(read_fd(opt, fd)?);
            o.consumed_fds.push(fd);
        }

        "--json-status-fd" => o.json_status_fd = Some(c.fd(opt)?),
        "--info-fd" => o.info_fd = Some(c.fd(opt)?),
        "--sync-fd" => o.sync_fd = Some(c.fd(opt)?),
        "--block-fd" => o.block_fd = Some(c.fd(opt)?),
        "--argv0" => o.argv0 = Some(c.one(opt)?),
        _ => return usage(format!("Unknown option {opt}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Options, Usage> {
        parse(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn mount_operations_keep_their_order() {
        let o = p(&[
            "--ro-bind",
            "/",
            "/",
            "--tmpfs",
            "/tmp",
            "--proc",
            "/proc",
            "sh",
        ])
        .unwrap();
        assert_eq!(o.fs.len(), 3);
        assert!(matches!(
            &o.fs[0],
            FsOp::Bind {
                kind: BindKind::Ro,
                ..
            }
        ));
        assert!(matches!(&o.fs[1], FsOp::Tmpfs { size: None, .. }));
        assert_eq!(o.fs[2], FsOp::Proc("/proc".into()));
        assert_eq!(o.command, vec![OsString::from("sh")]);
    }

    #[test]
    fn perms_and_size_modify_the_next_operation_only() {
        let o = p(&[
            "--perms", "0700", "--size", "4096", "--tmpfs", "/t", "--dir", "/d",
        ])
        .unwrap();
        assert_eq!(
            o.fs[0],
            FsOp::Tmpfs {
                dst: "/t".into(),
                size: Some(4096),
                perms: Some(0o700)
            }
        );
        assert_eq!(
            o.fs[1],
            FsOp::Dir {
                dst: "/d".into(),
                perms: None
            }
        );
        let e = p(&["--perms", "0700", "--proc", "/proc"]).unwrap_err();
        assert!(e.0.contains("--perms must be followed"), "{e}");
        let e = p(&["--size", "10", "--dir", "/d"]).unwrap_err();
        assert!(e.0.contains("--size must be followed by --tmpfs"), "{e}");
        assert!(p(&["--perms", "999", "--dir", "/d"]).is_err());
    }

    #[test]
    fn double_dash_ends_the_options() {
        let o = p(&["--unshare-pid", "--", "--not-an-option", "x"]).unwrap();
        assert!(o.unshare_pid);
        assert_eq!(o.command.len(), 2);
    }

    #[test]
    fn unknown_and_unsupported_options_are_named() {
        let e = p(&["--frobnicate", "sh"]).unwrap_err();
        assert_eq!(e.0, "Unknown option --frobnicate");
        let e = p(&["--exec-label", "x", "sh"]).unwrap_err();
        assert!(e.0.starts_with("--exec-label is not supported"), "{e}");
        let e = p(&["--bind", "/only-one"]).unwrap_err();
        assert!(e.0.contains("--bind takes 2 arguments"), "{e}");
    }

    #[test]
    fn unshare_all_and_share_net() {
        let o = p(&["--unshare-all", "--share-net", "true"]).unwrap();
        assert!(o.unshare_pid && o.unshare_ipc && o.unshare_uts && o.unshare_user_try);
        assert!(!o.unshare_net);
    }

    #[test]
    fn args_fd_is_spliced_in_place() {
        let (r, w) = std::io::pipe().unwrap();
        use std::io::Write;
        let mut w = w;
        w.write_all(b"--setenv\0A\0b c\0--setenv\0E\0\0--unshare-pid\0")
            .unwrap();
        drop(w);
        use std::os::fd::IntoRawFd;
        let fd = r.into_raw_fd().to_string();
        let o = p(&["--args", &fd, "--clearenv", "env"]).unwrap();
        assert_eq!(
            o.env,
            vec![
                EnvOp::Set("A".into(), "b c".into()),
                EnvOp::Set("E".into(), String::new()),
                EnvOp::Clear
            ]
        );
        assert!(o.unshare_pid);
        assert_eq!(o.command, vec![OsString::from("env")]);
    }
}
