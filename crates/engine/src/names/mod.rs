//! Host names of remote addresses, learnt from the DNS answers seen on the wire
//! (`parse::dns`), per network namespace, with each answer's TTL and a memory bound.
//!
//! ```text
//! NameCache::record(ns, asker, response, now)
//!  ├─ by_address  (namespace, address)        → name   latest answer, any asker
//!  └─ by_asker    (namespace, asker, address) → name   the asker's own lookup
//! NameCache::name_for(ns, asker, address, now): by_asker first, else by_address
//! ```
//!
//! Why two tables: two processes may reach the same address (a CDN's) through different
//! names; each connection should carry the name *its* process typed, and a connection whose
//! asker is unknown (the answer went to a stub resolver, or arrived before the socket was
//! known) the latest name anyone got for it. Why per namespace: a container's resolver may
//! answer differently, and its addresses may be private ones that mean another host
//! elsewhere. The asker is whatever identifies the receiving side of the answer to the
//! caller — a pid today, a socket inode if that proves more stable.
//!
//! Names are the *question* names (what was typed, see `parse::dns`), shared between both
//! tables and every address of one answer (`Arc<str>`, one allocation per answer). The end
//! of the CNAME chain (`DnsResponse::canonical`) is not kept: a tooltip that wants it costs
//! one more `Arc` per answer and 16 bytes per entry.
//!
//! Lookups count as use for the LRU order, so `name_for` takes `&mut self`; the cache is
//! meant to live on the capture thread, next to the accounting that asks it.
//!
//! Time is passed in (`now`), never read here, so tests need no sleeps. A name is kept for
//! its TTL, at least [`MIN_KEEP`] (a TTL of 0 would otherwise name nothing: the program
//! connects right after its lookup) and at most [`MAX_KEEP`]. Both tables are bounded and
//! evict the least recently used entry (recorded or looked up) first; see [`MAX_HEAP_BYTES`].

#[cfg(test)]
mod tests;

use crate::parse::dns::DnsResponse;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A network namespace, by the inode of its `/proc/PID/ns/net` link.
pub type NamespaceId = u64;

/// Most (namespace, address) names kept.
pub const MAX_ADDRESSES: usize = 65_536;
/// Most (namespace, asker, address) names kept.
pub const MAX_ASKER_ADDRESSES: usize = 16_384;
/// Least time a name is kept, whatever its TTL.
pub const MIN_KEEP: Duration = Duration::from_secs(10);
/// Most time a name is kept, whatever its TTL (a week-long TTL must not pin an entry).
pub const MAX_KEEP: Duration = Duration::from_secs(24 * 60 * 60);

/// Upper bound of one entry's heap use, in bytes, name included: hash-table slots (key,
/// entry, control byte: 73 bytes; a table just grown holds up to 16/7 slots per entry,
/// 167 bytes, counted as 2 × 97); a recency-index entry (40 bytes in B-tree nodes at least
/// about half full, with their headers and inner nodes some 105 bytes, counted as 3 × 56);
/// and a name of the longest kind (253 bytes plus the `Arc` counts, 288 with the
/// allocator's rounding) owned alone.
pub const ENTRY_BOUND_BYTES: usize = 2 * (48 + 48 + 1) + 3 * (8 + 48) + 288;
/// Upper bound of a full cache's heap use, in bytes: both tables full, every entry with a
/// distinct name of the longest kind: 81,920 × 650 bytes, about 51 MiB. Measured (the
/// `name_memory` integration test): 36.8 MiB in that worst case; 4.4 MB for 10,000 answers
/// of 25-byte names recorded with their askers (about 220 bytes per entry), so some 18 MB
/// for a cache full of real names.
pub const MAX_HEAP_BYTES: usize = (MAX_ADDRESSES + MAX_ASKER_ADDRESSES) * ENTRY_BOUND_BYTES;

/// Addresses' names per namespace, and per asker. See the module documentation.
#[derive(Debug)]
pub struct NameCache {
    by_address: Lru<(NamespaceId, IpAddr)>,
    by_asker: Lru<(NamespaceId, u32, IpAddr)>,
}

impl Default for NameCache {
    fn default() -> Self {
        Self::with_capacity(MAX_ADDRESSES, MAX_ASKER_ADDRESSES)
    }
}

impl NameCache {
    /// A cache of at most `addresses` and `asker_addresses` entries (tests use small ones).
    pub fn with_capacity(addresses: usize, asker_addresses: usize) -> Self {
        Self {
            by_address: Lru::new(addresses),
            by_asker: Lru::new(asker_addresses),
        }
    }

    /// Learns the addresses of one decoded response received in namespace `ns`, by `asker`
    /// when known. A later answer for an address replaces the earlier one. An answer to the
    /// root name teaches nothing (an empty name would only hide the address).
    pub fn record(
        &mut self,
        ns: NamespaceId,
        asker: Option<u32>,
        response: &DnsResponse,
        now: Instant,
    ) {
        if response.addresses.is_empty() || response.question.as_str().is_empty() {
            return;
        }
        let name: Arc<str> = Arc::from(response.question.as_str());
        for (addr, _, ttl) in response.mappings() {
            let keep = Duration::from_secs(u64::from(ttl)).clamp(MIN_KEEP, MAX_KEEP);
            let expires = now + keep;
            self.by_address
                .insert((ns, canonical(addr)), name.clone(), expires);
            if let Some(asker) = asker {
                self.by_asker
                    .insert((ns, asker, canonical(addr)), name.clone(), expires);
            }
        }
    }

    /// The name of `addr` in namespace `ns`: the one `asker` looked up if it did and the
    /// answer has not expired, else the latest unexpired one anybody looked up.
    pub fn name_for(
        &mut self,
        ns: NamespaceId,
        asker: Option<u32>,
        addr: IpAddr,
        now: Instant,
    ) -> Option<Arc<str>> {
        let addr = canonical(addr);
        let own = asker.and_then(|asker| self.by_asker.get((ns, asker, addr), now));
        own.or_else(|| self.by_address.get((ns, addr), now))
    }

    /// Drops every expired name (for a periodic sweep; lookups drop those they meet).
    pub fn forget_expired(&mut self, now: Instant) {
        self.by_address.forget_expired(now);
        self.by_asker.forget_expired(now);
    }

    /// Forgets what askers looked up once they are gone (an exited process's pid may be
    /// reused). Their answers stay in the per-address table.
    pub fn forget_askers(&mut self, gone: impl Fn(u32) -> bool) {
        self.by_asker.retain(|&(_, asker, _)| !gone(asker));
    }

    /// Entries held: (per address, per asker).
    pub fn len(&self) -> (usize, usize) {
        (self.by_address.map.len(), self.by_asker.map.len())
    }

    /// Whether no name is held.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

/// An IPv4-mapped IPv6 address is the IPv4 address (a dual-stack socket's view of an A
/// answer).
fn canonical(addr: IpAddr) -> IpAddr {
    addr.to_canonical()
}

/// One name and when it stops being valid.
#[derive(Debug, Clone)]
struct Entry {
    name: Arc<str>,
    expires: Instant,
    /// Recency stamp, the entry's key in `Lru::order`.
    used: u64,
}

/// A map bounded in entries that evicts the least recently used one.
#[derive(Debug)]
struct Lru<K> {
    map: HashMap<K, Entry, foldhash::quality::RandomState>,
    /// Recency stamp → key, oldest first.
    order: BTreeMap<u64, K>,
    next_stamp: u64,
    capacity: usize,
}

impl<K: Copy + Eq + Hash> Lru<K> {
    fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::default(),
            order: BTreeMap::new(),
            next_stamp: 0,
            capacity: capacity.max(1),
        }
    }

    fn stamp(&mut self, key: K) -> u64 {
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        self.order.insert(stamp, key);
        stamp
    }

    fn insert(&mut self, key: K, name: Arc<str>, expires: Instant) {
        if let Some(old) = self.map.remove(&key) {
            self.order.remove(&old.used);
        } else if self.map.len() >= self.capacity {
            if let Some((_, oldest)) = self.order.pop_first() {
                self.map.remove(&oldest);
            }
        }
        let used = self.stamp(key);
        self.map.insert(
            key,
            Entry {
                name,
                expires,
                used,
            },
        );
    }

    fn get(&mut self, key: K, now: Instant) -> Option<Arc<str>> {
        let entry = self.map.get(&key)?;
        let (old, expired) = (entry.used, entry.expires <= now);
        self.order.remove(&old);
        if expired {
            self.map.remove(&key);
            return None;
        }
        let used = self.stamp(key);
        let entry = self.map.get_mut(&key)?;
        entry.used = used;
        Some(entry.name.clone())
    }

    fn forget_expired(&mut self, now: Instant) {
        let order = &mut self.order;
        self.map.retain(|_, entry| {
            let keep = entry.expires > now;
            if !keep {
                order.remove(&entry.used);
            }
            keep
        });
    }

    fn retain(&mut self, keep: impl Fn(&K) -> bool) {
        let order = &mut self.order;
        self.map.retain(|key, entry| {
            let kept = keep(key);
            if !kept {
                order.remove(&entry.used);
            }
            kept
        });
    }
}
