//! `rsandbox`: run a command in a sandbox, or check what this machine supports.
//!
//! `rsandbox run [FLAGS] -- CMD ARGS...` exits with the payload's exit code,
//! or 128+N when it was killed by signal N; `--json` prints the outcome.
//! `rsandbox bwrap ARGS...`, or this binary called as `bwrap` (a symlink),
//! takes bubblewrap's command line (see `bwrap/`). `rsandbox check
//! --verify` spawns a real box and prints what held (see `verify.rs`).

mod args;
mod bwrap;
mod verify;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Sub};

/// Whether this process was started under the name `bwrap`, or re-run by
/// a bwrap payload as `/proc/self/exe --OPTION...` (as bubblewrap's own
/// tests nest it): rsandbox itself takes no such option first.
fn called_as_bwrap(argv0: Option<&std::ffi::OsStr>, first: Option<&std::ffi::OsStr>) -> bool {
    if argv0.is_some_and(|a| a == "/proc/self/exe") {
        let own = ["--help", "-h", "--version", "-V"];
        return first.is_some_and(|f| {
            f.to_str()
                .is_some_and(|f| f.starts_with("--") && !own.contains(&f))
        });
    }
    argv0
        .map(std::path::Path::new)
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "bwrap")
}

fn main() -> ExitCode {
    let mut argv = std::env::args_os();
    let argv0 = argv.next();
    let rest: Vec<_> = argv.collect();
    if called_as_bwrap(argv0.as_deref(), rest.first().map(|a| a.as_os_str())) {
        let name = argv0.as_deref().unwrap_or_default().to_string_lossy();
        return bwrap::main(&name, rest);
    }
    if rest.first().is_some_and(|a| a == "bwrap") {
        return bwrap::main("rsandbox bwrap", rest[1..].to_vec());
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
        Sub::Check(c) if c.verify => ExitCode::from(verify::main(c.json)),
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
        Sub::Bwrap(b) => bwrap::main("rsandbox bwrap", b.args),
    }
}
