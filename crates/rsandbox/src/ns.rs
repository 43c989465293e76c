//! Namespace kinds and their clone flags.

use serde::{Deserialize, Serialize};

/// A Linux namespace the sandbox can create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Namespace {
    /// `CLONE_NEWUSER`: uid/gid maps and capabilities scoped to the box.
    User,
    /// `CLONE_NEWPID`: the box sees only its own processes.
    Pid,
    /// `CLONE_NEWNS`: the box's own mount table.
    Mount,
    /// `CLONE_NEWUTS`: its own hostname.
    Uts,
    /// `CLONE_NEWIPC`: its own SysV IPC and POSIX message queues.
    Ipc,
    /// `CLONE_NEWNET`: its own network stack (only `lo`).
    Net,
    /// `CLONE_NEWCGROUP`: its own view of the cgroup tree.
    Cgroup,
    /// `CLONE_NEWTIME`: its own monotonic and boot clocks.
    Time,
}

impl Namespace {
    /// Every kind, in the order they are reported.
    pub const ALL: [Namespace; 8] = [
        Namespace::User,
        Namespace::Pid,
        Namespace::Mount,
        Namespace::Uts,
        Namespace::Ipc,
        Namespace::Net,
        Namespace::Cgroup,
        Namespace::Time,
    ];

    /// The clone flag creating this namespace.
    pub fn clone_flag(self) -> u64 {
        (match self {
            Namespace::User => libc::CLONE_NEWUSER,
            Namespace::Pid => libc::CLONE_NEWPID,
            Namespace::Mount => libc::CLONE_NEWNS,
            Namespace::Uts => libc::CLONE_NEWUTS,
            Namespace::Ipc => libc::CLONE_NEWIPC,
            Namespace::Net => libc::CLONE_NEWNET,
            Namespace::Cgroup => libc::CLONE_NEWCGROUP,
            Namespace::Time => libc::CLONE_NEWTIME,
        }) as u32 as u64
    }

    /// The name used in `/proc/self/ns/` and in the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Namespace::User => "user",
            Namespace::Pid => "pid",
            Namespace::Mount => "mnt",
            Namespace::Uts => "uts",
            Namespace::Ipc => "ipc",
            Namespace::Net => "net",
            Namespace::Cgroup => "cgroup",
            Namespace::Time => "time",
        }
    }

    /// Whether this kernel offers the namespace (`/proc/self/ns/<name>` exists).
    ///
    /// Probed once per process (a kernel's namespaces do not change while
    /// it runs): spawning checks every requested namespace.
    pub fn supported(self) -> bool {
        use std::sync::atomic::{AtomicU32, Ordering};
        // Bit 2i: probed; bit 2i+1: supported.
        static PROBED: AtomicU32 = AtomicU32::new(0);
        let bit = 2 * (self.clone_flag().trailing_zeros() % 16);
        let known = PROBED.load(Ordering::Relaxed);
        if known & (1 << bit) != 0 {
            return known & (2 << bit) != 0;
        }
        // The link itself (lstat): its target would cost the kernel a
        // lookup of the namespace's nsfs inode, and the entry exists
        // exactly when the kernel has the namespace type.
        let yes =
            std::fs::symlink_metadata(std::path::Path::new("/proc/self/ns").join(self.name()))
                .is_ok();
        PROBED.fetch_or(
            (1 << bit) | (u32::from(yes) << (bit + 1)),
            Ordering::Relaxed,
        );
        yes
    }

    /// Parse a CLI name (`user`, `pid`, `mount`/`mnt`, `uts`, `ipc`, `net`, `cgroup`, `time`).
    pub fn parse(s: &str) -> Option<Namespace> {
        Some(match s {
            "user" => Namespace::User,
            "pid" => Namespace::Pid,
            "mount" | "mnt" => Namespace::Mount,
            "uts" => Namespace::Uts,
            "ipc" => Namespace::Ipc,
            "net" | "network" => Namespace::Net,
            "cgroup" => Namespace::Cgroup,
            "time" => Namespace::Time,
            _ => return None,
        })
    }
}
