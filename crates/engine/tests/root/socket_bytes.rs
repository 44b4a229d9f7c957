//! Socket-layer counters (`attribution/socket_bytes/`): a child process whose pid the
//! test knows sends exactly N payload bytes over TCP or UDP, IPv4 or IPv6, to a server in
//! this test process and reads exactly M back; its `socket_sent_bytes` and
//! `socket_received_bytes` must equal N and M byte for byte, and its wire bytes must be
//! above them (headers). Without the privilege to read the tracepoints the counters are
//! absent, not zero.

use crate::support::*;
use rustix::thread::{CapabilitySet, CapabilitySets};
use sockeye_engine::owner::OwnerLookup;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = include_str!("socket_bytes_child.py");
/// What the child sends, and what it is sent back: not multiples of the datagram size
/// the child writes (1000), so a short last datagram is counted too.
const SENT: u64 = 123_457;
const RECEIVED: u64 = 54_321;
/// The largest datagram the test's server sends back.
const DATAGRAM: usize = 1200;

/// Runs the child against a server on `host`, serving it from this process; returns the
/// child's pid once it has read everything and exited.
fn exchange(protocol: &str, host: &str) -> u32 {
    let any = SocketAddr::new(host.parse::<IpAddr>().expect("address"), 0);
    let (port, server): (u16, Box<dyn FnOnce() + Send>) = if protocol == "tcp" {
        let listener = TcpListener::bind(any).expect("listen");
        let port = listener.local_addr().expect("port").port();
        (
            port,
            Box::new(move || {
                let (mut stream, _) = listener.accept().expect("accept");
                let mut request = vec![0u8; SENT as usize];
                stream
                    .read_exact(&mut request)
                    .expect("read the child's bytes");
                stream
                    .write_all(&vec![b'r'; RECEIVED as usize])
                    .expect("answer");
            }),
        )
    } else {
        let socket = UdpSocket::bind(any).expect("bind");
        // Room for every datagram the child sends (some 124 of them, 2.3 KiB each as the
        // kernel counts them), so none is lost while this thread waits for a CPU: a lost
        // one would leave the exchange short.
        let _ = rustix::net::sockopt::set_socket_recv_buffer_size_force(&socket, 4 << 20);
        let port = socket.local_addr().expect("port").port();
        (
            port,
            Box::new(move || {
                socket
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .expect("timeout");
                let (mut got, mut buf, mut peer) = (0u64, vec![0u8; 65536], None);
                while got < SENT {
                    let (n, from) = socket.recv_from(&mut buf).expect("a datagram");
                    got += n as u64;
                    peer = Some(from);
                }
                let peer = peer.expect("the child");
                let mut left = RECEIVED as usize;
                while left > 0 {
                    let n = left.min(DATAGRAM);
                    socket.send_to(&vec![b'r'; n], peer).expect("answer");
                    left -= n;
                }
            }),
        )
    };
    let serving = std::thread::spawn(server);
    let mut child = Command::new(python())
        .args(["-S", "-c", CHILD, protocol, host])
        .args([port.to_string(), SENT.to_string(), RECEIVED.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the child");
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the child's report");
    assert_eq!(
        line.trim(),
        format!("{SENT} {RECEIVED}"),
        "the child's exchange"
    );
    assert!(child.wait().expect("wait").success());
    serving.join().expect("server");
    pid
}

fn counted_exactly(protocol: &str, host: &str) {
    let name = format!("socket counters {protocol} {host}");
    let Some(_serial) = root_scenario(&name) else {
        return;
    };
    let engine = Engine::start();
    let started = Instant::now();
    let pid = exchange(protocol, host);
    let snapshot = engine.settle(|s| {
        s.processes.iter().any(|p| {
            p.pid == pid
                && p.socket_sent_bytes == Some(SENT)
                && p.socket_received_bytes == Some(RECEIVED)
        })
    });
    engine.capture.stop().expect("stop");
    assert!(
        snapshot.totals.socket_counters,
        "counters available as root"
    );
    let process = snapshot
        .processes
        .iter()
        .find(|p| p.pid == pid)
        .expect("the child credited");
    println!(
        "SCENARIO {name}: socket {:?}/{:?}, wire {}/{} bytes, {} events lost, {} ms",
        process.socket_sent_bytes,
        process.socket_received_bytes,
        process.sent_bytes,
        process.received_bytes,
        snapshot.totals.socket_events_lost,
        started.elapsed().as_millis()
    );
    assert_eq!(process.socket_sent_bytes, Some(SENT));
    assert_eq!(process.socket_received_bytes, Some(RECEIVED));
    assert!(process.sent_bytes > SENT, "wire bytes carry headers too");
    assert!(process.received_bytes > RECEIVED);
}

#[test]
fn socket_counters_equal_the_payload_tcp_ipv4() {
    counted_exactly("tcp", "127.0.0.1");
}

#[test]
fn socket_counters_equal_the_payload_tcp_ipv6() {
    counted_exactly("tcp", "::1");
}

#[test]
fn socket_counters_equal_the_payload_udp_ipv4() {
    counted_exactly("udp", "127.0.0.1");
}

#[test]
fn socket_counters_equal_the_payload_udp_ipv6() {
    counted_exactly("udp", "::1");
}

/// Without CAP_PERFMON and CAP_SYS_ADMIN (and with the system's `perf_event_paranoid`
/// above 0) the tracepoints cannot be read: the counters are absent, not zero. With them
/// they are there. Capabilities are per thread: dropped on a thread of its own.
#[test]
fn socket_counters_are_absent_without_the_privilege() {
    let Some(_serial) = root_scenario("socket counters without privilege") else {
        return;
    };
    // A log an earlier engine of this process left open would be taken up again.
    sockeye_engine::attribution::discard_preopened_socket_bytes();
    let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .expect("perf_event_paranoid");
    let paranoid: i32 = paranoid.trim().parse().expect("a number");
    assert!(
        paranoid > 0,
        "this check needs system-wide events to be privileged"
    );
    let absent = std::thread::spawn(|| {
        let sets: CapabilitySets = rustix::thread::capabilities(None).expect("capability sets");
        let mut dropped = sets;
        dropped.effective.remove(CapabilitySet::PERFMON);
        dropped.effective.remove(CapabilitySet::SYS_ADMIN);
        rustix::thread::set_capabilities(None, dropped).expect("drop the capabilities");
        let mut owners = sockeye_engine::attribution::SystemOwners::new().expect("owners");
        owners.socket_bytes().is_none()
    })
    .join()
    .expect("thread");
    assert!(absent, "the counters must be absent without the privilege");
    let mut owners = sockeye_engine::attribution::SystemOwners::new().expect("owners");
    assert!(owners.socket_bytes().is_some(), "as root they are read");
}
