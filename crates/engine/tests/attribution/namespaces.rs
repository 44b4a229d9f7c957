//! Sockets in test network namespaces across a veth, a namespace created after start, and
//! ICMP echo owned by ping and raw sockets.

use super::support::{addr, poll, Script, TestNamespace};
use sockeye_engine::attribution::SystemOwners;
use sockeye_engine::owner::OwnerLookup;
use sockeye_engine::Transport;
use std::net::{IpAddr, SocketAddr, TcpListener};

#[test]
fn a_process_in_another_namespace_is_attributed_across_a_veth() {
    let ns = TestNamespace::new();
    let mut owners = SystemOwners::new().unwrap();
    let host_ip: IpAddr = ns.host_ip.parse().unwrap();
    let listener = TcpListener::bind((host_ip, 0)).unwrap();
    let server = listener.local_addr().unwrap();
    let mut child = Script::start(
        Some(&ns.name),
        &format!(
            r#"
c = socket.create_connection(("{}", {}))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 0))
out(client=a(c.getsockname()), udp=u.getsockname()[1])
wait()
"#,
            ns.host_ip,
            server.port()
        ),
    );
    let v = child.line();
    let (accepted, _) = listener.accept().unwrap();
    let client = addr(&v["client"]);
    assert_eq!(
        owners.owner(Transport::Tcp, client, server),
        Some(child.pid()),
        "the namespaced sender"
    );
    // This (long-lived, not recently active) process opened its listener after the
    // last full /proc scan, so the first lookup may be refused by the full-scan rate
    // limit; accounting asks again while a flow stays unknown, as this poll does.
    let receiver = poll(|| owners.owner(Transport::Tcp, server, client));
    assert_eq!(
        receiver,
        Some(std::process::id()),
        "this process, the receiver"
    );
    let ns_ip: IpAddr = ns.ns_ip.parse().unwrap();
    assert!(owners.is_local(ns_ip) && owners.is_local(host_ip));
    // An address added later is local at once, without waiting for a refresh (the
    // kernel's change notification may take a moment: poll within a bound).
    let added = ns.add_host_address();
    assert!(poll(|| owners.is_local(added).then_some(())).is_some());
    let udp = SocketAddr::new(ns_ip, v["udp"].as_u64().unwrap() as u16);
    let from_host = SocketAddr::new(host_ip, 7777);
    assert_eq!(
        owners.owner(Transport::Udp, udp, from_host),
        Some(child.pid())
    );
    drop(accepted);
}

#[test]
fn a_namespace_created_after_start_is_followed_without_a_refresh() {
    let mut owners = SystemOwners::new().unwrap();
    let ns = TestNamespace::new();
    let (ns_ip, host_ip): (IpAddr, IpAddr) =
        (ns.ns_ip.parse().unwrap(), ns.host_ip.parse().unwrap());
    assert!(poll(|| owners.is_local(ns_ip).then_some(())).is_some());
    assert!(poll(|| owners.is_local(host_ip).then_some(())).is_some());
    let mut child = Script::start(
        Some(&ns.name),
        r#"
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 0))
out(port=u.getsockname()[1])
wait()
"#,
    );
    let port = child.line()["port"].as_u64().unwrap() as u16;
    let local = SocketAddr::new(ns_ip, port);
    let from_host = SocketAddr::new(host_ip, 7777);
    let found = poll(|| owners.owner(Transport::Udp, local, from_host));
    assert_eq!(found, Some(child.pid()));
}

#[test]
fn a_ping_socket_owns_the_echo_traffic_of_its_identifier() {
    let ns = TestNamespace::new();
    ns.sysctl("net.ipv4.ping_group_range=0 2147483647");
    let mut owners = SystemOwners::new().unwrap();
    let mut child = Script::start(
        Some(&ns.name),
        &format!(
            r#"
p = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
p.sendto(b"\x08\x00\x00\x00\x00\x00\x00\x01ping", ("{}", 0))
out(ident=p.getsockname()[1])
wait()
"#,
            ns.host_ip
        ),
    );
    let ident = child.line()["ident"].as_u64().unwrap() as u16;
    let local = SocketAddr::new(ns.ns_ip.parse().unwrap(), ident);
    let remote = SocketAddr::new(ns.host_ip.parse().unwrap(), ident);
    let found = poll(|| owners.owner(Transport::Icmp, local, remote));
    assert_eq!(found, Some(child.pid()));
}

#[test]
fn a_raw_icmp_socket_owns_echo_traffic_of_its_namespace() {
    let ns = TestNamespace::new();
    let mut owners = SystemOwners::new().unwrap();
    // ping as root without ping sockets allowed uses a raw ICMP socket.
    let mut ping = std::process::Command::new("ip")
        .args([
            "netns", "exec", &ns.name, "ping", "-q", "-c", "50", "-i", "0.1",
        ])
        .arg(&ns.host_ip)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let local = SocketAddr::new(ns.ns_ip.parse().unwrap(), 4321);
    let remote = SocketAddr::new(ns.host_ip.parse().unwrap(), 4321);
    let found = poll(|| owners.owner(Transport::Icmp, local, remote));
    let _ = ping.kill();
    let _ = ping.wait();
    assert_eq!(found, Some(ping.id()));
    assert_eq!(owners.process(ping.id()).unwrap().name, "ping");
}

#[test]
fn of_several_raw_icmp_sockets_the_ping_whose_pid_is_the_identifier_owns_the_echo() {
    let ns = TestNamespace::new();
    let mut owners = SystemOwners::new().unwrap();
    let start_ping = || {
        std::process::Command::new("ip")
            .args([
                "netns", "exec", &ns.name, "ping", "-q", "-c", "50", "-i", "0.1",
            ])
            .arg(&ns.host_ip)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut pings = [start_ping(), start_ping()];
    let ns_ip: IpAddr = ns.ns_ip.parse().unwrap();
    let host_ip: IpAddr = ns.host_ip.parse().unwrap();
    let mut found = Vec::new();
    for ping in &pings {
        // iputils ping on a raw socket uses its pid as the echo identifier.
        let ident = (ping.id() & 0xffff) as u16;
        let (local, remote) = (
            SocketAddr::new(ns_ip, ident),
            SocketAddr::new(host_ip, ident),
        );
        found.push(poll(|| {
            owners
                .owner(Transport::Icmp, local, remote)
                .filter(|&pid| pid == ping.id())
        }));
    }
    for ping in &mut pings {
        let _ = ping.kill();
        let _ = ping.wait();
    }
    assert_eq!(found, [Some(pings[0].id()), Some(pings[1].id())]);
}
