//! How long the capture thread naps between poll rounds while packets flow: each wakeup
//! (a context switch, a poll over every handle, and the softirq work that runs as the poll
//! re-enables bottom halves) costs far more than reading a packet, so back-to-back packets
//! are read in batches. The nap doubles while traffic is steady and stays short while
//! rounds look owners up, so the first packets of new flows wait little.

use std::time::{Duration, Instant};

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

/// How long after a round that looked owners up the nap stays at [`FIRST`]: new flows come
/// in bursts (a page load, a build fetching, a script's processes one after another), and
/// the next one's first packet should not wait for a long nap. With 30 short-lived
/// processes each sending one UDP datagram 70 ms apart during a steady loopback transfer,
/// 5-9 of 30 were credited with the nap growing to 4 ms regardless, 24-26 with it held at
/// 1 ms, 20-26 with this window (`build-aux/bench/udp-during-transfer`, profile 8).
pub const CHURN_WINDOW: Duration = Duration::from_millis(250);

/// The nap schedule of one capture thread.
#[derive(Debug, Default)]
pub struct Nap {
    current: Duration,
    /// When a round last looked owners up.
    last_lookup: Option<Instant>,
}

impl Nap {
    /// After a poll round at `now` that read `read` packets: how long to nap, if at all.
    /// `behind` says a handle still had packets after its batch or lookups wait to catch
    /// up (no nap: read on at once); `looked_up` says the round ran owner lookups (new
    /// flows are starting: the nap stays short for [`CHURN_WINDOW`]).
    pub fn after_round(
        &mut self,
        read: usize,
        behind: bool,
        looked_up: bool,
        now: Instant,
    ) -> Option<Duration> {
        if looked_up {
            self.last_lookup = Some(now);
        }
        if behind {
            return None;
        }
        if read == 0 {
            // Quiet: the next packet is read as soon as it comes.
            self.current = Duration::ZERO;
            return None;
        }
        let churn = self
            .last_lookup
            .is_some_and(|at| now.saturating_duration_since(at) < CHURN_WINDOW);
        self.current = if churn || self.current.is_zero() {
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
        let (mut nap, t0) = (Nap::default(), Instant::now());
        let naps: Vec<_> = (0..8u64)
            .filter_map(|i| nap.after_round(500, false, false, t0 + Duration::from_millis(i)))
            .collect();
        assert_eq!(naps.len(), 8);
        assert_eq!(naps[0], FIRST);
        for pair in naps.windows(2) {
            assert_eq!(pair[1], (pair[0] * 2).min(LONGEST));
        }
        assert_eq!(naps[7], LONGEST);
    }

    #[test]
    fn naps_stay_short_for_a_while_after_a_round_with_lookups() {
        let (mut nap, t0) = (Nap::default(), Instant::now());
        let at = |ms| t0 + Duration::from_millis(ms);
        nap.after_round(500, false, false, at(0));
        nap.after_round(500, false, false, at(1));
        assert_eq!(nap.after_round(500, false, true, at(2)), Some(FIRST));
        let within = CHURN_WINDOW.as_millis() as u64;
        assert_eq!(nap.after_round(500, false, false, at(within)), Some(FIRST));
        assert_eq!(
            nap.after_round(500, false, false, at(within + 2)),
            Some(FIRST * 2),
            "past the window the nap grows again"
        );
    }

    #[test]
    fn a_round_without_packets_starts_over_and_one_behind_does_not_nap() {
        let (mut nap, t0) = (Nap::default(), Instant::now());
        nap.after_round(500, false, false, t0);
        nap.after_round(500, false, false, t0);
        assert_eq!(nap.after_round(0, false, false, t0), None);
        assert_eq!(nap.after_round(1, false, false, t0), Some(FIRST));
        assert_eq!(nap.after_round(8192, true, false, t0), None);
        assert_eq!(nap.after_round(10, false, false, t0), Some(FIRST * 2));
    }
}
