//! `rsandbox bwrap ARGS...`, also what the binary does when called as
//! `bwrap` (through a symlink): bubblewrap's command line on the core
//! builder. See docs/bwrap.md for what is the same and what is refused.
//!
//! Usage errors and setup failures print `bwrap: MESSAGE` and exit 1, as
//! bwrap does; otherwise the exit code is the payload's (128+N when killed
//! by signal N).

mod args;
mod build;
mod lock;
mod status;

use std::ffi::OsString;
use std::os::fd::AsRawFd;
use std::process::ExitCode;

use args::{Options, Usage};

/// The version line: bubblewrap's interface, rsandbox's implementation.
const VERSION: &str = concat!(
    "bubblewrap 0.11.1 (rsandbox ",
    env!("CARGO_PKG_VERSION"),
    ")"
);

/// Whether fd is open in this process.
pub(crate) fn fd_is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only queries the descriptor table.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// The fds the payload inherits, as bwrap passes them: every fd above 2
/// open without close-on-exec, except those the options consumed or that
/// bwrap keeps to itself (`--json-status-fd`, `--info-fd`, `--block-fd`);
/// plus `--sync-fd`.
pub(crate) fn inherited_fds(o: &Options) -> Vec<i32> {
    let own = [o.json_status_fd, o.info_fd, o.block_fd];
    let mut out: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .collect()
        })
        .unwrap_or_default();
    out.retain(|&fd| {
        // SAFETY: F_GETFD only queries the descriptor table.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        fd > 2
            && flags >= 0
            && flags & libc::FD_CLOEXEC == 0
            && !o.consumed_fds.contains(&fd)
            && !own.contains(&Some(fd))
    });
    if let Some(s) = o.sync_fd {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out.sort_unstable();
    out
}

fn fail(prefix: bool, msg: &dyn std::fmt::Display) -> ExitCode {
    let p = if prefix { "<3>" } else { "" };
    eprintln!("{p}bwrap: {msg}");
    ExitCode::from(1)
}

/// Run bwrap's command line `args` (without the program name, which is
/// `name` in `--help`).
pub fn main(name: &str, args: Vec<OsString>) -> ExitCode {
    let level_prefix = args.iter().any(|a| a == "--level-prefix");
    let o = match args::parse(args) {
        Ok(o) => o,
        Err(e) => return fail(level_prefix, &e),
    };
    let warn = if o.level_prefix { "<4>" } else { "" };
    for w in &o.warnings {
        eprintln!("{warn}bwrap: {w}");
    }
    if o.help {
        print!(
            "usage: {name} [OPTIONS...] [--] COMMAND [ARGS...]\n\n{}",
            status::HELP
        );
        return ExitCode::SUCCESS;
    }
    if o.version {
        println!("{VERSION}");
        return ExitCode::SUCCESS;
    }
    match run(&o) {
        Ok(code) => ExitCode::from(code),
        Err(e) => fail(o.level_prefix, &e),
    }
}

/// `--die-with-parent` covers this process too: bwrap's caller dying
/// kills it (and with it the box, tied to it by the core).
fn die_with_parent() {
    // SAFETY: getppid and prctl with integer arguments.
    unsafe {
        let parent = libc::getppid();
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        if libc::getppid() != parent {
            libc::_exit(1);
        }
    }
}

fn run(o: &Options) -> Result<u8, Usage> {
    if o.die_with_parent {
        die_with_parent();
    }
    let built = build::build(o)?;
    let locks = lock::prepare(o)?;
    // The payload waits at a gate, set up, until the facts about it are
    // written and --block-fd has been read, as bwrap holds its child.
    let gated = o.info_fd.is_some() || o.json_status_fd.is_some() || o.block_fd.is_some();
    let gate = if gated {
        Some(std::io::pipe().map_err(|e| Usage(format!("pipe: {e}")))?)
    } else {
        None
    };
    if gated {
        // bwrap fails before reporting anything when the program is not
        // there; the gate would defer the lookup to the exec.
        built
            .sandbox
            .find_program(&built.command)
            .map_err(|e| Usage(e.to_string()))?;
    }
    let sb = match &gate {
        Some((r, _)) => built.sandbox.start_gate(r.as_raw_fd()),
        None => built.sandbox,
    };
    let mut child = sb.spawn(&built.command).map_err(|e| Usage(e.to_string()))?;
    drop(built.data_dir);
    let _held = lock::take(locks)?;
    let pid = child.pid();
    let ns = status::namespace_ids(pid, &built.reported_ns);
    if let Some(fd) = o.info_fd {
        status::write_info(fd, pid, &ns);
    }
    if let Some(fd) = o.json_status_fd {
        status::write_json(fd, &status::child_pid_json(pid, &ns));
    }
    if let Some((r, mut w)) = gate {
        drop(r);
        if let Some(fd) = o.block_fd {
            status::block_on(fd);
        }
        // One byte opens the gate (EOF would make the payload exit).
        let _ = std::io::Write::write_all(&mut w, b"x");
    }
    let outcome = child.wait().map_err(|e| Usage(e.to_string()))?;
    let code = outcome.code();
    if let Some(fd) = o.json_status_fd {
        status::write_json(fd, &format!("{{ \"exit-code\": {code} }}\n"));
    }
    Ok(code.clamp(0, 255) as u8)
}
