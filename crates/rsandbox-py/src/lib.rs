//! `rsandbox._rsandbox`: the compiled half of the Python package `rsandbox`.
//!
//! A thin layer over the core crate: argument conversion, exceptions, and
//! GIL-friendly waiting. No sandbox logic lives here; the pure-Python half
//! (`python/rsandbox`) adds `run()`, the exception classes and `asyncio`
//! support.
#![deny(unsafe_op_in_unsafe_fn)]
// Unsafe only where a raw fd is borrowed or polled (template.rs), each
// allowed where it is, with its SAFETY comment.
#![deny(unsafe_code)]

mod cgroup_stats;
mod child;
mod convert;
mod devices;
mod egress;
mod errors;
mod generated;
mod netns;
mod pool;
mod sandbox;
mod template;

use pyo3::prelude::*;

/// What this machine offers (namespaces, seccomp, Landlock ABI, cgroup
/// layout...), as the core's JSON; `rsandbox.features()` parses it.
#[pyfunction]
fn _features_json(py: Python<'_>) -> String {
    let f = py.detach(rsandbox::features::probe);
    serde_json::to_string(&f).unwrap_or_default()
}

/// The compiled module; import `rsandbox` instead.
#[pymodule]
fn _rsandbox(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<sandbox::PySandbox>()?;
    m.add_class::<netns::PyNetNs>()?;
    m.add_class::<devices::PyDeviceRule>()?;
    m.add_class::<egress::PyEgress>()?;
    m.add_class::<egress::PyViolation>()?;
    m.add_class::<egress::PyViolations>()?;
    m.add_class::<child::PyChild>()?;
    m.add_class::<child::PyOutcome>()?;
    m.add_class::<child::PyEnforcementReport>()?;
    m.add_class::<child::PyLayerReport>()?;
    m.add_class::<template::PyTemplate>()?;
    m.add_class::<template::PyForkedBox>()?;
    m.add_class::<cgroup_stats::PyCgroupStats>()?;
    m.add_class::<pool::PyPool>()?;
    m.add_function(wrap_pyfunction!(_features_json, m)?)?;
    m.add_function(wrap_pyfunction!(template::_serve_forks, m)?)?;
    m.add("UNLIMITED", rsandbox::limits::UNLIMITED)?;
    m.add("LANDLOCK_ABI", rsandbox::landlock::abi_version())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
