//! Accounting stays bounded: lookups are rate-limited, idle flows pruned, the flow table
//! and the list of exited processes capped.

use super::tests::{accounting, assert_invariant, packet, process, sa, LO, LOCAL, REMOTE};
use super::*;
use crate::testing::FakeOwners;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

#[test]
fn idle_flows_are_pruned_but_their_bytes_stay_with_the_process() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::default();
    owners.bind(Transport::Udp, sa(LO, 1), 3);
    let mut acc = accounting(owners, t0);
    acc.record(&packet(Transport::Udp, sa(LO, 1), sa(LO, 2), 700), t0);

    acc.end_interval(Duration::from_secs(1), t0 + Duration::from_secs(61));

    assert_eq!(acc.flow_count(), 0);
    assert_eq!(process(&mut acc, 3).sent_bytes, 700);
    assert_eq!(acc.connections(3), Some(vec![]));
}

#[test]
fn a_million_short_connections_keep_the_flow_table_under_its_cap() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::default();
    owners.bind(Transport::Tcp, sa(LO, 443), 1);
    let config = AccountingConfig {
        flow_capacity: 10_000,
        ..AccountingConfig::default()
    };
    let mut acc = Accounting::new(owners, config, t0);
    for i in 0u32..1_000_000 {
        // Remote clients (10.128.0.0/9), each connecting once, one per millisecond.
        let client = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a80_0000 + i)), 40000);
        let now = t0 + Duration::from_millis(u64::from(i));
        acc.record(&packet(Transport::Tcp, client, sa(LO, 443), 100), now);
        assert!(acc.flow_count() <= 10_000);
    }
    assert_eq!(process(&mut acc, 1).received_bytes, 100_000_000);
    assert_invariant(&acc);
}

#[test]
fn exited_processes_beyond_the_cap_with_the_least_traffic_are_dropped() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::default();
    for pid in 1..=5u32 {
        owners.bind(Transport::Udp, sa(LO, pid as u16), pid);
    }
    let config = AccountingConfig {
        max_exited_processes: 2,
        ..AccountingConfig::default()
    };
    let mut acc = Accounting::new(owners, config, t0);
    for pid in 1..=5u16 {
        acc.record(
            &packet(
                Transport::Udp,
                sa(LO, pid),
                sa(REMOTE, 9),
                u32::from(pid) * 100,
            ),
            t0,
        );
    }
    for pid in 1..=4 {
        acc.owners_mut().exit(pid);
    }

    let (processes, _) = acc.end_interval(Duration::from_secs(1), t0);

    let pids: Vec<u32> = processes.iter().map(|p| p.pid).collect();
    assert_eq!(
        pids,
        vec![3, 4, 5],
        "the two biggest exited ones and the live one"
    );
    assert_invariant(&acc);
}

#[test]
fn a_burst_of_new_flows_is_held_to_the_lookup_budget() {
    let t0 = Instant::now();
    let mut acc = accounting(FakeOwners::with_local(&[LOCAL]), t0);
    for port in 0..10_000u16 {
        acc.record(
            &packet(Transport::Udp, sa(REMOTE, 1), sa(LOCAL, port), 60),
            t0,
        );
    }
    // They all came in from a remote address: the inbound budget is what they spend.
    let burst = AccountingConfig::default().inbound_lookup_burst as usize;
    assert_eq!(acc.owners().lookups, burst);
    assert_invariant(&acc);
}

#[test]
fn a_flood_from_spoofed_sources_leaves_flows_this_machine_starts_their_lookups() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::with_local(&[LOCAL]);
    owners.bind(Transport::Udp, sa(LOCAL, 53), 7);
    owners.bind(Transport::Tcp, sa(LOCAL, 40000), 9);
    // Both budgets small, so that one shared budget would be spent by the flood.
    let config = AccountingConfig {
        lookups_per_second: 100.0,
        lookup_burst: 10.0,
        inbound_lookups_per_second: 100.0,
        inbound_lookup_burst: 10.0,
        ..AccountingConfig::default()
    };
    let mut acc = Accounting::new(owners, config, t0);
    // 10,000 datagrams from as many spoofed sources to the local resolver port, within a
    // millisecond: every one a new flow, its first packet from a remote address.
    for i in 0..10_000u32 {
        let source = IpAddr::V4(Ipv4Addr::from(0xc633_6400 + (i & 0xff)));
        let meta = packet(
            Transport::Udp,
            sa(source, (i >> 8) as u16 + 1024),
            sa(LOCAL, 53),
            60,
        );
        acc.record(&meta, t0 + Duration::from_nanos(u64::from(i) * 100));
    }
    let flooded = acc.owners().lookups;
    assert!(
        flooded <= 11,
        "{flooded} lookups for the flood, over its budget"
    );
    // A connection this machine opens meanwhile is looked up at its first packet.
    let syn = packet(Transport::Tcp, sa(LOCAL, 40000), sa(REMOTE, 443), 60);
    acc.record(&syn, t0 + Duration::from_millis(1));
    assert_eq!(process(&mut acc, 9).sent_bytes, 60);
    assert_invariant(&acc);
}

#[test]
fn unknown_endpoint_is_looked_up_again_with_growing_delays_not_per_packet() {
    let t0 = Instant::now();
    let mut acc = accounting(FakeOwners::with_local(&[LOCAL]), t0);
    let meta = packet(Transport::Udp, sa(LOCAL, 9), sa(REMOTE, 9), 64);

    // 10 000 packets over one second: lookups at 0, 2, 7, 17, 37, 87, 187 ms, then
    // every 200 ms (387, 587, 787, 987).
    for i in 0..10_000u64 {
        acc.record(&meta, t0 + Duration::from_micros(i * 100));
    }
    assert_eq!(acc.owners().lookups, 11);
}

#[test]
fn endpoints_that_never_resolve_cannot_starve_new_ones_of_lookups() {
    let t0 = Instant::now();
    let mut owners = FakeOwners::with_local(&[LOCAL]);
    owners.bind(Transport::Tcp, sa(LOCAL, 443), 9);
    let config = AccountingConfig {
        lookups_per_second: 100.0,
        lookup_burst: 10.0,
        retries_per_second: 10.0,
        retry_burst: 5.0,
        ..AccountingConfig::default()
    };
    let mut acc = Accounting::new(owners, config, t0);
    // Ten endpoints no socket owns (say, the kernel's), busy for 100 ms: they keep
    // asking to be looked up again.
    for ms in 0..100u64 {
        for port in 0..10u16 {
            let meta = packet(Transport::Udp, sa(REMOTE, 1), sa(LOCAL, 5000 + port), 60);
            acc.record(&meta, t0 + Duration::from_millis(ms));
        }
    }
    let retries = acc.owners().lookups - 10;
    assert!(retries <= 6, "{retries} retries, over their own budget");

    // A new connection still gets its first lookup at once.
    let syn = packet(Transport::Tcp, sa(REMOTE, 40000), sa(LOCAL, 443), 60);
    acc.record(&syn, t0 + Duration::from_millis(100));
    assert_eq!(process(&mut acc, 9).received_bytes, 60);
    assert_invariant(&acc);
}
