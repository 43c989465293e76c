//! The payload side of templates (`Sandbox::template` in Rust): a program
//! started as a template calls `sandbox_serve_forks` at its ready point.

use crate::error::{guard, out_ptr, write_out, FfiError};
use crate::sandbox_result_t;

/// Serve fork requests from the template's caller; call it once the
/// program is initialised (its ready point). In the template process it
/// does not return while the caller holds the template: when the caller
/// closes it, the template kills its forks and exits 0. In each forked
/// box it returns `SANDBOX_OK` with the fork's argument in `*arg`; stdin,
/// stdout and stderr are then the fork's own, and every layer of the
/// box's description applies (inherited from the template). Fails with
/// `SANDBOX_IO` when the program was not started as a template
/// (`RSANDBOX_TEMPLATE_FD` unset or not an open fd).
#[no_mangle]
pub extern "C" fn sandbox_serve_forks(arg: *mut u64) -> sandbox_result_t {
    guard(|| {
        let out = out_ptr(arg, "arg")?;
        let v = rsandbox::template::serve_forks().map_err(|e| {
            let mut f = FfiError::from(rsandbox::Error::io("serve_forks", None, e));
            f.message = format!("not started as a template: {}", f.message);
            f
        })?;
        write_out(out, v);
        Ok(())
    })
}
