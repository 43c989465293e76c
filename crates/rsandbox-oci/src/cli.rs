//! The command line: runc's global flags and verbs, as clap structs.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "rsandbox-oci",
    about = "rsandbox as an OCI runtime (runc-compatible command line)",
    version = concat!(env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0"),
)]
pub struct Cli {
    /// Directory holding the containers' state.
    #[arg(long, global = true, default_value = "/run/rsandbox-oci")]
    pub root: PathBuf,
    /// Append errors (and warnings) to this file.
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Format of the log lines.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Cgroup paths in systemd's "slice:prefix:name" form (systemd itself is
    /// not called: the cgroups are made directly).
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility; ignored.
    #[arg(long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Each verb's arguments are built only when that verb is parsed
/// (`defer`): an engine runs one verb per process, and building every
/// verb's arguments was most of the parse (about 0.2 ms of each command).
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum Cmd {
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
        /// Memory limit in bytes (-1: unlimited).
        #[arg(long, allow_negative_numbers = true)]
        memory: Option<i64>,
        /// Pids limit (-1: unlimited).
        #[arg(long, allow_negative_numbers = true)]
        pids_limit: Option<i64>,
        /// CPU CFS quota (microseconds per period; -1: unlimited).
        #[arg(long, allow_negative_numbers = true)]
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

impl Cmd {
    /// The subcommand's name, for the timing report.
    pub fn name(&self) -> &'static str {
        match self {
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
}
