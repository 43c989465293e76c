//! The cgroup directories this test process's boxes made: what a test that
//! checks for leftovers looks for.

use std::path::{Path, PathBuf};

use rsandbox::cgroup::Layout;

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
