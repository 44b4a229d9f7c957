//! Accounting: credits each packet's wire bytes to the process that sent it and the one
//! that received it, keeps the rest in visible unattributed buckets, and turns it all into
//! per-process and per-connection statistics.
//!
//! Rules:
//! - The owner of the source endpoint (when the source address is local) *sent* the
//!   packet; the owner of the destination endpoint (when local) *received* it. Between two
//!   local processes (loopback, veth into a local namespace) both are credited.
//! - A packet is *attributed* when at least one side has an owner; otherwise its bytes go
//!   to the bucket of its transport, as sent when the source is local, else as received.
//!   So attributed + unattributed bytes == captured bytes, always, counted per transfer
//!   (a packet seen on several interfaces is one: see below).
//! - Owners are looked up once per new flow endpoint, then again while unknown after the
//!   growing delays of [`AccountingConfig::retry`] (2 ms up to 200 ms), under budgets:
//!   never per packet. First lookups of flows that came in from a remote address have a
//!   budget of their own, so a flood from spoofed sources cannot starve the flows this
//!   machine starts; retries have a third. A local end still unknown is also retried on that schedule
//!   without waiting for a packet ([`Accounting::catch_up`]), up to the last delay, so a
//!   connection of a millisecond, with no later packet, is still found.
//!   When an owner turns up after a flow's first packets, those packets move from the
//!   bucket to it; when the other end had an owner already (the packets were attributed
//!   through it), the packets are counted on the flow for the late end and credited to it
//!   once found. Once found, an owner is kept (even after the process exits) until a
//!   new TCP connection reuses the same addresses and ports.
//! - An end not known as local when its flow starts may still be: a namespace created
//!   moments ago is learnt from its first process, after that process sent. Such an end
//!   is *unsure*: its locality is checked again on the retry schedule (a queue apart from
//!   the owner retries) and its traffic is set aside meanwhile, so a burst that left the
//!   namespace before its addresses were known is still credited to its sender in full.
//! - ICMP echo requests are sent by a socket and answered by the kernel; any other ICMP
//!   is the kernel's and stays unattributed (a raw socket sees copies of it all).
//! - A frame without IP (ARP, LLDP, a packet socket's own EtherType) that leaves with the
//!   capturing interface's own address was sent from here: it is credited as sent to the
//!   one process whose packet socket can have sent it (opened for that EtherType, else
//!   one that only sends, bound to that interface or to none; never a capture, which
//!   sees every frame), and to "other" (as sent) when none or several can
//!   ([`Accounting::record_link_frame`], `attribution/kernel/packet_table.rs`). Any other
//!   frame without IP is "other", as received; no process is credited with receiving it.
//! - While the capture thread is far behind (packets older than
//!   [`AccountingConfig::lookup_max_age`]) lookups are queued and run once it has caught
//!   up ([`Accounting::catch_up`]), so slow lookups never overflow the kernel buffer.
//! - A socket shared by several processes (after fork) is credited to whichever pid
//!   [`OwnerLookup::owner`] returns for it; the real lookup documents its choice.
//! - A DNS answer received by a local end names addresses for the process that owns it
//!   (host_names.rs, under a decode budget); connections carry those names and their
//!   service, and hosts.rs sums traffic per remote host once per interval.
//!
//! ## One transfer, however many interfaces saw it
//!
//! A packet crossing several local interfaces is captured on each; it is still one
//! transfer: its sender is credited once and its receiver once. Each IP packet carries a
//! fingerprint of the fields forwarding and NAT leave alone (`parse::ident`: IPv4
//! identification and lengths, TCP sequence and acknowledgement, the first payload bytes;
//! not addresses, ports, TTL or checksums). `sightings.rs` remembers recent transfers by
//! fingerprint; a packet with the fingerprint of one captured within 20 ms (kernel capture
//! time, not reading order), with the same sender or the same receiver, on an interface
//! that has not yet seen it as often as another has, is *another sighting*: it counts in
//! `CaptureTotals::repeated_bytes`, not in `captured_bytes`, and credits nothing but what
//! `repeat.rs` allows (below). A flow none of whose packets was seen twice in its first
//! second settles as seen once and skips the table (`flows::Sighted`: most traffic, at a
//! comparison per packet). The first sighting read wins; which one that is depends on
//! the order the capture thread reads the interfaces, and the result does not. What each
//! interface carried is counted per sighting by the capture (`capture::interfaces`);
//! processes and unattributed buckets per transfer, so `captured == attributed + Σ
//! unattributed` holds per transfer. Case by case:
//!
//! - **veth + bridge** (Docker, Podman, libvirt's `virbr0`): a container's packet routed
//!   by the host crosses the veth's host end (the bridge port) and the bridge, with the
//!   same addresses. A bridge whose ports are all captured gets no handle of its own (its
//!   totals come from its kernel counters, `capture::interfaces::bridge_candidates`), so
//!   the packet is seen once there; a bridge that is captured (a port down or not
//!   captured) sees it again: one transfer, credited through one flow. Between two
//!   containers on one bridge it is seen on both ports (switched, the bridge device does
//!   not see it): one transfer, the sender and the receiver each credited once.
//! - **routed or NAT egress**: the copy leaving on the egress device has the same
//!   fingerprint and one side rewritten (masquerading: the source; a forwarded port: the
//!   destination). It belongs to the same transfer. When the original was read first, the
//!   copy credits nothing; when the copy was read first, it credited what its untouched
//!   side owns (the server), and the original then credits the side NAT had hidden (the
//!   container's process), while the copy's translated end (the host's address and the
//!   port NAT picked) is marked as owned by no socket, so neither a later lookup nor the
//!   traffic set aside for it ever credits it (`repeat.rs`). NAT is translated by matching
//!   the copy to its original, not through conntrack: no capability beyond what capture
//!   needs (conntrack over netlink needs `CAP_NET_ADMIN`, which the helper drops, see
//!   `crate::privilege`), nothing per flow, and it also works when the NAT
//!   runs in another namespace (a router namespace, whose conntrack table the host's
//!   netlink socket does not see). Left: a translated copy read first whose translated
//!   end a host socket really holds (a UDP socket bound to the very port NAT chose; NAT
//!   avoids ports of tracked connections, not idle bound ones) credits that socket's
//!   process as the sender.
//! - **macvlan / ipvlan**: a container's macvlan or ipvlan lives in its namespace, which
//!   is not captured: its packets are seen once, on the lower device. One in the host's
//!   namespace is captured too: the packet is seen there and on the lower device, same
//!   addresses, one transfer (root scenarios `macvlan`: 100.00 % each way, both cases).
//!   A macvlan's TSO is fixed on, so over a lower device *without* TSO (a veth with
//!   `tso off`, an old NIC) it sees a TCP super-frame where the lower device sees its
//!   segments, with other fingerprints: the bytes of a segment that another interface
//!   carried already (by sequence number, `segments.rs`) are another sighting, whichever
//!   copy is read first (root scenario `macvlan::…without_tso…`).
//! - **`lo` inside a namespace**: only the host namespace's interfaces are captured, so
//!   traffic between two processes of one container over its own loopback is not seen at
//!   all. On the host's `lo` each packet is seen once (outgoing copies are filtered out in
//!   the kernel, `capture::snap_filter`).
//! - **tun with userspace encapsulation** (OpenVPN, wireguard-go, tailscale): the app's
//!   packet on the tun device and the VPN process's encapsulated packet on the physical
//!   link are different packets (other fingerprint): two transfers, the inner one credited
//!   to the app, the outer one to the VPN process, never both to the app (root scenario
//!   `tunnel::a_userspace_vpn…`: two relays over tun devices, all four processes
//!   100.00 % each way, nothing in the tunnel bucket).
//! - **kernel tunnel** (VXLAN, Geneve, GRE, IPIP, IPsec): the inner packet is seen on the
//!   tunnel's device (when it has one) and credited to the app; the outer one has no
//!   process behind it and goes to the tunnel bucket (`Transport::Tunnel`), never to the
//!   app whose task happened to run the encapsulation. Which flows those are is in
//!   `tunnels.rs` (root scenarios `tunnel`: the apps 100.00 % each way, the bucket
//!   100.0 % of the underlay's outer packets). IPsec without a tunnel device (transport
//!   mode, policy-based tunnels) hands a capture what leaves as ESP only: the app's sent
//!   traffic is in the tunnel bucket, not the app's. What comes in through a tunnel-mode
//!   policy is seen again once decrypted, and credited to the app (not tested here: this
//!   kernel has no ESP).
//! - **Repeated identical packets** (an unconnected UDP socket sending the same datagram
//!   twice: IPv4 identification 0, same bytes) are seen twice on each interface: the
//!   count per interface tells `n` transfers from `n` sightings of one.

mod credit;
pub(crate) mod flows;
mod host_names;
pub mod hosts;
mod lookups;
mod repeat;
mod segments;
mod sightings;
mod tunnels;

use crate::owner::{OwnerLookup, Pid, ProcessInfo, SocketBytes};
use crate::parse::{PacketKind, PacketMeta};
use crate::snapshot::{CaptureTotals, ConnectionStats, ProcessStats, UnattributedStats};
use crate::{services, Transport};
use credit::{flush, set_aside, settle_found};
use flows::{Flow, FlowKey, FlowTable, Orphans, PacketMap, Sighted, Traffic};
use host_names::HostNames;
use hosts::{HostKey, HostTable};
use lookups::LookupBudget;
use segments::Segments;
use sightings::{Seen, Sighting, Sightings};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Limits and timings of accounting.
#[derive(Debug, Clone)]
pub struct AccountingConfig {
    /// Delays before the successive lookups of an endpoint still unknown: short at first
    /// (the socket may not be in the kernel's tables or the process's fd list yet, and a
    /// connection of a few milliseconds must be caught while it lives), then longer; the
    /// last repeats.
    pub retry: Vec<Duration>,
    /// First lookups of new endpoints allowed per second overall (a port scan must not
    /// cost a lookup per packet); short bursts up to `lookup_burst` are allowed. A lookup
    /// costs some 20–100 µs here, a miss the least (a port scan: no socket to find), a few
    /// milliseconds at most when a holder must be searched for in /proc (real sockets,
    /// so bounded by what processes open). The burst covers 300 short connections (600
    /// ends) handled at once after the capture thread fell behind by a few milliseconds:
    /// at 500 the root churn scenario lost 1–5 % of its bytes in 1 run of 4.
    pub lookups_per_second: f64,
    pub lookup_burst: f64,
    /// The same for flows that came in from a remote address, apart: a flood of packets
    /// from spoofed sources spends this budget, never the one of flows this machine
    /// starts (a LAN host sending from random addresses left short local connections
    /// unlooked-up).
    pub inbound_lookups_per_second: f64,
    pub inbound_lookup_burst: f64,
    /// Retries of endpoints still unknown, budgeted apart so that endpoints that never
    /// resolve (kernel sockets, traffic of vanished processes) cannot starve new ones.
    pub retries_per_second: f64,
    pub retry_burst: f64,
    /// Hard cap on the number of flows kept.
    pub flow_capacity: usize,
    /// Flows idle this long are pruned at the end of an interval.
    pub idle_timeout: Duration,
    /// A TCP SYN on a flow silent for this long starts a new connection: owners are
    /// looked up afresh.
    pub syn_reuse_gap: Duration,
    /// A UDP datagram after a pause this long has its sender checked against the
    /// route-lookup log ([`OwnerLookup::last_udp_sender`]); within a burst it is not (a
    /// flood costs nothing). Shorter than a process takes to start, so a port taken again
    /// by a new process is noticed at its first datagram.
    pub udp_reuse_gap: Duration,
    /// Most exited processes listed; beyond it those with the least traffic are dropped
    /// from the list (their bytes stay in the attributed total), so a machine running
    /// millions of short processes does not grow the table without bound.
    pub max_exited_processes: usize,
    /// Least time between two [`OwnerLookup::refresh`] calls: a refresh re-reads socket
    /// tables and `/proc` (several milliseconds during which no packet is looked at), so
    /// short intervals do not refresh every time.
    pub refresh_period: Duration,
    /// While packets are older than this when accounted, the capture thread is far
    /// behind (a burst, or slow lookups): their lookups are queued until it has caught
    /// up, so the kernel buffer does not overflow while slow lookups run.
    pub lookup_max_age: Duration,
    /// Most flows queued for a lookup after catching up.
    pub deferred_capacity: usize,
    /// DNS messages received by local ends decoded per second for host names, in bursts
    /// of up to `dns_decode_burst`; the rest are counted (`CaptureTotals::dns_skipped`).
    /// A typical answer decodes in some 350 ns, the costliest a message can ask for in
    /// some 56 µs (`parse::dns`): at most about 6 % of a core under a hostile flood.
    pub dns_decodes_per_second: f64,
    pub dns_decode_burst: f64,
    /// How long traffic of a flow with no owner yet is held back from the published
    /// unattributed buckets (it is in neither a process nor a bucket meanwhile:
    /// `CaptureTotals::pending_bytes`). An owner found within it takes the traffic;
    /// after it the traffic is published as unattributed and stays there, so no
    /// published total ever goes down. Longer than the retry schedule (0.39 s) and a
    /// capture thread somewhat behind.
    pub orphan_hold: Duration,
}

impl Default for AccountingConfig {
    fn default() -> Self {
        Self {
            retry: [2, 5, 10, 20, 50, 100, 200]
                .map(Duration::from_millis)
                .to_vec(),
            lookups_per_second: 4000.0,
            lookup_burst: 2000.0,
            inbound_lookups_per_second: 4000.0,
            inbound_lookup_burst: 2000.0,
            retries_per_second: 500.0,
            retry_burst: 100.0,
            flow_capacity: 65_536,
            idle_timeout: Duration::from_secs(60),
            syn_reuse_gap: Duration::from_millis(500),
            udp_reuse_gap: Duration::from_millis(5),
            max_exited_processes: 10_000,
            refresh_period: Duration::from_secs(1),
            lookup_max_age: Duration::from_millis(100),
            deferred_capacity: 4096,
            dns_decodes_per_second: 1000.0,
            dns_decode_burst: 1000.0,
            orphan_hold: Duration::from_secs(2),
        }
    }
}

/// Which ends of a packet are local addresses (for per-interface sent/received).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Locality {
    pub src_local: bool,
    pub dst_local: bool,
}

/// A process and what it sent and received.
#[derive(Debug, Clone)]
struct ProcessEntry {
    info: ProcessInfo,
    sent: Traffic,
    received: Traffic,
}

/// One unattributed bucket.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    sent: Traffic,
    received: Traffic,
}

/// Order of the unattributed buckets in snapshots.
const BUCKETS: [Transport; 5] = [
    Transport::Tcp,
    Transport::Udp,
    Transport::Icmp,
    Transport::Other,
    Transport::Tunnel,
];

/// Longest age of a packet taken into account when measuring a flow's pauses.
const MAX_PAUSE_AGE: Duration = Duration::from_secs(1);

fn bucket_index(transport: Transport) -> usize {
    match transport {
        Transport::Tcp => 0,
        Transport::Udp => 1,
        Transport::Icmp => 2,
        Transport::Other => 3,
        Transport::Tunnel => 4,
    }
}

/// The bucket of `flow`'s unattributed traffic: a kernel tunnel's own, else its
/// transport's.
fn flow_bucket(transport: Transport, flow: &Flow) -> usize {
    if flow.tunnel {
        bucket_index(Transport::Tunnel)
    } else {
        bucket_index(transport)
    }
}

/// Everything of [`Accounting`] but its flow table, borrowed apart from it so that a flow
/// of the table and the counters it credits can be changed together.
struct Books<'a, O: OwnerLookup> {
    owners: &'a mut O,
    config: &'a AccountingConfig,
    processes: &'a mut PacketMap<Pid, ProcessEntry>,
    buckets: &'a mut [Bucket; 5],
    totals: &'a mut CaptureTotals,
    budget: &'a mut LookupBudget,
    inbound_budget: &'a mut LookupBudget,
    retry_budget: &'a mut LookupBudget,
    deferred: &'a mut VecDeque<FlowKey>,
    retries: &'a mut lookups::RetryQueue,
    rechecks: &'a mut lookups::RetryQueue,
    sightings: &'a mut Sightings,
    segments: &'a mut Segments,
    /// [`Accounting::set_stacked`].
    stacked: bool,
}

impl<O: OwnerLookup> Books<'_, O> {
    /// One lookup round for `flow`, whether a packet or a retry brought it: looks up its
    /// due ends (`order`: the source first, for a packet), schedules what it missed, and
    /// moves what the flow was owed to the owners found. Nothing when no end is due.
    fn lookup_round(&mut self, flow: &mut Flow, key: FlowKey, order: [usize; 2], now: Instant) {
        if !lookups::any_due(flow, now) {
            return;
        }
        // An owner may be found: what the present owners are owed is theirs alone.
        flush(flow, self.processes, &*self.owners);
        let round = lookups::look_up_due_ends(
            flow,
            &key,
            order,
            now,
            &mut lookups::Context {
                owners: self.owners,
                budget: self.budget,
                inbound_budget: self.inbound_budget,
                retry_budget: self.retry_budget,
                retry: &self.config.retry,
                totals: self.totals,
            },
        );
        lookups::schedule_round(
            [&mut *self.retries, &mut *self.rechecks],
            flow,
            key,
            round,
            self.config,
        );
        settle_found(
            flow,
            key.transport,
            round.found,
            &*self.owners,
            self.processes,
            &mut credit::Buckets {
                buckets: self.buckets,
                hold: self.config.orphan_hold,
                now,
            },
            self.totals,
        );
    }
}

/// Per-flow and per-process counters, generic over the owner lookup so tests use a fake.
pub struct Accounting<O: OwnerLookup> {
    owners: O,
    config: AccountingConfig,
    flows: FlowTable,
    processes: PacketMap<Pid, ProcessEntry>,
    buckets: [Bucket; 5],
    totals: CaptureTotals,
    budget: LookupBudget,
    inbound_budget: LookupBudget,
    retry_budget: LookupBudget,
    /// When the owner lookup was last refreshed.
    last_refresh: Option<Instant>,
    /// Flows whose lookups were put off while the thread was far behind.
    deferred: VecDeque<FlowKey>,
    /// Retries of unknown local ends, due on a timer rather than at a next packet.
    retries: lookups::RetryQueue,
    /// Locality checks of unsure ends (a namespace being discovered), on the same timer;
    /// a queue of their own, so the remote ends of busy traffic cannot crowd out retries.
    rechecks: lookups::RetryQueue,
    /// Names from DNS answers.
    names: HostNames,
    /// Traffic per remote host.
    hosts: HostTable,
    /// Each process's socket-layer counters at the last reset, taken off what it reports.
    socket_baseline: HashMap<Pid, SocketBytes>,
    /// Recent transfers, to tell another sighting of one from a new one.
    sightings: Sightings,
    /// Which sequence ranges each interface carried of the flows seen on several.
    segments: Segments,
    /// Whether a captured interface is stacked on another ([`Accounting::set_stacked`]).
    stacked: bool,
}

impl<O: OwnerLookup> Accounting<O> {
    pub fn new(owners: O, config: AccountingConfig, now: Instant) -> Self {
        Self {
            owners,
            flows: FlowTable::new(config.flow_capacity, config.idle_timeout),
            processes: PacketMap::default(),
            buckets: Default::default(),
            totals: CaptureTotals::default(),
            budget: LookupBudget::new(config.lookups_per_second, config.lookup_burst, now),
            inbound_budget: LookupBudget::new(
                config.inbound_lookups_per_second,
                config.inbound_lookup_burst,
                now,
            ),
            retry_budget: LookupBudget::new(config.retries_per_second, config.retry_burst, now),
            last_refresh: None,
            deferred: VecDeque::new(),
            retries: lookups::RetryQueue::default(),
            rechecks: lookups::RetryQueue::default(),
            names: HostNames::new(config.dns_decodes_per_second, config.dns_decode_burst, now),
            hosts: HostTable::default(),
            socket_baseline: HashMap::new(),
            sightings: Sightings::new(now),
            segments: Segments::default(),
            stacked: false,
            config,
        }
    }

    /// The flow table and everything else, borrowed apart.
    fn split(&mut self) -> (&mut FlowTable, Books<'_, O>) {
        let books = Books {
            owners: &mut self.owners,
            config: &self.config,
            processes: &mut self.processes,
            buckets: &mut self.buckets,
            totals: &mut self.totals,
            budget: &mut self.budget,
            inbound_budget: &mut self.inbound_budget,
            retry_budget: &mut self.retry_budget,
            deferred: &mut self.deferred,
            retries: &mut self.retries,
            rechecks: &mut self.rechecks,
            sightings: &mut self.sightings,
            segments: &mut self.segments,
            stacked: self.stacked,
        };
        (&mut self.flows, books)
    }

    /// Counts a frame that carries no IP packet and left this machine through interface
    /// `ifindex` (its source address is the interface's own), of EtherType `ethertype`:
    /// sent by the one process whose packet socket can have sent it
    /// ([`OwnerLookup::packet_owner`]), else by no one ("other", as sent). No process is
    /// credited as its receiver: a capture sees every frame without receiving it.
    pub fn record_link_frame(&mut self, wire_len: u32, ifindex: u32, ethertype: u16) -> Locality {
        let len = u64::from(wire_len);
        self.totals.captured_bytes = self.totals.captured_bytes.saturating_add(len);
        self.totals.captured_packets = self.totals.captured_packets.saturating_add(1);
        match self.owners.packet_owner(ifindex, ethertype) {
            Some(pid) => {
                credit::process_entry(&mut self.processes, &self.owners, pid)
                    .sent
                    .add(len, 1);
                self.totals.attributed_bytes = self.totals.attributed_bytes.saturating_add(len);
            }
            None => self.buckets[bucket_index(Transport::Other)]
                .sent
                .add(len, 1),
        }
        Locality {
            src_local: true,
            dst_local: false,
        }
    }

    /// Counts one packet seen at `now`, fresh from the wire.
    pub fn record(&mut self, meta: &PacketMeta, now: Instant) -> Locality {
        self.record_aged(meta, now, Duration::ZERO)
    }

    /// Counts one packet that the kernel captured `age` before `now`, on an interface
    /// that is not told (every packet counts as a transfer of its own: tests, benches).
    pub fn record_aged(&mut self, meta: &PacketMeta, now: Instant, age: Duration) -> Locality {
        self.record_on(meta, now, age, 0)
    }

    /// Counts one packet that the kernel captured `age` before `now` on the interface
    /// `iface` (any number that names it for the capture's lifetime): a packet seen on
    /// several interfaces is one transfer (see the module doc).
    pub fn record_on(
        &mut self,
        meta: &PacketMeta,
        now: Instant,
        age: Duration,
        iface: u32,
    ) -> Locality {
        let len = u64::from(meta.wire_len);
        if !meta.is_ip() {
            self.totals.captured_bytes = self.totals.captured_bytes.saturating_add(len);
            self.totals.captured_packets = self.totals.captured_packets.saturating_add(1);
            let bucket = &mut self.buckets[bucket_index(meta.transport)];
            bucket.received.add(len, 1);
            return Locality::default();
        }

        let (key, dir) = FlowKey::of(meta);
        let (flows, mut books) = self.split();
        let (owners, processes) = (&mut *books.owners, &mut *books.processes);
        let mut created = false;
        let (slot, flow) = flows.entry_slot(
            key,
            now,
            || {
                created = true;
                lookups::new_flow(&key, dir, meta.kind, &*owners, now)
            },
            |flows| {
                flows
                    .values_mut()
                    .for_each(|f| flush(f, processes, &*owners))
            },
        );
        // Digests of the ends only for flows still watched.
        let sighting = || Sighting::new(slot, dir, meta.src, meta.dst);
        let seen = books
            .sightings
            .sight(flow, created, meta, sighting, iface, now, age);
        let first = match seen {
            Seen::Again(slot) => books.sightings.first(slot),
            Seen::New(_) | Seen::Untracked => None,
        };
        // Payload bytes of a new sighting that another interface carried already, as a
        // super-frame or as segments (`segments.rs`): another sighting of them. Its
        // headers still count: whichever copy is read first, a transfer then counts
        // as its segments did on the wire (plus one super-frame's headers).
        let tracked = books.stacked && flow.sighted != Sighted::Once;
        let (elsewhere, all_elsewhere) = match seen {
            // Also in a flow's first second: the interface read first may be read whole
            // (the transfer's every segment) before the flow is known to be seen twice.
            Seen::New(_) if tracked => match meta.ident.tcp_range() {
                Some(range) => {
                    let at_us = books.sightings.at_us(now, age);
                    let carried = books.segments.carried_elsewhere(
                        slot,
                        flow.born_us,
                        dir,
                        iface,
                        range,
                        at_us,
                    );
                    (
                        u64::from(carried).min(len),
                        carried > 0 && carried >= range.1,
                    )
                }
                None => (0, false),
            },
            _ => (0, false),
        };
        let len = len - elsewhere;
        // A packet whose payload was all carried elsewhere is no packet of its own.
        let packets = u64::from(!all_elsewhere);
        if let Seen::Again(_) = seen {
            books.totals.repeated_bytes = books.totals.repeated_bytes.saturating_add(len);
            books.totals.repeated_packets = books.totals.repeated_packets.saturating_add(1);
        } else {
            books.totals.repeated_bytes = books.totals.repeated_bytes.saturating_add(elsewhere);
            books.totals.repeated_packets =
                books.totals.repeated_packets.saturating_add(1 - packets);
            books.totals.captured_bytes = books.totals.captured_bytes.saturating_add(len);
            books.totals.captured_packets = books.totals.captured_packets.saturating_add(packets);
        }
        let (owners, processes) = (&mut *books.owners, &mut *books.processes);
        // Pauses are measured between the kernel's capture times, not the times the
        // packets were read: a capture thread some milliseconds behind reads the end of
        // one exchange and the start of the next in one batch.
        // The age comes from wall clocks: a clock step between capture and read is not
        // taken for a packet captured hours ago.
        let captured = now.checked_sub(age.min(MAX_PAUSE_AGE)).unwrap_or(now);
        let pause = captured.saturating_duration_since(flow.last_seen);
        if meta.kind == PacketKind::TcpSyn
            && flow.dirs.iter().any(|d| d.packets > 0)
            && pause >= books.config.syn_reuse_gap
        {
            flush(flow, processes, &*owners);
            flow.forget_owners(now);
        }
        // UDP has no SYN: after a pause, a datagram from a local end whose port another
        // process sent from last is that process's (a DNS client's ephemeral port, drawn
        // again by the next client towards the same resolver). The flow's other end keeps
        // its owner (the same server).
        if key.transport == Transport::Udp
            && flow.ends[dir].local
            && flow.ends[dir].owner.is_some()
            && pause >= books.config.udp_reuse_gap
        {
            // The log names the sender outright: a fresh lookup could still find the old
            // socket's entry in the socket and holder caches until the next refresh.
            let sender = owners.last_udp_sender(meta.src, meta.dst);
            if sender.is_some() && sender != flow.ends[dir].owner {
                flush(flow, processes, &*owners);
                flow.ends[dir].owner = sender;
            }
        }
        // When the flow's last packet was captured (packets of several interfaces may be
        // read out of order: it never goes back).
        flow.last_seen = if created {
            captured
        } else {
            flow.last_seen.max(captured)
        };
        match meta.kind {
            PacketKind::TcpFin => flow.closing = true,
            PacketKind::TcpSyn => flow.closing = false,
            _ => {}
        }
        let (src, dst) = (dir, 1 - dir);

        if age > books.config.lookup_max_age {
            if lookups::any_due(flow, now) && !flow.queued {
                flow.queued = true;
                lookups::queue(books.deferred, key, books.config.deferred_capacity);
                books.totals.lookups_deferred += 1;
            }
        } else {
            // Most packets belong to flows with nothing to look up and skip the round.
            books.lookup_round(flow, key, [src, dst], now);
        }

        let (src_owner, dst_owner) = (flow.ends[src].owner, flow.ends[dst].owner);
        let locality = Locality {
            src_local: flow.ends[src].local,
            dst_local: flow.ends[dst].local,
        };
        let slot = match seen {
            Seen::Again(slot) => {
                let translation = repeat::credit_missing_ends(
                    flow,
                    sighting(),
                    len,
                    first,
                    &*books.owners,
                    books.processes,
                );
                if let Some(translation) = translation {
                    books.sightings.credit(slot, translation.credited);
                }
                if let Some(first) = first {
                    repeat::after_copy(flows, first.sighting, translation);
                }
                return locality;
            }
            Seen::New(slot) => Some(slot),
            Seen::Untracked => None,
        };
        flow.dirs[dir].add(len, packets);
        // Only answers a local end received can name what a local process connects to.
        let dns_asker = meta
            .dns
            .filter(|_| flow.ends[dst].local)
            .map(|dns| (dns, dst_owner));
        if src_owner.is_some() || dst_owner.is_some() {
            // The owners' process entries get it at the interval's end (see `flush`).
            flow.uncredited[dir].add(len, packets);
            books.totals.attributed_bytes = books.totals.attributed_bytes.saturating_add(len);
            if src_owner.is_none() || dst_owner.is_none() {
                set_aside(flow, src, len, packets);
            }
        } else {
            let bucket = &mut books.buckets[flow_bucket(key.transport, flow)];
            let column = usize::from(!locality.src_local);
            let traffic = if locality.src_local {
                &mut bucket.sent
            } else {
                &mut bucket.received
            };
            traffic.add(len, packets);
            flow.orphans
                .get_or_insert_with(|| Orphans::new(now))
                .traffic[dir][column]
                .add(len, packets);
        }
        if let Some(slot) = slot {
            books
                .sightings
                .credit(slot, [src_owner.is_some(), dst_owner.is_some()]);
        }
        if let Some((dns, asker)) = dns_asker {
            self.names
                .learn(&self.owners, dns, asker, &mut self.totals, now);
        }
        locality
    }

    /// Runs the lookups put off while the thread was behind, oldest first, then the
    /// retries of unknown ends and the locality checks of unsure ends due at `now`, for at most `time`; returns whether some are
    /// still waiting (retries not yet due do not count).
    pub fn catch_up(&mut self, now: Instant, time: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < time {
            let Some(key) = self
                .deferred
                .pop_front()
                .or_else(|| self.retries.pop_due(now))
                .or_else(|| self.rechecks.pop_due(now))
            else {
                break;
            };
            let (flows, mut books) = self.split();
            let Some(flow) = flows.get_mut(&key) else {
                continue;
            };
            flow.queued = false;
            books.lookup_round(flow, key, [0, 1], now);
        }
        !self.deferred.is_empty() || self.retries.any_due(now) || self.rechecks.any_due(now)
    }

    /// Owner lookups run since start (or the last reset): the capture thread reads the
    /// clock again after a packet that ran one.
    pub fn lookups_run(&self) -> u64 {
        self.totals.owner_lookups
    }

    /// Whether lookups wait to be retried or run after catching up, due now or later.
    pub fn lookups_waiting(&self) -> bool {
        !self.deferred.is_empty() || !self.retries.is_empty() || !self.rechecks.is_empty()
    }

    /// Lets the owner lookup prepare for coming lookups while the thread is idle (see
    /// [`OwnerLookup::prepare`]).
    pub fn prepare(&mut self) {
        self.owners.prepare();
    }

    /// The owner lookup's descriptors to poll with the handles ([`OwnerLookup::wake_fds`]).
    pub fn wake_fds(&self) -> Vec<std::os::fd::BorrowedFd<'_>> {
        self.owners.wake_fds()
    }

    /// One of [`Self::wake_fds`] was readable ([`OwnerLookup::woken`]).
    pub fn woken(&mut self) {
        self.owners.woken();
    }

    /// Closes an interval that lasted `elapsed`: computes rates, prunes idle flows,
    /// refreshes process details (exited processes) and returns the per-process and
    /// unattributed statistics.
    pub fn end_interval(
        &mut self,
        elapsed: Duration,
        now: Instant,
    ) -> (Vec<ProcessStats>, Vec<UnattributedStats>) {
        let seconds = elapsed.as_secs_f64();
        self.count_hosts(seconds, now);
        for flow in self.flows.values_mut() {
            flush(flow, &mut self.processes, &self.owners);
            for traffic in flow.dirs.iter_mut().chain(
                flow.orphans
                    .iter_mut()
                    .flat_map(|o| o.traffic.iter_mut().flatten()),
            ) {
                traffic.end_interval(seconds);
            }
        }
        self.flows.prune_idle(now);
        let due = self
            .last_refresh
            .is_none_or(|at| now.saturating_duration_since(at) >= self.config.refresh_period);
        if due {
            self.last_refresh = Some(now);
            let processes = &self.processes;
            self.owners.refresh(&|pid| processes.contains_key(&pid));
        }
        for (pid, entry) in &mut self.processes {
            entry.sent.end_interval(seconds);
            entry.received.end_interval(seconds);
            if let Some(info) = self.owners.process(*pid) {
                if *info != entry.info {
                    entry.info = info.clone();
                }
            }
        }
        for bucket in &mut self.buckets {
            bucket.sent.end_interval(seconds);
            bucket.received.end_interval(seconds);
        }
        self.limit_exited();
        let processes = &self.processes;
        self.names.sweep(now, |pid| processes.contains_key(&pid));
        (self.process_stats(), self.published_unattributed(now))
    }

    /// The unattributed buckets as published at `now`: without the traffic of flows whose
    /// owner may still be found ([`AccountingConfig::orphan_hold`]), which is counted in
    /// `CaptureTotals::pending_bytes` instead. Never lower than at an earlier `now` (but
    /// after [`Self::reset_totals`]): held traffic either moves to a process or, once its
    /// hold ends, is published here for good (the flow forgets it as orphans).
    fn published_unattributed(&mut self, now: Instant) -> Vec<UnattributedStats> {
        let mut held = [[0u64; 2]; 5];
        for (key, flow) in self.flows.iter_mut() {
            // A tunnel device made after the flow began is known by now (the namespace
            // was read again at this interval's refresh): what is still held moves to
            // the tunnel's bucket, and the flow's later packets go there too.
            if !flow.tunnel
                && flow.ends.iter().all(|end| end.owner.is_none())
                && tunnels::is_kernel_tunnel(key, &self.owners)
            {
                credit::move_to_tunnel(flow, key.transport, &mut self.buckets);
            }
            let Some(orphans) = flow.orphans.as_deref() else {
                continue;
            };
            if now.saturating_duration_since(orphans.since) >= self.config.orphan_hold {
                // Published for good: the flow's later orphans start a hold of their own.
                flow.orphans = None;
                continue;
            }
            let bucket = &mut held[flow_bucket(key.transport, flow)];
            for dir in &orphans.traffic {
                bucket[0] += dir[0].bytes;
                bucket[1] += dir[1].bytes;
            }
        }
        self.totals.pending_bytes = held.iter().flatten().sum();
        let mut stats = self.unattributed_stats();
        for (stat, [sent, received]) in stats.iter_mut().zip(held) {
            stat.sent_bytes = stat.sent_bytes.saturating_sub(sent);
            stat.received_bytes = stat.received_bytes.saturating_sub(received);
        }
        stats
    }

    /// Adds the interval's bytes of every flow side with an owner to its remote host,
    /// closes the hosts' interval and publishes them. Runs before the flows' interval
    /// closes (their interval bytes are read here).
    fn count_hosts(&mut self, seconds: f64, now: Instant) {
        for (key, flow) in self.flows.iter() {
            for side in 0..2 {
                let Some(pid) = flow.ends[side].owner else {
                    continue;
                };
                let (sent, received) = (&flow.dirs[side], &flow.dirs[1 - side]);
                if sent.interval_bytes == 0 && received.interval_bytes == 0 {
                    continue;
                }
                let remote = key.addr(1 - side).ip().to_canonical();
                let host = match self.names.name_of(&self.owners, pid, remote, now) {
                    Some(name) => HostKey::Name(name),
                    None => HostKey::Address(remote),
                };
                self.hosts.add(
                    host,
                    remote,
                    pid,
                    sent.interval_bytes,
                    received.interval_bytes,
                );
            }
        }
        self.hosts.end_interval(seconds);
        hosts::publish(|| self.hosts.stats());
    }

    /// Every remote host talked to since start (or the last reset), the busiest first.
    pub fn hosts(&self) -> Vec<crate::snapshot::HostStats> {
        self.hosts.stats()
    }

    /// Hosts dropped by the bound of the hosts table.
    pub fn hosts_dropped(&self) -> u64 {
        self.hosts.dropped()
    }

    /// Drops the exited processes with the least traffic beyond the configured cap.
    fn limit_exited(&mut self) {
        let cap = self.config.max_exited_processes;
        let mut exited: Vec<(u64, Pid)> = self
            .processes
            .iter()
            .filter(|(_, e)| e.info.exited)
            .map(|(pid, e)| (e.sent.bytes.saturating_add(e.received.bytes), *pid))
            .collect();
        if exited.len() <= cap {
            return;
        }
        exited.sort_unstable();
        let excess = exited.len() - cap;
        for (_, pid) in &exited[..excess] {
            self.processes.remove(pid);
        }
    }

    /// Every process credited since start (or the last reset), by pid.
    pub fn process_stats(&mut self) -> Vec<ProcessStats> {
        self.flush_all();
        let senders = self.owners.sender_log();
        self.totals.sender_log = senders.is_some();
        self.totals.sender_events_lost = senders.unwrap_or(0);
        let tally = self.owners.socket_bytes();
        self.totals.socket_counters = tally.is_some();
        self.totals.socket_events_lost = tally.map_or(0, |t| t.lost);
        let baseline = &self.socket_baseline;
        let socket = |pid: Pid| -> Option<SocketBytes> {
            let now = tally?.per_pid.get(&pid).copied().unwrap_or_default();
            let before = baseline.get(&pid).copied().unwrap_or_default();
            Some(SocketBytes {
                sent: now.sent.saturating_sub(before.sent),
                received: now.received.saturating_sub(before.received),
            })
        };
        let mut stats: Vec<ProcessStats> = self
            .processes
            .values()
            .map(|entry| ProcessStats {
                pid: entry.info.pid,
                name: entry.info.name.clone(),
                cmdline: entry.info.cmdline.clone(),
                uid: entry.info.uid,
                user: entry.info.user.clone(),
                app_id: entry.info.app_id.clone(),
                exited: entry.info.exited,
                details_unavailable: entry.info.details_unavailable,
                sent_bytes: entry.sent.bytes,
                received_bytes: entry.received.bytes,
                sent_packets: entry.sent.packets,
                received_packets: entry.received.packets,
                sent_rate: entry.sent.rate,
                received_rate: entry.received.rate,
                socket_sent_bytes: socket(entry.info.pid).map(|b| b.sent),
                socket_received_bytes: socket(entry.info.pid).map(|b| b.received),
            })
            .collect();
        stats.sort_by_key(|p| p.pid);
        stats
    }

    /// The unattributed buckets, always all five, in the order tcp, udp, icmp, other, tunnel,
    /// as of now: with the traffic still held for an owner that may be found (snapshots
    /// publish them without it, see `published_unattributed`).
    pub fn unattributed_stats(&self) -> Vec<UnattributedStats> {
        BUCKETS
            .iter()
            .map(|transport| {
                let bucket = &self.buckets[bucket_index(*transport)];
                UnattributedStats {
                    protocol: *transport,
                    sent_bytes: bucket.sent.bytes,
                    received_bytes: bucket.received.bytes,
                }
            })
            .collect()
    }

    /// Connections of one process still in the flow table, with the names of their remote
    /// addresses as of `now`; `None` for a pid never seen.
    pub fn connections_at(&mut self, pid: Pid, now: Instant) -> Option<Vec<ConnectionStats>> {
        if !self.processes.contains_key(&pid) {
            return None;
        }
        let mut connections = Vec::new();
        let services = services::system();
        for (key, flow) in self.flows.iter() {
            for side in 0..2 {
                if flow.ends[side].owner == Some(pid) {
                    let (sent, received) = (&flow.dirs[side], &flow.dirs[1 - side]);
                    let (local, remote) = (key.addr(side), key.addr(1 - side));
                    let name = self.names.name_of(&self.owners, pid, remote.ip(), now);
                    connections.push(ConnectionStats {
                        protocol: key.transport,
                        local,
                        remote,
                        sent_bytes: sent.bytes,
                        received_bytes: received.bytes,
                        sent_rate: sent.rate,
                        received_rate: received.rate,
                        remote_name: name.map(|n| n.to_string()),
                        service: services
                            .of_connection(key.transport, local.port(), remote.port())
                            .map(str::to_owned),
                    });
                }
            }
        }
        connections.sort_by_key(|c| (c.protocol, c.local, c.remote));
        Some(connections)
    }

    /// [`Accounting::connections_at`] now.
    pub fn connections(&mut self, pid: Pid) -> Option<Vec<ConnectionStats>> {
        self.connections_at(pid, Instant::now())
    }

    /// Adds what every flow's owners are owed to their process entries.
    fn flush_all(&mut self) {
        for flow in self.flows.values_mut() {
            flush(flow, &mut self.processes, &self.owners);
        }
    }

    /// Sets every total to zero; exited processes are forgotten, rates are kept.
    pub fn reset_totals(&mut self) {
        // Counted before the reset: into the interval's rates, then zeroed with the totals.
        self.flush_all();
        self.processes.retain(|_, entry| !entry.info.exited);
        for entry in self.processes.values_mut() {
            entry.sent.reset_totals();
            entry.received.reset_totals();
        }
        for flow in self.flows.values_mut() {
            for traffic in flow.dirs.iter_mut() {
                traffic.reset_totals();
            }
            // Orphans already counted before the reset must not be taken out again.
            flow.orphans = Default::default();
            flow.unclaimed = Default::default();
        }
        for bucket in &mut self.buckets {
            bucket.sent.reset_totals();
            bucket.received.reset_totals();
        }
        self.hosts.reset_totals();
        self.socket_baseline = self
            .owners
            .socket_bytes()
            .map(|tally| tally.per_pid.clone())
            .unwrap_or_default();
        self.totals = CaptureTotals::default();
    }

    /// Captured and attributed byte counts since start (or the last reset).
    pub fn totals(&self) -> CaptureTotals {
        self.totals
    }

    /// Whether some captured interface is stacked on another captured one (a host macvlan
    /// on its lower device, a VLAN on its NIC, a bond on its slaves), the only way one TCP
    /// transfer is seen as a super-frame on one interface and as segments on another
    /// (`segments.rs`). Without, the segments' bookkeeping (a hash probe per new data
    /// segment of a flow seen, or maybe seen, on several interfaces) is skipped. Off until
    /// set (the capture sets it from sysfs at each rescan).
    pub fn set_stacked(&mut self, stacked: bool) {
        self.stacked = stacked;
    }

    /// Number of flows in the table (bounded by [`AccountingConfig::flow_capacity`]).
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }
}

#[cfg(test)]
mod host_names_tests;
#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod published_tests;
#[cfg(test)]
mod sightings_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tunnels_tests;

#[cfg(test)]
impl<O: OwnerLookup> Accounting<O> {
    /// The owner lookup, for tests to inspect their fake.
    pub fn owners(&self) -> &O {
        &self.owners
    }

    pub fn owners_mut(&mut self) -> &mut O {
        &mut self.owners
    }
}
