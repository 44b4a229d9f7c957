//! Golden output of the terminal modes, from a constructed snapshot.

use super::*;
use sockeye_engine::{CaptureTotals, InterfaceStats, UnattributedStats};

fn snapshot() -> Snapshot {
    Snapshot {
        time: 1_763_771_045,
        interval_ms: 1000,
        processes: vec![
            ProcessStats {
                pid: 4242,
                name: "curl".into(),
                cmdline: "curl -O http://127.0.0.1:8000/big".into(),
                uid: 1000,
                user: "alice".into(),
                app_id: None,
                exited: true,
                details_unavailable: false,
                sent_bytes: 1_200,
                received_bytes: 5_242_880,
                sent_packets: 20,
                received_packets: 3_600,
                sent_rate: 0.0,
                received_rate: 1_048_576.0,
            },
            ProcessStats {
                pid: 77,
                name: "firefox".into(),
                cmdline: "/usr/lib/firefox/firefox".into(),
                uid: 1000,
                user: "alice".into(),
                app_id: Some("org.mozilla.firefox".into()),
                exited: false,
                details_unavailable: false,
                sent_bytes: 10_000_000,
                received_bytes: 2_000_000_000,
                sent_packets: 9_000,
                received_packets: 1_400_000,
                sent_rate: 1536.4,
                received_rate: 25_600.0,
            },
        ],
        unattributed: vec![
            UnattributedStats {
                protocol: Transport::Tcp,
                sent_bytes: 60,
                received_bytes: 0,
            },
            UnattributedStats {
                protocol: Transport::Udp,
                sent_bytes: 0,
                received_bytes: 300,
            },
            UnattributedStats {
                protocol: Transport::Icmp,
                sent_bytes: 0,
                received_bytes: 0,
            },
            UnattributedStats {
                protocol: Transport::Other,
                sent_bytes: 42,
                received_bytes: 2048,
            },
        ],
        interfaces: vec![InterfaceStats {
            name: "lo".into(),
            sent_bytes: 4096,
            received_bytes: 4096,
            dropped: 3,
        }],
        totals: CaptureTotals {
            captured_bytes: 1000,
            attributed_bytes: 975,
            captured_packets: 10,
            ..CaptureTotals::default()
        },
    }
}

#[test]
fn json_line_has_exactly_the_documented_shape() {
    let line = json_line(&snapshot()).unwrap_or_default();
    let expected = concat!(
        r#"{"time":1763771045,"interval_ms":1000,"processes":["#,
        r#"{"pid":4242,"name":"curl","cmdline":"curl -O http://127.0.0.1:8000/big","uid":1000,"#,
        r#""user":"alice","app_id":null,"exited":true,"details_unavailable":false,"#,
        r#""sent_bytes":1200,"received_bytes":5242880,"#,
        r#""sent_packets":20,"received_packets":3600,"sent_rate":0.0,"received_rate":1048576.0},"#,
        r#"{"pid":77,"name":"firefox","cmdline":"/usr/lib/firefox/firefox","uid":1000,"#,
        r#""user":"alice","app_id":"org.mozilla.firefox","exited":false,"#,
        r#""details_unavailable":false,"sent_bytes":10000000,"#,
        r#""received_bytes":2000000000,"sent_packets":9000,"received_packets":1400000,"#,
        r#""sent_rate":1536.4,"received_rate":25600.0}],"#,
        r#""unattributed":[{"protocol":"tcp","sent_bytes":60,"received_bytes":0},"#,
        r#"{"protocol":"udp","sent_bytes":0,"received_bytes":300},"#,
        r#"{"protocol":"icmp","sent_bytes":0,"received_bytes":0},"#,
        r#"{"protocol":"other","sent_bytes":42,"received_bytes":2048}],"#,
        r#""interfaces":[{"name":"lo","sent_bytes":4096,"received_bytes":4096,"dropped":3}]}"#,
    );
    assert_eq!(line, expected);
}

#[test]
fn trace_table_lists_processes_by_traffic_then_buckets_then_interfaces() {
    let expected = "\
sockeye  2025-11-22 00:24:05 UTC  interval 1000 ms  (97.5% of captured bytes attributed)
    PID  PROCESS              USER             SENT   RECEIVED    SEND RATE    RECV RATE
     77  firefox              alice         9.5 MiB    1.9 GiB    1.5 KiB/s   25.0 KiB/s
   4242  curl (exited)        alice         1.2 KiB    5.0 MiB        0 B/s    1.0 MiB/s
      -  unknown TCP                           60 B        0 B
      -  unknown UDP                            0 B      300 B
      -  unknown ICMP                           0 B        0 B
      -  other                                 42 B    2.0 KiB
         INTERFACE                             SENT   RECEIVED      DROPPED
         lo                                 4.0 KiB    4.0 KiB            3
";
    assert_eq!(trace_table(&snapshot()), expected);
}

#[test]
fn units_are_binary_with_one_decimal() {
    assert_eq!(bytes(0), "0 B");
    assert_eq!(bytes(1023), "1023 B");
    assert_eq!(bytes(1024), "1.0 KiB");
    assert_eq!(bytes(1536), "1.5 KiB");
    assert_eq!(bytes(3 << 30), "3.0 GiB");
    assert_eq!(bytes(u64::MAX), "16384.0 PiB");
    assert_eq!(rate(-1.0), "0 B/s");
    assert_eq!(rate(f64::NAN), "0 B/s");
    assert_eq!(rate(2048.0), "2.0 KiB/s");
}

#[test]
fn utc_time_is_civil_date_and_time() {
    assert_eq!(utc_time(0), "1970-01-01 00:00:00 UTC");
    assert_eq!(utc_time(951_782_400), "2000-02-29 00:00:00 UTC");
    assert_eq!(utc_time(1_763_771_045), "2025-11-22 00:24:05 UTC");
}

#[test]
fn a_process_whose_details_hung_is_marked_in_the_trace_and_the_json() {
    let mut snapshot = snapshot();
    for p in &mut snapshot.processes {
        p.details_unavailable = true;
        p.cmdline.clear();
    }
    let table = trace_table(&snapshot);
    assert!(
        table.contains("     77  firefox (no details) alice "),
        "{table}"
    );
    assert!(
        table.contains("curl (exited) "),
        "exited says more: {table}"
    );
    let line = json_line(&snapshot).unwrap_or_default();
    assert_eq!(line.matches(r#""details_unavailable":true"#).count(), 2);
}
