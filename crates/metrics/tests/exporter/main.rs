//! The exporter as the recorder runs it, without root: served over real sockets, checked
//! by a real HTTP exchange and by promtool.

// Test helpers outside `#[test]` functions panic on purpose, like the tests themselves.
#![allow(clippy::unwrap_used)]

#[path = "../common/http_client.rs"]
mod http_client;
mod limits;
mod promtool;
mod serving;

use sockeye_engine::{InterfaceStats, ProcessStats, Snapshot, Transport, UnattributedStats};
use sockeye_metrics::{Exporter, ListenAddress, MetricsConfig};
use std::net::SocketAddr;

/// A config listening on `listen` with the default `top_apps`.
pub fn config(listen: &str) -> MetricsConfig {
    MetricsConfig {
        listen: listen.parse().expect("a valid address"),
        ..MetricsConfig::default()
    }
}

/// An exporter on a loopback port the system chose, with one snapshot observed.
pub fn started() -> (Exporter, SocketAddr) {
    let exporter = Exporter::start(Some(&config("127.0.0.1:0")))
        .expect("start")
        .expect("metrics are on");
    let ListenAddress::Tcp(address) = exporter.address().clone() else {
        panic!("a TCP address");
    };
    exporter.observe(&varied_snapshot());
    (exporter, address)
}

/// A snapshot with names that need escaping, several users and every family.
pub fn varied_snapshot() -> Snapshot {
    let process = |pid: u32, name: &str, user: &str, app_id: Option<&str>, bytes: u64| {
        ProcessStats {
            pid,
            name: name.into(),
            uid: 1000 + pid,
            user: user.into(),
            app_id: app_id.map(Into::into),
            // Exited: known by name (this test's /proc has nothing to say about them).
            exited: true,
            sent_bytes: bytes,
            received_bytes: bytes * 3,
            ..ProcessStats::default()
        }
    };
    Snapshot {
        time: 1_800_000_000,
        interval_ms: 1000,
        processes: vec![
            process(1, "curl", "alice", None, 1200),
            process(2, "we\"ird\\na\nme", "bob", None, 5),
            process(3, "firefox", "", Some("org.mozilla.firefox"), 77_000),
            process(4, "Bücher 📚", "zoë", None, 1),
        ],
        unattributed: vec![UnattributedStats {
            protocol: Transport::Icmp,
            sent_bytes: 98,
            received_bytes: 98,
        }],
        interfaces: vec![
            InterfaceStats {
                name: "lo".into(),
                sent_bytes: 78_206,
                received_bytes: 78_206,
                dropped: 0,
            },
            InterfaceStats {
                name: "wlp3s0".into(),
                sent_bytes: 10,
                received_bytes: 20,
                dropped: 2,
            },
        ],
        ..Snapshot::default()
    }
}
