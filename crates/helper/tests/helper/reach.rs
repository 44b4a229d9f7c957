//! What the kept capabilities reach — traffic of another user's process and of a process in
//! another network namespace is attributed by the least-privileged helper — and that each
//! kept capability is needed: without it, something stops working.

use crate::common::{self, Sender, Session};
use futures_lite::StreamExt;
use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

/// Datagrams of this many payload bytes stay under a 1500-byte MTU (no fragments).
const DATAGRAM: usize = 1000;
const COUNT: usize = 50;
/// Wire bytes of the whole burst: payload + Ethernet 14 + IPv4 20 + UDP 8 per datagram.
const WIRE_BYTES: u64 = (COUNT * (DATAGRAM + 42)) as u64;

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().unwrap();
    assert!(status.success(), "ip {args:?}");
}

/// A network namespace joined to ours by a veth pair; removed on drop.
struct TestNetns {
    name: String,
    host_if: String,
    host_ip: String,
}

impl TestNetns {
    /// `test` tells apart the namespaces of tests running at once in this process (0–3).
    fn create(test: u32) -> TestNetns {
        let pid = std::process::id();
        let name = format!("skh{pid}{test}");
        let (host_if, ns_if) = (format!("skh{pid}{test}a"), format!("skh{pid}{test}b"));
        let subnet = format!("10.{}.{}", 211 + test, pid % 250);
        let (host_ip, ns_ip) = (format!("{subnet}.1"), format!("{subnet}.2"));
        let netns = TestNetns {
            name: name.clone(),
            host_if: host_if.clone(),
            host_ip: host_ip.clone(),
        };
        ip(&["netns", "add", &name]);
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
        ]);
        ip(&["link", "set", &ns_if, "netns", &name]);
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_if]);
        ip(&["link", "set", &host_if, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &name, "ip"];
            all.extend_from_slice(args);
            ip(&all);
        };
        inside(&["addr", "add", &format!("{ns_ip}/30"), "dev", &ns_if]);
        inside(&["link", "set", &ns_if, "up"]);
        inside(&["link", "set", "lo", "up"]);
        netns
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Starts capturing and waits for the first update (handles open).
async fn capture(session: &Session) -> sockeye_protocol::UpdatedStream {
    let mut updates = session.proxy.receive_updated().await.unwrap();
    session.proxy.start(200).await.expect("Start");
    tokio::time::timeout(Duration::from_secs(10), updates.next())
        .await
        .expect("first update");
    updates
}

/// Bytes the updates attribute to `pid` as sent, once they reach WIRE_BYTES or after
/// `max_updates` updates (200 ms each).
async fn sent_by(
    updates: &mut sockeye_protocol::UpdatedStream,
    pid: u32,
    max_updates: usize,
) -> Option<u64> {
    credited(updates, pid, max_updates, |p| p.sent_bytes).await
}

/// What `pick` reads of `pid`'s row in the updates, once it reaches WIRE_BYTES or after
/// `max_updates` updates (or 15 s); `None` if no update listed `pid`.
async fn credited(
    updates: &mut sockeye_protocol::UpdatedStream,
    pid: u32,
    max_updates: usize,
    pick: fn(&sockeye_protocol::Process) -> u64,
) -> Option<u64> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = None;
    let mut seen = 0;
    while seen < max_updates && Instant::now() < deadline {
        let Ok(Some(signal)) = tokio::time::timeout(Duration::from_secs(2), updates.next()).await
        else {
            continue;
        };
        seen += 1;
        let update = signal.args().unwrap().update;
        last = update.processes.iter().find(|p| p.pid == pid).map(pick);
        if last == Some(WIRE_BYTES) {
            break;
        }
    }
    last
}

/// Enough updates for the engine to have attributed a burst it can attribute (2 s).
const PATIENCE: usize = 10;

/// Sends a burst from a `nobody` process over loopback to a helper with capabilities
/// `bounding`; returns what the helper attributed to the sender.
async fn nobody_burst(bounding: Option<&str>) -> Option<u64> {
    let session = common::connect_bounded(bounding).await;
    let mut updates = capture(&session).await;
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let sender = Sender::start(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
        ],
        "127.0.0.1",
        port,
        COUNT,
        DATAGRAM,
    );
    receive_burst(&receiver);
    sent_by(&mut updates, sender.0.id(), PATIENCE).await
}

fn receive_burst(socket: &UdpSocket) {
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buffer = [0u8; 2048];
    for _ in 0..COUNT {
        socket.recv(&mut buffer).expect("datagram");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_of_another_users_process_is_attributed_to_it() {
    assert_eq!(nobody_burst(None).await, Some(WIRE_BYTES));
}

/// Namespaces with a process in them when capture starts (containers, `ip netns exec`):
/// without CAP_SYS_ADMIN the engine cannot `setns` for sock_diag and reads the member's
/// `/proc/PID/net` tables instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_of_a_process_in_another_network_namespace_is_attributed_to_it() {
    let netns = TestNetns::create(0);
    let inside = ["ip", "netns", "exec", netns.name.as_str()];
    // A process already in the namespace, as in a running container.
    let resident = Sender::start(&inside, &netns.host_ip, 9, 0, 0);
    let own_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert!(
        common::poll_until(Duration::from_secs(5), || {
            std::fs::read_link(format!("/proc/{}/ns/net", resident.0.id()))
                .is_ok_and(|ns| ns != own_ns)
        }),
        "the resident process entered the namespace"
    );
    let session = common::connect().await;
    let mut updates = capture(&session).await;
    let receiver = UdpSocket::bind(format!("{}:0", netns.host_ip)).unwrap();
    let port = receiver.local_addr().unwrap().port();
    let sender = Sender::start(&inside, &netns.host_ip, port, COUNT, DATAGRAM);
    receive_burst(&receiver);
    assert_eq!(
        sent_by(&mut updates, sender.0.id(), usize::MAX).await,
        Some(WIRE_BYTES)
    );
}

/// Waits (at most 5 s) for an update that lists interface `name`: the capture follows new
/// interfaces once a second, and packets sent before it opens one are never seen.
async fn wait_for_interface(updates: &mut sockeye_protocol::UpdatedStream, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let Ok(Some(signal)) = tokio::time::timeout(Duration::from_secs(2), updates.next()).await
        else {
            continue;
        };
        let update = signal.args().unwrap().update;
        if update.interfaces.iter().any(|i| i.name == name) {
            return;
        }
    }
    panic!("the capture never followed the new interface {name}");
}

/// A namespace created while capturing, with no process in it at first, so that under
/// least privilege (no `setns`) its addresses and sockets are learnt only from its first
/// member's `/proc/PID/net`, some milliseconds after that member sent its whole burst:
/// the sender's end is unsure until then, its bytes set aside and credited once the
/// namespace's addresses are known.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_namespace_created_while_capturing_is_attributed() {
    let session = common::connect().await;
    let mut updates = capture(&session).await;
    let netns = TestNetns::create(1);
    wait_for_interface(&mut updates, &netns.host_if).await;
    let receiver = UdpSocket::bind(format!("{}:0", netns.host_ip)).unwrap();
    let port = receiver.local_addr().unwrap().port();
    let inside = ["ip", "netns", "exec", netns.name.as_str()];
    let sender = Sender::start(&inside, &netns.host_ip, port, COUNT, DATAGRAM);
    receive_burst(&receiver);
    assert_eq!(
        sent_by(&mut updates, sender.0.id(), usize::MAX).await,
        Some(WIRE_BYTES)
    );
}

#[tokio::test]
async fn without_cap_net_raw_start_fails_with_permission_denied() {
    let session = common::connect_bounded(Some("-net_raw")).await;
    let error = session.proxy.start(200).await.unwrap_err();
    let typed = sockeye_protocol::CaptureError::from(error);
    assert!(
        matches!(typed, sockeye_protocol::CaptureError::PermissionDenied(_)),
        "{typed:?}"
    );
    assert!(!session.proxy.capturing().await.unwrap());
}

/// A `nobody` process receives a burst from this one, over loopback, watched by a helper
/// with capabilities `bounding`; returns what the helper credited it with receiving.
/// Received traffic is what only `/proc/PID/fd` can attribute: the route-lookup
/// tracepoints name senders (whatever their user, without `CAP_SYS_PTRACE`), never a
/// socket that only receives.
async fn nobody_receives(bounding: Option<&str>) -> Option<u64> {
    let session = common::connect_bounded(bounding).await;
    let mut updates = capture(&session).await;
    let mut receiver = NobodyReceiver::start();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let payload = [0u8; DATAGRAM];
    for _ in 0..COUNT {
        sender
            .send_to(&payload, ("127.0.0.1", receiver.port))
            .unwrap();
    }
    receiver.wait_for_burst();
    received_by(&mut updates, receiver.child.id(), PATIENCE).await
}

/// A `nobody` Python process holding a UDP socket on 127.0.0.1 that reads [`COUNT`]
/// datagrams, says so, and stays (so its socket and process are there to be found).
struct NobodyReceiver {
    child: std::process::Child,
    lines: std::io::BufReader<std::process::ChildStdout>,
    port: u16,
}

impl NobodyReceiver {
    fn start() -> NobodyReceiver {
        use std::io::BufRead;
        let script = format!(
            "import socket, time\n\
             s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             s.bind(('127.0.0.1', 0)); print(s.getsockname()[1], flush=True)\n\
             for _ in range({COUNT}): s.recv(65536)\n\
             print('done', flush=True); time.sleep(60)\n"
        );
        let mut child = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .args([common::PYTHON, "-c", &script])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        lines.read_line(&mut line).unwrap();
        let port = line.trim().parse().expect("the receiver's port");
        NobodyReceiver { child, lines, port }
    }

    fn wait_for_burst(&mut self) {
        use std::io::BufRead;
        let mut line = String::new();
        self.lines.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "done", "the receiver got the burst");
    }
}

impl Drop for NobodyReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Like [`sent_by`], for the bytes `pid` received.
async fn received_by(
    updates: &mut sockeye_protocol::UpdatedStream,
    pid: u32,
    max_updates: usize,
) -> Option<u64> {
    credited(updates, pid, max_updates, |p| p.received_bytes).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_another_users_process_receives_is_attributed_to_it() {
    assert_eq!(nobody_receives(None).await, Some(WIRE_BYTES));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_cap_sys_ptrace_what_another_user_receives_is_not_attributed() {
    assert_eq!(nobody_receives(Some("-sys_ptrace")).await.unwrap_or(0), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_cap_dac_read_search_what_another_user_receives_is_not_attributed() {
    assert_eq!(
        nobody_receives(Some("-dac_read_search")).await.unwrap_or(0),
        0
    );
}
