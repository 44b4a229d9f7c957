//! What snapshots publish never goes down: traffic of a flow without an owner is held
//! back (`pending_bytes`) while its owner may still be found, then either credited to
//! that owner or published as unattributed for good (issue 14, item 3).

use super::tests::{accounting, packet, process, sa, LOCAL, REMOTE};
use super::*;
use crate::testing::FakeOwners;
use proptest::prelude::*;

fn ms(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

/// Closes an interval at `now`; the published UDP bucket (sent, received).
fn publish(acc: &mut Accounting<FakeOwners>, now: Instant) -> (u64, u64) {
    let (_, buckets) = acc.end_interval(Duration::from_millis(100), now);
    (buckets[1].sent_bytes, buckets[1].received_bytes)
}

#[test]
fn an_owner_found_within_the_hold_takes_traffic_that_was_never_published() {
    let t0 = Instant::now();
    let mut acc = accounting(FakeOwners::with_local(&[LOCAL]), t0);
    acc.record(
        &packet(Transport::Udp, sa(LOCAL, 5000), sa(REMOTE, 53), 100),
        t0,
    );
    assert_eq!(
        publish(&mut acc, ms(t0, 100)),
        (0, 0),
        "held, not published"
    );
    assert_eq!(acc.totals().pending_bytes, 100);

    acc.owners_mut().bind(Transport::Udp, sa(LOCAL, 5000), 7);
    for t in 100..600 {
        acc.catch_up(ms(t0, t), Duration::from_millis(5));
    }
    assert_eq!(publish(&mut acc, ms(t0, 600)), (0, 0));
    assert_eq!(acc.totals().pending_bytes, 0);
    assert_eq!(process(&mut acc, 7).sent_bytes, 100);
}

#[test]
fn traffic_published_after_the_hold_stays_unattributed_when_an_owner_turns_up_later() {
    let t0 = Instant::now();
    let mut acc = accounting(FakeOwners::with_local(&[LOCAL]), t0);
    let datagram = packet(Transport::Udp, sa(LOCAL, 5000), sa(REMOTE, 53), 100);
    acc.record(&datagram, t0);
    for t in 1..2100 {
        acc.catch_up(ms(t0, t), Duration::from_millis(5));
    }
    assert_eq!(
        publish(&mut acc, ms(t0, 2100)),
        (100, 0),
        "the hold is over"
    );
    assert_eq!(acc.totals().pending_bytes, 0);

    // The owner shows up only now: it gets what it sends from here on.
    acc.owners_mut().bind(Transport::Udp, sa(LOCAL, 5000), 7);
    acc.record(&datagram, ms(t0, 3000));
    for t in 3000..3500 {
        acc.catch_up(ms(t0, t), Duration::from_millis(5));
    }
    assert_eq!(
        publish(&mut acc, ms(t0, 3500)),
        (100, 0),
        "never taken back"
    );
    assert_eq!(process(&mut acc, 7).sent_bytes, 100);
    let t = acc.totals();
    assert_eq!(t.captured_bytes, t.attributed_bytes + 100 + t.pending_bytes);
}

/// One step of a random run: a datagram on one of four local ports (to a remote peer),
/// an owner appearing for one of them, or time passing.
#[derive(Debug, Clone)]
enum Step {
    Datagram { port: u16, len: u32 },
    OwnerAppears { port: u16 },
    Wait { ms: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u16..4, 40u32..1500).prop_map(|(port, len)| Step::Datagram { port, len }),
        1 => (0u16..4).prop_map(|port| Step::OwnerAppears { port }),
        3 => (1u64..900).prop_map(|ms| Step::Wait { ms }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever order packets, owners and time come in: at every interval the published
    /// buckets and process totals are at least what they were, and captured ==
    /// attributed + published unattributed + pending.
    #[test]
    fn published_totals_never_go_down(steps in proptest::collection::vec(step(), 1..60)) {
        let t0 = Instant::now();
        let mut acc = accounting(FakeOwners::with_local(&[LOCAL]), t0);
        let mut now = t0;
        let mut last_buckets = vec![(0u64, 0u64); 4];
        let mut last_processes: HashMap<Pid, (u64, u64)> = HashMap::new();
        for step in steps {
            match step {
                Step::Datagram { port, len } => {
                    acc.record(&packet(Transport::Udp, sa(LOCAL, 5000 + port), sa(REMOTE, 53), len), now);
                }
                Step::OwnerAppears { port } => {
                    acc.owners_mut().bind(Transport::Udp, sa(LOCAL, 5000 + port), 100 + u32::from(port));
                }
                Step::Wait { ms } => {
                    let until = now + Duration::from_millis(ms);
                    while now < until {
                        now = (now + Duration::from_millis(10)).min(until);
                        acc.catch_up(now, Duration::from_millis(5));
                    }
                    let (processes, buckets) = acc.end_interval(Duration::from_millis(ms), now);
                    for (b, last) in buckets.iter().zip(&mut last_buckets) {
                        prop_assert!(b.sent_bytes >= last.0 && b.received_bytes >= last.1, "{b:?} after {last:?}");
                        *last = (b.sent_bytes, b.received_bytes);
                    }
                    for p in processes {
                        let last = last_processes.entry(p.pid).or_default();
                        prop_assert!(p.sent_bytes >= last.0 && p.received_bytes >= last.1);
                        *last = (p.sent_bytes, p.received_bytes);
                    }
                    let t = acc.totals();
                    let published: u64 = buckets.iter().map(|b| b.sent_bytes + b.received_bytes).sum();
                    prop_assert_eq!(t.captured_bytes, t.attributed_bytes + published + t.pending_bytes);
                }
            }
        }
    }
}
