//! The Docker/Podman default: a process in a namespace behind a Linux bridge in the host,
//! masqueraded by the host to a second namespace. Each packet crosses three interfaces
//! (the container's veth port, the bridge, and — translated — the host's veth to the
//! second namespace); the engine captures the port and the host's veth and counts the
//! bridge, whose every frame also crosses the port, from its kernel counters. The client
//! and the server must each be credited once with what a capture inside their own
//! namespace saw (issue 14, item 1), and the bridge's totals must be what it carried.

use crate::support::*;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

/// Namespace A (`sko-a-PID`, the container) on the bridge `skobrPID` through the veth
/// `skoaPID`; namespace B (`sko-b-PID`) on the host's veth `skobPID`; the host masquerades
/// A's subnet out of `skobPID` (nft table `ip sko_nat_PID`) and forwards between the two
/// (per-interface forwarding: the host's global setting is left alone). Torn down on drop:
/// links first (their forwarding goes with them), then the NAT table, then the namespaces.
struct BridgedNat {
    a: String,
    b: String,
    bridge: String,
    a_port: String,
    b_host: String,
    table: String,
    /// Addresses: the bridge (A's gateway), the client in A, the host on B's link, the
    /// server in B.
    gateway: String,
    client: String,
    nat: String,
    server: String,
}

impl BridgedNat {
    /// With `offloads` the veths keep their defaults (GSO super-frames of up to 64 KiB, as
    /// Docker and Podman leave them); without, every frame is MTU-sized.
    fn create(offloads: bool) -> BridgedNat {
        let pid = std::process::id();
        // Subnets of this process only (namespace.rs uses 10.100–249.x.0/24).
        let (hi, lo) = (250 + (pid >> 8) % 6, pid & 0xff);
        let net = BridgedNat {
            a: format!("sko-a-{pid}"),
            b: format!("sko-b-{pid}"),
            bridge: format!("skobr{pid}"),
            a_port: format!("skoa{pid}"),
            b_host: format!("skob{pid}"),
            table: format!("sko_nat_{pid}"),
            gateway: format!("10.{hi}.{lo}.1"),
            client: format!("10.{hi}.{lo}.2"),
            nat: format!("10.{hi}.{lo}.65"),
            server: format!("10.{hi}.{lo}.66"),
        };
        let (a_in, b_in) = (format!("skoai{pid}"), format!("skobi{pid}"));
        run(&["ip", "netns", "add", &net.a]);
        run(&["ip", "netns", "add", &net.b]);
        // The bridge and A's port.
        run(&["ip", "link", "add", &net.bridge, "type", "bridge"]);
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{}/26", net.gateway),
            "dev",
            &net.bridge,
        ]);
        run(&[
            "ip",
            "link",
            "add",
            &net.a_port,
            "type",
            "veth",
            "peer",
            "name",
            &a_in,
        ]);
        run(&["ip", "link", "set", &a_in, "netns", &net.a]);
        run(&["ip", "link", "set", &net.a_port, "master", &net.bridge]);
        // B's link.
        run(&[
            "ip",
            "link",
            "add",
            &net.b_host,
            "type",
            "veth",
            "peer",
            "name",
            &b_in,
        ]);
        run(&["ip", "link", "set", &b_in, "netns", &net.b]);
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{}/26", net.nat),
            "dev",
            &net.b_host,
        ]);
        for dev in [&net.a_port, &net.b_host, &net.bridge] {
            if !offloads {
                run(&[
                    "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off",
                ]);
            }
            run(&["ip", "link", "set", dev, "up"]);
        }
        let in_ns = |ns: &str, args: &[&str]| {
            let mut full = vec!["ip", "netns", "exec", ns];
            full.extend_from_slice(args);
            run(&full);
        };
        for (ns, dev, addr, gateway) in [
            (&net.a, &a_in, &net.client, &net.gateway),
            (&net.b, &b_in, &net.server, &net.nat),
        ] {
            in_ns(
                ns,
                &["ip", "addr", "add", &format!("{addr}/26"), "dev", dev],
            );
            if !offloads {
                in_ns(
                    ns,
                    &[
                        "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off",
                    ],
                );
            }
            in_ns(ns, &["ip", "link", "set", dev, "up"]);
            in_ns(ns, &["ip", "link", "set", "lo", "up"]);
            in_ns(ns, &["ip", "route", "add", "default", "via", gateway]);
        }
        // NAT first, then forwarding on (only on these two interfaces).
        let ruleset = format!(
            "table ip {table} {{\n\
             chain post {{\n\
             type nat hook postrouting priority srcnat; policy accept;\n\
             ip saddr {client}/26 oifname \"{out}\" masquerade\n\
             }}\n\
             }}\n",
            table = net.table,
            client = net.client,
            out = net.b_host,
        );
        let mut nft = Command::new("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("run nft");
        {
            use std::io::Write;
            let mut stdin = nft.stdin.take().expect("nft stdin");
            stdin.write_all(ruleset.as_bytes()).expect("write ruleset");
        }
        assert!(
            nft.wait().expect("nft exits").success(),
            "nft ruleset {ruleset}"
        );
        for dev in [&net.bridge, &net.b_host] {
            run(&[
                "sysctl",
                "-q",
                "-w",
                &format!("net.ipv4.conf.{dev}.forwarding=1"),
            ]);
        }
        net
    }
}

impl Drop for BridgedNat {
    fn drop(&mut self) {
        quiet(&["ip", "link", "del", &self.a_port]);
        quiet(&["ip", "link", "del", &self.b_host]);
        quiet(&["ip", "link", "del", &self.bridge]);
        quiet(&["nft", "delete", "table", "ip", &self.table]);
        quiet(&["ip", "netns", "del", &self.a]);
        quiet(&["ip", "netns", "del", &self.b]);
    }
}

/// A wire counter on `interface` inside the namespace `netns`: its capture socket is
/// opened by a thread that entered the namespace, so it sees what a tcpdump run there
/// would.
pub fn counter_in(netns: &str, interface: &str, filter: &str) -> WireCounter {
    let path = format!("/run/netns/{netns}");
    let (interface, filter) = (interface.to_owned(), filter.to_owned());
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("open the namespace");
        // SAFETY: setns on a namespace file this thread holds open; it changes only this
        // thread's network namespace, which ends with the thread.
        let entered = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(
            entered,
            0,
            "setns {path}: {}",
            std::io::Error::last_os_error()
        );
        WireCounter::start(&interface, &filter)
    })
    .join()
    .expect("open the counter inside the namespace")
}

/// Sums (sent, received) of the endpoints `owns` in `packets`.
pub fn tally(packets: &[WirePacket], owns: impl Fn(&std::net::SocketAddr) -> bool) -> (u64, u64) {
    packets.iter().fold((0, 0), |(sent, received), p| {
        (
            sent + if owns(&p.src) { p.len } else { 0 },
            received + if owns(&p.dst) { p.len } else { 0 },
        )
    })
}

fn unattributed_tcp(snapshot: &sockeye_engine::Snapshot) -> u64 {
    snapshot
        .unattributed
        .iter()
        .filter(|b| b.protocol == sockeye_engine::Transport::Tcp)
        .map(|b| b.sent_bytes + b.received_bytes)
        .sum()
}

#[test]
fn a_bridged_and_masqueraded_container_is_credited_once() {
    bridged_and_masqueraded("bridge + NAT, netns A -> netns B", false);
}

#[test]
fn a_bridged_and_masqueraded_container_with_offloads_is_credited_once() {
    bridged_and_masqueraded("bridge + NAT, offloads on (GSO)", true);
}

fn bridged_and_masqueraded(name: &str, offloads: bool) {
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let net = BridgedNat::create(offloads);
    let engine = Engine::start();
    // Interfaces that exist at start are captured at once; wait for all three anyway.
    wait_captured(&engine, &[&net.bridge, &net.a_port, &net.b_host]);
    let before = engine.settle(|_| true);
    let bridge_before = kernel_counters(&net.bridge);

    let (send, reply) = (1_000_000, 400_000);
    let server = Peer::tcp_server(Some(&net.b), &net.server, reply);
    let filter = format!("tcp port {}", server.port);
    let in_a = counter_in(&net.a, &format!("skoai{}", std::process::id()), &filter);
    let in_b = counter_in(&net.b, &format!("skobi{}", std::process::id()), &filter);
    let client = Peer::tcp_client(Some(&net.a), &net.server, server.port, send);
    let server = server.finish();
    let (seen_in_a, seen_in_b) = (in_a.finish(), in_b.finish());

    let client_ip: IpAddr = net.client.parse().expect("address");
    let nat_ip: IpAddr = net.nat.parse().expect("address");
    let client_truth = tally(&seen_in_a, |e| {
        e.ip() == client_ip && client.ports.contains(&e.port())
    });
    let server_truth = tally(&seen_in_b, |e| e.port() == server.port);
    assert!(client_truth.0 >= send as u64 && server_truth.1 >= send as u64);
    let truth = HashMap::from([(client.pid, client_truth), (server.pid, server_truth)]);
    // The ports of the scenario: the server's, the client's and the one NAT chose.
    let mut ports: HashSet<u16> = client.ports.iter().copied().collect();
    ports.insert(server.port);
    ports.extend(
        seen_in_b
            .iter()
            .filter(|p| p.src.ip() == nat_ip)
            .map(|p| p.src.port()),
    );
    let (m, snapshot) = measure(&engine, name, &truth, &ports);
    let bridge_after = kernel_counters(&net.bridge);

    let worst = assert_each_credited(
        &snapshot,
        &[
            ("client", client.pid, client_truth),
            ("server", server.pid, server_truth),
        ],
    );
    let t = snapshot.totals;
    let lost_to_buckets = unattributed_tcp(&snapshot).saturating_sub(unattributed_tcp(&before));
    println!(
        "  worst share {worst:.2}%; {} B captured once, {} B further sightings; {} B more in unknown TCP",
        t.captured_bytes, t.repeated_bytes, lost_to_buckets
    );
    // Every sighting after the first was recognised as one: the transfer crossed two
    // captured interfaces, so about its bytes again are repeats.
    let scenario = client_truth.0 + client_truth.1;
    assert!(
        t.repeated_bytes >= scenario * 98 / 100,
        "only {} B of further sightings for a {scenario} B transfer seen twice",
        t.repeated_bytes
    );
    assert!(
        t.repeated_bytes < scenario * 3 / 2,
        "{} B of further sightings for a {scenario} B transfer: the bridge was captured too",
        t.repeated_bytes
    );
    // The bridge, counted from its kernel counters: what it carried each way.
    let kernel = grown(bridge_before, bridge_after);
    let engine_delta = grown(
        engine_counters(&before, &net.bridge),
        engine_counters(&snapshot, &net.bridge),
    );
    println!(
        "  bridge {}: kernel tx {} rx {} B, engine sent {} received {} B",
        net.bridge, kernel.0, kernel.1, engine_delta.0, engine_delta.1
    );
    assert!(
        kernel.1 >= send as u64,
        "the transfer crossed {}",
        net.bridge
    );
    assert!(
        agrees(engine_delta.0, kernel.0) && agrees(engine_delta.1, kernel.1),
        "bridge totals {engine_delta:?} against its kernel counters {kernel:?}"
    );
    assert!(
        m.wrong_share() <= 0.01,
        "{:.2}% credited to a wrong pid or twice",
        m.wrong_share() * 100.0
    );
    // No bucket got the transfer (or a copy of it): background traffic is far smaller.
    assert!(
        lost_to_buckets * 10 < scenario,
        "{lost_to_buckets} B of a {scenario} B transfer went to unknown TCP"
    );
    assert_nothing_lost(&snapshot);
    engine.capture.stop().expect("stop");
    drop(net);
}
