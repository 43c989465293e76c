//! What the launch pipeline and the init say to each other.
//!
//! The child of the launch pipeline `execveat`s the init with
//! `argv = ["rsandbox-init", CONTROL, PROGRAM, ARGV0, ARGS...]` and the
//! payload's environment as its own: the payload's argv and environment then
//! live in the init's fresh memory, where the init's fork finds them, and
//! nothing else of the caller crosses the exec. `CONTROL` is a line of
//! `key=value` fields ([`Control`]) naming the fds the init inherited.
//!
//! Failures before the payload's `execve` are reported to the pipeline the
//! way its own child reports them: a fixed [`Record`] on the error pipe.

/// The first word of a control line, so a stray exec of the init without
/// one (or from another version) fails at once.
pub const MAGIC: &[u8] = b"rsbx-init-1";

/// `argv[0]` of the init (what `ps` shows in the box).
pub const ARGV0: &[u8] = b"rsandbox-init";

/// The init's control fields. `-1`: none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Control {
    /// Where the payload's end goes (a [`StatusRecord`]).
    pub status: i32,
    /// The error pipe (a [`Record`] before the payload's exec; EOF at it).
    pub err: i32,
    /// The start gate: the payload waits for one byte before exec.
    pub gate: i32,
    /// A memfd holding the payload's seccomp filter (`struct sock_filter`s).
    pub seccomp: i32,
    /// The published ports' connector socket (see rsandbox's `net.rs`).
    pub connector: i32,
    /// The shared timing page (a memfd), when spawn timing is on.
    pub timing: i32,
    /// Set `no_new_privs` before installing the payload's filter.
    pub no_new_privs: bool,
    /// Write the payload's pid into its `LISTEN_PID=` variable.
    pub listen_pid: bool,
    /// The gate carries the command to exec (a [`command`] message), not
    /// one byte: a warm pool's box learns its payload when it is released.
    pub command_gate: bool,
    /// Install the payload's filter before it waits at the gate, not after
    /// (the library set it when the filter lets the gate's `read`, `close`
    /// and `write` through): the released payload goes straight to exec.
    pub filter_before_gate: bool,
}

impl Default for Control {
    fn default() -> Control {
        Control {
            status: -1,
            err: -1,
            gate: -1,
            seccomp: -1,
            connector: -1,
            timing: -1,
            no_new_privs: false,
            listen_pid: false,
            command_gate: false,
            filter_before_gate: false,
        }
    }
}

/// Longest control line [`Control::encode`] writes.
pub const CONTROL_MAX: usize = 128;

impl Control {
    /// The control line, NUL-terminated, in `buf`; returns its length
    /// without the NUL. No allocation.
    pub fn encode(&self, buf: &mut [u8; CONTROL_MAX]) -> usize {
        let mut w = Writer { buf, len: 0 };
        w.put(MAGIC);
        for (key, v) in [
            (b's', self.status),
            (b'e', self.err),
            (b'g', self.gate),
            (b'f', self.seccomp),
            (b'c', self.connector),
            (b't', self.timing),
            (b'n', self.no_new_privs as i32),
            (b'l', self.listen_pid as i32),
            (b'm', self.command_gate as i32),
            (b'b', self.filter_before_gate as i32),
        ] {
            w.put(&[b' ', key, b'=']);
            w.int(v);
        }
        let n = w.len;
        buf[n] = 0;
        n
    }

    /// Parse a control line (without its NUL).
    pub fn decode(line: &[u8]) -> Option<Control> {
        let mut words = line.split(|&b| b == b' ');
        if words.next()? != MAGIC {
            return None;
        }
        let mut c = Control::default();
        for w in words {
            let [key, b'=', num @ ..] = w else {
                return None;
            };
            let v = parse_int(num)?;
            match key {
                b's' => c.status = v,
                b'e' => c.err = v,
                b'g' => c.gate = v,
                b'f' => c.seccomp = v,
                b'c' => c.connector = v,
                b't' => c.timing = v,
                b'n' => c.no_new_privs = v != 0,
                b'l' => c.listen_pid = v != 0,
                b'm' => c.command_gate = v != 0,
                b'b' => c.filter_before_gate = v != 0,
                _ => return None,
            }
        }
        Some(c)
    }
}

struct Writer<'a> {
    buf: &'a mut [u8; CONTROL_MAX],
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, s: &[u8]) {
        for &b in s {
            // Leave room for the NUL; the fields fit by construction.
            if self.len + 1 < CONTROL_MAX {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
    }

    fn int(&mut self, v: i32) {
        if v < 0 {
            self.put(b"-");
        }
        let mut digits = [0u8; 10];
        self.put(format_u32(v.unsigned_abs(), &mut digits));
    }
}

/// The decimal digits of `v`, in `buf`.
pub fn format_u32(mut v: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

fn parse_int(s: &[u8]) -> Option<i32> {
    let (neg, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 10 {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(d - b'0');
    }
    let v = if neg { -v } else { v };
    i32::try_from(v).ok()
}

/// The error record written on the error pipe: rsandbox's `ChildError`
/// (`repr(C)`: stage, detail, errno).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// A stage number ([`STAGE_NO_NEW_PRIVS`] ...).
    pub stage: u32,
    /// Stage-specific detail.
    pub detail: u32,
    /// The errno.
    pub errno: i32,
}

/// rsandbox's `Stage::NoNewPrivs`.
pub const STAGE_NO_NEW_PRIVS: u32 = 15;
/// rsandbox's `Stage::Seccomp`.
pub const STAGE_SECCOMP: u32 = 17;
/// rsandbox's `Stage::InitFork`.
pub const STAGE_INIT_FORK: u32 = 18;
/// rsandbox's `Stage::Signals`.
pub const STAGE_SIGNALS: u32 = 19;
/// rsandbox's `Stage::Exec`.
pub const STAGE_EXEC: u32 = 20;
/// rsandbox's `Stage::Init`: the init could not start (exec or its own
/// set-up; the detail says which step).
pub const STAGE_INIT: u32 = 25;

/// Details of [`STAGE_INIT`] the init itself reports.
pub mod init_detail {
    /// The control line is missing or malformed.
    pub const CONTROL: u32 = 1;
    /// Reading the payload's seccomp filter from its memfd.
    pub const READ_FILTER: u32 = 2;
    /// `signalfd` for the forwarded signals.
    pub const SIGNALFD: u32 = 3;
    /// Mapping the timing page.
    pub const TIMING: u32 = 4;
}

/// Exit code of an init that failed before the payload ran (the record on
/// the error pipe says why).
pub const SETUP_FAILED: i32 = 127;

/// The init's own exit code for a payload wait status: the payload's exit
/// code, or 128 + the signal that killed it (as shells report it). The
/// pipeline checks the reported status against it (a payload that could write
/// the status pipe must not be able to forge its outcome).
pub fn exit_code_for(wait_status: i32) -> i32 {
    let sig = wait_status & 0x7f;
    if sig == 0 {
        (wait_status >> 8) & 0xff
    } else {
        128 + sig
    }
}

/// The init's report of the payload's end, written once to the status pipe
/// right after the init reaps it, before the init exits: its wait status and
/// its resource usage (`wait4`'s, the payload and the children it waited
/// for). A caller may take the payload's outcome from it without waiting
/// for the init's own exit, which tears down the box's namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusRecord {
    /// The payload's wait status, as `wait4` gave it.
    pub wait_status: i32,
    /// User CPU time, microseconds.
    pub user_us: u64,
    /// System CPU time, microseconds.
    pub system_us: u64,
    /// Peak resident set size, KiB.
    pub max_rss_kib: u64,
}

/// Bytes of an encoded [`StatusRecord`] (under `PIPE_BUF`: one atomic write).
pub const STATUS_LEN: usize = 28;

impl StatusRecord {
    /// From `wait4`'s status and `struct rusage` (as its first five longs:
    /// `ru_utime`, `ru_stime` as seconds and microseconds, `ru_maxrss`).
    pub fn from_rusage(wait_status: i32, ru: &[i64; 5]) -> StatusRecord {
        let us = |s: i64, u: i64| (s.max(0) as u64) * 1_000_000 + u.max(0) as u64;
        StatusRecord {
            wait_status,
            user_us: us(ru[0], ru[1]),
            system_us: us(ru[2], ru[3]),
            max_rss_kib: ru[4].max(0) as u64,
        }
    }

    /// Native-endian fields, in declaration order.
    pub fn encode(&self) -> [u8; STATUS_LEN] {
        let mut b = [0u8; STATUS_LEN];
        b[..4].copy_from_slice(&self.wait_status.to_ne_bytes());
        b[4..12].copy_from_slice(&self.user_us.to_ne_bytes());
        b[12..20].copy_from_slice(&self.system_us.to_ne_bytes());
        b[20..28].copy_from_slice(&self.max_rss_kib.to_ne_bytes());
        b
    }

    /// A whole record, or `None` for anything else (EOF before it: the init
    /// was killed before the payload ended).
    pub fn decode(b: &[u8]) -> Option<StatusRecord> {
        if b.len() != STATUS_LEN {
            return None;
        }
        let u = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i..i + 8]);
            u64::from_ne_bytes(w)
        };
        let mut s = [0u8; 4];
        s.copy_from_slice(&b[..4]);
        Some(StatusRecord {
            wait_status: i32::from_ne_bytes(s),
            user_us: u(4),
            system_us: u(12),
            max_rss_kib: u(20),
        })
    }
}

/// Signals the init forwards to the payload.
pub const FORWARDED: [i32; 6] = [15, 2, 1, 3, 10, 12]; // TERM INT HUP QUIT USR1 USR2

/// Slots of the shared timing page (rsandbox's `Mark`) the init writes.
pub mod timing_slot {
    /// The init runs and has forked the payload.
    pub const INIT: usize = 10;
    /// The payload's signals and seccomp filter are set, right before exec.
    pub const SECCOMP: usize = 11;
}

pub mod command;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_round_trips() {
        let c = Control {
            status: 5,
            err: 1_000_000,
            gate: -1,
            seccomp: 2_147_483_647,
            connector: 0,
            timing: -1,
            no_new_privs: true,
            listen_pid: false,
            command_gate: true,
            filter_before_gate: true,
        };
        let mut buf = [0u8; CONTROL_MAX];
        let n = c.encode(&mut buf);
        assert_eq!(buf[n], 0);
        assert_eq!(Control::decode(&buf[..n]), Some(c));
    }

    #[test]
    fn bad_control_lines_are_refused() {
        for line in [
            &b""[..],
            b"rsbx-init-0 s=1",
            b"rsbx-init-1 s=",
            b"rsbx-init-1 s=1x",
            b"rsbx-init-1 z=1",
            b"rsbx-init-1 s=99999999999",
            b"rsbx-init-1 s1",
        ] {
            assert_eq!(
                Control::decode(line),
                None,
                "{:?}",
                std::str::from_utf8(line)
            );
        }
    }

    #[test]
    fn status_records_round_trip() {
        let r = StatusRecord::from_rusage(3 << 8, &[2, 500, 0, 7, 1024]);
        assert_eq!(r.user_us, 2_000_500);
        assert_eq!(r.system_us, 7);
        assert_eq!(r.max_rss_kib, 1024);
        assert_eq!(StatusRecord::decode(&r.encode()), Some(r));
        assert_eq!(StatusRecord::decode(&r.encode()[..4]), None);
    }

    #[test]
    fn exit_codes_mirror_the_wait_status() {
        assert_eq!(exit_code_for(0), 0);
        assert_eq!(exit_code_for(3 << 8), 3);
        assert_eq!(exit_code_for(9), 137);
        assert_eq!(exit_code_for(15 | 0x80), 143); // core dumped
    }
}
