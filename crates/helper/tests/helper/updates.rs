//! The `Updated` signal stays small and keeps coming when short-lived processes with huge
//! arguments flood the process table (issue 20, item 3).

use crate::common::{self, Sender};
use futures_lite::StreamExt;
use sockeye_protocol::{
    Update, MAX_COMMAND_LINE_BYTES_PER_REPLY, MAX_COMMAND_LINE_BYTES_PER_UPDATE, MAX_UPDATE_BYTES,
};
use std::collections::{HashMap, HashSet};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many short-lived processes flood the table, and the size of each one's argument.
const FLOOD: usize = 500;
const ARGUMENT: usize = 64 * 1024;
/// Processes alive at once; each keeps its socket for [`LINGER_S`] after sending, so that
/// the engine surely sees who sent it.
const BATCH: usize = 50;
const LINGER_S: u32 = 2;

/// What the test saw of one `Updated` signal.
struct Seen {
    /// The whole D-Bus message, header included, in bytes.
    size: usize,
    /// Bytes of command-line text it carried.
    command_line_bytes: usize,
    /// Pids it carried a row for, and command lines it carried (by pid).
    pids: Vec<u32>,
    command_lines: Vec<(u32, String)>,
}

/// The text before the filler of flood process `index`'s argument.
fn marker(index: usize) -> String {
    format!("sockeye-flood-{index:04}-")
}

/// Runs flood process `index`: bash sends one datagram to `port`, waits [`LINGER_S`] and
/// exits, with a 64 KiB argument in its command line.
fn flood_process(index: usize, port: u16) -> std::process::Child {
    let mut argument = marker(index);
    argument.push_str(&"a".repeat(ARGUMENT - argument.len()));
    Command::new("bash")
        .arg("-c")
        .arg(format!(
            "exec 3>/dev/udp/127.0.0.1/{port}; echo x >&3; read -t {LINGER_S} -u 3"
        ))
        .arg("sockeye-flood")
        .arg(argument)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// Bytes of command-line text an update carries.
fn command_line_bytes(update: &Update) -> usize {
    let in_rows: usize = update.processes.iter().map(|p| p.cmdline.len()).sum();
    in_rows
        + update
            .command_lines
            .values()
            .map(String::len)
            .sum::<usize>()
}

/// The command lines an update carries.
fn command_lines(update: &Update) -> Vec<(u32, String)> {
    update
        .command_lines
        .iter()
        .map(|(pid, line)| (*pid, line.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_short_lived_processes_with_64_kib_arguments_keep_updates_small_and_coming() {
    if !sockeye_engine::testing::root_or_skip("the helper captures") {
        return;
    }
    let session = common::connect().await;
    let mut updates = session.proxy.receive_updated().await.unwrap();
    session.proxy.start(200).await.expect("Start");
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let collector = tokio::spawn({
        let seen = seen.clone();
        async move {
            while let Some(signal) = updates.next().await {
                let size = signal.message().data().len();
                let update = signal.args().unwrap().update;
                seen.lock().unwrap().push(Seen {
                    size,
                    command_line_bytes: command_line_bytes(&update),
                    pids: update.processes.iter().map(|p| p.pid).collect(),
                    command_lines: command_lines(&update),
                });
            }
        }
    });
    let arrived = || seen.lock().unwrap().len();
    assert!(
        common::poll_until(Duration::from_secs(10), || arrived() > 0),
        "a first update"
    );

    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let started = Instant::now();
    let mut flood_pids = HashMap::new();
    for batch in (0..FLOOD).collect::<Vec<_>>().chunks(BATCH) {
        let children: Vec<_> = batch.iter().map(|&i| (i, flood_process(i, port))).collect();
        for (index, mut child) in children {
            flood_pids.insert(child.id(), index);
            // `read` times out: status 142.
            child.wait().unwrap();
        }
    }
    let flood_time = started.elapsed();
    let after_flood = arrived();

    // Updates keep arriving after the flood, and carry a process that starts now.
    let sender = Sender::start_paced(&[], "127.0.0.1", port, 20, 100, 50);
    let sender_pid = sender.0.id();
    let carried = |pid: u32| seen.lock().unwrap().iter().any(|s| s.pids.contains(&pid));
    let sender_carried = common::poll_until(Duration::from_secs(30), || carried(sender_pid));
    let kept_coming = common::poll_until(Duration::from_secs(10), || arrived() > after_flood + 5);
    let since_flood = arrived() - after_flood;

    // Every flood process an update carried gets its command line, sooner or later.
    let flooded_in_updates = || -> HashSet<u32> {
        let seen = seen.lock().unwrap();
        seen.iter()
            .flat_map(|s| s.pids.iter().copied())
            .filter(|pid| flood_pids.contains_key(pid))
            .collect()
    };
    let with_command_line = || -> HashMap<u32, String> {
        let seen = seen.lock().unwrap();
        seen.iter()
            .flat_map(|s| s.command_lines.iter().cloned())
            .collect()
    };
    let all_delivered = || {
        let lines = with_command_line();
        flooded_in_updates()
            .iter()
            .all(|pid| lines.contains_key(pid))
    };
    common::poll_until(Duration::from_secs(20), all_delivered);
    collector.abort();
    let flooded = flooded_in_updates();
    let lines: HashMap<u32, String> = with_command_line()
        .into_iter()
        .filter(|(pid, _)| flooded.contains(pid))
        .collect();
    // What the helper has: each carried pid's line must have reached the client as it is
    // there (empty when the process was gone before the engine read it).
    let processes = session.proxy.get_processes().await.unwrap();
    let helper_has: HashMap<u32, &str> = processes
        .iter()
        .filter(|p| flooded.contains(&p.pid))
        .map(|p| (p.pid, p.cmdline.as_str()))
        .collect();
    let unread = helper_has.values().filter(|line| line.is_empty()).count();
    let undelivered: Vec<u32> = flooded
        .iter()
        .copied()
        .filter(|pid| {
            let had = helper_has.get(pid).copied().unwrap_or_default();
            lines.get(pid).map(String::as_str).unwrap_or_default() != had
        })
        .collect();
    let with_marker = lines
        .iter()
        .filter(|(pid, line)| line.contains(&marker(flood_pids[pid])))
        .count();

    // Asked for at once: known pids answered as the helper has them, an unknown one left
    // out, the reply bounded.
    let asked: Vec<u32> = flooded.iter().copied().take(10).chain([u32::MAX]).collect();
    let answered = session.proxy.get_command_lines(&asked).await.unwrap();
    assert!(!answered.contains_key(&u32::MAX));
    for pid in &asked[..asked.len() - 1] {
        assert_eq!(
            answered.get(pid).map(String::as_str),
            helper_has.get(pid).copied(),
            "pid {pid}"
        );
    }
    let everything: Vec<u32> = flooded.iter().copied().cycle().take(200_000).collect();
    let reply = session.proxy.get_command_lines(&everything).await.unwrap();
    let reply_text: usize = reply.values().map(String::len).sum();
    assert!(!reply.is_empty() && reply_text <= MAX_COMMAND_LINE_BYTES_PER_REPLY);

    let seen = seen.lock().unwrap();
    let largest = seen.iter().map(|s| s.size).max().unwrap_or(0);
    let most_text = seen.iter().map(|s| s.command_line_bytes).max().unwrap_or(0);
    let last = seen.last().map_or(0, |s| s.size);
    eprintln!(
        "{} updates; flood of {FLOOD} took {flood_time:?}; {} flood pids carried, {} with \
         their command line ({with_marker} with its 64 KiB argument), {unread} never read; \
         largest signal {largest} B, last {last} B; most command-line text in one signal \
         {most_text} B",
        seen.len(),
        flooded.len(),
        lines.len(),
    );
    assert!(
        sender_carried,
        "an update after the flood carries the new sender"
    );
    assert!(
        kept_coming,
        "updates keep arriving: {since_flood} since the flood ended"
    );
    // More of them than one update's command lines hold, or nothing was put off.
    assert!(
        with_marker * ARGUMENT.min(4096) > MAX_COMMAND_LINE_BYTES_PER_UPDATE,
        "the engine read too few flood command lines for this test to mean anything: \
         {with_marker}"
    );
    assert_eq!(
        undelivered, [0u32; 0],
        "flood pids whose command line the helper has but never sent"
    );
    for s in seen.iter() {
        assert!(
            s.size <= MAX_UPDATE_BYTES,
            "a signal of {} B, over the bound of {MAX_UPDATE_BYTES} B",
            s.size
        );
        assert!(
            s.command_line_bytes <= MAX_COMMAND_LINE_BYTES_PER_UPDATE,
            "{} B of command lines in one signal",
            s.command_line_bytes
        );
    }
}
