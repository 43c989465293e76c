//! `rsandbox bwrap ...` and the binary called as `bwrap` (a symlink):
//! bubblewrap's options, asserted from inside the box. Each test runs both
//! entry points, as the caller (root here) and as `nobody`, from a copy
//! of the binary in a fresh 0755 temporary directory.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NOBODY: u32 = 65534;

/// A fresh directory (0755), removed when dropped.
struct Bin(PathBuf);

impl Bin {
    fn new() -> Bin {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rsandbox-bwrap-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        Bin(dir)
    }

    /// With a copy of `rsandbox` and a `bwrap` symlink to it.
    fn with_binary() -> Bin {
        let b = Bin::new();
        std::fs::copy(env!("CARGO_BIN_EXE_rsandbox"), b.0.join("rsandbox")).unwrap();
        std::os::unix::fs::symlink("rsandbox", b.0.join("bwrap")).unwrap();
        b
    }
}

impl Drop for Bin {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One way of running bwrap: an entry point and a user.
struct Runner {
    /// What `$BWRAP` expands to in the scripts.
    bwrap: String,
    uid: Option<u32>,
}

impl Runner {
    /// `/bin/sh -c script` (from `/`), `$BWRAP` being this entry point.
    fn sh(&self, script: &str) -> Output {
        self.sh_env(script, &[])
    }

    fn sh_env(&self, script: &str, env: &[(&str, &str)]) -> Output {
        let mut c = Command::new("/bin/sh");
        c.args(["-c", script])
            .current_dir("/")
            .env("BWRAP", &self.bwrap)
            .envs(env.iter().copied());
        if let Some(u) = self.uid {
            c.uid(u).gid(u);
        }
        c.output().expect("run /bin/sh")
    }

    fn who(&self) -> String {
        format!("{} as uid {:?}", self.bwrap, self.uid)
    }
}

fn is_root() -> bool {
    // SAFETY: trivial getter.
    unsafe { libc::geteuid() == 0 }
}

/// Run `f` with every entry point, as the caller and (when root) nobody.
fn each(f: impl Fn(&Runner)) {
    let bin = Bin::with_binary();
    let mut users = vec![None];
    if is_root() {
        users.push(Some(NOBODY));
    }
    for uid in users {
        for bwrap in [
            bin.0.join("bwrap").display().to_string(),
            format!("{} bwrap", bin.0.join("rsandbox").display()),
        ] {
            f(&Runner { bwrap, uid });
        }
    }
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn all(o: &Output) -> String {
    format!("{}{}", out(o), String::from_utf8_lossy(&o.stderr))
}

/// The host's `/` read-only, fresh /proc and /dev, a PID namespace.
const BASE: &str = "$BWRAP --ro-bind / / --proc /proc --dev /dev --unshare-pid";

#[test]
fn pid_namespace_payload_is_pid_2() {
    each(|r| {
        let o = r.sh(&format!("{BASE} -- sh -c 'echo $$'"));
        assert!(o.status.success(), "{}: {}", r.who(), all(&o));
        // bwrap without --as-pid-1: its init is PID 1, the payload 2.
        assert_eq!(out(&o), "2\n", "{}", r.who());
        let o = r.sh(&format!(
            "{BASE} --as-pid-1 -- sh -c 'echo $$; cat /proc/1/comm; true'"
        ));
        // --as-pid-1: no init, the payload is PID 1 (`true` last: busybox's
        // sh would exec a last external command in its own place).
        assert_eq!(out(&o), "1\nsh\n", "{}: {}", r.who(), all(&o));
    });
}

#[test]
fn tmpfs_is_empty_and_writable_the_rest_read_only() {
    each(|r| {
        let o = r.sh(&format!(
            "{BASE} --tmpfs /tmp -- sh -c \
             'ls -A /tmp | wc -l; echo x > /tmp/f && cat /tmp/f; \
              stat -c %a /tmp; touch /usr/rsandbox-bwrap-test 2>&1 || echo RO'"
        ));
        let t = all(&o);
        assert!(o.status.success(), "{}: {t}", r.who());
        assert!(t.starts_with("0\nx\n755\n"), "{}: {t}", r.who());
        assert!(t.contains("RO"), "{}: {t}", r.who());
    });
    assert!(!Path::new("/usr/rsandbox-bwrap-test").exists());
}

#[test]
fn perms_and_size_modify_the_next_tmpfs() {
    each(|r| {
        let o = r.sh(&format!(
            "{BASE} --tmpfs /tmp --perms 0700 --size 1048576 --tmpfs /tmp/t -- sh -c \
             'stat -c %a /tmp/t; df -k /tmp/t | tail -1'"
        ));
        let t = out(&o);
        assert!(o.status.success(), "{}: {}", r.who(), all(&o));
        let mut lines = t.lines();
        assert_eq!(lines.next(), Some("700"), "{}: {t}", r.who());
        let size: u64 = lines
            .next()
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(size, 1024, "{}: {t}", r.who());
    });
}

#[test]
fn environment_options_apply_in_order() {
    each(|r| {
        let env = [("FOO", "host"), ("BAR", "host")];
        let o = r.sh_env(
            &format!("{BASE} --setenv A 1 --unsetenv FOO -- sh -c 'echo $A.$FOO.$BAR'"),
            &env,
        );
        assert_eq!(out(&o), "1..host\n", "{}: {}", r.who(), all(&o));
        let o = r.sh_env(
            &format!(
                "{BASE} --setenv GONE 1 --clearenv --setenv ONLY 1 --chdir /usr -- /usr/bin/env"
            ),
            &env,
        );
        let text = out(&o);
        let mut vars: Vec<&str> = text.lines().collect();
        vars.sort();
        assert_eq!(vars, ["ONLY=1", "PWD=/usr"], "{}: {}", r.who(), all(&o));
    });
}

#[test]
fn json_status_and_info_fds() {
    each(|r| {
        let dir = Bin::new();
        let (js, info) = (dir.0.join("status.json"), dir.0.join("info.json"));
        std::fs::write(&js, "").unwrap();
        std::fs::write(&info, "").unwrap();
        for f in [&js, &info] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o666)).unwrap();
        }
        let o = r.sh(&format!(
            "{BASE} --unshare-net --json-status-fd 5 --info-fd 6 -- sh -c 'exit 7' 5>{} 6>{}",
            js.display(),
            info.display()
        ));
        assert_eq!(o.status.code(), Some(7), "{}: {}", r.who(), all(&o));
        let s = std::fs::read_to_string(&js).unwrap();
        let docs: Vec<serde_json::Value> = s
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        assert_eq!(docs.len(), 2, "{s}");
        let pid = docs[0]["child-pid"].as_i64().unwrap();
        assert!(pid > 1, "{s}");
        for ns in ["mnt", "pid", "net"] {
            assert!(
                docs[0][format!("{ns}-namespace")].as_u64().is_some(),
                "{}: {s}",
                r.who()
            );
        }
        assert_eq!(docs[1]["exit-code"], 7, "{s}");
        let i: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&info).unwrap()).unwrap();
        assert_eq!(i["child-pid"].as_i64(), Some(pid));
        assert_eq!(i["net-namespace"], docs[0]["net-namespace"]);
    });
}

#[test]
fn unknown_and_unsupported_options_are_named() {
    each(|r| {
        for (opt, needle) in [
            ("--frobnicate", "bwrap: Unknown option --frobnicate"),
            ("--exec-label x", "--exec-label is not supported"),
            ("--as-pid-1", "--as-pid-1 requires --unshare-pid"),
            ("--userns 3", "--userns is not supported"),
            (
                "--add-seccomp-fd 0 --seccomp 0",
                "installs one seccomp program",
            ),
        ] {
            let o = r.sh(&format!("$BWRAP --ro-bind / / {opt} -- true"));
            assert_eq!(o.status.code(), Some(1), "{}: {opt}", r.who());
            assert!(all(&o).contains(needle), "{}: {opt}: {}", r.who(), all(&o));
        }
        let o = r.sh("$BWRAP --ro-bind / / --hostname h -- true");
        assert!(
            all(&o).contains("--hostname requires --unshare-uts"),
            "{}",
            all(&o)
        );
        let o = r.sh("$BWRAP --ro-bind /no-such-dir /x -- true");
        assert!(
            all(&o).contains("Can't find source path /no-such-dir"),
            "{}",
            all(&o)
        );
    });
}

#[test]
fn help_and_version_answer_to_both_names() {
    each(|r| {
        let o = r.sh("$BWRAP --help");
        assert!(o.status.success());
        let name = if r.bwrap.ends_with("/bwrap") {
            r.bwrap.as_str()
        } else {
            "rsandbox bwrap"
        };
        assert!(
            out(&o).starts_with(&format!("usage: {name} ")),
            "{}",
            out(&o)
        );
        let o = r.sh("$BWRAP --version");
        assert!(out(&o).starts_with("bubblewrap "), "{}", out(&o));
    });
    let o = Command::new(env!("CARGO_BIN_EXE_rsandbox"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out(&o).contains("bwrap"), "{}", out(&o));
}

#[test]
fn args_file_and_data_fds() {
    each(|r| {
        let dir = Bin::new();
        let args = dir.0.join("args");
        std::fs::write(&args, b"--setenv\0X\0from args\0--setenv\0E\0\0").unwrap();
        std::fs::write(dir.0.join("data"), "some data\n").unwrap();
        for f in ["args", "data"] {
            std::fs::set_permissions(dir.0.join(f), std::fs::Permissions::from_mode(0o644))
                .unwrap();
        }
        let d = dir.0.display();
        let o = r.sh(&format!(
            "{BASE} --args 3 --tmpfs /tmp --dir /tmp/t --file 4 /tmp/t/file --perms 0640 --ro-bind-data 5 /tmp/t/ro \
             -- sh -c 'cd /tmp/t; echo \"$X.$E.\"; cat file ro; stat -c %a file ro; \
             echo no > ro || echo RO' 3<{d}/args 4<{d}/data 5<{d}/data"
        ));
        let t = all(&o);
        assert!(
            t.starts_with("from args..\nsome data\nsome data\n666\n640\n"),
            "{}: {t}",
            r.who()
        );
        assert!(t.contains("RO"), "{}: {t}", r.who());
    });
}

#[test]
fn dirs_symlinks_chmod_and_remount_ro() {
    each(|r| {
        let o = r.sh(
            "$BWRAP --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib \
             --symlink usr/lib64 /lib64 --proc /proc --unshare-pid \
             --perms 0700 --dir /a/b --dir /c --chmod 0750 /c --tmpfs /m --remount-ro /m \
             -- sh -c 'ls -A / | tr \"\\n\" \" \"; echo; stat -c \"%n %a\" /a /a/b /c; \
             touch /m/x 2>&1 || echo M_RO; readlink /bin'",
        );
        let t = all(&o);
        assert!(o.status.success(), "{}: {t}", r.who());
        assert!(
            t.starts_with("a bin c lib lib64 m proc usr \n"),
            "{}: {t}",
            r.who()
        );
        for want in ["/a 700", "/a/b 700", "/c 750", "M_RO", "usr/bin"] {
            assert!(t.contains(want), "{}: missing {want} in {t}", r.who());
        }
    });
}

#[test]
fn dev_has_bwraps_nodes() {
    each(|r| {
        let o = r.sh(&format!(
            "{BASE} -- sh -c 'ls /dev | tr \"\\n\" \" \"; readlink /dev/core'"
        ));
        let t = out(&o);
        for n in [
            "core", "full", "null", "ptmx", "pts", "random", "shm", "tty", "urandom", "zero",
        ] {
            assert!(
                t.split_whitespace().any(|w| w == n),
                "{}: no {n} in {t}",
                r.who()
            );
        }
        assert!(t.ends_with("/proc/kcore\n"), "{}: {t}", r.who());
    });
}

#[test]
fn namespaces_identity_and_hostname() {
    each(|r| {
        let o = r.sh(&format!(
            "{BASE} --unshare-net --unshare-uts --hostname boxed --unshare-user --uid 0 --gid 0 \
             -- sh -c 'hostname; id -u; id -g; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d \" \"'"
        ));
        assert_eq!(out(&o), "boxed\n0\n0\nlo\n", "{}: {}", r.who(), all(&o));
    });
}

#[test]
fn capabilities_follow_bwrap() {
    each(|r| {
        let cap_eff = |extra: &str| {
            let o = r.sh(&format!(
                "{BASE} {extra} -- sh -c 'grep CapEff /proc/self/status | cut -f2'"
            ));
            assert!(o.status.success(), "{}: {}", r.who(), all(&o));
            u64::from_str_radix(out(&o).trim(), 16).unwrap()
        };
        let net_bind = 1u64 << 10; // CAP_NET_BIND_SERVICE
        if r.uid.is_none() && is_root() {
            // Root keeps the caller's capabilities unless dropped.
            assert_ne!(cap_eff(""), 0, "{}", r.who());
            assert_eq!(cap_eff("--cap-drop ALL"), 0, "{}", r.who());
            let some = cap_eff("--cap-drop ALL --cap-add CAP_NET_BIND_SERVICE");
            assert_eq!(some, net_bind, "{}", r.who());
        } else {
            assert_eq!(cap_eff(""), 0, "{}", r.who());
            let some = cap_eff("--unshare-user --cap-add net_bind_service");
            assert_eq!(some, net_bind, "{}", r.who());
        }
    });
}

#[test]
fn disable_userns_refuses_nested_user_namespaces() {
    each(|r| {
        let o = r.sh(&format!(
            "{BASE} --unshare-user --disable-userns -- sh -c \
             'unshare -U true 2>/dev/null && echo NESTED || echo REFUSED'"
        ));
        assert_eq!(out(&o), "REFUSED\n", "{}: {}", r.who(), all(&o));
        let o = r.sh(&format!(
            "{BASE} --unshare-user -- sh -c 'unshare -U true && echo NESTED'"
        ));
        assert_eq!(out(&o), "NESTED\n", "{}: {}", r.who(), all(&o));
    });
}

#[test]
fn fds_pass_through_and_sync_fd() {
    each(|r| {
        let o = r.sh(&format!(
            "{BASE} --sync-fd 7 -- sh -c 'cat <&8; test -e /proc/self/fd/7 && echo SYNC' \
             7</dev/null 8<<EOF\ninherited\nEOF"
        ));
        assert_eq!(out(&o), "inherited\nSYNC\n", "{}: {}", r.who(), all(&o));
    });
}

#[test]
fn exit_status_is_the_payloads() {
    each(|r| {
        let o = r.sh(&format!("{BASE} -- sh -c 'exit 42'"));
        assert_eq!(o.status.code(), Some(42), "{}", r.who());
        let o = r.sh(&format!("{BASE} -- sh -c 'kill -9 $$'"));
        assert_eq!(o.status.code(), Some(128 + 9), "{}", r.who());
    });
}

#[test]
fn block_fd_holds_the_payload_until_a_byte_comes() {
    each(|r| {
        let dir = Bin::new();
        let (fifo, late) = (dir.0.join("fifo"), dir.0.join("late"));
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo of a fresh path given as a C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o666) }, 0);
        std::fs::write(&late, "").unwrap();
        for f in [&fifo, &late] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o666)).unwrap();
        }
        let (f, l) = (fifo.display(), late.display());
        let o = r.sh(&format!(
            "( sleep 0.3; echo written late > {l}; echo > {f} ) & \
             {BASE} --block-fd 3 -- cat {l} 3<>{f}; wait"
        ));
        assert_eq!(out(&o), "written late\n", "{}: {}", r.who(), all(&o));
    });
}

/// A classic BPF program refusing `uname` with EPERM and allowing the rest,
/// as the bytes `--seccomp FD` reads.
fn deny_uname_program() -> Vec<u8> {
    let insn = |code: u16, jt: u8, jf: u8, k: u32| {
        let mut v = code.to_ne_bytes().to_vec();
        v.extend([jt, jf]);
        v.extend(k.to_ne_bytes());
        v
    };
    [
        insn(0x20, 0, 0, 0),                                // ld [nr]
        insn(0x15, 0, 1, libc::SYS_uname as u32),           // jeq uname
        insn(0x06, 0, 0, 0x0005_0000 | libc::EPERM as u32), // ret ERRNO(EPERM)
        insn(0x06, 0, 0, 0x7fff_0000),                      // ret ALLOW
    ]
    .concat()
}

#[test]
fn seccomp_fd_installs_the_compiled_program() {
    each(|r| {
        let dir = Bin::new();
        let prog = dir.0.join("prog.bpf");
        std::fs::write(&prog, deny_uname_program()).unwrap();
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o644)).unwrap();
        let o = r.sh(&format!(
            "{BASE} --seccomp 3 -- sh -c 'case $(uname -s 2>/dev/null) in Linux) echo ALLOWED;; \
             *) echo REFUSED;; esac; grep Seccomp: /proc/self/status' 3<{}",
            prog.display()
        ));
        let t = out(&o);
        assert!(t.contains("REFUSED"), "{}: {}", r.who(), all(&o));
        assert!(t.contains("Seccomp:\t2"), "{}: {t}", r.who());
        let o = r.sh(&format!("{BASE} --seccomp 3 -- true 3</dev/null"));
        assert_eq!(o.status.code(), Some(1), "{}", r.who());
        assert!(all(&o).contains("is not a BPF program"), "{}", all(&o));
    });
}

#[test]
fn bind_and_ro_bind_are_nodev_dev_bind_is_not() {
    each(|r| {
        let probe = "sh -c 'echo x > /dev/null && echo OPEN || echo REFUSED'";
        for (opts, want) in [
            ("--ro-bind / /", "REFUSED"),
            ("--bind / / --tmpfs /tmp", "REFUSED"),
            ("--ro-bind / / --bind /dev /dev", "REFUSED"),
            ("--ro-bind / / --dev-bind /dev /dev", "OPEN"),
            ("--dev-bind / / --tmpfs /tmp", "OPEN"),
            ("--ro-bind / / --dev /dev", "OPEN"),
        ] {
            let o = r.sh(&format!("$BWRAP {opts} -- {probe} 2>/dev/null"));
            assert!(
                out(&o).ends_with(&format!("{want}\n")),
                "{}: {opts}: {}",
                r.who(),
                all(&o)
            );
        }
    });
}
