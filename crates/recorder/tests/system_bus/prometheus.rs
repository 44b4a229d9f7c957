//! Issue 19's acceptance through the recorder itself: `sockeye-recorder`, run as its unit
//! runs it with a `[metrics]` table in its configuration, is a scrape job of a real
//! Prometheus server (Debian's `prometheus`); after known loopback traffic from a known
//! process, a PromQL query through Prometheus's HTTP API gives that executable's bytes
//! within 2 % of what tcpdump saw.

use crate::fixture::{self, Bus, Recorder, TestUser, Traffic};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The traffic's loopback port.
const PORT: u16 = 41_041;
/// Where the recorder's exporter listens.
const EXPORTER: &str = "127.0.0.1:19751";
/// Prometheus's own HTTP port.
const PROMETHEUS: &str = "127.0.0.1:19752";
/// Payload the traffic script sends to itself, in bytes.
const PAYLOAD: u64 = 2_000_000;

/// A Prometheus server scraping the recorder every second, stopped on drop.
struct Prometheus {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start() -> Prometheus {
        let dir = tempfile::Builder::new()
            .prefix("rc-prometheus-")
            .tempdir()
            .unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: sockeye-recorder\n    static_configs:\n      \
                 - targets: ['{EXPORTER}']\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={PROMETHEUS}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus (apt install prometheus)");
        Prometheus { child, _dir: dir }
    }

    /// The body of `GET target` from Prometheus, if it answered 200.
    fn get(target: &str) -> Option<String> {
        let address: SocketAddr = PROMETHEUS.parse().ok()?;
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            stream,
            "GET {target} HTTP/1.0\r\nHost: {PROMETHEUS}\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply).ok()?;
        let (head, body) = reply.split_once("\r\n\r\n")?;
        let ok = head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200");
        ok.then(|| body.to_owned())
    }

    /// The single sample of a PromQL expression, `None` while there is none.
    fn query(promql: &str) -> Option<f64> {
        let encoded: String = promql
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let body = Prometheus::get(&format!("/api/v1/query?query={encoded}"))?;
        let answer: serde_json::Value = serde_json::from_str(&body).ok()?;
        let result = answer["data"]["result"].as_array()?;
        assert!(result.len() <= 1, "{promql}: {body}");
        result.first()?["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_scrapes_the_recorder_and_has_a_known_process_s_bytes_within_two_percent() {
    if !sockeye_engine::testing::root_or_skip("the recorder's capture and a Prometheus server") {
        return;
    }
    let bus = Bus::start();
    // The configuration Bus::start wrote (and removes at the end), with a [metrics] table.
    std::fs::write(
        "/etc/sockeye/recorder.conf",
        format!("flush_seconds = 1\ninterval_ms = 500\n\n[metrics]\nlisten = \"{EXPORTER}\"\n"),
    )
    .unwrap();
    let _recorder = Recorder::start(&bus, None);
    let _prometheus = Prometheus::start();
    assert!(
        fixture::poll(Duration::from_secs(60), || (Prometheus::query(
            "up{job=\"sockeye-recorder\"}"
        ) == Some(1.0))
        .then_some(()))
        .is_some(),
        "Prometheus never scraped the recorder at {EXPORTER}"
    );

    let root = TestUser {
        name: "root".into(),
        uid: 0,
        gid: 0,
    };
    let traffic = Traffic::run(&root, PORT, PAYLOAD);
    let seen = traffic.tcpdump_bytes() as f64;
    // The script is both ends: what it sent is every packet tcpdump saw, and so is what it
    // received.
    let query = |direction: &str| {
        format!(
            "sum(sockeye_app_network_bytes_total{{app=~\"/usr/bin/python3.*\",direction=\"{direction}\"}})"
        )
    };
    let mut last = (None, None);
    let exported = fixture::poll(Duration::from_secs(30), || {
        let sent = Prometheus::query(&query("sent"));
        let received = Prometheus::query(&query("received"));
        last = (sent, received);
        let (sent, received) = (sent?, received?);
        (sent >= seen * 0.98 && received >= seen * 0.98).then_some((sent, received))
    })
    .unwrap_or_else(|| panic!("Prometheus never reached tcpdump's {seen} B: {last:?}"));
    println!(
        "MEASURED recorder → Prometheus: tcpdump {seen} B; Prometheus sent {} B ({:+.3} %), \
         received {} B ({:+.3} %)",
        exported.0,
        100.0 * (exported.0 - seen) / seen,
        exported.1,
        100.0 * (exported.1 - seen) / seen,
    );
    for value in [exported.0, exported.1] {
        assert!(
            (value - seen).abs() <= seen * 0.02,
            "{value} B against tcpdump's {seen} B"
        );
    }
    assert_eq!(Prometheus::query("sockeye_recorder_up"), Some(1.0));
}
