//! Where the cgroup hierarchies are, and where the caller sits in them.
//!
//! Read from `/proc/self/mountinfo` and `/proc/self/cgroup`, with the texts
//! injectable so detection is testable on fake trees.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// `CGROUP2_SUPER_MAGIC`.
pub const CGROUP2_MAGIC: i64 = 0x6367_7270;
/// `CGROUP_SUPER_MAGIC` (v1).
pub const CGROUP1_MAGIC: i64 = 0x0027_e0eb;

/// The cgroup hierarchies of this process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// The cgroup2 mount point, if any (`/sys/fs/cgroup` on pure v2,
    /// `/sys/fs/cgroup/unified` on a hybrid).
    pub v2_mount: Option<PathBuf>,
    /// v1 controller name → mount point (e.g. `memory` →
    /// `/sys/fs/cgroup/memory`). Co-mounted controllers share a path.
    pub v1_mounts: BTreeMap<String, PathBuf>,
    /// The caller's cgroup in the v2 hierarchy (`0::/path`), absolute.
    pub v2_self: Option<PathBuf>,
    /// The caller's cgroup per v1 controller.
    pub v1_self: BTreeMap<String, PathBuf>,
}

impl Layout {
    /// Detect from this process's `/proc/self/mountinfo` and
    /// `/proc/self/cgroup`, checking each mount's filesystem magic.
    pub fn detect() -> std::io::Result<Layout> {
        let mi = std::fs::read_to_string("/proc/self/mountinfo")?;
        let cg = std::fs::read_to_string("/proc/self/cgroup")?;
        let mut l = Layout::parse(&mi, &cg, None);
        if let Some(m) = &l.v2_mount {
            if fs_magic(m) != Some(CGROUP2_MAGIC) {
                l.v2_mount = None;
            }
        }
        l.v1_mounts
            .retain(|_, p| fs_magic(p) == Some(CGROUP1_MAGIC));
        Ok(l)
    }

    /// [`detect`](Self::detect), cached per process: the mounts and the
    /// caller's place in them do not change between spawns. The cache is
    /// keyed by the pid (a forked child detects afresh) and dropped by
    /// [`invalidate_cache`] (called by
    /// [`move_self_to_leaf`](crate::cgroup::move_self_to_leaf)).
    pub fn cached() -> std::io::Result<Layout> {
        // SAFETY: trivial getter.
        let me = unsafe { libc::getpid() };
        {
            let g = CACHE.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((pid, l)) = &*g {
                if *pid == me {
                    return Ok(l.clone());
                }
            }
        }
        let l = Layout::detect()?;
        *CACHE.lock().unwrap_or_else(|p| p.into_inner()) = Some((me, l.clone()));
        Ok(l)
    }

    /// Parse the two texts. With `root`, every mount point is re-rooted under
    /// it (a fake tree in a temp dir).
    pub fn parse(mountinfo: &str, proc_self_cgroup: &str, root: Option<&Path>) -> Layout {
        let mut l = Layout::default();
        let reroot = |p: &str| -> PathBuf {
            match root {
                Some(r) => r.join(p.trim_start_matches('/')),
                None => PathBuf::from(p),
            }
        };
        for m in cgroup_mount_lines(mountinfo) {
            // Only a mount of the hierarchy's root is usable for us.
            if m.root != "/" {
                continue;
            }
            match m.fstype {
                "cgroup2" if l.v2_mount.is_none() => {
                    l.v2_mount = Some(reroot(&m.mountpoint));
                }
                "cgroup" => {
                    for opt in m.opts.split(',') {
                        let name = match opt {
                            "rw" | "ro" | "relatime" | "noexec" | "nosuid" | "nodev"
                            | "clone_children" | "xattr" => continue,
                            o if o.starts_with("release_agent=") => continue,
                            o => o.to_string(),
                        };
                        l.v1_mounts
                            .entry(name)
                            .or_insert_with(|| reroot(&m.mountpoint));
                    }
                }
                _ => {}
            }
        }
        for line in proc_self_cgroup.lines() {
            let mut it = line.splitn(3, ':');
            let (Some(_id), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            let path = PathBuf::from(path);
            if ctrls.is_empty() {
                l.v2_self = Some(path);
            } else {
                for c in ctrls.split(',') {
                    l.v1_self.insert(c.to_string(), path.clone());
                }
            }
        }
        l
    }

    /// A pure-v2 layout rooted at `mount`, the caller at `self_path`.
    pub fn pure_v2(mount: impl Into<PathBuf>, self_path: impl Into<PathBuf>) -> Layout {
        Layout {
            v2_mount: Some(mount.into()),
            v2_self: Some(self_path.into()),
            ..Layout::default()
        }
    }

    /// Whether this is a pure v2 system (no v1 controller mounted).
    pub fn is_pure_v2(&self) -> bool {
        self.v2_mount.is_some() && self.v1_mounts.is_empty()
    }

    /// The caller's v2 cgroup directory.
    pub fn v2_self_dir(&self) -> Option<PathBuf> {
        let m = self.v2_mount.as_ref()?;
        let s = self.v2_self.as_ref()?;
        Some(join_abs(m, s))
    }

    /// The caller's cgroup directory for v1 `controller`.
    pub fn v1_self_dir(&self, controller: &str) -> Option<PathBuf> {
        let m = self.v1_mounts.get(controller)?;
        let s = self
            .v1_self
            .get(controller)
            .cloned()
            .unwrap_or_else(|| "/".into());
        Some(join_abs(m, &s))
    }

    /// The controllers the v2 hierarchy offers at its root.
    pub fn v2_controllers(&self) -> Vec<String> {
        self.v2_mount
            .as_ref()
            .and_then(|m| std::fs::read_to_string(m.join("cgroup.controllers")).ok())
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default()
    }
}

/// The layout [`Layout::cached`] returns, with the pid that detected it.
static CACHE: Mutex<Option<(libc::pid_t, Layout)>> = Mutex::new(None);

/// One cgroup or cgroup2 mount of a `/proc/*/mountinfo` text.
pub(crate) struct CgroupMountLine<'a> {
    /// `cgroup` (v1) or `cgroup2`.
    pub fstype: &'a str,
    /// The directory of the hierarchy mounted (`/`: its root).
    pub root: &'a str,
    /// The mount point, octal escapes decoded.
    pub mountpoint: String,
    /// The superblock options (v1: the controllers among them).
    pub opts: &'a str,
}

/// The cgroup mounts of a mountinfo text, in order: the one parser of that
/// format for the layout, `rsandbox check` and the OCI runtime.
pub(crate) fn cgroup_mount_lines(mountinfo: &str) -> impl Iterator<Item = CgroupMountLine<'_>> {
    mountinfo.lines().filter_map(|line| {
        // id parent maj:min root mountpoint opts [optional...] - fstype src superopts
        let (pre, post) = line.split_once(" - ")?;
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 5 || post.len() < 3 || !matches!(post[0], "cgroup" | "cgroup2") {
            return None;
        }
        Some(CgroupMountLine {
            fstype: post[0],
            root: pre[3],
            mountpoint: unescape(pre[4]),
            opts: post[2],
        })
    })
}

/// Forget the cached layout (the caller moved between cgroups).
pub fn invalidate_cache() {
    *CACHE.lock().unwrap_or_else(|p| p.into_inner()) = None;
}

/// `mount` joined with the absolute cgroup path `p`.
pub(crate) fn join_abs(mount: &Path, p: &Path) -> PathBuf {
    let rel = p.strip_prefix("/").unwrap_or(p);
    if rel.as_os_str().is_empty() {
        mount.to_path_buf()
    } else {
        mount.join(rel)
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The filesystem magic of `p` (statfs).
pub fn fs_magic(p: &Path) -> Option<i64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).ok()?;
    // SAFETY: statfs fills a zeroed struct from a valid C string path.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        if libc::statfs(c.as_ptr(), &mut st) != 0 {
            return None;
        }
        Some(st.f_type as i64)
    }
}
