//! Another sighting of a transfer counted already (`sightings`): what it may still credit.
//!
//! A copy on the same flow (a veth port, then the bridge: same addresses) credits nothing:
//! the first sighting's flow credited its ends, or set their share aside until their
//! owners are found. A copy whose addresses differ on one side was translated by NAT, and
//! one of the two sightings carries the translated end (the host's address and a port
//! NAT picked), which no socket owns. Which sighting is read first depends on the order
//! the capture thread reads the interfaces, so the translated copy may come first: then
//! the original credits the end NAT had hidden, and the first sighting's translated end is
//! marked as having no socket ([`after_copy`]), so neither a later lookup nor its
//! set-aside share can credit it a second time (or to a host socket that holds the same
//! port).

use super::credit::{forget_set_aside, process_entry};
use super::flows::{Flow, FlowTable, PacketMap, Sighted};
use super::sightings::{digest, First, Sighting};
use super::ProcessEntry;
use crate::owner::{OwnerLookup, Pid};

/// What a translated copy credited, and where the first sighting's translated ends are.
#[derive(Debug, Clone, Copy)]
pub struct Translation {
    /// Sender, receiver credited by this sighting.
    pub credited: [bool; 2],
    /// Its sides (in its flow) that NAT changed and whose end this sighting credited.
    pub sides: [Option<usize>; 2],
}

/// Credits, for `sighting` (of `flow`) of `len` bytes, the ends that NAT changed and that
/// the first sighting (`first`) could not credit; nothing for a copy on the same flow.
pub fn credit_missing_ends<O: OwnerLookup>(
    flow: &mut Flow,
    sighting: Sighting,
    len: u64,
    first: Option<First>,
    owners: &O,
    processes: &mut PacketMap<Pid, ProcessEntry>,
) -> Option<Translation> {
    let First {
        sighting: original,
        credited,
    } = first?;
    if original.same_flow(&sighting) {
        return None;
    }
    let dir = sighting.dir;
    let sides = [dir, 1 - dir];
    let mut give: [Option<Pid>; 2] = [None; 2];
    for end in 0..2 {
        if sighting.ends[end] != original.ends[end] && !credited[end] {
            give[end] = flow.ends[sides[end]].owner;
        }
    }
    match give {
        [None, None] => return None,
        [Some(_), Some(_)] => flow.uncredited[dir].add(len, 1),
        [Some(sender), None] => process_entry(processes, owners, sender).sent.add(len, 1),
        [None, Some(receiver)] => process_entry(processes, owners, receiver)
            .received
            .add(len, 1),
    }
    flow.dirs[dir].add(len, 1);
    let first_sides = [original.dir, 1 - original.dir];
    Some(Translation {
        credited: [give[0].is_some(), give[1].is_some()],
        sides: [0, 1].map(|end| give[end].map(|_| first_sides[end])),
    })
}

/// After a copy of the transfer whose first sighting is `first`: that flow is seen on
/// several interfaces (it keeps going through the sightings table), and when the copy
/// credited ends NAT had hidden (`translation`), the first sighting's ends on those sides
/// are NAT translations: no socket owns them, nothing set aside for them is ever credited,
/// and they are never looked up again. An end with an owner is left alone (its owner was
/// credited already); so is a flow whose slot now holds another flow (its ends' digests
/// differ).
pub fn after_copy(flows: &mut FlowTable, first: Sighting, translation: Option<Translation>) {
    let Some((key, flow)) = flows.by_slot_mut(first.flow) else {
        return;
    };
    let (src, dst) = (key.addr(first.dir), key.addr(1 - first.dir));
    if [digest(src), digest(dst)] != first.ends {
        return;
    }
    flow.sighted = Sighted::Several;
    let Some(translation) = translation else {
        return;
    };
    for side in translation.sides.into_iter().flatten() {
        let Some(end) = flow.ends.get_mut(side) else {
            continue;
        };
        if end.owner.is_some() {
            continue;
        }
        // `kernel`: an end no socket owns (also the kernel's side of an ICMP echo).
        end.kernel = true;
        end.unsure = false;
        forget_set_aside(flow, side);
    }
}
