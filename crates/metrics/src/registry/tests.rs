//! The registry fed with made-up snapshots: what it exports, that no series goes down
//! whatever the inputs do, and that the number of series stays bounded.

use super::*;
use sockeye_engine::{InterfaceStats, ProcessStats, UnattributedStats};
use std::collections::BTreeMap;

/// No executable can be read: processes are known by app id or name.
const NO_PROC: &str = "/nonexistent-proc";

fn process(pid: u32, name: &str, user: &str, sent: u64, received: u64) -> ProcessStats {
    ProcessStats {
        pid,
        name: name.into(),
        uid: 1000,
        user: user.into(),
        sent_bytes: sent,
        received_bytes: received,
        ..ProcessStats::default()
    }
}

fn snapshot(processes: Vec<ProcessStats>) -> Snapshot {
    Snapshot {
        time: 1_800_000_000,
        interval_ms: 1000,
        processes,
        ..Snapshot::default()
    }
}

/// The samples of a Prometheus-format exposition: series (name and labels) → value.
fn samples(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_owned(), value.parse().unwrap())
        })
        .collect()
}

fn app_samples(registry: &Registry) -> BTreeMap<String, u64> {
    samples(&registry.render(Format::Prometheus))
        .into_iter()
        .filter(|(s, _)| s.starts_with("sockeye_app_network_bytes_total"))
        .collect()
}

#[test]
fn a_snapshot_is_exported_with_every_family() {
    let mut registry = Registry::new(10, NO_PROC);
    let mut flatpak = process(7, "firefox", "alice", 1000, 5000);
    flatpak.app_id = Some("org.mozilla.firefox".into());
    let mut first = snapshot(vec![flatpak, process(9, "curl", "", 10, 20)]);
    first.processes[1].uid = 1001;
    first.interfaces = vec![InterfaceStats {
        name: "eth0".into(),
        sent_bytes: 1010,
        received_bytes: 5020,
        dropped: 3,
    }];
    first.unattributed = vec![UnattributedStats {
        protocol: Transport::Udp,
        sent_bytes: 0,
        received_bytes: 77,
    }];
    assert!(registry
        .render(Format::Prometheus)
        .contains("sockeye_recorder_up 0\n"));
    registry.observe(&first);
    let text = registry.render(Format::Prometheus);
    let expected = "\
sockeye_app_network_bytes_total{app=\"curl\",user=\"1001\",direction=\"sent\"} 10
sockeye_app_network_bytes_total{app=\"curl\",user=\"1001\",direction=\"received\"} 20
sockeye_app_network_bytes_total{app=\"org.mozilla.firefox\",user=\"alice\",direction=\"sent\"} 1000
sockeye_app_network_bytes_total{app=\"org.mozilla.firefox\",user=\"alice\",direction=\"received\"} 5000
# HELP sockeye_interface_bytes_total Bytes sent and received on each network interface, as captured.
# TYPE sockeye_interface_bytes_total counter
sockeye_interface_bytes_total{interface=\"eth0\",direction=\"sent\"} 1010
sockeye_interface_bytes_total{interface=\"eth0\",direction=\"received\"} 5020
# HELP sockeye_unattributed_bytes_total Captured bytes that matched no process's socket, by transport protocol.
# TYPE sockeye_unattributed_bytes_total counter
sockeye_unattributed_bytes_total{protocol=\"tcp\",direction=\"sent\"} 0
sockeye_unattributed_bytes_total{protocol=\"tcp\",direction=\"received\"} 0
sockeye_unattributed_bytes_total{protocol=\"udp\",direction=\"sent\"} 0
sockeye_unattributed_bytes_total{protocol=\"udp\",direction=\"received\"} 77
sockeye_unattributed_bytes_total{protocol=\"icmp\",direction=\"sent\"} 0
sockeye_unattributed_bytes_total{protocol=\"icmp\",direction=\"received\"} 0
sockeye_unattributed_bytes_total{protocol=\"other\",direction=\"sent\"} 0
sockeye_unattributed_bytes_total{protocol=\"other\",direction=\"received\"} 0
sockeye_unattributed_bytes_total{protocol=\"tunnel\",direction=\"sent\"} 0
sockeye_unattributed_bytes_total{protocol=\"tunnel\",direction=\"received\"} 0
# HELP sockeye_capture_dropped_packets_total Packets the kernel or libpcap dropped before the recorder could count them.
# TYPE sockeye_capture_dropped_packets_total counter
sockeye_capture_dropped_packets_total{interface=\"eth0\"} 3
# HELP sockeye_recorder_up 1 while the recorder captures packets; 0 before its first interval and after its capture failed.
# TYPE sockeye_recorder_up gauge
sockeye_recorder_up 1
# HELP sockeye_build_info The version of Sockeye serving these metrics.
# TYPE sockeye_build_info gauge
";
    assert!(
        text.starts_with("# HELP sockeye_app_network_bytes_total Bytes each application"),
        "{text}"
    );
    assert!(text.contains("# TYPE sockeye_app_network_bytes_total counter\n"));
    assert!(text.contains(expected), "{text}");
    assert!(text.ends_with(&format!(
        "sockeye_build_info{{version=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION")
    )));
    registry.capture_failed();
    assert!(registry
        .render(Format::Prometheus)
        .contains("sockeye_recorder_up 0\n"));
    let openmetrics = registry.render(Format::OpenMetrics);
    assert!(openmetrics.contains(
        "# TYPE sockeye_app_network_bytes counter\n# UNIT sockeye_app_network_bytes bytes\n"
    ));
    assert!(openmetrics.contains("# TYPE sockeye_build info\n"));
    assert!(openmetrics.ends_with("# EOF\n"));
}

#[test]
fn executable_paths_with_quotes_and_line_feeds_are_escaped() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("42");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::symlink("/opt/my \"app\"\\\nbin", dir.join("exe")).unwrap();
    let mut registry = Registry::new(10, root.path());
    registry.observe(&snapshot(vec![process(42, "app", "bob", 5, 6)]));
    let text = registry.render(Format::OpenMetrics);
    assert!(
        text.contains(
            "sockeye_app_network_bytes_total{app=\"/opt/my \\\"app\\\"\\\\\\nbin\",user=\"bob\",direction=\"sent\"} 5\n"
        ),
        "{text}"
    );
}

#[test]
fn counters_never_go_down_when_engine_totals_do() {
    let mut registry = Registry::new(10, NO_PROC);
    let mut history: Vec<BTreeMap<String, u64>> = Vec::new();
    let mut interface = InterfaceStats {
        name: "lo".into(),
        sent_bytes: 100,
        received_bytes: 100,
        dropped: 5,
    };
    let steps: [(Vec<ProcessStats>, u64); 6] = [
        (vec![process(1, "a", "u", 100, 50)], 100),
        // The engine's totals were reset: 30 bytes since.
        (vec![process(1, "a", "u", 30, 0)], 20),
        // Pid 1 vanished from the list; pid 2 appeared.
        (vec![process(2, "b", "u", 10, 10)], 20),
        // Pid 1 is back (a new entry, counted from zero); pid 2 went down.
        (
            vec![process(1, "a", "u", 5, 5), process(2, "b", "u", 1, 1)],
            0,
        ),
        // Pid 2 now belongs to another program, with its old entry's totals.
        (
            vec![process(1, "a", "u", 5, 5), process(2, "c", "u", 4, 1)],
            1000,
        ),
        (
            vec![process(1, "a", "u", 6, 5), process(2, "c", "u", 40, 1)],
            10,
        ),
    ];
    for (processes, interface_total) in steps {
        interface.sent_bytes = interface_total;
        interface.dropped = interface_total % 7;
        let mut s = snapshot(processes);
        s.interfaces = vec![interface.clone()];
        registry.observe(&s);
        let now = samples(&registry.render(Format::Prometheus));
        if let Some(before) = history.last() {
            for (series, value) in before {
                if let Some(after) = now.get(series) {
                    assert!(after >= value, "{series} went from {value} to {after}");
                }
            }
        }
        history.push(now);
    }
    let last = history.last().unwrap();
    let get = |app: &str, direction: &str| {
        last[&format!(
            "sockeye_app_network_bytes_total{{app=\"{app}\",user=\"u\",direction=\"{direction}\"}}"
        )]
    };
    // a: 100, then 30 after the reset, 5 as a new entry, then 1 more.
    assert_eq!(get("a", "sent"), 136);
    assert_eq!(get("a", "received"), 55);
    // b: 10, then 1 after going down; c: 3 and 36 more (its old entry's 1 → 4, 4 → 40).
    assert_eq!(get("b", "sent"), 11);
    assert_eq!(get("c", "sent"), 39);
    assert_eq!(
        last["sockeye_interface_bytes_total{interface=\"lo\",direction=\"sent\"}"],
        100 + 20 + 1000 + 10
    );
}

#[test]
fn ten_thousand_processes_of_two_thousand_executables_keep_the_bound() {
    const TOP: usize = 50;
    let mut registry = Registry::new(TOP, NO_PROC);
    let mut fed = [0u64; 2];
    let mut most = 0;
    let mut live: Vec<ProcessStats> = Vec::new();
    for pid in 0..10_000u32 {
        // Executable pid % 2000, sending more the lower its number, each process once.
        let executable = pid % 2000;
        let bytes = u64::from(2000 - executable) * 10;
        live.push(process(
            pid + 100,
            &format!("exe-{executable:04}"),
            "ci",
            bytes,
            1,
        ));
        fed[0] += bytes;
        fed[1] += 1;
        if live.len() == 500 {
            registry.observe(&snapshot(std::mem::take(&mut live)));
            most = most.max(registry.app_series());
        }
    }
    assert!(
        most <= 2 * (TOP + 1),
        "{most} series for a bound of {TOP} apps"
    );
    assert_eq!(
        registry.app_series(),
        2 * (TOP + 1),
        "the named set is full"
    );
    assert!(
        registry.processes.len() <= 500,
        "only the last snapshot's pids are kept"
    );
    let exported = app_samples(&registry);
    let sum = |direction: &str| -> u64 {
        exported
            .iter()
            .filter(|(s, _)| s.ends_with(&format!("direction=\"{direction}\"}}")))
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!([sum("sent"), sum("received")], fed, "no byte lost");
    // The busiest executables hold the named places.
    assert!(exported.contains_key(
        "sockeye_app_network_bytes_total{app=\"exe-0000\",user=\"ci\",direction=\"sent\"}"
    ));
}

#[test]
fn users_of_unnamed_apps_are_bounded_too() {
    const TOP: usize = 5;
    let mut registry = Registry::new(TOP, NO_PROC);
    let processes = (0..1000u32)
        .map(|i| process(i + 2, &format!("p{i}"), &format!("user{i}"), 10, 10))
        .collect();
    registry.observe(&snapshot(processes));
    // Five named, five users in app="other", and user="other" for the rest.
    assert_eq!(registry.app_series(), 2 * (TOP + TOP + 1));
    assert!(app_samples(&registry)
        .keys()
        .any(|s| s.contains("app=\"other\",user=\"other\"")));
}

#[test]
fn an_app_or_interface_named_other_never_collides_with_the_sum() {
    let mut registry = Registry::new(10, NO_PROC);
    let mut s = snapshot(vec![
        process(1, "other", "u", 1, 2),
        process(2, "x", "u", 3, 4),
    ]);
    s.interfaces = vec![InterfaceStats {
        name: "other".into(),
        sent_bytes: 9,
        received_bytes: 9,
        dropped: 0,
    }];
    registry.observe(&s);
    let exported = samples(&registry.render(Format::Prometheus));
    assert_eq!(
        exported["sockeye_app_network_bytes_total{app=\"other\",user=\"u\",direction=\"sent\"}"],
        1
    );
    assert_eq!(
        exported["sockeye_interface_bytes_total{interface=\"other\",direction=\"sent\"}"],
        9
    );
}

#[test]
fn interfaces_beyond_the_bound_are_summed_in_other() {
    let mut registry = Registry::new(10, NO_PROC);
    let mut s = snapshot(Vec::new());
    s.interfaces = (0..1000)
        .map(|i| InterfaceStats {
            name: format!("veth{i}"),
            sent_bytes: 100,
            received_bytes: 0,
            dropped: 1,
        })
        .collect();
    registry.observe(&s);
    let exported = samples(&registry.render(Format::Prometheus));
    let interface_series = exported
        .keys()
        .filter(|s| s.starts_with("sockeye_interface_bytes_total"))
        .count();
    assert_eq!(interface_series, 2 * (MAX_INTERFACES + 1));
    assert_eq!(
        exported["sockeye_interface_bytes_total{interface=\"other\",direction=\"sent\"}"],
        100 * (1000 - MAX_INTERFACES as u64)
    );
    let dropped: u64 = exported
        .iter()
        .filter(|(s, _)| s.starts_with("sockeye_capture_dropped_packets_total"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(dropped, 1000);
}
