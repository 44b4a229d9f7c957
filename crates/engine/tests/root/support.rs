//! What the root scenarios share: a root check, child processes running `peer.py`, an
//! independent wire counter (its own pcap handle), a test network namespace with a veth
//! pair, and the measurement of how the engine credited a scenario's bytes.

use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};
use rustix::event::{PollFd, PollFlags, Timespec};
use sockeye_engine::{Capture, CaptureOptions, Snapshot};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the truth capture waits for packets before checking whether to stop.
const POLL_TIMEOUT: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 10_000_000,
};

/// Scenarios run one at a time: each measures all traffic on an interface.
static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the scenario lock; `None` (with the reason printed) when not root.
pub fn root_scenario(name: &str) -> Option<MutexGuard<'static, ()>> {
    if !sockeye_engine::testing::root_or_skip(&format!("{name}: capturing needs root")) {
        return None;
    }
    // Why each lookup missed, shown with the output of a failing scenario.
    sockeye_engine::attribution::trace_lookups();
    Some(
        SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    )
}

const PEER: &str = include_str!("peer.py");

/// The Python interpreter: the system one without site packages starts fastest.
pub fn python() -> &'static str {
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// A running `peer.py` role, killed on drop.
pub struct Peer {
    pub child: Child,
    lines: BufReader<ChildStdout>,
    /// Pid the peer reported (the Python process itself, also under `ip netns exec`).
    pub pid: u32,
    /// Port it listens on (servers) or its first local port (clients).
    pub port: u16,
    /// Every local port it reported.
    pub ports: Vec<u16>,
}

impl Peer {
    /// Starts `peer.py MODE ARGS...`, inside `netns` when given, and waits for its first line.
    pub fn start(netns: Option<&str>, args: &[String]) -> Peer {
        let mut child = python_in(netns)
            .args(["-S", "-c", PEER])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3 peer");
        let stdout = child.stdout.take().expect("peer stdout");
        let mut peer = Peer {
            child,
            lines: BufReader::new(stdout),
            pid: 0,
            port: 0,
            ports: Vec::new(),
        };
        peer.read_line().expect("peer reports ready");
        peer
    }

    /// Reads one `ready|conn PID PORT` line; `None` at end of output.
    fn read_line(&mut self) -> Option<()> {
        let mut line = String::new();
        if self.lines.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.len(), 3, "peer line {line:?}");
        self.pid = words[1].parse().expect("pid");
        let port: u16 = words[2].parse().expect("port");
        if self.ports.is_empty() {
            self.port = port;
        }
        self.ports.push(port);
        Some(())
    }

    /// A server in `netns` on `address` that accepts one connection, reads it to its end
    /// and answers `reply` bytes.
    pub fn tcp_server(netns: Option<&str>, address: &str, reply: usize) -> Peer {
        Peer::start(
            netns,
            &[arg("tcp-server"), arg(address), arg(1), arg(reply)],
        )
    }

    /// A client in `netns` that sends `send` bytes to `address`:`port` over one connection,
    /// reads the answer, and has exited when this returns.
    pub fn tcp_client(netns: Option<&str>, address: &str, port: u16, send: usize) -> Peer {
        Peer::start(
            netns,
            &[
                arg("tcp-client"),
                arg(address),
                arg(port),
                arg(send),
                arg(1),
            ],
        )
        .finish()
    }

    /// Waits for the peer to exit successfully, collecting the ports it reported.
    pub fn finish(mut self) -> Peer {
        while self.read_line().is_some() {}
        let status = self.child.wait().expect("wait for peer");
        assert!(status.success(), "peer failed: {status}");
        self
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a set-up command (`ip`, `ethtool`, `nft`…), failing the test if it fails.
pub fn run(args: &[&str]) {
    let status = Command::new(args[0])
        .args(&args[1..])
        .status()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(status.success(), "{args:?} failed: {status}");
}

/// Runs a tear-down command whose failure (already gone) does not matter.
pub fn quiet(args: &[&str]) {
    let _ = Command::new(args[0])
        .args(&args[1..])
        .stderr(Stdio::null())
        .status();
}

/// `python3`, inside network namespace `netns` when given (through `ip netns exec`).
pub fn python_in(netns: Option<&str>) -> Command {
    match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, python()]);
            c
        }
        None => Command::new(python()),
    }
}

/// Waits (at most 3 s) until `engine` captures on every interface of `names`.
pub fn wait_captured(engine: &Engine, names: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let snapshot = engine.settle(|_| true);
        let captured: HashSet<&str> = snapshot
            .interfaces
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        if names.iter().all(|name| captured.contains(name)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{names:?} not captured: {captured:?}"
        );
    }
}

pub fn arg(value: impl ToString) -> String {
    value.to_string()
}

/// One packet as the independent counter saw it.
#[derive(Debug, Clone, Copy)]
pub struct WirePacket {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// ICMP echo: `Some(true)` for a request, `Some(false)` for a reply.
    pub echo: Option<bool>,
    pub len: u64,
}

/// Counts packets on one interface with its own pcap handle and BPF filter: the truth the
/// engine is measured against.
pub struct WireCounter {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<(Vec<WirePacket>, u32)>>,
}

impl WireCounter {
    pub fn start(interface: &str, filter: &str) -> WireCounter {
        let mut capture = pcap::Capture::from_device(interface)
            .expect("device")
            .snaplen(256)
            .buffer_size(32 << 20)
            .immediate_mode(true)
            .open()
            .expect("open truth handle")
            .setnonblock()
            .expect("nonblock");
        capture.filter(filter, true).expect("BPF filter");
        // A tun device's frames are bare IP packets (DLT_RAW), an Ethernet device's not.
        let raw_ip = matches!(
            capture.get_datalink(),
            pcap::Linktype(12) | pcap::Linktype(101)
        );
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut packets = Vec::new();
            loop {
                let finishing = stopped.load(Ordering::SeqCst);
                let mut fds = [PollFd::new(&capture, PollFlags::IN)];
                let _ = rustix::event::poll(&mut fds, Some(&POLL_TIMEOUT));
                while let Ok(packet) = capture.next_packet() {
                    if let Some(p) = wire_packet(packet.data, packet.header.len, raw_ip) {
                        packets.push(p);
                    }
                }
                if finishing {
                    break;
                }
            }
            let dropped = capture.stats().map(|s| s.dropped).unwrap_or(u32::MAX);
            (packets, dropped)
        });
        WireCounter {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops counting (after the packets already queued) and returns them.
    pub fn finish(mut self) -> Vec<WirePacket> {
        // Packets sent just before reach the handle within microseconds on lo and veth.
        std::thread::sleep(Duration::from_millis(50));
        self.stop.store(true, Ordering::SeqCst);
        let (packets, dropped) = self
            .thread
            .take()
            .expect("counter thread")
            .join()
            .expect("counter thread ran");
        assert_eq!(dropped, 0, "the truth counter itself dropped packets");
        packets
    }
}

fn wire_packet(frame: &[u8], len: u32, raw_ip: bool) -> Option<WirePacket> {
    let sliced = if raw_ip {
        LaxSlicedPacket::from_ip(frame).ok()?
    } else {
        LaxSlicedPacket::from_ethernet(frame).ok()?
    };
    let (src, dst): (IpAddr, IpAddr) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(ip)) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        Some(LaxNetSlice::Ipv6(ip)) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        // A frame without IP (a packet socket's own EtherType): counted, with no address.
        None => (Ipv4Addr::UNSPECIFIED.into(), Ipv4Addr::UNSPECIFIED.into()),
        _ => return None,
    };
    let (sport, dport, echo) = match &sliced.transport {
        Some(TransportSlice::Tcp(t)) => (t.source_port(), t.destination_port(), None),
        Some(TransportSlice::Udp(u)) => (u.source_port(), u.destination_port(), None),
        Some(TransportSlice::Icmpv4(i)) => (0, 0, echo_kind(i.type_u8(), 8, 0)),
        Some(TransportSlice::Icmpv6(i)) => (0, 0, echo_kind(i.type_u8(), 128, 129)),
        // An IP fragment after the first: addresses only.
        None => (0, 0, None),
        _ => return None,
    };
    Some(WirePacket {
        src: SocketAddr::new(src, sport),
        dst: SocketAddr::new(dst, dport),
        echo,
        len: u64::from(len),
    })
}

fn echo_kind(icmp_type: u8, request: u8, reply: u8) -> Option<bool> {
    match icmp_type {
        t if t == request => Some(true),
        t if t == reply => Some(false),
        _ => None,
    }
}

/// Truth for a pinging process: it sent the echo requests and received the replies.
pub fn ping_truth(packets: &[WirePacket], pid: u32) -> HashMap<u32, (u64, u64)> {
    let sum = |request: bool| {
        packets
            .iter()
            .filter(|p| p.echo == Some(request))
            .map(|p| p.len)
            .sum::<u64>()
    };
    HashMap::from([(pid, (sum(true), sum(false)))])
}

/// The engine under test, keeping the latest snapshot.
pub struct Engine {
    pub capture: Capture,
    latest: Arc<Mutex<Option<Snapshot>>>,
    /// Snapshots received so far.
    updates: Arc<AtomicU64>,
}

impl Engine {
    /// Starts capturing on every interface with a short interval, and waits for the first
    /// snapshot.
    pub fn start() -> Engine {
        let latest = Arc::new(Mutex::new(None));
        let sink = Arc::clone(&latest);
        let updates = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&updates);
        let options = CaptureOptions {
            interval: Duration::from_millis(100),
            interfaces: Vec::new(),
        };
        let capture = Capture::start(options, move |update| {
            if let Ok(snapshot) = update {
                *sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(snapshot);
                counted.fetch_add(1, Ordering::SeqCst);
            }
        })
        .expect("engine starts as root");
        let engine = Engine {
            capture,
            latest,
            updates,
        };
        // A capture runs before the traffic it measures: wait for its first interval.
        let _ = engine.snapshot();
        engine
    }

    /// How many snapshots have arrived since the start.
    pub fn updates(&self) -> u64 {
        self.updates.load(Ordering::SeqCst)
    }

    /// The latest snapshot, waiting for the first one.
    pub fn snapshot(&self) -> Snapshot {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            if let Some(s) = self
                .latest
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
            {
                return s;
            }
            assert!(Instant::now() < deadline, "no snapshot within 3 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls until `done` holds for a snapshot taken after this call (or 3 s pass).
    pub fn settle(&self, done: impl Fn(&Snapshot) -> bool) -> Snapshot {
        let deadline = Instant::now() + Duration::from_secs(3);
        *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = None;
        loop {
            let snapshot = self.snapshot();
            if done(&snapshot) || Instant::now() >= deadline {
                return snapshot;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Whether a local endpoint belongs to a process.
pub type Owns = Box<dyn Fn(&SocketAddr) -> bool>;

/// Who owns which endpoints: (pid, local endpoint predicate), first match wins.
pub struct Expectation {
    pub owners: Vec<(u32, Owns)>,
}

/// How the engine did on one scenario, in wire bytes. A packet between two local
/// processes is expected twice (once sent, once received).
#[derive(Debug, Default)]
pub struct Measurement {
    pub expected: u64,
    pub right: u64,
    pub wrong: u64,
    pub missing: u64,
}

impl Measurement {
    pub fn right_share(&self) -> f64 {
        if self.expected == 0 {
            return 0.0;
        }
        self.right as f64 / self.expected as f64
    }

    pub fn wrong_share(&self) -> f64 {
        if self.expected == 0 {
            return 0.0;
        }
        self.wrong as f64 / self.expected as f64
    }
}

/// Sent and received wire bytes per pid according to `packets`.
pub fn truth(packets: &[WirePacket], expectation: &Expectation) -> HashMap<u32, (u64, u64)> {
    let owner_of = |endpoint: &SocketAddr| {
        expectation
            .owners
            .iter()
            .find(|(_, owns)| owns(endpoint))
            .map(|(pid, _)| *pid)
    };
    let mut per_pid: HashMap<u32, (u64, u64)> = HashMap::new();
    for packet in packets {
        if let Some(pid) = owner_of(&packet.src) {
            per_pid.entry(pid).or_default().0 += packet.len;
        }
        if let Some(pid) = owner_of(&packet.dst) {
            per_pid.entry(pid).or_default().1 += packet.len;
        }
    }
    per_pid
}

/// Compares the engine's per-process totals with the truth. The scenario's processes do
/// nothing else, so their totals are exactly their scenario traffic; bytes of the
/// scenario's ports credited to any other pid are wrong.
pub fn measure(
    engine: &Engine,
    name: &str,
    truth: &HashMap<u32, (u64, u64)>,
    scenario_ports: &HashSet<u16>,
) -> (Measurement, Snapshot) {
    let expected: u64 = truth.values().map(|(s, r)| s + r).sum();
    let snapshot = engine.settle(|s| credited_right(s, truth) >= expected);
    let right = credited_right(&snapshot, truth);
    let mut wrong = 0;
    for process in &snapshot.processes {
        match truth.get(&process.pid) {
            Some((sent, received)) => {
                let excess = process.sent_bytes.saturating_sub(*sent)
                    + process.received_bytes.saturating_sub(*received);
                if excess > 0 {
                    println!(
                        "  pid {} credited {excess} bytes more than it put on the wire",
                        process.pid
                    );
                }
                wrong += excess;
            }
            None => {
                for c in engine.capture.connections(process.pid).unwrap_or_default() {
                    // A flow of the scenario has both ends on its ports (other
                    // processes on this machine may use the same port numbers).
                    if scenario_ports.contains(&c.local.port())
                        && scenario_ports.contains(&c.remote.port())
                    {
                        println!("  wrong pid {} ({}): {c:?}", process.pid, process.name);
                        wrong += c.sent_bytes + c.received_bytes;
                    }
                }
            }
        }
    }
    for (pid, (sent, received)) in truth {
        let credited = snapshot.processes.iter().find(|p| p.pid == *pid);
        let (credited_sent, credited_received) = credited
            .map(|p| (p.sent_bytes, p.received_bytes))
            .unwrap_or_default();
        if credited_sent < *sent || credited_received < *received {
            println!(
                "  pid {pid}: sent {credited_sent} of {sent}, received {credited_received} of {received}"
            );
        }
    }
    let m = Measurement {
        expected,
        right,
        wrong,
        missing: expected.saturating_sub(right),
    };
    let t = snapshot.totals;
    println!(
        "  engine: {} lookups, {} misses, {} deferred by the budget; {} of {} bytes attributed",
        t.owner_lookups, t.owner_misses, t.lookups_deferred, t.attributed_bytes, t.captured_bytes
    );
    println!(
        "SCENARIO {:<40} expected {:>10} B  right {:>10} B ({:6.2}%)  wrong {:>8} B ({:5.2}%)  not credited {:>8} B",
        name,
        m.expected,
        m.right,
        m.right_share() * 100.0,
        m.wrong,
        m.wrong_share() * 100.0,
        m.missing
    );
    (m, snapshot)
}

fn credited_right(snapshot: &Snapshot, truth: &HashMap<u32, (u64, u64)>) -> u64 {
    truth
        .iter()
        .map(|(pid, (sent, received))| {
            snapshot
                .processes
                .iter()
                .find(|p| p.pid == *pid)
                .map(|p| p.sent_bytes.min(*sent) + p.received_bytes.min(*received))
                .unwrap_or(0)
        })
        .sum()
}

/// The engine's invariant, per transfer (a packet seen on several interfaces counts once
/// in each): attributed + unattributed + pending (owner still looked for) == captured.
pub fn assert_nothing_lost(snapshot: &Snapshot) {
    let unattributed: u64 = snapshot
        .unattributed
        .iter()
        .map(|b| b.sent_bytes + b.received_bytes)
        .sum();
    assert_eq!(
        snapshot.totals.attributed_bytes + unattributed + snapshot.totals.pending_bytes,
        snapshot.totals.captured_bytes,
        "attributed + unattributed + pending == captured"
    );
}

/// The acceptance bar: ≥ 99 % right, ≤ 1 % wrong, and the invariant.
pub fn assert_attributed(measurement: &Measurement, snapshot: &Snapshot) {
    assert!(measurement.expected > 0, "the scenario produced traffic");
    assert_nothing_lost(snapshot);
    assert!(
        measurement.right_share() >= 0.99,
        "only {:.2}% of wire bytes credited to the right pid: {measurement:?}",
        measurement.right_share() * 100.0
    );
    assert!(
        measurement.wrong_share() <= 0.01,
        "{:.2}% credited to a wrong pid: {measurement:?}",
        measurement.wrong_share() * 100.0
    );
}

/// Endpoint predicate: any address, one of `ports`.
pub fn port_in(ports: Vec<u16>) -> Owns {
    Box::new(move |endpoint| ports.contains(&endpoint.port()))
}

/// Endpoint predicate: exactly `owned` (address and port). Where both ends of a scenario
/// may pick the same port number in two namespaces, a port alone names two sockets.
pub fn endpoint_is(owned: SocketAddr) -> Owns {
    Box::new(move |endpoint| *endpoint == owned)
}

/// Endpoint predicate: any port of the address `ip`.
pub fn address_is(ip: IpAddr) -> Owns {
    Box::new(move |endpoint| endpoint.ip() == ip)
}

/// The kernel's byte counters of `interface`: (transmitted, received).
pub fn kernel_counters(interface: &str) -> (u64, u64) {
    let read = |what: &str| -> u64 {
        let path = format!("/sys/class/net/{interface}/statistics/{what}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        text.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    (read("tx_bytes"), read("rx_bytes"))
}

/// What a pair of (sent, received) counters grew by from `before` to `after`.
pub fn grown(before: (u64, u64), after: (u64, u64)) -> (u64, u64) {
    (after.0 - before.0, after.1 - before.1)
}

/// The engine's totals of `interface`: (sent, received).
pub fn engine_counters(snapshot: &sockeye_engine::Snapshot, interface: &str) -> (u64, u64) {
    snapshot
        .interfaces
        .iter()
        .find(|i| i.name == interface)
        .map(|i| (i.sent_bytes, i.received_bytes))
        .unwrap_or_else(|| panic!("no totals for {interface}"))
}

/// Within 1 % of `kernel`, and no further than a few stray frames (neighbour discovery
/// between the two readings) for a direction that carried almost nothing.
pub fn agrees(engine: u64, kernel: u64) -> bool {
    engine.abs_diff(kernel) <= (kernel / 100).max(2_000)
}

/// Checks that each of `who` (name, pid, its truth (sent, received)) was credited 98–102 %
/// of what it sent and of what it received in `snapshot`, printing each; returns the
/// share furthest from 100 %, in percent. Above 102 % a process was credited another
/// sighting of its packets (or another process's) as well.
pub fn assert_each_credited(snapshot: &Snapshot, who: &[(&str, u32, (u64, u64))]) -> f64 {
    let share = |got: u64, want: u64| got as f64 * 100.0 / want.max(1) as f64;
    let mut worst: f64 = 100.0;
    for &(name, pid, (sent, received)) in who {
        let (got_sent, got_received) = snapshot
            .processes
            .iter()
            .find(|p| p.pid == pid)
            .map(|p| (p.sent_bytes, p.received_bytes))
            .unwrap_or_default();
        let (s, r) = (share(got_sent, sent), share(got_received, received));
        println!(
            "  {name} pid {pid}: sent {got_sent} of {sent} B ({s:.2}%), received {got_received} of {received} B ({r:.2}%)"
        );
        for v in [s, r] {
            if (v - 100.0).abs() > (worst - 100.0).abs() {
                worst = v;
            }
            assert!(
                (98.0..=102.0).contains(&v),
                "{name} credited {v:.2}% of its traffic"
            );
        }
    }
    worst
}
