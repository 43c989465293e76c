//! Secure defaults whoever the caller (issue 19 items 1–3): a strict box of
//! a root caller is `nobody` to the host (its files, its sockets), the
//! default view hides the host's private data, and `host_identity()` keeps
//! the caller's identity for whoever needs it. Every `both!` scenario runs
//! as the caller (root in CI) and as `nobody`.

mod common;

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use common::*;
use rsandbox::{Command, Output, Sandbox, UNPRIVILEGED_ID};

fn sh(sb: &Sandbox, script: &str) -> Output {
    sb.output(&Command::from_argv(["/bin/sh", "-c", script]))
        .unwrap()
}

/// The host uid a default strict box's files get: `nobody` for a root
/// caller (the unprivileged identity), the caller's own uid otherwise.
fn strict_host_uid() -> u32 {
    if is_root() {
        UNPRIVILEGED_ID
    } else {
        // SAFETY: trivial getter.
        unsafe { libc::geteuid() }
    }
}

both!(strict_box_reads_no_host_secret, || {
    let o = sh(
        &Sandbox::strict(),
        "id -u; cat /etc/shadow /etc/gshadow; echo shadow=$?; ls -A /root /home; \
         echo dirs=$?; for k in /etc/ssh/ssh_host_*_key; do [ -e \"$k\" ] && cat \"$k\"; done; \
         echo keys",
    );
    let out = text(&o.stdout);
    assert!(o.outcome.success(), "{o:?}");
    // The payload is still uid 0 where it asked for nothing else.
    let inside = if is_root() { "0" } else { "65534" };
    assert!(out.starts_with(&format!("{inside}\n")), "{out}");
    // Masked: empty files, empty directories, whatever the identity.
    assert_eq!(
        out,
        format!("{inside}\nshadow=0\n/home:\n\n/root:\ndirs=0\nkeys\n"),
        "{}",
        text(&o.stderr)
    );
});

both!(hidden_paths_are_the_documented_list, || {
    let hidden = rsandbox::fs::hidden_host_paths();
    for p in ["/root", "/home", "/etc/shadow", "/etc/gshadow"] {
        assert!(hidden.contains(&PathBuf::from(p)), "{p} not in {hidden:?}");
    }
    // Every SSH host private key the host has, none of the public ones.
    for e in std::fs::read_dir("/etc/ssh")
        .into_iter()
        .flatten()
        .flatten()
    {
        let n = e.file_name().into_string().unwrap();
        let is_key = n.starts_with("ssh_host_") && n.ends_with("_key");
        assert_eq!(hidden.contains(&e.path()), is_key, "{n}");
    }
    // The plain builder's default view hides them too.
    let o = sh(
        &Sandbox::new().user_ns().mount_ns().pid_ns(),
        "wc -c </etc/shadow; ls -A /root",
    );
    assert_eq!(text(&o.stdout), "0\n", "{o:?}");
});

/// A root-owned file only its owner may read, in a 0755 test directory:
/// what an SSH host key or a token in `/root` looks like to the box.
fn root_only_file(dir: &TempDir) -> PathBuf {
    let key = dir.join("ssh_host_test_key");
    std::fs::write(&key, "PRIVATE KEY\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    key
}

#[test]
fn root_box_is_other_to_root_only_files() {
    if !is_root() {
        eprintln!("skipped: the unprivileged identity is for root callers");
        return;
    }
    let dir = TempDir::new("secret");
    let key = root_only_file(&dir);
    let script = format!("cat {}", key.display());
    let sb = Sandbox::strict().ro_bind(dir.path(), dir.path());
    let o = sh(&sb, &script);
    assert!(!o.outcome.success(), "{o:?}");
    assert!(text(&o.stderr).contains("Permission denied"), "{o:?}");
    assert_eq!(text(&o.stdout), "");
    // host_identity(): today's box, host root without capabilities.
    let o = sh(&sb.clone().host_identity(), &script);
    assert_eq!(text(&o.stdout), "PRIVATE KEY\n", "{o:?}");
}

/// A fresh directory under `/var/lib` (as `mktemp -d -p /var/lib`: mode
/// 0700, root's), removed on drop.
struct VarLibDir(PathBuf);

impl VarLibDir {
    fn new() -> VarLibDir {
        let out = std::process::Command::new("mktemp")
            .args(["-d", "-p", "/var/lib", "rsandbox-test-sock.XXXXXX"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let p = PathBuf::from(text(&out.stdout).trim());
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o700);
        VarLibDir(p)
    }
}

impl Drop for VarLibDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Connect to the Unix socket `path` from the box; prints `connected` or
/// the error.
fn connect_script(path: &Path) -> String {
    format!(
        "/usr/bin/python3 -c 'import socket,sys\n\
         s=socket.socket(socket.AF_UNIX)\n\
         try:\n  s.connect(\"{}\"); print(\"connected\")\n\
         except OSError as e:\n  print(e.strerror); sys.exit(1)'",
        path.display()
    )
}

fn accepted(l: &UnixListener) -> bool {
    l.set_nonblocking(true).unwrap();
    l.accept().is_ok()
}

#[test]
fn root_only_socket_is_not_connectable() {
    if !is_root() {
        eprintln!("skipped: a root-only socket needs a root test");
        return;
    }
    let dir = VarLibDir::new();
    let path = dir.0.join("daemon.sock");
    let l = UnixListener::bind(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let script = connect_script(&path);

    let o = sh(&Sandbox::strict(), &script);
    assert!(!o.outcome.success(), "{o:?}");
    assert_eq!(text(&o.stdout), "Permission denied\n", "{o:?}");
    assert!(!accepted(&l), "the strict box reached the socket");

    // The same socket as host root: the hole host_identity() keeps.
    let o = sh(&Sandbox::strict().host_identity(), &script);
    assert_eq!(text(&o.stdout), "connected\n", "{o:?}");
    assert!(accepted(&l));
}

both!(files_in_a_bound_dir_get_the_documented_owner, || {
    let dir = TempDir::new("owner");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let sb = Sandbox::strict().bind(dir.path(), "/out");
    let o = sh(&sb, "id -u; id -g; echo hi >/out/f; stat -c %u:%g /out/f");
    // Inside: the box's own ids.
    let inside = if is_root() { 0 } else { 65534 };
    assert_eq!(
        text(&o.stdout),
        format!("{inside}\n{inside}\n{inside}:{inside}\n"),
        "{o:?}"
    );
    // Outside: nobody's (the root caller's box) or the caller's.
    let m = std::fs::metadata(dir.join("f")).unwrap();
    let host = strict_host_uid();
    assert_eq!((m.uid(), m.gid()), (host, host));
    let mut s = String::new();
    std::fs::File::open(dir.join("f"))
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, "hi\n");
    std::fs::remove_file(dir.join("f")).unwrap();

    // host_identity(): the caller's own ids, as before.
    let o = sh(&sb.clone().host_identity(), "echo hi >/out/g");
    assert!(o.outcome.success(), "{o:?}");
    let m = std::fs::metadata(dir.join("g")).unwrap();
    // SAFETY: trivial getters.
    let own = unsafe { (libc::geteuid(), libc::getegid()) };
    assert_eq!((m.uid(), m.gid()), own);
});

both!(report_names_the_identity, || {
    let r = Sandbox::strict().enforcement_report().unwrap();
    let id = r.layer("identity").unwrap();
    assert_eq!(id.requested, "unprivileged");
    let host = strict_host_uid();
    if is_root() {
        assert!(id.applied.contains(&format!("0 {host} 1")), "{id:?}");
    } else {
        assert!(id.applied.contains(&format!("host uid {host}")), "{id:?}");
    }
    let r = Sandbox::strict()
        .host_identity()
        .enforcement_report()
        .unwrap();
    let id = r.layer("identity").unwrap();
    assert_eq!(id.requested, "caller's ids");
    assert_eq!(id.applied.contains("host root"), is_root(), "{id:?}");
});

both!(
    explicit_uid_keeps_its_id_under_the_unprivileged_identity,
    || {
        // A payload asking for uid 1000 gets it inside; outside it is still
        // nobody (root caller) or the caller.
        let dir = TempDir::new("uid");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let o = sh(
            &Sandbox::strict()
                .uid(1000)
                .gid(1000)
                .bind(dir.path(), "/out"),
            "id -u; touch /out/f",
        );
        assert_eq!(text(&o.stdout), "1000\n", "{o:?}");
        let m = std::fs::metadata(dir.join("f")).unwrap();
        let host = strict_host_uid();
        assert_eq!((m.uid(), m.gid()), (host, host));
    }
);

/// A bind source under a directory only root may search (a root caller's
/// `mktemp -d`, mode 0700) is looked up with the caller's ids: the bind is
/// made, and its content is then reached as the box (`other`).
#[test]
fn root_caller_binds_sources_under_private_dirs() {
    if !is_root() {
        eprintln!("skipped: a root-only parent needs a root test");
        return;
    }
    let dir = TempDir::new("private");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(data.join("hello"), "hi\n").unwrap();
    let o = sh(
        &Sandbox::strict().ro_bind(&data, "/data"),
        "cat /data/hello; id -u",
    );
    assert_eq!(text(&o.stdout), "hi\n0\n", "{o:?}");
    // The private parent itself, bound: made, but closed to the box.
    let o = sh(
        &Sandbox::strict().ro_bind(dir.path(), "/p"),
        "ls /p 2>&1; cat /p/data/hello 2>&1; true",
    );
    let out = text(&o.stdout);
    assert!(o.outcome.success(), "{o:?}");
    assert!(out.contains("Permission denied"), "{out}");
    assert!(!out.contains("hi"), "{out}");
}

/// The masks over the host's secrets are locked for a root caller's box
/// (made in the template, copied into the box's user namespace): a box
/// keeping `CAP_SYS_ADMIN`, without seccomp, cannot unmount them to
/// uncover what is below.
#[test]
fn hidden_path_masks_are_locked() {
    if !is_root() || std::env::var_os("RSANDBOX_NO_TEMPLATE").is_some_and(|v| v == "1") {
        // Made per box, the masks are the box's own mounts: its identity
        // (nobody) is what keeps the files below unreadable then.
        eprintln!("skipped: the template view serves root callers");
        return;
    }
    let sb = Sandbox::strict().keep_caps(["CAP_SYS_ADMIN"]).no_seccomp();
    let o = sh(
        &sb,
        "grep -q '^CapEff:.*[1-9a-f]' /proc/self/status && echo caps; \
         for p in /etc/shadow /root /home; do \
         /usr/bin/busybox umount $p 2>/dev/null && echo unmounted $p; \
         /usr/bin/busybox umount -l $p 2>/dev/null && echo detached $p; done; \
         wc -c </etc/shadow; ls -A /root /home | tr -d '\\n'",
    );
    assert_eq!(text(&o.stdout), "caps\n0\n/home:/root:", "{o:?}");
}

/// Review F6/F16: a root caller's box that keeps its capabilities and
/// uncovers `/proc/sys` (the read-only bind over it is the box's own
/// mount) still cannot open a host sysctl for writing: the files are host
/// root's, and the box is `nobody` to the host. Only opened, never written
/// (`3>>`), so the host cannot change even if the check failed.
#[test]
fn uncovered_proc_sys_is_not_writable_by_a_root_callers_box() {
    if !is_root() {
        eprintln!("skipped: a nobody caller's box is nobody already");
        return;
    }
    let sb = Sandbox::strict().keep_caps(["CAP_SYS_ADMIN"]).no_seccomp();
    let o = sh(
        &sb,
        "/usr/bin/busybox umount -l /proc/sys 2>/dev/null; \
         grep -q ' /proc/sys ' /proc/self/mounts && echo covered || echo uncovered; \
         (exec 3>>/proc/sys/kernel/printk_ratelimit) 2>&1 | sed 's/.*: //'",
    );
    assert_eq!(text(&o.stdout), "uncovered\nPermission denied\n", "{o:?}");
}

/// Review F6, item 1: a root caller's box that is host root (the plain
/// builder keeps the caller's ids; `host_identity` asks for it) and may
/// hold `CAP_SYS_ADMIN` gets a locked view: it cannot unmount or detach
/// its `/proc` masks nor make a read-only bind writable, while it is still
/// uid 0 with its capabilities over a mount namespace of its own (a tmpfs
/// of its own mounts). Opened for appending only, never written.
#[test]
fn a_host_root_box_with_cap_sys_admin_cannot_undo_its_view() {
    if !is_root() {
        eprintln!("skipped: only a root caller's box maps host root");
        return;
    }
    let script = "id -u; grep -q '^CapEff:.*[1-9a-f]' /proc/self/status && echo caps; \
         /usr/bin/busybox umount /proc/sys 2>/dev/null && echo unmounted; \
         /usr/bin/busybox umount -l /proc/sys 2>/dev/null && echo detached; \
         /usr/bin/busybox mount -o remount,bind,rw /usr 2>/dev/null && echo usr-rw; \
         (exec 3>>/proc/sys/kernel/printk_ratelimit) 2>&1 | sed 's/.*: //'; \
         /usr/bin/busybox mount -t tmpfs none /tmp && echo own-mount";
    for sb in [
        Sandbox::new().user_ns().pid_ns().mount_ns(),
        Sandbox::strict()
            .host_identity()
            .keep_caps(["CAP_SYS_ADMIN"])
            .no_seccomp(),
    ] {
        let o = sh(&sb, script);
        assert_eq!(
            text(&o.stdout),
            "0\ncaps\nRead-only file system\nown-mount\n",
            "{o:?}"
        );
        let lock = o.outcome.enforcement.layer("filesystem:locked");
        assert!(lock.is_some_and(|l| l.applied.contains("0 0 1")), "{o:?}");
    }
    // Without CAP_SYS_ADMIN there is nothing to lock against.
    let o = sh(&Sandbox::strict().host_identity(), "true");
    assert!(o.outcome.enforcement.layer("filesystem:locked").is_none());
}

/// Item 2, abstract sockets: two strict boxes in one shared network
/// namespace (same abstract socket table) cannot reach each other's
/// abstract Unix sockets where the kernel has Landlock ABI 6 (strict
/// scopes them); a box without Landlock still can (the control).
#[test]
fn strict_boxes_cannot_reach_abstract_sockets_made_outside() {
    if !is_root() || rsandbox::landlock::abi_version() < 6 {
        eprintln!("skipped: needs root (a shared NetNs) and Landlock ABI 6");
        return;
    }
    let ns = rsandbox::NetNs::new().unwrap();
    let name = format!("rsandbox-test-abstract-{}", std::process::id());
    let server = Sandbox::strict()
        .net_ns_shared(&ns)
        .stdout(rsandbox::Stdio::Pipe);
    let listen = format!(
        "/usr/bin/python3 -c 'import socket,time\n\
         s=socket.socket(socket.AF_UNIX)\n\
         s.bind(\"\\0{name}\"); s.listen(8); print(\"up\", flush=True)\n\
         while True:\n  c,_=s.accept(); c.close()'"
    );
    let mut srv = server
        .spawn(&Command::from_argv(["/bin/sh", "-c", &listen]))
        .unwrap();
    let mut up = [0u8; 3];
    srv.stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut up)
        .expect("the server box is up");
    let connect = format!(
        "/usr/bin/python3 -c 'import socket\n\
         s=socket.socket(socket.AF_UNIX)\n\
         try:\n  s.connect(\"\\0{name}\"); print(\"connected\")\n\
         except OSError as e:\n  print(e.strerror)'"
    );
    let strict = sh(&Sandbox::strict().net_ns_shared(&ns), &connect);
    let plain = sh(
        &Sandbox::new()
            .user_ns()
            .pid_ns()
            .mount_ns()
            .net_ns_shared(&ns),
        &connect,
    );
    srv.kill().unwrap();
    let _ = srv.wait();
    assert_eq!(
        text(&strict.stdout),
        "Operation not permitted\n",
        "{strict:?}"
    );
    assert_eq!(text(&plain.stdout), "connected\n", "{plain:?}");
}

#[test]
fn profiles_keep_the_identity() {
    let json = Sandbox::strict().to_json().unwrap();
    assert!(json.contains("\"identity\": \"unprivileged\""), "{json}");
    let back = Sandbox::from_json(&json).unwrap();
    assert_eq!(back, Sandbox::strict());
    assert_eq!(back.box_identity(), rsandbox::BoxIdentity::Unprivileged);
    // The plain builder's default is left out, and read back as such.
    assert!(!Sandbox::new().to_json().unwrap().contains("identity"));
    let t = Sandbox::from_toml("namespaces = [\"user\"]\nidentity = \"caller\"\n").unwrap();
    assert_eq!(t.box_identity(), rsandbox::BoxIdentity::Caller);
    assert!(Sandbox::from_toml("identity = \"root\"\n").is_err());
}

#[test]
fn supplementary_groups_need_a_mapped_gid() {
    if !is_root() {
        eprintln!("skipped: the unprivileged identity is for root callers");
        return;
    }
    let refused = |sb: Sandbox| match sb.validate() {
        Err(rsandbox::Error::InvalidConfig { field, reason }) if field == "groups" => reason,
        other => panic!("{other:?}"),
    };
    // strict() maps only the box's own gid: another group is refused
    // before spawn, saying what to do.
    let why = refused(Sandbox::strict().groups([0, 27]));
    assert!(
        why.contains("gid 27") && why.contains("host_identity"),
        "{why}"
    );
    // So does the caller's single-id default map, as before, but typed now.
    let why = refused(Sandbox::strict().host_identity().groups([0, 27]));
    assert!(
        why.contains("gid 27") && !why.contains("host_identity"),
        "{why}"
    );
    // The box's own gid is fine.
    let o = sh(&Sandbox::strict().groups([0]), "id -G");
    assert_eq!(text(&o.stdout), "0\n", "{o:?}");
}

/// The host's network interfaces, as its `/sys` lists them.
fn host_interfaces() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

both!(strict_box_sees_its_own_sys, || {
    let o = sh(
        &Sandbox::strict(),
        "echo NET: $(ls /sys/class/net)
         echo FW: $(ls -A /sys/firmware | wc -l)
         echo CG: $(ls -A /sys/fs/cgroup | wc -l)
         touch /sys/x 2>/dev/null || echo SYS_RO
         grep ' /sys ' /proc/self/mountinfo",
    );
    let out = text(&o.stdout);
    assert!(o.outcome.success(), "{o:?}");
    // Only the box's loopback, whatever the host has.
    assert!(out.contains("NET: lo\n"), "{out}");
    let host = host_interfaces();
    assert!(host.iter().any(|i| i == "lo"), "{host:?}");
    for i in host.iter().filter(|i| *i != "lo") {
        assert!(!out.contains(i.as_str()), "host's {i} seen:\n{out}");
    }
    // Docker's masked path, and no cgroup tree of the host's.
    assert!(out.contains("FW: 0\n"), "{out}");
    assert!(out.contains("CG: 0\n"), "{out}");
    assert!(out.contains("SYS_RO"), "{out}");
    let sys = out.lines().find(|l| l.split(' ').nth(4) == Some("/sys"));
    assert!(
        sys.is_some_and(|l| l.contains(" ro,") && l.contains(" - sysfs ")),
        "{out}"
    );
    let r = Sandbox::strict().enforcement_report().unwrap();
    let l = r.layer("filesystem:sys").unwrap();
    assert!(l.applied.starts_with("fresh read-only sysfs"), "{l:?}");
});

/// A box with a cgroup of its own (limits) sees that cgroup, and only it,
/// under `/sys/fs/cgroup`: a read-only cgroup2 of its cgroup namespace.
#[test]
fn strict_box_with_limits_sees_its_own_cgroup_in_sys() {
    if !is_root() {
        eprintln!("skipped: cgroup limits need root (or a delegated cgroup) here");
        return;
    }
    let o = sh(
        &cgroup_dirs::where_boxes_may_go(Sandbox::strict()).pids_limit(64),
        "echo PROCS: $(cat /sys/fs/cgroup/cgroup.procs | wc -l)
         echo SELF: $(grep -c \"^$$\\$\" /sys/fs/cgroup/cgroup.procs)
         echo SUB: $(ls -d /sys/fs/cgroup/*/ 2>/dev/null | wc -l)
         touch /sys/fs/cgroup/x 2>/dev/null || echo CG_RO
         grep ' /sys/fs/cgroup ' /proc/self/mountinfo | grep -o ' - cgroup2 '",
    );
    let out = text(&o.stdout);
    assert!(o.outcome.success(), "{o:?}");
    // The box's few processes (its init, the shell, its commands), the
    // shell among them, no subtree of anyone else's.
    let procs: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("PROCS: "))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!((1..=6).contains(&procs), "{out}");
    assert!(out.contains("SELF: 1\n"), "{out}");
    assert!(out.contains("SUB: 0\n"), "{out}");
    assert!(out.contains("CG_RO\n - cgroup2 \n"), "{out}");
}

both!(box_in_the_host_network_gets_an_empty_sys, || {
    let sb = Sandbox::new().user_ns().pid_ns().mount_ns();
    let o = sh(
        &sb,
        "echo N: $(ls -A /sys | wc -l); touch /sys/x 2>/dev/null || echo RO",
    );
    assert_eq!(text(&o.stdout), "N: 0\nRO\n", "{o:?}");
    let r = sb.enforcement_report().unwrap();
    let l = r.layer("filesystem:sys").unwrap();
    assert!(l.applied.starts_with("empty read-only /sys"), "{l:?}");
});
