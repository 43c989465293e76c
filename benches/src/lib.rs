//! Shared helpers for the rsandbox benches (see `benches/spawn.rs`).
