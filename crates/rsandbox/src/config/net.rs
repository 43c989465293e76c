//! Published ports as described: where the host accepts connections and
//! the box port they reach. Plain data; [`crate::net`] serves them.

use std::net::SocketAddr;
use std::os::fd::RawFd;

use serde::{Deserialize, Serialize};

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    /// Where the host accepts connections.
    pub host: HostSide,
    /// The port on the box's loopback they are forwarded to.
    pub box_port: u16,
}

/// The host side of a published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostSide {
    /// An address bound at spawn.
    Addr(SocketAddr),
    /// A listening socket of the caller (borrowed, duplicated at spawn).
    Fd(RawFd),
}
