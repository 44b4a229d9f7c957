//! Loopback scenarios: both ends are local processes, so each packet is credited twice,
//! sent by one and received by the other.

use crate::support::*;
use crate::traffic::*;
use std::collections::HashSet;

fn tcp_on_loopback(name: &str, host: &str) {
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let engine = Engine::start();
    let outcome = run_tcp(
        &engine,
        &TcpExchange {
            name,
            interface: "lo",
            server: here(host),
            client: here(host),
            send: 200_000,
            reply: 50_000,
            clients: 1,
            connections: 1,
        },
    );
    assert_attributed(&outcome.measurement, &outcome.snapshot);
    engine.capture.stop().expect("stop");
}

#[test]
fn loopback_tcp_ipv4_credits_sender_and_receiver() {
    tcp_on_loopback("loopback TCP IPv4", "127.0.0.1");
}

#[test]
fn loopback_tcp_ipv6_credits_sender_and_receiver() {
    tcp_on_loopback("loopback TCP IPv6", "::1");
}

fn udp_on_loopback(name: &str, host: &str, connected: bool) {
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let engine = Engine::start();
    let (m, snapshot) = run_udp(
        &engine,
        &UdpExchange {
            name,
            interface: "lo",
            server: here(host),
            client: here(host),
            count: 200,
            size: 1000,
            connected,
        },
    );
    assert_attributed(&m, &snapshot);
    engine.capture.stop().expect("stop");
}

#[test]
fn loopback_udp_ipv4_credits_sender_and_receiver() {
    udp_on_loopback("loopback UDP IPv4 (connected)", "127.0.0.1", true);
}

#[test]
fn loopback_udp_ipv6_credits_sender_and_receiver() {
    udp_on_loopback("loopback UDP IPv6 (connected)", "::1", true);
}

#[test]
fn unconnected_udp_is_credited_by_local_address_and_port() {
    udp_on_loopback("loopback UDP IPv4 unconnected", "127.0.0.1", false);
}

#[test]
fn ping_on_loopback_is_credited_to_ping() {
    let name = "ICMP ping 127.0.0.1";
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let engine = Engine::start();
    let counter = WireCounter::start("lo", "icmp");
    let mut ping = std::process::Command::new("ping")
        .args(["-c", "3", "-i", "0.2", "-q", "127.0.0.1"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run ping");
    let pid = ping.id();
    assert!(ping.wait().expect("ping exits").success());
    let packets = counter.finish();
    let truth = ping_truth(&packets, pid);
    let (m, snapshot) = measure(&engine, name, &truth, &HashSet::new());
    assert_attributed(&m, &snapshot);
    engine.capture.stop().expect("stop");
}

#[test]
fn small_packet_udp_flood_is_captured_without_drops() {
    let name = "UDP flood, 64-byte frames";
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    const PACKETS: usize = 200_000;
    /// Ethernet 14 + IPv4 20 + UDP 8 + 22 bytes of payload.
    const FRAME: u64 = 64;
    let engine = Engine::start();
    let sink = Peer::start(None, &[arg("udp-sink"), arg("127.0.0.1")]);
    let started = std::time::Instant::now();
    let flood = Peer::start(
        None,
        &[
            arg("udp-flood"),
            arg("127.0.0.1"),
            arg(sink.port),
            arg(PACKETS),
            arg(22),
        ],
    )
    .finish();
    let seconds = started.elapsed().as_secs_f64();
    let sink_pid = sink.pid;
    let wire = PACKETS as u64 * FRAME;
    let truth = std::collections::HashMap::from([(flood.pid, (wire, 0)), (sink_pid, (0, wire))]);
    let (m, snapshot) = measure(&engine, name, &truth, &HashSet::from([sink.port]));
    let lo_drops = snapshot
        .interfaces
        .iter()
        .find(|i| i.name == "lo")
        .map(|i| i.dropped)
        .unwrap_or(u64::MAX);
    println!(
        "FLOOD {PACKETS} packets in {seconds:.2} s ({:.0} packets/s), drops on lo: {lo_drops}",
        PACKETS as f64 / seconds
    );
    assert_eq!(lo_drops, 0, "pcap dropped packets on lo");
    assert_attributed(&m, &snapshot);
    drop(sink);
    engine.capture.stop().expect("stop");
}

/// A raw IP socket of an unassigned protocol (253, for experiments) sending to another on
/// loopback: each is credited through the kernel's raw socket table, by the address it is
/// bound to, never left in "other".
#[test]
fn raw_ip_sockets_of_an_unassigned_protocol_are_credited_to_their_owners() {
    let name = "raw IP protocol 253 on loopback";
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let engine = Engine::start();
    let counter = WireCounter::start("lo", "ip proto 253");
    let sink = Peer::start(None, &[arg("raw-sink"), arg("127.0.0.2"), arg(253)]);
    let sender = Peer::start(
        None,
        &[
            arg("raw-send"),
            arg("127.0.0.2"),
            arg(253),
            arg(200),
            arg(1000),
        ],
    )
    .finish();
    let sink = sink.finish();
    let packets = counter.finish();
    assert_eq!(packets.len(), 200, "the sender's packets on lo");
    let owners = vec![
        (
            sender.pid,
            address_is("127.0.0.1".parse().expect("address")),
        ),
        (sink.pid, address_is("127.0.0.2".parse().expect("address"))),
    ];
    let truth = truth(&packets, &Expectation { owners });
    let (m, snapshot) = measure(&engine, name, &truth, &HashSet::new());
    assert_attributed(&m, &snapshot);
    engine.capture.stop().expect("stop");
}
