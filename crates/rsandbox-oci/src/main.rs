//! `rsandbox-oci`: rsandbox as an OCI runtime, with runc's command line.
//!
//! `podman --runtime /path/to/rsandbox-oci run ...` (or a `containers.conf`
//! entry) runs containers with it. See `docs/oci.md`.
//!
//! `main` parses (`cli`), opens the log (`log`) and hands the verb to
//! `commands::dispatch`; an error ([`error::OciError`]) is logged, printed
//! and exits 1.

mod cgroup_path;
mod cgroups;
mod cli;
mod commands;
mod devices;
mod error;
mod hooks;
mod log;
mod lsm;
mod pidfile;
mod sealed_exe;
mod spec;
mod state;
mod target;
mod timing;
mod tty;

use clap::Parser;

use cli::Cli;
use error::Res;
use log::Logger;

/// The runtime-spec version implemented.
const OCI_VERSION: &str = "1.2.0";

fn main() {
    timing::init();
    let cli = Cli::parse();
    timing::mark("parse arguments");
    let log = Logger {
        file: cli.log.clone(),
        format: cli.log_format,
    };
    let result = commands::dispatch(&cli, &log);
    timing::report(cli.cmd.name());
    if let Err(e) = result {
        log.log("error", &e.to_string());
        eprintln!("rsandbox-oci: {e}");
        std::process::exit(1);
    }
}
