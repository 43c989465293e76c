//! The `--log` file: errors and warnings as text or JSON lines.

use std::io::Write;
use std::path::PathBuf;

use crate::cli::LogFormat;
use crate::state;

/// Where and how log lines are appended (nowhere without `--log`).
pub struct Logger {
    pub file: Option<PathBuf>,
    pub format: LogFormat,
}

impl Logger {
    pub fn log(&self, level: &str, msg: &str) {
        let Some(path) = &self.file else { return };
        let line = match self.format {
            LogFormat::Json => serde_json::json!({
                "level": level,
                "msg": msg,
                "time": state::now_rfc3339(),
            })
            .to_string(),
            LogFormat::Text => format!("{} {level}: {msg}", state::now_rfc3339()),
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}
