//! uid/gid maps for user namespaces, written by the parent.

use serde::{Deserialize, Serialize};

/// One line of `/proc/<pid>/uid_map` or `gid_map`: `inside outside count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    /// First id inside the namespace.
    pub inside: u32,
    /// First id outside (in the caller's namespace).
    pub outside: u32,
    /// How many consecutive ids.
    pub count: u32,
}

impl IdMap {
    /// A map line.
    pub fn new(inside: u32, outside: u32, count: u32) -> IdMap {
        IdMap {
            inside,
            outside,
            count,
        }
    }
}

/// Render map lines as the kernel expects them, all in one write.
pub(crate) fn render(maps: &[IdMap]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.inside, m.outside, m.count))
        .collect()
}

/// Whether an unprivileged caller may write these maps: only a single line
/// mapping exactly its own id.
pub(crate) fn is_self_only(maps: &[IdMap], own: u32) -> bool {
    maps.len() == 1 && maps[0].outside == own && maps[0].count == 1
}

/// Whether explicit map lines `maps` map the outside id `id` (no lines:
/// the default map does).
fn maps_id(maps: &[IdMap], id: u32) -> bool {
    maps.is_empty()
        || maps
            .iter()
            .any(|m| id >= m.outside && id - m.outside < m.count)
}

/// Whether explicit map lines `maps` map `id` inside.
pub(crate) fn maps_inside(maps: &[IdMap], id: u32) -> bool {
    maps.iter()
        .any(|m| id >= m.inside && id - m.inside < m.count)
}

/// The id the child becomes first in its new user namespace (see
/// `Plan::ns_root_uid`): `None` when the caller's own id `own` is mapped.
pub(crate) fn setup_id(
    user_ns: bool,
    maps: &[IdMap],
    own: u32,
    target: Option<u32>,
) -> Option<u32> {
    if !user_ns || maps_id(maps, own) {
        return None;
    }
    if maps_inside(maps, 0) {
        return Some(0);
    }
    target.filter(|t| maps_inside(maps, *t))
}
