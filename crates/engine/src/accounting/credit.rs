//! Crediting processes: their entries, and moving a flow's unattributed packets to the
//! owners found after them.

use super::{bucket_index, Bucket, ProcessEntry};
use crate::flows::{Dir, Flow, Traffic};
use crate::owner::{OwnerLookup, Pid, ProcessInfo};
use crate::snapshot::CaptureTotals;
use crate::Transport;
use std::collections::HashMap;

/// Owners were just found for the ends marked in `found`: their process entries exist
/// and the flow's earlier unattributed packets move to them.
pub(super) fn settle_found<O: OwnerLookup>(
    flow: &mut Flow,
    transport: Transport,
    found: [bool; 2],
    owners: &O,
    processes: &mut HashMap<Pid, ProcessEntry>,
    buckets: &mut [Bucket; 4],
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
}

/// The entry of `pid`, created with the lookup's details (or a bare pid) when new.
pub(super) fn process_entry<'a, O: OwnerLookup>(
    processes: &'a mut HashMap<Pid, ProcessEntry>,
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
/// unattributed so far move from their bucket to the owners.
fn adopt_orphans<O: OwnerLookup>(
    flow: &mut Flow,
    transport: Transport,
    found: [bool; 2],
    processes: &mut HashMap<Pid, ProcessEntry>,
    owners: &O,
    buckets: &mut [Bucket; 4],
    totals: &mut CaptureTotals,
) {
    let Some(all) = flow.orphans.take() else {
        return;
    };
    for dir in [0 as Dir, 1] {
        let [as_sent, as_received] = all[dir];
        let mut orphans = as_sent;
        orphans.add(as_received.bytes, as_received.packets);
        if orphans.packets == 0 {
            continue;
        }
        let (sender, receiver) = (dir, 1 - dir);
        for (side, sent) in [(sender, true), (receiver, false)] {
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
        let bucket = &mut buckets[bucket_index(transport)];
        bucket.sent.remove(&as_sent);
        bucket.received.remove(&as_received);
        totals.attributed_bytes = totals.attributed_bytes.saturating_add(orphans.bytes);
    }
}
