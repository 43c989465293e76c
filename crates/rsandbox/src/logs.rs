//! Log streaming: the payload's stdout and stderr as line streams, and
//! captured output with a size cap.
//!
//! Memory is bounded whatever the payload writes: each stream has one fixed
//! buffer of `max_line` bytes (plus a read chunk), a line longer than that
//! is delivered in pieces, and captured output keeps at most `cap` bytes per
//! stream and counts (but drops) the rest. Both pipes are polled together,
//! so a payload that floods one stream while the other stays silent cannot
//! deadlock; the sandbox's wall-clock limit is enforced while reading.

use std::io::{PipeReader, Read};
use std::os::fd::AsRawFd;
use std::time::Instant;

use crate::child::{Child, Outcome};
use crate::command::Command;
use crate::error::{Error, Result};
use crate::sandbox::Sandbox;
use crate::stdio::Stdio;

/// Default longest line delivered in one piece (64 KiB).
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// Bytes read from a pipe at a time.
const CHUNK: usize = 64 * 1024;

/// Which standard stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogStream {
    /// The payload's stdout.
    Stdout,
    /// The payload's stderr.
    Stderr,
}

/// One line (or piece of a long line), borrowed from the stream's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLine<'a> {
    /// Where it came from.
    pub stream: LogStream,
    /// The bytes, without the newline.
    pub data: &'a [u8],
    /// Whether a newline ended it. `false` for a piece of a line longer
    /// than `max_line` (the rest follows) and for a last line without one.
    pub newline: bool,
}

/// An owned [`LogLine`], as the [`Lines`] iterator yields it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Where it came from.
    pub stream: LogStream,
    /// The bytes, without the newline.
    pub data: Vec<u8>,
    /// Whether a newline ended it (see [`LogLine::newline`]).
    pub newline: bool,
}

impl Line {
    /// The line as text (invalid UTF-8 replaced).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.data)
    }
}

/// Output captured with a size cap, from [`Child::wait_with_output_capped`].
#[derive(Debug, Clone, PartialEq)]
pub struct CappedOutput {
    /// How it ended.
    pub outcome: Outcome,
    /// The first `cap` bytes of stdout.
    pub stdout: Vec<u8>,
    /// The first `cap` bytes of stderr.
    pub stderr: Vec<u8>,
    /// Whether stdout had more than `cap` bytes (the rest was dropped).
    pub stdout_truncated: bool,
    /// Whether stderr had more than `cap` bytes (the rest was dropped).
    pub stderr_truncated: bool,
    /// Total bytes the payload wrote to stdout.
    pub stdout_total: u64,
    /// Total bytes the payload wrote to stderr.
    pub stderr_total: u64,
}

/// One pipe and its line buffer.
struct StreamBuf {
    kind: LogStream,
    reader: Option<PipeReader>,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Where to resume the newline search (relative to the buffer).
    scanned: usize,
}

impl StreamBuf {
    fn new(kind: LogStream, reader: Option<PipeReader>, max_line: usize) -> StreamBuf {
        let size = if reader.is_some() {
            max_line + CHUNK
        } else {
            0
        };
        StreamBuf {
            kind,
            reader,
            buf: vec![0u8; size].into_boxed_slice(),
            start: 0,
            end: 0,
            scanned: 0,
        }
    }

    fn done(&self) -> bool {
        self.reader.is_none() && self.start == self.end
    }

    /// The next complete piece, as (start, end, newline); consumes it.
    fn next_piece(&mut self, max_line: usize) -> Option<(usize, usize, bool)> {
        let from = self.scanned.max(self.start);
        match self.buf[from..self.end].iter().position(|&b| b == b'\n') {
            Some(i) if from + i - self.start <= max_line => {
                let nl = from + i;
                let piece = (self.start, nl, true);
                self.start = nl + 1;
                self.scanned = self.start;
                return Some(piece);
            }
            // Too far: a piece of max_line first; find it again next time.
            Some(i) => self.scanned = from + i,
            None => self.scanned = self.end,
        }
        let pending = self.end - self.start;
        if pending > max_line {
            let piece = (self.start, self.start + max_line, false);
            self.start += max_line;
            return Some(piece);
        }
        if self.reader.is_none() && pending > 0 {
            let piece = (self.start, self.end, false);
            self.start = self.end;
            return Some(piece);
        }
        None
    }

    /// Read once (the pipe is readable); at EOF, drop the reader.
    fn fill(&mut self) -> Result<()> {
        if self.start > 0 && self.buf.len() - self.end < CHUNK {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.scanned -= self.start.min(self.scanned);
            self.start = 0;
        }
        let Some(r) = self.reader.as_mut() else {
            return Ok(());
        };
        loop {
            match r.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.reader = None;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("read the output pipes", None, e)),
            }
        }
    }
}

/// Poll the open pipes of `streams`, enforcing the child's deadline; returns
/// which ones are readable (or at EOF).
fn poll_ready<const N: usize>(child: &mut Child, fds: [Option<i32>; N]) -> Result<[bool; N]> {
    loop {
        let mut pfds = [libc::pollfd {
            fd: -1,
            events: libc::POLLIN,
            revents: 0,
        }; N];
        for (p, fd) in pfds.iter_mut().zip(fds) {
            p.fd = fd.unwrap_or(-1);
        }
        let ms = match child.deadline() {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                left.as_millis().min(i32::MAX as u128) as i32 + 1
            }
            None => -1,
        };
        // SAFETY: pfds is a valid array of N pollfd (fd -1 is ignored).
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), N as libc::nfds_t, ms) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::io("poll the output pipes", None, e));
        }
        if r == 0 {
            if child.deadline().is_some_and(|d| Instant::now() >= d) {
                child.on_deadline()?;
            }
            continue;
        }
        let mut ready = [false; N];
        for (r, p) in ready.iter_mut().zip(pfds) {
            *r = p.fd >= 0 && p.revents != 0;
        }
        return Ok(ready);
    }
}

/// The line splitter over both pipes.
struct Pump {
    streams: [StreamBuf; 2],
    max_line: usize,
    /// The stream to look at first next time (alternates, for fairness).
    turn: usize,
}

impl Pump {
    fn new(child: &mut Child, max_line: usize) -> Result<Pump> {
        if max_line == 0 {
            return Err(Error::invalid("max_line", "must be at least 1 byte"));
        }
        if child.stdout.is_none() && child.stderr.is_none() {
            return Err(Error::invalid(
                "stdout",
                "neither stdout nor stderr is piped: use Stdio::Pipe to stream them",
            ));
        }
        drop(child.stdin.take());
        Ok(Pump {
            streams: [
                StreamBuf::new(LogStream::Stdout, child.stdout.take(), max_line),
                StreamBuf::new(LogStream::Stderr, child.stderr.take(), max_line),
            ],
            max_line,
            turn: 0,
        })
    }

    /// The next piece as (stream index, start, end, newline); None when both
    /// streams are done.
    fn next(&mut self, child: &mut Child) -> Result<Option<(usize, usize, usize, bool)>> {
        loop {
            for k in 0..2 {
                let i = (self.turn + k) % 2;
                if let Some((s, e, nl)) = self.streams[i].next_piece(self.max_line) {
                    self.turn = (i + 1) % 2;
                    return Ok(Some((i, s, e, nl)));
                }
            }
            if self.streams.iter().all(StreamBuf::done) {
                return Ok(None);
            }
            let fds = [0, 1].map(|i| self.streams[i].reader.as_ref().map(|r| r.as_raw_fd()));
            let ready = poll_ready(child, fds)?;
            for (s, r) in self.streams.iter_mut().zip(ready) {
                if r {
                    s.fill()?;
                }
            }
        }
    }

    fn line(&self, (i, s, e, newline): (usize, usize, usize, bool)) -> LogLine<'_> {
        LogLine {
            stream: self.streams[i].kind,
            data: &self.streams[i].buf[s..e],
            newline,
        }
    }
}

/// Iterator over the lines of a child's stdout and stderr, interleaved as
/// they arrive; from [`Child::lines`]. Ends when both streams are closed;
/// then call [`Child::wait`].
pub struct Lines<'a> {
    child: &'a mut Child,
    pump: Option<Pump>,
}

impl Iterator for Lines<'_> {
    type Item = Result<Line>;

    fn next(&mut self) -> Option<Result<Line>> {
        let pump = self.pump.as_mut()?;
        match pump.next(self.child) {
            Ok(Some(p)) => {
                let l = pump.line(p);
                Some(Ok(Line {
                    stream: l.stream,
                    data: l.data.to_vec(),
                    newline: l.newline,
                }))
            }
            Ok(None) => {
                self.pump = None;
                None
            }
            Err(e) => {
                self.pump = None;
                Some(Err(e))
            }
        }
    }
}

/// Log streaming.
impl Child {
    /// Stream the piped stdout and stderr line by line to `f`, as they
    /// arrive, then wait and return the outcome. Lines longer than
    /// `max_line` bytes come in pieces; memory stays at about
    /// `2 × (max_line + 64 KiB)` whatever the payload writes. The timeout
    /// is enforced while streaming.
    pub fn stream_lines<F>(&mut self, max_line: usize, mut f: F) -> Result<Outcome>
    where
        F: FnMut(LogLine<'_>),
    {
        let mut pump = Pump::new(self, max_line)?;
        while let Some(p) = pump.next(self)? {
            f(pump.line(p));
        }
        drop(pump);
        self.wait()
    }

    /// The piped stdout and stderr as an iterator of lines (at most
    /// [`DEFAULT_MAX_LINE`] bytes each; longer lines come in pieces). Takes
    /// the pipes from the handle; call [`wait`](Self::wait) after.
    pub fn lines(&mut self) -> Result<Lines<'_>> {
        self.lines_with_max(DEFAULT_MAX_LINE)
    }

    /// [`lines`](Self::lines) with another longest piece.
    pub fn lines_with_max(&mut self, max_line: usize) -> Result<Lines<'_>> {
        let pump = Pump::new(self, max_line)?;
        Ok(Lines {
            child: self,
            pump: Some(pump),
        })
    }

    /// Like [`wait_with_output`](Self::wait_with_output), keeping at most
    /// `cap` bytes of each stream: the rest is read (so the payload never
    /// blocks) and counted, and the truncation flags say it happened.
    pub fn wait_with_output_capped(mut self, cap: usize) -> Result<CappedOutput> {
        drop(self.stdin.take());
        let mut readers = [self.stdout.take(), self.stderr.take()];
        let mut kept: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
        let mut total = [0u64; 2];
        let mut buf = vec![0u8; CHUNK];
        while readers.iter().any(Option::is_some) {
            let fds = [0, 1].map(|i| readers[i].as_ref().map(|r| r.as_raw_fd()));
            let ready = poll_ready(&mut self, fds)?;
            for i in 0..2 {
                if !ready[i] {
                    continue;
                }
                let Some(r) = readers[i].as_mut() else {
                    continue;
                };
                match r.read(&mut buf) {
                    Ok(0) => readers[i] = None,
                    Ok(n) => {
                        total[i] += n as u64;
                        let room = cap.saturating_sub(kept[i].len()).min(n);
                        kept[i].extend_from_slice(&buf[..room]);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Error::io("read the output pipes", None, e)),
                }
            }
        }
        let outcome = self.wait()?;
        let [stdout, stderr] = kept;
        Ok(CappedOutput {
            outcome,
            stdout_truncated: total[0] > stdout.len() as u64,
            stderr_truncated: total[1] > stderr.len() as u64,
            stdout,
            stderr,
            stdout_total: total[0],
            stderr_total: total[1],
        })
    }
}

/// Capped capture from the builder.
impl Sandbox {
    /// Like [`output`](Self::output), keeping at most `cap` bytes of each
    /// stream (see [`Child::wait_with_output_capped`]).
    pub fn output_capped(&self, cmd: &Command, cap: usize) -> Result<CappedOutput> {
        let mut sb = self.clone();
        sb.stdout = Stdio::Pipe;
        sb.stderr = Stdio::Pipe;
        if sb.stdin == Stdio::Inherit {
            sb.stdin = Stdio::Null;
        }
        sb.spawn(cmd)?.wait_with_output_capped(cap)
    }
}
