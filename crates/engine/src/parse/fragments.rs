//! Remembers the ports of fragmented IP packets: only the first fragment carries the
//! transport header, so later fragments are attributed to the flow the first one named.

use crate::Transport;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// Identifies the fragments of one IP packet (RFC 791 / RFC 8200: addresses, protocol, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub transport: Transport,
    /// IPv4 identification (16 bits) or IPv6 fragment identification (32 bits).
    pub id: u32,
}

/// A bounded table of (fragment key → source and destination port) learned from first
/// fragments. When full, the oldest entry is forgotten: a later fragment of that packet
/// then counts with port 0 (still with its addresses and protocol), never lost.
#[derive(Debug)]
pub struct FragmentTable {
    ports: HashMap<FragmentKey, (u16, u16)>,
    /// Insertion order, for evicting the oldest entry.
    order: VecDeque<FragmentKey>,
    capacity: usize,
}

impl Default for FragmentTable {
    fn default() -> Self {
        Self::with_capacity(4096)
    }
}

impl FragmentTable {
    /// A table holding at most `capacity` packets being fragmented at once.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            ports: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records the ports of the first fragment of a packet.
    pub fn remember(&mut self, key: FragmentKey, ports: (u16, u16)) {
        if self.ports.insert(key, ports).is_none() {
            self.order.push_back(key);
        }
        while self.ports.len() > self.capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.ports.remove(&oldest);
                }
                None => break,
            }
        }
        // `order` may hold keys already removed by `forget`; keep it from growing past
        // the bound by dropping them when it gets long.
        if self.order.len() > self.capacity * 2 {
            let ports = &self.ports;
            self.order.retain(|key| ports.contains_key(key));
        }
    }

    /// The ports of a later fragment; `last` forgets the packet (its final fragment).
    pub fn ports_of(&mut self, key: &FragmentKey, last: bool) -> Option<(u16, u16)> {
        if last {
            self.ports.remove(key)
        } else {
            self.ports.get(key).copied()
        }
    }

    /// Number of packets whose ports are remembered.
    pub fn len(&self) -> usize {
        self.ports.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }
}
