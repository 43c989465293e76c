//! Filesystem steps the binding table cannot render: device nodes (a
//! `SANDBOX_DEVICE_*` kind) and mount steps in their JSON form. The plain
//! ones (binds, tmpfs, proc, dev, files...) are generated (`generated.rs`).
//! Each setter mirrors the Rust method of the same name.

use std::ffi::{c_char, c_int};

use rsandbox::fs::{DeviceKind, MountStep};

use crate::builder::{sandbox_t, update};
use crate::error::{c_path, guard, text, FfiError};
use crate::sandbox_result_t;

/// The kind of node `sandbox_device` makes.
#[allow(non_camel_case_types)]
pub type sandbox_device_kind_t = c_int;
/// A character device.
pub const SANDBOX_DEVICE_CHAR: sandbox_device_kind_t = 0;
/// A block device.
pub const SANDBOX_DEVICE_BLOCK: sandbox_device_kind_t = 1;
/// A named pipe (major and minor are then 0).
pub const SANDBOX_DEVICE_FIFO: sandbox_device_kind_t = 2;

/// Create device node (or fifo) `dst` in the box: `kind` one of the
/// `SANDBOX_DEVICE_*` kinds (another value is `SANDBOX_INVALID_ARGUMENT`),
/// number `major:minor`, permission bits `mode` (at most 07777), owned by
/// `uid:gid` (ids in the box). Outside a user namespace it is made with
/// `mknod` (and with device rules, they must allow its 'm' access); in one,
/// the host's node is bound. `dst`: a NUL-terminated path, copied.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn sandbox_device(
    sb: *mut sandbox_t,
    dst: *const c_char,
    kind: sandbox_device_kind_t,
    major: u32,
    minor: u32,
    mode: u32,
    uid: u32,
    gid: u32,
) -> sandbox_result_t {
    guard(|| {
        let kind = match kind {
            SANDBOX_DEVICE_CHAR => DeviceKind::Char,
            SANDBOX_DEVICE_BLOCK => DeviceKind::Block,
            SANDBOX_DEVICE_FIFO => DeviceKind::Fifo,
            k => return Err(FfiError::arg("device kind", format!("unknown value {k}"))),
        };
        let dst = c_path(dst, "dst")?;
        update(sb, |s| s.device(dst, kind, major, minor, mode, uid, gid))
    })
}

/// Append one mount step given in its JSON form (the serde form of the
/// Rust `MountStep`, as in profiles: `{"type": "tmpfs", "dst": "/tmp",
/// "size": 1048576, "mode": 448}`...), for the fields no other setter takes
/// (a tmpfs's `source` and `mode`). UTF-8; a step that does not parse is
/// `SANDBOX_INVALID_CONFIG`, naming the bad field.
#[no_mangle]
pub extern "C" fn sandbox_mount_step(sb: *mut sandbox_t, json: *const c_char) -> sandbox_result_t {
    guard(|| {
        let json = text(json, "json")?;
        let step: MountStep = serde_json::from_str(json).map_err(|e| {
            FfiError::new(
                sandbox_result_t::SANDBOX_INVALID_CONFIG,
                format!("invalid mount step JSON: {e}"),
            )
        })?;
        update(sb, |s| s.mount_step(step))
    })
}
