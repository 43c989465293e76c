//! `rsandbox.CgroupStats`: what a forked box's own cgroup saw (a template
//! with cgroup limits gives each fork one), read when the fork is waited
//! for. A spawned box's figures are on its `Outcome` instead.

use pyo3::prelude::*;
use rsandbox::cgroup::CgroupStats;

/// What a fork's cgroup saw: each figure `None` when not measured.
#[pyclass(name = "CgroupStats", module = "rsandbox._rsandbox", frozen)]
pub(crate) struct PyCgroupStats {
    pub(crate) inner: CgroupStats,
}

#[pymethods]
impl PyCgroupStats {
    /// Peak memory of the cgroup in bytes.
    #[getter]
    fn memory_peak(&self) -> Option<u64> {
        self.inner.memory_peak
    }
    /// Processes the OOM killer killed in the cgroup.
    #[getter]
    fn oom_kills(&self) -> Option<u64> {
        self.inner.oom_kills
    }
    /// CPU seconds of the whole cgroup.
    #[getter]
    fn cpu_time(&self) -> Option<f64> {
        self.inner.cpu_time.map(|d| d.as_secs_f64())
    }
    /// Peak number of processes in the cgroup.
    #[getter]
    fn pids_peak(&self) -> Option<u64> {
        self.inner.pids_peak
    }

    fn __repr__(&self) -> String {
        let s = &self.inner;
        format!(
            "CgroupStats(memory_peak={}, oom_kills={}, cpu_time={}, pids_peak={})",
            py_repr(s.memory_peak),
            py_repr(s.oom_kills),
            py_repr(s.cpu_time.map(|d| d.as_secs_f64())),
            py_repr(s.pids_peak)
        )
    }
}

/// A figure as Python shows it: the number, or `None`.
fn py_repr(v: Option<impl std::fmt::Display>) -> String {
    v.map_or_else(|| "None".to_string(), |v| v.to_string())
}
