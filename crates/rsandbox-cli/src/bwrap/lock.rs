//! `--lock-file DEST`: bwrap holds a read lock (`fcntl`) on DEST, a path
//! in the box, for as long as the box runs, so another process can tell
//! the files are in use (Flatpak locks `/usr/.ref` of a runtime). Here the
//! rsandbox process holds it, on the host file the box shows at DEST
//! (through a bind); the lock goes when this process ends, whichever way.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use super::args::{Options, Usage};
use super::build::host_path;

/// The host files to lock, opened before the spawn (a missing one is an
/// error before anything runs).
pub fn prepare(o: &Options) -> Result<Vec<(PathBuf, File)>, Usage> {
    o.lock_files
        .iter()
        .map(|dest| {
            let host = host_path(&o.fs, dest).ok_or_else(|| {
                Usage(format!(
                    "--lock-file {}: only a path bound from the host can be locked",
                    dest.display()
                ))
            })?;
            let f = File::open(&host)
                .map_err(|e| Usage(format!("Failed to open lock file {}: {e}", dest.display())))?;
            Ok((dest.clone(), f))
        })
        .collect()
}

/// Take a read lock on each file, waiting for none (bwrap does the same:
/// a conflicting writer's lock is an error).
pub fn take(files: Vec<(PathBuf, File)>) -> Result<Vec<File>, Usage> {
    files
        .into_iter()
        .map(|(dest, f)| {
            // SAFETY: flock is plain data; zeroed is a valid value.
            let mut lk: libc::flock = unsafe { std::mem::zeroed() };
            lk.l_type = libc::F_RDLCK as libc::c_short;
            lk.l_whence = libc::SEEK_SET as libc::c_short;
            // SAFETY: fcntl on our open fd with a valid flock struct.
            if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETLK, &lk) } < 0 {
                return Err(Usage(format!(
                    "Unable to lock file {}: {}",
                    dest.display(),
                    std::io::Error::last_os_error()
                )));
            }
            Ok(f)
        })
        .collect()
}
