//! Profiles as files: the whole [`Sandbox`] description in JSON or TOML.
//!
//! The schema is the serde form of `Sandbox` (see `docs/profile.md`): every
//! table rejects unknown keys, so a typo fails loudly, naming the key, instead
//! of silently loosening the box. Missing keys take their defaults, so a
//! profile only lists what differs from [`Sandbox::new`].

use std::path::Path;

use crate::error::{Error, Result};
use crate::sandbox::Sandbox;

/// The file formats a profile can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileFormat {
    /// JSON (`.json`).
    Json,
    /// TOML (`.toml`).
    Toml,
}

impl ProfileFormat {
    /// The format named by a path's extension (`.json` or `.toml`).
    pub fn from_path(path: &Path) -> Result<ProfileFormat> {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Ok(ProfileFormat::Json),
            Some(e) if e.eq_ignore_ascii_case("toml") => Ok(ProfileFormat::Toml),
            _ => Err(Error::invalid(
                "profile",
                format!(
                    "{}: the file name must end in .json or .toml",
                    path.display()
                ),
            )),
        }
    }
}

fn bad(format: &str, msg: impl std::fmt::Display) -> Error {
    Error::invalid("profile", format!("{format}: {msg}"))
}

impl Sandbox {
    /// Parse a JSON profile. Unknown keys are rejected, naming the key.
    pub fn from_json(text: &str) -> Result<Sandbox> {
        serde_json::from_str(text).map_err(|e| bad("json", e))
    }

    /// Parse a TOML profile. Unknown keys are rejected, naming the key.
    pub fn from_toml(text: &str) -> Result<Sandbox> {
        toml::from_str(text).map_err(|e| bad("toml", e.to_string().trim_end()))
    }

    /// The description as pretty-printed JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| bad("json", e))
    }

    /// The description as TOML.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| bad("toml", e))
    }

    /// Parse a profile in `format`.
    pub fn from_profile(text: &str, format: ProfileFormat) -> Result<Sandbox> {
        match format {
            ProfileFormat::Json => Sandbox::from_json(text),
            ProfileFormat::Toml => Sandbox::from_toml(text),
        }
    }

    /// Load a profile file; the format comes from the extension (`.json`,
    /// `.toml`). Errors name the file and, for a bad key, the key.
    pub fn load(path: impl AsRef<Path>) -> Result<Sandbox> {
        let path = path.as_ref();
        let format = ProfileFormat::from_path(path)?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io("read the profile", Some(path.into()), e))?;
        Sandbox::from_profile(&text, format).map_err(|e| match e {
            Error::InvalidConfig { field, reason } => Error::InvalidConfig {
                field,
                reason: format!("{}: {reason}", path.display()),
            },
            e => e,
        })
    }

    /// Write the description to a profile file; the format comes from the
    /// extension (`.json`, `.toml`).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let text = match ProfileFormat::from_path(path)? {
            ProfileFormat::Json => self.to_json()?,
            ProfileFormat::Toml => self.to_toml()?,
        };
        std::fs::write(path, text).map_err(|e| Error::io("write the profile", Some(path.into()), e))
    }
}
