//! A year of history for 500 apps × 3 users, as the recorder leaves it in steady state
//! (the last `hourly_days` = 90 days hourly, every day as a day row): prints the database's
//! size (target < 100 MB) and how long `GetUsage` takes, without the bus, for "the last 30
//! days by day" and "today by hour" (target < 50 ms each), for a user and for `history-all`.
//!
//! `cargo bench -p sockeye-recorder --bench history` (about a minute; the file is written
//! to a temporary directory and removed).

use sockeye_recorder::pending::Pending;
use sockeye_recorder::store::Store;
use sockeye_recorder::usage::{Counters, Kind, Slot, UsageKey, DAY_S, HOUR_S};
use sockeye_recorder::visibility::{usage_rows, Viewer};
use std::time::Instant;

const APPS: u64 = 500;
const USERS: [u32; 3] = [1000, 1001, 0];
const DAYS: u64 = 365;
const HOURLY_DAYS: u64 = 90;

/// Deterministic, varied byte counts (a few kB to a few hundred MB an hour).
fn amount(seed: u64) -> u64 {
    let x = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    1000 + (x >> 33) % 300_000_000 / (1 + (x >> 20) % 1000)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("history.sqlite");
    let (mut store, _) = Store::open(&path)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let today = sockeye_recorder::localtime::local_midnight(now);
    let first_day = today - (DAYS - 1) * DAY_S;
    let keys: Vec<(UsageKey, String)> = USERS
        .iter()
        .flat_map(|uid| {
            (0..APPS).map(move |app| {
                let path = format!("/usr/bin/application-number-{app}");
                (
                    UsageKey::process(&path, &path, *uid),
                    format!("application-number-{app}"),
                )
            })
        })
        .collect();

    let started = Instant::now();
    for day_index in 0..DAYS {
        let day = first_day + day_index * DAY_S;
        let mut pending = Pending::default();
        let hourly = day_index >= DAYS - HOURLY_DAYS;
        for hour in 0..24 {
            let start = day + hour * HOUR_S;
            for (n, (key, name)) in keys.iter().enumerate() {
                let seed = start ^ (n as u64) << 40;
                let counters = Counters {
                    sent_bytes: amount(seed),
                    received_bytes: amount(seed + 1),
                    sent_packets: amount(seed) / 1200,
                    received_packets: amount(seed + 1) / 1200,
                };
                let slot = Slot {
                    day,
                    hour: hourly.then_some(start),
                };
                pending.add(slot, key.clone(), name, &counters);
            }
        }
        store.write(&pending.take(), first_day, day + DAY_S)?;
    }
    store.checkpoint()?;
    let built = started.elapsed();
    let size = store.size_on_disk();
    println!(
        "built {} days ({} hourly) of {} apps x {} users in {:.1} s",
        DAYS,
        HOURLY_DAYS,
        APPS,
        USERS.len(),
        built.as_secs_f64()
    );
    println!(
        "database size: {:.1} MB (target < 100 MB)",
        size as f64 / 1e6
    );

    let cases = [
        (
            "last 30 days by day",
            today - 29 * DAY_S,
            today + DAY_S,
            DAY_S,
        ),
        ("today by hour", today, today + DAY_S, HOUR_S),
    ];
    for (label, from, to, bucket) in cases {
        for (viewer_label, viewer) in [
            ("user 1000", Viewer::User(1000)),
            ("history-all", Viewer::All),
        ] {
            let mut best = f64::MAX;
            let mut rows = 0;
            for _ in 0..5 {
                let t = Instant::now();
                let entries = store.usage(Kind::Process, from, to, bucket)?;
                rows = usage_rows(&entries, viewer).len();
                best = best.min(t.elapsed().as_secs_f64() * 1000.0);
            }
            println!(
                "GetUsage {label}, {viewer_label}: {best:.1} ms ({rows} rows; target < 50 ms)"
            );
        }
    }
    Ok(())
}
