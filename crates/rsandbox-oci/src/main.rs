//! `rsandbox-oci`: rsandbox as an OCI runtime, with runc's command line.
//!
//! `podman --runtime /path/to/rsandbox-oci run ...` (or a `containers.conf`
//! entry) runs containers with it. See `docs/oci.md`.
//!
//! `main` parses (`cli`), opens the log (`log`) and hands the verb to
//! `commands::dispatch`; an error is logged, printed and exits 1.

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
use log::Logger;

/// The runtime-spec version implemented.
const OCI_VERSION: &str = "1.2.0";

type Res<T> = Result<T, String>;

/// While the modules move to [`error::OciError`] one group at a time, a
/// converted one's error passes through a not-yet-converted caller as its
/// message.
impl From<error::OciError> for String {
    fn from(e: error::OciError) -> String {
        e.to_string()
    }
}

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
        log.log("error", &e);
        eprintln!("rsandbox-oci: {e}");
        std::process::exit(1);
    }
}
