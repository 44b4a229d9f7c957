//! `sockeye --history` against a fake recorder on a private bus that plays the system bus:
//! the JSON lines and CSV carry the recorder's rows with local times, days are summed, and
//! with no recorder the command says how to turn history on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_recorder;

use fake_recorder::{this_hour, usage, FakeRecorder, PrivateBus, Recorded};
use sockeye_protocol::recorder::{OTHER_USERS_APP, OTHER_USERS_UID};
use std::process::{Command, Output};

/// The time zone both the app and the test compute local times in.
const TZ: &str = "Europe/Berlin";

fn sockeye(bus: &PrivateBus, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sockeye"))
        .arg("--history")
        .args(args)
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
        .env("TZ", TZ)
        .env("LC_ALL", "C")
        .env("LANGUAGE", "C")
        .output()
        .expect("run sockeye --history")
}

fn iso(t: u64) -> String {
    let tz = gtk::glib::TimeZone::from_identifier(Some(TZ)).unwrap();
    gtk::glib::DateTime::from_unix_utc(t as i64)
        .unwrap()
        .to_timezone(&tz)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .unwrap()
        .to_string()
}

fn known_rows() -> (u64, Recorded) {
    let hour = this_hour() - 2 * 3600;
    let recorded = Recorded {
        rows: vec![
            usage(hour + 3600, "/usr/bin/curl", "curl,\"x\"", 1000, 10, 20),
            usage(hour, "org.example.Browser", "Browser", 1000, 1234, 56_789),
            usage(hour, OTHER_USERS_APP, "", OTHER_USERS_UID, 7, 8),
            // Two days ago: outside --since 24h.
            usage(
                hour - 48 * 3600,
                "org.example.Browser",
                "Browser",
                1000,
                1,
                1,
            ),
        ],
        executables: Vec::new(),
        spans: vec![(hour - 72 * 3600, hour + 7200)],
    };
    (hour, recorded)
}

#[test]
fn history_prints_the_recorders_rows_as_json_lines_and_csv() {
    std::env::set_var("TZ", TZ);
    let bus = PrivateBus::start();
    let (hour, recorded) = known_rows();
    let _recorder = FakeRecorder::serve(&bus.address, recorded);

    let out = sockeye(&bus, &["--since", "24h", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        vec![
            serde_json::json!({"bucket_start": iso(hour), "app": OTHER_USERS_APP,
                "name": "Other Users", "uid": OTHER_USERS_UID, "sent_bytes": 7, "received_bytes": 8}),
            serde_json::json!({"bucket_start": iso(hour), "app": "org.example.Browser",
                "name": "Browser", "uid": 1000, "sent_bytes": 1234, "received_bytes": 56_789}),
            serde_json::json!({"bucket_start": iso(hour + 3600), "app": "/usr/bin/curl",
                "name": "curl,\"x\"", "uid": 1000, "sent_bytes": 10, "received_bytes": 20}),
        ]
    );

    let out = sockeye(&bus, &["--since", "24h", "--csv"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "bucket_start,app,name,uid,received_bytes,sent_bytes\r\n\
             {t0},{OTHER_USERS_APP},Other Users,{OTHER_USERS_UID},8,7\r\n\
             {t0},org.example.Browser,Browser,1000,56789,1234\r\n\
             {t1},/usr/bin/curl,\"curl,\"\"x\"\"\",1000,20,10\r\n",
            t0 = iso(hour),
            t1 = iso(hour + 3600)
        )
    );

    // By day over three days: the Browser's two rows fall on different days.
    let out = sockeye(&bus, &["--since", "3d", "--by", "day", "--json"]);
    assert!(out.status.success());
    let browser: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["app"] == "org.example.Browser")
        .collect();
    assert_eq!(browser.len(), 2);
    assert!(browser
        .iter()
        .all(|v| v["bucket_start"].as_str().unwrap().contains("T00:00:00")));
    assert_eq!(browser[1]["received_bytes"], 56_789);

    // The table names the app and shows the bytes in the app's units.
    let out = sockeye(&bus, &[]);
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("Browser") && table.contains("56.8 kB"),
        "{table}"
    );
}

#[test]
fn history_without_a_recorder_says_how_to_turn_it_on() {
    let bus = PrivateBus::start();
    let out = sockeye(&bus, &["--json"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("History is off") && stderr.contains("--enable-service"),
        "{stderr}"
    );

    let out = sockeye(&bus, &["--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--since"));
}
