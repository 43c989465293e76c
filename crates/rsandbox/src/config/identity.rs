//! Which host ids stand for the box's ids: plain data. The engine that
//! resolves it for a caller is [`crate::identity`].

use serde::{Deserialize, Serialize};

/// The host uid and gid an [`BoxIdentity::Unprivileged`] box gets:
/// `nobody` and `nogroup`.
pub const UNPRIVILEGED_ID: u32 = 65534;

/// Which host ids stand for the box's ids (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoxIdentity {
    /// The caller's own uid and gid (the plain builder's default).
    #[default]
    Caller,
    /// For a root caller with a user namespace and no explicit map:
    /// [`UNPRIVILEGED_ID`] (the strict preset's default). For any other
    /// caller the caller's own ids, which are already unprivileged.
    Unprivileged,
}

/// Serde: leave the default out of saved profiles.
pub(crate) fn is_caller(id: &BoxIdentity) -> bool {
    *id == BoxIdentity::Caller
}
