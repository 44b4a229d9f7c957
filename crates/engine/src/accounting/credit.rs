//! Crediting processes: their entries, and moving a flow's unattributed packets to the
//! owners found after them.

use super::{bucket_index, flow_bucket, Bucket, ProcessEntry};
use crate::accounting::flows::{Dir, Flow, PacketMap, Traffic};
use crate::owner::{OwnerLookup, Pid, ProcessInfo};
use crate::snapshot::CaptureTotals;
use crate::Transport;
use std::time::{Duration, Instant};

/// The unattributed buckets, and how long a flow's orphans may still leave them.
pub(super) struct Buckets<'a> {
    pub(super) buckets: &'a mut [Bucket; 5],
    /// [`super::AccountingConfig::orphan_hold`].
    pub(super) hold: Duration,
    pub(super) now: Instant,
}

/// Owners were just found for the ends marked in `found`: their process entries exist
/// and the flow's earlier unattributed packets move to them.
pub(super) fn settle_found<O: OwnerLookup>(
    flow: &mut Flow,
    transport: Transport,
    found: [bool; 2],
    owners: &O,
    processes: &mut PacketMap<Pid, ProcessEntry>,
    buckets: &mut Buckets,
    totals: &mut CaptureTotals,
) {
    if !found.contains(&true) {
        return;
    }
    for (side, end) in flow.ends.iter().enumerate() {
        if let (true, Some(pid)) = (found[side], end.owner) {
            process_entry(processes, owners, pid);
        }
    }
    adopt_orphans(flow, transport, found, processes, owners, buckets, totals);
    claim_unclaimed(flow, found, processes, owners);
}

/// `flow` turned out to be a kernel tunnel's (`tunnels.rs`): its traffic still held in
/// its transport's bucket moves to the tunnel's, and its later packets go there too. What
/// was published already stays where it was (published totals never go down).
pub(super) fn move_to_tunnel(flow: &mut Flow, transport: Transport, buckets: &mut [Bucket; 5]) {
    let (from, to) = (bucket_index(transport), bucket_index(Transport::Tunnel));
    flow.tunnel = true;
    let Some(orphans) = flow.orphans.as_deref() else {
        return;
    };
    for [as_sent, as_received] in orphans.traffic {
        buckets[from].sent.remove(&as_sent);
        buckets[from].received.remove(&as_received);
        // Totals only: these bytes were in the transport bucket's rates already, and adding
        // them to the interval under way would show them again, as a burst.
        move_totals(&mut buckets[to].sent, &as_sent);
        move_totals(&mut buckets[to].received, &as_received);
    }
}

fn move_totals(to: &mut Traffic, moved: &Traffic) {
    to.bytes = to.bytes.saturating_add(moved.bytes);
    to.packets = to.packets.saturating_add(moved.packets);
}

/// Counts traffic of the unowned local (or unsure) ends of a packet credited to its other
/// end, for crediting them once their owner is found (it is attributed already: no bucket moves).
pub(super) fn set_aside(flow: &mut Flow, src: usize, bytes: u64, packets: u64) {
    for (side, column) in [(src, 0), (1 - src, 1)] {
        let end = &flow.ends[side];
        if (end.local || end.unsure) && !end.kernel && end.owner.is_none() {
            flow.unclaimed[side][column].add(bytes, packets);
        }
    }
}

/// An unsure end turned out not to be local: what was set aside for it is dropped.
pub(super) fn forget_set_aside(flow: &mut Flow, side: usize) {
    flow.unclaimed[side] = Default::default();
}

/// Credits the ends just found with the traffic set aside for them.
fn claim_unclaimed<O: OwnerLookup>(
    flow: &mut Flow,
    found: [bool; 2],
    processes: &mut PacketMap<Pid, ProcessEntry>,
    owners: &O,
) {
    for (side, unclaimed) in flow.unclaimed.iter_mut().enumerate() {
        let (true, Some(pid)) = (found[side], flow.ends[side].owner) else {
            continue;
        };
        let [sent, received] = std::mem::take(unclaimed);
        // Bytes with no packet are possible: a copy whose payload another interface
        // carried still counts its headers (`segments.rs`).
        if sent.bytes == 0 && received.bytes == 0 && sent.packets == 0 && received.packets == 0 {
            continue;
        }
        let entry = process_entry(processes, owners, pid);
        entry.sent.add(sent.bytes, sent.packets);
        entry.received.add(received.bytes, received.packets);
    }
}

/// Adds the traffic the flow's owners were credited with since the last flush to their
/// process entries. Called once per interval and before the owners change (a lookup may
/// find one, a reused 4-tuple forgets them) or the flow is evicted, so each packet goes
/// to the owners it had when it was counted.
pub(super) fn flush<O: OwnerLookup>(
    flow: &mut Flow,
    processes: &mut PacketMap<Pid, ProcessEntry>,
    owners: &O,
) {
    for dir in [0 as Dir, 1] {
        let tally = std::mem::take(&mut flow.uncredited[dir]);
        // Headers of a copy whose payload another interface carried: bytes, no packet.
        if tally.packets == 0 && tally.bytes == 0 {
            continue;
        }
        if let Some(pid) = flow.ends[dir].owner {
            process_entry(processes, owners, pid)
                .sent
                .add(tally.bytes, tally.packets);
        }
        if let Some(pid) = flow.ends[1 - dir].owner {
            process_entry(processes, owners, pid)
                .received
                .add(tally.bytes, tally.packets);
        }
    }
}

/// The entry of `pid`, created with the lookup's details (or a bare pid) when new.
pub(super) fn process_entry<'a, O: OwnerLookup>(
    processes: &'a mut PacketMap<Pid, ProcessEntry>,
    owners: &O,
    pid: Pid,
) -> &'a mut ProcessEntry {
    processes.entry(pid).or_insert_with(|| ProcessEntry {
        info: owners.process(pid).cloned().unwrap_or(ProcessInfo {
            pid,
            name: pid.to_string(),
            ..ProcessInfo::default()
        }),
        sent: Traffic::default(),
        received: Traffic::default(),
    })
}

/// An owner was just found for the ends marked in `found`: the flow's packets that went
/// unattributed so far move from their bucket to the owners, unless their hold is over
/// (they were published as unattributed and stay so; the owners get what follows).
fn adopt_orphans<O: OwnerLookup>(
    flow: &mut Flow,
    transport: Transport,
    found: [bool; 2],
    processes: &mut PacketMap<Pid, ProcessEntry>,
    owners: &O,
    buckets: &mut Buckets,
    totals: &mut CaptureTotals,
) {
    let Some(all) = flow.orphans.take() else {
        return;
    };
    if buckets.now.saturating_duration_since(all.since) >= buckets.hold {
        return;
    }
    for dir in [0 as Dir, 1] {
        let [as_sent, as_received] = all.traffic[dir];
        let mut orphans = as_sent;
        orphans.add(as_received.bytes, as_received.packets);
        if orphans.packets == 0 && orphans.bytes == 0 {
            continue;
        }
        let (sender, receiver) = (dir, 1 - dir);
        for (side, sent) in [(sender, true), (receiver, false)] {
            let end = &flow.ends[side];
            if !found[side] && (end.local || end.unsure) && !end.kernel && end.owner.is_none() {
                // Attributed from now on, through the other end: this end's share waits
                // for its own owner.
                let column = if sent { 0 } else { 1 };
                flow.unclaimed[side][column].add(orphans.bytes, orphans.packets);
            }
            if let (true, Some(pid)) = (found[side], flow.ends[side].owner) {
                let entry = process_entry(processes, owners, pid);
                let traffic = if sent {
                    &mut entry.sent
                } else {
                    &mut entry.received
                };
                traffic.add(orphans.bytes, orphans.packets);
            }
        }
        let bucket = &mut buckets.buckets[flow_bucket(transport, flow)];
        bucket.sent.remove(&as_sent);
        bucket.received.remove(&as_received);
        totals.attributed_bytes = totals.attributed_bytes.saturating_add(orphans.bytes);
    }
}
