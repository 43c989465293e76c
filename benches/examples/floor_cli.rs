//! The floor of a sandbox command line: a process that clones into the
//! strict box's seven namespaces, execs its arguments there and exits with
//! their status, with nothing else (no mounts, no cgroup, no init, no
//! filter). No sandboxing command with those namespaces can start a
//! payload faster on this machine, so `rsandbox run` and `bwrap` are read
//! against it:
//!
//! `hyperfine -N 'target/release/examples/floor_cli /bin/true' 'rsandbox run -- /bin/true'`

use rsandbox_benches::floor;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(program) = args.first() else {
        eprintln!(
            "usage: floor_cli PROGRAM (run with no arguments, in the strict box's namespaces)"
        );
        std::process::exit(2);
    };
    let exec = floor::Exec::new(program);
    floor::reap(floor::clone_child(floor::SEVEN_NAMESPACES, Some(&exec)));
}
