//! Hosts: per remote host (its name from DNS, else its address), the bytes each way, the
//! rates and the processes that talked to it, since the capture started (or the last
//! reset). Fed once per interval from the flows' interval bytes, so it costs nothing per
//! packet.
//!
//! ```text
//! end_interval: each flow side with an owner and bytes this interval
//!   ─► remote address ─► name the owner looked up (names/, else the latest) ─► HostTable
//! ```
//!
//! The remote end is the flow's other end, as in a process's connections: for traffic
//! between two local processes each sees the other's address as its host. Traffic of flows
//! with no owner on either side is not in any host (it is in the unattributed buckets).
//!
//! Bounded: at most [`MAX_HOSTS`] hosts; past it the least recently active ones (the
//! smallest first among equals) are dropped and counted ([`HostTable::dropped`]): a scan of
//! a whole address range must not grow the table, and the hosts that matter are the busy
//! and recent ones. Each host keeps at most [`MAX_HOST_ADDRESSES`] addresses and
//! [`MAX_HOST_PIDS`] pids (the first seen).

use super::flows::Traffic;
use crate::owner::Pid;
use crate::snapshot::HostStats;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, Mutex};
use std::thread::ThreadId;

/// Most hosts kept.
pub const MAX_HOSTS: usize = 4096;
/// Most addresses listed for one host name.
pub const MAX_HOST_ADDRESSES: usize = 16;
/// Most pids listed for one host.
pub const MAX_HOST_PIDS: usize = 64;

/// What identifies a host: its name when one is known for the address, else the address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostKey {
    Name(Arc<str>),
    Address(IpAddr),
}

#[derive(Debug, Clone, Default)]
struct HostEntry {
    addresses: Vec<IpAddr>,
    sent: Traffic,
    received: Traffic,
    /// Ascending.
    pids: Vec<Pid>,
    /// Number of the last interval with traffic (for eviction).
    active: u64,
}

/// The hosts table. See the module documentation.
#[derive(Debug, Default)]
pub struct HostTable {
    hosts: HashMap<HostKey, HostEntry, foldhash::quality::RandomState>,
    /// Number of the interval under way.
    interval: u64,
    dropped: u64,
}

impl HostTable {
    /// Adds what `pid` sent to and received from `addr` (named `key`) this interval.
    pub fn add(&mut self, key: HostKey, addr: IpAddr, pid: Pid, sent: u64, received: u64) {
        let entry = self.hosts.entry(key).or_default();
        entry.sent.add(sent, 0);
        entry.received.add(received, 0);
        entry.active = self.interval;
        if !entry.addresses.contains(&addr) && entry.addresses.len() < MAX_HOST_ADDRESSES {
            entry.addresses.push(addr);
        }
        if let Err(at) = entry.pids.binary_search(&pid) {
            if entry.pids.len() < MAX_HOST_PIDS {
                entry.pids.insert(at, pid);
            }
        }
    }

    /// Closes an interval of `seconds`: rates, then the bound.
    pub fn end_interval(&mut self, seconds: f64) {
        for entry in self.hosts.values_mut() {
            entry.sent.end_interval(seconds);
            entry.received.end_interval(seconds);
        }
        self.interval += 1;
        if self.hosts.len() > MAX_HOSTS {
            let mut order: Vec<(u64, u64, HostKey)> = self
                .hosts
                .iter()
                .map(|(key, e)| {
                    let bytes = e.sent.bytes.saturating_add(e.received.bytes);
                    (e.active, bytes, key.clone())
                })
                .collect();
            order.sort_unstable_by_key(|(active, bytes, _)| (*active, *bytes));
            let excess = self.hosts.len() - MAX_HOSTS;
            for (_, _, key) in order.into_iter().take(excess) {
                self.hosts.remove(&key);
                self.dropped += 1;
            }
        }
    }

    /// Hosts dropped by the bound since start (or the last reset).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Every host, the busiest (bytes both ways) first.
    pub fn stats(&self) -> Vec<HostStats> {
        let mut stats: Vec<HostStats> = self
            .hosts
            .iter()
            .map(|(key, e)| HostStats {
                name: match key {
                    HostKey::Name(name) => Some(name.to_string()),
                    HostKey::Address(_) => None,
                },
                addresses: e.addresses.clone(),
                sent_bytes: e.sent.bytes,
                received_bytes: e.received.bytes,
                sent_rate: e.sent.rate,
                received_rate: e.received.rate,
                pids: e.pids.clone(),
            })
            .collect();
        stats.sort_by(|a, b| {
            let total = |h: &HostStats| h.sent_bytes.saturating_add(h.received_bytes);
            total(b)
                .cmp(&total(a))
                .then_with(|| a.name.cmp(&b.name))
                .then_with(|| a.addresses.cmp(&b.addresses))
        });
        stats
    }

    /// Forgets every host (a reset of the totals).
    pub fn reset_totals(&mut self) {
        self.hosts.clear();
        self.dropped = 0;
    }
}

/// The latest hosts of each running capture, by its capture thread: the accounting
/// publishes on that thread at the end of each interval, [`crate::Capture::hosts`] reads.
///
/// A bridge: `capture/` builds the accounting and each `Snapshot`; until it puts the hosts
/// into the snapshot, they travel this way (lead: replace at the merge with `perf`).
static BOARDS: LazyLock<Mutex<HashMap<ThreadId, Arc<Vec<HostStats>>>>> =
    LazyLock::new(Default::default);

/// Starts listening to the accounting on `thread`.
pub(crate) fn register(thread: ThreadId) {
    if let Ok(mut boards) = BOARDS.lock() {
        boards.insert(thread, Arc::default());
    }
}

/// Stops listening to `thread`; returns its last hosts.
pub(crate) fn unregister(thread: ThreadId) -> Arc<Vec<HostStats>> {
    BOARDS
        .lock()
        .ok()
        .and_then(|mut boards| boards.remove(&thread))
        .unwrap_or_default()
}

/// The last hosts published on `thread`.
pub(crate) fn latest(thread: ThreadId) -> Arc<Vec<HostStats>> {
    BOARDS
        .lock()
        .ok()
        .and_then(|boards| boards.get(&thread).cloned())
        .unwrap_or_default()
}

/// Publishes the hosts made by `stats` when somebody listens to this thread.
pub(super) fn publish(stats: impl FnOnce() -> Vec<HostStats>) {
    let current = std::thread::current().id();
    let listened = BOARDS.lock().is_ok_and(|b| b.contains_key(&current));
    if !listened {
        return;
    }
    let stats = Arc::new(stats());
    if let Ok(mut boards) = BOARDS.lock() {
        if let Some(board) = boards.get_mut(&current) {
            *board = stats;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_named_host_gathers_its_addresses_bytes_and_pids() {
        let mut table = HostTable::default();
        let name = HostKey::Name(Arc::from("www.sockeye.test"));
        table.add(name.clone(), ip("10.0.0.1"), 7, 100, 1000);
        table.add(name.clone(), ip("10.0.0.2"), 5, 10, 20);
        table.add(HostKey::Address(ip("10.0.0.9")), ip("10.0.0.9"), 7, 1, 1);
        table.end_interval(1.0);
        let stats = table.stats();
        assert_eq!(stats.len(), 2);
        assert_eq!(stats[0].name.as_deref(), Some("www.sockeye.test"));
        assert_eq!(stats[0].addresses, vec![ip("10.0.0.1"), ip("10.0.0.2")]);
        assert_eq!((stats[0].sent_bytes, stats[0].received_bytes), (110, 1020));
        assert_eq!(stats[0].sent_rate, 110.0);
        assert_eq!(stats[0].pids, vec![5, 7]);
        assert_eq!(stats[1].name, None);
        assert_eq!(stats[1].addresses, vec![ip("10.0.0.9")]);
    }

    #[test]
    fn past_the_bound_the_least_recently_active_hosts_are_dropped_and_counted() {
        let mut table = HostTable::default();
        let busy = HostKey::Address(ip("192.0.2.1"));
        table.add(busy.clone(), ip("192.0.2.1"), 1, 1, 1);
        table.end_interval(1.0);
        for i in 0..MAX_HOSTS as u32 {
            let addr = IpAddr::from((0x0a00_0000u32 + i).to_be_bytes());
            table.add(HostKey::Address(addr), addr, 1, 1, 1);
        }
        table.end_interval(1.0);
        assert_eq!(table.hosts.len(), MAX_HOSTS);
        assert_eq!(table.dropped(), 1);
        assert!(!table.hosts.contains_key(&busy));
    }

    #[test]
    fn pids_and_addresses_per_host_are_bounded() {
        let mut table = HostTable::default();
        let name = HostKey::Name(Arc::from("cdn.sockeye.test"));
        for i in 0..1000u32 {
            let addr = IpAddr::from((0x0a00_0000u32 + i).to_be_bytes());
            table.add(name.clone(), addr, i, 1, 1);
        }
        let stats = table.stats();
        assert_eq!(stats[0].addresses.len(), MAX_HOST_ADDRESSES);
        assert_eq!(stats[0].pids.len(), MAX_HOST_PIDS);
        assert_eq!(stats[0].sent_bytes, 1000);
    }
}
