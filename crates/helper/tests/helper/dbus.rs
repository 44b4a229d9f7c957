//! The `io.github.sockeye.Capture1` object as a client sees it.

use crate::common::{self, connect};
use futures_lite::StreamExt;
use sockeye_protocol::{Capture1Proxy, VERSION};
use std::net::UdpSocket;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

fn method_error_name(error: &zbus::Error) -> Option<String> {
    match error {
        zbus::Error::MethodError(name, _, _) => Some(name.to_string()),
        _ => None,
    }
}

#[tokio::test]
async fn version_and_capturing_properties_are_served() {
    let session = connect().await;
    assert_eq!(session.proxy.version().await.unwrap(), VERSION);
    assert!(VERSION.ends_with("+protocol.4"), "{VERSION}");
    assert!(!session.proxy.capturing().await.unwrap());
}

#[tokio::test]
async fn interval_zero_and_above_one_minute_are_invalid_args() {
    let session = connect().await;
    for interval in [0, 60_001, u32::MAX] {
        let error = session.proxy.start(interval).await.unwrap_err();
        assert_eq!(
            method_error_name(&error).as_deref(),
            Some("org.freedesktop.DBus.Error.InvalidArgs"),
            "{error}"
        );
        assert!(error.to_string().contains("between 1 and 60000"), "{error}");
    }
    assert!(!session.proxy.capturing().await.unwrap());
    // The helper is still serving after bad input.
    assert_eq!(session.proxy.version().await.unwrap(), VERSION);
}

#[tokio::test]
async fn stop_when_stopped_is_harmless() {
    let session = connect().await;
    session.proxy.stop().await.unwrap();
    session.proxy.stop().await.unwrap();
    assert!(session.proxy.get_stats().await.unwrap().is_empty());
    assert!(session.proxy.get_processes().await.unwrap().is_empty());
    assert!(session.proxy.get_hosts().await.unwrap().is_empty());
    session.proxy.reset_totals().await.unwrap();
}

#[tokio::test]
async fn connections_while_stopped_is_a_not_capturing_error() {
    let session = connect().await;
    let error = session.proxy.get_connections(1).await.unwrap_err();
    assert_eq!(
        method_error_name(&error).as_deref(),
        Some("io.github.sockeye.Capture1.Error.NotCapturing")
    );
    let typed = sockeye_protocol::CaptureError::from(error);
    assert!(matches!(
        typed,
        sockeye_protocol::CaptureError::NotCapturing(_)
    ));
}

/// A socketpair made with the effective uid `uid` (only this short-lived thread changes
/// its credentials, through the raw per-thread syscall; the kernel records them in the pair).
fn socketpair_made_by(uid: u32) -> (UnixStream, UnixStream) {
    use rustix::process::Uid;
    std::thread::spawn(move || {
        rustix::thread::set_thread_res_uid(None, Uid::from_raw(uid), None).unwrap();
        let pair = UnixStream::pair();
        rustix::thread::set_thread_res_uid(None, Uid::ROOT, None).unwrap();
        pair.unwrap()
    })
    .join()
    .unwrap()
}

const NOBODY: u32 = 65534;

/// Handshake as a client that claims `claimed_uid` on a pair made by `nobody`.
async fn handshake_claiming(claimed_uid: u32) -> zbus::Result<zbus::Connection> {
    let (ours, theirs) = socketpair_made_by(NOBODY);
    let helper = common::spawn_helper(theirs.into());
    ours.set_nonblocking(true).unwrap();
    let stream = tokio::net::UnixStream::from_std(ours).unwrap();
    let connection = zbus::connection::Builder::unix_stream(stream)
        .p2p()
        .user_id(claimed_uid)
        .build()
        .await;
    drop(helper);
    connection
}

/// The socketpair is made by an unprivileged client (its credentials travel with the
/// socket), the helper runs as root: EXTERNAL auth accepts the client's own uid.
#[tokio::test]
async fn an_unprivileged_client_authenticates_to_the_root_helper() {
    let (ours, theirs) = socketpair_made_by(NOBODY);
    let _helper = common::spawn_helper(theirs.into());
    ours.set_nonblocking(true).unwrap();
    let stream = tokio::net::UnixStream::from_std(ours).unwrap();
    let connection = zbus::connection::Builder::unix_stream(stream)
        .p2p()
        .user_id(NOBODY)
        .build()
        .await
        .expect("EXTERNAL auth as nobody");
    let proxy = Capture1Proxy::new(&connection).await.unwrap();
    assert_eq!(proxy.version().await.unwrap(), VERSION);
}

/// The uid a client claims must be the one the kernel recorded: claiming root on a pair
/// an unprivileged process made is refused.
#[tokio::test]
async fn a_client_claiming_root_on_an_unprivileged_pair_is_refused() {
    assert!(handshake_claiming(0).await.is_err());
}

async fn first_update(updates: &mut sockeye_protocol::UpdatedStream) -> sockeye_protocol::Update {
    let signal = tokio::time::timeout(Duration::from_secs(10), updates.next())
        .await
        .expect("an Updated signal within 10 s")
        .expect("signal stream open");
    signal.args().unwrap().update
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_traffic_of_a_known_process_arrives_in_the_update_and_in_get_stats() {
    let session = connect().await;
    let mut updates = session.proxy.receive_updated().await.unwrap();
    let started = session.proxy.start(200).await;
    assert!(
        started.is_ok(),
        "Start failed: {:?}",
        common::engine_error(&started)
    );
    assert!(session.proxy.capturing().await.unwrap());
    first_update(&mut updates).await;

    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    const PAYLOAD: usize = 60_000;
    let sender = common::Sender::start(&[], "127.0.0.1", port, 60, 1000);
    let datagrams = common::receive(&receiver, PAYLOAD);
    let expected = common::wire_bytes(PAYLOAD, datagrams);
    let sender_pid = sender.0.id();
    let our_pid = std::process::id();
    // As root on this kernel the helper traces short-lived UDP senders; CI's machines can.
    if std::env::var_os("CI").is_some() {
        assert!(session.proxy.sender_log().await.unwrap());
        assert_eq!(session.proxy.sender_events_lost().await.unwrap(), 0);
    }

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = None;
    while Instant::now() < deadline {
        let update = first_update(&mut updates).await;
        let sent = update
            .processes
            .iter()
            .find(|p| p.pid == sender_pid)
            .map(|p| p.sent_bytes);
        // Other tests in this process receive too: look at this receiver's connection.
        let received = session
            .proxy
            .get_connections(our_pid)
            .await
            .ok()
            .and_then(|list| {
                list.iter()
                    .find(|c| c.local == format!("127.0.0.1:{port}"))
                    .map(|c| c.received_bytes)
            });
        seen = Some((sent, received));
        if sent == Some(expected) && received == Some(expected) {
            break;
        }
    }
    assert_eq!(seen, Some((Some(expected), Some(expected))));
    let stats = session.proxy.get_stats().await.unwrap();
    assert_eq!(stats.get(&sender_pid).map(|s| s.0), Some(expected));
    assert!(stats.get(&our_pid).is_some_and(|s| s.1 >= expected));
    let connections = session.proxy.get_connections(sender_pid).await.unwrap();
    assert!(connections
        .iter()
        .any(|c| c.protocol == "udp" && c.remote == format!("127.0.0.1:{port}")));
    // No DNS answer named 127.0.0.1 in this test: the host is the address, with no name.
    let hosts = session.proxy.get_hosts().await.unwrap();
    let host = hosts
        .iter()
        .find(|h| h.pids.contains(&sender_pid))
        .unwrap_or_else(|| panic!("no host lists the sender: {hosts:?}"));
    assert_eq!(host.addresses, ["127.0.0.1"]);
    assert!(host.sent_bytes >= expected, "{host:?}");
    let processes = session.proxy.get_processes().await.unwrap();
    let process = processes.iter().find(|p| p.pid == sender_pid).unwrap();
    assert_eq!((process.name.as_str(), process.uid), ("python3", 0));
    // GetProcesses carries the command lines (Updated sends each once, apart).
    assert!(
        process.cmdline.contains("import socket"),
        "{}",
        process.cmdline
    );
    assert!(process.sent_packets >= 60);
    let interfaces = session.proxy.get_interfaces().await.unwrap();
    let lo = interfaces
        .iter()
        .find(|i| i.name == "lo")
        .expect("lo is captured");
    // An interface's totals are its kernel counters, which on `lo` leave out the 14-byte
    // Ethernet header pcap shows (run alone, this test's datagrams are all lo carried).
    let carried = expected - 14 * datagrams as u64;
    assert!(lo.sent_bytes >= carried, "{lo:?}, at least {carried}");
    let buckets = session.proxy.get_unattributed().await.unwrap();
    let names: Vec<&str> = buckets.iter().map(|b| b.protocol.as_str()).collect();
    assert!(
        names
            .iter()
            .all(|n| ["tcp", "udp", "icmp", "other", "tunnel"].contains(n)),
        "{names:?}"
    );
    let unknown = session.proxy.get_connections(u32::MAX).await.unwrap_err();
    assert_eq!(
        method_error_name(&unknown).as_deref(),
        Some("io.github.sockeye.Capture1.Error.UnknownProcess")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_releases_every_pcap_handle_and_start_works_again() {
    let session = connect().await;
    let pid = session.helper.pid();
    let mut updates = session.proxy.receive_updated().await.unwrap();
    assert_eq!(
        common::packet_socket_count(pid),
        0,
        "no handle before Start"
    );

    let started = session.proxy.start(100).await;
    assert!(
        started.is_ok(),
        "Start failed: {:?}",
        common::engine_error(&started)
    );
    session
        .proxy
        .start(100)
        .await
        .expect("a second Start is harmless");
    first_update(&mut updates).await;
    assert!(
        common::packet_socket_count(pid) > 0,
        "capturing holds handles"
    );
    assert!(
        common::perf_event_count(pid) > 0,
        "the connect tracepoint, opened before the privilege drop, is in use"
    );

    session.proxy.stop().await.unwrap();
    assert_eq!(
        common::packet_socket_count(pid),
        0,
        "Stop closed every handle"
    );
    assert!(!session.proxy.capturing().await.unwrap());

    session.proxy.start(100).await.expect("Start after Stop");
    first_update(&mut updates).await;
    assert!(common::packet_socket_count(pid) > 0);
    session.proxy.stop().await.unwrap();
    assert_eq!(common::packet_socket_count(pid), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capturing_changes_are_signalled() {
    let session = connect().await;
    let mut changes = session.proxy.receive_capturing_changed().await;
    let started = session.proxy.start(500).await;
    assert!(
        started.is_ok(),
        "Start failed: {:?}",
        common::engine_error(&started)
    );
    // The stream may first yield the value cached before Start (false).
    let turned_true = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(change) = changes.next().await {
            if change.get().await.unwrap() {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(turned_true, Ok(true), "Capturing became true, signalled");
    session.proxy.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_totals_sets_every_total_to_zero() {
    let session = connect().await;
    let mut updates = session.proxy.receive_updated().await.unwrap();
    let started = session.proxy.start(200).await;
    assert!(
        started.is_ok(),
        "Start failed: {:?}",
        common::engine_error(&started)
    );
    first_update(&mut updates).await;
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    // Spread over a second, so the sender is surely attributed; all sent before the reset.
    let sender = common::Sender::start_paced(&[], "127.0.0.1", port, 20, 1000, 50);
    common::receive(&receiver, 20_000);
    let pid = sender.0.id();
    // Every datagram counted (1,000 bytes + UDP, IPv4 and Ethernet headers) before the
    // reset: one still in the kernel's ring when the reset comes (the capture reads a
    // ring block up to a few milliseconds after its first packet) counts after it.
    let all_sent = 20 * (1000 + 8 + 20 + 14);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let update = first_update(&mut updates).await;
        if update
            .processes
            .iter()
            .any(|p| p.pid == pid && p.sent_bytes >= all_sent)
        {
            break;
        }
    }
    assert!(session
        .proxy
        .get_stats()
        .await
        .unwrap()
        .get(&pid)
        .is_some_and(|s| s.0 > 0));

    session.proxy.reset_totals().await.unwrap();
    assert_eq!(
        session
            .proxy
            .get_stats()
            .await
            .unwrap()
            .get(&pid)
            .map(|s| s.0),
        Some(0)
    );
    // The engine agrees from its next interval on (updates queued in the signal stream
    // before the reset still show the old totals).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut sent = None;
    while Instant::now() < deadline && sent != Some(0) {
        let update = first_update(&mut updates).await;
        sent = Some(
            update
                .processes
                .iter()
                .find(|p| p.pid == pid)
                .map_or(0, |p| p.sent_bytes),
        );
    }
    assert_eq!(sent, Some(0));
}
