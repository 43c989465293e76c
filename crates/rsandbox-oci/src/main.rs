//! `rsandbox-oci`: rsandbox as an OCI runtime, with runc's command line.
//!
//! `podman --runtime /path/to/rsandbox-oci run ...` (or a `containers.conf`
//! entry) runs containers with it. See `docs/oci.md`.

mod cgroup_path;
mod cgroups;
mod devices;
mod hooks;
mod lsm;
mod pidfile;
mod sealed_exe;
mod spec;
mod state;
mod target;
mod timing;
mod tty;

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use state::{Locked, Saved};

/// The runtime-spec version implemented.
const OCI_VERSION: &str = "1.2.0";

type Res<T> = Result<T, String>;

#[derive(Parser, Debug)]
#[command(
    name = "rsandbox-oci",
    about = "rsandbox as an OCI runtime (runc-compatible command line)",
    version = concat!(env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0"),
)]
struct Cli {
    /// Directory holding the containers' state.
    #[arg(long, global = true, default_value = "/run/rsandbox-oci")]
    root: PathBuf,
    /// Append errors (and warnings) to this file.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Format of the log lines.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Cgroup paths in systemd's "slice:prefix:name" form (systemd itself is
    /// not called: the cgroups are made directly).
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// Accepted for runc compatibility; ignored.
    #[arg(long, global = true)]
    debug: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create a container: set it up, its process waiting for `start`.
    Create {
        /// Bundle directory (holding config.json).
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
        /// Write the container's pid here.
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// Unix socket receiving the terminal's master fd (not supported).
        #[arg(long)]
        console_socket: Option<PathBuf>,
        /// Pass fds 3 .. 3+N to the container.
        #[arg(long, default_value_t = 0)]
        preserve_fds: i32,
        /// Accepted for runc compatibility; ignored.
        #[arg(long)]
        no_pivot: bool,
        /// Accepted for runc compatibility; ignored.
        #[arg(long)]
        no_new_keyring: bool,
        id: String,
    },
    /// Start a created container's process.
    Start { id: String },
    /// Print a container's state (runtime-spec JSON).
    State { id: String },
    /// Send a signal to the container's process (or every process: --all).
    Kill {
        #[arg(long, short = 'a')]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Remove a stopped container (or a live one with --force).
    Delete {
        #[arg(long, short = 'f')]
        force: bool,
        id: String,
    },
    /// List containers.
    #[command(alias = "ls")]
    List {
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// List the processes of a container.
    Ps {
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        id: String,
    },
    /// Freeze every process of a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Run a process in a running container.
    Exec {
        /// The process as runtime-spec `process` JSON.
        #[arg(long, short = 'p')]
        process: Option<PathBuf>,
        /// Do not wait for the process.
        #[arg(long, short = 'd')]
        detach: bool,
        /// Write the process's pid here.
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// A terminal (not supported).
        #[arg(long, short = 't')]
        tty: bool,
        /// Unix socket receiving the terminal's master fd (not supported).
        #[arg(long)]
        console_socket: Option<PathBuf>,
        /// Working directory.
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// Environment variables (KEY=VALUE), added to the container's.
        #[arg(long, short = 'e')]
        env: Vec<String>,
        /// uid[:gid].
        #[arg(long, short = 'u')]
        user: Option<String>,
        /// Pass fds 3 .. 3+N.
        #[arg(long, default_value_t = 0)]
        preserve_fds: i32,
        id: String,
        /// The command (without --process).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Change a container's memory, pids and cpu limits.
    Update {
        /// A runtime-spec LinuxResources JSON file ("-": stdin).
        #[arg(long, short = 'r')]
        resources: Option<PathBuf>,
        /// Memory limit in bytes.
        #[arg(long)]
        memory: Option<i64>,
        /// Pids limit.
        #[arg(long)]
        pids_limit: Option<i64>,
        /// CPU CFS quota (microseconds per period).
        #[arg(long)]
        cpu_quota: Option<i64>,
        /// CPU CFS period (microseconds).
        #[arg(long)]
        cpu_period: Option<u64>,
        /// CPU shares.
        #[arg(long)]
        cpu_shares: Option<u64>,
        id: String,
    },
    /// Print what this runtime supports (runtime-spec features JSON).
    Features,
}

struct Logger {
    file: Option<PathBuf>,
    format: LogFormat,
}

impl Logger {
    fn log(&self, level: &str, msg: &str) {
        let Some(path) = &self.file else { return };
        let line = match self.format {
            LogFormat::Json => serde_json::json!({
                "level": level,
                "msg": msg,
                "time": state::now_rfc3339(),
            })
            .to_string(),
            LogFormat::Text => format!("{} {level}: {msg}", state::now_rfc3339()),
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

fn main() {
    timing::init();
    let cli = Cli::parse();
    timing::mark("parse arguments");
    let log = Logger {
        file: cli.log.clone(),
        format: cli.log_format,
    };
    let result = run(&cli, &log);
    timing::report(cmd_name(&cli.cmd));
    if let Err(e) = result {
        log.log("error", &e);
        eprintln!("rsandbox-oci: {e}");
        std::process::exit(1);
    }
}

/// The subcommand's name, for the timing report.
fn cmd_name(c: &Cmd) -> &'static str {
    match c {
        Cmd::Create { .. } => "create",
        Cmd::Start { .. } => "start",
        Cmd::State { .. } => "state",
        Cmd::Kill { .. } => "kill",
        Cmd::Delete { .. } => "delete",
        Cmd::List { .. } => "list",
        Cmd::Ps { .. } => "ps",
        Cmd::Pause { .. } => "pause",
        Cmd::Resume { .. } => "resume",
        Cmd::Exec { .. } => "exec",
        Cmd::Update { .. } => "update",
        Cmd::Features => "features",
    }
}

fn run(cli: &Cli, log: &Logger) -> Res<()> {
    if cli.systemd_cgroup && !Path::new("/run/systemd/system").exists() {
        return Err("--systemd-cgroup: systemd is not running on this machine; \
                    drop the flag (cgroupfs paths are used)"
            .into());
    }
    // The commands that put a process of the runtime into a container run
    // from a sealed copy of the runtime (see sealed_exe); `start` does so
    // only when it has startContainer hooks to run.
    if matches!(cli.cmd, Cmd::Create { .. } | Cmd::Exec { .. }) {
        state::make_root(&cli.root)?;
        sealed_exe::ensure(&cli.root)?;
        timing::mark("sealed copy of the runtime");
    }
    match &cli.cmd {
        Cmd::Create {
            bundle,
            pid_file,
            console_socket,
            preserve_fds,
            id,
            ..
        } => create(
            cli,
            log,
            bundle,
            pid_file.as_deref(),
            console_socket.as_deref(),
            *preserve_fds,
            id,
        ),
        Cmd::Start { id } => start(&cli.root, id, log),
        Cmd::State { id } => {
            let l = Locked::open(&cli.root, id)?;
            let s = l.load()?;
            println!(
                "{}",
                serde_json::to_string_pretty(&state_json(&s)).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Cmd::Kill { all, id, signal } => kill(&cli.root, id, signal, *all),
        Cmd::Delete { force, id } => delete(&cli.root, id, *force, log),
        Cmd::List { format, quiet } => list(&cli.root, format, *quiet),
        Cmd::Ps { format, id } => {
            let l = Locked::open(&cli.root, id)?;
            let s = l.load()?;
            let pids = cgroups::pids(&s.cgroup);
            if format == "json" {
                println!(
                    "{}",
                    serde_json::to_string(&pids).map_err(|e| e.to_string())?
                );
            } else {
                println!("PID");
                for p in pids {
                    println!("{p}");
                }
            }
            Ok(())
        }
        Cmd::Pause { id } => pause(&cli.root, id, true),
        Cmd::Resume { id } => pause(&cli.root, id, false),
        Cmd::Exec { .. } => {
            let code = exec(cli, log)?;
            std::process::exit(code)
        }
        Cmd::Update {
            resources,
            memory,
            pids_limit,
            cpu_quota,
            cpu_period,
            cpu_shares,
            id,
        } => {
            let mut u = match resources {
                Some(p) => update_from_json(p)?,
                None => cgroups::Update::default(),
            };
            u.memory = memory.or(u.memory);
            u.pids = pids_limit.or(u.pids);
            u.cpu_quota = cpu_quota.or(u.cpu_quota);
            u.cpu_period = cpu_period.or(u.cpu_period);
            u.cpu_shares = cpu_shares.or(u.cpu_shares);
            let l = Locked::open(&cli.root, id)?;
            let s = l.load()?;
            if status(&s) == "stopped" {
                return Err(format!("container {id:?} is not running"));
            }
            cgroups::update(&s.cgroup, &u)
        }
        Cmd::Features => {
            println!(
                "{}",
                serde_json::to_string_pretty(&features()).map_err(|e| e.to_string())?
            );
            Ok(())
        }
    }
}

fn exec(cli: &Cli, log: &Logger) -> Res<i32> {
    let Cmd::Exec {
        process,
        detach,
        pid_file,
        tty,
        console_socket,
        cwd,
        env,
        user,
        preserve_fds,
        id,
        command,
    } = &cli.cmd
    else {
        unreachable!()
    };
    let l = Locked::open(&cli.root, id)?;
    let s = l.load()?;
    let st = status(&s);
    if st != "running" {
        return Err(format!("cannot exec in container {id:?} in state {st}"));
    }
    let (spec, mut load_warnings) = spec::load(&s.bundle)?;
    let mut proc: oci_spec::runtime::Process = match process {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).map_err(|e| format!("read {}: {e}", p.display()))?;
            let (proc, w) =
                spec::parse_process(&text).map_err(|e| format!("parse {}: {e}", p.display()))?;
            load_warnings = w;
            proc
        }
        None => {
            if command.is_empty() {
                return Err("exec: give a command or --process".into());
            }
            let mut pr = spec.process().clone().ok_or("config.json has no process")?;
            pr.set_args(Some(command.clone()));
            pr
        }
    };
    if let Some(c) = cwd {
        proc.set_cwd(c.clone());
    }
    if !env.is_empty() {
        let mut e = proc.env().clone().unwrap_or_default();
        e.extend(env.iter().cloned());
        proc.set_env(Some(e));
    }
    if let Some(u) = user {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u.as_str(), None),
        };
        let mut usr = proc.user().clone();
        usr.set_uid(
            uid.parse()
                .map_err(|_| format!("--user {u}: not numeric"))?,
        );
        if let Some(g) = gid {
            usr.set_gid(g.parse().map_err(|_| format!("--user {u}: not numeric"))?);
        }
        proc.set_user(usr);
    }
    if *tty {
        proc.set_terminal(Some(true));
    }
    // The container's process pinned (pidfd) before anything about it is
    // read, and its namespaces opened through its /proc directory fd.
    let target = target::Target::open(&s)?;
    let (mut sb, cmd, warnings) = spec::exec_sandbox(&spec, &proc, &target.proc_path())?;
    // Into the container's cgroups first, as runc does: the exec'd process
    // inherits them, so the container's limits bind it and `kill --all`,
    // `ps`, `pause` and `delete` find it. Left where the runtime runs
    // (conmon's cgroup, under podman) it escaped `--memory`.
    let cgroup = target.read("cgroup")?;
    cgroups::join_cgroups(&cgroup, 0).map_err(|e| format!("exec: {e}"))?;
    let pty = if proc.terminal().unwrap_or(false) {
        let sock = console_socket
            .as_ref()
            .ok_or("exec: a terminal needs --console-socket")?;
        let size = proc
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        let (master, slave) = tty::open_pty_in(&target.proc_path(), size)?;
        tty::send_fd(sock, &master)?;
        sb = with_tty(sb, &slave);
        Some(slave)
    } else {
        None
    };
    for w in load_warnings.iter().chain(&warnings) {
        log.log("warning", w);
    }
    for i in 0..(*preserve_fds).max(0) {
        sb = sb.pass_fd(3 + i, 3 + i);
    }
    // Everything read about the container above was its own: its process
    // was alive all along (the core opens the namespaces through the
    // pinned directory, where a dead process's entries are gone).
    target.confirm()?;
    let mut child = sb.spawn(&cmd).map_err(|e| format!("exec: {e}"))?;
    drop((pty, target));
    if let Some(p) = pid_file {
        pidfile::write(p, child.pid())?;
    }
    drop(l);
    if *detach {
        std::mem::forget(child);
        return Ok(0);
    }
    let out = child.wait().map_err(|e| format!("exec: wait: {e}"))?;
    Ok(out.code())
}

/// Read a runtime-spec LinuxResources JSON (path or "-" for stdin).
fn update_from_json(p: &Path) -> Res<cgroups::Update> {
    let text = if p == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| e.to_string())?;
        s
    } else {
        std::fs::read_to_string(p).map_err(|e| format!("read {}: {e}", p.display()))?
    };
    let r: oci_spec::runtime::LinuxResources =
        serde_json::from_str(&text).map_err(|e| format!("parse resources: {e}"))?;
    let mut u = cgroups::Update::default();
    if let Some(m) = r.memory() {
        u.memory = m.limit();
    }
    if let Some(p) = r.pids() {
        u.pids = Some(p.limit());
    }
    if let Some(c) = r.cpu() {
        u.cpu_quota = c.quota();
        u.cpu_period = c.period();
        u.cpu_shares = c.shares();
    }
    Ok(u)
}

/// The container's status now.
fn status(s: &Saved) -> &'static str {
    if !state::alive(s) {
        "stopped"
    } else if s.status == "created" {
        "created"
    } else if cgroups::frozen(&s.cgroup) {
        "paused"
    } else {
        "running"
    }
}

/// Run the container's `kind` hooks, whose failure is only a warning
/// (poststart and poststop, per runtime-spec): logged and printed.
fn run_warning_hooks(s: &Saved, kind: hooks::Kind, log: &Logger) {
    if let Err(e) = hooks::run(s.hooks.as_ref(), kind, &state_json(s), None) {
        log.log("warning", &e);
        eprintln!("rsandbox-oci: warning: {e}");
    }
}

fn state_json(s: &Saved) -> serde_json::Value {
    let st = status(s);
    let mut v = serde_json::json!({
        "ociVersion": OCI_VERSION,
        "id": s.id,
        "status": st,
        "bundle": s.bundle,
        "rootfs": s.rootfs,
        "created": s.created,
        "owner": "",
    });
    if st != "stopped" {
        v["pid"] = s.pid.into();
    } else {
        v["pid"] = 0.into();
    }
    if !s.annotations.is_empty() {
        v["annotations"] = serde_json::to_value(&s.annotations).unwrap_or_default();
    }
    v
}

fn create(
    cli: &Cli,
    log: &Logger,
    bundle: &Path,
    pid_file: Option<&Path>,
    console_socket: Option<&Path>,
    preserve_fds: i32,
    id: &str,
) -> Res<()> {
    let bundle =
        std::fs::canonicalize(bundle).map_err(|e| format!("bundle {}: {e}", bundle.display()))?;
    let (spec, load_warnings) = spec::load(&bundle)?;
    timing::mark("load config.json");
    let mapped = spec::map(&spec, &bundle)?;
    timing::mark("map the spec");
    for w in load_warnings.iter().chain(&mapped.warnings) {
        log.log("warning", w);
    }
    let locked = Locked::create(&cli.root, id)?;
    timing::mark("state dir + lock");
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let size = spec
        .process()
        .as_ref()
        .and_then(|p| p.console_size())
        .map(|b| (b.height() as u16, b.width() as u16));
    let tty = match (terminal, console_socket) {
        (true, Some(sock)) => Some((sock.to_path_buf(), size)),
        (true, None) => {
            let _ = std::fs::remove_dir_all(&locked.dir);
            return Err("process.terminal is true: --console-socket is required".into());
        }
        (false, Some(_)) => {
            let _ = std::fs::remove_dir_all(&locked.dir);
            return Err("--console-socket given but process.terminal is false".into());
        }
        (false, None) => None,
    };
    let opts = CreateOpts {
        pid_file,
        preserve_fds,
        tty,
    };
    let result = create_locked(cli, &locked, &bundle, id, &spec, mapped, opts);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&locked.dir);
    }
    result
}

/// `create`'s options beyond the bundle.
struct CreateOpts<'a> {
    pid_file: Option<&'a Path>,
    preserve_fds: i32,
    /// Console socket and terminal size, with `process.terminal`.
    tty: Option<(PathBuf, Option<(u16, u16)>)>,
}

fn create_locked(
    cli: &Cli,
    locked: &Locked,
    bundle: &Path,
    id: &str,
    spec: &oci_spec::runtime::Spec,
    mapped: spec::Mapped,
    opts: CreateOpts,
) -> Res<()> {
    let CreateOpts {
        pid_file,
        preserve_fds,
        tty,
    } = opts;
    let rel =
        cgroup_path::container_cgroup(mapped.cgroups_path.as_deref(), id, cli.systemd_cgroup)?;
    cgroups::check_unused(&rel)?;
    let created = cgroups::create(&rel)?;
    if let Err(e) = devices::write_own(&rel, &mapped.device_rules) {
        cgroups::remove(&created);
        return Err(format!("linux.resources.devices: {e}"));
    }
    timing::mark("container cgroups");
    let rootfs = mapped
        .sandbox
        .fs_config()
        .rootfs
        .clone()
        .unwrap_or_default();
    let mut sb = mapped.sandbox.cgroup_parent(&rel);

    // The exec FIFO: the container's process reads one byte from it before
    // exec; `start` writes that byte.
    let fifo = state::exec_fifo(&locked.dir);
    let cpath =
        std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).map_err(|_| "bad root path")?;
    // SAFETY: mkfifo/open on a valid C string.
    let gate = unsafe {
        if libc::mkfifo(cpath.as_ptr(), 0o600) != 0 {
            cgroups::remove(&created);
            return Err(format!("mkfifo: {}", std::io::Error::last_os_error()));
        }
        let fd = libc::open(cpath.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if fd < 0 {
            cgroups::remove(&created);
            return Err(format!(
                "open exec fifo: {}",
                std::io::Error::last_os_error()
            ));
        }
        OwnedFd::from_raw_fd(fd)
    };
    sb = sb.start_gate(gate.as_raw_fd());
    for i in 0..preserve_fds.max(0) {
        sb = sb.pass_fd(3 + i, 3 + i);
    }
    timing::mark("exec fifo");
    let spawn = |sb: rsandbox::Sandbox| {
        sb.spawn(&mapped.command)
            .map_err(|e| format!("create: {e}"))
    };
    let child = match &tty {
        None => spawn(sb),
        // The terminal from a devpts instance of the container's own.
        Some((sock, size)) => tty::with_own_devpts(
            &locked.dir,
            spec::devpts_gid(spec),
            *size,
            |pts, master, slave| {
                tty::send_fd(sock, &master)?;
                let sb = if mapped.own_dev {
                    sb.clone().bind(pts, "/dev/pts")
                } else {
                    sb.clone()
                };
                spawn(with_tty(sb, &slave))
            },
        )
        .unwrap_or_else(|| {
            // A runtime that may not mount: the host's devpts.
            let (master, slave) = tty::open_host_pty(*size)?;
            tty::send_fd(sock, &master)?;
            spawn(with_tty(sb.clone(), &slave))
        }),
    };
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            let _ = cgroups::destroy(&rel, &created);
            return Err(e);
        }
    };
    timing::mark("spawn (core)");
    if let Some(t) = child.spawn_timing().filter(|_| timing::on()) {
        eprintln!("core spawn stages:\n{t}");
    }
    drop(gate);
    if let Some(r) = &mapped.resources {
        cgroups::write_all(&rel, r);
    }
    let mut pid = child.pid();
    if mapped.joins_pid {
        // The process in the joined namespace is the waiter's only child.
        pid = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()))
            .unwrap_or(pid);
    }
    // The container outlives this command: leave the handle (pidfd, the
    // core's cgroup bookkeeping) to the process exit, without its drop.
    std::mem::forget(child);

    let fail = |e: String| -> String {
        let _ = cgroups::destroy(&rel, &created);
        e
    };
    for (ns, key, value) in &mapped.sysctls {
        apply_sysctl(pid, ns, key, value).map_err(fail)?;
    }
    let pid_start = state::proc_stat(pid)
        .map(|(_, t)| t)
        .ok_or_else(|| fail("the container's process died during create".into()))?;
    let saved = Saved {
        id: id.to_string(),
        bundle: bundle.to_path_buf(),
        pid,
        pid_start,
        status: "created".into(),
        created: state::now_rfc3339(),
        annotations: mapped.annotations.clone(),
        cgroup: rel.clone(),
        cgroup_created: created.clone(),
        rootfs,
        hooks: spec.hooks().clone(),
    };
    timing::mark("sysctls + pid check");
    locked.save(&saved).map_err(fail)?;
    timing::mark("save state");
    let st = state_json(&saved);
    let hk = spec.hooks().as_ref();
    for kind in [hooks::Kind::CreateRuntime, hooks::Kind::Prestart] {
        hooks::run(hk, kind, &st, None).map_err(fail)?;
    }
    if !hooks::of(hk, hooks::Kind::CreateContainer).is_empty() {
        let target = target::Target::open(&saved).map_err(fail)?;
        hooks::run(hk, hooks::Kind::CreateContainer, &st, Some((spec, &target))).map_err(fail)?;
    }
    if let Some(p) = pid_file {
        pidfile::write(p, pid).map_err(fail)?;
    }
    timing::mark("pid file");
    Ok(())
}

/// The pty slave as stdio and controlling terminal.
fn with_tty(sb: rsandbox::Sandbox, slave: &OwnedFd) -> rsandbox::Sandbox {
    use rsandbox::Stdio;
    let fd = slave.as_raw_fd();
    sb.stdin(Stdio::Fd(fd))
        .stdout(Stdio::Fd(fd))
        .stderr(Stdio::Fd(fd))
        .controlling_tty(true)
}

/// Set a namespaced sysctl from a thread that joined the container's
/// namespace (the /proc/sys/{net,kernel} files act on the opener's).
fn apply_sysctl(pid: i32, ns: &str, key: &str, value: &str) -> Res<()> {
    let nsfile = format!("/proc/{pid}/ns/{ns}");
    let key = key.to_string();
    let value = value.to_string();
    std::thread::spawn(move || -> Res<()> {
        let f = std::fs::File::open(&nsfile).map_err(|e| format!("open {nsfile}: {e}"))?;
        // SAFETY: setns on a namespace fd we own; it changes only this
        // thread, which ends right after.
        if unsafe { libc::setns(f.as_raw_fd(), 0) } != 0 {
            return Err(format!(
                "setns {nsfile}: {}",
                std::io::Error::last_os_error()
            ));
        }
        if key == "kernel.domainname" {
            // SAFETY: setdomainname with a pointer and length of a live string.
            if unsafe { libc::setdomainname(value.as_ptr().cast(), value.len()) } != 0 {
                return Err(format!(
                    "setdomainname: {}",
                    std::io::Error::last_os_error()
                ));
            }
            return Ok(());
        }
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        std::fs::write(&path, &value).map_err(|e| format!("linux.sysctl {key}: {e}"))
    })
    .join()
    .map_err(|_| "sysctl thread panicked".to_string())?
}

/// Release a created container: one byte into its exec FIFO, then remove
/// the FIFO, which is what marks the container as started (the saved state
/// is not rewritten; see `state::read_state`).
fn start(root: &Path, id: &str, log: &Logger) -> Res<()> {
    let l = Locked::open(root, id)?;
    let mut s = l.load()?;
    let st = status(&s);
    timing::mark("lock + load + status");
    if st != "created" {
        return Err(format!("cannot start container {id:?} in state {st}"));
    }
    // startContainer hooks join the container's namespaces, described by
    // the config; without any, config.json is not read at all.
    if !hooks::of(s.hooks.as_ref(), hooks::Kind::StartContainer).is_empty() {
        // They put a process of the runtime into the container: from a
        // sealed copy. Nothing is changed yet, so the command may start
        // over in it (the lock's fd is close-on-exec).
        sealed_exe::ensure(root)?;
        let (spec, _) = spec::load(&s.bundle)?;
        let target = target::Target::open(&s)?;
        hooks::run(
            s.hooks.as_ref(),
            hooks::Kind::StartContainer,
            &state_json(&s),
            Some((&spec, &target)),
        )?;
    }
    let fifo = state::exec_fifo(&l.dir);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags_nonblock()
        .open(&fifo)
        .map_err(|e| format!("open exec fifo: {e}"))?;
    (&f).write_all(&[1])
        .map_err(|e| format!("release the container: {e}"))?;
    drop(f);
    std::fs::remove_file(&fifo).map_err(|e| format!("remove the exec fifo: {e}"))?;
    timing::mark("release through the fifo");
    // Running from here on; in memory only, for the poststart hook's state.
    s.status = "running".into();
    // A failing poststart hook is a warning (runtime-spec).
    run_warning_hooks(&s, hooks::Kind::Poststart, log);
    Ok(())
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}
impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
    }
}

/// Parse `9`, `KILL` or `SIGKILL`.
fn parse_signal(s: &str) -> Res<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => return Err(format!("unknown signal {s:?}")),
    };
    Ok(n)
}

/// Signal the container's first process through a pidfd, after checking
/// that the pid is still the container's (start time).
fn signal_pid(s: &Saved, sig: i32) -> Res<()> {
    // SAFETY: pidfd_open with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, s.pid, 0) };
    if fd < 0 {
        return Err(format!("container {:?} is not running", s.id));
    }
    // SAFETY: a fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    if !state::alive(s) {
        return Err(format!("container {:?} is not running", s.id));
    }
    // SAFETY: pidfd_send_signal on our pidfd, no siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        return Err(format!("kill: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

fn kill(root: &Path, id: &str, signal: &str, all: bool) -> Res<()> {
    let sig = parse_signal(signal)?;
    let l = Locked::open(root, id)?;
    let s = l.load()?;
    if all {
        cgroups::signal_all(&s.cgroup, sig);
        return Ok(());
    }
    if status(&s) == "stopped" {
        return Err(format!("container {id:?} is not running"));
    }
    signal_pid(&s, sig)
}

fn delete(root: &Path, id: &str, force: bool, log: &Logger) -> Res<()> {
    let l = match Locked::open(root, id) {
        Ok(l) => l,
        // runc: `delete --force` of an unknown container succeeds.
        Err(_) if force && state::check_id(id).is_ok() => {
            let _ = std::fs::remove_dir_all(root.join(id));
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let s = l.load()?;
    let st = status(&s);
    timing::mark("lock + load + status");
    if st != "stopped" && !(force || st == "created") {
        return Err(format!(
            "cannot delete container {id:?} in state {st} (use --force)"
        ));
    }
    if cgroups::frozen(&s.cgroup) {
        let _ = cgroups::freeze(&s.cgroup, false);
    }
    cgroups::destroy(&s.cgroup, &s.cgroup_created)?;
    timing::mark("kill + remove cgroups");
    std::fs::remove_dir_all(&l.dir).map_err(|e| format!("remove {}: {e}", l.dir.display()))?;
    timing::mark("remove state dir");
    // A failing poststop hook is a warning (runtime-spec).
    run_warning_hooks(&s, hooks::Kind::Poststop, log);
    Ok(())
}

fn list(root: &Path, format: &str, quiet: bool) -> Res<()> {
    let mut all = Vec::new();
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.flatten() {
            if let Ok(s) = state::read_state(&e.path()) {
                all.push(s);
            }
        }
    }
    all.sort_by(|a, b| a.id.cmp(&b.id));
    if quiet {
        for s in &all {
            println!("{}", s.id);
        }
    } else if format == "json" {
        let v: Vec<_> = all.iter().map(state_json).collect();
        println!("{}", serde_json::to_string(&v).map_err(|e| e.to_string())?);
    } else {
        println!(
            "{:<20} {:<8} {:<8} {:<40} CREATED",
            "ID", "PID", "STATUS", "BUNDLE"
        );
        for s in &all {
            let st = status(s);
            let pid = if st == "stopped" { 0 } else { s.pid };
            println!(
                "{:<20} {:<8} {:<8} {:<40} {}",
                s.id,
                pid,
                st,
                s.bundle.display(),
                s.created
            );
        }
    }
    Ok(())
}

fn pause(root: &Path, id: &str, on: bool) -> Res<()> {
    let l = Locked::open(root, id)?;
    let s = l.load()?;
    let st = status(&s);
    match (on, st) {
        (true, "running") | (false, "paused") => cgroups::freeze(&s.cgroup, on),
        _ => Err(format!(
            "cannot {} container {id:?} in state {st}",
            if on { "pause" } else { "resume" }
        )),
    }
}

fn features() -> serde_json::Value {
    let caps: Vec<String> = (0..=rsandbox::caps::cap_last_cap())
        .filter_map(cap_name)
        .collect();
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer",
                  "poststart", "poststop"],
        "mountOptions": ["bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec", "size"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time"],
            "capabilities": caps,
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false },
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                            "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
                            "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",
                              "SCMP_CMP_GT", "SCMP_CMP_GE", "SCMP_CMP_MASKED_EQ"],
                "archs": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
            },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
        },
        "annotations": {
            "org.opencontainers.runtime-spec.features.rsandbox.version": env!("CARGO_PKG_VERSION"),
        },
    })
}

fn cap_name(n: u32) -> Option<String> {
    const NAMES: [&str; 41] = [
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    NAMES.get(n as usize).map(|s| format!("CAP_{s}"))
}
