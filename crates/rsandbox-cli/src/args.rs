//! Command-line flags, mapped one to one onto the `Sandbox` builder.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rsandbox::features::Features;
use rsandbox::{Command, Image, Namespace, Sandbox};

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
    /// Run a command with bubblewrap's options (`rsandbox bwrap --help`;
    /// the binary called as `bwrap` through a symlink does the same).
    Bwrap(BwrapArgs),
}

/// Arguments of `rsandbox bwrap`, parsed by the bwrap module, not clap.
#[derive(Debug, Args)]
pub struct BwrapArgs {
    /// bubblewrap's options, then the command.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct Check {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Spawn a real strict box (best effort) and print what actually held,
    /// layer by layer, checked by a probe from inside; exit 1 when a layer
    /// was lost, 125 when no box could be spawned.
    #[arg(long)]
    pub verify: bool,
}

#[derive(Debug, Args)]
pub struct Run {
    /// Start from a profile file (.json or .toml, see docs/profile.md)
    /// instead of the strict preset; the other flags are applied on top.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Start from an empty description instead of the strict preset (all
    /// namespaces, every capability dropped, no_new_privs, default seccomp
    /// profile, default root view).
    #[arg(long)]
    pub relaxed: bool,
    /// Apply what this kernel and these privileges allow; report the rest
    /// (see --json) instead of failing.
    #[arg(long)]
    pub best_effort: bool,
    /// Directory to use as the box's root filesystem.
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// Run an OCI image layout (DIR, or DIR:TAG for the manifest named
    /// TAG): its files are the root (read-only, writes go to a tmpfs
    /// private to the box), its Env, WorkingDir, User and Entrypoint/Cmd
    /// the defaults (see docs/image.md).
    #[arg(long, value_name = "DIR[:TAG]", conflicts_with = "rootfs")]
    pub image: Option<String>,
    /// Where image layers are unpacked (default: /var/cache/rsandbox for
    /// root, $XDG_CACHE_HOME/rsandbox otherwise).
    #[arg(long, value_name = "DIR", requires = "image")]
    pub image_cache: Option<PathBuf>,
    /// Bind SRC to DST read-write (repeatable).
    #[arg(long = "bind", value_name = "SRC:DST")]
    pub bind: Vec<String>,
    /// Bind SRC to DST read-only (repeatable).
    #[arg(long = "ro-bind", value_name = "SRC:DST")]
    pub ro_bind: Vec<String>,
    /// A tmpfs at DST, optionally sized (e.g. /scratch:64M) (repeatable).
    #[arg(long = "tmpfs", value_name = "DST[:SIZE]")]
    pub tmpfs: Vec<String>,
    /// Memory limit (bytes, or with K/M/G suffix); swap is off.
    #[arg(long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Maximum number of processes.
    #[arg(long, value_name = "N")]
    pub pids: Option<u64>,
    /// CPU limit in cores (e.g. 0.5).
    #[arg(long, value_name = "CORES")]
    pub cpus: Option<f64>,
    /// CPU-time limit in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub cpu_time: Option<f64>,
    /// RLIMIT_NOFILE (soft and hard).
    #[arg(long, value_name = "N")]
    pub nofile: Option<u64>,
    /// Seccomp: `default`, `none`, or the path of an OCI/Docker JSON profile.
    #[arg(long, value_name = "PROFILE")]
    pub seccomp: Option<String>,
    /// Keep this capability (e.g. CAP_NET_BIND_SERVICE) (repeatable).
    #[arg(long = "keep-cap", value_name = "CAP")]
    pub keep_cap: Vec<String>,
    /// Landlock: allow reading under PATH (repeatable; any Landlock flag
    /// denies the rest of the filesystem).
    #[arg(long = "landlock-read", value_name = "PATH")]
    pub landlock_read: Vec<PathBuf>,
    /// Landlock: allow reading and writing under PATH (repeatable).
    #[arg(long = "landlock-write", value_name = "PATH")]
    pub landlock_write: Vec<PathBuf>,
    /// Landlock: allow executing under PATH (repeatable).
    #[arg(long = "landlock-exec", value_name = "PATH")]
    pub landlock_exec: Vec<PathBuf>,
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
    /// Keep the caller's uid and gid as the box's host identity. Without
    /// it, a root caller's box (strict preset) is `nobody` (65534) to the
    /// host's files and sockets, and files it writes in a bound directory
    /// are owned by 65534:65534 (see the rsandbox::identity docs).
    #[arg(long)]
    pub host_identity: bool,
    /// Map the box's ids to the unprivileged host id 65534 when run as
    /// root (the strict preset's default; for --relaxed or --profile).
    #[arg(long, conflicts_with = "host_identity")]
    pub unprivileged_identity: bool,
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
    /// Egress: allow a domain, or its subdomains (*.example.com), on ports
    /// 80 and 443 or those given (example.com:22,8080); everything else is
    /// denied (repeatable; see docs/egress.md).
    #[arg(long = "allow-domain", value_name = "PATTERN[:PORTS]")]
    pub allow_domain: Vec<String>,
    /// Egress: allow an address or CIDR (10.1.2.0/24:443) (repeatable).
    #[arg(long = "allow-cidr", value_name = "CIDR[:PORTS]")]
    pub allow_cidr: Vec<String>,
    /// Egress: a secret the box can use but not read: its variable NAME
    /// holds a placeholder, replaced in header HEADER of requests to HOST
    /// by the value of NAME in this command's environment (repeatable).
    #[arg(long = "secret", value_name = "NAME:HOST:HEADER")]
    pub secret: Vec<String>,
    /// Egress: resolve allowed names with this DNS server (ADDR:PORT)
    /// instead of this machine's resolver.
    #[arg(long = "egress-resolver", value_name = "ADDR:PORT")]
    pub egress_resolver: Option<String>,
    /// Print the outcome as JSON on stdout, after the payload has ended
    /// (with the egress violations, if any).
    #[arg(long)]
    pub json: bool,
    /// The command and its arguments.
    /// The command and its arguments (with --image: replaces the image's
    /// Cmd; optional).
    #[arg(last = true, required_unless_present = "image", value_name = "CMD")]
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

fn pair<'a>(flag: &str, v: &'a str) -> Result<(&'a str, &'a str), rsandbox::Error> {
    match v.split_once(':') {
        Some((a, b)) => Ok((a, b)),
        None => Ok((v, v)),
    }
    .and_then(|(a, b)| {
        if a.is_empty() || b.is_empty() {
            Err(rsandbox::Error::invalid(
                flag,
                format!("{v:?} is not SRC:DST"),
            ))
        } else {
            Ok((a, b))
        }
    })
}

/// Parse `123`, `64K`, `16M`, `2G` (binary multiples).
fn bytes(flag: &str, v: &str) -> Result<u64, rsandbox::Error> {
    let bad = || {
        rsandbox::Error::invalid(
            flag,
            format!("{v:?} is not a size (e.g. 1048576, 64K, 16M, 2G)"),
        )
    };
    let (num, mul) = match v.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let mul = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => return Err(bad()),
            };
            (&v[..i], mul)
        }
        _ => (v, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(bad)
}

impl Run {
    /// Open, verify and unpack the `--image` layout, if any.
    fn load_image(&self) -> Result<Option<Image>, rsandbox::Error> {
        let Some(spec) = &self.image else {
            return Ok(None);
        };
        // DIR:TAG, unless the whole of it is a directory.
        let (dir, tag) = match spec.rsplit_once(':') {
            Some((d, t)) if !Path::new(spec).is_dir() && !t.contains('/') => (d, Some(t)),
            _ => (spec.as_str(), None),
        };
        Ok(Some(Image::load(
            Path::new(dir),
            tag,
            self.image_cache.as_deref(),
        )?))
    }

    /// Build the sandbox these flags describe, in `image` if given.
    fn sandbox_for(&self, image: Option<&Image>) -> Result<Sandbox, rsandbox::Error> {
        let mut sb = match (&self.profile, self.relaxed) {
            (Some(p), _) => Sandbox::load(p)?,
            (None, true) => Sandbox::new(),
            (None, false) => Sandbox::strict(),
        };
        if self.best_effort {
            sb = sb.best_effort(true);
        }
        if let Some(r) = &self.rootfs {
            sb = sb.rootfs(r.clone());
        }
        if let Some(img) = image {
            sb = sb.image(img)?;
        }
        for b in &self.bind {
            let (src, dst) = pair("--bind", b)?;
            sb = sb.bind(src, dst);
        }
        for b in &self.ro_bind {
            let (src, dst) = pair("--ro-bind", b)?;
            sb = sb.ro_bind(src, dst);
        }
        for t in &self.tmpfs {
            let (dst, size) = match t.split_once(':') {
                Some((d, s)) => (d, bytes("--tmpfs", s)?),
                None => (t.as_str(), 64 << 20),
            };
            sb = sb.tmpfs(dst, size);
        }
        if let Some(m) = &self.memory {
            sb = sb.memory_limit(bytes("--memory", m)?);
        }
        if let Some(p) = self.pids {
            sb = sb.pids_limit(p);
        }
        if let Some(c) = self.cpus {
            sb = sb.cpu_limit(c);
        }
        if let Some(t) = self.cpu_time {
            sb = sb.cpu_time_limit(seconds("--cpu-time", t)?);
        }
        if let Some(n) = self.nofile {
            sb = sb.rlimit_nofile(n);
        }
        match self.seccomp.as_deref() {
            None => {}
            Some("default") => sb = sb.seccomp_default(),
            Some("none") => sb = sb.no_seccomp(),
            Some(path) => sb = sb.seccomp_oci_file(path),
        }
        if !self.keep_cap.is_empty() {
            sb = sb.keep_caps(self.keep_cap.iter().cloned());
        }
        for p in &self.landlock_read {
            sb = sb.landlock_read(p.clone());
        }
        for p in &self.landlock_write {
            sb = sb.landlock_write(p.clone());
        }
        for p in &self.landlock_exec {
            sb = sb.landlock_exec(p.clone());
        }
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
        if self.host_identity {
            sb = sb.host_identity();
        }
        if self.unprivileged_identity {
            sb = sb.unprivileged_identity();
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
        self.egress(sb)
    }

    /// The egress flags, on top of a profile's policy if it has one.
    fn egress(&self, sb: Sandbox) -> Result<Sandbox, rsandbox::Error> {
        if self.allow_domain.is_empty()
            && self.allow_cidr.is_empty()
            && self.secret.is_empty()
            && self.egress_resolver.is_none()
        {
            return Ok(sb);
        }
        let mut p = sb.egress_policy().cloned().unwrap_or_default();
        for d in &self.allow_domain {
            p = p.allow_domain(d.clone());
        }
        for c in &self.allow_cidr {
            p = p.allow_cidr(c.clone());
        }
        for s in &self.secret {
            let mut parts = s.splitn(3, ':');
            let (Some(name), Some(host), Some(header)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(rsandbox::Error::invalid(
                    "--secret",
                    format!("{s:?} is not NAME:HOST:HEADER"),
                ));
            };
            let value = std::env::var(name).map_err(|_| {
                rsandbox::Error::invalid(
                    "--secret",
                    format!("{name} is not set in this command's environment (the secret's value comes from there)"),
                )
            })?;
            p = p.secret(name, host, header, value);
        }
        if let Some(r) = &self.egress_resolver {
            let addr = r.parse().map_err(|_| {
                rsandbox::Error::invalid("--egress-resolver", format!("{r:?} is not ADDR:PORT"))
            })?;
            p = p.resolve_with(addr);
        }
        Ok(sb.egress(p))
    }

    /// Run the payload; returns the exit code to mirror.
    pub fn execute(&self) -> Result<u8, rsandbox::Error> {
        let image = self.load_image()?;
        let sb = self.sandbox_for(image.as_ref())?;
        let cmd = match &image {
            Some(img) => img.command(&self.command)?,
            None => Command::from_argv(self.command.iter().cloned()),
        };
        let mut child = sb.spawn(&cmd)?;
        if let Some(t) = child.spawn_timing() {
            print_timing(t);
        }
        let outcome = child.wait()?;
        if self.json {
            println!(
                "{}",
                serde_json::to_string(&outcome).expect("outcome serializes")
            );
        }
        Ok(outcome.code().clamp(0, 255) as u8)
    }
}

/// The spawn's stages on stderr (`RSANDBOX_TIMING=1`), as the payload
/// starts: each stage's own time, then the time from `spawn` to its end.
fn print_timing(t: &rsandbox::SpawnTiming) {
    let mut err = std::io::stderr().lock();
    for ((name, own), (_, at)) in t.stages().iter().zip(&t.marks) {
        let _ = writeln!(
            err,
            "rsandbox: timing {name:<32} {:>8.1} us  (at {:>8.1} us)",
            own.as_secs_f64() * 1e6,
            at.as_secs_f64() * 1e6
        );
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
    if let Some(why) = &f.user_namespaces_error {
        println!("  why not             {why}");
    }
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
    println!("overlay (fd layers)   {}", yes(f.overlay_fd_layers));
    println!("cgroup layout         {}", f.cgroup_layout);
    for c in &f.cgroups {
        println!(
            "  v{} {:<28} {}",
            c.version,
            c.path,
            c.controllers.join(" ")
        );
    }
    println!("device rules          {}", f.device_rules);
}
