//! Cgroup knobs the binding table cannot render: device rules (an array of
//! `sandbox_device_rule_t`) and block I/O throttles (a `SANDBOX_IO_*`
//! kind). Cpusets, I/O weights and the v1 network controllers are generated
//! (`generated.rs`). Each setter mirrors the Rust method of the same name
//! and only records; the core checks the values at validation and the
//! host's controllers at spawn (`SANDBOX_UNSUPPORTED` where they are
//! missing, unless `sandbox_best_effort`).

use std::ffi::{c_char, c_int};

use rsandbox::cgroup::extra::IoThrottle;
use rsandbox::DeviceRule;

use crate::builder::{sandbox_t, update};
use crate::error::{array, guard, text, FfiError, FfiResult};
use crate::sandbox_result_t;

/// A device number field of `sandbox_device_rule_t`: every major or minor.
pub const SANDBOX_DEVICE_ANY: i64 = -1;

/// One device rule (see `sandbox_device_rules`), as the Rust `DeviceRule`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sandbox_device_rule_t {
    /// Allow (true) or deny (false) the access.
    pub allow: bool,
    /// 'a' (all devices: numbers and access are then ignored, the rule
    /// resets the whole list), 'b' (block) or 'c' (character).
    pub kind: c_char,
    /// Major number, or `SANDBOX_DEVICE_ANY`.
    pub major: i64,
    /// Minor number, or `SANDBOX_DEVICE_ANY`.
    pub minor: i64,
    /// A non-empty subset of "rwm" (read, write, mknod), NUL-terminated.
    pub access: *const c_char,
}

fn device_number(v: i64, name: &str) -> FfiResult<Option<u32>> {
    match v {
        SANDBOX_DEVICE_ANY => Ok(None),
        v => u32::try_from(v).map(Some).map_err(|_| {
            FfiError::arg(
                name,
                format!("{v}: use 0..=4294967295 or SANDBOX_DEVICE_ANY"),
            )
        }),
    }
}

/// Restrict which devices the box may open or create: the `n` rules at
/// `rules` are copied, appended to those given before and applied in order
/// (cgroup v1 `devices`). Begin with a deny-all rule (`{false, 'a',
/// SANDBOX_DEVICE_ANY, SANDBOX_DEVICE_ANY, "rwm"}`) for an allow list.
/// Device nodes the box makes (`sandbox_device`) need the 'm' access.
/// Needs a v1 `devices` hierarchy: on pure cgroup v2 the spawn fails with
/// `SANDBOX_UNSUPPORTED` (with `sandbox_best_effort`, the box runs and the
/// report says the rules are not enforced). A number outside u32 is
/// `SANDBOX_INVALID_ARGUMENT`; a bad kind or access string is
/// `SANDBOX_INVALID_CONFIG` at validation.
#[no_mangle]
pub extern "C" fn sandbox_device_rules(
    sb: *mut sandbox_t,
    rules: *const sandbox_device_rule_t,
    n: usize,
) -> sandbox_result_t {
    guard(|| {
        let rules = array(rules, n, "rules")?
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Ok(DeviceRule {
                    allow: r.allow,
                    kind: char::from(r.kind as u8),
                    major: device_number(r.major, &format!("rules[{i}].major"))?,
                    minor: device_number(r.minor, &format!("rules[{i}].minor"))?,
                    access: text(r.access, &format!("rules[{i}].access"))?.to_owned(),
                })
            })
            .collect::<FfiResult<Vec<_>>>()?;
        update(sb, |s| s.device_rules(rules))
    })
}

/// Which throttle of `sandbox_blkio_throttle`.
#[allow(non_camel_case_types)]
pub type sandbox_io_throttle_t = c_int;
/// Bytes per second read.
pub const SANDBOX_IO_READ_BPS: sandbox_io_throttle_t = 0;
/// Bytes per second written.
pub const SANDBOX_IO_WRITE_BPS: sandbox_io_throttle_t = 1;
/// Read operations per second.
pub const SANDBOX_IO_READ_IOPS: sandbox_io_throttle_t = 2;
/// Write operations per second.
pub const SANDBOX_IO_WRITE_IOPS: sandbox_io_throttle_t = 3;

/// Throttle the box's I/O on device `major:minor` to `rate` (bytes or
/// operations per second, by `which`: a `SANDBOX_IO_*` constant; another
/// value is `SANDBOX_INVALID_ARGUMENT`).
#[no_mangle]
pub extern "C" fn sandbox_blkio_throttle(
    sb: *mut sandbox_t,
    which: sandbox_io_throttle_t,
    major: u32,
    minor: u32,
    rate: u64,
) -> sandbox_result_t {
    guard(|| {
        let which = match which {
            SANDBOX_IO_READ_BPS => IoThrottle::ReadBps,
            SANDBOX_IO_WRITE_BPS => IoThrottle::WriteBps,
            SANDBOX_IO_READ_IOPS => IoThrottle::ReadIops,
            SANDBOX_IO_WRITE_IOPS => IoThrottle::WriteIops,
            w => return Err(FfiError::arg("which", format!("unknown value {w}"))),
        };
        update(sb, |s| s.blkio_throttle(which, major, minor, rate))
    })
}
