//! A process whose command line cannot be read (issue 20, item 2), as the GUI sees it over
//! D-Bus. The victim (`fuse_victim.py`, run as nobody) wedges its own mmap lock behind a
//! read of a FUSE file that never answers, so reading its `/proc/PID/cmdline` hangs: the
//! `Updated` signal must keep arriving at the interval, another process's traffic must be
//! credited to it, and the victim's row must come with its details marked unavailable.

use crate::common::{self, Sender};
use crate::fuse::StalledFuse;
use crate::victim::{Victim, MMAP_LOCK_VICTIM};
use futures_lite::StreamExt;
use sockeye_protocol::{Process, Update};
use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Update interval asked for, in milliseconds.
const INTERVAL_MS: u32 = 200;
/// How long signal arrivals are watched while the victim's command line hangs.
const WATCH: Duration = Duration::from_secs(2);
/// Longest gap allowed between two signals meanwhile: a few intervals.
const MAX_GAP: Duration = Duration::from_millis(5 * INTERVAL_MS as u64);
/// The concurrent sender's datagrams, their payload in bytes and the pause after each in
/// milliseconds: spread over the watch.
const DATAGRAMS: usize = 40;
const PAYLOAD: usize = 1000;
const PAUSE_MS: u64 = 50;

/// Every `Updated` signal's update, with the time it arrived.
type Arrivals = Arc<Mutex<Vec<(Instant, Update)>>>;

/// Longest time without a signal from `from` to `to`: between two arrivals, from `from` to
/// the first or from the last to `to`.
fn longest_gap(arrivals: &[(Instant, Update)], from: Instant, to: Instant) -> Duration {
    let mut times = vec![from];
    times.extend(
        arrivals
            .iter()
            .map(|(at, _)| *at)
            .filter(|at| (from..=to).contains(at)),
    );
    times.push(to);
    times
        .windows(2)
        .map(|pair| pair[1].duration_since(pair[0]))
        .max()
        .unwrap_or_default()
}

/// The row of `pid` in the latest update that carries one.
fn latest_row(arrivals: &Arrivals, pid: u32) -> Option<Process> {
    let arrivals = arrivals.lock().unwrap();
    arrivals
        .iter()
        .rev()
        .find_map(|(_, update)| update.processes.iter().find(|p| p.pid == pid).cloned())
}

/// Command lines the updates delivered for `pid`, in rows or apart.
fn delivered_lines(arrivals: &Arrivals, pid: u32) -> Vec<String> {
    let arrivals = arrivals.lock().unwrap();
    arrivals
        .iter()
        .flat_map(|(_, update)| {
            let in_rows = update.processes.iter().filter(|p| p.pid == pid);
            let apart = update.command_lines.get(&pid);
            in_rows.map(|p| p.cmdline.clone()).chain(apart.cloned())
        })
        .filter(|line| !line.is_empty())
        .collect()
}

/// The victim as it must be shown: credited under its name and user, details unavailable,
/// no command line.
fn victim_shown(process: &Process) -> bool {
    process.sent_bytes > 0
        && process.name == "python3"
        && process.user == "nobody"
        && process.details_unavailable
        && process.cmdline.is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_whose_command_line_hangs_in_fuse_leaves_updates_and_attribution_going() {
    if !sockeye_engine::testing::root_or_skip("the helper captures") {
        return;
    }
    let session = common::connect().await;
    let mut updates = session.proxy.receive_updated().await.unwrap();
    let started = session.proxy.start(INTERVAL_MS).await;
    assert!(
        started.is_ok(),
        "Start failed: {:?}",
        common::engine_error(&started)
    );
    let arrivals: Arrivals = Arc::default();
    let collector = tokio::spawn({
        let arrivals = arrivals.clone();
        async move {
            while let Some(signal) = updates.next().await {
                let update = signal.args().unwrap().update;
                arrivals.lock().unwrap().push((Instant::now(), update));
            }
        }
    });
    let arrived = || arrivals.lock().unwrap().len();
    assert!(
        common::poll_until(Duration::from_secs(10), || arrived() > 0),
        "a first update"
    );

    // The attack, live: a plain read of the victim's command line hangs in FUSE. The
    // victim is dropped (killed, its FUSE connection aborted, reaped) before the helper,
    // also when an assertion fails.
    let victim_receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let victim_port = victim_receiver.local_addr().unwrap().port();
    let fuse = StalledFuse::mount(false);
    let file = fuse.file();
    let mut victim = Victim::start(common::PYTHON, MMAP_LOCK_VICTIM, fuse, &file, victim_port);
    victim.wait_until_wedged();
    let held = victim.hold_a_read("cmdline");
    victim.go();
    common::receive(&victim_receiver, 1);

    // Meanwhile a process of known pid sends over the watch.
    let watch_from = Instant::now();
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let sender = Sender::start_paced(&[], "127.0.0.1", port, DATAGRAMS, PAYLOAD, PAUSE_MS);
    let sender_pid = sender.0.id();
    let datagrams = common::receive(&receiver, DATAGRAMS * PAYLOAD);
    let expected = common::wire_bytes(DATAGRAMS * PAYLOAD, datagrams);
    common::poll_until(2 * WATCH, || watch_from.elapsed() >= WATCH);
    let watch_to = Instant::now();
    let (gap, in_watch) = {
        let arrivals = arrivals.lock().unwrap();
        let within = |(at, _): &&(Instant, Update)| (watch_from..=watch_to).contains(at);
        let in_watch = arrivals.iter().filter(within).count();
        (longest_gap(&arrivals, watch_from, watch_to), in_watch)
    };

    // What the updates show, once they settle.
    let sender_credited = common::poll_until(Duration::from_secs(10), || {
        latest_row(&arrivals, sender_pid).is_some_and(|p| p.sent_bytes == expected)
    });
    let victim_in_updates = common::poll_until(Duration::from_secs(10), || {
        latest_row(&arrivals, victim.pid).is_some_and(|p| victim_shown(&p))
    });
    let sender_lines = delivered_lines(&arrivals, sender_pid);
    let victim_lines = delivered_lines(&arrivals, victim.pid);
    collector.abort();
    let sender_row = latest_row(&arrivals, sender_pid);
    let victim_row = latest_row(&arrivals, victim.pid);

    // What the helper answers when asked.
    let processes = session.proxy.get_processes().await.unwrap();
    let listed = |pid: u32| processes.iter().find(|p| p.pid == pid);
    let answered = session
        .proxy
        .get_command_lines(&[victim.pid, sender_pid])
        .await
        .unwrap();
    let stats = session.proxy.get_stats().await.unwrap();

    eprintln!(
        "SCENARIO command line stuck behind FUSE, over D-Bus: longest gap between Updated \
         signals {} ms over {} ms ({in_watch} signals in it, interval {INTERVAL_MS} ms, \
         {} FUSE requests held); sender {sender_pid} credited {:?} B of {expected} B sent; \
         victim {} shown as {victim_row:?}",
        gap.as_millis(),
        watch_to.duration_since(watch_from).as_millis(),
        victim.reads_held(),
        sender_row.as_ref().map(|p| p.sent_bytes),
        victim.pid,
    );
    assert!(
        gap <= MAX_GAP,
        "Updated stopped for {} ms while the victim's command line hung",
        gap.as_millis()
    );
    assert!(
        sender_credited,
        "the sender's traffic credited to it: {sender_row:?}"
    );
    assert_eq!(stats.get(&sender_pid).map(|s| s.0), Some(expected));
    assert!(
        sender_lines
            .iter()
            .any(|line| line.contains("import socket")),
        "the sender's command line was read all the same: {sender_lines:?}"
    );
    assert!(
        listed(sender_pid)
            .is_some_and(|p| p.cmdline.contains("import socket") && !p.details_unavailable),
        "GetProcesses: {:?}",
        listed(sender_pid)
    );
    assert!(
        answered
            .get(&sender_pid)
            .is_some_and(|line| line.contains("import socket")),
        "GetCommandLines: {answered:?}"
    );
    assert!(victim_in_updates, "the victim in Updated: {victim_row:?}");
    assert!(
        victim_lines.is_empty(),
        "the victim's command line delivered: {victim_lines:?}"
    );
    assert!(
        listed(victim.pid).is_some_and(victim_shown),
        "GetProcesses: {:?}",
        listed(victim.pid)
    );
    assert!(
        answered.get(&victim.pid).is_none_or(String::is_empty),
        "GetCommandLines: {answered:?}"
    );

    drop(victim);
    assert!(
        held.returns_within(Duration::from_secs(5)),
        "aborting the FUSE connection released the held read"
    );
}
