//! The builder: a plain-data description of a box.
//!
//! `Sandbox` is `Clone` and serde-serializable so a box can be stored, sent to
//! another process or loaded from a profile. Builder methods take and return
//! `self` so calls chain; nothing is checked until [`Sandbox::validate`] (which
//! [`Sandbox::spawn`] calls first), so errors surface in one place, before any
//! process exists.
//!
//! Concerns other than namespaces, identity, environment and stdio add their
//! builder methods from their own modules (`fs`, `limits`, `seccomp`, `caps`,
//! `landlock`), each in an `impl Sandbox` block next to the code that
//! enforces them.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::caps::CapsConfig;
use crate::config::fs::FsConfig;
use crate::config::landlock::LandlockConfig;
use crate::config::limits::Limits;
use crate::config::seccomp::SeccompConfig;
use crate::idmap::IdMap;
use crate::netns::NetNs;
use crate::ns::Namespace;
use crate::stdio::Stdio;

/// The PATH a clean environment gets.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Longest hostname the kernel accepts (`HOST_NAME_MAX`).
pub const HOSTNAME_MAX: usize = 64;

/// A description of a sandbox. See the crate docs for an example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sandbox {
    /// Namespaces to create.
    pub(crate) namespaces: Vec<Namespace>,
    /// Existing namespaces to join: (kind, `/proc/PID/ns/...` or bind-mounted path).
    pub(crate) join_ns: Vec<(Namespace, PathBuf)>,
    /// A prepared network namespace the box is born in (see
    /// [`net_ns_shared`](Self::net_ns_shared)). Not part of profiles: it
    /// is a live fd of this process, not a description.
    #[serde(skip)]
    pub(crate) shared_net: Option<NetNs>,
    /// uid inside the user namespace (default: the caller's uid).
    pub(crate) uid: Option<u32>,
    /// gid inside the user namespace (default: the caller's gid).
    pub(crate) gid: Option<u32>,
    /// Supplementary groups (default: none).
    pub(crate) groups: Vec<u32>,
    /// The payload's umask (default: inherited).
    pub(crate) umask: Option<u32>,
    /// The payload's `oom_score_adj` (default: inherited).
    pub(crate) oom_score_adj: Option<i32>,
    /// Which host ids stand for the box's (see [`crate::identity`]).
    #[serde(skip_serializing_if = "crate::config::identity::is_caller")]
    pub(crate) identity: crate::config::identity::BoxIdentity,
    /// Explicit uid map lines (default: one line, caller → `uid`).
    pub(crate) uid_map: Vec<IdMap>,
    /// Explicit gid map lines (default: one line, caller → `gid`).
    pub(crate) gid_map: Vec<IdMap>,
    /// Hostname set in the UTS namespace.
    pub(crate) hostname: Option<String>,
    /// Start from the caller's environment instead of a clean one.
    pub(crate) inherit_env: bool,
    /// Variables set (`Some`) or removed (`None`), applied in order of name.
    #[serde(with = "crate::config::env_serde")]
    pub(crate) env: BTreeMap<String, Option<String>>,
    /// Working directory inside the box (default `/`).
    pub(crate) cwd: Option<PathBuf>,
    /// Standard input.
    pub(crate) stdin: Stdio,
    /// Standard output.
    pub(crate) stdout: Stdio,
    /// Standard error.
    pub(crate) stderr: Stdio,
    /// Fds passed on purpose: (fd in the caller, fd number in the box).
    pub(crate) fds: Vec<(RawFd, RawFd)>,
    /// Start gate: the payload waits before exec until a byte is read here.
    pub(crate) start_gate: Option<RawFd>,
    /// The gate carries the command to exec (a warm pool's boxes, see
    /// [`crate::pool`]); the spawn's own command is a placeholder.
    #[serde(skip)]
    pub(crate) command_gate: bool,
    /// Make stdin the controlling terminal of the box's session.
    pub(crate) controlling_tty: bool,
    /// Listening sockets passed for socket activation (see [`crate::net`]).
    pub(crate) listen_fds: Vec<RawFd>,
    /// Published ports (see [`crate::net`]).
    pub(crate) published: Vec<crate::config::net::Publish>,
    /// Kill the whole tree when the [`Child`](crate::Child) is dropped.
    pub(crate) kill_on_drop: bool,
    /// Kill the box when the calling process dies.
    pub(crate) die_with_parent: bool,
    /// Filesystem view (see [`crate::fs`]).
    pub(crate) fs: FsConfig,
    /// Resource limits (see [`crate::limits`]).
    pub(crate) limits: Limits,
    /// Seccomp policy (see [`crate::seccomp`]).
    pub(crate) seccomp: SeccompConfig,
    /// Capabilities kept (see [`crate::caps`]).
    pub(crate) caps: CapsConfig,
    /// Landlock rules (see [`crate::landlock`]).
    pub(crate) landlock: LandlockConfig,
    /// Record per-stage timestamps of each spawn.
    pub(crate) record_timing: bool,
    /// In a new PID namespace, the payload itself is PID 1 (no init).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) payload_pid1: bool,
    /// Egress allow-list (see [`crate::egress`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) egress: Option<crate::config::egress::EgressPolicy>,
    /// How an image is the root (see [`crate::image`]).
    #[serde(skip)]
    pub(crate) image_root: Option<crate::config::fs::ImageRoot>,
    /// A template box whose namespaced forks mount their own `/proc`: a
    /// read-only proc is kept under the box's, reachable by no path, so
    /// that the kernel lets the forks mount one (see `fs::plan`,
    /// `template::isolate`). Set by `Sandbox::template_with` only.
    #[serde(skip)]
    pub(crate) proc_for_forks: bool,
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox {
            namespaces: Vec::new(),
            join_ns: Vec::new(),
            shared_net: None,
            uid: None,
            gid: None,
            groups: Vec::new(),
            umask: None,
            oom_score_adj: None,
            identity: crate::config::identity::BoxIdentity::Caller,
            uid_map: Vec::new(),
            gid_map: Vec::new(),
            hostname: None,
            inherit_env: false,
            env: BTreeMap::new(),
            cwd: None,
            stdin: Stdio::Inherit,
            stdout: Stdio::Inherit,
            stderr: Stdio::Inherit,
            fds: Vec::new(),
            start_gate: None,
            command_gate: false,
            controlling_tty: false,
            listen_fds: Vec::new(),
            published: Vec::new(),
            kill_on_drop: true,
            die_with_parent: true,
            fs: FsConfig::default(),
            limits: Limits::default(),
            seccomp: SeccompConfig::default(),
            caps: CapsConfig::default(),
            landlock: LandlockConfig::default(),
            record_timing: false,
            payload_pid1: false,
            egress: None,
            image_root: None,
            proc_for_forks: false,
        }
    }
}

impl Sandbox {
    /// An empty description: no namespaces, a clean environment, inherited
    /// stdio, kill-on-drop and die-with-parent on.
    pub fn new() -> Sandbox {
        Sandbox::default()
    }

    fn with_ns(mut self, ns: Namespace) -> Self {
        if !self.namespaces.contains(&ns) {
            self.namespaces.push(ns);
        }
        self
    }

    /// Whether namespace `ns` was requested.
    pub fn has_ns(&self, ns: Namespace) -> bool {
        self.namespaces.contains(&ns)
    }

    /// The namespaces requested.
    pub fn namespaces(&self) -> &[Namespace] {
        &self.namespaces
    }

    /// A new user namespace; the caller's uid/gid are mapped to
    /// [`uid`](Self::uid)/[`gid`](Self::gid) (default: the same ids), and
    /// `setgroups` is denied as the kernel requires for unprivileged maps.
    pub fn user_ns(self) -> Self {
        self.with_ns(Namespace::User)
    }
    /// A new PID namespace: the box sees only its own processes, and a small
    /// init (PID 1) reaps orphans and forwards signals to the payload.
    pub fn pid_ns(self) -> Self {
        self.with_ns(Namespace::Pid)
    }
    /// A new mount namespace (every mount made private first).
    pub fn mount_ns(self) -> Self {
        self.with_ns(Namespace::Mount)
    }
    /// A new UTS namespace (see [`hostname`](Self::hostname)).
    pub fn uts_ns(self) -> Self {
        self.with_ns(Namespace::Uts)
    }
    /// A new IPC namespace (SysV IPC and POSIX message queues).
    pub fn ipc_ns(self) -> Self {
        self.with_ns(Namespace::Ipc)
    }
    /// A new network namespace with only `lo`, brought up. Replaces a
    /// [`net_ns_shared`](Self::net_ns_shared) set before.
    ///
    /// For a root caller whose box has a user namespace, drops every
    /// capability (as [`strict`](Self::strict) does) and mounts no sysfs,
    /// the namespace may be one a background thread made ahead: still new
    /// and the box's alone, but owned by the caller's user namespace (which
    /// a box without capabilities cannot tell). The enforcement report says
    /// "made ahead" then; `RSANDBOX_NO_NETNS_POOL=1` turns it off.
    pub fn net_ns(mut self) -> Self {
        self.shared_net = None;
        self.with_ns(Namespace::Net)
    }
    /// Run the box in the prepared network namespace `ns` (made once with
    /// [`NetNs::new`]: only `lo`, up) instead of creating one: what a new
    /// network namespace costs per spawn, above all its asynchronous,
    /// kernel-wide serialised teardown, is paid once for every box that
    /// shares it. Boxes sharing it are cut off from the host's network but
    /// not from each other (same `lo`, ports, abstract Unix sockets but
    /// where Landlock scopes them, as `strict()` does on ABI 6), and a
    /// box root with a user namespace has no `CAP_NET_ADMIN` over it; see
    /// [`NetNs`]. Needs `CAP_SYS_ADMIN` (the launching thread enters the
    /// namespace around the clone). Replaces a [`net_ns`](Self::net_ns)
    /// set before (so `Sandbox::strict().net_ns_shared(&ns)` works);
    /// cannot be combined with joining a network namespace. Not saved in
    /// profiles (`serde` skips it: a handle is a live fd, not a
    /// description).
    pub fn net_ns_shared(mut self, ns: &NetNs) -> Self {
        self.namespaces.retain(|n| *n != Namespace::Net);
        self.shared_net = Some(ns.clone());
        self
    }

    /// The shared network namespace, if [`net_ns_shared`](Self::net_ns_shared)
    /// was set.
    pub fn shared_net_ns(&self) -> Option<&NetNs> {
        self.shared_net.as_ref()
    }

    /// A new cgroup namespace.
    pub fn cgroup_ns(self) -> Self {
        self.with_ns(Namespace::Cgroup)
    }
    /// A new time namespace (an error at spawn where the kernel lacks it).
    pub fn time_ns(self) -> Self {
        self.with_ns(Namespace::Time)
    }
    /// All namespaces this kernel offers except time: user, pid, mount, uts,
    /// ipc, net and cgroup.
    pub fn all_ns(self) -> Self {
        self.user_ns()
            .pid_ns()
            .mount_ns()
            .uts_ns()
            .ipc_ns()
            .net_ns()
            .cgroup_ns()
    }

    /// Join the existing namespace at `path` (e.g. `/proc/PID/ns/net` or a
    /// bind-mounted `/run/netns/NAME`) instead of creating one. Mount, PID,
    /// network, IPC, UTS and cgroup namespaces can be joined; the kind must
    /// not also be requested new. Joined first thing in the child (`setns`,
    /// the mount namespace last), so with a new user namespace the caller's
    /// privileges over the joined namespace are gone and the join fails
    /// with EPERM. A joined mount namespace without rootfs or mount steps
    /// is used as it is (joined as `/proc/PID/ns/mnt`, the program is looked
    /// up in `/proc/PID/root`); with them, the box's filesystem is built in
    /// it, as runc does for an OCI mount namespace given by path: its root
    /// becomes the box's, for every process in it. A joined PID namespace holds the payload, forked
    /// by a waiter that stays outside it (the [`Child`](crate::Child)'s pid); this is how
    /// an OCI runtime's `exec` enters a running container.
    pub fn join_ns(mut self, ns: Namespace, path: impl Into<PathBuf>) -> Self {
        self.join_ns.push((ns, path.into()));
        self
    }

    /// The uid the payload runs as inside the user namespace.
    pub fn uid(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }
    /// The gid the payload runs as inside the user namespace.
    pub fn gid(mut self, gid: u32) -> Self {
        self.gid = Some(gid);
        self
    }
    /// Supplementary groups of the payload (ids as seen in the box). Without
    /// it they are cleared (outside a user namespace) or left as the kernel
    /// makes them. In a user namespace this lets `setgroups` be used, which
    /// the kernel allows only to a parent privileged over the gid map, and
    /// each group must be mapped by the gid map (checked at validation; the
    /// default map holds the box's gid alone).
    pub fn groups(mut self, gids: impl IntoIterator<Item = u32>) -> Self {
        self.groups = gids.into_iter().collect();
        self
    }
    /// The payload's file mode creation mask (at most `0o777`).
    pub fn umask(mut self, mask: u32) -> Self {
        self.umask = Some(mask);
        self
    }
    /// The payload's `oom_score_adj` (-1000..=1000; lowering it below the
    /// caller's needs `CAP_SYS_RESOURCE`).
    pub fn oom_score_adj(mut self, adj: i32) -> Self {
        self.oom_score_adj = Some(adj);
        self
    }
    /// Add an explicit uid map line (replaces the default single mapping).
    /// Mapping ids other than your own needs `CAP_SETUID` in the parent
    /// namespace (i.e. root).
    pub fn uid_map(mut self, map: IdMap) -> Self {
        self.uid_map.push(map);
        self
    }
    /// Add an explicit gid map line (replaces the default single mapping).
    pub fn gid_map(mut self, map: IdMap) -> Self {
        self.gid_map.push(map);
        self
    }

    /// The hostname inside the box; needs [`uts_ns`](Self::uts_ns).
    pub fn hostname(mut self, name: impl Into<String>) -> Self {
        self.hostname = Some(name.into());
        self
    }

    /// Start from the caller's environment (read at spawn time) instead of a
    /// clean one holding only `PATH`.
    pub fn inherit_env(mut self) -> Self {
        self.inherit_env = true;
        self
    }
    /// Set an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), Some(value.into()));
        self
    }
    /// Remove an environment variable (from the inherited or default set).
    pub fn env_remove(mut self, key: impl Into<String>) -> Self {
        self.env.insert(key.into(), None);
        self
    }
    /// Forget every variable set so far and stop inheriting. The result is an
    /// empty environment (not even `PATH`) unless variables are set after.
    pub fn env_clear(mut self) -> Self {
        self.inherit_env = false;
        self.env.clear();
        self.env.insert("PATH".into(), None);
        self
    }

    /// Working directory inside the box (absolute; default `/`).
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Standard input of the payload.
    pub fn stdin(mut self, s: Stdio) -> Self {
        self.stdin = s;
        self
    }
    /// Standard output of the payload.
    pub fn stdout(mut self, s: Stdio) -> Self {
        self.stdout = s;
        self
    }
    /// Standard error of the payload.
    pub fn stderr(mut self, s: Stdio) -> Self {
        self.stderr = s;
        self
    }

    /// Pass the caller's fd `fd` into the box as fd number `target` (≥ 3).
    /// The caller keeps ownership; `fd` must stay open until `spawn` returns.
    /// Every other fd above 2 is closed in the box.
    pub fn pass_fd(mut self, fd: RawFd, target: RawFd) -> Self {
        self.fds.push((fd, target));
        self
    }

    /// Hold the payload, fully set up, just before exec until one byte can
    /// be read from the caller's fd `fd`; EOF instead makes it exit. The
    /// seccomp filter goes on before the wait when the box has rsandbox's
    /// init and the filter lets every `read`, `write`, `close` and
    /// `exit_group` through (the default profile does), else after it.
    /// [`spawn`](Self::spawn) returns once the payload waits, so a failure
    /// of the last steps (a late seccomp install, exec) is no longer
    /// reported by `spawn`: the payload exits with status 127. This is the
    /// create/start split of OCI
    /// runtimes (a FIFO opened read-write makes a gate any process can open).
    /// `fd` must stay open until `spawn` returns.
    pub fn start_gate(mut self, fd: RawFd) -> Self {
        self.start_gate = Some(fd);
        self
    }

    /// Make the payload's stdin (a terminal, e.g. a pty slave passed with
    /// [`Stdio::Fd`]) the controlling terminal of the box's new session
    /// (`TIOCSCTTY`), as a container engine's `--tty` needs.
    pub fn controlling_tty(mut self, on: bool) -> Self {
        self.controlling_tty = on;
        self
    }

    /// Kill the whole tree when the [`Child`](crate::Child) is dropped (default: on).
    pub fn kill_on_drop(mut self, on: bool) -> Self {
        self.kill_on_drop = on;
        self
    }
    /// Kill the box when the calling *process* dies (default: on). The
    /// signal is tied to a long-lived launcher thread, so a spawning thread
    /// that exits does not kill its sandboxes.
    pub fn die_with_parent(mut self, on: bool) -> Self {
        self.die_with_parent = on;
        self
    }

    /// Record how long each stage of every spawn takes (plan, cgroup,
    /// clone, id maps, mounts, seccomp, exec...), readable from
    /// [`Child::spawn_timing`](crate::Child::spawn_timing). Costs one shared page and a few clock reads
    /// per spawn. `RSANDBOX_TIMING=1` in the environment turns it on for
    /// every box.
    pub fn record_timing(mut self, on: bool) -> Self {
        self.record_timing = on;
        self
    }

    /// With a new PID namespace, run the payload itself as its PID 1
    /// instead of under the box's small init (bubblewrap's `--as-pid-1`):
    /// the payload then reaps orphans itself, receives only the signals
    /// it has handlers for (SIGKILL aside), and the namespace ends with
    /// it. Needs [`pid_ns`](Self::pid_ns) (not a joined PID namespace);
    /// published ports and socket activation, which the init serves, are
    /// refused with it.
    pub fn payload_as_pid1(mut self, on: bool) -> Self {
        self.payload_pid1 = on;
        self
    }

    /// The environment the payload will get, computed now.
    pub fn resolved_env(&self) -> Vec<(OsString, OsString)> {
        let mut out: BTreeMap<OsString, OsString> = BTreeMap::new();
        if self.inherit_env {
            out.extend(std::env::vars_os());
        } else {
            out.insert("PATH".into(), DEFAULT_PATH.into());
        }
        for (k, v) in &self.env {
            match v {
                Some(v) => {
                    out.insert(k.into(), v.into());
                }
                None => {
                    out.remove(OsString::from(k).as_os_str());
                }
            }
        }
        out.into_iter().collect()
    }

    /// The working directory inside the box.
    pub fn working_dir(&self) -> &Path {
        self.cwd.as_deref().unwrap_or(Path::new("/"))
    }

    /// Best effort for every layer that may be unenforceable here
    /// (capabilities, securebits, Landlock, cgroup limits): apply what this
    /// kernel and these privileges allow instead of failing, and say what is
    /// missing: in the enforcement report for the hardening layers, in
    /// [`CgroupStats::unapplied`](crate::cgroup::CgroupStats::unapplied) for
    /// limits. Where the namespaces are refused (no user namespaces for
    /// this caller, or a seccomp filter of an enclosing container), the box
    /// is spawned without them and the report names each one lost (see
    /// [`crate::degrade`]); strict, that is an [`Error::Privilege`] giving
    /// the reason and the fix. Default: off (strict).
    ///
    /// [`Error::Privilege`]: crate::Error::Privilege
    pub fn best_effort(mut self, on: bool) -> Self {
        self.limits.best_effort = on;
        self.caps.best_effort = on;
        self.landlock.best_effort = on;
        self
    }

    /// Whether the box builds its filesystem: in its own mount namespace, or in
    /// a joined one when a rootfs or mount steps are given (an OCI runtime's
    /// `linux.namespaces` mount entry with a `path`, as runc does; the joined
    /// namespace's root becomes the box's).
    pub(crate) fn builds_fs(&self) -> bool {
        self.has_ns(Namespace::Mount)
            || (self.fs != FsConfig::default()
                && self.join_ns.iter().any(|(n, _)| *n == Namespace::Mount))
    }

    /// The directory the box's `/` comes from, for looking up the program before
    /// spawn: `None` means the host's own root.
    pub(crate) fn program_root(&self) -> Option<PathBuf> {
        if self.builds_fs() {
            return self.fs.rootfs.clone();
        }
        // A joined `/proc/PID/ns/mnt`: that process's root.
        if let Some((_, p)) = self.join_ns.iter().find(|(n, _)| *n == Namespace::Mount) {
            return p
                .ends_with("ns/mnt")
                .then(|| p.parent().and_then(Path::parent).map(|d| d.join("root")))
                .flatten();
        }
        if !self.has_ns(Namespace::Mount) {
            return None;
        }
        self.fs.rootfs.clone()
    }
}
