//! Host names for accounting: DNS answers that a local socket received go into the name
//! cache (`names/`) of the receiver's network namespace, under a decode budget; the
//! connections and hosts of a process are named from it.
//!
//! ```text
//! record_aged: PacketMeta::dns (a packet from port 53, 5353, 5355) to a local end
//!   ─► budget (dns_decodes_per_second) ─► parse::dns ─► NameCache::record(ns, asker)
//! connections / hosts: NameCache::name_for(ns of pid, pid, remote address)
//! ```
//!
//! The asker is the pid that owns the receiving end, as attribution found it for the
//! flow (the query went out of that very socket, so it is usually known by the answer).
//! Its namespace is read once per pid (`OwnerLookup::namespace`) and kept. An answer
//! whose receiver is unknown, or whose namespace cannot be read, is kept under
//! [`UNKNOWN_NAMESPACE`] with no asker; a connection whose own namespace has no name for
//! its address falls back to that.
//!
//! TCP: the messages of one segment are decoded when the segment starts at a length
//! prefix and its messages fill it (or the capture cut the last one); a message split
//! across segments is not reassembled: the segment is skipped and counted
//! (`CaptureTotals::dns_split`). At most four messages per segment, and each message's
//! work is bounded by the decoder (`parse::dns`: 64 records, 8 CNAME hops).

use super::lookups::LookupBudget;
use crate::names::{NameCache, NamespaceId};
use crate::owner::{OwnerLookup, Pid};
use crate::parse::dns::payload::whole_tcp_messages;
use crate::parse::dns::{DnsPayload, DnsResponse};
use crate::snapshot::CaptureTotals;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The namespace answers go to when their receiver's is not known.
pub const UNKNOWN_NAMESPACE: NamespaceId = 0;
/// Most pids whose namespace is remembered; past it the memory starts again.
const MAX_NAMESPACE_PIDS: usize = 65_536;
/// Time between two sweeps of expired names and forgotten askers.
const SWEEP_PERIOD: Duration = Duration::from_secs(30);

/// The name cache and what feeds it.
pub(super) struct HostNames {
    cache: NameCache,
    budget: LookupBudget,
    /// Reused for every message (its address list keeps its capacity).
    response: DnsResponse,
    namespaces: HashMap<Pid, NamespaceId>,
    last_sweep: Instant,
}

impl HostNames {
    /// Decoding at most `per_second` messages, in bursts of `burst`.
    pub fn new(per_second: f64, burst: f64, now: Instant) -> Self {
        Self {
            cache: NameCache::default(),
            budget: LookupBudget::new(per_second, burst, now),
            response: DnsResponse::default(),
            namespaces: HashMap::new(),
            last_sweep: now,
        }
    }

    /// The namespace of `pid`, read once.
    fn namespace<O: OwnerLookup>(&mut self, owners: &O, pid: Pid) -> NamespaceId {
        if let Some(&ns) = self.namespaces.get(&pid) {
            return ns;
        }
        let Some(ns) = owners.namespace(pid) else {
            return UNKNOWN_NAMESPACE;
        };
        if self.namespaces.len() >= MAX_NAMESPACE_PIDS {
            self.namespaces.clear();
        }
        self.namespaces.insert(pid, ns);
        ns
    }

    /// Learns the answers of one packet received by `asker` (when known).
    pub fn learn<O: OwnerLookup>(
        &mut self,
        owners: &O,
        payload: DnsPayload<'_>,
        asker: Option<Pid>,
        totals: &mut CaptureTotals,
        now: Instant,
    ) {
        let ns = asker.map_or(UNKNOWN_NAMESPACE, |pid| self.namespace(owners, pid));
        match payload {
            DnsPayload::Udp(message) => self.decode(ns, asker, message, totals, now),
            DnsPayload::Tcp { bytes, complete } => match whole_tcp_messages(bytes, complete) {
                Some(messages) => {
                    for message in messages {
                        self.decode(ns, asker, message, totals, now);
                    }
                }
                None => totals.dns_split = totals.dns_split.saturating_add(1),
            },
        }
    }

    fn decode(
        &mut self,
        ns: NamespaceId,
        asker: Option<Pid>,
        message: &[u8],
        totals: &mut CaptureTotals,
        now: Instant,
    ) {
        if !self.budget.take(now) {
            totals.dns_skipped = totals.dns_skipped.saturating_add(1);
            return;
        }
        totals.dns_decoded = totals.dns_decoded.saturating_add(1);
        if self.response.decode_into(message).is_ok() {
            self.cache.record(ns, asker, &self.response, now);
        }
    }

    /// The name of `remote` for a connection of `pid`: the one `pid` looked up, else the
    /// latest in its namespace, else the latest answer whose receiver was unknown.
    pub fn name_of<O: OwnerLookup>(
        &mut self,
        owners: &O,
        pid: Pid,
        remote: IpAddr,
        now: Instant,
    ) -> Option<Arc<str>> {
        let ns = self.namespace(owners, pid);
        let own = self.cache.name_for(ns, Some(pid), remote, now);
        own.or_else(|| {
            (ns != UNKNOWN_NAMESPACE)
                .then(|| self.cache.name_for(UNKNOWN_NAMESPACE, None, remote, now))
                .flatten()
        })
    }

    /// Now and then: drops expired names, and the askers and namespaces of pids accounting
    /// no longer holds (a later process may reuse the pid).
    pub fn sweep(&mut self, now: Instant, held: impl Fn(Pid) -> bool) {
        if now.saturating_duration_since(self.last_sweep) < SWEEP_PERIOD {
            return;
        }
        self.last_sweep = now;
        self.cache.forget_expired(now);
        self.cache.forget_askers(|pid| !held(pid));
        self.namespaces.retain(|&pid, _| held(pid));
    }
}
