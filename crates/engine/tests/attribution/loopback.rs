//! TCP and UDP sockets of a child process on loopback, odd process names, and a process
//! that lives 50 ms.

use super::support::{addr, recv_from, Script};
use sockeye_engine::attribution::SystemOwners;
use sockeye_engine::owner::OwnerLookup;
use sockeye_engine::Transport;

const TCP_PAIR: &str = r#"
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
host = "::1" if sys.argv[1] == "6" else "127.0.0.1"
l = socket.socket(fam); l.bind((host, 0)); l.listen()
c = socket.socket(fam); c.connect(l.getsockname()[:2]); s, _ = l.accept()
out(listener=a(l.getsockname()), client=a(c.getsockname()), server=a(s.getsockname()))
wait()
"#;

fn tcp_connection_belongs_to_the_child_at_both_ends(family: &str) {
    // Started before the child, so the child's sockets are found incrementally.
    let mut owners = SystemOwners::new().unwrap();
    let mut child = Script::start(None, &TCP_PAIR.replace("sys.argv[1]", family));
    let v = child.line();
    let (client, server, listener) = (addr(&v["client"]), addr(&v["server"]), addr(&v["listener"]));
    let pid = Some(child.pid());
    assert_eq!(owners.owner(Transport::Tcp, client, server), pid);
    assert_eq!(owners.owner(Transport::Tcp, server, client), pid);
    // A SYN from a new peer belongs to the listener.
    let new_peer = "[::1]:9".parse().unwrap();
    let syn_from = if family == "\"6\"" {
        new_peer
    } else {
        "127.0.0.1:9".parse().unwrap()
    };
    assert_eq!(owners.owner(Transport::Tcp, listener, syn_from), pid);
    assert!(owners.is_local(client.ip()));
    let info = owners.process(child.pid()).expect("details");
    assert_eq!(info.name, "python3");
    // The command line is read off the capture thread and taken in while it idles.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while owners
        .process(child.pid())
        .is_some_and(|i| i.cmdline.is_empty())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(2));
        owners.prepare();
    }
    let info = owners.process(child.pid()).expect("details");
    assert!(info.cmdline.starts_with("/usr/bin/python3 -c"), "{info:?}");
    assert!(!info.details_unavailable);
}

#[test]
fn tcp_over_ipv4_loopback_belongs_to_the_child_at_both_ends() {
    tcp_connection_belongs_to_the_child_at_both_ends("\"4\"");
}

#[test]
fn tcp_over_ipv6_loopback_belongs_to_the_child_at_both_ends() {
    tcp_connection_belongs_to_the_child_at_both_ends("\"6\"");
}

#[test]
fn connected_and_unconnected_udp_sockets_belong_to_their_process() {
    let mut owners = SystemOwners::new().unwrap();
    let mut child = Script::start(
        None,
        r#"
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
c = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); c.bind(("::1", 0)); c.connect(("::1", 9))
d = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
d.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); d.bind(("::", 0))
out(unconnected=a(u.getsockname()), connected=a(c.getsockname()), dual=d.getsockname()[1])
wait()
"#,
    );
    let v = child.line();
    let pid = Some(child.pid());
    let unconnected = addr(&v["unconnected"]);
    let anyone = "127.0.0.1:5555".parse().unwrap();
    assert_eq!(owners.owner(Transport::Udp, unconnected, anyone), pid);
    let connected = addr(&v["connected"]);
    assert_eq!(
        owners.owner(Transport::Udp, connected, "[::1]:9".parse().unwrap()),
        pid
    );
    // A dual-stack IPv6 socket on [::] receives IPv4 datagrams too.
    let dual = format!("127.0.0.1:{}", v["dual"]).parse().unwrap();
    assert_eq!(owners.owner(Transport::Udp, dual, anyone), pid);
}

#[test]
fn process_details_survive_odd_names() {
    let mut owners = SystemOwners::new().unwrap();
    let mut child = Script::start(
        None,
        r#"
ctypes.CDLL(None).prctl(15, b"odd (name) x\ny", 0, 0, 0)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
out(addr=a(u.getsockname()))
wait()
"#,
    );
    let local = addr(&child.line()["addr"]);
    let pid = owners.owner(Transport::Udp, local, "127.0.0.1:1".parse().unwrap());
    assert_eq!(pid, Some(child.pid()));
    let info = owners.process(child.pid()).unwrap();
    assert_eq!(info.name, "odd (name) x?y");
    assert_eq!((info.uid, info.user.as_str()), (0, "root"));
    assert!(!info.exited);
}

#[test]
fn a_process_living_50_ms_is_found_and_keeps_its_name_after_exit() {
    let mut owners = SystemOwners::new().unwrap();
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let to = receiver.local_addr().unwrap();
    let mut child = Script::start(
        None,
        &format!(
            r#"
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"hello", ("127.0.0.1", {}))
time.sleep(0.05)
"#,
            to.port()
        ),
    );
    let mut buf = [0u8; 16];
    let (_, from) = recv_from(&receiver, &mut buf);
    let pid = child.pid();
    assert_eq!(owners.owner(Transport::Udp, from, to), Some(pid));
    child.wait_exit();
    assert_eq!(owners.process(pid).unwrap().name, "python3");
    owners.refresh(&|p| p == pid);
    let info = owners.process(pid).expect("kept while referenced");
    assert!(info.exited);
    assert_eq!(info.name, "python3");
    owners.refresh(&|_| false);
    assert!(owners.process(pid).is_none());
}

/// A client connection over and its process gone before anyone looked: no socket, no
/// descriptor left to read. The connect tracepoint (root only) still names the process.
fn a_connection_over_before_its_lookup_is_credited_to_its_connector(host: &str) {
    if !sockeye_engine::testing::root_or_skip("the connect tracepoint needs root") {
        return;
    }
    let mut owners = SystemOwners::new().unwrap();
    let listener = std::net::TcpListener::bind((host, 0)).unwrap();
    let to = listener.local_addr().unwrap();
    let mut child = Script::start(
        None,
        &format!(
            r#"
c = socket.socket(socket.AF_INET6 if ":" in "{host}" else socket.AF_INET)
c.connect(("{host}", {port}))
c.sendall(b"x" * 100)
out(client=a(c.getsockname()))
c.close()
wait()
"#,
            port = to.port()
        ),
    );
    let (mut served, _) = listener.accept().unwrap();
    let client = addr(&child.line()["client"]);
    std::io::copy(&mut served, &mut std::io::sink()).unwrap();
    drop(served);
    // What the capture thread does between packets: the connect is read while the
    // process still runs (its name with it).
    owners.prepare();
    let pid = child.pid();
    // Its command line is read off the capture thread meanwhile (`late_details`).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while owners.process(pid).is_none_or(|p| p.cmdline.is_empty())
        && std::time::Instant::now() < deadline
    {
        std::thread::yield_now();
        owners.prepare();
    }
    child.close_stdin();
    child.wait_exit();
    assert_eq!(owners.owner(Transport::Tcp, client, to), Some(pid));
    let info = owners.process(pid).unwrap();
    assert_eq!(info.name, "python3", "the name read when it connected");
    // Its details were read at the connect, while it ran (`woken`); the interval's
    // refresh notes that it is gone.
    owners.refresh(&|p| p == pid);
    let info = owners.process(pid).expect("kept while referenced");
    assert!(info.exited);
    assert_eq!(info.name, "python3");
    assert!(
        info.cmdline.contains("python3"),
        "the command line read while it ran: {:?}",
        info.cmdline
    );
}

#[test]
fn an_ipv4_connection_over_before_its_lookup_is_credited_to_its_connector() {
    a_connection_over_before_its_lookup_is_credited_to_its_connector("127.0.0.1");
}

#[test]
fn an_ipv6_connection_over_before_its_lookup_is_credited_to_its_connector() {
    a_connection_over_before_its_lookup_is_credited_to_its_connector("::1");
}
