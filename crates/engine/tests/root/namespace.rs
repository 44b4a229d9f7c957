//! Traffic through a veth pair into a test network namespace: processes on both sides,
//! attributed across namespaces; the veth appears while the engine runs (hot-plug).

use crate::support::*;
use crate::traffic::*;
use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

/// A namespace `sockeye-test-<pid>` joined to this one by a veth pair, with offloads off
/// (MTU-sized frames, as on a real link). Removed on drop, also when the test fails.
pub struct TestNetns {
    pub name: String,
    pub host_if: String,
}

/// The test's addresses: host end `1`, namespace end `2`, in subnets derived from this
/// process's pid, so that test binaries run at once (several worktrees on one machine)
/// never share an address (a shared one routes one test's packets into another's veth).
fn address(v6: bool, end: u8) -> &'static str {
    static ADDRESSES: std::sync::LazyLock<[String; 4]> = std::sync::LazyLock::new(|| {
        let pid = std::process::id();
        let (a, b) = (100 + (pid / 256) % 150, pid % 256);
        let (hi, lo) = (pid >> 16, pid & 0xffff);
        [
            format!("10.{a}.{b}.1"),
            format!("10.{a}.{b}.2"),
            format!("fd00:5ec:{hi:x}:{lo:x}::1"),
            format!("fd00:5ec:{hi:x}:{lo:x}::2"),
        ]
    });
    &ADDRESSES[usize::from(v6) * 2 + usize::from(end - 1)]
}
pub fn host_v4() -> &'static str {
    address(false, 1)
}
pub fn ns_v4() -> &'static str {
    address(false, 2)
}
fn host_v6() -> &'static str {
    address(true, 1)
}
fn ns_v6() -> &'static str {
    address(true, 2)
}

impl TestNetns {
    pub fn create() -> TestNetns {
        let pid = std::process::id();
        let netns = TestNetns {
            name: format!("sockeye-test-{pid}"),
            host_if: format!("skh{pid}"),
        };
        let ns_if = format!("skn{pid}");
        let (ns, host_if) = (netns.name.as_str(), netns.host_if.as_str());
        run(&["ip", "netns", "add", ns]);
        run(&[
            "ip", "link", "add", host_if, "type", "veth", "peer", "name", &ns_if,
        ]);
        run(&["ip", "link", "set", &ns_if, "netns", ns]);
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", host_v4()),
            "dev",
            host_if,
        ]);
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{}/64", host_v6()),
            "dev",
            host_if,
            "nodad",
        ]);
        run(&["ip", "link", "set", host_if, "up"]);
        let in_ns = |args: &[&str]| {
            let mut full = vec!["ip", "netns", "exec", ns];
            full.extend_from_slice(args);
            run(&full);
        };
        in_ns(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", ns_v4()),
            "dev",
            &ns_if,
        ]);
        in_ns(&[
            "ip",
            "addr",
            "add",
            &format!("{}/64", ns_v6()),
            "dev",
            &ns_if,
            "nodad",
        ]);
        in_ns(&["ip", "link", "set", &ns_if, "up"]);
        in_ns(&["ip", "link", "set", "lo", "up"]);
        run(&[
            "ethtool", "-K", host_if, "tso", "off", "gso", "off", "gro", "off",
        ]);
        in_ns(&[
            "ethtool", "-K", &ns_if, "tso", "off", "gso", "off", "gro", "off",
        ]);
        netns
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        // The host end first: deleting it removes the pair and its addresses at once,
        // whereas a deleted namespace is torn down later by the kernel.
        let quiet = |args: &[&str]| {
            let _ = Command::new("ip")
                .args(args)
                .stderr(std::process::Stdio::null())
                .status();
        };
        quiet(&["link", "del", &self.host_if]);
        quiet(&["netns", "del", &self.name]);
        // The next scenario reuses the names: wait until the link is really gone.
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && link_exists(&self.host_if) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Creates the namespace while `engine` runs and waits until the engine captures on its
/// veth: interfaces that appear are picked up within 2 s.
fn netns_seen_by(engine: &Engine) -> TestNetns {
    let netns = TestNetns::create();
    let created = Instant::now();
    let deadline = created + Duration::from_millis(2500);
    loop {
        let snapshot = engine.settle(|_| true);
        if snapshot.interfaces.iter().any(|i| i.name == netns.host_if) {
            println!(
                "HOT-PLUG {} captured {} ms after it came up",
                netns.host_if,
                created.elapsed().as_millis()
            );
            return netns;
        }
        assert!(Instant::now() < deadline, "veth not picked up within 2 s");
    }
}

/// One TCP connection from here to a server in `netns` over IPv4: `send` bytes in,
/// `reply` bytes back.
fn tcp_into(
    engine: &Engine,
    netns: &TestNetns,
    name: &str,
    send: usize,
    reply: usize,
) -> TcpOutcome {
    run_tcp(
        engine,
        &TcpExchange {
            name,
            interface: &netns.host_if,
            server: Side {
                netns: Some(&netns.name),
                host: ns_v4(),
            },
            client: here(ns_v4()),
            send,
            reply,
            clients: 1,
            connections: 1,
        },
    )
}

#[test]
fn tcp_from_here_to_a_process_in_another_namespace_credits_both() {
    let name = "veth TCP IPv4 host -> netns";
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let engine = Engine::start();
    let netns = netns_seen_by(&engine);
    let outcome = tcp_into(&engine, &netns, name, 200_000, 50_000);
    assert_attributed(&outcome.measurement, &outcome.snapshot);
    engine.capture.stop().expect("stop");
}

#[test]
fn tcp_ipv6_from_a_namespace_to_here_credits_both() {
    let name = "veth TCP IPv6 netns -> host";
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let engine = Engine::start();
    let netns = netns_seen_by(&engine);
    let outcome = run_tcp(
        &engine,
        &TcpExchange {
            name,
            interface: &netns.host_if,
            server: here(host_v6()),
            client: Side {
                netns: Some(&netns.name),
                host: host_v6(),
            },
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
fn udp_from_a_process_in_another_namespace_to_here_credits_both() {
    let name = "veth UDP IPv4 netns -> host";
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let engine = Engine::start();
    let netns = netns_seen_by(&engine);
    let (m, snapshot) = run_udp(
        &engine,
        &UdpExchange {
            name,
            interface: &netns.host_if,
            server: here(host_v4()),
            client: Side {
                netns: Some(&netns.name),
                host: host_v4(),
            },
            count: 200,
            size: 1000,
            connected: true,
        },
    );
    assert_attributed(&m, &snapshot);
    engine.capture.stop().expect("stop");
}

#[test]
fn ping_into_a_namespace_is_credited_to_ping() {
    let name = "ICMP ping into netns";
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let engine = Engine::start();
    let netns = netns_seen_by(&engine);
    let counter = WireCounter::start(&netns.host_if, "icmp");
    let mut ping = Command::new("ping")
        .args(["-c", "3", "-i", "0.2", "-q", ns_v4()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run ping");
    let pid = ping.id();
    assert!(ping.wait().expect("ping exits").success());
    let packets = counter.finish();
    let truth = ping_truth(&packets, pid);
    let (m, snapshot) = measure(&engine, name, &truth, &HashSet::new());
    assert_attributed(&m, &snapshot);
    drop(netns);
    // The veth is gone: the engine drops its handle and keeps running.
    let after = engine.settle(|_| true);
    assert_nothing_lost(&after);
    engine.capture.stop().expect("stop");
}

/// UDP datagrams over the 1500-byte MTU, sent from the namespace and answered: two or
/// three fragments each way, only the first of which carries the ports.
fn fragmented_udp(name: &str, host: &str, peer: &str, filter: &str) {
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let engine = Engine::start();
    let netns = netns_seen_by(&engine);
    let server = Peer::start(None, &[arg("udp-server"), arg(host), arg(50)]);
    // Every UDP packet and every later fragment on the veth: only this exchange uses it.
    let counter = WireCounter::start(&netns.host_if, filter);
    let client = Peer::start(
        Some(&netns.name),
        &[
            arg("udp-client"),
            arg(host),
            arg(server.port),
            arg(50),
            arg(3000),
            arg(1),
        ],
    )
    .finish();
    let server = server.finish();
    let packets = counter.finish();
    let later_fragments = packets.iter().filter(|p| p.src.port() == 0).count();
    assert!(
        later_fragments >= 100,
        "{later_fragments} later fragments seen"
    );
    let host: std::net::IpAddr = host.parse().expect("address");
    let peer: std::net::IpAddr = peer.parse().expect("address");
    let owners = vec![
        (server.pid, address_is(host)),
        (client.pid, address_is(peer)),
    ];
    let truth = truth(&packets, &Expectation { owners });
    let ports = HashSet::from([server.port, client.port]);
    let (m, snapshot) = measure(&engine, name, &truth, &ports);
    assert_attributed(&m, &snapshot);
    engine.capture.stop().expect("stop");
}

#[test]
fn fragmented_udp_ipv4_is_credited_through_its_first_fragments() {
    fragmented_udp(
        "veth UDP IPv4 fragmented netns -> host",
        host_v4(),
        ns_v4(),
        "udp or (ip[6:2] & 0x1fff != 0)",
    );
}

#[test]
fn fragmented_udp_ipv6_is_credited_through_its_first_fragments() {
    // IPv6 fragments carry a fragment header (next header 44) after the fixed header.
    fragmented_udp(
        "veth UDP IPv6 fragmented netns -> host",
        host_v6(),
        ns_v6(),
        "udp or (ip6 and ip6[6] == 44)",
    );
}

#[test]
fn a_veths_totals_are_what_its_kernel_counters_say_in_each_direction() {
    let name = "veth interface totals against its kernel counters";
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let engine = Engine::start();
    let netns = netns_seen_by(&engine);
    let kernel_before = kernel_counters(&netns.host_if);
    let engine_before = engine_counters(&engine.settle(|_| true), &netns.host_if);
    // 4 MB from here into the namespace, 100 kB back: both ends local, so their addresses
    // cannot tell the direction; the kernel's counters say 4 MB out, 100 kB (and ACKs) in.
    let outcome = tcp_into(&engine, &netns, name, 4_000_000, 100_000);
    assert_attributed(&outcome.measurement, &outcome.snapshot);
    let kernel_after = kernel_counters(&netns.host_if);
    let engine_after = engine_counters(&engine.settle(|_| true), &netns.host_if);
    let kernel = grown(kernel_before, kernel_after);
    let engine_delta = grown(engine_before, engine_after);
    println!(
        "SCENARIO {name}: kernel tx {} rx {} B, engine sent {} received {} B",
        kernel.0, kernel.1, engine_delta.0, engine_delta.1
    );
    assert!(
        kernel.0 > 4_000_000,
        "the transfer left through {}",
        netns.host_if
    );
    assert!(
        agrees(engine_delta.0, kernel.0),
        "sent {} vs tx {}",
        engine_delta.0,
        kernel.0
    );
    assert!(
        agrees(engine_delta.1, kernel.1),
        "received {} vs rx {}",
        engine_delta.1,
        kernel.1
    );
    engine.capture.stop().expect("stop");
}

/// A LAN host flooding UDP from random spoofed sources (of the test subnet) at this
/// machine while a process here makes 300 short loopback connections: the flood spends
/// the lookup budget of flows that come in, and every connection this machine starts is
/// still credited in full.
#[test]
fn a_spoofed_flood_does_not_cost_local_connections_their_lookups() {
    let name = "300 connections beside a spoofed flood";
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let engine = Engine::start();
    let netns = netns_seen_by(&engine);
    let flood = Peer::start(
        Some(&netns.name),
        &[arg("spoof-flood"), arg(host_v4()), arg(3)],
    );
    let flooded = WireCounter::start(&netns.host_if, "udp dst port 9");
    let outcome = three_hundred_loopback_connections(&engine, name);
    let flood_packets = flooded.finish().len();
    drop(flood);
    println!("SCENARIO {name}: {flood_packets} spoofed datagrams during the connections");
    assert!(
        flood_packets > 5_000,
        "the flood ran: {flood_packets} datagrams"
    );
    assert_attributed(&outcome.measurement, &outcome.snapshot);
    engine.capture.stop().expect("stop");
}
