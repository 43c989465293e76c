//! Command-line flags, mapped one to one onto the `Sandbox` builder.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rsandbox::features::Features;
use rsandbox::{Command, Namespace, Sandbox};

/// Run programs in a Linux sandbox.
#[derive(Debug, Parser)]
#[command(name = "rsandbox", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Sub,
}

#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Run CMD in a sandbox; exit with its code (128+N for signal N).
    Run(Box<Run>),
    /// Print what this machine supports.
    Check(Check),
}

#[derive(Debug, Args)]
pub struct Check {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct Run {
    /// Start from a profile file (.json or .toml, see docs/profile.md); the
    /// other flags are applied on top of it.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Create a namespace: user, pid, mount, uts, ipc, net, cgroup, time (repeatable, or comma-separated).
    #[arg(long = "unshare", value_delimiter = ',')]
    pub unshare: Vec<String>,
    /// Create user, pid, mount, uts, ipc, net and cgroup namespaces.
    #[arg(long)]
    pub unshare_all: bool,
    /// uid inside the user namespace.
    #[arg(long)]
    pub uid: Option<u32>,
    /// gid inside the user namespace.
    #[arg(long)]
    pub gid: Option<u32>,
    /// Hostname (needs the uts namespace).
    #[arg(long)]
    pub hostname: Option<String>,
    /// Start from the caller's environment.
    #[arg(long)]
    pub inherit_env: bool,
    /// Set a variable, NAME=VALUE (repeatable).
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// Remove a variable (repeatable).
    #[arg(long = "unsetenv", value_name = "NAME")]
    pub unsetenv: Vec<String>,
    /// Working directory inside the box.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Wall-clock limit in seconds (fractions allowed).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// With --timeout: SIGTERM first, kill after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub grace: Option<f64>,
    /// Keep the box alive when this command dies.
    #[arg(long)]
    pub no_die_with_parent: bool,
    /// Print the outcome as JSON on stdout, after the payload has ended.
    #[arg(long)]
    pub json: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

fn seconds(flag: &str, v: f64) -> Result<Duration, rsandbox::Error> {
    Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            rsandbox::Error::invalid(
                flag,
                format!("must be a positive number of seconds, got {v}"),
            )
        })
}

impl Run {
    /// Build the sandbox these flags describe.
    pub fn sandbox(&self) -> Result<Sandbox, rsandbox::Error> {
        let mut sb = match &self.profile {
            Some(p) => Sandbox::load(p)?,
            None => Sandbox::new(),
        };
        if self.unshare_all {
            sb = sb.all_ns();
        }
        for name in &self.unshare {
            let ns = Namespace::parse(name).ok_or_else(|| {
                rsandbox::Error::invalid(
                    "--unshare",
                    format!("unknown namespace {name:?} (user, pid, mount, uts, ipc, net, cgroup, time)"),
                )
            })?;
            sb = match ns {
                Namespace::User => sb.user_ns(),
                Namespace::Pid => sb.pid_ns(),
                Namespace::Mount => sb.mount_ns(),
                Namespace::Uts => sb.uts_ns(),
                Namespace::Ipc => sb.ipc_ns(),
                Namespace::Net => sb.net_ns(),
                Namespace::Cgroup => sb.cgroup_ns(),
                Namespace::Time => sb.time_ns(),
            };
        }
        if let Some(u) = self.uid {
            sb = sb.uid(u);
        }
        if let Some(g) = self.gid {
            sb = sb.gid(g);
        }
        if let Some(h) = &self.hostname {
            sb = sb.hostname(h.clone());
        }
        if self.inherit_env {
            sb = sb.inherit_env();
        }
        for kv in &self.env {
            let (k, v) = kv.split_once('=').ok_or_else(|| {
                rsandbox::Error::invalid("--env", format!("{kv:?} is not NAME=VALUE"))
            })?;
            sb = sb.env(k, v);
        }
        for k in &self.unsetenv {
            sb = sb.env_remove(k.clone());
        }
        if let Some(c) = &self.cwd {
            sb = sb.cwd(c.clone());
        }
        if let Some(t) = self.timeout {
            sb = sb.timeout(seconds("--timeout", t)?);
        }
        if let Some(g) = self.grace {
            sb = sb.grace(seconds("--grace", g)?);
        }
        if self.no_die_with_parent {
            sb = sb.die_with_parent(false);
        }
        Ok(sb)
    }

    /// Run the payload; returns the exit code to mirror.
    pub fn execute(&self) -> Result<u8, rsandbox::Error> {
        let sb = self.sandbox()?;
        let cmd = Command::from_argv(self.command.iter().cloned());
        let outcome = sb.status(&cmd)?;
        if self.json {
            println!(
                "{}",
                serde_json::to_string(&outcome).expect("outcome serializes")
            );
        }
        Ok(outcome.code().clamp(0, 255) as u8)
    }
}

/// Human-readable `rsandbox check`.
pub fn print_features(f: &Features) {
    let yes = |b: bool| if b { "yes" } else { "no" };
    println!("kernel                {} ({})", f.kernel, f.arch);
    println!("running as uid        {}", f.euid);
    let ns: Vec<&str> = f.namespaces.iter().map(|n| n.name()).collect();
    println!("namespaces            {}", ns.join(" "));
    println!(
        "user namespaces       {} (for this caller)",
        yes(f.user_namespaces)
    );
    println!(
        "  for unprivileged    {}",
        yes(f.unprivileged_user_namespaces)
    );
    println!("clone3                {}", yes(f.clone3));
    println!("pidfd                 {}", yes(f.pidfd));
    println!("seccomp               {}", yes(f.seccomp));
    if f.landlock_abi > 0 {
        println!("landlock              ABI {}", f.landlock_abi);
    } else {
        println!("landlock              no");
    }
    println!("mount_setattr         {}", yes(f.mount_setattr));
    println!("cgroup layout         {}", f.cgroup_layout);
    for c in &f.cgroups {
        println!(
            "  v{} {:<28} {}",
            c.version,
            c.path,
            c.controllers.join(" ")
        );
    }
}
