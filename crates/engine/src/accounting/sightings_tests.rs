//! One transfer seen on several interfaces (a veth bridge port, the bridge, a NATed
//! egress) is credited once to its sender and once to its receiver.

use super::tests::{accounting, assert_invariant, packet, process, sa};
use super::*;
use crate::parse::PacketMeta;
use crate::testing::FakeOwners;
use std::net::{IpAddr, Ipv4Addr};

/// Container A behind the host's bridge, server in namespace B; the host masquerades
/// A's traffic to B behind its address on B's link.
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 2));
const BRIDGE: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1));
const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 2, 0, 2));
const NAT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 2, 0, 1));
/// Interfaces: A's veth port, the bridge, the host's veth to B.
const PORT: u32 = 1;
const BR: u32 = 2;
const EGRESS: u32 = 3;

fn with_ident(meta: PacketMeta<'static>, ident: u64) -> PacketMeta<'static> {
    PacketMeta {
        ident: crate::parse::Ident::Known(ident),
        ..meta
    }
}

fn owners() -> FakeOwners {
    let mut owners = FakeOwners::with_local(&[CLIENT, BRIDGE, SERVER, NAT]);
    owners.bind(Transport::Tcp, sa(CLIENT, 40000), 100);
    owners.bind(Transport::Tcp, sa(SERVER, 80), 200);
    owners
}

/// Sends `rounds` request/answer pairs through the bridge and the NAT, each packet seen
/// on the three interfaces, the translated copy first when `translated_first` (the
/// order the capture thread happens to read the interfaces in).
fn exchange(acc: &mut Accounting<FakeOwners>, rounds: u64, translated_first: bool, t0: Instant) {
    for round in 0..rounds {
        let request = packet(Transport::Tcp, sa(CLIENT, 40000), sa(SERVER, 80), 1000);
        let request_nat = packet(Transport::Tcp, sa(NAT, 51000), sa(SERVER, 80), 1000);
        let answer = packet(Transport::Tcp, sa(SERVER, 80), sa(CLIENT, 40000), 300);
        let answer_nat = packet(Transport::Tcp, sa(SERVER, 80), sa(NAT, 51000), 300);
        let (request_ident, answer_ident) = (2 * round + 1, 2 * round + 2);
        let mut sightings = vec![
            (with_ident(request, request_ident), PORT),
            (with_ident(request, request_ident), BR),
            (with_ident(request_nat, request_ident), EGRESS),
            (with_ident(answer, answer_ident), BR),
            (with_ident(answer, answer_ident), PORT),
            (with_ident(answer_nat, answer_ident), EGRESS),
        ];
        if translated_first {
            sightings.sort_by_key(|(_, iface)| std::cmp::Reverse(*iface == EGRESS));
        } else {
            sightings.sort_by_key(|(_, iface)| *iface == EGRESS);
        }
        let now = t0 + Duration::from_micros(100 * round);
        for (meta, iface) in sightings {
            acc.record_on(&meta, now, Duration::ZERO, iface);
        }
    }
}

#[test]
fn a_bridged_and_masqueraded_transfer_is_credited_once_in_either_order() {
    for translated_first in [false, true] {
        let t0 = Instant::now();
        let mut acc = accounting(owners(), t0);
        exchange(&mut acc, 50, translated_first, t0);
        let client = process(&mut acc, 100);
        let server = process(&mut acc, 200);
        let order = format!("translated first: {translated_first}");
        assert_eq!(
            (client.sent_bytes, client.received_bytes),
            (50_000, 15_000),
            "{order}"
        );
        assert_eq!(
            (server.sent_bytes, server.received_bytes),
            (15_000, 50_000),
            "{order}"
        );
        assert_eq!(acc.process_stats().len(), 2, "{order}");
        assert!(acc
            .unattributed_stats()
            .iter()
            .all(|b| b.sent_bytes == 0 && b.received_bytes == 0));
        let totals = acc.totals();
        assert_eq!(totals.captured_bytes, 65_000, "{order}");
        assert_eq!(totals.repeated_bytes, 130_000, "{order}");
        assert_invariant(&acc);
        // Nothing set aside for the translated end is credited later.
        let (_, _) = acc.end_interval(Duration::from_secs(1), t0 + Duration::from_secs(1));
        assert_eq!(process(&mut acc, 100).sent_bytes, 50_000, "{order}");
        assert_eq!(acc.process_stats().len(), 2, "{order}");
    }
}

#[test]
fn a_host_socket_on_the_translated_port_gets_nothing_when_the_original_comes_first() {
    let t0 = Instant::now();
    let mut owners = owners();
    owners.bind(Transport::Tcp, sa(NAT, 51000), 300);
    let mut acc = accounting(owners, t0);
    exchange(&mut acc, 10, false, t0);
    assert_eq!(process(&mut acc, 100).sent_bytes, 10_000);
    // Found by the lookup of the translated flow's end (so listed), but credited nothing.
    assert!(acc
        .process_stats()
        .iter()
        .all(|p| p.pid != 300 || (p.sent_bytes, p.received_bytes) == (0, 0)));
    assert_invariant(&acc);
}

#[test]
fn identical_datagrams_on_one_interface_are_as_many_transfers() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::with_local(&[CLIENT, SERVER]);
    owners.bind(Transport::Udp, sa(CLIENT, 5000), 100);
    owners.bind(Transport::Udp, sa(SERVER, 6000), 200);
    let mut acc = accounting(owners, t0);
    // IPv4 identification 0 (unconnected socket, DF) and the same payload: one
    // fingerprint for all three; each is seen on the port and on the bridge.
    let datagram = with_ident(
        packet(Transport::Udp, sa(CLIENT, 5000), sa(SERVER, 6000), 500),
        42,
    );
    for iface in [PORT, PORT, PORT, BR, BR, BR] {
        acc.record_on(&datagram, t0, Duration::ZERO, iface);
    }
    assert_eq!(process(&mut acc, 100).sent_bytes, 1500);
    assert_eq!(process(&mut acc, 200).received_bytes, 1500);
    assert_eq!(acc.totals().repeated_packets, 3);
    assert_invariant(&acc);
}

#[test]
fn copies_captured_further_apart_than_the_window_are_new_transfers() {
    let t0 = Instant::now();
    let mut acc = accounting(owners(), t0);
    let request = with_ident(
        packet(Transport::Tcp, sa(CLIENT, 40000), sa(SERVER, 80), 1000),
        7,
    );
    let later = t0 + sightings::WINDOW * 3;
    acc.record_on(&request, later, sightings::WINDOW * 3, PORT);
    acc.record_on(&request, later, Duration::ZERO, BR);
    // Within the window, by capture time, although read at different times.
    acc.record_on(
        &request,
        later + Duration::from_secs(1),
        Duration::from_secs(1),
        EGRESS,
    );
    assert_eq!(process(&mut acc, 100).sent_bytes, 2000);
    assert_eq!(acc.totals().repeated_packets, 1);
    assert_invariant(&acc);
}

#[test]
fn packets_without_a_fingerprint_are_each_a_transfer() {
    let t0 = Instant::now();
    let mut acc = accounting(owners(), t0);
    let request = packet(Transport::Tcp, sa(CLIENT, 40000), sa(SERVER, 80), 1000);
    for iface in [PORT, BR, EGRESS] {
        acc.record_on(&request, t0, Duration::ZERO, iface);
    }
    assert_eq!(process(&mut acc, 100).sent_bytes, 3000);
    assert_eq!(acc.totals().repeated_packets, 0);
}

#[test]
fn a_flow_seen_twice_stays_watched_and_one_seen_once_settles() {
    let t0 = Instant::now();
    let mut acc = accounting(owners(), t0);
    let bridged = packet(Transport::Tcp, sa(CLIENT, 40000), sa(SERVER, 80), 1000);
    let alone = packet(Transport::Tcp, sa(BRIDGE, 41000), sa(SERVER, 80), 1000);
    acc.record_on(&with_ident(bridged, 1), t0, Duration::ZERO, PORT);
    acc.record_on(&with_ident(bridged, 1), t0, Duration::ZERO, BR);
    acc.record_on(&with_ident(alone, 2), t0, Duration::ZERO, BR);
    // Two seconds on: the bridged flow's copies are still recognised; the other flow
    // settled as seen once and no longer goes through the table.
    let later = t0 + Duration::from_secs(2);
    acc.record_on(&with_ident(bridged, 3), later, Duration::ZERO, PORT);
    acc.record_on(&with_ident(bridged, 3), later, Duration::ZERO, BR);
    acc.record_on(&with_ident(alone, 4), later, Duration::ZERO, BR);
    acc.record_on(&with_ident(alone, 4), later, Duration::ZERO, EGRESS);
    assert_eq!(process(&mut acc, 100).sent_bytes, 2000);
    assert_eq!(acc.totals().repeated_packets, 2);
    assert_eq!(acc.totals().captured_packets, 5);
    assert_invariant(&acc);
}

/// A TCP segment of `payload` bytes at `seq` from the client to the server, with its IPv4
/// identification `id`, as the parser hands it over (the fingerprint computed from its
/// header fields and first bytes, `parse::ident`).
fn segment(l4: &'static [u8], id: u16, payload: u32) -> PacketMeta<'static> {
    let total = 40 + payload;
    let [hi, lo] = u16::try_from(total).expect("short").to_be_bytes();
    let [id_hi, id_lo] = id.to_be_bytes();
    let ip_fields = crate::parse::ident::ipv4_fields(&[0x45, 0, hi, lo, id_hi, id_lo, 0x40, 0]);
    PacketMeta {
        ident: crate::parse::Ident::Packet {
            ip_fields,
            proto: 6,
            l4,
        },
        ..packet(
            Transport::Tcp,
            sa(CLIENT, 40000),
            sa(SERVER, 80),
            14 + total,
        )
    }
}

/// The TCP header (and first payload bytes, as captured) of a segment at `seq`.
fn tcp_header(seq: u32) -> &'static [u8] {
    let mut l4 = vec![0x9c, 0x40, 0, 80];
    l4.extend_from_slice(&seq.to_be_bytes());
    l4.extend_from_slice(&[0, 0, 0, 1, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
    l4.extend_from_slice(&seq.to_le_bytes()); // payload: differs per segment
    Box::leak(l4.into_boxed_slice())
}

#[test]
fn a_super_frame_and_its_segments_on_another_interface_are_one_transfer() {
    const MACVLAN: u32 = 1;
    const LOWER: u32 = 2;
    const MSS: u32 = 1448;
    for segments_first in [false, true] {
        let t0 = Instant::now();
        let mut acc = accounting(owners(), t0);
        acc.set_stacked(true);
        // The handshake's last ACK, identical on both: the flow is seen twice.
        let ack = with_ident(
            packet(Transport::Tcp, sa(CLIENT, 40000), sa(SERVER, 80), 66),
            77,
        );
        acc.record_on(&ack, t0, Duration::ZERO, MACVLAN);
        acc.record_on(&ack, t0, Duration::ZERO, LOWER);
        let mut segment_bytes = 0;
        for frame in 0..3u32 {
            let seq = 1000 + frame * 10 * MSS;
            let whole = segment(tcp_header(seq), 100 + frame as u16, 10 * MSS);
            let cut: Vec<PacketMeta> = (0..10)
                .map(|i| {
                    segment(
                        tcp_header(seq + i * MSS),
                        (1000 + frame * 10 + i) as u16,
                        MSS,
                    )
                })
                .collect();
            segment_bytes += cut.iter().map(|p| u64::from(p.wire_len)).sum::<u64>();
            let now = t0 + Duration::from_millis(u64::from(frame));
            if segments_first {
                cut.iter().for_each(|p| {
                    acc.record_on(p, now, Duration::ZERO, LOWER);
                });
                acc.record_on(&whole, now, Duration::ZERO, MACVLAN);
            } else {
                acc.record_on(&whole, now, Duration::ZERO, MACVLAN);
                cut.iter().for_each(|p| {
                    acc.record_on(p, now, Duration::ZERO, LOWER);
                });
            }
        }
        // What the link carried (the segments) and the handshake's ACK, plus each copy's
        // headers beyond the first: one super-frame's 54 bytes of headers per frame.
        let client = process(&mut acc, 100);
        let expected = 66 + segment_bytes + 3 * 54;
        assert_eq!(
            client.sent_bytes, expected,
            "segments first: {segments_first}"
        );
        assert_eq!(process(&mut acc, 200).received_bytes, expected);
        // Packets are those of the copy read first: a super-frame counts as one.
        let packets = if segments_first { 1 + 30 } else { 1 + 3 };
        assert_eq!(
            client.sent_packets, packets,
            "segments first: {segments_first}"
        );
        assert_invariant(&acc);
    }
}
