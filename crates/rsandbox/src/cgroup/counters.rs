//! Reading a cgroup's counter files (peaks, OOM kills, CPU time).
//!
//! They are read at every box's end, on the caller's path. A directory
//! reads them by path (an open and reads into a stack buffer, no stat), or,
//! for a box made ahead (a warm pool's), from files opened when the box was
//! made ([`Cgroup::open_counters`](super::Cgroup::open_counters)): a
//! `pread` each, without the path walk through the cgroup hierarchy.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{Dir, Kind};

/// The most a counter read takes: every counter file is shorter.
pub(crate) const SMALL: usize = 2048;

/// A directory whose counter files can be read.
pub(crate) trait Counters {
    /// The text of the file `name` in the directory, read into `buf`;
    /// `None` when it is missing or longer than `buf`.
    fn read<'a>(&self, name: &str, buf: &'a mut [u8; SMALL]) -> Option<&'a str>;
}

impl Counters for Path {
    fn read<'a>(&self, name: &str, buf: &'a mut [u8; SMALL]) -> Option<&'a str> {
        let f = File::open(self.join(name)).ok()?;
        read_all(&f, buf)
    }
}

impl Counters for Dir {
    fn read<'a>(&self, name: &str, buf: &'a mut [u8; SMALL]) -> Option<&'a str> {
        let opened = self.counters.get().into_iter().flatten();
        match opened.into_iter().find(|(n, _)| *n == name) {
            Some((_, f)) => read_all(f, buf),
            None => self.path.read(name, buf),
        }
    }
}

/// Files opened ahead, by name.
pub(crate) type Opened = Vec<(&'static str, File)>;

/// The counter files `Cgroup::stats` reads in a directory of `kind`.
pub(crate) fn names(kind: &Kind) -> &'static [&'static str] {
    match kind {
        Kind::V1("memory") => &["memory.max_usage_in_bytes", "memory.oom_control"],
        Kind::V1("pids") => &["pids.peak"],
        Kind::V1(_) => &["cpuacct.usage"],
        Kind::V2 => &["memory.peak", "memory.events", "pids.peak", "cpu.stat"],
    }
}

/// Open the counter files of `dir` that exist.
pub(crate) fn open(dir: &Path, kind: &Kind) -> Opened {
    names(kind)
        .iter()
        .filter_map(|n| File::open(dir.join(n)).ok().map(|f| (*n, f)))
        .collect()
}

/// Read a whole counter file from its start (a kernel file regenerates
/// its text at offset 0, so an opened file reads fresh values each time).
fn read_all<'a>(f: &File, buf: &'a mut [u8; SMALL]) -> Option<&'a str> {
    let mut len = 0;
    loop {
        match f.read_at(&mut buf[len..], len as u64) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
        if len == SMALL {
            return None;
        }
    }
    std::str::from_utf8(&buf[..len]).ok()
}

/// A file holding one number (`max` reads as `None`).
pub(crate) fn read_u64(dir: &(impl Counters + ?Sized), name: &str) -> Option<u64> {
    let mut buf = [0u8; SMALL];
    dir.read(name, &mut buf)?.trim().parse().ok()
}

/// The value of `key` in a flat-keyed file (`key value` lines).
pub(crate) fn read_kv(dir: &(impl Counters + ?Sized), name: &str, key: &str) -> Option<u64> {
    let mut buf = [0u8; SMALL];
    let s = dir.read(name, &mut buf)?;
    s.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}
