//! Observations folded into connections: one per source, destination, protocol and port,
//! with how often, when first and last, and what the dataplane did.

use std::collections::HashMap;

use palisade_core::Protocol;

use crate::observed::{Observation, Peer, Seen};

/// What identifies a connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// The source.
    pub src: Peer,
    /// The destination.
    pub dst: Peer,
    /// TCP, UDP or SCTP.
    pub protocol: Protocol,
    /// The destination port.
    pub port: u16,
}

/// How a connection was seen.
#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    /// Flow records of it.
    pub count: u64,
    /// The earliest record's time.
    pub first: f64,
    /// The latest record's time.
    pub last: f64,
    /// Records by what the dataplane did: allowed, denied, audit.
    pub seen: [u64; 3],
    /// An address of each end (the last seen), for ends the cluster does not name.
    pub src_ip: std::net::IpAddr,
    /// The destination's address.
    pub dst_ip: std::net::IpAddr,
}

impl Connection {
    /// Whether traffic went through at least once (allowed, or let through in audit mode).
    pub fn went_through(&self) -> bool {
        self.seen[0] + self.seen[2] > 0
    }
}

/// Connections by key.
#[derive(Clone, Debug, Default)]
pub struct Connections {
    by_key: HashMap<Key, Connection>,
    /// Records read.
    pub records: u64,
}

impl Connections {
    /// Counts one observation.
    pub fn add(&mut self, o: Observation) {
        self.records += 1;
        let key = Key {
            src: o.src,
            dst: o.dst,
            protocol: o.protocol,
            port: o.port,
        };
        let i = match o.seen {
            Seen::Allowed => 0,
            Seen::Denied => 1,
            Seen::Audit => 2,
        };
        let c = self.by_key.entry(key).or_insert(Connection {
            count: 0,
            first: o.time,
            last: o.time,
            seen: [0; 3],
            src_ip: o.src_ip,
            dst_ip: o.dst_ip,
        });
        c.count += 1;
        c.first = c.first.min(o.time);
        c.last = c.last.max(o.time);
        c.seen[i] += 1;
        c.src_ip = o.src_ip;
        c.dst_ip = o.dst_ip;
    }

    /// How many distinct connections.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether none was seen.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Every connection, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Connection)> {
        let mut v: Vec<(&Key, &Connection)> = self.by_key.iter().collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v.into_iter()
    }
}
