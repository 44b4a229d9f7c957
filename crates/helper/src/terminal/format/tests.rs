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
                socket_sent_bytes: None,
                socket_received_bytes: None,
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
                socket_sent_bytes: None,
                socket_received_bytes: None,
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

fn hosts() -> Vec<HostStats> {
    vec![
        HostStats {
            name: Some("www.sockeye.test".into()),
            addresses: vec!["10.231.0.2".parse().unwrap(), "fd00:e7::2".parse().unwrap()],
            sent_bytes: 2048,
            received_bytes: 1 << 20,
            sent_rate: 0.0,
            received_rate: 512.0,
            pids: vec![77, 4242],
        },
        HostStats {
            name: None,
            addresses: vec!["127.0.0.53".parse().unwrap()],
            sent_bytes: 60,
            received_bytes: 120,
            sent_rate: 0.0,
            received_rate: 0.0,
            pids: vec![77],
        },
    ]
}

#[test]
fn json_line_has_exactly_the_documented_shape() {
    let line = json_line(&snapshot(), &hosts()).unwrap_or_default();
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
        r#""interfaces":[{"name":"lo","sent_bytes":4096,"received_bytes":4096,"dropped":3}],"#,
        r#""hosts":[{"name":"www.sockeye.test","addresses":["10.231.0.2","fd00:e7::2"],"#,
        r#""sent_bytes":2048,"received_bytes":1048576,"sent_rate":0.0,"received_rate":512.0,"#,
        r#""pids":[77,4242]},"#,
        r#"{"name":null,"addresses":["127.0.0.53"],"sent_bytes":60,"received_bytes":120,"#,
        r#""sent_rate":0.0,"received_rate":0.0,"pids":[77]}],"#,
        r#""sender_log":false,"sender_events_lost":0,"#,
        r#""socket_counters":false,"socket_events_lost":0}"#,
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
    let mut traced = snapshot();
    traced.totals.sender_log = true;
    assert_eq!(trace_table(&traced), expected);
}

#[test]
fn the_trace_says_when_short_lived_udp_senders_are_not_traced_or_were_missed() {
    let note = "(short-lived UDP senders are not traced on this system";
    let mut s = snapshot();
    assert!(trace_table(&s).contains(note), "{}", trace_table(&s));
    s.totals.sender_log = true;
    assert!(!trace_table(&s).contains(note));
    assert!(!trace_table(&s).contains("untraced"));
    s.totals.sender_events_lost = 12;
    assert!(
        trace_table(&s)
            .contains("(12 UDP sends untraced: some short-lived senders may count as unknown UDP)"),
        "{}",
        trace_table(&s)
    );
    let line = json_line(&s, &[]).unwrap_or_default();
    assert!(
        line.contains(r#""sender_log":true,"sender_events_lost":12,"#),
        "{line}"
    );
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
    let line = json_line(&snapshot, &[]).unwrap_or_default();
    assert_eq!(line.matches(r#""details_unavailable":true"#).count(), 2);
}

#[test]
fn hosts_table_lists_names_or_addresses_with_their_pids() {
    let expected = "\
sockeye  2025-11-22 00:24:05 UTC  interval 1000 ms  (2 remote hosts)
HOST                             ADDRESSES                      SENT   RECEIVED    SEND RATE    RECV RATE  PIDS
www.sockeye.test                 10.231.0.2 fd00:e7::2       2.0 KiB    1.0 MiB        0 B/s      512 B/s  77 4242
127.0.0.53                       127.0.0.53                     60 B      120 B        0 B/s        0 B/s  77
";
    assert_eq!(hosts_table(&snapshot(), &hosts()), expected);
}

#[test]
fn socket_counters_appear_in_the_json_and_as_two_trace_columns_when_the_kernel_has_them() {
    let mut snapshot = snapshot();
    snapshot.totals.socket_counters = true;
    snapshot.totals.socket_events_lost = 7;
    snapshot.processes[1].socket_sent_bytes = Some(9_000_000);
    snapshot.processes[1].socket_received_bytes = Some(1_900_000_000);
    let line = json_line(&snapshot, &[]).unwrap_or_default();
    assert!(
        line.contains(r#""socket_sent_bytes":9000000,"socket_received_bytes":1900000000}"#),
        "{line}"
    );
    // Absent, not zero, for the process the kernel said nothing about.
    assert_eq!(line.matches("socket_sent_bytes").count(), 1, "{line}");
    assert!(
        line.ends_with(r#""socket_counters":true,"socket_events_lost":7}"#),
        "{line}"
    );
    let table = trace_table(&snapshot);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[1].ends_with("   APP SENT   APP RECV"), "{table}");
    assert!(lines[2].ends_with("    8.6 MiB    1.8 GiB"), "{table}");
    assert!(lines[3].ends_with("          -          -"), "{table}");
    assert!(
        table.contains("(7 send and receive calls missed"),
        "{table}"
    );
}
