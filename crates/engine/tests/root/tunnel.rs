//! A kernel tunnel (VXLAN, as Docker's overlay networks, flannel and Open vSwitch use it),
//! with the rule of `accounting`'s module doc checked (issue 14, item 1): the apps'
//! packets on the tunnel's device are credited to the apps, the encapsulated copies on the
//! underlay go to the "tunnel" bucket, and never both to the same app.
//!
//! The host's VXLAN device `sktxPID` runs over the veth `sktUPID`, whose other end is the
//! namespace `skt-PID` with the peer VXLAN device: a client on the host talks TCP to a
//! server in the namespace through the tunnel. The truth is a capture on each VXLAN device
//! (the inner packets, one in each namespace) and one on the underlay (the outer ones).

use crate::bridged_nat::{counter_in, tally};
use crate::support::*;
use sockeye_engine::{Snapshot, Transport};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// The VXLAN port (IANA's, Linux's default is 8472 without `dstport`).
const VXLAN_PORT: u16 = 4789;

/// A namespace `{prefix}-PID` and the veth pair `{host}PID` (host, `{net}.1`/24) –
/// `{peer}PID` (in the namespace, `{net}.2`/24) that a tunnel's outer packets cross. Torn
/// down on drop.
struct Underlay {
    ns: String,
    host_if: String,
    ns_if: String,
    host_addr: String,
    ns_addr: String,
}

impl Underlay {
    /// `net` is the first three octets of the /24, e.g. `10.250.7`.
    fn create(prefix: &str, host: &str, peer: &str, net: &str) -> Underlay {
        let pid = std::process::id();
        let under = Underlay {
            ns: format!("{prefix}-{pid}"),
            host_if: format!("{host}{pid}"),
            ns_if: format!("{peer}{pid}"),
            host_addr: format!("{net}.1"),
            ns_addr: format!("{net}.2"),
        };
        let (ns, host_if, ns_if) = (&under.ns, &under.host_if, &under.ns_if);
        run(&["ip", "netns", "add", ns]);
        run(&[
            "ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if,
        ]);
        run(&["ip", "link", "set", ns_if, "netns", ns]);
        let host_cidr = format!("{}/24", under.host_addr);
        let ns_cidr = format!("{}/24", under.ns_addr);
        run(&["ip", "addr", "add", &host_cidr, "dev", host_if]);
        run(&["ip", "link", "set", host_if, "up"]);
        under.run(true, &["ip", "addr", "add", &ns_cidr, "dev", ns_if]);
        under.run(true, &["ip", "link", "set", ns_if, "up"]);
        under.run(true, &["ip", "link", "set", "lo", "up"]);
        under
    }

    /// Runs a set-up command inside the namespace, or on the host.
    fn run(&self, in_namespace: bool, args: &[&str]) {
        let mut full = Vec::new();
        if in_namespace {
            full.extend(["ip", "netns", "exec", self.ns.as_str()]);
        }
        full.extend_from_slice(args);
        run(&full);
    }
}

impl Drop for Underlay {
    fn drop(&mut self) {
        quiet(&["ip", "link", "del", &self.host_if]);
        quiet(&["ip", "netns", "del", &self.ns]);
    }
}

/// An underlay with a VXLAN device `sktxPID` at each end. Torn down on drop.
struct Vxlan {
    under: Underlay,
    device: String,
    client: String,
    server: String,
}

impl Vxlan {
    fn create() -> Vxlan {
        let pid = std::process::id();
        let n = pid & 0xff;
        let net = Vxlan {
            under: Underlay::create("skt", "sktU", "sktu", &format!("10.250.{n}")),
            device: format!("sktx{pid}"),
            client: format!("10.251.{n}.1"),
            server: format!("10.251.{n}.2"),
        };
        let under = &net.under;
        let port = VXLAN_PORT.to_string();
        for (in_namespace, local, remote, dev, addr) in [
            (
                false,
                &under.host_addr,
                &under.ns_addr,
                &under.host_if,
                &net.client,
            ),
            (
                true,
                &under.ns_addr,
                &under.host_addr,
                &under.ns_if,
                &net.server,
            ),
        ] {
            let address = format!("{addr}/24");
            for command in [
                &[
                    "ip",
                    "link",
                    "add",
                    &net.device,
                    "type",
                    "vxlan",
                    "id",
                    "42",
                    "dstport",
                    &port,
                    "local",
                    local,
                    "remote",
                    remote,
                    "dev",
                    dev,
                ][..],
                &["ip", "addr", "add", &address, "dev", &net.device],
                &["ip", "link", "set", &net.device, "up"],
            ] {
                under.run(in_namespace, command);
            }
        }
        net
    }
}

impl Drop for Vxlan {
    fn drop(&mut self) {
        // Before the underlay goes (with the fields, after this).
        quiet(&["ip", "link", "del", &self.device]);
    }
}

/// (sent, received) of the tunnel bucket and of unknown UDP.
fn tunnel_and_udp(snapshot: &Snapshot) -> ((u64, u64), (u64, u64)) {
    (
        bucket(snapshot, Transport::Tunnel),
        bucket(snapshot, Transport::Udp),
    )
}

/// (sent, received) of the unattributed bucket of `protocol`.
fn bucket(snapshot: &Snapshot, protocol: Transport) -> (u64, u64) {
    snapshot
        .unattributed
        .iter()
        .find(|b| b.protocol == protocol)
        .map(|b| (b.sent_bytes, b.received_bytes))
        .unwrap_or_default()
}

#[test]
fn a_vxlan_s_outer_packets_go_to_the_tunnel_bucket_and_its_inner_ones_to_the_apps() {
    vxlan_transfer("vxlan: inner to apps, outer to tunnel", false);
}

/// The tunnel's port is learnt from the link's announcement while capturing.
#[test]
fn a_vxlan_made_while_capturing_is_known_as_a_tunnel() {
    vxlan_transfer("vxlan made while capturing", true);
}

fn vxlan_transfer(name: &str, made_while_capturing: bool) {
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let (net, engine) = if made_while_capturing {
        let engine = Engine::start();
        (Vxlan::create(), engine)
    } else {
        let net = Vxlan::create();
        (net, Engine::start())
    };
    wait_captured(&engine, &[&net.under.host_if, &net.device]);
    let (tunnel_before, udp_before) = tunnel_and_udp(&engine.settle(|_| true));

    let (send, reply) = (1_000_000, 300_000);
    let server = Peer::tcp_server(Some(&net.under.ns), &net.server, reply);
    let inner = format!("tcp port {}", server.port);
    let at_client = WireCounter::start(&net.device, &inner);
    let at_server = counter_in(&net.under.ns, &net.device, &inner);
    let outer = WireCounter::start(&net.under.host_if, &format!("udp port {VXLAN_PORT}"));
    let client = Peer::tcp_client(None, &net.server, server.port, send);
    let server = server.finish();
    let (seen_at_client, seen_at_server) = (at_client.finish(), at_server.finish());
    let seen_outer = outer.finish();

    let client_ip: IpAddr = net.client.parse().expect("address");
    let client_truth = tally(&seen_at_client, |e| e.ip() == client_ip);
    let server_truth = tally(&seen_at_server, |e| e.port() == server.port);
    assert!(client_truth.0 >= send as u64 && server_truth.1 >= send as u64);
    let outer_truth: u64 = seen_outer.iter().map(|p| p.len).sum();
    assert!(
        outer_truth > client_truth.0,
        "the underlay carried {outer_truth} B for {} B inside",
        client_truth.0
    );
    let truth = HashMap::from([(client.pid, client_truth), (server.pid, server_truth)]);
    let mut ports: HashSet<u16> = client.ports.iter().copied().collect();
    ports.insert(server.port);
    let (m, _) = measure(&engine, name, &truth, &ports);
    // The outer packets are held while an owner may still be found (two seconds).
    let tunnel_of = |s: &Snapshot| grown(tunnel_before, bucket(s, Transport::Tunnel));
    let snapshot = engine.settle(|s| {
        let (sent, received) = tunnel_of(s);
        sent + received >= outer_truth
    });

    assert_each_credited(
        &snapshot,
        &[
            ("client", client.pid, client_truth),
            ("server", server.pid, server_truth),
        ],
    );
    let (tunnel_sent, tunnel_received) = tunnel_of(&snapshot);
    let tunnel = tunnel_sent + tunnel_received;
    let (udp_sent, udp_received) = grown(udp_before, bucket(&snapshot, Transport::Udp));
    println!(
        "  tunnel bucket: {tunnel} B of {outer_truth} B on the underlay ({:.2}%); unknown UDP grew {} B",
        tunnel as f64 * 100.0 / outer_truth as f64,
        udp_sent + udp_received
    );
    assert!(
        tunnel * 100 >= outer_truth * 98 && tunnel * 100 <= outer_truth * 102,
        "the tunnel bucket has {tunnel} B of the {outer_truth} B of outer packets"
    );
    assert!(
        (udp_sent + udp_received) * 50 < outer_truth,
        "{} B of outer packets went to unknown UDP",
        udp_sent + udp_received
    );
    assert!(
        m.wrong_share() <= 0.01,
        "{:.2}% credited to a wrong pid or twice",
        m.wrong_share() * 100.0
    );
    assert_nothing_lost(&snapshot);
    engine.capture.stop().expect("stop");
    drop(net);
}

/// A userspace VPN (OpenVPN, wireguard-go, tailscale): two relays, one on the host and one
/// in the namespace `sktv-PID`, each reading its tun device `sktnPID` and sending each
/// packet in a UDP datagram to the other over the veth `sktWPID`, which writes it into its
/// own tun device. Torn down on drop (the tun devices go with their relays).
struct UserspaceVpn {
    under: Underlay,
    tun: String,
    client: String,
    server: String,
}

/// The relays' UDP port.
const RELAY_PORT: u16 = 41194;

impl UserspaceVpn {
    fn create() -> UserspaceVpn {
        let pid = std::process::id();
        let n = pid & 0xff;
        UserspaceVpn {
            under: Underlay::create("sktv", "sktW", "sktw", &format!("10.252.{n}")),
            tun: format!("sktn{pid}"),
            client: format!("10.253.{n}.1"),
            server: format!("10.253.{n}.2"),
        }
    }

    /// Starts the relay of one end (its tun device appears), then gives the device its
    /// address; an MTU that leaves room for the UDP and IP headers, so that no outer
    /// datagram is fragmented.
    fn relay(&self, in_namespace: bool) -> Peer {
        let under = &self.under;
        let (ns, local, peer, inner) = if in_namespace {
            (
                Some(under.ns.as_str()),
                &under.ns_addr,
                &under.host_addr,
                &self.server,
            )
        } else {
            (None, &under.host_addr, &under.ns_addr, &self.client)
        };
        let relay = Peer::start(
            ns,
            &[
                arg("tun-relay"),
                arg(local),
                arg(RELAY_PORT),
                arg(peer),
                arg(&self.tun),
            ],
        );
        let address = format!("{inner}/24");
        under.run(
            in_namespace,
            &["ip", "addr", "add", &address, "dev", &self.tun],
        );
        // A long queue: fewer packets lost while a relay is busy.
        under.run(
            in_namespace,
            &[
                "ip",
                "link",
                "set",
                &self.tun,
                "mtu",
                "1400",
                "txqueuelen",
                "10000",
                "up",
            ],
        );
        relay
    }
}

/// The rule for a tun device with userspace encapsulation: the inner packets (on the tun
/// device) are the apps', the outer ones (on the underlay) the VPN process's, never both
/// the app's; nothing of it is a kernel tunnel's.
#[test]
fn a_userspace_vpn_s_datagrams_are_its_own_and_the_packets_inside_the_apps() {
    let name = "tun + userspace VPN";
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let net = UserspaceVpn::create();
    let host_relay = net.relay(false);
    let ns_relay = net.relay(true);
    let engine = Engine::start();
    wait_captured(&engine, &[&net.under.host_if, &net.tun]);
    let (tunnel_before, udp_before) = tunnel_and_udp(&engine.settle(|_| true));

    let (send, reply) = (1_000_000, 300_000);
    let server = Peer::tcp_server(Some(&net.under.ns), &net.server, reply);
    // The truth is what the host's interfaces carried, for all four processes: a packet the
    // relays lose (a full socket buffer, TCP then sends it again) was on the host's tun
    // device but never reached the server, and no capture on the host can tell.
    let inner = format!("tcp port {}", server.port);
    let at_host_tun = WireCounter::start(&net.tun, &inner);
    let outer = WireCounter::start(&net.under.host_if, &format!("udp port {RELAY_PORT}"));
    let client = Peer::tcp_client(None, &net.server, server.port, send);
    let server = server.finish();
    let (seen_inner, seen_outer) = (at_host_tun.finish(), outer.finish());

    let client_ip: IpAddr = net.client.parse().expect("address");
    let host_under: IpAddr = net.under.host_addr.parse().expect("address");
    let ns_under: IpAddr = net.under.ns_addr.parse().expect("address");
    let client_truth = tally(&seen_inner, |e| e.ip() == client_ip);
    let server_truth = tally(&seen_inner, |e| e.port() == server.port);
    let host_relay_truth = tally(&seen_outer, |e| e.ip() == host_under);
    let ns_relay_truth = tally(&seen_outer, |e| e.ip() == ns_under);
    assert!(client_truth.0 >= send as u64 && server_truth.1 >= send as u64);
    assert!(host_relay_truth.0 > client_truth.0, "{host_relay_truth:?}");
    let truth = HashMap::from([
        (client.pid, client_truth),
        (server.pid, server_truth),
        (host_relay.pid, host_relay_truth),
        (ns_relay.pid, ns_relay_truth),
    ]);
    let mut ports: HashSet<u16> = client.ports.iter().copied().collect();
    ports.extend([server.port, RELAY_PORT]);
    let (m, snapshot) = measure(&engine, name, &truth, &ports);

    assert_each_credited(
        &snapshot,
        &[
            ("client", client.pid, client_truth),
            ("server", server.pid, server_truth),
            ("host relay", host_relay.pid, host_relay_truth),
            ("namespace relay", ns_relay.pid, ns_relay_truth),
        ],
    );
    let tunnel = grown(tunnel_before, bucket(&snapshot, Transport::Tunnel));
    let udp = grown(udp_before, bucket(&snapshot, Transport::Udp));
    println!("  tunnel bucket grew {tunnel:?} B, unknown UDP {udp:?} B");
    // Nothing of it (the machine's own kernel tunnels, if any, may add a little).
    let outer_total: u64 = seen_outer.iter().map(|p| p.len).sum();
    assert!(
        (tunnel.0 + tunnel.1) * 100 < outer_total,
        "a userspace VPN is no kernel tunnel: {tunnel:?} B in the tunnel bucket"
    );
    assert!(
        m.wrong_share() <= 0.01,
        "{:.2}% credited to a wrong pid or twice",
        m.wrong_share() * 100.0
    );
    assert_nothing_lost(&snapshot);
    engine.capture.stop().expect("stop");
    drop((host_relay, ns_relay));
    drop(net);
}
