//! `rsandbox`: run a command in a sandbox, or check what this machine supports.
//!
//! `rsandbox run [FLAGS] -- CMD ARGS...` exits with the payload's exit code,
//! or 128+N when it was killed by signal N; `--json` prints the outcome.
//! `rsandbox bwrap ARGS...`, or this binary called as `bwrap` (a symlink),
//! takes bubblewrap's command line (see `bwrap/`).

mod args;
mod bwrap;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Sub};

/// Whether this process was started under the name `bwrap`.
fn called_as_bwrap(argv0: Option<&std::ffi::OsStr>) -> bool {
    argv0
        .map(std::path::Path::new)
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "bwrap")
}

fn main() -> ExitCode {
    let mut argv = std::env::args_os();
    let argv0 = argv.next();
    if called_as_bwrap(argv0.as_deref()) {
        return bwrap::main(argv.collect());
    }
    let rest: Vec<_> = argv.collect();
    if rest.first().is_some_and(|a| a == "bwrap") {
        return bwrap::main(rest[1..].to_vec());
    }
    let cli = Cli::parse();
    match cli.cmd {
        Sub::Run(run) => match run.execute() {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("rsandbox: {e}");
                ExitCode::from(125)
            }
        },
        Sub::Check(c) => {
            let f = rsandbox::features::probe();
            if c.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&f).expect("features serialize")
                );
            } else {
                args::print_features(&f);
            }
            ExitCode::SUCCESS
        }
        // Handled above, before clap (bwrap's grammar is not clap's).
        Sub::Bwrap(b) => bwrap::main(b.args),
    }
}
