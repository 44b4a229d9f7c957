//! The acceptance: known traffic from a known process, scraped by a real
//! Prometheus server, and a PromQL query on that application's bytes within 2 % of what
//! tcpdump saw.

use crate::support::*;
use sockeye_metrics::{app_key, Executables};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The receiver's port.
const PORT: u16 = 19743;
/// Bytes the known process sends.
const PAYLOAD: usize = 3 * 1024 * 1024;
/// The tolerance.
const TOLERANCE: f64 = 0.02;

#[test]
fn prometheus_reports_a_known_process_within_two_percent_of_tcpdump() {
    let name = "Prometheus scrape of a known process's TCP upload";
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let dir = scratch("mx-prom");
    let sender_path = program_copy(dir.path(), "mx-sender");
    let receiver_path = program_copy(dir.path(), "mx-receiver");
    let received = dir.path().join("received");

    let recorder = Recorder::start(200, Duration::from_millis(250));
    let prometheus = Prometheus::start(recorder.address);
    poll(
        "Prometheus scrapes the exporter",
        Duration::from_secs(30),
        || (prometheus.query("up{job=\"sockeye\"}") == Some(1.0)).then_some(()),
    );

    let tcpdump = Tcpdump::start(dir.path(), &format!("port {PORT}"));
    let mut receiver = Command::new(&receiver_path)
        .args(["-u", &format!("TCP-LISTEN:{PORT},bind=127.0.0.1,reuseaddr")])
        .arg(format!("CREATE:{}", received.display()))
        .spawn()
        .unwrap();
    poll("the receiver listens", Duration::from_secs(10), || {
        std::fs::read_to_string("/proc/net/tcp")
            .ok()?
            .lines()
            .any(|l| l.contains(&format!(":{PORT:04X} 00000000:0000 0A")))
            .then_some(())
    });
    let mut sender = Command::new(&sender_path)
        .args(["-u", "STDIN", &format!("TCP:127.0.0.1:{PORT}")])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = sender.stdin.take().unwrap();
    for chunk in 0..PAYLOAD / 65536 {
        input.write_all(&[chunk as u8; 65536]).unwrap();
    }
    poll(
        "the receiver has everything",
        Duration::from_secs(20),
        || {
            let size = std::fs::metadata(&received).ok()?.len();
            (size == PAYLOAD as u64).then_some(())
        },
    );
    // The sender still runs: the key its bytes are exported under, as the exporter made it.
    let stats = poll(
        "the engine credits the sender",
        Duration::from_secs(10),
        || {
            recorder
                .snapshot()?
                .processes
                .into_iter()
                .find(|p| p.pid == sender.id() && p.sent_bytes >= PAYLOAD as u64)
        },
    );
    let key = app_key(&stats, &Executables::new("/proc"));
    if stats.app_id.is_none() {
        assert_eq!(
            *key.app,
            *sender_path.to_string_lossy(),
            "the executable path"
        );
    }
    drop(input);
    assert!(sender.wait().unwrap().success());
    assert!(receiver.wait().unwrap().success());
    let packets = tcpdump.finish(PORT);

    let total: u64 = packets.iter().map(|p| p.wire_length).sum();
    let sent: u64 = packets
        .iter()
        .filter(|p| p.source_port != PORT)
        .map(|p| p.wire_length)
        .sum();
    let selector = format!(
        "sockeye_app_network_bytes_total{{app=\"{}\",user=\"{}\"",
        key.app, key.user
    );
    let query_sent = format!("sum({selector},direction=\"sent\"}})");
    let query_total = format!("sum({selector}}})");
    // Poll until Prometheus has scraped the last interval: the value stops short of the
    // truth until then.
    let (exported_sent, exported_total) = poll(
        "Prometheus has the sender's bytes",
        Duration::from_secs(30),
        || {
            let s = prometheus.query(&query_sent)?;
            let t = prometheus.query(&query_total)?;
            (deviation(t, total as f64) > -TOLERANCE && deviation(s, sent as f64) > -TOLERANCE)
                .then_some((s, t))
        },
    );
    let (health, error) = prometheus.target_health();
    println!(
        "MEASURED {name}: tcpdump {total} bytes ({sent} sent by it), Prometheus {exported_total} \
         ({exported_sent} sent): {:+.3} % ({:+.3} % sent); scrape health {health}",
        100.0 * deviation(exported_total, total as f64),
        100.0 * deviation(exported_sent, sent as f64),
    );
    assert_eq!(health, "up", "scrape error: {error}");
    assert!(
        deviation(exported_total, total as f64).abs() <= TOLERANCE,
        "{exported_total} against {total}"
    );
    assert!(
        deviation(exported_sent, sent as f64).abs() <= TOLERANCE,
        "{exported_sent} against {sent}"
    );
    // The build info and the up gauge reached Prometheus too.
    assert_eq!(prometheus.query("sockeye_recorder_up"), Some(1.0));
    assert_eq!(prometheus.query("count(sockeye_build_info)"), Some(1.0));
    recorder.capture.stop().unwrap();
}
