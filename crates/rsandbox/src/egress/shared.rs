//! What the gateway's threads share for one box: the rules and secrets in
//! force (updated live), the violation log, the fake-address table and the
//! connection slots. The gateway ([`super::gateway`]) starts the threads;
//! the connection handlers ([`super::conn`]) read this.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::dns::{self, Decision, FakeTable, Resolver};
use super::policy::{EgressPolicy, Rules};
use super::tls::BoxCa;
use super::violation::{Log, Violation};
use super::Placeholder;

/// Most connections (captured, proxied, DNS over TCP) a box holds at once.
pub(crate) const MAX_CONNS: usize = 256;

/// Where a captured connection was going.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The name it was made for (a fake address, or a proxy request).
    pub name: Option<String>,
    pub ip: Option<IpAddr>,
    pub port: u16,
    /// The calling thread in the caller's pid namespace, when known (its
    /// pid in the box is looked up only for a violation).
    pub tid: Option<u32>,
}

/// What every gateway thread shares.
pub(crate) struct Shared {
    pub rules: RwLock<Arc<Rules>>,
    /// Secrets in force: placeholder, host, header, value.
    pub secrets: RwLock<Vec<Placeholder>>,
    pub fake: Mutex<FakeTable>,
    pub resolver: Resolver,
    /// Captured connections not yet accepted, by the box-side local address.
    pub(crate) captured: Mutex<HashMap<SocketAddr, Target>>,
    /// Signalled when a capture is noted.
    pub(crate) noted: std::sync::Condvar,
    pub log: Log,
    pub conns: AtomicUsize,
    pub(crate) lookups: AtomicUsize,
    pub ca: Option<BoxCa>,
    /// The capture listeners' addresses in the box.
    pub(crate) capture4: Mutex<Option<SocketAddr>>,
    pub(crate) capture6: Mutex<Option<SocketAddr>>,
}

impl Shared {
    pub fn new(
        rules: Rules,
        policy: &EgressPolicy,
        secrets: Vec<Placeholder>,
        ca: Option<BoxCa>,
    ) -> Shared {
        let upstream = match policy.resolver {
            Some(s) => dns::Upstream::Server(s),
            None => dns::Upstream::System,
        };
        Shared {
            rules: RwLock::new(Arc::new(rules)),
            secrets: RwLock::new(secrets),
            fake: Mutex::new(FakeTable::default()),
            resolver: Resolver::new(upstream),
            captured: Mutex::new(HashMap::new()),
            noted: std::sync::Condvar::new(),
            log: Log::default(),
            conns: AtomicUsize::new(0),
            lookups: AtomicUsize::new(0),
            ca,
            capture4: Mutex::new(None),
            capture6: Mutex::new(None),
        }
    }

    pub fn rules(&self) -> Arc<Rules> {
        self.rules.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn record(&self, v: Violation) {
        self.log.record(v);
    }

    /// The DNS decision for `name`.
    pub(crate) fn decide(&self, name: &str) -> Decision {
        if !self.rules().name_allowed(name) {
            return Decision::Denied(name.to_string());
        }
        if self.resolver.lookup(name).is_empty() {
            return Decision::Missing;
        }
        let ip = self
            .fake
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .address(name);
        Decision::Fake(ip)
    }

    /// Note where the captured connection from `local` is going.
    pub(crate) fn note_capture(&self, local: SocketAddr, t: Target) {
        self.captured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(local, t);
        self.noted.notify_all();
    }

    /// Where the captured connection from `local` is going, waiting a
    /// little for the note: the connect's answer follows the connect, and
    /// the accept may come first. `None` for a connection nobody noted
    /// (someone connected to the capture port directly).
    pub fn take_capture(&self, local: SocketAddr) -> Option<Target> {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut g = self.captured.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(t) = g.remove(&local) {
                return Some(t);
            }
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            g = self
                .noted
                .wait_timeout(g, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Take a connection slot; `None` when the box holds too many.
    pub fn slot(self: &Arc<Self>) -> Option<Slot> {
        if self.conns.fetch_add(1, Ordering::AcqRel) >= MAX_CONNS {
            self.conns.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(self.clone()))
    }
}

/// A held connection slot, given back on drop.
pub(crate) struct Slot(Arc<Shared>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.conns.fetch_sub(1, Ordering::AcqRel);
    }
}
