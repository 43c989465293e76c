//! `rsandbox`: run a command in a sandbox, or check what this machine supports.
//!
//! `rsandbox run [FLAGS] -- CMD ARGS...` exits with the payload's exit code,
//! or 128+N when it was killed by signal N; `--json` prints the outcome.

mod args;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Sub};

fn main() -> ExitCode {
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
    }
}
