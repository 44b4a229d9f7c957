//! Root integration tests: the recorder run as its unit runs it (ExecStart's arguments, its
//! capability bounding set, no_new_privs, `$STATE_DIRECTORY`) on a private system bus with
//! a real polkitd, two test users sending known loopback traffic, and tcpdump as the
//! independent count. Run under `flock /tmp/sockeye-root.lock`.

#![allow(clippy::unwrap_used)]

mod fixture;
mod history_tab;
mod prometheus;

use fixture::{Bus, Recorder, TestUser, Traffic};
use sockeye_engine::testing::root_or_skip;
use std::time::Duration;

/// How far the recorder's bytes may be from tcpdump's: 2 %.
const TOLERANCE: f64 = 0.02;

/// The period every test asks for: from a day before 2026-12-01 (older than any of the
/// tests' traffic) to a day from now, in day buckets.
const FROM: u64 = 1_764_460_800;

fn to() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 86_400
}

fn within(recorded: u64, seen: u64) -> bool {
    (recorded as f64 - seen as f64).abs() <= seen as f64 * TOLERANCE
}

#[test]
fn each_user_sees_own_rows_and_sums_and_history_all_sees_every_row() {
    if !root_or_skip("a system bus, polkitd, test users and capture") {
        return;
    }
    let bus = Bus::start();
    let user1 = TestUser::ensure("rcuser1");
    let user2 = TestUser::ensure("rcuser2");
    let recorder = Recorder::start(&bus, None);

    let t1 = Traffic::run(&user1, 41_001, 3_000_000);
    let t2 = Traffic::run(&user2, 41_002, 1_000_000);
    let (seen1, seen2) = (t1.tcpdump_bytes(), t2.tcpdump_bytes());
    eprintln!("tcpdump: user1 {seen1} B, user2 {seen2} B");
    assert!(seen1 > 3_000_000 && seen2 > 1_000_000);

    // Each user's own row, within 2 % of tcpdump, plus the sums; never the other's row.
    let own = |user: &TestUser, seen: u64| {
        let mut last = Vec::new();
        fixture::poll(Duration::from_secs(20), || {
            let rows = bus.usage_as(user, FROM, to(), 86_400);
            last.clone_from(&rows);
            let mine: u64 = rows
                .iter()
                .filter(|r| r.uid == user.uid)
                .map(|r| r.sent_bytes)
                .sum();
            within(mine, seen).then_some(rows)
        })
        .unwrap_or_else(|| {
            panic!(
                "{}'s rows never matched tcpdump's {seen} B: {last:?}",
                user.name
            )
        })
    };
    let rows1 = own(&user1, seen1);
    let rows2 = own(&user2, seen2);
    for (rows, me, other, other_seen) in [
        (&rows1, &user1, &user2, seen2),
        (&rows2, &user2, &user1, seen1),
    ] {
        assert!(
            rows.iter().all(|r| r.uid != other.uid),
            "{}: {rows:?}",
            me.name
        );
        let others: u64 = rows
            .iter()
            .filter(|r| r.app == sockeye_protocol::recorder::OTHER_USERS_APP)
            .map(|r| r.sent_bytes)
            .sum();
        assert!(
            others as f64 >= other_seen as f64 * (1.0 - TOLERANCE),
            "{}: others {others}",
            me.name
        );
        let mine = rows.iter().find(|r| r.uid == me.uid).unwrap();
        assert!(mine.app.starts_with("/usr/bin/python3"), "{mine:?}");
        assert!(
            within(mine.received_bytes, mine.sent_bytes),
            "loopback: sent = received"
        );
    }
    eprintln!("user1 sees: {rows1:?}");

    // history-all through a polkit rule: every row, rcuser2's by name.
    let rule = fixture::PolkitRule::grant_history_all("rcuser1");
    let all = fixture::poll(Duration::from_secs(30), || {
        let rows = bus.usage_as(&user1, FROM, to(), 86_400);
        rows.iter().any(|r| r.uid == user2.uid).then_some(rows)
    })
    .expect("polkit's history-all never showed rcuser2's rows to rcuser1");
    let theirs: u64 = all
        .iter()
        .filter(|r| r.uid == user2.uid)
        .map(|r| r.sent_bytes)
        .sum();
    assert!(within(theirs, seen2), "{theirs} vs {seen2}");
    assert!(all
        .iter()
        .all(|r| r.app != sockeye_protocol::recorder::OTHER_USERS_APP));
    assert!(bus.status_as(&user1).contains("true"), "sees_all");
    drop(rule);
    // rcuser2 still sees only its own.
    assert!(bus
        .usage_as(&user2, FROM, to(), 86_400)
        .iter()
        .all(|r| r.uid != user1.uid));

    // One app split by executable, and the spans the recorder ran.
    let app = rows1
        .iter()
        .find(|r| r.uid == user1.uid)
        .unwrap()
        .app
        .clone();
    let split = bus
        .call_as(
            &user1,
            "GetAppUsage",
            &["sttu", &app, &FROM.to_string(), &to().to_string(), "86400"],
        )
        .unwrap();
    assert!(split.contains(&format!("\"{app}\"")), "{split}");
    let spans = bus
        .call_as(
            &user1,
            "GetSpans",
            &["tt", &FROM.to_string(), &to().to_string()],
        )
        .unwrap();
    assert!(
        spans.contains("\"a(tt)\",\"data\":[[["),
        "one span at least: {spans}"
    );

    // Bad arguments: a D-Bus error with a clear message.
    let error = bus
        .call_as(&user1, "GetUsage", &["ttu", "10", "5", "3600"])
        .unwrap_err();
    assert!(error.contains("after it ends"), "{error}");
    let error = bus
        .call_as(&user1, "GetUsage", &["ttu", "0", "5", "0"])
        .unwrap_err();
    assert!(error.contains("whole number of hours"), "{error}");

    // SIGKILL during traffic, then a restart: what was flushed is still there, the file
    // is sound.
    let before: u64 = fixture::poll(Duration::from_secs(10), || {
        let flushed = recorder.flushed_sent(user1.uid);
        within(flushed, seen1).then_some(flushed)
    })
    .expect("the first traffic was flushed");
    let t3 = Traffic::start(&user1, 41_003, 50_000_000);
    std::thread::sleep(Duration::from_millis(300));
    let state = recorder.kill();
    drop(t3);
    let recorder = Recorder::start(&bus, Some(state));
    assert_eq!(recorder.integrity(), "ok");
    assert!(
        recorder.flushed_sent(user1.uid) >= before,
        "earlier rows intact"
    );
    assert!(
        recorder.moved_aside().is_empty(),
        "a killed recorder's file is not broken"
    );

    // Garbage in place of the database: moved aside, the recorder runs.
    let state = recorder.stop();
    std::fs::write(
        state.path().join("history.sqlite"),
        vec![0x5a_u8; 64 * 1024],
    )
    .unwrap();
    for side in ["history.sqlite-wal", "history.sqlite-shm"] {
        let _ = std::fs::remove_file(state.path().join(side));
    }
    let recorder = Recorder::start(&bus, Some(state));
    assert_eq!(recorder.moved_aside().len(), 1);
    let t4 = Traffic::run(&user2, 41_004, 200_000);
    let seen4 = t4.tcpdump_bytes();
    assert!(fixture::poll(Duration::from_secs(20), || {
        let mine: u64 = bus
            .usage_as(&user2, FROM, to(), 86_400)
            .iter()
            .filter(|r| r.uid == user2.uid)
            .map(|r| r.sent_bytes)
            .sum();
        within(mine, seen4).then_some(())
    })
    .is_some());
    // Clear without history-all (no agent to ask): the caller's own rows only.
    bus.call_as(&user2, "Clear", &[]).unwrap();
    assert!(bus
        .usage_as(&user2, FROM, to(), 86_400)
        .iter()
        .all(|r| r.uid != user2.uid));
    recorder.stop();
}

#[test]
fn a_full_state_directory_keeps_capture_going_and_writing_resumes_when_space_returns() {
    if !root_or_skip("a tmpfs state directory, a system bus and capture") {
        return;
    }
    let bus = Bus::start();
    let user = TestUser::ensure("rcuser1");
    let tmpfs = fixture::SmallTmpfs::mount("2m");
    let recorder = Recorder::start_in(&bus, tmpfs.path());
    let filler = fixture::fill(tmpfs.path());

    let traffic = Traffic::run(&user, 41_005, 2_000_000);
    let seen = traffic.tcpdump_bytes();
    // Capture goes on: the live answer has the traffic although nothing can be written.
    fixture::poll(Duration::from_secs(20), || {
        let rows = bus.usage_as(&user, FROM, to(), 86_400);
        let mine: u64 = rows
            .iter()
            .filter(|r| r.uid == user.uid)
            .map(|r| r.sent_bytes)
            .sum();
        within(mine, seen).then_some(())
    })
    .expect("the traffic shows while the disk is full");
    fixture::poll(Duration::from_secs(20), || {
        let status = bus.status_as(&user);
        fixture::pending_rows(&status).filter(|n| *n > 0)
    })
    .expect("rows wait in memory while the disk is full");

    std::fs::remove_file(filler).unwrap();
    fixture::poll(Duration::from_secs(20), || {
        (fixture::pending_rows(&bus.status_as(&user)) == Some(0)).then_some(())
    })
    .expect("writing resumed");
    let state = recorder.stop();
    let written = fixture::stored_sent(state.path(), user.uid);
    assert!(within(written, seen), "{written} stored vs {seen} seen");
    drop(tmpfs);
}
