//! Accounting specifications, driven by a fake owner lookup.

use super::*;
use crate::parse::PacketMeta;
use crate::testing::FakeOwners;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

pub(super) const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1));
pub(super) const REMOTE: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 9, 0, 9));
pub(super) const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

pub(super) fn sa(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

pub(super) fn packet(
    transport: Transport,
    src: SocketAddr,
    dst: SocketAddr,
    len: u32,
) -> PacketMeta<'static> {
    PacketMeta {
        transport,
        src,
        dst,
        wire_len: len,
        kind: PacketKind::Plain,
        dns: None,
        ident: crate::parse::Ident::None,
    }
}

pub(super) fn accounting(owners: FakeOwners, t0: Instant) -> Accounting<FakeOwners> {
    Accounting::new(owners, AccountingConfig::default(), t0)
}

pub(super) fn process(acc: &mut Accounting<FakeOwners>, pid: Pid) -> ProcessStats {
    acc.process_stats()
        .into_iter()
        .find(|p| p.pid == pid)
        .unwrap_or_else(|| panic!("pid {pid} not credited"))
}

fn unattributed_total(acc: &Accounting<FakeOwners>) -> u64 {
    acc.unattributed_stats()
        .iter()
        .map(|b| b.sent_bytes + b.received_bytes)
        .sum()
}

/// Per transfer: further sightings of a packet (`repeated_bytes`) are in neither side.
pub(super) fn assert_invariant(acc: &Accounting<FakeOwners>) {
    let totals = acc.totals();
    assert_eq!(
        totals.attributed_bytes + unattributed_total(acc),
        totals.captured_bytes,
        "attributed + unattributed == captured"
    );
}

#[test]
fn loopback_packet_counts_for_sender_and_receiver() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::default();
    owners.bind(Transport::Tcp, sa(LO, 40000), 100);
    owners.bind(Transport::Tcp, sa(LO, 8080), 200);
    let mut acc = accounting(owners, t0);

    acc.record(
        &packet(Transport::Tcp, sa(LO, 40000), sa(LO, 8080), 1000),
        t0,
    );
    acc.record(
        &packet(Transport::Tcp, sa(LO, 8080), sa(LO, 40000), 300),
        t0,
    );

    let client = process(&mut acc, 100);
    let server = process(&mut acc, 200);
    assert_eq!((client.sent_bytes, client.received_bytes), (1000, 300));
    assert_eq!((server.sent_bytes, server.received_bytes), (300, 1000));
    assert_eq!((client.sent_packets, client.received_packets), (1, 1));
    assert_eq!(client.name, "proc100");
    assert_eq!(unattributed_total(&acc), 0);
    assert_invariant(&acc);
}

#[test]
fn traffic_with_a_remote_host_counts_once_for_the_local_process() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::with_local(&[LOCAL]);
    owners.bind(Transport::Udp, sa(LOCAL, 5000), 7);
    let mut acc = accounting(owners, t0);

    let out = acc.record(
        &packet(Transport::Udp, sa(LOCAL, 5000), sa(REMOTE, 53), 80),
        t0,
    );
    let back = acc.record(
        &packet(Transport::Udp, sa(REMOTE, 53), sa(LOCAL, 5000), 120),
        t0,
    );

    assert_eq!(
        out,
        Locality {
            src_local: true,
            dst_local: false
        }
    );
    assert_eq!(
        back,
        Locality {
            src_local: false,
            dst_local: true
        }
    );
    let p = process(&mut acc, 7);
    assert_eq!((p.sent_bytes, p.received_bytes), (80, 120));
    assert_eq!(acc.owners().lookups, 1, "the remote end is never looked up");
    assert_invariant(&acc);
}

#[test]
fn unknown_traffic_goes_to_buckets_by_transport_and_locality() {
    let t0 = Instant::now();
    let mut acc = accounting(FakeOwners::with_local(&[LOCAL]), t0);

    acc.record(&packet(Transport::Tcp, sa(LOCAL, 1), sa(REMOTE, 2), 10), t0);
    acc.record(&packet(Transport::Tcp, sa(REMOTE, 2), sa(LOCAL, 1), 20), t0);
    acc.record(&packet(Transport::Udp, sa(REMOTE, 3), sa(LOCAL, 4), 30), t0);
    acc.record(
        &packet(Transport::Icmp, sa(LOCAL, 0), sa(REMOTE, 0), 40),
        t0,
    );
    acc.record(&PacketMeta::other(50), t0);

    let buckets: Vec<(Transport, u64, u64)> = acc
        .unattributed_stats()
        .iter()
        .map(|b| (b.protocol, b.sent_bytes, b.received_bytes))
        .collect();
    assert_eq!(
        buckets,
        vec![
            (Transport::Tcp, 10, 20),
            (Transport::Udp, 0, 30),
            (Transport::Icmp, 40, 0),
            (Transport::Other, 0, 50),
            (Transport::Tunnel, 0, 0),
        ]
    );
    assert!(acc.process_stats().is_empty());
    assert_eq!(acc.totals().captured_bytes, 150);
    assert_invariant(&acc);
}

#[test]
fn an_address_that_becomes_local_later_is_then_looked_up() {
    let t0 = Instant::now();
    let mut acc = accounting(FakeOwners::default(), t0);
    let meta = packet(Transport::Tcp, sa(REMOTE, 80), sa(LOCAL, 40000), 500);
    acc.record(&meta, t0);
    assert_eq!(acc.owners().lookups, 0, "not local: nobody to look up");

    // A namespace holding LOCAL appears; its process owns the socket.
    acc.owners_mut().local.push(LOCAL);
    acc.owners_mut().bind(Transport::Tcp, sa(LOCAL, 40000), 12);
    acc.record(&meta, t0 + Duration::from_millis(5));

    let p = process(&mut acc, 12);
    assert_eq!(p.received_bytes, 1000, "the first packet is adopted too");
    assert_invariant(&acc);
}

#[test]
fn lookups_wait_while_the_capture_is_far_behind_then_run_once_caught_up() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::default();
    owners.bind(Transport::Udp, sa(LO, 7000), 70);
    let mut acc = accounting(owners, t0);
    let meta = packet(Transport::Udp, sa(LO, 7000), sa(REMOTE, 53), 100);

    for i in 0..10 {
        let now = t0 + Duration::from_millis(i);
        acc.record_aged(&meta, now, Duration::from_millis(500));
    }
    assert_eq!(acc.owners().lookups, 0, "nothing looked up while behind");
    assert_eq!(acc.totals().lookups_deferred, 1, "the flow is queued once");

    let waiting = acc.catch_up(t0 + Duration::from_millis(11), Duration::from_millis(5));
    assert!(!waiting);
    assert_eq!(acc.owners().lookups, 1);
    assert_eq!(
        process(&mut acc, 70).sent_bytes,
        1000,
        "the backlog is adopted"
    );
    acc.record(&meta, t0 + Duration::from_millis(12));
    assert_eq!(process(&mut acc, 70).sent_bytes, 1100);
    assert_invariant(&acc);
}

#[test]
fn an_owner_found_late_takes_over_the_flows_earlier_packets() {
    let t0 = Instant::now();
    let mut acc = accounting(FakeOwners::default(), t0);
    let request = packet(Transport::Tcp, sa(LO, 40000), sa(LO, 8080), 100);
    acc.record(&request, t0);
    acc.record(&request, t0);
    assert_eq!(unattributed_total(&acc), 200);

    acc.owners_mut().bind(Transport::Tcp, sa(LO, 40000), 42);
    acc.record(&request, t0 + Duration::from_millis(300));

    let p = process(&mut acc, 42);
    assert_eq!((p.sent_bytes, p.sent_packets), (300, 3));
    assert_eq!(unattributed_total(&acc), 0);
    assert_invariant(&acc);
}

#[test]
fn owner_is_kept_after_the_process_exits_and_marked_exited() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::default();
    owners.bind(Transport::Udp, sa(LO, 6000), 9);
    let mut acc = accounting(owners, t0);
    let meta = packet(Transport::Udp, sa(LO, 6000), sa(LO, 6001), 500);

    acc.record(&meta, t0);
    acc.owners_mut().exit(9);
    acc.record(&meta, t0 + Duration::from_millis(1));
    let (processes, _) = acc.end_interval(Duration::from_secs(1), t0 + Duration::from_secs(1));

    assert_eq!(processes.len(), 1);
    assert!(processes[0].exited);
    assert_eq!(processes[0].sent_bytes, 1000);
}

#[test]
fn ping_request_counts_for_the_pinger_and_the_reply_too_never_for_the_kernel() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::default();
    owners.bind(Transport::Icmp, sa(LO, 0x77), 5);
    let mut acc = accounting(owners, t0);
    let request = PacketMeta {
        kind: PacketKind::EchoRequest,
        ..packet(Transport::Icmp, sa(LO, 0x77), sa(LO, 0x77), 98)
    };
    let reply = PacketMeta {
        kind: PacketKind::EchoReply,
        ..request
    };

    acc.record(&request, t0);
    acc.record(&reply, t0);

    let p = process(&mut acc, 5);
    assert_eq!((p.sent_bytes, p.received_bytes), (98, 98));
    assert_eq!(acc.owners().lookups, 1);
    assert_invariant(&acc);
}

#[test]
fn icmp_other_than_echo_is_never_credited_to_a_raw_socket() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::default();
    owners.bind(Transport::Icmp, sa(LO, 0), 5);
    let mut acc = accounting(owners, t0);

    acc.record(&packet(Transport::Icmp, sa(LO, 0), sa(LO, 0), 90), t0);

    assert_eq!(acc.owners().lookups, 0);
    assert_eq!(unattributed_total(&acc), 90);
}

#[test]
fn a_new_tcp_connection_on_a_reused_four_tuple_is_looked_up_again() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::default();
    owners.bind(Transport::Tcp, sa(LO, 50000), 1);
    let mut acc = accounting(owners, t0);
    let syn = PacketMeta {
        kind: PacketKind::TcpSyn,
        ..packet(Transport::Tcp, sa(LO, 50000), sa(LO, 80), 60)
    };
    acc.record(&syn, t0);

    acc.owners_mut().exit(1);
    acc.owners_mut().bind(Transport::Tcp, sa(LO, 50000), 2);
    acc.record(&syn, t0 + Duration::from_secs(2));

    assert_eq!(process(&mut acc, 1).sent_bytes, 60);
    assert_eq!(process(&mut acc, 2).sent_bytes, 60);
}

#[test]
fn a_udp_port_another_process_sends_from_after_a_pause_is_credited_to_it() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::default();
    owners.bind(Transport::Udp, sa(LO, 50000), 1);
    owners.bind(Transport::Udp, sa(LO, 53), 9);
    let mut acc = accounting(owners, t0);
    let query = packet(Transport::Udp, sa(LO, 50000), sa(LO, 53), 70);
    let answer = packet(Transport::Udp, sa(LO, 53), sa(LO, 50000), 200);
    acc.record(&query, t0);
    acc.record(&answer, t0 + Duration::from_millis(1));
    // Within a burst the log is not asked: a second query of the same process.
    acc.record(&query, t0 + Duration::from_millis(2));

    // The first client exits; the next one draws the same port towards the same peer.
    acc.owners_mut().exit(1);
    acc.owners_mut().bind(Transport::Udp, sa(LO, 50000), 2);
    let later = t0 + Duration::from_millis(40);
    acc.record(&query, later);
    acc.record(&answer, later + Duration::from_millis(1));

    let first = process(&mut acc, 1);
    let second = process(&mut acc, 2);
    assert_eq!((first.sent_bytes, first.received_bytes), (140, 200));
    assert_eq!((second.sent_bytes, second.received_bytes), (70, 200));
    assert_eq!(process(&mut acc, 9).received_bytes, 210);
    assert_invariant(&acc);
}

#[test]
fn a_udp_port_taken_again_is_noticed_when_both_exchanges_are_read_in_one_late_batch() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::default();
    owners.bind(Transport::Udp, sa(LO, 50000), 1);
    let mut acc = accounting(owners, t0);
    let query = packet(Transport::Udp, sa(LO, 50000), sa(LO, 53), 70);
    acc.record(&query, t0);
    // The thread falls 50 ms behind: the first client's second query (captured at
    // +10 ms) and the second client's first (captured at +40 ms) are read together.
    let read = t0 + Duration::from_millis(60);
    acc.record_aged(&query, read, Duration::from_millis(50));
    acc.owners_mut().exit(1);
    acc.owners_mut().bind(Transport::Udp, sa(LO, 50000), 2);
    acc.record_aged(&query, read, Duration::from_millis(20));

    assert_eq!(process(&mut acc, 1).sent_bytes, 140);
    assert_eq!(process(&mut acc, 2).sent_bytes, 70);
}

#[test]
fn a_udp_flow_whose_sender_is_unknown_to_the_log_keeps_its_owner() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::default();
    owners.bind(Transport::Udp, sa(LO, 50000), 1);
    let mut acc = accounting(owners, t0);
    let datagram = packet(Transport::Udp, sa(LO, 50000), sa(LO, 53), 70);
    acc.record(&datagram, t0);
    // Gone from the log (its socket closed, nothing newer sent): still its datagram.
    acc.owners_mut().exit(1);
    acc.record(&datagram, t0 + Duration::from_secs(1));
    assert_eq!(process(&mut acc, 1).sent_bytes, 140);
}

#[test]
fn rates_are_bytes_per_second_over_the_last_interval() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::default();
    owners.bind(Transport::Udp, sa(LO, 1), 3);
    let mut acc = accounting(owners, t0);
    acc.record(&packet(Transport::Udp, sa(LO, 1), sa(LO, 2), 1000), t0);

    let (processes, _) = acc.end_interval(Duration::from_millis(500), t0);
    assert_eq!(processes[0].sent_rate, 2000.0);
    let (processes, _) = acc.end_interval(Duration::from_millis(500), t0);
    assert_eq!(processes[0].sent_rate, 0.0);
    assert_eq!(processes[0].sent_bytes, 1000, "totals stay");
}

#[test]
fn connections_of_a_process_list_its_flows_from_its_side() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::default();
    owners.bind(Transport::Tcp, sa(LO, 40000), 100);
    owners.bind(Transport::Tcp, sa(LO, 8080), 200);
    let mut acc = accounting(owners, t0);
    acc.record(
        &packet(Transport::Tcp, sa(LO, 40000), sa(LO, 8080), 1000),
        t0,
    );
    acc.record(
        &packet(Transport::Tcp, sa(LO, 8080), sa(LO, 40000), 300),
        t0,
    );

    let server = acc.connections(200).unwrap_or_default();
    assert_eq!(server.len(), 1);
    assert_eq!(server[0].local, sa(LO, 8080));
    assert_eq!(server[0].remote, sa(LO, 40000));
    assert_eq!(
        (server[0].sent_bytes, server[0].received_bytes),
        (300, 1000)
    );
    assert_eq!(acc.connections(999), None);
}

#[test]
fn reset_sets_totals_to_zero_and_forgets_exited_processes() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::default();
    owners.bind(Transport::Udp, sa(LO, 1), 3);
    owners.bind(Transport::Udp, sa(LO, 2), 4);
    let mut acc = accounting(owners, t0);
    acc.record(&packet(Transport::Udp, sa(LO, 1), sa(LO, 2), 700), t0);
    acc.record(&PacketMeta::other(50), t0);
    acc.owners_mut().exit(4);
    acc.end_interval(Duration::from_secs(1), t0);

    acc.reset_totals();

    let processes = acc.process_stats();
    assert_eq!(processes.len(), 1);
    assert_eq!(processes[0].sent_bytes, 0);
    assert_eq!(unattributed_total(&acc), 0);
    assert_eq!(acc.totals(), CaptureTotals::default());
    acc.record(&packet(Transport::Udp, sa(LO, 1), sa(LO, 2), 10), t0);
    assert_eq!(process(&mut acc, 3).sent_bytes, 10);
    assert_invariant(&acc);
}

#[test]
fn attributed_plus_unattributed_equals_captured_on_a_random_mix() {
    let t0 = Instant::now();
    let mut acc = accounting(FakeOwners::with_local(&[LOCAL]), t0);
    // A small linear congruential generator: deterministic, no dependency.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |bound: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % bound
    };
    let hosts = [LO, LOCAL, REMOTE];
    let transports = [
        Transport::Tcp,
        Transport::Udp,
        Transport::Icmp,
        Transport::Other,
    ];
    for step in 0..20_000u64 {
        let now = t0 + Duration::from_millis(step);
        if next(50) == 0 {
            // Sockets appear over time, so late owners adopt earlier packets.
            let port = next(20) as u16;
            let host = hosts[next(2) as usize];
            acc.owners_mut().bind(
                transports[next(4) as usize],
                sa(host, port),
                port as u32 + 1,
            );
        }
        if next(500) == 0 {
            acc.reset_totals();
        }
        if step == 10_000 {
            // A namespace appears: an address seen as remote so far becomes local.
            acc.owners_mut().local.push(REMOTE);
        }
        let meta = PacketMeta {
            kind: [
                PacketKind::Plain,
                PacketKind::TcpSyn,
                PacketKind::EchoRequest,
                PacketKind::EchoReply,
            ][next(4) as usize],
            ..packet(
                transports[next(4) as usize],
                sa(hosts[next(3) as usize], next(20) as u16),
                sa(hosts[next(3) as usize], next(20) as u16),
                next(1500) as u32 + 1,
            )
        };
        acc.record(&meta, now);
        if step % 1000 == 0 {
            acc.end_interval(Duration::from_secs(1), now);
        }
        assert_invariant(&acc);
    }
    assert!(acc.totals().attributed_bytes > 0);
}

#[test]
fn a_closed_tcp_connection_leaves_the_flow_table_sooner_than_an_open_one() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::default();
    owners.bind(Transport::Tcp, sa(LO, 40001), 5);
    owners.bind(Transport::Tcp, sa(LO, 40002), 5);
    let mut acc = accounting(owners, t0);
    let (closed, open) = (sa(LO, 40001), sa(LO, 40002));
    acc.record(&packet(Transport::Tcp, closed, sa(LO, 80), 100), t0);
    acc.record(&packet(Transport::Tcp, open, sa(LO, 80), 100), t0);
    let fin = PacketMeta {
        kind: PacketKind::TcpFin,
        ..packet(Transport::Tcp, closed, sa(LO, 80), 66)
    };
    acc.record(&fin, t0);

    let later = t0 + crate::accounting::flows::CLOSED_IDLE_TIMEOUT + Duration::from_secs(1);
    acc.end_interval(Duration::from_secs(1), later);

    assert_eq!(acc.flow_count(), 1, "only the open connection is left");
    assert_eq!(
        process(&mut acc, 5).sent_bytes,
        266,
        "bytes stay with the process"
    );
    let left = acc.connections(5).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].local, open);
}

#[test]
fn a_new_syn_on_a_closed_four_tuple_keeps_the_flow_like_an_open_one() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::default();
    owners.bind(Transport::Tcp, sa(LO, 40003), 6);
    let mut acc = accounting(owners, t0);
    let client = sa(LO, 40003);
    let with = |kind, at| {
        (
            PacketMeta {
                kind,
                ..packet(Transport::Tcp, client, sa(LO, 80), 60)
            },
            at,
        )
    };
    let second = t0 + Duration::from_secs(2);
    for (meta, at) in [
        with(PacketKind::TcpFin, t0),
        with(PacketKind::TcpSyn, second),
    ] {
        acc.record(&meta, at);
    }

    acc.end_interval(
        Duration::from_secs(1),
        second + crate::accounting::flows::CLOSED_IDLE_TIMEOUT + Duration::from_secs(1),
    );

    assert_eq!(acc.flow_count(), 1);
}

#[test]
fn a_lone_packet_whose_owner_appears_later_is_credited_by_a_timed_retry() {
    let t0 = Instant::now();
    let mut acc = accounting(FakeOwners::with_local(&[LOCAL]), t0);
    let meta = packet(Transport::Udp, sa(LOCAL, 5000), sa(REMOTE, 53), 100);
    acc.record(&meta, t0);
    assert_eq!(unattributed_total(&acc), 100);

    // The socket shows up in the tables after its only packet; no packet follows.
    acc.owners_mut().bind(Transport::Udp, sa(LOCAL, 5000), 7);
    assert!(!acc.catch_up(t0 + Duration::from_millis(1), Duration::from_millis(5)));
    assert_eq!(acc.owners().lookups, 1, "not due yet");
    acc.catch_up(t0 + Duration::from_millis(3), Duration::from_millis(5));

    let p = process(&mut acc, 7);
    assert_eq!((p.sent_bytes, p.sent_packets), (100, 1));
    assert_eq!(unattributed_total(&acc), 0);
    assert_invariant(&acc);
}

/// A loopback exchange whose server (pid 200, port 8080) is known and whose client (port
/// 40000) is not yet: 1000 bytes up, 300 down, at `t0`.
fn exchange_with_an_unknown_client(t0: Instant) -> Accounting<FakeOwners> {
    let mut owners = FakeOwners::default();
    owners.bind(Transport::Tcp, sa(LO, 8080), 200);
    let mut acc = accounting(owners, t0);
    acc.record(
        &packet(Transport::Tcp, sa(LO, 40000), sa(LO, 8080), 1000),
        t0,
    );
    acc.record(
        &packet(Transport::Tcp, sa(LO, 8080), sa(LO, 40000), 300),
        t0,
    );
    acc
}

#[test]
fn an_end_found_after_the_other_gets_its_earlier_packets() {
    let t0 = Instant::now();
    let mut acc = exchange_with_an_unknown_client(t0);
    assert_eq!(unattributed_total(&acc), 0, "the server's end is known");

    acc.owners_mut().bind(Transport::Tcp, sa(LO, 40000), 100);
    acc.catch_up(t0 + Duration::from_millis(3), Duration::from_millis(5));

    let client = process(&mut acc, 100);
    let server = process(&mut acc, 200);
    assert_eq!((client.sent_bytes, client.received_bytes), (1000, 300));
    assert_eq!((client.sent_packets, client.received_packets), (1, 1));
    assert_eq!((server.sent_bytes, server.received_bytes), (300, 1000));
    assert_invariant(&acc);
}

#[test]
fn an_end_found_at_a_later_packet_is_credited_once_with_each_packet() {
    // The server's packets wait in the flow to be credited while the client is unknown;
    // finding the client at a later packet must not hand it those again.
    let t0 = Instant::now();
    let mut acc = exchange_with_an_unknown_client(t0);

    acc.owners_mut().bind(Transport::Tcp, sa(LO, 40000), 100);
    acc.record(
        &packet(Transport::Tcp, sa(LO, 40000), sa(LO, 8080), 50),
        t0 + Duration::from_millis(3),
    );

    let client = process(&mut acc, 100);
    let server = process(&mut acc, 200);
    assert_eq!((client.sent_bytes, client.received_bytes), (1050, 300));
    assert_eq!((client.sent_packets, client.received_packets), (2, 1));
    assert_eq!((server.sent_bytes, server.received_bytes), (300, 1050));
    assert_eq!((server.sent_packets, server.received_packets), (1, 2));
    assert_invariant(&acc);
}

#[test]
fn ends_found_one_after_the_other_both_get_the_flows_orphans() {
    let t0 = Instant::now();
    let mut acc = accounting(FakeOwners::default(), t0);
    let request = packet(Transport::Udp, sa(LO, 40000), sa(LO, 9000), 100);
    acc.record(&request, t0);
    acc.record(&request, t0);
    assert_eq!(unattributed_total(&acc), 200);

    acc.owners_mut().bind(Transport::Udp, sa(LO, 9000), 2);
    acc.catch_up(t0 + Duration::from_millis(3), Duration::from_millis(5));
    assert_eq!(process(&mut acc, 2).received_bytes, 200);
    assert_eq!(unattributed_total(&acc), 0);

    acc.owners_mut().bind(Transport::Udp, sa(LO, 40000), 1);
    acc.catch_up(t0 + Duration::from_millis(10), Duration::from_millis(5));
    let client = process(&mut acc, 1);
    assert_eq!((client.sent_bytes, client.sent_packets), (200, 2));
    assert_eq!(
        process(&mut acc, 2).received_bytes,
        200,
        "not credited twice"
    );
    assert_invariant(&acc);
}

#[test]
fn timed_retries_stop_after_the_last_back_off_step() {
    let t0 = Instant::now();
    let mut acc = accounting(FakeOwners::with_local(&[LOCAL]), t0);
    acc.record(
        &packet(Transport::Udp, sa(LOCAL, 5000), sa(REMOTE, 53), 100),
        t0,
    );
    for ms in 1..2000u64 {
        acc.catch_up(t0 + Duration::from_millis(ms), Duration::from_millis(5));
    }
    // The first lookup, then one per step: 2, 5, 10, 20, 50, 100, 200 ms.
    assert_eq!(acc.owners().lookups, 8);
    assert_eq!(acc.retries.len(), 0);
    assert_invariant(&acc);
}

#[test]
fn the_retry_queue_is_bounded() {
    let t0 = Instant::now();
    let config = AccountingConfig {
        deferred_capacity: 8,
        ..AccountingConfig::default()
    };
    let steps = config.retry.len();
    let mut acc = Accounting::new(FakeOwners::with_local(&[LOCAL]), config, t0);
    for port in 0..1000u16 {
        let meta = packet(Transport::Udp, sa(LOCAL, 10_000 + port), sa(REMOTE, 53), 60);
        acc.record(&meta, t0 + Duration::from_micros(u64::from(port)));
        assert!(acc.retries.len() <= 8 * steps);
        assert!(acc.rechecks.len() <= 8 * steps);
    }
    for ms in 1..500u64 {
        acc.catch_up(t0 + Duration::from_millis(ms), Duration::from_millis(5));
        assert!(acc.retries.len() <= 8 * steps);
        assert!(acc.rechecks.len() <= 8 * steps);
    }
    assert_invariant(&acc);
}

#[test]
fn a_sender_whose_namespace_is_learnt_after_its_burst_gets_the_whole_burst() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::with_local(&[LOCAL]);
    owners.bind(Transport::Udp, sa(LOCAL, 9000), 2);
    let mut acc = accounting(owners, t0);
    // The burst leaves a namespace whose addresses are not known yet: only its receiver
    // can be credited at first.
    let datagram = packet(Transport::Udp, sa(REMOTE, 5000), sa(LOCAL, 9000), 1042);
    for _ in 0..50 {
        acc.record(&datagram, t0);
    }
    assert_eq!(process(&mut acc, 2).received_bytes, 50 * 1042);

    // A few milliseconds later the namespace's first process shows its addresses; no
    // packet follows the burst.
    acc.owners_mut().local.push(REMOTE);
    acc.owners_mut().bind(Transport::Udp, sa(REMOTE, 5000), 1);
    for ms in 1..20u64 {
        acc.catch_up(t0 + Duration::from_millis(ms), Duration::from_millis(5));
    }

    let sender = process(&mut acc, 1);
    assert_eq!((sender.sent_bytes, sender.sent_packets), (50 * 1042, 50));
    assert_eq!(sender.received_bytes, 0);
    assert_eq!(process(&mut acc, 2).received_bytes, 50 * 1042, "not twice");
    assert_eq!(acc.totals().attributed_bytes, 50 * 1042);
    assert_invariant(&acc);
}

#[test]
fn a_sender_learnt_local_after_both_ends_were_unknown_gets_its_orphans_as_sent() {
    let t0 = Instant::now();
    let mut acc = accounting(FakeOwners::with_local(&[LOCAL]), t0);
    let datagram = packet(Transport::Udp, sa(REMOTE, 5000), sa(LOCAL, 9000), 100);
    acc.record(&datagram, t0);
    acc.record(&datagram, t0);
    let udp = acc.unattributed_stats()[1].clone();
    assert_eq!((udp.sent_bytes, udp.received_bytes), (0, 200));

    acc.owners_mut().local.push(REMOTE);
    acc.owners_mut().bind(Transport::Udp, sa(REMOTE, 5000), 1);
    acc.owners_mut().bind(Transport::Udp, sa(LOCAL, 9000), 2);
    for ms in 1..20u64 {
        acc.catch_up(t0 + Duration::from_millis(ms), Duration::from_millis(5));
    }
    assert_eq!(process(&mut acc, 1).sent_bytes, 200);
    assert_eq!(process(&mut acc, 2).received_bytes, 200);
    assert_eq!(unattributed_total(&acc), 0);
    assert_invariant(&acc);
}

#[test]
fn a_remote_end_is_checked_again_only_until_the_schedule_ends_and_keeps_nothing_aside() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::with_local(&[LOCAL]);
    owners.bind(Transport::Tcp, sa(LOCAL, 40000), 3);
    let mut acc = accounting(owners, t0);
    acc.record(
        &packet(Transport::Tcp, sa(REMOTE, 443), sa(LOCAL, 40000), 1500),
        t0,
    );
    let set_aside = |flow: &crate::accounting::flows::Flow| {
        flow.unclaimed.iter().flatten().any(|t| t.packets > 0)
    };
    assert!(acc.flows.iter().all(|(_, flow)| set_aside(flow)));
    for ms in 1..2000u64 {
        acc.catch_up(t0 + Duration::from_millis(ms), Duration::from_millis(5));
    }
    assert_eq!(acc.rechecks.len(), 0);
    for (_, flow) in acc.flows.iter() {
        assert!(!set_aside(flow), "a remote end keeps nothing aside");
        assert!(flow.ends.iter().all(|end| !end.unsure));
    }
    assert_eq!(acc.owners().lookups, 1, "the remote end is never looked up");
    assert_eq!(process(&mut acc, 3).received_bytes, 1500);
    assert_invariant(&acc);
}

#[test]
fn a_frame_without_ip_sent_here_is_credited_to_its_packet_socket_else_other_as_sent() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::with_local(&[LOCAL]);
    owners.packet_senders.insert((4, 0x88b5), 9);
    let mut acc = accounting(owners, t0);
    for _ in 0..3 {
        acc.record_link_frame(1014, 4, 0x88b5);
    }
    acc.record_link_frame(42, 4, 0x0806);
    acc.record_link_frame(1014, 5, 0x88b5);
    let sender = process(&mut acc, 9);
    assert_eq!((sender.sent_bytes, sender.sent_packets), (3 * 1014, 3));
    assert_eq!(sender.received_bytes, 0, "a receiver is never credited");
    let other = acc.unattributed_stats()[3].clone();
    assert_eq!((other.sent_bytes, other.received_bytes), (42 + 1014, 0));
    assert_invariant(&acc);
}
