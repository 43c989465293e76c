//! What bwrap tells its caller: `--info-fd` and `--json-status-fd`
//! documents (same keys and layout as bubblewrap's), and `--help`.

use std::os::unix::fs::MetadataExt;

/// `--help`, after the usage line.
pub const HELP: &str = "\
bubblewrap's options, run by rsandbox (see docs/bwrap.md):
    --help --version --args FD --argv0 VALUE --level-prefix
    --unshare-all --share-net --unshare-user --unshare-user-try --unshare-ipc
    --unshare-pid --unshare-net --unshare-uts --unshare-cgroup --unshare-cgroup-try
    --uid UID --gid GID --hostname NAME --chdir DIR
    --clearenv --setenv VAR VALUE --unsetenv VAR --sync-fd FD
    --bind SRC DEST --bind-try SRC DEST --dev-bind SRC DEST --dev-bind-try SRC DEST
    --ro-bind SRC DEST --ro-bind-try SRC DEST --remount-ro DEST
    --bind-fd FD DEST --ro-bind-fd FD DEST
    --overlay-src SRC --overlay RWSRC WORKDIR DEST --tmp-overlay DEST --ro-overlay DEST
    --proc DEST --dev DEST --tmpfs DEST --mqueue DEST --dir DEST --symlink SRC DEST
    --file FD DEST --bind-data FD DEST --ro-bind-data FD DEST --chmod OCTAL PATH
    --perms OCTAL --size BYTES
    --block-fd FD --info-fd FD --json-status-fd FD --seccomp FD --add-seccomp-fd FD (one program)
    --new-session --die-with-parent --as-pid-1 --cap-add CAP --cap-drop CAP --lock-file DEST
    --disable-userns --assert-userns-disabled
Refused with an error: --userns --userns2 --pidns --userns-block-fd --exec-label --file-label
";

/// The ids of the box's namespaces `names` (bwrap's order: cgroup, ipc,
/// mnt, net, pid, uts), read from `/proc/PID/ns`.
pub fn namespace_ids(pid: i32, names: &[&'static str]) -> Vec<(&'static str, u64)> {
    names
        .iter()
        .filter_map(|n| {
            let m = std::fs::metadata(format!("/proc/{pid}/ns/{n}")).ok()?;
            Some((*n, m.ino()))
        })
        .collect()
}

/// `{ "child-pid": N, "mnt-namespace": N, ... }` on one line.
pub fn child_pid_json(pid: i32, ns: &[(&str, u64)]) -> String {
    let mut s = format!("{{ \"child-pid\": {pid}");
    for (n, id) in ns {
        s.push_str(&format!(", \"{n}-namespace\": {id}"));
    }
    s.push_str(" }\n");
    s
}

/// `--info-fd`: the same facts, one per line, then the fd is closed.
pub fn write_info(fd: i32, pid: i32, ns: &[(&str, u64)]) {
    let mut s = format!("{{\n    \"child-pid\": {pid}");
    for (n, id) in ns {
        s.push_str(&format!(",\n    \"{n}-namespace\": {id}"));
    }
    s.push_str("\n}\n");
    write_json(fd, &s);
    // SAFETY: the fd was given to us to write this document and close.
    unsafe { libc::close(fd) };
}

/// `--block-fd`: wait until one byte can be read from the caller's fd (or
/// it reaches end of file), as bwrap does before running the payload.
pub fn block_on(fd: i32) {
    let mut b = [0u8; 1];
    loop {
        // SAFETY: read into a one-byte stack buffer from the caller's fd.
        let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) };
        if n >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// Write `doc` to the caller's fd (not closed; errors ignored, as the
/// reader may have gone).
pub fn write_json(fd: i32, doc: &str) {
    let _ = rsandbox::sys::write_all(fd, doc.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_status_has_bwraps_layout() {
        let s = child_pid_json(42, &[("mnt", 7), ("pid", 9)]);
        assert_eq!(
            s,
            "{ \"child-pid\": 42, \"mnt-namespace\": 7, \"pid-namespace\": 9 }\n"
        );
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["child-pid"], 42);
    }
}
