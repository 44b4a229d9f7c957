//! Sightings of one packet on several local interfaces: the same transfer seen on a
//! container's veth port, on the bridge and, translated by NAT, on the egress device.
//! See the module doc of `accounting` for the rule; this is its memory.
//!
//! A table of [`SLOTS`] slots in sets of [`WAYS`], the set chosen by the packet's
//! fingerprint ([`PacketMeta::ident`]: fields that forwarding and NAT leave alone). A
//! slot remembers
//! the last transfer with that fingerprint: its first sighting's flow and direction, when
//! it was last seen (kernel capture time), how many times it was seen on each interface,
//! and which of its ends (sender, receiver) a sighting credited already.
//!
//! A sighting is *another sighting* of the slot's transfer when its fingerprint is the
//! same, it was captured within [`WINDOW`] of the slot's last sighting, its addresses
//! agree on at least one side (equal, or one side translated by NAT), and its interface
//! has seen this fingerprint fewer times than the busiest interface has: a packet crosses
//! each interface once, so a second copy on the *same* interface is a new transfer (two
//! identical datagrams from an unconnected socket, whose IPv4 identification is 0), and
//! `n` identical transfers are counted `n` times, never more, never fewer.
//!
//! Cost: a multiply to find the set, its four fingerprints (one cache line) compared, one
//! 40-byte slot read and written; no allocation. The table is 8192 slots (320 KiB of slots
//! and 64 KiB of fingerprints, allocated once). The flow is named by its slot in the flow
//! table and its ends by 32-bit digests, not by a copy of its key: with 100-byte slots
//! holding `FlowKey`s the check cost 68–83 ns per packet, most of it cache misses and
//! copies. Only packets of flows younger than a second or seen on several interfaces go
//! through the table ([`Sighted`]): about 25–30 ns each, the fingerprint included; the
//! packets of settled flows pay a comparison, 2–3 ns (`build-aux/bench/README.md`, "One
//! transfer").
//!
//! Bounded: a slot is overwritten by the next transfer that maps to its set once its four
//! ways are taken (the stalest way first), so when thousands of packets pass between two
//! sightings of one packet (a capture thread far behind, reading a full batch of one
//! interface before the next), the later sighting counts as a new transfer: an
//! overcount, never a loss. A copy whose length differs from the first sighting (a GSO
//! super-frame segmented in software before an egress device without TSO) is not
//! recognised here; `segments.rs` recognises it by sequence numbers when its addresses
//! are unchanged (not through NAT).
//!
//! [`PacketMeta::ident`]: crate::parse::PacketMeta::ident

use super::flows::{Dir, Flow, Sighted};
use crate::parse::PacketMeta;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Slots of the table (a power of two, a multiple of [`WAYS`]).
pub const SLOTS: usize = 8192;
/// Longest time, by the kernel's capture stamps, between two sightings of one packet.
/// Forwarding through a bridge and NAT takes microseconds; an egress queue (qdisc) can
/// hold a packet for some milliseconds under load before it is captured on the way out
/// (fq_codel aims at 5 ms). Long enough for that, short enough that a TCP retransmission
/// (200 ms at least, or a new IPv4 identification) is a new transfer.
pub const WINDOW: Duration = Duration::from_millis(20);
/// Slots per set: a transfer is forgotten before its last sighting only when more than
/// this many others of its set arrive in between (the stalest goes first). Direct-mapped
/// (one way), a bridged and NATed TCP transfer read by a slow (debug) build was credited
/// 113 % to its sender: the copies of one packet in eight had lost their slot.
const WAYS: usize = 4;
/// Interfaces remembered per slot: veth port, bridge, egress, one spare.
const IFACES: usize = 4;

/// What a sighting is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not tracked: no fingerprint (not an IP packet).
    Untracked,
    /// A new transfer, remembered in the slot.
    New(usize),
    /// Another sighting of the transfer in the slot.
    Again(usize),
}

/// One sighting as the table knows it: its flow's slot in the flow table, its direction
/// there, and digests of its sender and receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sighting {
    pub flow: u32,
    pub dir: Dir,
    pub ends: [u32; 2],
}

impl Sighting {
    pub fn new(flow: u32, dir: Dir, src: SocketAddr, dst: SocketAddr) -> Self {
        Self {
            flow,
            dir,
            ends: [digest(src), digest(dst)],
        }
    }

    /// Same flow: a copy with unchanged addresses.
    pub fn same_flow(&self, other: &Sighting) -> bool {
        self.flow == other.flow && self.ends == other.ends
    }
}

/// What the table remembers of the first sighting of a transfer.
#[derive(Debug, Clone, Copy)]
pub struct First {
    pub sighting: Sighting,
    /// Its sender (`[0]`) and receiver (`[1]`) were credited (by any sighting).
    pub credited: [bool; 2],
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Capture time of the last sighting, in microseconds since the table's epoch
    /// (wrapping: only differences are used).
    at_us: u32,
    flow: u32,
    ends: [u32; 2],
    ifaces: [u32; IFACES],
    /// Sightings of this fingerprint on each of `ifaces` (0: unused).
    counts: [u8; IFACES],
    dir: u8,
    /// Most sightings on one interface: the number of identical transfers.
    transfers: u8,
    credited: [bool; 2],
}

const EMPTY: Slot = Slot {
    at_us: 0,
    flow: 0,
    ends: [0; 2],
    ifaces: [0; IFACES],
    counts: [0; IFACES],
    dir: 0,
    transfers: 0,
    credited: [false; 2],
};

/// The table of recent transfers.
pub struct Sightings {
    slots: Box<[Slot]>,
    /// The slots' fingerprints apart, so that looking through a set reads one cache line.
    idents: Box<[u64]>,
    epoch: Instant,
    /// The last `now` given and its [`Sightings::micros`].
    now: (Instant, u32),
}

impl Sightings {
    pub fn new(now: Instant) -> Self {
        Self {
            slots: vec![EMPTY; SLOTS].into_boxed_slice(),
            idents: vec![0; SLOTS].into_boxed_slice(),
            epoch: now,
            now: (now, 0),
        }
    }

    /// `now` in wrapping microseconds since the epoch (only differences of less than an
    /// hour are compared); converted once per batch of packets read at one `now`.
    fn micros(&mut self, now: Instant) -> u32 {
        if self.now.0 != now {
            self.now = (
                now,
                now.saturating_duration_since(self.epoch).as_micros() as u32,
            );
        }
        self.now.1
    }

    /// The capture time of a packet read at `now`, `age` after the kernel captured it, in
    /// the table's wrapping microseconds (as `segments.rs` keeps its runs).
    pub fn at_us(&mut self, now: Instant, age: Duration) -> u32 {
        self.micros(now).wrapping_sub(age.as_micros() as u32)
    }

    /// The slot for `ident` captured at `at_us`: the one of its set holding it, else the
    /// set's emptiest or stalest (the transfer seen longest ago, whose copies have most
    /// likely all been read).
    fn find(&self, ident: u64, at_us: u32) -> usize {
        // Fibonacci hashing: the fingerprint is a hash already, its high bits are good.
        let sets = SLOTS / WAYS;
        let set =
            (ident.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - sets.trailing_zeros())) as usize;
        let first = set * WAYS;
        let ways = first..first + WAYS;
        if let Some(way) = ways.clone().find(|&i| self.idents.get(i) == Some(&ident)) {
            return way;
        }
        ways.max_by_key(|&i| match (self.idents.get(i), self.slots.get(i)) {
            (Some(0), _) | (None, _) | (_, None) => u32::MAX,
            (_, Some(slot)) => gap(at_us, slot.at_us).min(u32::MAX - 1),
        })
        .unwrap_or(first)
    }

    /// [`Sightings::see`] for a packet of `flow` (just `created`, or not), unless the flow
    /// has settled as seen on one interface only ([`Sighted`]): then `Untracked`, at the
    /// cost of a comparison.
    #[allow(clippy::too_many_arguments)]
    pub fn sight(
        &mut self,
        flow: &mut Flow,
        created: bool,
        meta: &PacketMeta,
        sighting: impl FnOnce() -> Sighting,
        iface: u32,
        now: Instant,
        age: Duration,
    ) -> Seen {
        match flow.sighted {
            Sighted::Once => return Seen::Untracked,
            Sighted::Several => {}
            Sighted::NotYet => {
                let now_us = self.micros(now);
                if created {
                    flow.born_us = now_us;
                } else if now_us.wrapping_sub(flow.born_us) > Sighted::SETTLE_US {
                    flow.sighted = Sighted::Once;
                    return Seen::Untracked;
                }
            }
        }
        let seen = self.see(meta.ident.value(), sighting(), iface, now, age);
        if let Seen::Again(_) = seen {
            flow.sighted = Sighted::Several;
        }
        seen
    }

    /// Classifies a sighting of a packet of fingerprint `ident` (`sighting`: its flow,
    /// direction and ends)
    /// captured on the interface `iface` `age` before `now`, and remembers it.
    pub fn see(
        &mut self,
        ident: u64,
        sighting: Sighting,
        iface: u32,
        now: Instant,
        age: Duration,
    ) -> Seen {
        if ident == 0 {
            return Seen::Untracked;
        }
        let at_us = self.micros(now).wrapping_sub(age.as_micros() as u32);
        let index = self.find(ident, at_us);
        let (Some(slot), Some(stored)) = (self.slots.get_mut(index), self.idents.get_mut(index))
        else {
            return Seen::Untracked;
        };
        let window = WINDOW.as_micros() as u32;
        let related = sighting.ends[0] == slot.ends[0] || sighting.ends[1] == slot.ends[1];
        if *stored != ident || gap(at_us, slot.at_us) > window || !related {
            *stored = ident;
            *slot = fresh(at_us, sighting, iface);
            return Seen::New(index);
        }
        slot.at_us = at_us;
        let way = match slot
            .ifaces
            .iter()
            .zip(&slot.counts)
            .position(|(i, n)| *i == iface && *n > 0)
        {
            Some(way) => Some(way),
            None => slot.counts.iter().position(|n| *n == 0),
        };
        let Some(way) = way.filter(|&way| slot.counts[way] < u8::MAX) else {
            // More interfaces (or identical packets) than remembered: counted as a new
            // transfer rather than lost.
            *slot = fresh(at_us, sighting, iface);
            return Seen::New(index);
        };
        slot.ifaces[way] = iface;
        slot.counts[way] += 1;
        if slot.counts[way] > slot.transfers {
            // One more identical transfer: its ends are still to be credited.
            slot.transfers = slot.counts[way];
            slot.flow = sighting.flow;
            slot.dir = sighting.dir as u8;
            slot.ends = sighting.ends;
            slot.credited = [false; 2];
            return Seen::New(index);
        }
        Seen::Again(index)
    }

    /// The first sighting of the transfer in slot `index`.
    pub fn first(&self, index: usize) -> Option<First> {
        let slot = self.slots.get(index)?;
        Some(First {
            sighting: Sighting {
                flow: slot.flow,
                dir: Dir::from(slot.dir),
                ends: slot.ends,
            },
            credited: slot.credited,
        })
    }

    /// Notes that the sender (`[0]`) and/or the receiver (`[1]`) of the transfer in slot
    /// `index` were credited.
    pub fn credit(&mut self, index: usize, ends: [bool; 2]) {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.credited[0] |= ends[0];
            slot.credited[1] |= ends[1];
        }
    }
}

/// Microseconds between two capture times (read in any order; they wrap).
fn gap(a: u32, b: u32) -> u32 {
    a.wrapping_sub(b).min(b.wrapping_sub(a))
}

fn fresh(at_us: u32, sighting: Sighting, iface: u32) -> Slot {
    let mut slot = EMPTY;
    slot.at_us = at_us;
    slot.flow = sighting.flow;
    slot.dir = sighting.dir as u8;
    slot.ends = sighting.ends;
    slot.ifaces[0] = iface;
    slot.counts[0] = 1;
    slot.transfers = 1;
    slot
}

/// A 32-bit digest of an endpoint: two sightings are related when one side's digests
/// agree (NAT rewrites the other side). A clash of two endpoints' digests (one in four
/// billion) could only relate two packets whose fingerprints agree as well.
pub fn digest(addr: SocketAddr) -> u32 {
    let ip = match addr.ip() {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    };
    let folded = (ip as u64) ^ ((ip >> 64) as u64).rotate_left(29) ^ (u64::from(addr.port()) << 48);
    (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32
}
