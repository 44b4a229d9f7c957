//! The flow table: one entry per conversation between two endpoints, with the owner of
//! each local endpoint cached and the bytes counted in each direction. Bounded: idle flows
//! are pruned and, at the hard cap, the least recently active half is evicted.

use crate::owner::Pid;
use crate::parse::{PacketKind, PacketMeta};
use crate::Transport;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Identifies a flow. For TCP, UDP and other protocols `a <= b`; for ICMP echo `a` is the
/// requester and `b` the responder, so the request is direction 0 and the reply direction 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    pub transport: Transport,
    pub a: SocketAddr,
    pub b: SocketAddr,
}

/// Direction of a packet within its flow: 0 is `a → b`, 1 is `b → a`.
pub type Dir = usize;

impl FlowKey {
    /// The flow a packet belongs to and its direction in it.
    pub fn of(meta: &PacketMeta) -> (FlowKey, Dir) {
        let key = |a, b| FlowKey {
            transport: meta.transport,
            a,
            b,
        };
        match meta.kind {
            PacketKind::EchoRequest => (key(meta.src, meta.dst), 0),
            PacketKind::EchoReply => (key(meta.dst, meta.src), 1),
            PacketKind::Plain | PacketKind::TcpSyn | PacketKind::TcpFin if meta.src <= meta.dst => {
                (key(meta.src, meta.dst), 0)
            }
            PacketKind::Plain | PacketKind::TcpSyn | PacketKind::TcpFin => {
                (key(meta.dst, meta.src), 1)
            }
        }
    }

    /// Address of side 0 (`a`) or 1 (`b`).
    pub fn addr(&self, side: usize) -> SocketAddr {
        if side == 0 {
            self.a
        } else {
            self.b
        }
    }
}

/// Hashes the key as three integers: each address as 128 bits (IPv4 mapped), then
/// transport and ports in one word. The derived hash fed SipHash a dozen small writes per
/// key (enum tags, slice lengths, IPv6 flow info); packed into one 37-byte `write`, it took
/// foldhash's long-input path, 6.5 % of the helper on veth TCP (build-aux/bench, run 4).
/// Keys that are equal hash equally, so `Eq` and `Hash` agree; IPv6 flow info and scope
/// are left out of the hash (they are compared by `Eq`).
impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let ip = |addr: SocketAddr| -> u128 {
            match addr.ip() {
                IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
                IpAddr::V6(v6) => u128::from(v6),
            }
        };
        state.write_u128(ip(self.a));
        state.write_u128(ip(self.b));
        state.write_u64(
            u64::from(self.transport as u8) << 32
                | u64::from(self.a.port()) << 16
                | u64::from(self.b.port()),
        );
    }
}

/// Bytes and packets one way, since start (or the last reset) and in the current interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Traffic {
    pub bytes: u64,
    pub packets: u64,
    /// Bytes in the interval under way.
    pub interval_bytes: u64,
    /// Rate over the last finished interval, in bytes per second.
    pub rate: f64,
}

impl Traffic {
    pub fn add(&mut self, bytes: u64, packets: u64) {
        self.bytes = self.bytes.saturating_add(bytes);
        self.packets = self.packets.saturating_add(packets);
        self.interval_bytes = self.interval_bytes.saturating_add(bytes);
    }

    /// Takes back bytes counted earlier (they were moved to a process).
    pub fn remove(&mut self, other: &Traffic) {
        self.bytes = self.bytes.saturating_sub(other.bytes);
        self.packets = self.packets.saturating_sub(other.packets);
        self.interval_bytes = self.interval_bytes.saturating_sub(other.interval_bytes);
    }

    /// Closes the interval: the rate becomes its bytes over `seconds`.
    pub fn end_interval(&mut self, seconds: f64) {
        self.rate = if seconds > 0.0 {
            self.interval_bytes as f64 / seconds
        } else {
            0.0
        };
        self.interval_bytes = 0;
    }

    /// Zeroes the totals; the interval under way and the rate are kept.
    pub fn reset_totals(&mut self) {
        self.bytes = 0;
        self.packets = 0;
    }
}

/// One end of a flow.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The address belongs to this machine (or one of its namespaces). Checked again
    /// while false: a namespace created moments ago may not be known yet.
    pub local: bool,
    /// Not known as local, but may turn out to be: a namespace created moments ago is
    /// learnt from its first process's `/proc/PID/net` a few milliseconds after that
    /// process started sending. While set, locality is checked again on the retry
    /// schedule without waiting for a packet, and the end's traffic is set aside as for
    /// an unowned local end; cleared when the end turns out local or the schedule ends.
    pub unsure: bool,
    /// The kernel's side of an ICMP echo: never a socket.
    pub kernel: bool,
    /// The owning process, once found; kept after it exits.
    pub owner: Option<Pid>,
    /// Earliest time of the next owner lookup while the owner is unknown.
    pub next_lookup: Instant,
    /// Lookups that found no owner so far (sets the back-off).
    pub misses: u8,
}

/// A conversation between two endpoints.
#[derive(Debug, Clone)]
pub struct Flow {
    pub ends: [Endpoint; 2],
    /// Traffic by direction (0: `a → b`).
    pub dirs: [Traffic; 2],
    /// Traffic by direction counted in the unattributed buckets while neither end had an
    /// owner; moved to the owner found later (a lookup that raced the first packets).
    /// Indexed `[direction][bucket]`, bucket 0 being "sent" and 1 "received" (the
    /// sender's locality may change while a namespace is being discovered).
    ///
    /// Boxed, and only while there are any: most flows find an owner at their first packet
    /// and never have orphans, and inline they were 128 of the entry's 344 bytes (the flow
    /// table is most of the helper's heap under churn; soak figures in build-aux/bench).
    pub orphans: Option<Box<Orphans>>,
    /// Traffic of each local (or unsure) end still without an owner, counted while the
    /// other end had one (so it is attributed, not in a bucket): credited to that end's
    /// owner when it is found later. Indexed `[side][0: sent, 1: received]`. Inline (64
    /// bytes): every new flow with a remote peer sets traffic aside while that peer's
    /// locality is unsure, and boxed it cost one allocation per connection (the soak's
    /// 0.13 allocations per packet; build-aux/bench).
    pub unclaimed: Unclaimed,
    /// Traffic by direction credited to the ends' owners but not yet added to their
    /// process entries: added once per interval ([`crate::accounting`]'s `flush`), and
    /// before an owner changes or the flow goes. Two process-table probes per packet
    /// fewer (they were a tenth of the capture thread on veth TCP; build-aux/bench).
    pub uncredited: [Tally; 2],
    pub last_seen: Instant,
    /// Queued for a lookup once the capture thread has caught up.
    pub queued: bool,
    /// A TCP FIN or RST was seen (and no SYN since): pruned after [`CLOSED_IDLE_TIMEOUT`].
    pub closing: bool,
    /// Its first packet came from a remote address: its ends' first lookups spend the
    /// budget of such flows, so a flood of them (spoofed sources) cannot starve the flows
    /// this machine starts.
    pub inbound: bool,
    /// Whether its packets are seen on several interfaces (`sightings`).
    pub sighted: Sighted,
    /// When the flow was created, in the sightings table's wrapping microseconds.
    pub born_us: u32,
    /// A kernel tunnel's own packets (`tunnels.rs`): unattributed, they go to the tunnel
    /// bucket rather than their transport's.
    pub tunnel: bool,
}

/// Whether a flow's packets are seen on several local interfaces. Every packet of a flow
/// goes through the sightings table until the flow has been known for
/// [`Sighted::SETTLE_US`]; a flow of which no packet was seen twice by then is seen once
/// and skips the table from then on (most traffic: the host's own connections), so the
/// table's cost is paid by new and by multiply-seen flows only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sighted {
    #[default]
    NotYet,
    Once,
    Several,
}

impl Sighted {
    /// How long a flow is watched: every copy of its first packets has been captured
    /// within `sightings::WINDOW` (20 ms) of them and read by then unless the capture
    /// thread was a second behind.
    pub const SETTLE_US: u32 = 1_000_000;
}

impl Flow {
    pub fn new(ends: [Endpoint; 2], now: Instant) -> Self {
        Self {
            ends,
            dirs: Default::default(),
            orphans: None,
            unclaimed: Default::default(),
            uncredited: Default::default(),
            last_seen: now,
            queued: false,
            closing: false,
            inbound: false,
            sighted: Sighted::NotYet,
            born_us: 0,
            tunnel: false,
        }
    }

    /// Forgets the owners (a new connection reuses the 4-tuple); orphans of the old one
    /// stay unattributed.
    pub fn forget_owners(&mut self, now: Instant) {
        for end in &mut self.ends {
            end.owner = None;
            end.next_lookup = now;
            end.misses = 0;
        }
        self.orphans = None;
        self.unclaimed = Default::default();
        self.closing = false;
    }
}

/// Bytes and packets, without rates: what waits to be credited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub bytes: u64,
    pub packets: u64,
}

impl Tally {
    pub fn add(&mut self, bytes: u64, packets: u64) {
        self.bytes = self.bytes.saturating_add(bytes);
        self.packets = self.packets.saturating_add(packets);
    }
}

/// Traffic of a flow counted in the unattributed buckets, `[direction][bucket]`.
/// A flow's traffic counted in the unattributed buckets while neither end had an owner,
/// and since when: an owner found within [`super::AccountingConfig::orphan_hold`] takes
/// it from the bucket; after that it has been published as unattributed and stays there.
#[derive(Debug, Clone)]
pub struct Orphans {
    /// `[direction][0: sent, 1: received]`.
    pub traffic: [[Traffic; 2]; 2],
    /// When the first of them was counted.
    pub since: Instant,
}

impl Orphans {
    pub fn new(since: Instant) -> Box<Orphans> {
        Box::new(Orphans {
            traffic: Default::default(),
            since,
        })
    }
}

/// Traffic of a flow's unowned local ends, `[side][0: sent, 1: received]`.
pub type Unclaimed = [[Tally; 2]; 2];

/// A closing TCP flow silent this long is pruned (retransmitted FINs and the last ACKs come
/// within a few round trips); other flows wait for the table's idle timeout.
pub const CLOSED_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// The hash maps of the per-packet path (flows by key, processes by pid). Their keys come
/// from packets, so the hash is seeded at random per map; foldhash rather than the
/// standard SipHash, which was a tenth of the capture thread's time on MTU-sized TCP
/// (profiles in build-aux/bench).
pub type PacketMap<K, V> = HashMap<K, V, foldhash::quality::RandomState>;

/// The flows seen recently, bounded in number.
///
/// The flows live in a slab indexed by a hash map, and the slot of the last packet's flow
/// is remembered: consecutive packets of one flow (a TCP transfer's segments and their
/// ACKs share a key) skip the hash and the probe. Those were an eighth of the capture
/// thread on MTU-sized TCP through a veth (build-aux/bench).
#[derive(Debug)]
pub struct FlowTable {
    index: PacketMap<FlowKey, u32>,
    slots: Vec<Option<(FlowKey, Flow)>>,
    /// Empty slots, reused before the slab grows.
    free: Vec<u32>,
    /// Slot of the flow of the last [`FlowTable::entry_slot`]; checked against the key, so it
    /// needs no care when that slot is emptied or reused.
    last: u32,
    /// Hard cap on the number of flows.
    capacity: usize,
    /// A flow with no packet for this long is pruned at the end of an interval.
    idle_timeout: Duration,
}

impl FlowTable {
    pub fn new(capacity: usize, idle_timeout: Duration) -> Self {
        Self {
            index: PacketMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            last: 0,
            capacity: capacity.max(2),
            idle_timeout,
        }
    }

    /// The flow for `key`, created by `make` when new (evicting old flows at the cap,
    /// after `before_evict` saw them all), and its slot (see [`FlowTable::by_slot_mut`]).
    pub fn entry_slot(
        &mut self,
        key: FlowKey,
        now: Instant,
        make: impl FnOnce() -> Flow,
        before_evict: impl FnOnce(&mut Self),
    ) -> (u32, &mut Flow) {
        let last = self.last as usize;
        if matches!(self.slots.get(last), Some(Some((k, _))) if *k == key) {
            return (self.last, &mut self.slot_mut(last).1);
        }
        let slot = match self.index.get(&key) {
            Some(&slot) => slot,
            None => {
                if self.index.len() >= self.capacity {
                    before_evict(self);
                    self.evict(now);
                }
                self.insert(key, make())
            }
        };
        self.last = slot;
        (slot, &mut self.slot_mut(slot as usize).1)
    }

    /// The occupied slot `slot` (an index the table handed out and still holds).
    fn slot_mut(&mut self, slot: usize) -> &mut (FlowKey, Flow) {
        match self.slots.get_mut(slot) {
            Some(Some(entry)) => entry,
            // The index and the slots change together: every indexed slot is occupied.
            _ => unreachable!("flow table slot {slot} is empty"),
        }
    }

    fn insert(&mut self, key: FlowKey, flow: Flow) -> u32 {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some((key, flow));
                slot
            }
            None => {
                // At most `capacity` flows, far below u32::MAX.
                let slot = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                self.slots.push(Some((key, flow)));
                slot
            }
        };
        self.index.insert(key, slot);
        slot
    }

    /// Removes the flows for which `keep` is false.
    fn retain(&mut self, mut keep: impl FnMut(&Flow) -> bool) {
        for (slot, entry) in self.slots.iter_mut().enumerate() {
            if entry.as_ref().is_some_and(|(_, flow)| !keep(flow)) {
                if let Some((key, _)) = entry.take() {
                    self.index.remove(&key);
                    self.free.push(slot as u32);
                }
            }
        }
    }

    /// Removes flows idle for longer than the idle timeout (closing TCP flows: than
    /// [`CLOSED_IDLE_TIMEOUT`]).
    pub fn prune_idle(&mut self, now: Instant) {
        let timeout = self.idle_timeout;
        let closed = timeout.min(CLOSED_IDLE_TIMEOUT);
        self.retain(|flow| {
            let limit = if flow.closing { closed } else { timeout };
            now.saturating_duration_since(flow.last_seen) < limit
        });
    }

    /// Makes room at the cap: idle flows go first, then the least recently active half.
    /// Their bytes stay in the process totals and buckets; only per-flow detail is lost.
    fn evict(&mut self, now: Instant) {
        self.prune_idle(now);
        if self.index.len() < self.capacity {
            return;
        }
        let mut seen: Vec<Instant> = self.iter().map(|(_, f)| f.last_seen).collect();
        let middle = seen.len() / 2;
        let (_, cutoff, _) = seen.select_nth_unstable(middle);
        let cutoff = *cutoff;
        self.retain(|flow| flow.last_seen > cutoff);
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// The flow in `slot` (a name for a flow that costs nothing to keep, valid until the
    /// flow is removed: `sightings`), if the slot holds one.
    pub fn by_slot_mut(&mut self, slot: u32) -> Option<(&FlowKey, &mut Flow)> {
        match self.slots.get_mut(slot as usize) {
            Some(Some((key, flow))) => Some((&*key, flow)),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, key: &FlowKey) -> Option<&mut Flow> {
        let slot = *self.index.get(key)?;
        Some(&mut self.slot_mut(slot as usize).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&FlowKey, &Flow)> {
        self.slots.iter().flatten().map(|(key, flow)| (key, flow))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&FlowKey, &mut Flow)> {
        self.slots
            .iter_mut()
            .flatten()
            .map(|(key, flow)| (&*key, flow))
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Flow> {
        self.slots.iter_mut().flatten().map(|(_, flow)| flow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn key(port: u16) -> FlowKey {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        FlowKey {
            transport: Transport::Udp,
            a: SocketAddr::new(ip, port),
            b: SocketAddr::new(ip, 9),
        }
    }

    fn flow(now: Instant) -> Flow {
        let end = Endpoint {
            local: true,
            unsure: false,
            kernel: false,
            owner: None,
            next_lookup: now,
            misses: 0,
        };
        Flow::new([end.clone(), end], now)
    }

    /// Marks the flow of `port` with `n` packets, so a later lookup tells it apart.
    fn touch(table: &mut FlowTable, port: u16, now: Instant) -> u64 {
        let (_, flow) = table.entry_slot(key(port), now, || flow(now), |_| {});
        flow.dirs[0].add(1, 1);
        flow.dirs[0].packets
    }

    #[test]
    fn each_key_keeps_its_own_flow_through_the_last_slot_shortcut() {
        let now = Instant::now();
        let mut table = FlowTable::new(100, Duration::from_secs(60));
        assert_eq!(touch(&mut table, 1, now), 1);
        assert_eq!(touch(&mut table, 1, now), 2);
        assert_eq!(touch(&mut table, 2, now), 1);
        assert_eq!(touch(&mut table, 1, now), 3);
        assert_eq!(table.len(), 2);
        assert_eq!(table.get_mut(&key(2)).map(|f| f.dirs[0].packets), Some(1));
    }

    #[test]
    fn a_slot_emptied_and_reused_is_not_mistaken_for_its_old_flow() {
        let t0 = Instant::now();
        let mut table = FlowTable::new(100, Duration::from_secs(60));
        touch(&mut table, 1, t0);
        let later = t0 + Duration::from_secs(61);
        table.prune_idle(later);
        assert_eq!(table.len(), 0);
        // Port 2 takes the freed slot; port 1 then starts afresh in another.
        assert_eq!(touch(&mut table, 2, later), 1);
        assert_eq!(touch(&mut table, 1, later), 1);
        assert_eq!(touch(&mut table, 2, later), 2);
        assert_eq!(table.len(), 2);
        assert_eq!(table.iter().count(), 2);
    }

    #[test]
    fn at_the_cap_the_least_recently_active_half_goes() {
        let t0 = Instant::now();
        let mut table = FlowTable::new(10, Duration::from_secs(60));
        for port in 0..10 {
            touch(
                &mut table,
                port,
                t0 + Duration::from_millis(u64::from(port)),
            );
        }
        let mut saw = 0;
        let flow_at = t0 + Duration::from_millis(20);
        table.entry_slot(key(100), flow_at, || flow(flow_at), |t| saw = t.len());
        assert_eq!(saw, 10, "the hook sees the table before eviction");
        assert!(table.len() <= 6, "{} flows left", table.len());
        assert!(table.get_mut(&key(0)).is_none(), "the oldest went");
        assert!(table.get_mut(&key(9)).is_some(), "the newest stayed");
        assert!(table.get_mut(&key(100)).is_some());
    }
}
