//! The cgroup directories this test process's boxes made: what a test that
//! checks for leftovers looks for; and where those boxes may make them.
// Each test binary that includes this uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rsandbox::cgroup::Layout;
use rsandbox::Sandbox;

/// Every `rsandbox-<our pid>-*` directory in every cgroup hierarchy.
pub fn our_cgroup_dirs() -> Vec<PathBuf> {
    let prefix = format!("rsandbox-{}-", std::process::id());
    let mut found = Vec::new();
    let l = Layout::detect().unwrap();
    let mut roots: Vec<PathBuf> = l.v1_mounts.values().cloned().collect();
    roots.extend(l.v2_mount.clone());
    roots.sort();
    roots.dedup();
    fn walk(dir: &Path, prefix: &str, found: &mut Vec<PathBuf>, depth: usize) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(prefix) {
                found.push(e.path());
            } else if depth < 4 {
                walk(&e.path(), prefix, found, depth + 1);
            }
        }
    }
    for r in roots {
        walk(&r, &prefix, &mut found, 0);
    }
    found
}

/// `sb` with its box cgroups where this run may make them: the parent in
/// `RSBX_BOX_PARENT` when set (the pure-v2 VM sets `/boxes`, an empty
/// cgroup its init made: there the run's own cgroup holds the test
/// process, and the kernel's no-internal-processes rule refuses children
/// with controllers under it, as `vm_no_internal_processes_rule_is_a_clear_error`
/// checks), else the default parent.
pub fn where_boxes_may_go(sb: Sandbox) -> Sandbox {
    match std::env::var_os("RSBX_BOX_PARENT") {
        Some(p) => sb.cgroup_parent(p),
        None => sb,
    }
}
