//! Specifications of the history's headless parts: periods across daylight saving changes,
//! sums per app and slot, gaps, CSV and JSON, and the `--history` options.

#![allow(clippy::unwrap_used)]

use super::cli::{parse, query, HistoryArgs, Output, Since};
use super::export::{csv_field, write_csv, write_json_lines};
use super::period::{Bucket, Period, PeriodKind};
use super::series::{gaps, summarise, Usage, TOP_APPS};
use gtk::glib::{DateTime, TimeZone};
use sockeye_protocol::recorder::{UsageRow, OTHER_USERS_APP, OTHER_USERS_UID};
use std::ffi::OsString;

fn berlin() -> TimeZone {
    TimeZone::from_identifier(Some("Europe/Berlin")).expect("tzdata has Europe/Berlin")
}

fn at(y: i32, m: i32, d: i32, h: i32) -> DateTime {
    DateTime::new(&berlin(), y, m, d, h, 0, 0.0).unwrap()
}

fn utc(y: i32, m: i32, d: i32, h: i32) -> i64 {
    DateTime::from_utc(y, m, d, h, 0, 0.0).unwrap().to_unix()
}

#[test]
fn period_names_round_trip() {
    for kind in PeriodKind::ALL {
        assert_eq!(PeriodKind::from_name(kind.name()), Some(kind));
    }
    assert_eq!(PeriodKind::from_name("forever"), None);
}

#[test]
fn chart_labels_thin_out_to_round_steps() {
    use super::chart::label_step;
    assert_eq!(label_step(40.0, 20.0), 1);
    assert_eq!(label_step(20.0, 20.0), 2);
    // 24 hours on 360 px: labels every 3 or 4 hours, never at odd steps like 5.
    assert_eq!(label_step(10.0, 20.0), 3);
    assert_eq!(label_step(9.0, 30.0), 6);
    assert!(label_step(0.0, 20.0) >= 24);
}

#[test]
fn today_has_23_hours_on_the_spring_change_in_berlin() {
    let slots = Period::current(PeriodKind::Today)
        .slots(&at(2026, 3, 29, 12))
        .unwrap();
    assert_eq!(slots.bucket, Bucket::Hour);
    assert_eq!(slots.len(), 23);
    assert_eq!(slots.start(), utc(2026, 3, 28, 23), "midnight CET");
    assert_eq!(slots.end(), utc(2026, 3, 29, 22), "midnight CEST");
    // The third slot starts at 03:00 local: 02:00 does not exist that night.
    assert_eq!(slots.local(2).unwrap().hour(), 3);
}

#[test]
fn yesterday_has_25_hours_after_the_autumn_change_in_berlin() {
    let slots = Period::current(PeriodKind::Yesterday)
        .slots(&at(2026, 10, 26, 9))
        .unwrap();
    assert_eq!(slots.len(), 25);
    assert_eq!(slots.start(), utc(2026, 10, 24, 22));
    assert_eq!(slots.end(), utc(2026, 10, 25, 23));
    // 02:00 local comes twice.
    assert_eq!(slots.local(2).unwrap().hour(), 2);
    assert_eq!(slots.local(3).unwrap().hour(), 2);
}

#[test]
fn day_slots_start_at_local_midnight_across_a_change() {
    let slots = Period::current(PeriodKind::Last7Days)
        .slots(&at(2026, 4, 1, 20))
        .unwrap();
    assert_eq!(slots.bucket, Bucket::Day);
    assert_eq!(slots.len(), 7);
    for i in 0..slots.len() {
        let day = slots.local(i).unwrap();
        assert_eq!((day.hour(), day.minute()), (0, 0), "slot {i}");
    }
    assert_eq!(slots.local(0).unwrap().ymd(), (2026, 3, 26));
    let lengths: Vec<i64> = slots.starts.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(lengths.iter().filter(|l| **l == 23 * 3600).count(), 1);
    assert_eq!(lengths.iter().filter(|l| **l == 24 * 3600).count(), 6);
    // The instant just before the end is in the last slot, the end in none.
    assert_eq!(slots.index_of(slots.end() - 1), Some(6));
    assert_eq!(slots.index_of(slots.end()), None);
    assert_eq!(slots.index_of(slots.start() - 1), None);
}

#[test]
fn the_week_starts_on_monday_and_steps_back_by_weeks() {
    // Wednesday 9 December 2026.
    let now = at(2026, 12, 9, 15);
    let week = Period::current(PeriodKind::ThisWeek).slots(&now).unwrap();
    assert_eq!(week.local(0).unwrap().ymd(), (2026, 12, 7));
    assert_eq!(week.local(0).unwrap().day_of_week(), 1);
    let before = Period::current(PeriodKind::ThisWeek)
        .shifted(-1)
        .slots(&now)
        .unwrap();
    assert_eq!(before.local(0).unwrap().ymd(), (2026, 11, 30));
    assert_eq!(before.end(), week.start());
    // On a Monday the week is the one starting that day.
    let monday = Period::current(PeriodKind::ThisWeek)
        .slots(&at(2026, 12, 7, 0))
        .unwrap();
    assert_eq!(monday.local(0).unwrap().ymd(), (2026, 12, 7));
}

#[test]
fn months_have_their_own_length_and_never_go_into_the_future() {
    let now = at(2026, 3, 15, 10);
    let march = Period::current(PeriodKind::ThisMonth).slots(&now).unwrap();
    assert_eq!(march.len(), 31, "March, with its 23-hour day, is 31 days");
    let february = Period::current(PeriodKind::ThisMonth)
        .shifted(-1)
        .slots(&now)
        .unwrap();
    assert_eq!(february.len(), 28);
    assert_eq!(february.end(), march.start());
    let december = Period::current(PeriodKind::ThisMonth)
        .shifted(-3)
        .slots(&now)
        .unwrap();
    assert_eq!(december.local(0).unwrap().ymd(), (2025, 12, 1));
    assert_eq!(Period::current(PeriodKind::ThisMonth).shifted(1).offset, 0);
    assert_eq!(
        Period::current(PeriodKind::Today)
            .shifted(-2)
            .shifted(1)
            .offset,
        -1
    );
}

#[test]
fn last_30_days_end_with_today_and_shift_by_30_days() {
    let now = at(2026, 12, 7, 10);
    let last = Period::current(PeriodKind::Last30Days).slots(&now).unwrap();
    assert_eq!(last.len(), 30);
    assert_eq!(last.local(29).unwrap().ymd(), (2026, 12, 7));
    let before = Period::current(PeriodKind::Last30Days)
        .shifted(-1)
        .slots(&now)
        .unwrap();
    assert_eq!(before.end(), last.start());
    assert_eq!(before.len(), 30);
}

fn row(t: i64, app: &str, name: &str, sent: u64, received: u64) -> UsageRow {
    UsageRow {
        bucket_start: u64::try_from(t).unwrap(),
        app: app.into(),
        display_name: name.into(),
        uid: 1000,
        sent_bytes: sent,
        received_bytes: received,
    }
}

#[test]
fn rows_sum_per_app_and_slot_with_the_top_apps_in_their_own_layers() {
    let slots = Period::current(PeriodKind::Today)
        .slots(&at(2026, 12, 7, 12))
        .unwrap();
    let h = |i: i64| slots.start() + 3600 * i;
    let mut rows = vec![
        row(h(0), "org.example.Big", "Big", 100, 900),
        row(h(1), "org.example.Big", "Big", 0, 1000),
        // The same app for another user adds up.
        UsageRow {
            uid: 1001,
            ..row(h(1), "org.example.Big", "Big", 5, 5)
        },
        row(h(1), "/usr/bin/curl", "curl", 10, 20),
        // Outside the day: left out.
        row(h(-1), "org.example.Big", "Big", 1, 1),
        row(slots.end(), "org.example.Big", "Big", 1, 1),
    ];
    for i in 0..TOP_APPS {
        rows.push(row(
            h(2),
            &format!("app{i}"),
            &format!("App {i}"),
            1,
            1 + i as u64,
        ));
    }
    let summary = summarise(rows.iter().map(Usage::from), &slots);
    assert_eq!(summary.stacks.len(), 24);
    let big = &summary.apps[0];
    assert_eq!(
        (big.app.as_str(), big.received, big.sent, big.layer),
        ("org.example.Big", 1905, 105, 0)
    );
    assert_eq!(summary.apps[1].name, "curl");
    assert_eq!(summary.apps.len(), 2 + TOP_APPS);
    // The smallest apps share the last layer.
    let last = summary.apps.last().unwrap();
    assert_eq!((last.name.as_str(), last.layer), ("App 0", TOP_APPS));
    assert_eq!(summary.stacks[0].received[0], 900);
    assert_eq!(summary.stacks[1].received[0], 1005);
    assert_eq!(summary.stacks[1].sent[1], 10);
    assert_eq!(summary.stacks[2].received[TOP_APPS], 1 + 2);
    assert_eq!(
        summary.received,
        1905 + 20 + (1..=TOP_APPS as u64).sum::<u64>()
    );
    assert_eq!(summary.sent, 105 + 10 + TOP_APPS as u64);
}

#[test]
fn gaps_are_the_times_no_span_covers() {
    assert_eq!(gaps(&[], 0, 100), vec![(0, 100)]);
    assert_eq!(gaps(&[(0, 100)], 0, 100), vec![]);
    assert_eq!(
        gaps(&[(50, 60), (10, 20), (15, 30), (90, 200)], 0, 100),
        vec![(0, 10), (30, 50), (60, 90)]
    );
    // Spans outside the range change nothing; a reversed span is ignored.
    assert_eq!(gaps(&[(200, 300), (40, 30)], 0, 100), vec![(0, 100)]);
}

#[test]
fn csv_fields_with_commas_quotes_or_line_breaks_are_quoted() {
    assert_eq!(csv_field("firefox"), "firefox");
    assert_eq!(csv_field("a,b"), "\"a,b\"");
    assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    assert_eq!(csv_field("cr\r"), "\"cr\r\"");
}

#[test]
fn csv_rows_are_sorted_with_local_times() {
    let t = at(2026, 12, 7, 14).to_unix();
    let rows = vec![
        row(t + 3600, "/usr/bin/evil,\"name\"", "evil,\"name\"", 1, 2),
        row(t, "org.example.Big", "Big", 3, 4),
        UsageRow {
            uid: OTHER_USERS_UID,
            ..row(t, OTHER_USERS_APP, "", 5, 6)
        },
    ];
    let mut out = Vec::new();
    write_csv(&rows, &berlin(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "bucket_start,app,name,uid,received_bytes,sent_bytes"
    );
    assert_eq!(
        lines[1],
        format!("2026-12-07T14:00:00+01:00,{OTHER_USERS_APP},Other Users,{OTHER_USERS_UID},6,5")
    );
    assert_eq!(
        lines[2],
        "2026-12-07T14:00:00+01:00,org.example.Big,Big,1000,4,3"
    );
    assert_eq!(
        lines[3],
        "2026-12-07T15:00:00+01:00,\"/usr/bin/evil,\"\"name\"\"\",\"evil,\"\"name\"\"\",1000,2,1"
    );
    assert_eq!(lines[4], "", "the file ends with a line break");
}

#[test]
fn json_lines_carry_one_row_each() {
    let t = at(2026, 7, 1, 0).to_unix();
    let mut out = Vec::new();
    write_json_lines(
        &[row(t, "org.example.Big", "Big \"B\"", 3, 4)],
        &berlin(),
        &mut out,
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    let value: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(
        value,
        serde_json::json!({
            "bucket_start": "2026-07-01T00:00:00+02:00",
            "app": "org.example.Big",
            "name": "Big \"B\"",
            "uid": 1000,
            "sent_bytes": 3,
            "received_bytes": 4,
        })
    );
}

fn args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

#[test]
fn history_options_parse() {
    assert_eq!(
        parse(&[]).unwrap(),
        HistoryArgs {
            since: Since::Hours(24),
            by: None,
            output: Output::Table
        }
    );
    assert_eq!(
        parse(&args(&["--since", "7d", "--by", "hour", "--json"])).unwrap(),
        HistoryArgs {
            since: Since::Days(7),
            by: Some(Bucket::Hour),
            output: Output::Json
        }
    );
    assert_eq!(
        parse(&args(&["--since=2026-12-01", "--csv"]))
            .unwrap()
            .since,
        Since::Date(2026, 12, 1)
    );
    for bad in [
        &["--since"][..],
        &["--since", "7w"],
        &["--since", "0d"],
        &["--since", "2026-02-30"],
        &["--since", "-5h"],
        &["--by", "week"],
        &["--csv", "--json"],
        &["--verbose"],
    ] {
        assert!(parse(&args(bad)).is_err(), "{bad:?} must be refused");
    }
}

#[test]
fn history_queries_start_on_a_whole_bucket() {
    let now = DateTime::new(&berlin(), 2026, 12, 7, 14, 25, 30.0).unwrap();
    let (from, to, bucket) = query(&parse(&[]).unwrap(), &now).unwrap();
    assert_eq!(bucket, Bucket::Hour);
    assert_eq!(to, u64::try_from(now.to_unix()).unwrap());
    assert_eq!(from, u64::try_from(at(2026, 12, 6, 14).to_unix()).unwrap());

    let (from, _, bucket) = query(&parse(&args(&["--since", "7d"])).unwrap(), &now).unwrap();
    assert_eq!(bucket, Bucket::Day);
    assert_eq!(from, u64::try_from(at(2026, 11, 30, 0).to_unix()).unwrap());

    let (from, _, bucket) = query(
        &parse(&args(&["--since", "2026-12-01", "--by", "hour"])).unwrap(),
        &now,
    )
    .unwrap();
    assert_eq!(bucket, Bucket::Hour);
    assert_eq!(from, u64::try_from(at(2026, 12, 1, 0).to_unix()).unwrap());
}
