//! The description of a box's privileges: capability names and sets, the
//! keep list, no_new_privs. Plain data; the engine that applies it is
//! [`crate::caps`].

use serde::{Deserialize, Serialize};

/// Capability names, indexed by number (linux/capability.h).
pub const CAP_NAMES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The securebits set and locked: NOROOT, NO_SETUID_FIXUP, KEEP_CAPS (off)
/// and NO_CAP_AMBIENT_RAISE, each with its lock.
pub const LOCKED_SECUREBITS: libc::c_ulong = (1 << 0) // SECBIT_NOROOT
    | (1 << 1) // SECBIT_NOROOT_LOCKED
    | (1 << 2) // SECBIT_NO_SETUID_FIXUP
    | (1 << 3) // SECBIT_NO_SETUID_FIXUP_LOCKED
    | (1 << 5) // SECBIT_KEEP_CAPS_LOCKED
    | (1 << 6) // SECBIT_NO_CAP_AMBIENT_RAISE
    | (1 << 7); // SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED

/// Parse a capability name: `CAP_NET_RAW`, `net_raw`, case-insensitive.
pub fn parse_cap(name: &str) -> Option<u32> {
    let up = name.trim().to_ascii_uppercase();
    let full = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    CAP_NAMES.iter().position(|n| *n == full).map(|i| i as u32)
}

/// The highest capability this kernel knows (`/proc/sys/kernel/cap_last_cap`).
///
/// Read once per process: it is fixed for the life of the kernel, and
/// every spawn that drops capabilities needs it.
pub fn cap_last_cap() -> u32 {
    static LAST: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(CAP_NAMES.len() as u32 - 1)
    })
}

/// One of a process's five capability sets (capabilities(7)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapSet {
    /// What the process and its descendants can ever gain at exec.
    Bounding,
    /// What the kernel checks now.
    Effective,
    /// What the process may make effective.
    Permitted,
    /// What may be kept across exec (with file capabilities or ambient).
    Inheritable,
    /// What a non-root process keeps across exec of an ordinary program.
    Ambient,
}

impl CapSet {
    /// The five sets.
    pub const ALL: [CapSet; 5] = [
        CapSet::Bounding,
        CapSet::Effective,
        CapSet::Permitted,
        CapSet::Inheritable,
        CapSet::Ambient,
    ];

    /// Its name (`bounding`, `effective`, ...).
    pub fn name(self) -> &'static str {
        match self {
            CapSet::Bounding => "bounding",
            CapSet::Effective => "effective",
            CapSet::Permitted => "permitted",
            CapSet::Inheritable => "inheritable",
            CapSet::Ambient => "ambient",
        }
    }
}

/// The five capability sets given explicitly (see [`Sandbox::cap_set`](crate::Sandbox::cap_set));
/// a set not given is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CapSets {
    pub(crate) bounding: Vec<String>,
    pub(crate) effective: Vec<String>,
    pub(crate) permitted: Vec<String>,
    pub(crate) inheritable: Vec<String>,
    pub(crate) ambient: Vec<String>,
}

impl CapSets {
    /// The names given for `set`.
    pub fn get(&self, set: CapSet) -> &[String] {
        match set {
            CapSet::Bounding => &self.bounding,
            CapSet::Effective => &self.effective,
            CapSet::Permitted => &self.permitted,
            CapSet::Inheritable => &self.inheritable,
            CapSet::Ambient => &self.ambient,
        }
    }

    pub(crate) fn get_mut(&mut self, set: CapSet) -> &mut Vec<String> {
        match set {
            CapSet::Bounding => &mut self.bounding,
            CapSet::Effective => &mut self.effective,
            CapSet::Permitted => &mut self.permitted,
            CapSet::Inheritable => &mut self.inheritable,
            CapSet::Ambient => &mut self.ambient,
        }
    }
}

/// Privilege configuration of a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CapsConfig {
    /// Drop every capability not in `keep` (or not in `sets`), and lock
    /// securebits (not with `sets`).
    pub(crate) drop: bool,
    /// Capabilities kept (names as given).
    pub(crate) keep: Vec<String>,
    /// The five sets given one by one (replaces `keep`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sets: Option<CapSets>,
    /// `Some(true)`: set no_new_privs. `None`: set it only when seccomp or
    /// Landlock need it. `Some(false)`: never (seccomp and Landlock then need
    /// `CAP_SYS_ADMIN`).
    pub(crate) no_new_privs: Option<bool>,
    /// Apply what the privileges allow instead of failing.
    pub(crate) best_effort: bool,
}

impl CapsConfig {
    /// Whether the box ends with no capability at all (`drop_caps` with
    /// nothing kept, no sets given one by one).
    pub(crate) fn drops_all(&self) -> bool {
        self.drop && self.keep.is_empty() && self.sets.is_none()
    }

    /// Whether the payload may hold capability `cap` (a `CAP_*` number):
    /// nothing dropped, or `cap` named explicitly.
    pub(crate) fn may_hold(&self, cap: u32) -> bool {
        (!self.drop && self.sets.is_none()) || self.names(cap)
    }

    /// Whether `cap` is named in the keep list or in any of the sets given
    /// one by one (kept whatever the payload's uid: ambient).
    pub(crate) fn names(&self, cap: u32) -> bool {
        let named = |names: &[String]| names.iter().any(|n| parse_cap(n) == Some(cap));
        match &self.sets {
            Some(s) => [
                &s.bounding,
                &s.effective,
                &s.permitted,
                &s.inheritable,
                &s.ambient,
            ]
            .iter()
            .any(|v| named(v)),
            None => named(&self.keep),
        }
    }
}

impl CapsConfig {
    /// The sets given with [`Sandbox::cap_set`](crate::Sandbox::cap_set), if any.
    pub fn sets(&self) -> Option<&CapSets> {
        self.sets.as_ref()
    }
    /// The names given to [`Sandbox::keep_caps`](crate::Sandbox::keep_caps).
    pub fn keep(&self) -> &[String] {
        &self.keep
    }
    /// The capabilities the payload may hold at most once they are
    /// dropped: the keep list, or the bounding set given with
    /// [`Sandbox::cap_set`](crate::Sandbox::cap_set) (what Docker decides a profile's
    /// capability-gated seccomp entries against).
    pub fn kept(&self) -> &[String] {
        match &self.sets {
            Some(sets) => &sets.bounding,
            None => &self.keep,
        }
    }
}
