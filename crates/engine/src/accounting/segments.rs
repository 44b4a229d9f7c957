//! One TCP transfer seen as a super-frame on one interface and as its segments on
//! another: a macvlan (whose TSO is fixed on) over a lower device without TSO sees the
//! 64 KiB frame the socket handed down, the lower device the 1,448-byte segments the
//! kernel cut it into. Their fingerprints differ (`parse::ident`: lengths, identification,
//! first bytes), so `sightings` takes them for separate transfers, and such a transfer was
//! counted twice (204 % in stop 25's measurement).
//!
//! What they share is the byte stream: every sighting of a flow's direction carries the
//! same sequence numbers. So, for the flows already known to be seen on several interfaces
//! (`flows::Sighted::Several`; a handshake's packets are identical on both) or may still
//! turn out to be (in their first second), each interface's *run* is remembered: the
//! sequence range it carried last, contiguous, and when. A new segment's bytes that another interface's run holds and its own does
//! not were carried by that interface already: those bytes are another sighting, whichever
//! copy is read first (the super-frame, then its segments; or the segments, then the
//! super-frame; or part of each). Bytes its own run holds already are a retransmission on
//! that interface: a new transfer, counted.
//!
//! What counts: a copy's headers always (so a transfer counts as the segments the wire
//! carried, plus one set of headers per super-frame, whichever copy is read first), its
//! payload only where no other interface carried it; packets are those of the copy read
//! first (a super-frame read first counts as one packet, its segments as none).
//!
//! Kept only while some captured interface is stacked on another captured one
//! ([`super::Accounting::set_stacked`], from sysfs `lower_*` links: a macvlan or ipvlan
//! on its lower device, but also a VLAN on its NIC, a bond on its slaves, a captured
//! bridge on its ports), where such copies can arise. It costs a hash probe per new data
//! segment of a flow in its first second, and for the flow's whole life once it is seen
//! on several interfaces (0.02 s of the capture thread's 0.13 s on a 1 GiB veth
//! transfer, forced on); a host without stacking does without.
//!
//! A super-frame retransmitted is counted on both interfaces (each carried those bytes
//! already, so each copy looks like its own retransmission): an overcount of the
//! retransmission alone.
//!
//! Only copies with the same addresses are recognised (a NATed copy belongs to another
//! flow). Bounded: at most [`MAX_FLOWS`] flow directions are remembered; past that the
//! memory starts again, and the copies are then counted twice, as before: an overcount,
//! never a loss.

use super::flows::{Dir, PacketMap};
use super::sightings::WINDOW;

/// Most flow directions remembered (a few hundred KiB).
pub const MAX_FLOWS: usize = 8192;
/// Longest run kept, in bytes: its older end slides along (sequence numbers are compared
/// within 2^31 of each other, and no copy lags its first sighting by a gibibyte).
const MAX_RUN: u32 = 1 << 30;
/// Interfaces remembered per flow direction: the upper and the lower device.
const RUNS: usize = 2;

/// The sequence range one interface carried last of a flow's direction.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    iface: u32,
    start: u32,
    end: u32,
    /// Capture times of its first and last segments, in the sightings table's
    /// microseconds.
    first_us: u32,
    at_us: u32,
    used: bool,
}

impl Run {
    /// Whether a segment captured at `at_us` may be a copy of bytes of this run: captured
    /// while the run was (within [`WINDOW`] of it). The capture thread may read one
    /// interface's whole batch, a whole transfer's worth, before the other's.
    fn fresh(&self, at_us: u32) -> bool {
        let window = WINDOW.as_micros() as i64;
        let since_first = i64::from(at_us.wrapping_sub(self.first_us) as i32);
        let since_last = i64::from(at_us.wrapping_sub(self.at_us) as i32);
        self.used && since_first >= -window && since_last <= window
    }

    /// How many bytes of `[seq, seq + len)` this run holds.
    fn overlap(&self, seq: u32, len: u32) -> u32 {
        // Offsets from the run's start, in wrapping sequence space (a run and a segment
        // are far less than 2^31 apart).
        let width = i64::from(self.end.wrapping_sub(self.start) as i32).max(0);
        let from = i64::from(seq.wrapping_sub(self.start) as i32);
        let to = from + i64::from(len);
        let shared = to.min(width) - from.max(0);
        u32::try_from(shared.max(0)).unwrap_or(0)
    }
}

/// What is remembered of one flow direction.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    /// The flow's birth (`Flow::born_us`): a reused flow slot starts afresh.
    born_us: u32,
    runs: [Run; RUNS],
}

/// The runs of the flows seen on several interfaces.
#[derive(Debug, Default)]
pub struct Segments {
    entries: PacketMap<(u32, u8), Entry>,
}

impl Segments {
    /// The payload bytes of the segment `[seq, seq + len)` of flow `flow` (its slot in the
    /// flow table, born at `born_us`), direction `dir`, captured on `iface` at `at_us`,
    /// that another interface carried already; and remembers the segment.
    #[allow(clippy::too_many_arguments)]
    pub fn carried_elsewhere(
        &mut self,
        flow: u32,
        born_us: u32,
        dir: Dir,
        iface: u32,
        (seq, len): (u32, u32),
        at_us: u32,
    ) -> u32 {
        if self.entries.len() >= MAX_FLOWS {
            self.entries.clear();
        }
        let entry = self.entries.entry((flow, dir as u8)).or_default();
        if entry.born_us != born_us {
            *entry = Entry {
                born_us,
                ..Entry::default()
            };
        }
        let own = entry
            .runs
            .iter()
            .position(|r| r.used && r.iface == iface && r.fresh(at_us));
        if let Some(own) = own.and_then(|i| entry.runs.get(i)) {
            if own.overlap(seq, len) > 0 {
                // This interface carried these bytes already: a retransmission.
                return 0;
            }
        }
        let elsewhere = entry
            .runs
            .iter()
            .filter(|r| r.iface != iface && r.fresh(at_us))
            .map(|r| r.overlap(seq, len))
            .max()
            .unwrap_or(0);
        // This interface's run goes on, or starts again here.
        let slot = own.unwrap_or_else(|| {
            // A new interface takes the stalest (or an unused) place.
            (0..RUNS)
                .min_by_key(|&i| {
                    entry
                        .runs
                        .get(i)
                        .filter(|r| r.fresh(at_us))
                        .map_or(0, |r| u32::MAX - gap(at_us, r.at_us))
                })
                .unwrap_or(0)
        });
        if let Some(run) = entry.runs.get_mut(slot) {
            let contiguous = own.is_some() && run.end == seq;
            if !contiguous {
                run.start = seq;
                run.first_us = at_us;
            }
            run.end = seq.wrapping_add(len);
            if run.end.wrapping_sub(run.start) > MAX_RUN {
                run.start = run.end.wrapping_sub(MAX_RUN);
            }
            run.iface = iface;
            run.at_us = at_us;
            run.used = true;
        }
        elsewhere.min(len)
    }
}

/// Microseconds between two capture times (read in any order; they wrap).
fn gap(a: u32, b: u32) -> u32 {
    a.wrapping_sub(b).min(b.wrapping_sub(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPPER: u32 = 1;
    const LOWER: u32 = 2;
    const MSS: u32 = 1448;

    /// Segments of a super-frame of `n` MSS starting at `seq`.
    fn segments(seq: u32, n: u32) -> Vec<(u32, u32)> {
        (0..n).map(|i| (seq.wrapping_add(i * MSS), MSS)).collect()
    }

    #[test]
    fn segments_read_after_their_super_frame_were_carried_elsewhere() {
        let mut s = Segments::default();
        assert_eq!(
            s.carried_elsewhere(7, 0, 0, UPPER, (1000, 10 * MSS), 100),
            0
        );
        for seg in segments(1000, 10) {
            assert_eq!(s.carried_elsewhere(7, 0, 0, LOWER, seg, 110), MSS);
        }
        // The next super-frame is new, and so are its segments' bytes to the upper.
        let next = 1000 + 10 * MSS;
        assert_eq!(s.carried_elsewhere(7, 0, 0, UPPER, (next, 4 * MSS), 200), 0);
        for seg in segments(next, 4) {
            assert_eq!(s.carried_elsewhere(7, 0, 0, LOWER, seg, 210), MSS);
        }
    }

    #[test]
    fn a_super_frame_read_after_its_segments_was_carried_elsewhere() {
        let mut s = Segments::default();
        for seg in segments(u32::MAX - 3 * MSS, 8) {
            assert_eq!(s.carried_elsewhere(7, 0, 1, LOWER, seg, 100), 0);
        }
        let whole = (u32::MAX - 3 * MSS, 8 * MSS);
        assert_eq!(s.carried_elsewhere(7, 0, 1, UPPER, whole, 105), 8 * MSS);
    }

    #[test]
    fn a_super_frame_read_between_its_segments_is_split() {
        let mut s = Segments::default();
        let all = segments(5000, 10);
        for seg in &all[..4] {
            assert_eq!(s.carried_elsewhere(3, 9, 0, LOWER, *seg, 100), 0);
        }
        // Four segments' bytes were carried on the lower device already; six were not.
        assert_eq!(
            s.carried_elsewhere(3, 9, 0, UPPER, (5000, 10 * MSS), 101),
            4 * MSS
        );
        for seg in &all[4..] {
            assert_eq!(s.carried_elsewhere(3, 9, 0, LOWER, *seg, 102), MSS);
        }
    }

    #[test]
    fn a_retransmission_on_both_interfaces_is_counted_and_stale_runs_are_forgotten() {
        let mut s = Segments::default();
        assert_eq!(s.carried_elsewhere(7, 0, 0, UPPER, (1000, 4 * MSS), 100), 0);
        for seg in segments(1000, 4) {
            assert_eq!(s.carried_elsewhere(7, 0, 0, LOWER, seg, 110), MSS);
        }
        // The second segment again, on each: bytes each interface carried before.
        let again = (1000 + MSS, MSS);
        assert_eq!(s.carried_elsewhere(7, 0, 0, UPPER, again, 300), 0);
        assert_eq!(s.carried_elsewhere(7, 0, 0, LOWER, again, 310), 0);
        // A second later (a retransmission timeout), the runs are stale: counted.
        let late = 100 + 1_000_000;
        assert_eq!(s.carried_elsewhere(7, 0, 0, UPPER, (1000, MSS), late), 0);
        assert_eq!(s.carried_elsewhere(7, 0, 0, LOWER, (9000, MSS), late), 0);
    }

    #[test]
    fn another_flow_direction_or_a_reused_slot_knows_nothing() {
        let mut s = Segments::default();
        assert_eq!(s.carried_elsewhere(7, 0, 0, UPPER, (1000, 4 * MSS), 100), 0);
        assert_eq!(s.carried_elsewhere(7, 0, 1, LOWER, (1000, MSS), 101), 0);
        assert_eq!(s.carried_elsewhere(8, 0, 0, LOWER, (1000, MSS), 101), 0);
        assert_eq!(s.carried_elsewhere(7, 55, 0, LOWER, (1000, MSS), 101), 0);
    }

    #[test]
    fn copies_are_recognised_past_two_gibibytes_of_one_flow() {
        let mut s = Segments::default();
        let chunk = 256 << 20; // 256 MiB a "segment": only the sequence numbers matter
        for i in 0..24u32 {
            let seq = 7u32.wrapping_add(i.wrapping_mul(chunk));
            let at = 100 + i;
            assert_eq!(s.carried_elsewhere(7, 0, 0, UPPER, (seq, chunk), at), 0);
            assert_eq!(
                s.carried_elsewhere(7, 0, 0, LOWER, (seq, chunk), at),
                chunk,
                "at {} GiB",
                i / 4
            );
        }
    }

    #[test]
    fn the_memory_is_bounded() {
        let mut s = Segments::default();
        for flow in 0..(3 * MAX_FLOWS as u32) {
            s.carried_elsewhere(flow, 0, 0, UPPER, (1, MSS), 100);
        }
        assert!(s.entries.len() <= MAX_FLOWS);
    }
}
