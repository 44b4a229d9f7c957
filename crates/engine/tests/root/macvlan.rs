//! macvlan, as containers and VMs use it to sit on the host's link (Docker's and Podman's
//! macvlan networks, libvirt's direct attachment), with the rule of `accounting`'s module
//! doc checked (issue 14, item 1): a macvlan in a container's namespace is not captured,
//! so its packets are seen once, on the lower device; one in the host's namespace is
//! captured too, so its packets are seen twice (on it and on the lower device) and are
//! still one transfer. Either way the client and the server are each credited 98–102 % of
//! what a capture inside their own namespace saw.
//!
//! The lower device is the host end of a veth pair whose other end is the server's
//! namespace, so the traffic stays in namespaces the test made. Offloads stay as the
//! kernel sets them (a macvlan's TSO is fixed on, and a veth's is on): each sighting is
//! then the same TCP super-frame, as on a NIC with TSO.

use crate::bridged_nat::{counter_in, tally};
use crate::support::*;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// The server's namespace `skm-b-PID` on the veth `skmAPID` (host) – `skmbPID`; a macvlan
/// `skmvPID` on `skmAPID`, in the client's namespace `skm-a-PID` or in the host's. Torn
/// down on drop.
struct Macvlan {
    client_ns: Option<String>,
    server_ns: String,
    lower: String,
    macvlan: String,
    server_if: String,
    client: String,
    server: String,
}

impl Macvlan {
    /// With `lower_tso` false, TCP segmentation offload is switched off on the lower device:
    /// the macvlan (its TSO fixed on) then sees super-frames, the lower device their
    /// segments (`accounting/segments.rs`).
    fn create(in_container: bool, lower_tso: bool) -> Macvlan {
        let pid = std::process::id();
        // A subnet of this process only (the other scenarios use 10.x.x.x).
        let (a, b) = (16 + pid % 16, (pid >> 4) & 0xff);
        let net = Macvlan {
            client_ns: in_container.then(|| format!("skm-a-{pid}")),
            server_ns: format!("skm-b-{pid}"),
            lower: format!("skmA{pid}"),
            macvlan: format!("skmv{pid}"),
            server_if: format!("skmb{pid}"),
            client: format!("172.{a}.{b}.2"),
            server: format!("172.{a}.{b}.3"),
        };
        let in_ns = |ns: &str, args: &[&str]| {
            let mut full = vec!["ip", "netns", "exec", ns];
            full.extend_from_slice(args);
            run(&full);
        };
        run(&["ip", "netns", "add", &net.server_ns]);
        run(&[
            "ip",
            "link",
            "add",
            &net.lower,
            "type",
            "veth",
            "peer",
            "name",
            &net.server_if,
        ]);
        run(&["ip", "link", "set", &net.server_if, "netns", &net.server_ns]);
        run(&["ip", "link", "set", &net.lower, "up"]);
        if !lower_tso {
            run(&["ethtool", "-K", &net.lower, "tso", "off"]);
        }
        let server_ns = net.server_ns.as_str();
        let server_addr = format!("{}/24", net.server);
        in_ns(
            server_ns,
            &["ip", "addr", "add", &server_addr, "dev", &net.server_if],
        );
        in_ns(server_ns, &["ip", "link", "set", &net.server_if, "up"]);
        in_ns(server_ns, &["ip", "link", "set", "lo", "up"]);

        run(&[
            "ip",
            "link",
            "add",
            "link",
            &net.lower,
            "name",
            &net.macvlan,
            "type",
            "macvlan",
            "mode",
            "bridge",
        ]);
        let client_addr = format!("{}/24", net.client);
        match &net.client_ns {
            Some(ns) => {
                run(&["ip", "netns", "add", ns]);
                run(&["ip", "link", "set", &net.macvlan, "netns", ns]);
                in_ns(
                    ns,
                    &["ip", "addr", "add", &client_addr, "dev", &net.macvlan],
                );
                in_ns(ns, &["ip", "link", "set", &net.macvlan, "up"]);
                in_ns(ns, &["ip", "link", "set", "lo", "up"]);
            }
            None => {
                run(&["ip", "addr", "add", &client_addr, "dev", &net.macvlan]);
                run(&["ip", "link", "set", &net.macvlan, "up"]);
            }
        }
        net
    }
}

impl Drop for Macvlan {
    fn drop(&mut self) {
        if self.client_ns.is_none() {
            quiet(&["ip", "link", "del", &self.macvlan]);
        }
        quiet(&["ip", "link", "del", &self.lower]);
        if let Some(ns) = &self.client_ns {
            quiet(&["ip", "netns", "del", ns]);
        }
        quiet(&["ip", "netns", "del", &self.server_ns]);
    }
}

#[test]
fn a_container_on_a_macvlan_is_credited_once_from_the_lower_device() {
    macvlan_transfer("macvlan in a container -> netns", true, true);
}

#[test]
fn a_host_macvlan_seen_on_it_and_on_the_lower_device_is_credited_once() {
    macvlan_transfer("macvlan in the host -> netns", false, true);
}

/// The macvlan's super-frames and the lower device's segments are one transfer.
#[test]
fn a_host_macvlan_over_a_lower_device_without_tso_is_credited_once() {
    macvlan_transfer("host macvlan, lower without TSO", false, false);
}

fn macvlan_transfer(name: &str, in_container: bool, lower_tso: bool) {
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let net = Macvlan::create(in_container, lower_tso);
    let engine = Engine::start();
    // The host captures the lower device, and the macvlan when it is the host's; never a
    // container's.
    let mut captured = vec![net.lower.as_str()];
    if !in_container {
        captured.push(net.macvlan.as_str());
    }
    wait_captured(&engine, &captured);
    if in_container {
        let snapshot = engine.settle(|_| true);
        assert!(
            !snapshot.interfaces.iter().any(|i| i.name == net.macvlan),
            "a container's macvlan is not the host's to capture"
        );
    }

    let (send, reply) = (1_000_000, 400_000);
    let server = Peer::tcp_server(Some(&net.server_ns), &net.server, reply);
    let filter = format!("tcp port {}", server.port);
    // The client's truth in its own namespace: its macvlan in a container; the host's
    // link (the lower device) for a host macvlan, which without TSO on the lower device
    // carries the segments the macvlan's super-frames were cut into.
    let at_client = match &net.client_ns {
        Some(ns) => counter_in(ns, &net.macvlan, &filter),
        None => WireCounter::start(&net.lower, &filter),
    };
    let at_server = counter_in(&net.server_ns, &net.server_if, &filter);
    let client = Peer::tcp_client(net.client_ns.as_deref(), &net.server, server.port, send);
    let server = server.finish();
    let (seen_at_client, seen_at_server) = (at_client.finish(), at_server.finish());

    let client_ip: IpAddr = net.client.parse().expect("address");
    let client_truth = tally(&seen_at_client, |e| e.ip() == client_ip);
    let server_truth = tally(&seen_at_server, |e| e.port() == server.port);
    assert!(client_truth.0 >= send as u64 && server_truth.1 >= send as u64);
    let truth = HashMap::from([(client.pid, client_truth), (server.pid, server_truth)]);
    let mut ports: HashSet<u16> = client.ports.iter().copied().collect();
    ports.insert(server.port);
    let (m, snapshot) = measure(&engine, name, &truth, &ports);

    assert_each_credited(
        &snapshot,
        &[
            ("client", client.pid, client_truth),
            ("server", server.pid, server_truth),
        ],
    );
    let scenario = client_truth.0 + client_truth.1;
    let repeated = snapshot.totals.repeated_bytes;
    println!("  {repeated} B of further sightings for a {scenario} B transfer");
    if in_container {
        // Seen once, on the lower device: nothing of it was a further sighting.
        assert!(
            repeated * 10 < scenario,
            "{repeated} B seen again of a transfer seen once"
        );
    } else {
        // Seen on the macvlan and on the lower device. Without TSO on the lower device
        // only the payload of a super-frame's or segment's copy is another sighting: each
        // copy's headers count (the segments' 66 bytes a 1,514-byte frame, some 4 %).
        let least = if lower_tso { 98 } else { 94 };
        assert!(
            repeated >= scenario * least / 100,
            "only {repeated} B of further sightings for a {scenario} B transfer seen twice"
        );
        assert!(
            repeated <= scenario * 102 / 100,
            "{repeated} B of further sightings for a {scenario} B transfer seen twice"
        );
    }
    assert!(
        m.wrong_share() <= 0.01,
        "{:.2}% credited to a wrong pid or twice",
        m.wrong_share() * 100.0
    );
    assert_nothing_lost(&snapshot);
    engine.capture.stop().expect("stop");
    drop(net);
}
