//! Step 1 of the launch pipeline: validate the description and turn it into
//! a [`Plan`] holding every byte the child will need, so the child can run on
//! raw syscalls alone.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::caps::CapsPlan;
use crate::command::Command;
use crate::error::{Error, Result};
use crate::fs::MountPlan;
use crate::idmap::{self, IdMap};
use crate::landlock::LandlockPlan;
use crate::limits::RlimitPlan;
use crate::net::{ListenPidSlot, PublishPlan};
use crate::ns::Namespace;
use crate::sandbox::Sandbox;
use crate::seccomp::SeccompProgram;
use crate::spawn::warmth;
use crate::stdio::Stdio;
use crate::sys::caps::CAP_SYS_ADMIN;
use crate::sys::fd::{dup_cloexec, fd_at_least};

/// Ids the child switches to before exec.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Identity {
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    /// Set the supplementary groups to the plan's `groups` (empty: drop
    /// them).
    pub set_groups: bool,
}

/// What the child execs: program, arguments, environment, working
/// directory, as C strings made in the parent.
pub(crate) struct Exec {
    pub program: CString,
    /// Keeps the argv strings alive for `argv_ptrs`.
    _argv: Vec<CString>,
    pub argv_ptrs: Vec<*const libc::c_char>,
    /// Keeps the env strings alive for `envp_ptrs`.
    _envp: Vec<CString>,
    pub envp_ptrs: Vec<*const libc::c_char>,
    /// `LISTEN_PID=` slot (socket activation), filled by the child.
    pub listen_pid: Option<ListenPidSlot>,
    pub cwd: CString,
    /// The resolved program path, for messages.
    pub program_path: PathBuf,
    /// The working directory, for messages.
    pub cwd_path: PathBuf,
}

/// The box's ids: the maps of its user namespace, the id it becomes first
/// and the identity it switches to before exec.
pub(crate) struct Ids {
    pub identity: Option<Identity>,
    /// In a new user namespace whose maps leave the caller's uid (gid)
    /// unmapped: the id to become first thing, 0 when mapped (as runc
    /// does), else the payload's own id when mapped (the unprivileged
    /// identity, see `crate::identity`), so the setup (files made in the
    /// box) has mapped ids.
    pub ns_root_uid: Option<u32>,
    pub ns_root_gid: Option<u32>,
    /// Supplementary groups set with the identity.
    pub groups: Vec<libc::gid_t>,
    /// uid_map / gid_map contents (written by the child when
    /// `child_maps`, by the parent otherwise).
    pub uid_map: String,
    pub gid_map: String,
    /// The maps map only the caller's own uid and gid: the child writes
    /// them itself (the kernel allows a process that one line for its own
    /// ids), so it need not wait for the parent before setting up.
    pub child_maps: bool,
    /// The box's user namespace maps the caller's uid 0 (host root, for a
    /// caller in the initial namespace).
    pub maps_root: bool,
    /// The payload is uid 0 in its user namespace (it keeps the
    /// capabilities the description leaves it across its exec).
    pub payload_is_root: bool,
    /// The one uid and gid mapped, when each map is a single id and no
    /// supplementary group is set (the nested namespace of a locked view
    /// can map them again: see `MountPlan::lock`).
    pub single_ids: Option<(u32, u32)>,
}

/// The box's file descriptors: standard streams, passed fds, the gate, and
/// the numbering rule that keeps the child's own fds out of their way.
pub(crate) struct Fds {
    /// Child-side sources for fds 0, 1, 2 (`None`: inherit).
    pub stdio: [Option<OwnedFd>; 3],
    /// Parent-side ends of pipes for fds 0, 1, 2.
    pub parent_stdio: [Option<OwnedFd>; 3],
    /// stderr goes wherever stdout goes (`2>&1`).
    pub stderr_to_stdout: bool,
    /// Passed fds: (duplicated source, target number), sorted by target.
    pub passed: Vec<(OwnedFd, RawFd)>,
    /// Make fd 0 the controlling terminal (after the fds are wired).
    pub controlling_tty: bool,
    /// The start gate (see `Sandbox::start_gate`), above every passed target.
    pub gate: Option<OwnedFd>,
    /// The gate carries the command (`Sandbox::command_gate`).
    pub command_gate: bool,
    /// The lowest fd number the child may hold across `wire_fds`: above
    /// every passed target and above 2, so the dup2 calls that put the
    /// standard streams and passed fds in place cannot land on an fd the
    /// child still needs (the launch pipes, the Landlock ruleset).
    pub min_fd: RawFd,
    /// Every fd the child keeps from its first step on, sorted: the rest
    /// (the caller's) is closed before setup. Set by `spawn`.
    pub keep_fds: Vec<RawFd>,
    /// Duplicates made by [`Plan::fd_above_targets`], held until the spawn
    /// is done.
    held: Vec<OwnedFd>,
}

/// The box's namespaces: made at clone, joined by fd, shared or made
/// ahead, and the cgroup namespace made after the v1 joins.
pub(crate) struct Namespaces {
    pub clone_flags: u64,
    pub user_ns: bool,
    pub pid_ns: bool,
    /// The payload is the PID namespace's PID 1 (no init).
    pub no_init: bool,
    /// Bring `lo` up (a new network namespace the box made itself).
    pub net_ns: bool,
    pub hostname: Option<CString>,
    /// Namespaces to join: (open fd, clone flag).
    pub joins: Vec<(OwnedFd, libc::c_int)>,
    /// The shared network namespace the launching thread enters around
    /// the clone (see [`crate::NetNs`]).
    pub shared_net: Option<crate::NetNs>,
    /// A fresh network namespace made ahead by the pool (see
    /// `crate::netpool`): the launching thread enters it for the clone,
    /// which then goes without `CLONE_NEWNET`.
    pub spare_net: Option<OwnedFd>,
    /// The spare namespace's detached sysfs, until `Plan::new` hands it to
    /// the mount plan (the box's default `/sys`).
    pub spare_sysfs: Option<OwnedFd>,
    /// Create the cgroup namespace with `unshare` after joining the v1
    /// hierarchies instead of at clone, so that its root is the box's
    /// cgroup in every hierarchy (`CLONE_NEWCGROUP` is then left out of
    /// `clone_flags`).
    pub unshare_cgroup_ns: bool,
}

/// Everything the child needs, prepared in the parent, grouped by concern:
/// what it execs, its ids, its fds, its namespaces, then the layers each
/// engine prepared and the launch's own bookkeeping.
pub(crate) struct Plan {
    pub exec: Exec,
    pub ids: Ids,
    pub fds: Fds,
    pub ns: Namespaces,
    pub die_with_parent: bool,
    /// umask set before exec.
    pub umask: Option<libc::mode_t>,
    /// `oom_score_adj` written (as text) into `/proc/self/oom_score_adj`
    /// before the mounts.
    pub oom_score_adj: Option<CString>,
    /// With a PID namespace: how the child execs the box's init (set by
    /// `spawn` once every fd is known; see `spawn/init.rs`).
    pub init: Option<super::init::InitExec>,
    pub mounts: Option<MountPlan>,
    pub rlimits: Option<RlimitPlan>,
    pub caps: Option<CapsPlan>,
    pub landlock: Option<LandlockPlan>,
    pub seccomp: Option<SeccompProgram>,
    /// Published ports: host listeners and the connector's socket pair.
    pub publish: Option<PublishPlan>,
    /// Egress: the box-side sockets and the notification filter (set by
    /// `spawn` after the plan; see `crate::egress`).
    pub egress: Option<crate::egress::EgressChild>,
    /// Per-stage timestamps, when timing is on.
    pub timing: Option<super::timing::Stamps>,
    /// The cgroup v1 hierarchies the child joins itself, first thing
    /// (see `cgroup/join.rs`); set by `spawn` once the cgroup exists.
    pub cgroup_joins: Vec<crate::cgroup::SelfJoin>,
    /// The parent still writes the child's pid into a cgroup after the
    /// clone (beyond what `CLONE_INTO_CGROUP` does): the child waits for
    /// the go byte before it forks or execs.
    pub parent_attach: bool,
    /// This process's pid, recorded before the clone: a child that finds
    /// another parent was orphaned before its death signal was armed.
    pub parent_pid: libc::pid_t,
}

impl Plan {
    /// Validate and prepare.
    /// `warm`: the process spawned before, so the machinery shared by many
    /// spawns (template, network namespace pool) is worth starting (see
    /// `spawn/warmth.rs`).
    pub(crate) fn new(sb: &Sandbox, cmd: &Command, warm: bool) -> Result<Plan> {
        super::validate::validate(sb, cmd)?;
        let fds = Fds::prepare(sb)?;
        let min_fd = fds.min_fd;
        let exec = Exec::prepare(sb, cmd)?;
        let mut ns = Namespaces::prepare(sb, warm, min_fd)?;
        let ids = Ids::prepare(sb);
        let mut mounts = MountPlan::prepare(sb, warmth::shared_view(sb, warm))?;
        if let Some(m) = mounts.as_mut() {
            lock_if_undoable(sb, &ids, m)?;
            if let Some(sysfs) = ns.spare_sysfs.take() {
                m.attach_sysfs(sysfs);
            }
        }
        Ok(Plan {
            exec,
            ids,
            ns,
            fds,
            die_with_parent: sb.die_with_parent,
            // Ranges checked by validate_sandbox.
            umask: sb.umask,
            oom_score_adj: match sb.oom_score_adj {
                Some(a) => Some(cstring("oom_score_adj", OsStr::new(&a.to_string()))?),
                None => None,
            },
            init: None,
            mounts,
            rlimits: RlimitPlan::prepare(sb)?,
            caps: CapsPlan::prepare(sb)?,
            landlock: match LandlockPlan::prepare(sb)? {
                Some(l) => Some(l.with_fd_at_least(min_fd)?),
                None => None,
            },
            seccomp: SeccompProgram::prepare(sb)?,
            publish: PublishPlan::prepare(sb, min_fd)?,
            egress: None,
            timing: None,
            cgroup_joins: Vec::new(),
            parent_attach: false,
            // SAFETY: trivial getter.
            parent_pid: unsafe { libc::getpid() },
        })
    }
}

impl Exec {
    /// The program found in the box's view, its argv and environment as C
    /// strings (with the socket-activation variables), the working
    /// directory.
    fn prepare(sb: &Sandbox, cmd: &Command) -> Result<Exec> {
        let mut env = sb.resolved_env();
        if !sb.listen_fds.is_empty() {
            env.retain(|(k, _)| !k.as_encoded_bytes().starts_with(b"LISTEN_"));
            env.push(("LISTEN_FDS".into(), sb.listen_fds.len().to_string().into()));
        }
        let program_path = match resolve_program(sb, cmd, &env, None) {
            Ok(p) => p,
            // With a start gate (an OCI runtime's `create`) an absolute
            // program is looked for at exec, as runc 1.1 does: a missing
            // one makes the payload fail after `start`, saying so on its
            // stderr.
            Err(Error::ProgramNotFound { .. })
                if sb.start_gate.is_some() && cmd.program.is_absolute() =>
            {
                cmd.program.clone()
            }
            Err(e) => return Err(e),
        };
        let argv = argv(cmd)?;
        let envp = envp(&env)?;
        let mut envp_ptrs = null_terminated(&envp);
        // LISTEN_PID: a slot the child fills with its own pid before exec.
        let listen_pid = (!sb.listen_fds.is_empty()).then(ListenPidSlot::new);
        if let Some(slot) = &listen_pid {
            envp_ptrs.insert(envp_ptrs.len() - 1, slot.as_ptr());
        }
        let cwd_path = sb.working_dir().to_path_buf();
        Ok(Exec {
            program: cstring("program", program_path.as_os_str())?,
            argv_ptrs: null_terminated(&argv),
            _argv: argv,
            _envp: envp,
            envp_ptrs,
            listen_pid,
            cwd: cstring("cwd", cwd_path.as_os_str())?,
            program_path,
            cwd_path,
        })
    }
}

/// `argv[0]` (the program as given, or the command's `arg0`) and the
/// arguments, as C strings.
fn argv(cmd: &Command) -> Result<Vec<CString>> {
    let arg0 = cmd
        .arg0
        .clone()
        .unwrap_or_else(|| cmd.program.clone().into());
    let mut argv = vec![cstring("argv[0]", &arg0)?];
    for (i, a) in cmd.args.iter().enumerate() {
        argv.push(cstring(&format!("argument {}", i + 1), a)?);
    }
    Ok(argv)
}

/// `NAME=value` C strings of the environment.
fn envp(env: &[(OsString, OsString)]) -> Result<Vec<CString>> {
    let mut envp = Vec::with_capacity(env.len());
    for (k, v) in env {
        let mut kv = OsString::from(k);
        kv.push("=");
        kv.push(v);
        envp.push(cstring(&format!("env {}", k.to_string_lossy()), &kv)?);
    }
    Ok(envp)
}

impl Ids {
    /// The maps and identity: with a user namespace, the caller's ids
    /// mapped to the box's (or the description's explicit maps); without
    /// one, a plain switch to the asked uid, gid and groups.
    fn prepare(sb: &Sandbox) -> Ids {
        let user_ns = sb.has_ns(Namespace::User);
        // SAFETY: trivial getters.
        let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let (mut maps_root, mut payload_is_root, mut single_ids) = (false, false, None);
        let (identity, uid_map, gid_map, child_maps) = if user_ns {
            let uid = sb
                .uid
                .unwrap_or(if sb.uid_map.is_empty() { euid } else { 0 });
            let gid = sb
                .gid
                .unwrap_or(if sb.gid_map.is_empty() { egid } else { 0 });
            let umap = maps_or_own(&sb.uid_map, uid, euid);
            let gmap = maps_or_own(&sb.gid_map, gid, egid);
            let id = Identity {
                uid,
                gid,
                set_groups: !sb.groups.is_empty(),
            };
            // Supplementary groups need setgroups left allowed, which only
            // a parent privileged over the gid map can do: then the parent
            // writes the maps.
            let own = idmap::is_self_only(&umap, euid)
                && idmap::is_self_only(&gmap, egid)
                && sb.groups.is_empty();
            maps_root = umap.iter().any(|m| m.outside == 0);
            payload_is_root = uid == 0;
            if let ([u], [g], true) = (&umap[..], &gmap[..], sb.groups.is_empty()) {
                single_ids = (u.count == 1 && g.count == 1).then_some((u.inside, g.inside));
            }
            (Some(id), idmap::render(&umap), idmap::render(&gmap), own)
        } else if sb.uid.is_some() || sb.gid.is_some() || !sb.groups.is_empty() {
            let id = Identity {
                uid: sb.uid.unwrap_or(euid),
                gid: sb.gid.unwrap_or(egid),
                set_groups: true,
            };
            (Some(id), String::new(), String::new(), false)
        } else {
            (None, String::new(), String::new(), false)
        };
        Ids {
            identity,
            ns_root_uid: idmap::setup_id(user_ns, &sb.uid_map, euid, identity.map(|i| i.uid)),
            ns_root_gid: idmap::setup_id(user_ns, &sb.gid_map, egid, identity.map(|i| i.gid)),
            groups: sb.groups.clone(),
            uid_map,
            gid_map,
            child_maps,
            maps_root,
            payload_is_root,
            single_ids,
        }
    }
}

/// The explicit map lines, or one line mapping `inside` to the caller's
/// own id `own`.
fn maps_or_own(maps: &[IdMap], inside: u32, own: u32) -> Vec<IdMap> {
    if maps.is_empty() {
        vec![IdMap::new(inside, own, 1)]
    } else {
        maps.to_vec()
    }
}

impl Fds {
    /// The standard streams, passed fds and the gate, numbered above every
    /// passed target.
    fn prepare(sb: &Sandbox) -> Result<Fds> {
        let (stdio, parent_stdio, min_fd) = prepare_stdio(sb)?;
        Ok(Fds {
            stdio,
            parent_stdio,
            stderr_to_stdout: sb.stderr == Stdio::Stdout,
            passed: prepare_passed(sb, min_fd)?,
            controlling_tty: sb.controlling_tty,
            gate: match sb.start_gate {
                Some(fd) => Some(dup_cloexec(fd, min_fd)?),
                None => None,
            },
            command_gate: sb.command_gate && sb.start_gate.is_some(),
            min_fd,
            keep_fds: Vec::new(),
            held: Vec::new(),
        })
    }
}

impl Namespaces {
    /// The clone flags, the namespaces to join (opened now), a network
    /// namespace from the pool when the process is warm.
    fn prepare(sb: &Sandbox, warm: bool, min_fd: RawFd) -> Result<Namespaces> {
        // A joined PID namespace holds the payload only once forked: the
        // init's fork does that, and the init stays as its waiter.
        let pid_ns =
            sb.has_ns(Namespace::Pid) || sb.join_ns.iter().any(|(n, _)| *n == Namespace::Pid);
        let (spare_net, spare_sysfs) = take_spare(sb, warm);
        // Numbered above the passed fds' targets: the child attaches it
        // after arranging those.
        let spare_sysfs = match spare_sysfs {
            Some(f) => Some(dup_cloexec(f.as_raw_fd(), min_fd)?),
            None => None,
        };
        let mut clone_flags = sb.namespaces.iter().fold(0, |f, ns| f | ns.clone_flag());
        if spare_net.is_some() {
            clone_flags &= !(libc::CLONE_NEWNET as u64);
        }
        Ok(Namespaces {
            clone_flags,
            user_ns: sb.has_ns(Namespace::User),
            pid_ns,
            no_init: sb.payload_pid1,
            // A spare namespace has `lo` up already (and the box could not
            // set it: the namespace is not its user namespace's).
            net_ns: sb.has_ns(Namespace::Net) && spare_net.is_none(),
            hostname: match &sb.hostname {
                Some(h) => Some(cstring("hostname", OsStr::new(h))?),
                None => None,
            },
            joins: open_joins(sb, min_fd)?,
            shared_net: sb.shared_net.clone(),
            spare_net,
            spare_sysfs,
            unshare_cgroup_ns: false,
        })
    }
}

/// Lock the view of a box that could undo it and then act as host root:
/// one whose user namespace maps the caller's uid 0 and whose payload may
/// hold `CAP_SYS_ADMIN` there, being uid 0 inside or keeping it by name
/// (see `MountPlan::lock`). A payload of another uid that keeps no
/// capability by name has none after its exec (and every mount of a view
/// is nosuid).
/// The nested namespace that locks a view can map only single ids; other
/// maps are refused, with what to change.
fn lock_if_undoable(sb: &Sandbox, ids: &Ids, m: &mut MountPlan) -> Result<()> {
    let may_undo =
        (ids.payload_is_root && sb.caps.may_hold(CAP_SYS_ADMIN)) || sb.caps.names(CAP_SYS_ADMIN);
    if !ids.maps_root || !may_undo {
        return Ok(());
    }
    match ids.single_ids {
        Some((uid, gid)) => {
            m.lock(uid, gid);
            Ok(())
        }
        None => Err(Error::InvalidConfig {
            field: "uid_map".into(),
            reason: "these id maps map host root (uid 0) and the box may hold CAP_SYS_ADMIN, \
                     so its payload could unmount its /proc masks and read-only binds and \
                     write as host root; rsandbox locks those mounts only for boxes that \
                     map one uid and one gid without supplementary groups: drop \
                     CAP_SYS_ADMIN (drop_caps / keep_caps without it), map root to an \
                     unprivileged host id, or map a single id"
                .into(),
        }),
    }
}

/// A network namespace made ahead (crate::netpool) for a box that may take
/// one, with the sysfs made inside it when the box's default view mounts
/// one (`crate::fs::sysfs`; a spare without it is not used).
fn take_spare(sb: &Sandbox, warm: bool) -> (Option<OwnedFd>, Option<OwnedFd>) {
    if !warm || !crate::netpool::eligible(sb) {
        return (None, None);
    }
    let wants_sysfs = crate::fs::sysfs::default_view_mounts(sb);
    match crate::netpool::take() {
        Some(s) if wants_sysfs && s.sysfs.is_none() => (None, None),
        Some(s) => (Some(s.net), s.sysfs.filter(|_| wants_sysfs)),
        None => (None, None),
    }
}

/// The namespaces to join, opened, as (fd, clone flag); the mount namespace
/// last: the others are opened by fd, but the process's root and cwd change
/// with it.
fn open_joins(sb: &Sandbox, min_fd: RawFd) -> Result<Vec<(OwnedFd, libc::c_int)>> {
    let mut joins = Vec::with_capacity(sb.join_ns.len());
    let mut order: Vec<&(Namespace, PathBuf)> = sb.join_ns.iter().collect();
    order.sort_by_key(|(ns, _)| *ns == Namespace::Mount);
    for (ns, path) in order {
        let f = std::fs::File::open(path).map_err(|e| {
            Error::io(
                format!("open {} namespace", ns.name()),
                Some(path.clone()),
                e,
            )
        })?;
        let fd = dup_cloexec(f.as_raw_fd(), min_fd)?;
        joins.push((fd, ns.clone_flag() as libc::c_int));
    }
    Ok(joins)
}

impl Plan {
    /// Whether the child may share the caller's memory until its exec
    /// (`sys/vfork.rs`): it has a user namespace (its ids are mapped by
    /// itself, or by the caller's thread while the cloning thread is
    /// suspended: `spawn/mod.rs`), no cgroup the parent attaches and no
    /// start gate read before the exec (nothing else waits for the
    /// suspended parent; with the box's init the gate is read after the
    /// init's exec, by the payload it forks: a pooled box), joins no
    /// namespace (the kernel refuses a user namespace to a process sharing
    /// its memory; any other would put it beside processes it did not
    /// make), and makes no egress sockets.
    pub(crate) fn may_share_memory(&self) -> bool {
        // A locked view needs `unshare(CLONE_NEWUSER)`, which the kernel
        // refuses to a process sharing its memory.
        let locks = self.mounts.as_ref().is_some_and(|m| m.lock.is_some());
        self.ns.user_ns
            && !locks
            && !self.parent_attach
            && self.ns.joins.is_empty()
            && (self.fds.gate.is_none() || self.execs_init())
            && self.egress.is_none()
    }

    /// Whether the child execs the box's init (a PID namespace, not
    /// `payload_as_pid1`), which forks the payload (`spawn/init.rs`). Known
    /// from the plan's start; `init` is filled in later.
    pub(crate) fn execs_init(&self) -> bool {
        self.ns.pid_ns && !self.ns.no_init
    }

    /// Keep `fd` until the spawn is done, numbered above every passed
    /// target (see [`fd_above_targets`](Self::fd_above_targets)).
    pub(crate) fn hold_above_targets(&mut self, fd: OwnedFd) -> Result<RawFd> {
        let fd = fd_at_least(fd, self.fds.min_fd)?;
        let raw = fd.as_raw_fd();
        self.fds.held.push(fd);
        Ok(raw)
    }

    /// `fd` itself when its number is above every passed target, else a
    /// close-on-exec duplicate that is (held by the plan): an fd the child
    /// still uses after its dup2 calls must not be one of their targets.
    pub(crate) fn fd_above_targets(&mut self, fd: RawFd) -> Result<RawFd> {
        if fd >= self.fds.min_fd {
            return Ok(fd);
        }
        let d = dup_cloexec(fd, self.fds.min_fd)?;
        let raw = d.as_raw_fd();
        self.fds.held.push(d);
        Ok(raw)
    }
}

fn null_terminated(v: &[CString]) -> Vec<*const libc::c_char> {
    v.iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

fn cstring(field: &str, s: &OsStr) -> Result<CString> {
    CString::new(s.as_bytes())
        .map_err(|_| Error::invalid(field, format!("contains a NUL byte: {s:?}")))
}

/// [`Sandbox::find_program`]: the lookup `Plan::new` makes, on the
/// environment the payload would get.
pub(crate) fn find_program(sb: &Sandbox, cmd: &Command) -> Result<PathBuf> {
    resolve_program(sb, cmd, &sb.resolved_env(), None)
}

/// [`find_program`] with the box's made paths computed ahead
/// ([`crate::fs::created_paths`]): the pool looks up every command of one
/// description.
pub(crate) fn find_program_in(sb: &Sandbox, cmd: &Command, created: &[PathBuf]) -> Result<PathBuf> {
    resolve_program(sb, cmd, &sb.resolved_env(), Some(created))
}

/// Find the program as the box will see it: a path is taken as is (relative
/// ones against the box's cwd); a bare name is looked up in the box's `PATH`.
/// `created`: the box's made paths when computed ahead, else they are
/// computed here if needed.
fn resolve_program(
    sb: &Sandbox,
    cmd: &Command,
    env: &[(OsString, OsString)],
    created: Option<&[PathBuf]>,
) -> Result<PathBuf> {
    let prog = &cmd.program;
    let not_found = |source| Error::ProgramNotFound {
        program: prog.clone(),
        source,
    };
    if prog.as_os_str().as_bytes().contains(&b'/') {
        let inside = if prog.is_absolute() {
            prog.clone()
        } else {
            sb.working_dir().join(prog)
        };
        let made = match created {
            Some(c) => crate::fs::is_under_any(c, &inside),
            None => crate::fs::creates_path(sb, &inside),
        };
        if made {
            return Ok(inside);
        }
        match crate::fs::check_executable_in_box(sb, &inside) {
            // A magic link of the box's /proc (`/proc/self/exe`) cannot be
            // followed from here (it names this process's files, not the
            // payload's): the exec in the box resolves it, and reports
            // a failure as the exec stage's error.
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) && inside.starts_with("/proc") => {}
            r => r.map_err(not_found)?,
        }
        return Ok(inside);
    }
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut last = std::io::Error::from_raw_os_error(libc::ENOENT);
    for dir in std::env::split_paths(&path) {
        if !dir.is_absolute() {
            continue;
        }
        let inside = dir.join(prog);
        match crate::fs::check_executable_in_box(sb, &inside) {
            Ok(()) => return Ok(inside),
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => last = e,
            Err(_) => {}
        }
    }
    Err(not_found(last))
}

/// Open `/dev/null` or a file for one of the standard streams.
fn open_for(path: &Path, fd: usize, append: bool) -> Result<OwnedFd> {
    let mut o = std::fs::OpenOptions::new();
    if fd == 0 {
        o.read(true);
    } else if append {
        o.append(true).create(true);
    } else {
        o.write(true).create(true).truncate(true);
    }
    let f = o.open(path).map_err(|e| {
        Error::io(
            format!("open {}", ["stdin", "stdout", "stderr"][fd]),
            Some(path.into()),
            e,
        )
    })?;
    Ok(f.into())
}

type StdioFds = ([Option<OwnedFd>; 3], [Option<OwnedFd>; 3], RawFd);

/// Prepare the three standard streams. Returns the child-side sources, the
/// parent-side pipe ends, and the lowest fd that passed fds may be moved to.
fn prepare_stdio(sb: &Sandbox) -> Result<StdioFds> {
    let mut child: [Option<OwnedFd>; 3] = [None, None, None];
    let mut parent: [Option<OwnedFd>; 3] = [None, None, None];
    for (i, s) in [&sb.stdin, &sb.stdout, &sb.stderr].into_iter().enumerate() {
        match s {
            // Wired in the child, after stdout: dup2(1, 2).
            Stdio::Inherit | Stdio::Stdout => {}
            Stdio::Null => child[i] = Some(open_for(Path::new("/dev/null"), i, false)?),
            Stdio::File(p) => child[i] = Some(open_for(p, i, false)?),
            Stdio::Append(p) => child[i] = Some(open_for(p, i, true)?),
            Stdio::Fd(fd) => child[i] = Some(dup_cloexec(*fd, 3)?),
            Stdio::Pipe => {
                let (r, w) = std::io::pipe().map_err(|e| Error::io("pipe", None, e))?;
                let (r, w): (OwnedFd, OwnedFd) = (r.into(), w.into());
                if i == 0 {
                    child[i] = Some(r);
                    parent[i] = Some(w);
                } else {
                    child[i] = Some(w);
                    parent[i] = Some(r);
                }
            }
        }
    }
    let min_fd = sb
        .fds
        .iter()
        .copied()
        .chain(crate::net::listen_targets(sb))
        .map(|(_, t)| t + 1)
        .max()
        .unwrap_or(3);
    // Move the child-side sources above every passed target so the child's
    // dup2 calls cannot clobber one another.
    for slot in child.iter_mut() {
        if let Some(fd) = slot.take() {
            *slot = Some(dup_cloexec(fd.as_raw_fd(), min_fd)?);
        }
    }
    Ok((child, parent, min_fd))
}

fn prepare_passed(sb: &Sandbox, min_fd: RawFd) -> Result<Vec<(OwnedFd, RawFd)>> {
    let mut out = Vec::with_capacity(sb.fds.len());
    for (src, dst) in sb.fds.iter().copied().chain(crate::net::listen_targets(sb)) {
        out.push((dup_cloexec(src, min_fd)?, dst));
    }
    out.sort_by_key(|&(_, t)| t);
    Ok(out)
}
