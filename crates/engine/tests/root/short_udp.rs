//! Short-lived UDP senders while a steady transfer keeps the capture busy (issue 14, item
//! 2): 30 processes that each send three datagrams, wait for each answer and exit,
//! started 50–200 ms apart, beside a 100 MB/s TCP transfer through the same veth. Each
//! must be credited, to its own pid and under its name, with exactly what an independent
//! capture saw, in every round; from this namespace and from another one. Their sockets
//! are gone within milliseconds, often before the capture thread looks their first
//! packet up: only the route-lookup tracepoints (`attribution/udp_senders`) can tell.

use crate::namespace::{host_v4, ns_v4, TestNetns};
use crate::support::*;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

/// Short-lived clients per round.
const CLIENTS: usize = 30;
/// Datagrams each client sends (each answered), and their payload in bytes.
const DATAGRAMS: usize = 3;
const PAYLOAD: usize = 100;
/// The steady transfer's pace, in MB/s (as the bench's short-udp workload).
const STREAM_MBPS: u32 = 100;

/// Rounds per scenario: the issue asks for 10 of 10; `SOCKEYE_SHORT_UDP_ROUNDS` may ask
/// for more (or fewer, while working on it).
fn rounds() -> usize {
    std::env::var("SOCKEYE_SHORT_UDP_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

/// The transfer's pace: [`STREAM_MBPS`], or `SOCKEYE_SHORT_UDP_MBPS` (at 2,000 on this
/// 2-CPU machine, without the sender log 1 client in 30 was lost per round).
fn stream_mbps() -> u32 {
    std::env::var("SOCKEYE_SHORT_UDP_MBPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(STREAM_MBPS)
}

/// Gaps of 50–200 ms between the clients' starts, the same every run (a small LCG).
fn gaps(seed: u64) -> impl Iterator<Item = Duration> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    std::iter::repeat_with(move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        Duration::from_millis(50 + (state >> 33) % 151)
    })
}

#[test]
fn thirty_short_lived_udp_clients_during_a_transfer_are_each_credited_to_their_own_pid() {
    short_lived_udp_clients("30 short UDP clients, here -> netns", false);
}

#[test]
fn thirty_short_lived_udp_clients_in_another_namespace_are_each_credited_to_their_own_pid() {
    short_lived_udp_clients("30 short UDP clients, netns -> here", true);
}

fn short_lived_udp_clients(name: &str, clients_in_namespace: bool) {
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let netns = TestNetns::create();
    let engine = Engine::start();
    wait_captured(&engine, &[&netns.host_if]);
    let rounds = rounds();
    let mut perfect = 0;
    for round in 0..rounds {
        let credited = one_round(&engine, &netns, name, clients_in_namespace, round);
        println!(
            "SHORT-UDP {name}: round {round}: {credited} of {CLIENTS} clients credited and named"
        );
        if credited == CLIENTS {
            perfect += 1;
        }
    }
    let snapshot = engine.settle(|_| true);
    println!(
        "SHORT-UDP {name}: {perfect} of {rounds} rounds with every client credited; sender log {}, {} route lookups lost",
        if snapshot.totals.sender_log { "on" } else { "off" },
        snapshot.totals.sender_events_lost
    );
    assert!(snapshot.totals.sender_log, "the sender log runs as root");
    assert_eq!(perfect, rounds, "every client credited in every round");
    engine.capture.stop().expect("stop");
}

/// One round: the transfer, the 30 clients, and how many of them were credited exactly
/// their bytes, to their own pid, under their name.
fn one_round(
    engine: &Engine,
    netns: &TestNetns,
    name: &str,
    clients_in_namespace: bool,
    round: usize,
) -> usize {
    // The steady transfer: here -> a sink in the namespace, through the veth.
    let sink = Peer::start(
        Some(&netns.name),
        &[arg("tcp-server"), arg(ns_v4()), arg(1), arg(0)],
    );
    let stream = Peer::start(
        None,
        &[
            arg("tcp-stream"),
            arg(ns_v4()),
            arg(sink.port),
            arg(stream_mbps()),
        ],
    );
    // The clients' server on the other side of the veth.
    let (server_ns, server_host, client_ns) = if clients_in_namespace {
        (None, host_v4(), Some(netns.name.as_str()))
    } else {
        (Some(netns.name.as_str()), ns_v4(), None)
    };
    let server = Peer::start(
        server_ns,
        &[
            arg("udp-server"),
            arg(server_host),
            arg(CLIENTS * DATAGRAMS),
        ],
    );
    let counter = WireCounter::start(&netns.host_if, &format!("udp port {}", server.port));
    let mut clients: Vec<(u32, u16)> = Vec::new();
    for (i, gap) in gaps(round as u64).take(CLIENTS).enumerate() {
        let mut args = vec![
            arg("udp-short"),
            arg(server_host),
            arg(server.port),
            arg(DATAGRAMS),
            arg(PAYLOAD),
            // Half connect() first (one route lookup for the socket's life), half
            // sendto() each datagram (one per send), as DNS clients do either way.
            arg(i % 2),
        ];
        // Not an ephemeral port an earlier client of the round had (30 of some 28,000
        // collide about one round in 60): this truth, by address and port, could not tell
        // their datagrams apart (the engine can: the next test, with a port reused on
        // purpose, and its truth in time order).
        args.extend(clients.iter().map(|&(_, port)| arg(port)));
        let client = Peer::start(client_ns, &args).finish();
        clients.push((client.pid, client.port));
        std::thread::sleep(gap);
    }
    let server = server.finish();
    drop(stream);
    drop(sink);
    let packets = counter.finish();

    // By address and port: a client in one namespace may get the port number the server
    // has in the other (CI saw it once), and the wire tells them apart only by address.
    let client_host = if clients_in_namespace {
        ns_v4()
    } else {
        host_v4()
    };
    let endpoint = |host: &str, port: u16| {
        endpoint_is(SocketAddr::new(host.parse().expect("test address"), port))
    };
    let mut owners: Vec<(u32, Owns)> = clients
        .iter()
        .map(|&(pid, port)| (pid, endpoint(client_host, port)))
        .collect();
    owners.push((server.pid, endpoint(server_host, server.port)));
    let truth = truth(&packets, &Expectation { owners });
    let mut ports: HashSet<u16> = clients.iter().map(|&(_, port)| port).collect();
    ports.insert(server.port);
    let (measurement, snapshot) = measure(engine, &format!("{name} #{round}"), &truth, &ports);
    assert_nothing_lost(&snapshot);

    let mut credited = 0;
    for &(pid, _) in &clients {
        let (sent, received) = truth.get(&pid).copied().unwrap_or_default();
        assert!(
            sent > 0 && received > 0,
            "pid {pid}: the wire saw its exchange"
        );
        let process = snapshot.processes.iter().find(|p| p.pid == pid);
        let got = process.map_or((0, 0), |p| (p.sent_bytes, p.received_bytes));
        let named = process.is_some_and(|p| p.name == "python3");
        if got == (sent, received) && named {
            credited += 1;
        } else {
            println!(
                "  client pid {pid}: credited {got:?} of {:?}, name {:?}",
                (sent, received),
                process.map(|p| p.name.as_str())
            );
        }
    }
    assert!(
        measurement.wrong_share() <= 0.01,
        "{:.2}% of the round's bytes credited to a wrong pid: {measurement:?}",
        measurement.wrong_share() * 100.0
    );
    credited
}

/// A client's ephemeral port drawn again by the next client towards the same server: one
/// four-tuple, two processes one after the other (a resolver's clients do this now and
/// then). UDP has no SYN to tell a new exchange; each client must still get exactly its
/// own datagrams and answers, the second from its first datagram on (issue 14, item 2).
#[test]
fn a_udp_port_taken_again_by_the_next_client_is_credited_to_each_in_turn() {
    let name = "reused UDP port, loopback";
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let engine = Engine::start();
    wait_captured(&engine, &["lo"]);
    for connected in [0, 1] {
        let server = Peer::start(
            None,
            &[arg("udp-server"), arg("127.0.0.1"), arg(2 * DATAGRAMS)],
        );
        let counter = WireCounter::start("lo", &format!("udp port {}", server.port));
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("a free port")
            .port();
        let clients: Vec<u32> = (0..2)
            .map(|_| {
                let client = Peer::start(
                    None,
                    &[
                        arg("udp-short-at"),
                        arg("127.0.0.1"),
                        arg(port),
                        arg(server.port),
                        arg(DATAGRAMS),
                        arg(PAYLOAD),
                        arg(connected),
                    ],
                )
                .finish();
                assert_eq!(client.port, port, "the client took the port it was given");
                client.pid
            })
            .collect();
        let server = server.finish();
        let packets = counter.finish();

        // The wire: the first client's exchange, then the second's, on one four-tuple.
        assert_eq!(packets.len(), 4 * DATAGRAMS, "{packets:?}");
        let mut truth: HashMap<u32, (u64, u64)> = HashMap::new();
        for (i, packet) in packets.iter().enumerate() {
            let client = clients[i / (2 * DATAGRAMS)];
            let (client_side, server_side) = if packet.src.port() == port {
                ((packet.len, 0), (0, packet.len))
            } else {
                ((0, packet.len), (packet.len, 0))
            };
            for (pid, (sent, received)) in [(client, client_side), (server.pid, server_side)] {
                let entry = truth.entry(pid).or_default();
                entry.0 += sent;
                entry.1 += received;
            }
        }
        let ports = HashSet::from([port, server.port]);
        let (measurement, snapshot) = measure(
            &engine,
            &format!("{name}, connected {connected}"),
            &truth,
            &ports,
        );
        assert_attributed(&measurement, &snapshot);
        for pid in clients {
            let process = snapshot.processes.iter().find(|p| p.pid == pid);
            let got = process.map(|p| (p.sent_bytes, p.received_bytes));
            assert_eq!(got, truth.get(&pid).copied(), "client {pid}");
        }
    }
    engine.capture.stop().expect("stop");
}
