//! `list`: the containers under --root.

use std::path::Path;

use super::{state_json, status};
use crate::error::{OciError, Res};
use crate::state;

pub(crate) fn list(root: &Path, format: &str, quiet: bool) -> Res<()> {
    let mut all = Vec::new();
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.flatten() {
            if let Ok(s) = state::read_state(&e.path()) {
                all.push(s);
            }
        }
    }
    all.sort_by(|a, b| a.id.cmp(&b.id));
    if quiet {
        for s in &all {
            println!("{}", s.id);
        }
    } else if format == "json" {
        let v: Vec<_> = all.iter().map(state_json).collect();
        let text = serde_json::to_string(&v).map_err(|e| OciError::json("print the list", e))?;
        println!("{text}");
    } else {
        println!(
            "{:<20} {:<8} {:<8} {:<40} CREATED",
            "ID", "PID", "STATUS", "BUNDLE"
        );
        for s in &all {
            let st = status(s);
            let pid = if st == "stopped" { 0 } else { s.pid };
            println!(
                "{:<20} {:<8} {:<8} {:<40} {}",
                s.id,
                pid,
                st,
                s.bundle.display(),
                s.created
            );
        }
    }
    Ok(())
}
