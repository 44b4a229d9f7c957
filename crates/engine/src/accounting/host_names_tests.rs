//! Names from DNS answers in accounting: who asked, which connection gets which name, the
//! decode budget, and hosts.

use super::tests::{accounting, packet, sa, LO, LOCAL, REMOTE};
use super::*;
use crate::parse::dns::DnsPayload;
use crate::testing::FakeOwners;
use std::net::{IpAddr, Ipv4Addr};

/// An uncompressed response to an A question for `name` with one A record `addr`, TTL 60.
fn answer(name: &str, addr: [u8; 4]) -> Vec<u8> {
    let mut wire = Vec::new();
    for label in name.split('.') {
        wire.push(label.len() as u8);
        wire.extend_from_slice(label.as_bytes());
    }
    wire.push(0);
    let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    m.extend_from_slice(&wire);
    m.extend_from_slice(&[0, 1, 0, 1]);
    m.extend_from_slice(&wire);
    m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
    m.extend_from_slice(&addr);
    m
}

const RESOLVER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 53));

/// Client pids 10 and 20 on ports 40010 / 40020 of LOCAL and loopback.
fn two_clients() -> FakeOwners {
    let mut owners = FakeOwners::with_local(&[LOCAL]);
    for (pid, port) in [(10, 40010), (20, 40020)] {
        owners.bind(Transport::Udp, sa(LO, port), pid);
        owners.bind(Transport::Tcp, sa(LOCAL, port + 1), pid);
    }
    owners
}

/// Records the query `client` → resolver and its answer `message`.
fn resolve(acc: &mut Accounting<FakeOwners>, client_port: u16, message: &[u8], now: Instant) {
    acc.record(
        &packet(Transport::Udp, sa(LO, client_port), sa(RESOLVER, 53), 60),
        now,
    );
    let mut reply = packet(Transport::Udp, sa(RESOLVER, 53), sa(LO, client_port), 100);
    reply.dns = Some(DnsPayload::Udp(message));
    acc.record(&reply, now);
}

fn connect(acc: &mut Accounting<FakeOwners>, client_port: u16, now: Instant) {
    acc.record(
        &packet(
            Transport::Tcp,
            sa(LOCAL, client_port + 1),
            sa(REMOTE, 443),
            1000,
        ),
        now,
    );
    acc.record(
        &packet(
            Transport::Tcp,
            sa(REMOTE, 443),
            sa(LOCAL, client_port + 1),
            3000,
        ),
        now,
    );
}

fn remote_names(acc: &mut Accounting<FakeOwners>, pid: Pid, now: Instant) -> Vec<Option<String>> {
    acc.connections_at(pid, now)
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.protocol == Transport::Tcp)
        .map(|c| c.remote_name)
        .collect()
}

#[test]
fn a_connection_carries_the_name_its_own_process_looked_up() {
    let t0 = Instant::now();
    let mut acc = accounting(two_clients(), t0);
    resolve(
        &mut acc,
        40010,
        &answer("www.sockeye.test", [10, 9, 0, 9]),
        t0,
    );
    resolve(
        &mut acc,
        40020,
        &answer("cdn.sockeye.test", [10, 9, 0, 9]),
        t0,
    );
    connect(&mut acc, 40010, t0);
    connect(&mut acc, 40020, t0);
    assert_eq!(
        remote_names(&mut acc, 10, t0),
        vec![Some("www.sockeye.test".to_owned())]
    );
    assert_eq!(
        remote_names(&mut acc, 20, t0),
        vec![Some("cdn.sockeye.test".to_owned())]
    );
    assert_eq!(acc.totals().dns_decoded, 2);
}

#[test]
fn another_process_gets_the_latest_name_of_the_address() {
    let t0 = Instant::now();
    let mut acc = accounting(two_clients(), t0);
    resolve(
        &mut acc,
        40010,
        &answer("www.sockeye.test", [10, 9, 0, 9]),
        t0,
    );
    connect(&mut acc, 40020, t0);
    assert_eq!(
        remote_names(&mut acc, 20, t0),
        vec![Some("www.sockeye.test".to_owned())]
    );
}

#[test]
fn a_service_names_the_remote_port() {
    let t0 = Instant::now();
    let mut acc = accounting(two_clients(), t0);
    connect(&mut acc, 40010, t0);
    let connections = acc.connections_at(10, t0).unwrap_or_default();
    assert_eq!(connections[0].service.as_deref(), Some("https"));
    assert_eq!(connections[0].remote_name, None);
}

#[test]
fn an_answer_sent_to_a_remote_host_is_not_decoded() {
    let t0 = Instant::now();
    let mut acc = accounting(two_clients(), t0);
    let message = answer("www.sockeye.test", [10, 9, 0, 9]);
    let mut reply = packet(Transport::Udp, sa(LOCAL, 53), sa(REMOTE, 40000), 100);
    reply.dns = Some(DnsPayload::Udp(&message));
    acc.record(&reply, t0);
    assert_eq!(acc.totals().dns_decoded, 0);
}

#[test]
fn answers_past_the_decode_budget_are_counted_not_decoded() {
    let t0 = Instant::now();
    let config = AccountingConfig {
        dns_decodes_per_second: 10.0,
        dns_decode_burst: 10.0,
        ..AccountingConfig::default()
    };
    let mut acc = Accounting::new(two_clients(), config, t0);
    let message = answer("www.sockeye.test", [10, 9, 0, 9]);
    for _ in 0..25 {
        resolve(&mut acc, 40010, &message, t0);
    }
    assert_eq!(acc.totals().dns_decoded, 10);
    assert_eq!(acc.totals().dns_skipped, 15);
    // A second later the budget has refilled by ten.
    for _ in 0..25 {
        resolve(&mut acc, 40010, &message, t0 + Duration::from_secs(1));
    }
    assert_eq!(acc.totals().dns_decoded, 20);
}

#[test]
fn a_tcp_answer_split_across_segments_is_counted_and_skipped() {
    let t0 = Instant::now();
    let mut acc = accounting(two_clients(), t0);
    let message = answer("www.sockeye.test", [10, 9, 0, 9]);
    let mut framed = (message.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&message);
    let (first, _) = framed.split_at(20);
    let mut segment = packet(Transport::Tcp, sa(RESOLVER, 53), sa(LO, 40010), 100);
    segment.dns = Some(DnsPayload::Tcp {
        bytes: first,
        complete: true,
    });
    acc.record(&segment, t0);
    assert_eq!(acc.totals().dns_split, 1);
    let whole = DnsPayload::Tcp {
        bytes: &framed,
        complete: true,
    };
    segment.dns = Some(whole);
    acc.record(&segment, t0);
    assert_eq!(acc.totals().dns_decoded, 1);
}

#[test]
fn hosts_gather_bytes_and_pids_under_the_name() {
    let t0 = Instant::now();
    let mut acc = accounting(two_clients(), t0);
    resolve(
        &mut acc,
        40010,
        &answer("www.sockeye.test", [10, 9, 0, 9]),
        t0,
    );
    connect(&mut acc, 40010, t0);
    connect(&mut acc, 40020, t0);
    acc.end_interval(Duration::from_secs(1), t0 + Duration::from_secs(1));
    let hosts = acc.hosts();
    let www = hosts
        .iter()
        .find(|h| h.name.as_deref() == Some("www.sockeye.test"))
        .unwrap();
    assert_eq!(www.addresses, vec![REMOTE]);
    assert_eq!((www.sent_bytes, www.received_bytes), (2000, 6000));
    assert_eq!(www.pids, vec![10, 20]);
    // The resolver, from the clients' side: an address with no name.
    let resolver = hosts
        .iter()
        .find(|h| h.addresses == vec![RESOLVER])
        .unwrap();
    assert_eq!(resolver.name, None);
    assert_eq!(resolver.pids, vec![10]);
    acc.reset_totals();
    assert!(acc.hosts().is_empty());
}
