//! Specifications of what each update carries: command lines once, exited rows once, within
//! the byte budgets, and nothing lost when a send fails.

use super::*;
use sockeye_engine::ProcessStats;
use sockeye_protocol::MAX_COMMAND_LINE_BYTES_PER_UPDATE;
use wire_size::encoded;

fn process(pid: u32, cmdline: &str, exited: bool) -> ProcessStats {
    ProcessStats {
        pid,
        name: format!("p{pid}"),
        cmdline: cmdline.to_owned(),
        user: "alice".into(),
        exited,
        sent_bytes: u64::from(pid) * 100,
        ..Default::default()
    }
}

fn snapshot(processes: Vec<ProcessStats>) -> Snapshot {
    Snapshot {
        time: 1,
        interval_ms: 1000,
        processes,
        ..Default::default()
    }
}

/// Composes and sends successfully; returns the update.
fn sent(delivered: &mut Delivered, generation: u64, snapshot: &Snapshot) -> Update {
    let composed = delivered.compose(generation, snapshot);
    assert_eq!(delivered.record(composed.receipt, &Ok(())), None);
    composed.update
}

#[test]
fn a_command_line_is_sent_once_then_again_only_when_it_changes() {
    let mut delivered = Delivered::default();
    let first = sent(
        &mut delivered,
        1,
        &snapshot(vec![process(7, "/bin/a -x", false)]),
    );
    assert_eq!(
        first.command_lines.get(&7).map(String::as_str),
        Some("/bin/a -x")
    );
    assert!(first.processes.iter().all(|p| p.cmdline.is_empty()));

    let second = sent(
        &mut delivered,
        1,
        &snapshot(vec![process(7, "/bin/a -x", false)]),
    );
    assert!(second.command_lines.is_empty());
    assert_eq!(second.processes.len(), 1, "the row itself goes every time");

    // The process exec'd something else (or the pid was reused).
    let third = sent(
        &mut delivered,
        1,
        &snapshot(vec![process(7, "/bin/b", false)]),
    );
    assert_eq!(
        third.command_lines.get(&7).map(String::as_str),
        Some("/bin/b")
    );
}

#[test]
fn an_empty_command_line_is_not_sent_until_it_replaces_another() {
    let mut delivered = Delivered::default();
    let first = sent(&mut delivered, 1, &snapshot(vec![process(7, "", false)]));
    assert!(first.command_lines.is_empty());
    sent(
        &mut delivered,
        1,
        &snapshot(vec![process(7, "/bin/a", false)]),
    );
    let cleared = sent(&mut delivered, 1, &snapshot(vec![process(7, "", false)]));
    assert_eq!(cleared.command_lines.get(&7).map(String::as_str), Some(""));
}

#[test]
fn an_exited_row_is_sent_until_the_client_has_it_and_again_when_it_changes() {
    let mut delivered = Delivered::default();
    let gone = snapshot(vec![
        process(7, "/bin/a", true),
        process(8, "/bin/b", false),
    ]);
    let first = sent(&mut delivered, 1, &gone);
    assert_eq!(first.processes.len(), 2);
    let second = sent(&mut delivered, 1, &gone);
    let pids: Vec<u32> = second.processes.iter().map(|p| p.pid).collect();
    assert_eq!(
        pids,
        [8],
        "the exited row, unchanged, stays with the client"
    );

    // Reset totals: the exited row changed, so it goes again.
    let mut reset = gone.clone();
    reset.processes[0].sent_bytes = 0;
    let third = sent(&mut delivered, 1, &reset);
    assert!(third
        .processes
        .iter()
        .any(|p| p.pid == 7 && p.sent_bytes == 0));
}

#[test]
fn five_hundred_4_kib_command_lines_are_spread_over_updates_within_the_budget() {
    let mut delivered = Delivered::default();
    let line = |pid: u32| format!("{pid:05} {}", "a".repeat(4090));
    let flood = snapshot(
        (0..500)
            .map(|pid| process(pid, &line(pid), pid % 3 == 0))
            .collect(),
    );
    let mut received = HashMap::new();
    let mut updates = 0;
    while received.len() < 500 {
        updates += 1;
        assert!(
            updates <= 20,
            "command lines stopped arriving: {}",
            received.len()
        );
        let update = sent(&mut delivered, 1, &flood);
        let text: usize = update
            .command_lines
            .values()
            .map(|t| wire_size::command_line(t))
            .sum();
        assert!(
            text <= MAX_COMMAND_LINE_BYTES_PER_UPDATE,
            "{text} bytes of command lines"
        );
        assert!(!update.command_lines.is_empty(), "each update carries some");
        let rows: HashSet<u32> = update.processes.iter().map(|p| p.pid).collect();
        for p in &flood.processes {
            // Every running process's totals, in every update.
            assert!(p.exited || rows.contains(&p.pid));
        }
        received.extend(update.command_lines);
    }
    // 500 lines of 4 KiB each (2 MiB), as many as fit in 256 KiB a time: 8 updates.
    let per_update = MAX_COMMAND_LINE_BYTES_PER_UPDATE / wire_size::command_line(&line(0));
    assert_eq!(updates, 500usize.div_ceil(per_update));
    assert!((0..500).all(|pid| received[&pid] == line(pid)));
}

#[test]
fn running_processes_get_their_command_lines_first() {
    let mut delivered = Delivered::default();
    let long = "x".repeat(4000);
    let mut processes: Vec<_> = (0..200).map(|pid| process(pid, &long, true)).collect();
    processes.push(process(1000, "/usr/bin/firefox", false));
    let update = sent(&mut delivered, 1, &snapshot(processes));
    assert!(update.command_lines.contains_key(&1000));
    assert!(update.command_lines.len() < 201);
}

#[test]
fn a_failed_send_is_logged_once_and_its_news_go_with_the_next_update() {
    let mut delivered = Delivered::default();
    let table = snapshot(vec![process(7, "/bin/a", true)]);
    let failure = || Err(zbus::Error::Failure("message too large".into()));
    for attempt in 0..3 {
        let composed = delivered.compose(1, &table);
        assert_eq!(composed.update.command_lines.len(), 1);
        assert_eq!(composed.update.processes.len(), 1);
        let logged = delivered.record(composed.receipt, &failure());
        assert_eq!(logged.is_some(), attempt == 0, "{logged:?}");
    }
    let composed = delivered.compose(1, &table);
    assert_eq!(
        composed.update.command_lines.len(),
        1,
        "still not delivered"
    );
    let logged = delivered.record(composed.receipt, &Ok(()));
    assert!(logged.is_some_and(|l| l.contains("after 3 that failed")));
    let after = sent(&mut delivered, 1, &table);
    assert!(after.command_lines.is_empty() && after.processes.is_empty());
}

#[test]
fn a_new_capture_starts_from_nothing() {
    let mut delivered = Delivered::default();
    let table = snapshot(vec![process(7, "/bin/a", true)]);
    sent(&mut delivered, 1, &table);
    let again = sent(&mut delivered, 2, &table);
    assert_eq!(again.processes.len(), 1);
    assert_eq!(again.command_lines.len(), 1);
}

#[test]
fn a_receipt_of_an_older_capture_teaches_nothing() {
    let mut delivered = Delivered::default();
    let table = snapshot(vec![process(7, "/bin/a", false)]);
    let old = delivered.compose(1, &table);
    let new = delivered.compose(2, &table);
    delivered.record(old.receipt, &Ok(()));
    assert_eq!(delivered.compose(2, &table).update.command_lines.len(), 1);
    delivered.record(new.receipt, &Ok(()));
    assert!(delivered.compose(2, &table).update.command_lines.is_empty());
}

#[test]
fn a_forgotten_pid_that_comes_back_gets_its_command_line_again() {
    let mut delivered = Delivered::default();
    sent(
        &mut delivered,
        1,
        &snapshot(vec![process(7, "/bin/a", false)]),
    );
    sent(&mut delivered, 1, &snapshot(vec![]));
    let back = sent(
        &mut delivered,
        1,
        &snapshot(vec![process(7, "/bin/a", false)]),
    );
    assert_eq!(back.command_lines.len(), 1);
}

#[test]
fn ten_thousand_exited_processes_with_4_kib_lines_stay_under_the_update_budget() {
    let mut delivered = Delivered::default();
    let line = "\u{fffd}".repeat(1365);
    let table = snapshot(
        (0..10_000)
            .map(|pid| ProcessStats {
                app_id: Some("a".repeat(255)),
                ..process(pid, &line, true)
            })
            .collect(),
    );
    let mut sizes = Vec::new();
    for _ in 0..3 {
        let composed = delivered.compose(1, &table);
        let real = encoded(&composed.update);
        assert!(
            real <= composed.receipt.size,
            "{real} > {}",
            composed.receipt.size
        );
        assert!(real <= MAX_UPDATE_BYTES);
        sizes.push(real);
        delivered.record(composed.receipt, &Ok(()));
    }
    // First all rows and 256 KiB of lines; then the rows stay with the client.
    assert!(sizes[0] > 10_000 * 255, "{sizes:?}");
    assert!(
        sizes[1] < MAX_COMMAND_LINE_BYTES_PER_UPDATE + 1024,
        "{sizes:?}"
    );
}

#[test]
fn rows_over_the_budget_are_all_sent_without_command_lines_and_said_once() {
    let mut delivered = Delivered::default();
    // 50,000 running processes with the longest application ids the engine keeps.
    let table = snapshot(
        (0..50_000)
            .map(|pid| ProcessStats {
                app_id: Some("a".repeat(255)),
                ..process(pid, "/bin/a", false)
            })
            .collect(),
    );
    let first = delivered.compose(1, &table);
    assert!(first.receipt.size > MAX_UPDATE_BYTES);
    assert_eq!(
        first.update.processes.len(),
        50_000,
        "the totals are never dropped"
    );
    assert!(first.update.command_lines.is_empty());
    assert!(first
        .warning
        .is_some_and(|w| w.contains("50000 process rows")));
    delivered.record(first.receipt, &Ok(()));
    assert!(delivered.compose(1, &table).warning.is_none(), "said once");
    assert!(
        delivered.compose(2, &table).warning.is_some(),
        "and once a capture"
    );
}
