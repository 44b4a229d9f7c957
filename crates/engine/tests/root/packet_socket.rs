//! AF_PACKET senders (issue 14, item 3): frames a process writes through a packet socket
//! carry no IP packet, so no socket table names them. A frame that leaves through an
//! interface with that interface's own address is credited as sent to the process whose
//! packet socket can have sent it — one opened for that EtherType, bound to that
//! interface or none — when there is exactly one; otherwise it is "other". A process
//! that only receives such frames (or a capture, which sees every frame) is never
//! credited with them.

use crate::namespace::TestNetns;
use crate::support::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};

/// An EtherType for local experiments (IEEE 802 "Local Experimental Ethertype 1").
const ETHERTYPE: u16 = 0x88b5;
const FRAMES: usize = 200;
/// Payload per frame; on the wire 14 bytes more.
const PAYLOAD: usize = 1000;

/// `send IFACE COUNT SIZE`: opens a packet socket for [`ETHERTYPE`] on IFACE, sends COUNT
/// broadcast frames of SIZE payload bytes from IFACE's own address, says "sent PID" and
/// waits for its standard input to close (so it is alive while the engine looks). With
/// `listen IFACE`, opens the socket and only reads.
const SCRIPT: &str = r#"
import os, socket, sys, time
mode, iface = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5))
s.bind((iface, 0x88b5))
if mode == "send":
    count, size = int(sys.argv[3]), int(sys.argv[4])
    mac = bytes.fromhex(open("/sys/class/net/%s/address" % iface).read().strip().replace(":", ""))
    frame = b"\xff" * 6 + mac + b"\x88\xb5" + b"p" * size
    for _ in range(count):
        s.send(frame)
        time.sleep(0.001)
print("sent", os.getpid(), flush=True)
sys.stdin.read()
"#;

/// A packet-socket process, alive until dropped.
struct PacketPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    pid: u32,
}

impl PacketPeer {
    fn start(netns: Option<&str>, args: &[&str]) -> PacketPeer {
        let mut child = python_in(netns)
            .args(["-S", "-c", SCRIPT])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the peer says it is ready");
        let pid = line
            .split_whitespace()
            .nth(1)
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("peer said {line:?}"));
        let stdin = child.stdin.take();
        PacketPeer { child, stdin, pid }
    }
}

impl Drop for PacketPeer {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn other_sent(snapshot: &sockeye_engine::Snapshot) -> u64 {
    snapshot
        .unattributed
        .iter()
        .filter(|b| b.protocol == sockeye_engine::Transport::Other)
        .map(|b| b.sent_bytes)
        .sum()
}

fn credited(snapshot: &sockeye_engine::Snapshot, pid: u32) -> (u64, u64) {
    snapshot
        .processes
        .iter()
        .find(|p| p.pid == pid)
        .map_or((0, 0), |p| (p.sent_bytes, p.received_bytes))
}

/// The engine on the namespace's veth, and the wire's count of our frames on it.
fn set_up(name: &str) -> Option<(std::sync::MutexGuard<'static, ()>, TestNetns, Engine)> {
    let serial = root_scenario(name)?;
    let netns = TestNetns::create();
    let engine = Engine::start();
    wait_captured(&engine, &[&netns.host_if]);
    Some((serial, netns, engine))
}

#[test]
fn a_packet_sockets_frames_are_credited_to_its_process_as_sent() {
    let name = "AF_PACKET sender";
    let Some((_serial, netns, engine)) = set_up(name) else {
        return;
    };
    let filter = format!("ether proto {ETHERTYPE:#06x}");
    let counter = WireCounter::start(&netns.host_if, &filter);
    let (frames, payload) = (FRAMES.to_string(), PAYLOAD.to_string());
    let sender = PacketPeer::start(None, &["send", &netns.host_if, &frames, &payload]);
    let wire: u64 = counter.finish().iter().map(|p| p.len).sum();
    assert_eq!(
        wire,
        (FRAMES * (PAYLOAD + 14)) as u64,
        "the wire saw every frame"
    );
    let snapshot = engine.settle(|s| credited(s, sender.pid).0 >= wire);
    let (sent, received) = credited(&snapshot, sender.pid);
    println!("SCENARIO {name}: sent {sent} of {wire} B, received {received} B");
    assert_eq!(sent, wire, "every frame credited to its sender");
    assert_eq!(received, 0);
    let process = snapshot.processes.iter().find(|p| p.pid == sender.pid);
    assert_eq!(process.map(|p| p.name.as_str()), Some("python3"));
    assert_nothing_lost(&snapshot);
    engine.capture.stop().expect("stop");
}

#[test]
fn a_second_sender_makes_frames_other_and_a_receiver_is_never_credited() {
    let name = "AF_PACKET, two senders, a receiver";
    let Some((_serial, netns, engine)) = set_up(name) else {
        return;
    };
    let (frames, payload) = (FRAMES.to_string(), PAYLOAD.to_string());
    let wire = (FRAMES * (PAYLOAD + 14)) as u64;
    // Alone, the first is its frames' sender.
    let first = PacketPeer::start(None, &["send", &netns.host_if, &frames, &payload]);
    let before = engine.settle(|s| credited(s, first.pid).0 >= wire);
    assert_eq!(credited(&before, first.pid), (wire, 0));
    // While it still has its socket, a second sends: either could have, so "other".
    let second = PacketPeer::start(None, &["send", &netns.host_if, &frames, &payload]);
    let after = engine.settle(|s| other_sent(s) >= other_sent(&before) + wire);
    let to_other = other_sent(&after) - other_sent(&before);
    // A receiver of the EtherType here, and frames coming in from the namespace (they
    // leave there, not here): received, never credited to anyone.
    let listener = PacketPeer::start(None, &["listen", &netns.host_if]);
    let ns_if = netns.host_if.replacen("skh", "skn", 1);
    let incoming = PacketPeer::start(Some(&netns.name), &["send", &ns_if, &frames, &payload]);
    let last = engine.settle(|_| true);
    println!(
        "SCENARIO {name}: first {:?}, second {:?} ({to_other} of {wire} B in other), listener {:?}",
        credited(&last, first.pid),
        credited(&last, second.pid),
        credited(&last, listener.pid)
    );
    assert_eq!(
        credited(&last, first.pid),
        (wire, 0),
        "nothing of the second's"
    );
    assert!(to_other >= wire, "the second's frames are in other");
    for peer in [&second, &listener, &incoming] {
        assert_eq!(credited(&last, peer.pid), (0, 0), "pid {}", peer.pid);
    }
    assert_nothing_lost(&last);
    engine.capture.stop().expect("stop");
}
