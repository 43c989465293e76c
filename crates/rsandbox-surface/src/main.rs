//! `cargo run -p rsandbox-surface`: render the binding table into the
//! generated files of the C and Python bindings.
//!
//! `-- --check` writes nothing and exits with 1 when a committed file
//! differs from the table (what `cargo test -p rsandbox-surface` checks).

use std::process::ExitCode;

fn main() -> ExitCode {
    let root = rsandbox_surface::workspace_root();
    let check = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--check") => true,
        Some(other) => {
            eprintln!("usage: rsandbox-surface [--check]  (unknown argument {other:?})");
            return ExitCode::from(2);
        }
    };
    let result = if check {
        rsandbox_surface::stale(&root)
    } else {
        rsandbox_surface::write(&root)
    };
    match result {
        Ok(files) if check && !files.is_empty() => {
            for f in files {
                eprintln!("{f} differs from the table: run `cargo run -p rsandbox-surface`");
            }
            ExitCode::FAILURE
        }
        Ok(files) => {
            for f in files {
                println!("wrote {f}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rsandbox-surface: {e}");
            ExitCode::FAILURE
        }
    }
}
