//! A kernel tunnel's own packets go to the tunnel bucket, the apps' to the apps, never
//! both to the same app (issue 14, item 1; the rule is in `tunnels.rs`).

use super::tests::{accounting, assert_invariant, packet, process, sa, LOCAL, REMOTE};
use super::*;
use crate::testing::FakeOwners;

const VXLAN: u16 = 4789;

fn ms(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

/// (sent, received) of the published bucket of `transport` at an interval ending `now`.
fn published(acc: &mut Accounting<FakeOwners>, transport: Transport, now: Instant) -> (u64, u64) {
    let (_, buckets) = acc.end_interval(Duration::from_millis(100), now);
    buckets
        .iter()
        .find(|b| b.protocol == transport)
        .map(|b| (b.sent_bytes, b.received_bytes))
        .unwrap_or_default()
}

#[test]
fn outer_packets_of_a_vxlan_go_to_the_tunnel_bucket_and_the_inner_ones_to_the_app() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::with_local(&[LOCAL]);
    owners.tunnel_ports = vec![VXLAN];
    owners.bind(Transport::Tcp, sa(LOCAL, 40000), 7);
    let mut acc = accounting(owners, t0);
    // The app's segment on the VXLAN device, then the same data encapsulated on the
    // underlay: sent from a hashed port to the peer's VXLAN port, and the answer back to
    // this machine's VXLAN port.
    acc.record(
        &packet(Transport::Tcp, sa(LOCAL, 40000), sa(REMOTE, 80), 1000),
        t0,
    );
    acc.record(
        &packet(Transport::Udp, sa(LOCAL, 51234), sa(REMOTE, VXLAN), 1050),
        t0,
    );
    acc.record(
        &packet(Transport::Udp, sa(REMOTE, 40999), sa(LOCAL, VXLAN), 116),
        t0,
    );

    let app = process(&mut acc, 7);
    assert_eq!(
        (app.sent_bytes, app.received_bytes),
        (1000, 0),
        "the app: inner only"
    );
    assert_eq!(
        published(&mut acc, Transport::Tunnel, ms(t0, 3000)),
        (1050, 116)
    );
    assert_eq!(published(&mut acc, Transport::Udp, ms(t0, 3100)), (0, 0));
    assert_invariant(&acc);
}

#[test]
fn an_open_socket_on_a_tunnel_port_is_a_process_not_the_kernel() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::with_local(&[LOCAL]);
    owners.tunnel_ports = vec![VXLAN];
    owners.bind(Transport::Udp, sa(LOCAL, VXLAN), 9); // a userspace VXLAN endpoint
    let mut acc = accounting(owners, t0);
    acc.record(
        &packet(Transport::Udp, sa(REMOTE, 40999), sa(LOCAL, VXLAN), 500),
        t0,
    );
    assert_eq!(process(&mut acc, 9).received_bytes, 500);
    assert_eq!(published(&mut acc, Transport::Tunnel, ms(t0, 3000)), (0, 0));
    assert_invariant(&acc);
}

#[test]
fn protocols_only_tunnels_carry_go_to_the_tunnel_bucket_unless_a_raw_socket_owns_them() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::with_local(&[LOCAL]);
    // A raw socket of GRE (47): a userspace GRE endpoint.
    owners.bind(Transport::Other, sa(LOCAL, 47), 11);
    let mut acc = accounting(owners, t0);
    let proto = |p: u16, len| packet(Transport::Other, sa(LOCAL, p), sa(REMOTE, p), len);
    acc.record(&proto(50, 200), t0); // ESP
    acc.record(&proto(4, 300), t0); // IPIP
    acc.record(&proto(47, 400), t0); // GRE, owned
    acc.record(&proto(253, 50), t0); // experimental: no tunnel
    acc.record(
        &packet(Transport::Udp, sa(LOCAL, 5000), sa(REMOTE, VXLAN), 60),
        t0,
    );

    assert_eq!(process(&mut acc, 11).sent_bytes, 400);
    assert_eq!(
        published(&mut acc, Transport::Tunnel, ms(t0, 3000)),
        (500, 0)
    );
    assert_eq!(published(&mut acc, Transport::Other, ms(t0, 3100)), (50, 0));
    // No VXLAN here: UDP to its port is just unknown UDP.
    assert_eq!(published(&mut acc, Transport::Udp, ms(t0, 3200)), (60, 0));
    assert_invariant(&acc);
}

#[test]
fn a_tunnel_made_after_its_first_packets_takes_what_was_held_and_nothing_published() {
    let t0 = Instant::now();
    let mut acc = accounting(FakeOwners::with_local(&[LOCAL]), t0);
    let outer = packet(Transport::Udp, sa(LOCAL, 51234), sa(REMOTE, VXLAN), 100);
    acc.record(&outer, t0);
    // Held while its owner may still be found: in no bucket yet.
    assert_eq!(published(&mut acc, Transport::Udp, ms(t0, 100)), (0, 0));
    // The device's port is learnt at the next refresh: what was held moves over.
    acc.owners_mut().tunnel_ports = vec![VXLAN];
    assert_eq!(published(&mut acc, Transport::Tunnel, ms(t0, 200)), (0, 0));
    acc.record(&outer, ms(t0, 300));
    assert_eq!(
        published(&mut acc, Transport::Tunnel, ms(t0, 3000)),
        (200, 0)
    );
    assert_eq!(published(&mut acc, Transport::Udp, ms(t0, 3100)), (0, 0));
    assert_invariant(&acc);

    // A flow published as unknown UDP before its tunnel was known stays there.
    let t1 = ms(t0, 10_000);
    acc.owners_mut().tunnel_ports.clear();
    let late = packet(Transport::Udp, sa(LOCAL, 51235), sa(REMOTE, 6081), 70);
    acc.record(&late, t1);
    assert_eq!(
        published(&mut acc, Transport::Udp, t1 + Duration::from_secs(3)),
        (70, 0)
    );
    acc.owners_mut().tunnel_ports = vec![6081];
    acc.record(&late, t1 + Duration::from_millis(3100));
    let udp = published(&mut acc, Transport::Udp, t1 + Duration::from_millis(3200));
    assert_eq!(udp, (70, 0), "published totals never go down");
    let tunnel = published(&mut acc, Transport::Tunnel, t1 + Duration::from_secs(7));
    assert_eq!(tunnel, (270, 0));
    assert_invariant(&acc);
}
