//! What the root scenarios share: the engine and exporter wired as in the recorder, a
//! tcpdump counting bytes on its own, a Prometheus server, copies of a small program under
//! a name of the test's own, and polling with deadlines.

use sockeye_engine::{Capture, CaptureOptions, Snapshot};
use sockeye_metrics::{Exporter, ListenAddress, MetricsConfig};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Scenarios run one at a time: each measures all traffic on `lo`.
static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the scenario lock; `None` (with the reason printed) when not root.
pub fn root_scenario(name: &str) -> Option<MutexGuard<'static, ()>> {
    if !sockeye_engine::testing::root_or_skip(&format!("{name}: capturing needs root")) {
        return None;
    }
    Some(SERIAL.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Polls `probe` until it returns `Some`, or panics with `what` at the deadline.
pub fn poll<T>(what: &str, deadline: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            start.elapsed() < deadline,
            "{what}: not within {deadline:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The engine capturing every interface, its snapshots fed to an exporter exactly as the
/// recorder's per-interval function does; the latest snapshot kept for the test.
pub struct Recorder {
    pub capture: Capture,
    /// Kept alive with the capture that feeds it.
    _exporter: Arc<Exporter>,
    pub address: SocketAddr,
    latest: Arc<Mutex<Option<Snapshot>>>,
    /// The most `sockeye_app_network_bytes_total` series after any interval.
    most_app_series: Arc<Mutex<usize>>,
}

impl Recorder {
    /// Starts the exporter on a loopback port the system chooses, then the capture.
    pub fn start(top_apps: usize, interval: Duration) -> Recorder {
        let config: MetricsConfig =
            toml::from_str(&format!("listen = \"127.0.0.1:0\"\ntop_apps = {top_apps}")).unwrap();
        let exporter = Arc::new(Exporter::start(Some(&config)).unwrap().unwrap());
        let ListenAddress::Tcp(address) = exporter.address().clone() else {
            panic!("TCP");
        };
        let latest = Arc::new(Mutex::new(None));
        let most_app_series = Arc::new(Mutex::new(0));
        let (metrics, sink, most) = (
            Arc::clone(&exporter),
            Arc::clone(&latest),
            Arc::clone(&most_app_series),
        );
        let options = CaptureOptions {
            interval,
            interfaces: Vec::new(),
        };
        let capture = Capture::start(options, move |update| match update {
            Ok(snapshot) => {
                metrics.observe(&snapshot);
                let mut most = most.lock().unwrap();
                *most = (*most).max(metrics.app_series());
                *sink.lock().unwrap() = Some(snapshot);
            }
            Err(_) => metrics.capture_failed(),
        })
        .expect("the engine starts as root");
        let recorder = Recorder {
            capture,
            _exporter: exporter,
            address,
            latest,
            most_app_series,
        };
        poll("the first snapshot", Duration::from_secs(5), || {
            recorder.snapshot()
        });
        recorder
    }

    pub fn snapshot(&self) -> Option<Snapshot> {
        self.latest.lock().unwrap().clone()
    }

    pub fn most_app_series(&self) -> usize {
        *self.most_app_series.lock().unwrap()
    }
}

/// A temporary directory named for this task, removed on drop.
pub fn scratch(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().unwrap()
}

/// Copies socat (a small program that can send TCP and UDP) to `dir/name`: a process with
/// an executable path of the test's own.
pub fn program_copy(dir: &Path, name: &str) -> PathBuf {
    let socat = ["/usr/bin/socat", "/bin/socat"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("socat is installed (build-aux/dev installs it)");
    let path = dir.join(name);
    std::fs::copy(socat, &path).unwrap();
    path
}

/// A running `tcpdump -w`, the independent count of the bytes on the wire.
pub struct Tcpdump {
    child: Child,
    file: PathBuf,
}

impl Tcpdump {
    /// Starts tcpdump on `lo` with `filter` and waits until it listens.
    pub fn start(dir: &Path, filter: &str) -> Tcpdump {
        let file = dir.join("truth.pcap");
        let mut child = Command::new("tcpdump")
            // Immediate mode: every packet is written as it comes, none waits in a
            // kernel block when tcpdump is stopped.
            .args([
                "-i",
                "lo",
                "-n",
                "-s",
                "128",
                "--immediate-mode",
                "-U",
                "-w",
            ])
            .arg(&file)
            .arg(filter)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump is installed");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        // tcpdump says "listening on lo, ..." once its capture is open.
        while !line.contains("listening on") {
            line.clear();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "tcpdump ended: {line}"
            );
        }
        // Keep reading its report in the child's handle at the end.
        child.stderr = Some(stderr.into_inner());
        Tcpdump { child, file }
    }

    /// Sends a UDP datagram to `127.0.0.1:marker_port` (which the filter must match),
    /// waits until tcpdump has written it (so every packet before it is written too), stops
    /// tcpdump (SIGINT, as at a terminal) and returns the TCP packets it saw, failing if it
    /// dropped any.
    pub fn finish(mut self, marker_port: u16) -> Vec<Packet> {
        let marker = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        marker
            .send_to(b"marker", ("127.0.0.1", marker_port))
            .unwrap();
        poll("tcpdump writes the marker", Duration::from_secs(10), || {
            let packets = read_pcap(&std::fs::read(&self.file).ok()?);
            packets.iter().any(|p| p.protocol == UDP).then_some(())
        });
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
        let mut report = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut report)
            .unwrap();
        assert!(self.child.wait().unwrap().success(), "tcpdump: {report}");
        assert!(
            report
                .lines()
                .any(|l| l.trim() == "0 packets dropped by kernel"),
            "tcpdump dropped packets: {report}"
        );
        let mut packets = read_pcap(&std::fs::read(&self.file).unwrap());
        packets.retain(|p| p.protocol == TCP);
        packets
    }
}

impl Drop for Tcpdump {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// IP protocol numbers.
const TCP: u8 = 6;
const UDP: u8 = 17;

/// One packet of the truth: its protocol, source port and wire length.
#[derive(Debug, Clone, Copy)]
pub struct Packet {
    pub protocol: u8,
    pub source_port: u16,
    pub wire_length: u64,
}

/// Reads a classic pcap file of Ethernet frames (what tcpdump writes for `lo`).
fn read_pcap(bytes: &[u8]) -> Vec<Packet> {
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(
        u32_at(0),
        0xa1b2_c3d4,
        "a little-endian microsecond pcap file"
    );
    let mut packets = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let captured = u32_at(at + 8) as usize;
        let wire_length = u64::from(u32_at(at + 12));
        let Some(frame) = bytes.get(at + 16..at + 16 + captured) else {
            break; // a record tcpdump is writing right now
        };
        // Ethernet (14) + IPv4 with its header length, then the source port.
        let ip_header = usize::from(frame[14] & 0x0f) * 4;
        let ports = 14 + ip_header;
        packets.push(Packet {
            protocol: frame[14 + 9],
            source_port: u16::from_be_bytes([frame[ports], frame[ports + 1]]),
            wire_length,
        });
        at += 16 + captured;
    }
    packets
}

/// A Prometheus server started for one test, scraping the exporter every second.
pub struct Prometheus {
    child: Child,
    pub address: SocketAddr,
    _dir: tempfile::TempDir,
}

/// Prometheus's HTTP port in these tests.
const PROMETHEUS_PORT: u16 = 19741;

impl Prometheus {
    pub fn start(exporter: SocketAddr) -> Prometheus {
        let dir = scratch("mx-prometheus");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: sockeye\n    static_configs:\n      \
                 - targets: ['{exporter}']\n"
            ),
        )
        .unwrap();
        let address = SocketAddr::from(([127, 0, 0, 1], PROMETHEUS_PORT));
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus is installed (Debian's prometheus package)");
        let prometheus = Prometheus {
            child,
            address,
            _dir: dir,
        };
        poll("Prometheus ready", Duration::from_secs(60), || {
            std::net::TcpStream::connect(address).ok()?;
            (crate::http_client::tcp(address, "GET", "/-/ready", &[]).status == 200).then_some(())
        });
        prometheus
    }

    /// The value of a PromQL expression that yields one sample, `None` for no sample.
    pub fn query(&self, promql: &str) -> Option<f64> {
        let target = format!("/api/v1/query?query={}", percent_encode(promql));
        let reply = crate::http_client::tcp(self.address, "GET", &target, &[]);
        assert_eq!(reply.status, 200, "{promql}: {}", reply.body);
        let answer: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(answer["status"], "success", "{}", reply.body);
        let result = answer["data"]["result"].as_array()?;
        assert!(result.len() <= 1, "{promql} gave {} samples", result.len());
        result.first()?["value"][1].as_str()?.parse().ok()
    }

    /// The scrape health of the exporter's target: (health, last error).
    pub fn target_health(&self) -> (String, String) {
        let reply = crate::http_client::tcp(self.address, "GET", "/api/v1/targets", &[]);
        let answer: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        let target = &answer["data"]["activeTargets"][0];
        (
            target["health"].as_str().unwrap_or("").to_owned(),
            target["lastError"].as_str().unwrap_or("").to_owned(),
        )
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encodes a query parameter (everything but unreserved characters).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// How `value` compares with `truth`, as a signed share (0.01 = 1 % more).
pub fn deviation(value: f64, truth: f64) -> f64 {
    (value - truth) / truth
}
