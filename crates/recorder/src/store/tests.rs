#![allow(clippy::unwrap_used)]
//! The store against real SQLite files: migrations, hours into days, retention, files
//! that are not a history, a full disk (a real tmpfs, root) and a SIGKILL mid-write.

use super::*;
use crate::pending::Pending;
use crate::usage::{Counters, HOUR_S};
use sockeye_engine::testing::root_or_skip;

const T0: u64 = 1_765_000_800; // some hour in December 2025

fn bytes(sent: u64, received: u64) -> Counters {
    Counters {
        sent_bytes: sent,
        received_bytes: received,
        sent_packets: 1,
        received_packets: 1,
    }
}

fn rows_of(items: &[(u64, &str, u32, u64)]) -> BTreeMap<(Slot, UsageKey), PendingValue> {
    let mut pending = Pending::default();
    for (time, app, uid, n) in items {
        pending.add(
            Slot::of_time(*time),
            UsageKey::process(app, app, *uid),
            app,
            &bytes(*n, 2 * *n),
        );
    }
    pending.take()
}

fn total_sent(entries: &[crate::usage::UsageEntry]) -> u64 {
    entries.iter().map(|e| e.counters.sent_bytes).sum()
}

#[test]
fn a_new_file_gets_the_current_schema_and_reopens_clean() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let (mut store, moved) = Store::open(&path).unwrap();
    assert!(moved.is_none());
    store
        .write(&rows_of(&[(T0, "/bin/a", 1000, 10)]), T0, T0 + 1)
        .unwrap();
    drop(store);
    let (store, moved) = Store::open(&path).unwrap();
    assert!(moved.is_none());
    let version: i64 = store
        .connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, CURRENT_VERSION);
    let entries = store
        .usage(Kind::Process, T0 - T0 % 3600, T0 + 3600, 3600)
        .unwrap();
    assert_eq!(total_sent(&entries), 10);
}

#[test]
fn an_older_schema_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    // Version 0 with no tables: what an interrupted first start leaves.
    drop(Connection::open(&path).unwrap());
    let (store, moved) = Store::open(&path).unwrap();
    assert!(moved.is_none());
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn a_version_1_file_with_data_is_migrated_without_losing_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let hour = T0 - T0 % HOUR_S;
    let day = crate::localtime::local_midnight(hour);
    let old_day = crate::localtime::local_midnight(day - 100 * DAY_S);
    {
        // What version 1 wrote: a row per hour, and each hour's day row.
        let connection = Connection::open(&path).unwrap();
        connection.execute_batch(schema::VERSION_1).unwrap();
        connection.pragma_update(None, "user_version", 1).unwrap();
        connection
            .execute_batch(
                "INSERT INTO keys VALUES (1, 0, '/bin/a', '/bin/a', 1000, 'a'), \
                 (2, 0, '/bin/b', '/bin/b', 1001, 'b');",
            )
            .unwrap();
        let hour_rows = [
            (hour, 1, 10, 20),
            (hour + HOUR_S, 1, 7, 14),
            (hour, 2, 5, 6),
            // An hour whose day row is missing: it gets one of its own.
            (hour - 2 * DAY_S, 2, 3, 4),
        ];
        for (start, key, sent, received) in hour_rows {
            connection
                .execute(
                    "INSERT INTO usage_hour VALUES (?1, ?2, ?3, ?4, 1, 2)",
                    params![int(start), key, sent, received],
                )
                .unwrap();
        }
        for (start, key, sent, received) in [(day, 1, 17, 34), (day, 2, 5, 6), (old_day, 1, 9, 9)] {
            connection
                .execute(
                    "INSERT INTO usage_day VALUES (?1, ?2, ?3, ?4, 2, 4)",
                    params![int(start), key, sent, received],
                )
                .unwrap();
        }
    }
    let (store, moved) = Store::open(&path).unwrap();
    assert!(moved.is_none());
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let version: i64 = store
        .connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, CURRENT_VERSION);
    let hours = store
        .usage(Kind::Process, hour, hour + 2 * HOUR_S, HOUR_S)
        .unwrap();
    let found: Vec<(u64, &str, u64, u64)> = hours
        .iter()
        .map(|e| {
            (
                e.bucket_start,
                e.key.executable.as_str(),
                e.counters.sent_bytes,
                e.counters.received_packets,
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            (hour, "/bin/a", 10, 2),
            (hour, "/bin/b", 5, 2),
            (hour + HOUR_S, "/bin/a", 7, 2)
        ]
    );
    let orphan = store
        .usage(
            Kind::Process,
            hour - 2 * DAY_S,
            hour - 2 * DAY_S + HOUR_S,
            HOUR_S,
        )
        .unwrap();
    assert_eq!(total_sent(&orphan), 3, "{orphan:?}");
    let days = store
        .usage(Kind::Process, old_day, day + DAY_S, DAY_S)
        .unwrap();
    assert_eq!(total_sent(&days), 17 + 5 + 9 + 3, "{days:?}");
    let tables: i64 = store
        .connection
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'usage_hour'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0, "the hour rows' table is gone");
}

#[test]
fn hours_add_up_within_an_hour_and_days_hold_every_hour() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = Store::open(&dir.path().join("h.sqlite")).unwrap();
    let hour = T0 - T0 % HOUR_S;
    store
        .write(
            &rows_of(&[
                (hour + 5, "/bin/a", 1000, 10),
                (hour + 3000, "/bin/a", 1000, 5),
            ]),
            hour,
            hour + 1,
        )
        .unwrap();
    store
        .write(
            &rows_of(&[(hour + HOUR_S + 1, "/bin/a", 1000, 7)]),
            hour,
            hour + HOUR_S + 2,
        )
        .unwrap();
    let hours = store
        .usage(Kind::Process, hour, hour + 2 * HOUR_S, 3600)
        .unwrap();
    assert_eq!(hours.len(), 2);
    assert_eq!(hours[0].bucket_start, hour);
    assert_eq!(hours[0].counters.sent_bytes, 15);
    assert_eq!(hours[0].counters.received_bytes, 30);
    let day = crate::localtime::local_midnight(hour);
    let days = store.usage(Kind::Process, day, day + DAY_S, DAY_S).unwrap();
    assert_eq!(total_sent(&days), 22);
    assert_eq!(
        store.spans(0, u64::MAX).unwrap(),
        vec![(hour, hour + HOUR_S + 2)]
    );
}

#[test]
fn old_hours_roll_into_days_and_old_days_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = Store::open(&dir.path().join("h.sqlite")).unwrap();
    let now = T0;
    let old = now - 100 * DAY_S; // past hourly_days = 90
    let ancient = now - 800 * DAY_S; // past retention_days = 730
    store
        .write(
            &rows_of(&[
                (old, "/bin/a", 1000, 4),
                (old + HOUR_S, "/bin/a", 1000, 6),
                (ancient, "/bin/a", 1000, 9),
            ]),
            ancient,
            now,
        )
        .unwrap();
    store.prune(now, 90, 730).unwrap();
    let from = now - 200 * DAY_S;
    let hours = store.usage(Kind::Process, from, now, 3600).unwrap();
    assert_eq!(
        hours.len(),
        1,
        "one day row stands for the old hours: {hours:?}"
    );
    assert_eq!(hours[0].counters.sent_bytes, 10);
    assert_eq!(hours[0].bucket_start % HOUR_S, 0);
    let all = store.usage(Kind::Process, 0, now, DAY_S).unwrap();
    assert_eq!(total_sent(&all), 10, "the 800-day-old row is gone");
    let spans = store.spans(0, u64::MAX).unwrap();
    assert_eq!(
        spans,
        vec![(ancient, now)],
        "a span that ends recently stays"
    );
}

#[test]
fn garbage_in_place_of_the_database_is_moved_aside_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let garbage: Vec<u8> = (0..20_000_u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    let (mut store, moved) = Store::open(&path).unwrap();
    let moved = moved.expect("moved aside");
    assert!(moved.to_string_lossy().contains("history.sqlite.broken-"));
    assert_eq!(std::fs::read(&moved).unwrap(), garbage, "kept as it was");
    store
        .write(&rows_of(&[(T0, "/bin/a", 1, 1)]), T0, T0)
        .unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn a_database_of_another_schema_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let other = Connection::open(&path).unwrap();
    other
        .execute_batch(
            "CREATE TABLE photos (id INTEGER, blob BLOB); INSERT INTO photos VALUES (1, x'00');",
        )
        .unwrap();
    drop(other);
    let (_, moved) = Store::open(&path).unwrap();
    assert!(moved.is_some());

    // A newer schema than this build knows is kept too, not migrated "down".
    let path = dir.path().join("newer.sqlite");
    let newer = Connection::open(&path).unwrap();
    newer
        .pragma_update(None, "user_version", CURRENT_VERSION + 5)
        .unwrap();
    drop(newer);
    let (_, moved) = Store::open(&path).unwrap();
    assert!(moved.is_some());
}

#[test]
fn clearing_one_user_keeps_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = Store::open(&dir.path().join("h.sqlite")).unwrap();
    store
        .write(
            &rows_of(&[(T0, "/bin/a", 1000, 1), (T0, "/bin/b", 1001, 2)]),
            T0,
            T0,
        )
        .unwrap();
    store.clear(Some(1000)).unwrap();
    let left = store.usage(Kind::Process, 0, T0 + DAY_S, DAY_S).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].key.uid, 1001);
    store.clear(None).unwrap();
    assert!(store
        .usage(Kind::Process, 0, T0 + DAY_S, DAY_S)
        .unwrap()
        .is_empty());
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct SmallTmpfs(tempfile::TempDir);

impl SmallTmpfs {
    fn mount(size: &str) -> SmallTmpfs {
        let dir = tempfile::Builder::new()
            .prefix("rc-tmpfs-")
            .tempdir()
            .unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "rc-tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount tmpfs");
        SmallTmpfs(dir)
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

/// Fills the file system holding `dir` up with a file, to the last byte it takes.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = vec![0xa5_u8; 4096];
    while file.write_all(&block).is_ok() {}
    while file.write_all(&block[..1]).is_ok() {}
    let _ = file.sync_all();
    filler
}

#[test]
fn on_a_full_disk_writes_fail_rows_stay_pending_and_succeed_once_space_returns() {
    if !root_or_skip("a tmpfs for the full-disk test") {
        return;
    }
    let tmpfs = SmallTmpfs::mount("1m");
    let path = tmpfs.0.path().join("history.sqlite");
    let (mut store, _) = Store::open(&path).unwrap();
    store
        .write(&rows_of(&[(T0, "/bin/early", 1000, 123)]), T0, T0)
        .unwrap();
    let filler = fill(tmpfs.0.path());

    let mut pending = Pending::default();
    let mut expected = 0;
    for i in 0..3000_u64 {
        let app = format!("/usr/bin/app-with-a-long-name-{i}");
        pending.add(
            Slot::of_time(T0 + 3600),
            UsageKey::process(&app, &app, 1000),
            &app,
            &bytes(i, i),
        );
        expected += i;
    }
    let batch = pending.take();
    let error = store.write(&batch, T0, T0 + 3600).unwrap_err();
    assert!(error.to_string().contains("full"), "{error}");
    pending.restore(batch);
    assert_eq!(pending.len(), 3000, "nothing given up");
    // Earlier rows are intact and readable while the disk is full.
    let early = store
        .usage(Kind::Process, T0 - T0 % 3600, T0 + 1, 3600)
        .unwrap();
    assert_eq!(total_sent(&early), 123);

    std::fs::remove_file(filler).unwrap();
    store.write(&pending.take(), T0, T0 + 3601).unwrap();
    let all = store
        .usage(Kind::Process, 0, T0 + 2 * DAY_S, DAY_S)
        .unwrap();
    assert_eq!(total_sent(&all), expected + 123);
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

/// The child of the SIGKILL test: writes a batch every millisecond until killed. Run only
/// as that child (the variable names the file).
#[test]
fn sigkill_child_writes_until_killed() {
    let Some(path) = std::env::var_os("RC_SIGKILL_CHILD_DB") else {
        return;
    };
    let (mut store, _) = Store::open(Path::new(&path)).unwrap();
    for i in 0_u64.. {
        let app = format!("/bin/app{}", i % 50);
        store
            .write(&rows_of(&[(T0 + i, &app, 1000, 1)]), T0, T0 + i)
            .unwrap();
        if i == 20 {
            std::fs::write(format!("{}.ready", path.to_string_lossy()), b"").unwrap();
        }
    }
}

#[test]
fn a_sigkill_in_the_middle_of_writes_leaves_a_clean_file_with_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let ready = dir.path().join("history.sqlite.ready");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store::tests::sigkill_child_writes_until_killed",
            "--nocapture",
        ])
        .env("RC_SIGKILL_CHILD_DB", &path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !ready.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the child never wrote"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let (store, moved) = Store::open(&path).unwrap();
    assert!(moved.is_none(), "the killed writer's file opens as it is");
    assert_eq!(store.integrity_check().unwrap(), "ok");
    // Every committed batch is whole: one byte per batch, and the span ends at the last.
    let sent = total_sent(&store.usage(Kind::Process, 0, u64::MAX / 2, DAY_S).unwrap());
    let spans = store.spans(0, u64::MAX).unwrap();
    assert_eq!(spans.len(), 1);
    assert!(sent > 20);
    assert_eq!(
        sent,
        spans[0].1 - T0 + 1,
        "rows and span committed together"
    );
}
