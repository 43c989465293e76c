//! The launch pipeline, parent side: plan, clone, write id maps (when the
//! child cannot map its own), attach the cgroups the child cannot join
//! itself, release the child (when it waits for that), and read its error
//! pipe.

pub mod degrade;
pub(crate) mod init;
mod launcher;
pub(crate) mod plan;
pub(crate) mod report;
mod routine;
pub(crate) mod timing;
mod validate;
mod warmth;

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::Instant;

use crate::cgroup::Cgroup;
use crate::child::{Child, ChildParts};
use crate::command::Command;
use crate::error::{ChildError, Error, Result, Stage};
use crate::report::EnforcementReport;
use crate::sandbox::Sandbox;
use crate::sys;

pub(crate) use plan::{find_program, find_program_in, Plan};
use routine::ChildFds;
use timing::Mark;

/// Validate a description on its own (no command).
pub(crate) fn validate(sb: &Sandbox) -> Result<()> {
    let sb = &*crate::identity::resolve(sb);
    validate::validate_sandbox(sb)?;
    // Preparing the per-concern plans validates them too; they hold no
    // process and are dropped at once.
    crate::limits::RlimitPlan::prepare(sb)?;
    crate::caps::CapsPlan::prepare(sb)?;
    crate::seccomp::SeccompProgram::prepare(sb)?;
    crate::landlock::LandlockPlan::prepare(sb)?;
    Ok(())
}

/// Spawn `cmd` in the box described by `sb`. Where the namespaces are
/// refused, a strict box fails with the reason and the fix, and a
/// best-effort one is spawned again with less (see [`crate::degrade`]).
pub(crate) fn spawn(sb: &Sandbox, cmd: &Command) -> Result<Child> {
    // A box of an image copy runs in its own copy (see crate::image).
    let ids = crate::identity::resolve(sb);
    let maps = [&ids.uid_map[..], &ids.gid_map[..]];
    let (copied, mut copy) = match crate::image::PrivateCopy::for_spawn(sb, maps)? {
        Some((boxed, c)) => (Some(boxed), Some(c)),
        None => (None, None),
    };
    let sb = copied.as_ref().unwrap_or(sb);
    let mut current = std::borrow::Cow::Borrowed(sb);
    let mut lost = Vec::new();
    loop {
        let errno = match spawn_once(&current, cmd, &lost) {
            Ok(mut child) => {
                if let Some(c) = copy.take() {
                    child.hold_image_copy(c);
                }
                return Ok(child);
            }
            Err(Failed::Other(e)) => return Err(e),
            Err(Failed::Refused(errno)) => errno,
        };
        if !degrade::wanted(sb) {
            return Err(degrade::refused_error(&current, errno));
        }
        let Some((smaller, more)) = degrade::fallback(&current, errno) else {
            return Err(degrade::refused_error(&current, errno));
        };
        // Entries of an earlier step stay unless this one restates them.
        for entry in more {
            lost.retain(|l: &crate::report::LayerReport| l.layer != entry.layer);
            lost.push(entry);
        }
        current = std::borrow::Cow::Owned(smaller);
    }
}

/// Why one spawn attempt failed.
enum Failed {
    /// The clone was refused the namespaces asked for (errno).
    Refused(i32),
    /// Anything else.
    Other(Error),
}

impl From<Error> for Failed {
    fn from(e: Error) -> Failed {
        Failed::Other(e)
    }
}

/// Map a clone error: a refusal of the namespaces, or the error to report.
fn clone_failed(sb: &Sandbox, e: io::Error) -> Failed {
    if degrade::is_refusal(sb, &e) {
        Failed::Refused(e.raw_os_error().unwrap_or(libc::EPERM))
    } else {
        Failed::Other(clone_error(sb, e))
    }
}

/// One attempt at spawning `cmd` in `sb`; `lost` are the report entries of
/// the protections an earlier, refused attempt had to give up. The steps,
/// in order: plan, cgroup, report, pipes, clone, release, wait for the
/// exec, start the box's services.
fn spawn_once(
    sb: &Sandbox,
    cmd: &Command,
    lost: &[crate::report::LayerReport],
) -> std::result::Result<Child, Failed> {
    let started = Instant::now();
    let stamps = timing::Stamps::wanted(sb.record_timing);
    // Egress (crate::egress): the box gets its resolv.conf, CA bundle and
    // variables through the sandbox the plan is made from.
    let mut egress = crate::egress::EgressPlan::prepare(sb)?;
    let boxed;
    let sb = match &egress {
        Some(e) => {
            boxed = e.sandbox().clone();
            &boxed
        }
        None => sb,
    };
    // The identity becomes explicit id maps here (see crate::identity).
    let resolved = crate::identity::resolve(sb);
    let sb = &*resolved;
    let mut plan = make_plan(sb, cmd, egress.as_mut(), stamps)?;
    let cgroup = make_cgroup(sb, &mut plan)?;
    let mut pipes = Pipes::new(&plan)?;
    prepare_init(&mut plan, &pipes.child_fds())?;
    plan.fds.keep_fds = keep_fds(&plan, &pipes.child_fds());
    let report = launch_report(sb, &plan, cgroup.as_ref(), lost);
    let into = cgroup.as_ref().and_then(|c| {
        c.clone_into_fd().map(|fd| launcher::IntoCgroup {
            fd,
            helper: c.clone_into_helper(),
        })
    });
    let Cloned {
        mut child,
        released_early,
        into_cgroup,
    } = clone_box(sb, &mut plan, &mut pipes, into, cgroup, report, started)?;
    let late = routine::release_late(&plan, into.is_some(), into_cgroup);
    let released = released_early.and_then(|done| match done {
        true => Ok(()),
        false => release(&plan, &child, into_cgroup, late, &pipes.sync_w),
    });
    if let Err(e) = released {
        // The child sets up while we release it, so it may have failed
        // (and exited, making the cgroup attach fail) first: its own
        // error is the one that says what went wrong.
        child.abort();
        return Err(match read_child_error(&pipes.err_r) {
            Ok(Some(ce)) => child_failed(sb, &plan, ce),
            _ => e.into(),
        });
    }
    mark(&plan.timing, Mark::Released);
    wait_exec(sb, &plan, &mut child, pipes)?;
    start_services(&mut plan, egress, &mut child)?;
    Ok(child)
}

/// The launch plan, with the child's end of the egress pair when the box
/// has an allow-list.
fn make_plan(
    sb: &Sandbox,
    cmd: &Command,
    egress: Option<&mut crate::egress::EgressPlan>,
    stamps: Option<timing::Stamps>,
) -> Result<Plan> {
    let mut plan = Plan::new(sb, cmd, warmth::count_spawn())?;
    if let Some(e) = egress {
        plan.egress = Some(e.child_part(plan.fds.min_fd)?);
    }
    mark(&stamps, Mark::Planned);
    plan.timing = stamps;
    Ok(plan)
}

/// The box's cgroup, when it has one, and what the child does about it.
fn make_cgroup(sb: &Sandbox, plan: &mut Plan) -> Result<Option<Cgroup>> {
    let mut cgroup = Cgroup::create(sb)?;
    if let Some(cg) = cgroup.as_mut() {
        prepare_cgroup(plan, cg);
    }
    mark(&plan.timing, Mark::Cgroup);
    Ok(cgroup)
}

/// The enforcement report of this launch: the plans' layers, the limits as
/// the cgroup applied them, the init, and what a refused attempt lost.
fn launch_report(
    sb: &Sandbox,
    plan: &Plan,
    cgroup: Option<&Cgroup>,
    lost: &[crate::report::LayerReport],
) -> EnforcementReport {
    let mut report = report::assemble(
        sb,
        plan.caps.as_ref(),
        plan.landlock.as_ref(),
        plan.seccomp.as_ref(),
    );
    if plan.ns.spare_net.is_some() {
        report.push(crate::report::LayerReport {
            layer: "namespace:net".into(),
            requested: "new namespace".into(),
            applied: "new namespace, made ahead (owned by the caller's user namespace)".into(),
            enforcement: crate::report::Enforcement::Full,
        });
    }
    if let Some(lock) = plan.mounts.as_ref().and_then(|m| m.lock.as_ref()) {
        report.push(crate::report::LayerReport {
            layer: "filesystem:locked".into(),
            requested: "a view the box cannot undo (it maps host root and may hold CAP_SYS_ADMIN)"
                .into(),
            applied: format!(
                "every mount locked by a nested user namespace (uid map {}, gid map {})",
                lock.uid_map.to_string_lossy(),
                lock.gid_map.to_string_lossy()
            ),
            enforcement: crate::report::Enforcement::Full,
        });
    }
    report.add_limits(
        sb,
        cgroup.map_or(&[][..], |c| c.unapplied()),
        cgroup.and_then(|c| c.devices_applied()),
    );
    if plan.init.is_some() {
        report.push(init::report());
    }
    for entry in lost {
        report.push(entry.clone());
    }
    report
}

/// The pipes between the caller and the child: the go byte (sync), the
/// child's error record (closed on exec), the init's report of the
/// payload's status, and the child's pid (a child that shares the caller's
/// memory and whose ids the caller maps: see [`release_early`]).
struct Pipes {
    sync_r: OwnedFd,
    sync_w: OwnedFd,
    err_r: OwnedFd,
    err_w: Option<OwnedFd>,
    status_r: Option<OwnedFd>,
    status_w: Option<OwnedFd>,
    pid: Option<(OwnedFd, OwnedFd)>,
}

impl Pipes {
    fn new(plan: &Plan) -> Result<Pipes> {
        let (sync_r, sync_w) = sys::fd::pipe_cloexec("sync", plan.fds.min_fd)?;
        let (err_r, err_w) = sys::fd::pipe_cloexec("error", plan.fds.min_fd)?;
        let (status_r, status_w) = if plan.execs_init() {
            let (r, w) = sys::fd::pipe_cloexec("status", plan.fds.min_fd)?;
            (Some(r), Some(w))
        } else {
            (None, None)
        };
        let pid = if plan.ns.user_ns && !plan.ids.child_maps && plan.may_share_memory() {
            Some(sys::fd::pipe_cloexec("pid", plan.fds.min_fd)?)
        } else {
            None
        };
        Ok(Pipes {
            sync_r,
            sync_w,
            err_r,
            err_w: Some(err_w),
            status_r,
            status_w,
            pid,
        })
    }

    /// The child's ends, as the pre-exec routine takes them.
    fn child_fds(&self) -> ChildFds {
        let raw = |f: &Option<OwnedFd>| f.as_ref().map_or(-1, |f| f.as_raw_fd());
        ChildFds {
            sync_r: self.sync_r.as_raw_fd(),
            err_w: raw(&self.err_w),
            status_w: raw(&self.status_w),
            // Set by the clone (see routine::release_late).
            release_late: true,
            // Set by the clone (see launcher::clone3_child).
            shares_memory: false,
            pid_w: self.pid.as_ref().map_or(-1, |(_, w)| w.as_raw_fd()),
            pid_cell: std::ptr::null(),
        }
    }
}

/// Clone the child and make its [`Child`]: returns it, the outcome of the
/// early release (see [`release_early`]) and whether `CLONE_INTO_CGROUP`
/// placed it in its cgroup. The caller's copies of what the child now
/// holds are closed.
fn clone_box(
    sb: &Sandbox,
    plan: &mut Plan,
    pipes: &mut Pipes,
    into: Option<launcher::IntoCgroup>,
    cgroup: Option<Cgroup>,
    enforcement: EnforcementReport,
    started: Instant,
) -> std::result::Result<Cloned, Failed> {
    let pending = launcher::launch(plan, pipes.child_fds(), into, pipes.pid.is_some())
        .map_err(|e| clone_failed(sb, e))?;
    let early = match &pipes.pid {
        Some((pid_r, _)) => release_early(plan, pid_r, &pipes.sync_w),
        None => Ok(false),
    };
    let launched = pending.wait().map_err(|e| clone_failed(sb, e))?;
    pipes.pid = None;
    mark(&plan.timing, Mark::Cloned);
    // The box's end of the egress pair is the child's now.
    drop(plan.egress.take());
    // The sync pipe stays open until the child exec'd or failed: a child
    // that failed and exited early must not turn the go byte into SIGPIPE,
    // which a C or Python host may not ignore, and a child with no go byte
    // to wait for reads a hang-up as its parent's death.
    drop((pipes.err_w.take(), pipes.status_w.take()));
    // The child holds its own copies now; ours would only delay EOFs.
    for fd in plan.fds.stdio.iter_mut() {
        fd.take();
    }
    plan.fds.passed.clear();
    let child = Child::new(
        ChildParts {
            pid: launched.pid,
            pidfd: launched.pidfd,
            status_pipe: pipes.status_r.take(),
            stdio: std::mem::take(&mut plan.fds.parent_stdio),
            cgroup,
            started,
            enforcement,
            shared_memory: launched.shared_memory,
        },
        sb,
    );
    Ok(Cloned {
        child,
        released_early: early,
        into_cgroup: launched.into_cgroup,
    })
}

/// A box just cloned (see [`clone_box`]).
struct Cloned {
    child: Child,
    /// Whether the child was released while the clone was pending (the
    /// caller's thread wrote its id maps), or why that failed.
    released_early: Result<bool>,
    /// `CLONE_INTO_CGROUP` placed the child in its cgroup.
    into_cgroup: bool,
}

/// Block until the child exec'd the payload (or sent its error, then the
/// box is torn down and the error returned).
fn wait_exec(
    sb: &Sandbox,
    plan: &Plan,
    child: &mut Child,
    pipes: Pipes,
) -> std::result::Result<(), Failed> {
    let error = read_child_error(&pipes.err_r)?;
    drop(pipes);
    if let Some(ce) = error {
        child.abort();
        return Err(child_failed(sb, plan, ce));
    }
    if let Some(t) = &plan.timing {
        t.mark(Mark::Exec);
        child.set_spawn_timing(t.collect());
    }
    Ok(())
}

/// The services the caller's process runs for the box: published ports
/// and the egress gateway.
fn start_services(
    plan: &mut Plan,
    egress: Option<crate::egress::EgressPlan>,
    child: &mut Child,
) -> Result<()> {
    if let Some(p) = plan.publish.take() {
        p.start()?;
    }
    if let Some(e) = egress {
        let gw = e.start(child.as_fd().as_raw_fd())?;
        child.set_egress(gw);
    }
    Ok(())
}

/// With a PID namespace: what the child needs to exec the box's init (its
/// memfd, the payload's filter and the fds it inherits), every fd numbered
/// above the passed targets, which the child's dup2 calls would otherwise
/// replace.
fn prepare_init(plan: &mut Plan, fds: &ChildFds) -> Result<()> {
    if !plan.execs_init() {
        return Ok(());
    }
    let late = plan.seccomp.as_ref().filter(|s| !s.early);
    let filter = late.map(|s| init::filter(s.filter_bytes())).transpose()?;
    let no_new_privs = late.is_some_and(|s| s.sets_no_new_privs());
    let filter_before_gate = late.is_some_and(|s| s.fits_before_gate());
    let timing = plan.timing.as_ref().map(|t| t.fd());
    let image = plan.hold_above_targets(init::image()?)?;
    let ctl = rsandbox_init::proto::Control {
        status: fds.status_w,
        err: fds.err_w,
        gate: plan.fds.gate.as_ref().map_or(-1, |g| g.as_raw_fd()),
        seccomp: match filter {
            Some(fd) => plan.hold_above_targets(fd)?,
            None => -1,
        },
        connector: plan.publish.as_ref().map_or(-1, |p| p.connector_fd()),
        timing: match timing {
            Some(fd) => plan.fd_above_targets(fd)?,
            None => -1,
        },
        no_new_privs,
        listen_pid: plan.exec.listen_pid.is_some(),
        command_gate: plan.fds.command_gate,
        filter_before_gate,
    };
    plan.init = Some(init::InitExec::new(
        &plan.exec.program,
        &plan.exec.argv_ptrs,
        image,
        ctl,
    ));
    Ok(())
}

/// Every fd the child uses, sorted: it closes all others first thing.
fn keep_fds(plan: &Plan, fds: &ChildFds) -> Vec<RawFd> {
    let mut v = vec![fds.sync_r, fds.err_w, fds.status_w, fds.pid_w];
    v.extend(plan.fds.stdio.iter().flatten().map(|f| f.as_raw_fd()));
    v.extend(plan.fds.passed.iter().map(|(f, _)| f.as_raw_fd()));
    v.extend(plan.ns.joins.iter().map(|(f, _)| f.as_raw_fd()));
    v.extend(plan.mounts.iter().flat_map(|m| m.inherited_fds()));
    v.extend(plan.cgroup_joins.iter().map(|j| j.fd.as_raw_fd()));
    v.extend(plan.fds.gate.as_ref().map(|g| g.as_raw_fd()));
    v.extend(plan.landlock.as_ref().and_then(|l| l.raw_fd()));
    v.extend(plan.publish.as_ref().map(|p| p.connector_fd()));
    // Egress: the box's end of the gateway's socket pair (crate::egress).
    v.extend(plan.egress.as_ref().map(|e| e.fd()));
    if let Some(i) = &plan.init {
        v.push(i.image);
        v.extend(i.inherit);
    }
    v.retain(|&fd| fd > 2);
    v.sort_unstable();
    v.dedup();
    v
}

/// Block until the child exec'd (EOF: `None`) or sent its error record.
fn read_child_error(err_r: &OwnedFd) -> Result<Option<ChildError>> {
    let mut rec = [0u8; std::mem::size_of::<ChildError>()];
    let n = sys::read_full(err_r.as_raw_fd(), &mut rec)
        .map_err(|e| Error::io("read the child's error pipe", None, e))?;
    if n < rec.len() {
        return Ok(None);
    }
    // SAFETY: rec holds the bytes of a repr(C) ChildError of plain ints.
    Ok(Some(unsafe {
        std::ptr::read_unaligned(rec.as_ptr().cast())
    }))
}

fn mark(stamps: &Option<timing::Stamps>, m: Mark) {
    if let Some(t) = stamps {
        t.mark(m);
    }
}

/// Let the child join the cgroup's v1 hierarchies itself (see
/// `cgroup/join.rs`), and create its cgroup namespace after that join.
fn prepare_cgroup(plan: &mut Plan, cg: &mut Cgroup) {
    plan.cgroup_joins = cg.open_self_joins();
    plan.parent_attach = cg.parent_attach_needed(cg.clone_into_fd().is_some());
    // A namespace made at clone would be rooted in the caller's v1 cgroups:
    // the child joins them only after the clone.
    let newcgroup = libc::CLONE_NEWCGROUP as u64;
    let cgroup_ns = plan.ns.clone_flags & newcgroup != 0;
    if cgroup_ns && !plan.cgroup_joins.is_empty() && !plan.parent_attach {
        plan.ns.clone_flags &= !newcgroup;
        plan.ns.unshare_cgroup_ns = true;
    }
    // The box's own cgroup2 directory, rooting its cgroup namespace.
    if cgroup_ns && cg.clone_into_fd().is_some() {
        if let Some(m) = plan.mounts.as_mut() {
            m.show_own_cgroup();
        }
    }
}

/// Parent-side steps between clone and release: id maps (unless the child
/// maps its own ids), the cgroup attach the child could not do itself, then
/// the go byte, when the child waits for one (`late`, or for the maps).
///
/// When the child maps its own ids it does not wait for this before
/// setting up, only before it forks or execs anything (see
/// `routine::setup_and_exec`): the parent's work overlaps the child's
/// instead of costing a round trip.
fn release(
    plan: &Plan,
    child: &Child,
    into_cgroup: bool,
    late: bool,
    sync_w: &OwnedFd,
) -> Result<()> {
    let pid = child.pid();
    let parent_maps = plan.ns.user_ns && !plan.ids.child_maps;
    if parent_maps {
        write_maps(plan, pid)?;
    }
    if let Some(cg) = child.cgroup() {
        cg.attach(pid, into_cgroup)?;
    }
    if !(parent_maps || late) {
        return Ok(());
    }
    sys::write_all(sync_w.as_raw_fd(), &[1]).map_err(|e| Error::io("release the child", None, e))
}

/// For a child that shares the caller's memory (its cloning thread
/// suspended until the exec) and waits for its id maps: read its pid from
/// the pid pipe, write the maps, send the go byte. `Ok(false)`: the clone
/// did not take that path (or is over), [`release`] does the work after it.
/// On failure the child is killed, so that the clone returns.
fn release_early(plan: &Plan, pid_r: &OwnedFd, sync_w: &OwnedFd) -> Result<bool> {
    let mut rec = [0u8; 8];
    match sys::read_full(pid_r.as_raw_fd(), &mut rec) {
        Ok(8) => {}
        _ => return Ok(false),
    }
    let (pid, waiting) = routine::parse_pid_record(rec);
    if !waiting || pid <= 0 {
        return Ok(false);
    }
    let r = write_maps(plan, pid).and_then(|()| {
        sys::write_all(sync_w.as_raw_fd(), &[1])
            .map_err(|e| Error::io("release the child", None, e))
    });
    if r.is_err() {
        // SAFETY: our own child, not yet reaped (its pid cannot be reused).
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    r.map(|()| true)
}

/// Write a child's `setgroups`, `uid_map` and `gid_map`.
fn write_maps(plan: &Plan, pid: libc::pid_t) -> Result<()> {
    // Supplementary groups need setgroups, which only a parent privileged
    // over the gid map may leave allowed.
    if plan.ids.groups.is_empty() {
        write_proc(pid, "setgroups", "deny")?;
    }
    write_map(pid, "uid_map", &plan.ids.uid_map)?;
    write_map(pid, "gid_map", &plan.ids.gid_map)
}

fn write_proc(pid: libc::pid_t, file: &str, data: &str) -> Result<()> {
    let path = PathBuf::from(format!("/proc/{pid}/{file}"));
    std::fs::write(&path, data).map_err(|e| Error::io(format!("write {file}"), Some(path), e))
}

fn write_map(pid: libc::pid_t, file: &str, data: &str) -> Result<()> {
    write_proc(pid, file, data).map_err(|e| match e.raw_os_error() {
        Some(libc::EPERM) => Error::Privilege {
            privilege: if file == "uid_map" {
                "CAP_SETUID"
            } else {
                "CAP_SETGID"
            }
            .into(),
            action: format!("write {file} {:?}", data.trim()),
            fix: "map only your own id (the default), or run as root".into(),
        },
        _ => e,
    })
}

/// Turn a failed clone into an error that says what to do.
fn clone_error(sb: &Sandbox, e: io::Error) -> Error {
    use crate::ns::Namespace;
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) if sb.has_ns(Namespace::User) => Error::Privilege {
            privilege: "unprivileged user namespaces".into(),
            action: "create a user namespace".into(),
            fix: "this kernel or a security module (AppArmor, sysctl \
                  user.max_user_namespaces / kernel.unprivileged_userns_clone) \
                  forbids them for this user; enable them or run as root"
                .into(),
        },
        Some(libc::EPERM) => Error::Privilege {
            privilege: "CAP_SYS_ADMIN".into(),
            action: "create namespaces".into(),
            fix: "add user_ns() or run as root".into(),
        },
        Some(libc::ENOSPC) | Some(libc::EUSERS) => Error::Unsupported {
            feature: "more namespaces".into(),
            detail: format!("the per-user namespace limit was reached: {e}"),
        },
        Some(libc::EINVAL) if sb.has_ns(Namespace::Time) => Error::Unsupported {
            feature: "time namespace".into(),
            detail: format!("clone refused CLONE_NEWTIME: {e}"),
        },
        _ => Error::io("clone", None, e),
    }
}

/// A child's error: a refusal when a user namespace was made but is
/// denied what it exists for (Ubuntu's AppArmor restriction lets the
/// clone succeed and refuses the namespace's capabilities), else the
/// error naming the path involved.
fn child_failed(sb: &Sandbox, plan: &Plan, ce: ChildError) -> Failed {
    let setup = [
        Stage::Identity,
        Stage::IdMaps,
        Stage::Hostname,
        Stage::MountPrivate,
        Stage::Mount,
        Stage::PivotRoot,
        Stage::Proc,
    ];
    let in_setup = Stage::from_u32(ce.stage).is_some_and(|s| setup.contains(&s));
    if in_setup && matches!(ce.errno, libc::EPERM | libc::EACCES) && degrade::userns_restricted(sb)
    {
        return Failed::Refused(ce.errno);
    }
    Failed::Other(child_error(plan, ce))
}

/// Turn a child's error record into an `Error` naming the path involved.
fn child_error(plan: &Plan, ce: ChildError) -> Error {
    let source = io::Error::from_raw_os_error(ce.errno);
    let Some(stage) = Stage::from_u32(ce.stage) else {
        return Error::io("sandbox setup (unknown stage)", None, source);
    };
    let path = match stage {
        Stage::Exec => Some(plan.exec.program_path.clone()),
        Stage::Cwd => Some(plan.exec.cwd_path.clone()),
        Stage::Mount => plan.mounts.as_ref().and_then(|m| m.step_path(ce.detail)),
        Stage::Rlimit => Some(PathBuf::from(crate::limits::rlimit_name(ce.detail))),
        Stage::Cgroup => plan
            .cgroup_joins
            .get(ce.detail as usize)
            .map(|j| j.path.clone()),
        _ => None,
    };
    if stage == Stage::Exec && matches!(ce.errno, libc::ENOENT | libc::EACCES | libc::ENOEXEC) {
        return Error::ProgramNotFound {
            program: plan.exec.program_path.clone(),
            source,
        };
    }
    Error::Spawn {
        stage,
        detail: ce.detail,
        path,
        source,
    }
}
