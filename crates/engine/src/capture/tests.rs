//! The capture loop specified without root: a fake wire feeds frames to fake interfaces
//! that come and go, fail and drop, and the loop's snapshots and control are checked.

use super::source::{BatchEnd, Devices, Frame, FrameSource, LinkIdentity, OpenError};
use super::waker::Waker;
use super::{spawn_on, Control};
use crate::owner::Pid;
use crate::parse::LinkType;
use crate::testing::FakeOwners;
use crate::{Capture, CaptureOptions, EngineError, Snapshot, Transport};
use etherparse::PacketBuilder;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One fake interface.
struct Port {
    link: LinkType,
    frames: VecDeque<(Vec<u8>, u32)>,
    waker: Arc<Waker>,
    dropped: u64,
    /// The next read fails (the interface broke).
    fail: bool,
    /// Sources currently open on it, and how often it was opened.
    open: usize,
    opened: usize,
}

/// The fake machine: interfaces that are up, and their frames.
#[derive(Clone, Default)]
struct Wire {
    state: Arc<Mutex<WireState>>,
}

#[derive(Default)]
struct WireState {
    up: Vec<String>,
    ports: HashMap<String, Port>,
    permission_denied: bool,
    /// Bridges and the names of their ports.
    bridges: HashMap<String, Vec<String>>,
    /// The kernel's (transmitted, received) byte counters, where an interface has them.
    kernel: HashMap<String, (u64, u64)>,
    /// Interfaces' indexes and addresses.
    identities: HashMap<String, LinkIdentity>,
}

impl Wire {
    fn lock(&self) -> std::sync::MutexGuard<'_, WireState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn plug(&self, name: &str, link: LinkType) {
        let mut state = self.lock();
        state.up.push(name.into());
        state.ports.insert(
            name.into(),
            Port {
                link,
                frames: VecDeque::new(),
                waker: Arc::new(Waker::new().expect("eventfd")),
                dropped: 0,
                fail: false,
                open: 0,
                opened: 0,
            },
        );
    }

    fn unplug(&self, name: &str) {
        self.lock().up.retain(|n| n != name);
    }

    fn send(&self, name: &str, frame: Vec<u8>) {
        let mut state = self.lock();
        let port = state.ports.get_mut(name).expect("plugged");
        let len = frame.len() as u32;
        port.frames.push_back((frame, len));
        port.waker.wake();
    }

    /// Makes `bridge` a bridge of `ports` whose kernel counters read `kernel` (sent,
    /// received bytes).
    fn bridge(&self, bridge: &str, ports: &[&str], kernel: (u64, u64)) {
        let mut state = self.lock();
        let ports = ports.iter().map(|port| (*port).to_owned()).collect();
        state.bridges.insert(bridge.into(), ports);
        state.kernel.insert(bridge.into(), kernel);
    }

    fn port<T>(&self, name: &str, f: impl FnOnce(&mut Port) -> T) -> T {
        f(self.lock().ports.get_mut(name).expect("plugged"))
    }
}

impl Devices for Wire {
    fn list_up(&mut self) -> Result<Vec<String>, String> {
        Ok(self.lock().up.clone())
    }

    fn kernel_bytes(&self, name: &str) -> Option<(u64, u64)> {
        self.lock().kernel.get(name).copied()
    }

    fn bridge_ports(&self, name: &str) -> Option<Vec<String>> {
        self.lock().bridges.get(name).cloned()
    }

    fn identity(&self, name: &str) -> Option<LinkIdentity> {
        self.lock().identities.get(name).copied()
    }

    fn open(&mut self, name: &str) -> Result<Box<dyn FrameSource>, OpenError> {
        let mut state = self.lock();
        if state.permission_denied {
            return Err(OpenError {
                message: "socket: Operation not permitted".into(),
                permission_denied: true,
            });
        }
        let port = state.ports.get_mut(name).ok_or(OpenError {
            message: "no such device".into(),
            permission_denied: false,
        })?;
        port.open += 1;
        port.opened += 1;
        Ok(Box::new(FakeSource {
            wire: self.clone(),
            name: name.into(),
            link: port.link,
            waker: Arc::clone(&port.waker),
        }))
    }
}

struct FakeSource {
    wire: Wire,
    name: String,
    link: LinkType,
    /// Its port's waker, readable while frames wait.
    waker: Arc<Waker>,
}

impl FrameSource for FakeSource {
    fn link(&self) -> LinkType {
        self.link
    }

    fn poll_fd(&self) -> BorrowedFd<'_> {
        self.waker.as_fd()
    }

    fn read_batch(&mut self, max: usize, each: &mut dyn FnMut(Frame<'_>)) -> (usize, BatchEnd) {
        let mut read = 0;
        while read < max {
            let next = self.wire.port(&self.name, |port| {
                if port.fail {
                    return Err(());
                }
                let next = port.frames.pop_front();
                if next.is_none() {
                    port.waker.drain();
                }
                Ok(next)
            });
            match next {
                Err(()) => return (read, BatchEnd::Failed),
                Ok(None) => return (read, BatchEnd::Drained),
                Ok(Some((frame, wire_len))) => {
                    read += 1;
                    each(Frame {
                        data: &frame,
                        wire_len,
                        captured: Some(std::time::SystemTime::now()),
                    });
                }
            }
        }
        (read, BatchEnd::Full)
    }

    fn dropped(&mut self) -> Option<u64> {
        Some(self.wire.port(&self.name, |port| port.dropped))
    }
}

impl Drop for FakeSource {
    fn drop(&mut self) {
        self.wire.port(&self.name, |port| port.open -= 1);
    }
}

const HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 9);
const DNS_CLIENT: u16 = 5000;
const PID: Pid = 77;

/// An Ethernet frame of a UDP datagram with `payload` bytes.
fn udp_frame(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), payload: usize) -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src.0.octets(), dst.0.octets(), 64)
        .udp(src.1, dst.1)
        .write(&mut frame, &vec![0u8; payload])
        .expect("build frame");
    frame
}

/// A raw IPv4 frame (tun) of a UDP datagram.
fn raw_udp_frame(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), payload: usize) -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ipv4(src.0.octets(), dst.0.octets(), 64)
        .udp(src.1, dst.1)
        .write(&mut frame, &vec![0u8; payload])
        .expect("build frame");
    frame
}

fn owners() -> FakeOwners {
    let mut owners = FakeOwners::with_local(&[IpAddr::V4(HOST)]);
    owners.bind(Transport::Udp, SocketAddr::from((HOST, DNS_CLIENT)), PID);
    owners
}

/// A capture on the fake wire, re-listing interfaces every 20 ms.
fn start(
    wire: &Wire,
    options: CaptureOptions,
) -> Result<(Capture, Receiver<Snapshot>), EngineError> {
    start_with(wire, options, owners())
}

/// [`start`] with these owners.
fn start_with(
    wire: &Wire,
    options: CaptureOptions,
    owners: FakeOwners,
) -> Result<(Capture, Receiver<Snapshot>), EngineError> {
    let (updates, snapshots) = mpsc::channel();
    let on_update = Box::new(move |update: Result<Snapshot, EngineError>| {
        if let Ok(snapshot) = update {
            let _ = updates.send(snapshot);
        }
    });
    let (control, waker, thread) = spawn_on(
        options,
        owners,
        Box::new(wire.clone()),
        Duration::from_millis(20),
        on_update,
    )?;
    let capture = Capture {
        control,
        waker,
        thread: Some(thread),
    };
    Ok((capture, snapshots))
}

fn fast() -> CaptureOptions {
    CaptureOptions {
        interval: Duration::from_millis(20),
        interfaces: Vec::new(),
    }
}

/// The first snapshot satisfying `done`, within 3 s.
fn wait_for(snapshots: &Receiver<Snapshot>, done: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let snapshot = snapshots.recv_timeout(left).expect("a snapshot in time");
        if done(&snapshot) {
            return snapshot;
        }
    }
}

/// Waits (3 s at most) until `name` has `open` sources open.
fn wait_until_open(wire: &Wire, name: &str, open: usize) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while wire.port(name, |p| p.open) != open {
        assert!(
            Instant::now() < deadline,
            "{name}: {} sources open, not {open}",
            wire.port(name, |p| p.open)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn interface<'a>(snapshot: &'a Snapshot, name: &str) -> Option<&'a crate::InterfaceStats> {
    snapshot.interfaces.iter().find(|i| i.name == name)
}

#[test]
fn frames_are_parsed_accounted_and_reported_each_interval() {
    let wire = Wire::default();
    wire.plug("eth0", LinkType::Ethernet);
    let (capture, snapshots) = start(&wire, fast()).expect("start");
    let query = udp_frame((HOST, DNS_CLIENT), (PEER, 53), 58); // 100 bytes
    let answer = udp_frame((PEER, 53), (HOST, DNS_CLIENT), 158); // 200 bytes
    for _ in 0..10 {
        wire.send("eth0", query.clone());
        wire.send("eth0", answer.clone());
    }

    let snapshot = wait_for(&snapshots, |s| s.totals.captured_bytes == 3000);
    let process = &snapshot.processes[0];
    assert_eq!((process.pid, process.name.as_str()), (PID, "proc77"));
    assert_eq!((process.sent_bytes, process.received_bytes), (1000, 2000));
    assert_eq!((process.sent_packets, process.received_packets), (10, 10));
    let eth0 = interface(&snapshot, "eth0").expect("eth0 listed");
    assert_eq!(
        (eth0.sent_bytes, eth0.received_bytes, eth0.dropped),
        (1000, 2000, 0)
    );
    assert_eq!(snapshot.interval_ms, 20);

    let connections = capture.connections(PID).expect("pid seen");
    assert_eq!(connections.len(), 1);
    assert_eq!(connections[0].remote, SocketAddr::from((PEER, 53)));
    let last = capture.stop().expect("final snapshot");
    assert_eq!(last.processes[0].sent_bytes, 1000);
    assert_eq!(wire.port("eth0", |p| p.open), 0, "stop closes the source");
}

#[test]
fn interfaces_that_appear_and_vanish_are_followed() {
    let wire = Wire::default();
    wire.plug("eth0", LinkType::Ethernet);
    let (capture, snapshots) = start(&wire, fast()).expect("start");

    wire.plug("tun0", LinkType::RawIp);
    wait_for(&snapshots, |s| interface(s, "tun0").is_some());
    wire.send("tun0", raw_udp_frame((HOST, DNS_CLIENT), (PEER, 53), 72));
    let snapshot = wait_for(&snapshots, |s| s.totals.captured_bytes == 100);
    assert_eq!(
        interface(&snapshot, "tun0").map(|i| i.sent_bytes),
        Some(100)
    );

    wire.unplug("tun0");
    wait_until_open(&wire, "tun0", 0);
    let snapshot = wait_for(&snapshots, |_| true);
    assert_eq!(
        interface(&snapshot, "tun0").map(|i| i.sent_bytes),
        Some(100),
        "totals of a vanished interface are kept"
    );
    capture.stop().expect("stop");
}

#[test]
fn a_failing_source_is_closed_and_opened_again() {
    let wire = Wire::default();
    wire.plug("eth0", LinkType::Ethernet);
    let (capture, snapshots) = start(&wire, fast()).expect("start");
    wire.port("eth0", |p| p.fail = true);
    wire.send("eth0", udp_frame((HOST, DNS_CLIENT), (PEER, 53), 58));
    let deadline = Instant::now() + Duration::from_secs(3);
    while wire.port("eth0", |p| p.opened) < 2 {
        wire.port("eth0", |p| {
            if p.open == 0 {
                p.fail = false;
            }
        });
        assert!(Instant::now() < deadline, "eth0 not reopened");
        std::thread::sleep(Duration::from_millis(5));
    }
    wire.send("eth0", udp_frame((HOST, DNS_CLIENT), (PEER, 53), 58));
    wait_for(&snapshots, |s| s.totals.captured_bytes >= 100);
    capture.stop().expect("stop");
}

#[test]
fn a_bridge_whose_ports_are_all_captured_is_counted_without_a_handle() {
    let wire = Wire::default();
    for name in ["eth0", "br0", "vport0", "vport1"] {
        wire.plug(name, LinkType::Ethernet);
    }
    wire.bridge("br0", &["vport0", "vport1"], (1_000, 2_000));
    let (capture, snapshots) = start(&wire, fast()).expect("start");
    assert_eq!(wire.port("br0", |p| p.opened), 0, "br0 needs no handle");
    assert_eq!(wire.port("vport0", |p| p.open), 1);

    // Its totals are the kernel's, from the start of the capture on.
    wire.lock().kernel.insert("br0".into(), (1_500, 2_700));
    let snapshot = wait_for(&snapshots, |s| {
        interface(s, "br0").is_some_and(|i| i.sent_bytes == 500)
    });
    let br0 = interface(&snapshot, "br0").expect("br0 listed");
    assert_eq!((br0.sent_bytes, br0.received_bytes), (500, 700));

    // A port goes down: a frame could now cross br0 unseen, so it gets a handle, and
    // what it carried is kept.
    wire.unplug("vport1");
    wait_until_open(&wire, "br0", 1);
    wire.lock().kernel.insert("br0".into(), (1_600, 2_700));
    let snapshot = wait_for(&snapshots, |s| {
        interface(s, "br0").is_some_and(|i| i.sent_bytes >= 600)
    });
    let br0 = interface(&snapshot, "br0").expect("br0 listed");
    assert_eq!((br0.sent_bytes, br0.received_bytes), (600, 700));

    // Back up: the handle is closed again, the totals go on.
    wire.plug("vport1", LinkType::Ethernet);
    wait_until_open(&wire, "br0", 0);
    wire.lock().kernel.insert("br0".into(), (1_650, 2_800));
    let snapshot = wait_for(&snapshots, |s| {
        interface(s, "br0").is_some_and(|i| i.sent_bytes >= 650)
    });
    let br0 = interface(&snapshot, "br0").expect("br0 listed");
    assert_eq!((br0.sent_bytes, br0.received_bytes), (650, 800));
    capture.stop().expect("stop");
}

#[test]
fn a_frame_a_packet_socket_sends_through_an_uncaptured_bridge_is_credited_on_its_port() {
    const BRIDGE_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xb0];
    const ETHERTYPE: u16 = 0x88b5;
    let wire = Wire::default();
    for name in ["br0", "vport0", "vport1"] {
        wire.plug(name, LinkType::Ethernet);
    }
    wire.bridge("br0", &["vport0", "vport1"], (0, 0));
    {
        let mut state = wire.lock();
        for (name, ifindex, mac) in [
            ("br0", 7, BRIDGE_MAC),
            ("vport0", 8, [2, 0, 0, 0, 0, 8]),
            ("vport1", 9, [2, 0, 0, 0, 0, 9]),
        ] {
            state
                .identities
                .insert(name.into(), LinkIdentity { ifindex, mac });
        }
    }
    let mut owners = owners();
    owners.packet_senders.insert((7, ETHERTYPE), PID);
    let (capture, snapshots) = start_with(&wire, fast(), owners).expect("start");
    assert_eq!(wire.port("br0", |p| p.opened), 0, "br0 needs no handle");

    // A broadcast from a packet socket bound to br0, flooded to both ports: its sender
    // is credited once.
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&BRIDGE_MAC);
    frame.extend_from_slice(&ETHERTYPE.to_be_bytes());
    frame.resize(14 + 100, 0x70);
    wire.send("vport0", frame.clone());
    wire.send("vport1", frame);
    let snapshot = wait_for(&snapshots, |s| s.totals.captured_bytes == 228);
    let sender = snapshot.processes.iter().find(|p| p.pid == PID);
    assert_eq!(sender.map(|p| p.sent_bytes), Some(114));
    capture.stop().expect("stop");
}

#[test]
fn a_bridge_with_a_port_not_captured_keeps_its_handle() {
    let wire = Wire::default();
    for name in ["br0", "vport0"] {
        wire.plug(name, LinkType::Ethernet);
    }
    // vport9 is down (not listed as up), so traffic through it would cross br0 unseen.
    wire.bridge("br0", &["vport0", "vport9"], (0, 0));
    let (capture, _snapshots) = start(&wire, fast()).expect("start");
    assert_eq!(wire.port("br0", |p| p.open), 1);
    capture.stop().expect("stop");

    // A port that is up but cannot be opened: frames through it would be seen nowhere.
    wire.bridge("br0", &["vport0", "vbroken"], (0, 0));
    wire.lock().up.push("vbroken".into());
    let (capture, _snapshots) = start(&wire, fast()).expect("start");
    assert_eq!(wire.port("br0", |p| p.open), 1);
    capture.stop().expect("stop");
    wire.lock().up.retain(|name| name != "vbroken");

    // Asked for by name without its ports, a bridge is captured too.
    let options = CaptureOptions {
        interfaces: vec!["br0".into()],
        ..fast()
    };
    wire.bridge("br0", &["vport0"], (0, 0));
    let (capture, _snapshots) = start(&wire, options).expect("start");
    assert_eq!(wire.port("br0", |p| p.open), 1);
    assert_eq!(wire.port("vport0", |p| p.open), 0);
    capture.stop().expect("stop");
}

#[test]
fn drops_are_reported_per_interface() {
    let wire = Wire::default();
    wire.plug("eth0", LinkType::Ethernet);
    wire.plug("eth1", LinkType::Ethernet);
    let (capture, snapshots) = start(&wire, fast()).expect("start");
    wire.port("eth1", |p| p.dropped = 5);
    let snapshot = wait_for(&snapshots, |s| {
        interface(s, "eth1").is_some_and(|i| i.dropped == 5)
    });
    assert_eq!(interface(&snapshot, "eth0").map(|i| i.dropped), Some(0));
    capture.reset_totals();
    wait_for(&snapshots, |s| {
        interface(s, "eth1").is_some_and(|i| i.dropped == 0)
    });
    capture.stop().expect("stop");
}

#[test]
fn stop_and_queries_are_answered_at_once_even_with_a_long_interval() {
    let wire = Wire::default();
    wire.plug("eth0", LinkType::Ethernet);
    let options = CaptureOptions {
        interval: Duration::from_secs(60),
        interfaces: Vec::new(),
    };
    let (capture, _snapshots) = start(&wire, options).expect("start");
    let started = Instant::now();
    assert_eq!(capture.connections(PID), None, "not seen yet");
    capture.set_interval(Duration::from_millis(20));
    let last = capture.stop().expect("stop");
    assert!(started.elapsed() < Duration::from_millis(200));
    assert_eq!(last.interval_ms, 20);
}

#[test]
fn only_the_named_interfaces_are_opened() {
    let wire = Wire::default();
    wire.plug("eth0", LinkType::Ethernet);
    wire.plug("eth1", LinkType::Ethernet);
    let options = CaptureOptions {
        interfaces: vec!["eth1".into()],
        ..fast()
    };
    let (capture, _snapshots) = start(&wire, options).expect("start");
    assert_eq!(wire.port("eth0", |p| p.open), 0);
    assert_eq!(wire.port("eth1", |p| p.open), 1);
    capture.stop().expect("stop");

    let missing = CaptureOptions {
        interfaces: vec!["wlan0".into()],
        ..fast()
    };
    assert!(matches!(
        start(&wire, missing),
        Err(EngineError::NoSuchInterface(name)) if name == "wlan0"
    ));
}

#[test]
fn no_permission_and_no_interface_are_told_apart() {
    let wire = Wire::default();
    assert!(matches!(
        start(&wire, fast()),
        Err(EngineError::NoCaptureDevice)
    ));
    wire.plug("eth0", LinkType::Ethernet);
    wire.lock().permission_denied = true;
    assert!(matches!(
        start(&wire, fast()),
        Err(EngineError::PermissionDenied(_))
    ));
}

#[test]
fn control_messages_reach_the_thread_in_order() {
    // The channel is plain FIFO: a reset sent before a stop is applied before it.
    let wire = Wire::default();
    wire.plug("eth0", LinkType::Ethernet);
    let (capture, snapshots) = start(&wire, fast()).expect("start");
    wire.send("eth0", udp_frame((HOST, DNS_CLIENT), (PEER, 53), 58));
    wait_for(&snapshots, |s| s.totals.captured_bytes == 100);
    let _ = capture.control.send(Control::ResetTotals);
    let last = capture.stop().expect("stop");
    assert_eq!(last.totals.captured_bytes, 0);
    assert_eq!(last.processes[0].sent_bytes, 0);
}
