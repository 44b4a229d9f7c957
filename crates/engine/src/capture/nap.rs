//! How long the capture thread naps between poll rounds while packets flow: each wakeup
//! (a context switch, a poll over every handle, and the softirq work that runs as the poll
//! re-enables bottom halves) costs far more than reading a packet, so back-to-back packets
//! are read in batches. The nap doubles while traffic is steady and starts again short as
//! soon as a round looks owners up, so a new flow's first packets wait little.

use std::time::Duration;

/// The first nap after a round that read packets: 1 ms halved the wakeups and a third of
/// the thread's time on MTU-sized TCP through a veth, against 0.2 ms (build-aux/bench).
pub const FIRST: Duration = Duration::from_millis(1);
/// The longest nap: 4 ms of a 1 M packets/s flow is some 4,000 packets, a fifth of the
/// ring of [`super::devices`]. 8 ms halved the wakeups again but saved only a tenth of the
/// thread's time on MTU-sized TCP through a veth (36 against 40 ms; build-aux/bench), and
/// every millisecond here is one a new flow's first packet may wait for its lookup during
/// a steady transfer. A TCP connection that starts and ends within a nap is still
/// credited: its client end through the connect tracepoint, its server end through its
/// listener; a UDP exchange shorter than the nap may not be.
pub const LONGEST: Duration = Duration::from_millis(4);

/// The nap schedule of one capture thread.
#[derive(Debug, Default)]
pub struct Nap {
    current: Duration,
}

impl Nap {
    /// After a poll round that read `read` packets: how long to nap, if at all. `behind`
    /// says a handle still had packets after its batch or lookups wait to catch up (no
    /// nap: read on at once); `looked_up` says the round ran owner lookups (new flows are
    /// starting: the nap starts short again).
    pub fn after_round(&mut self, read: usize, behind: bool, looked_up: bool) -> Option<Duration> {
        if behind {
            return None;
        }
        if read == 0 {
            // Quiet: the next packet is read as soon as it comes.
            self.current = Duration::ZERO;
            return None;
        }
        self.current = if looked_up || self.current.is_zero() {
            FIRST
        } else {
            (self.current * 2).min(LONGEST)
        };
        Some(self.current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_traffic_naps_longer_up_to_the_longest() {
        let mut nap = Nap::default();
        let naps: Vec<_> = (0..8)
            .filter_map(|_| nap.after_round(500, false, false))
            .collect();
        assert_eq!(naps.len(), 8);
        assert_eq!(naps[0], FIRST);
        for pair in naps.windows(2) {
            assert_eq!(pair[1], (pair[0] * 2).min(LONGEST));
        }
        assert_eq!(naps[7], LONGEST);
    }

    #[test]
    fn a_round_with_lookups_or_without_packets_starts_over() {
        let mut nap = Nap::default();
        nap.after_round(500, false, false);
        nap.after_round(500, false, false);
        assert_eq!(nap.after_round(500, false, true), Some(FIRST));
        nap.after_round(500, false, false);
        assert_eq!(nap.after_round(0, false, false), None);
        assert_eq!(nap.after_round(1, false, false), Some(FIRST));
    }

    #[test]
    fn a_thread_behind_does_not_nap() {
        let mut nap = Nap::default();
        assert_eq!(nap.after_round(4096, true, false), None);
        assert_eq!(nap.after_round(10, false, false), Some(FIRST));
    }
}
