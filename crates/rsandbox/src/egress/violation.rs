//! Violations: every query or connection the gateway refused, kept in
//! bounded memory and handed to live listeners (iterators and callbacks).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// What was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ViolationKind {
    /// A DNS query for a name no rule allows (answered NXDOMAIN, never
    /// forwarded).
    Dns,
    /// A TCP connection to an address or name and port no rule allows.
    Connect,
    /// A TLS connection whose SNI names a host that is not allowed or not
    /// the one the box resolved (or names none).
    Tls,
    /// An HTTP request whose `Host` is not allowed or not the one the
    /// connection was made for.
    Http,
    /// A request to the proxy endpoint for a host that is not allowed.
    Proxy,
    /// A datagram (UDP, ICMP, raw) to an address other than the box's own.
    Datagram,
    /// A connection refused because the box holds too many at once.
    Limit,
}

/// One refused query or connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// When, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// What was refused.
    pub kind: ViolationKind,
    /// The name asked for, when there was one.
    pub name: Option<String>,
    /// The address asked for, when there was one.
    pub addr: Option<IpAddr>,
    /// The port, when there was one.
    pub port: Option<u16>,
    /// The pid (as seen in the box) of the process, where known.
    pub pid: Option<i32>,
    /// Why it was refused.
    pub reason: String,
}

impl Violation {
    pub(crate) fn new(kind: ViolationKind, reason: impl Into<String>) -> Violation {
        let time_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Violation {
            time_ms,
            kind,
            name: None,
            addr: None,
            port: None,
            pid: None,
            reason: reason.into(),
        }
    }
    pub(crate) fn name(mut self, n: impl Into<String>) -> Self {
        self.name = Some(n.into());
        self
    }
    pub(crate) fn addr(mut self, a: IpAddr, port: u16) -> Self {
        self.addr = Some(a);
        self.port = Some(port);
        self
    }
    pub(crate) fn port(mut self, p: u16) -> Self {
        self.port = Some(p);
        self
    }
    pub(crate) fn pid(mut self, p: Option<i32>) -> Self {
        self.pid = p;
        self
    }
}

/// Most violations kept for the outcome; later ones are counted only.
pub const MAX_KEPT: usize = 10_000;
/// Most violations queued for one live iterator that is not read.
const QUEUE: usize = 1024;

/// A callback called on a gateway thread for each violation.
pub type ViolationCallback = Box<dyn Fn(&Violation) + Send + Sync>;

#[derive(Default)]
struct Inner {
    kept: VecDeque<Violation>,
    dropped: u64,
    subscribers: Vec<SyncSender<Violation>>,
    callbacks: Vec<Arc<ViolationCallback>>,
    closed: bool,
}

/// The box's violation log (shared by the gateway threads and the
/// [`Child`](crate::Child)).
#[derive(Clone, Default)]
pub(crate) struct Log(Arc<Mutex<Inner>>);

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Log")
    }
}

impl Log {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record `v`: keep it (up to [`MAX_KEPT`]), send it to every live
    /// iterator (dropped for one whose queue is full), call every callback.
    pub fn record(&self, v: Violation) {
        let callbacks = {
            let mut g = self.lock();
            g.subscribers.retain(|s| match s.try_send(v.clone()) {
                Ok(()) | Err(TrySendError::Full(_)) => true,
                Err(TrySendError::Disconnected(_)) => false,
            });
            if g.kept.len() < MAX_KEPT {
                g.kept.push_back(v.clone());
            } else {
                g.dropped += 1;
            }
            g.callbacks.clone()
        };
        for cb in callbacks {
            cb(&v);
        }
    }

    /// Every violation kept so far.
    pub fn snapshot(&self) -> Vec<Violation> {
        self.lock().kept.iter().cloned().collect()
    }

    /// A live iterator: what was recorded so far, then each new one, until
    /// the gateway stops.
    pub fn subscribe(&self) -> Violations {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let mut g = self.lock();
        for v in g.kept.iter().take(QUEUE) {
            let _ = tx.try_send(v.clone());
        }
        if !g.closed {
            g.subscribers.push(tx);
        }
        Violations { rx }
    }

    /// Call `cb` for every violation from now on.
    pub fn on_violation(&self, cb: ViolationCallback) {
        self.lock().callbacks.push(Arc::new(cb));
    }

    /// The gateway stopped: end the live iterators.
    pub fn close(&self) {
        let mut g = self.lock();
        g.closed = true;
        g.subscribers.clear();
    }
}

/// A live stream of a box's violations ([`Child::violations`]): blocks
/// until the next one, ends when the box's gateway stops.
///
/// [`Child::violations`]: crate::Child::violations
#[derive(Debug)]
pub struct Violations {
    rx: Receiver<Violation>,
}

impl Violations {
    /// A stream that has ended (a box without egress).
    pub(crate) fn ended() -> Violations {
        let (_, rx) = std::sync::mpsc::sync_channel(0);
        Violations { rx }
    }

    /// The next violation, waiting at most `d`; `Err` tells whether the
    /// wait timed out or the stream ended.
    pub fn next_timeout(
        &mut self,
        d: std::time::Duration,
    ) -> Result<Violation, std::sync::mpsc::RecvTimeoutError> {
        self.rx.recv_timeout(d)
    }
}

impl Iterator for Violations {
    type Item = Violation;
    fn next(&mut self) -> Option<Violation> {
        self.rx.recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keeps_streams_and_calls_back() {
        let log = Log::default();
        log.record(Violation::new(ViolationKind::Dns, "first").name("a.test"));
        let mut live = log.subscribe();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        log.on_violation(Box::new(move |v| s2.lock().unwrap().push(v.reason.clone())));
        log.record(Violation::new(ViolationKind::Connect, "second"));
        log.close();
        let got: Vec<String> = live.by_ref().map(|v| v.reason).collect();
        assert_eq!(got, ["first", "second"]);
        assert_eq!(*seen.lock().unwrap(), ["second"]);
        assert_eq!(log.snapshot().len(), 2);
    }
}
