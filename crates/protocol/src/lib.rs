//! The D-Bus contract between the GUI and `sockeye-helper`: names, the payload types and
//! the client proxy. Both sides depend on this crate so the contract is written once.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use zbus::zvariant::Type;

/// Interface served by the helper on its peer-to-peer connection.
pub const CAPTURE_INTERFACE: &str = "io.github.sockeye.Capture1";
/// Object path of the capture object.
pub const CAPTURE_PATH: &str = "/io/github/sockeye/Capture";
/// Interface the GUI exports on the session bus for scripts (seed-compatible `GetStats`).
pub const STATS_INTERFACE: &str = "io.github.sockeye.Stats1";
/// Object path of the session-bus stats object.
pub const STATS_PATH: &str = "/io/github/sockeye/Stats";
/// Version both ends must agree on; the GUI compares it with the helper's `Version`
/// property right after connecting and refuses a mismatch.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One process's traffic (`app_id` is empty when unknown: D-Bus has no null).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Type)]
pub struct Process {
    pub pid: u32,
    pub name: String,
    pub cmdline: String,
    pub uid: u32,
    pub user: String,
    pub app_id: String,
    pub exited: bool,
    pub sent_bytes: u64,
    pub received_bytes: u64,
    pub sent_packets: u64,
    pub received_packets: u64,
    /// Bytes per second over the last interval.
    pub sent_rate: f64,
    /// Bytes per second over the last interval.
    pub received_rate: f64,
}

/// Traffic that matched no socket; `protocol` is `tcp`, `udp`, `icmp` or `other`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Type)]
pub struct Unattributed {
    pub protocol: String,
    pub sent_bytes: u64,
    pub received_bytes: u64,
}

/// Per-interface totals and pcap drops.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Type)]
pub struct Interface {
    pub name: String,
    pub sent_bytes: u64,
    pub received_bytes: u64,
    pub dropped: u64,
}

/// One connection of a process; addresses as `ip:port` (`[ip]:port` for IPv6).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Type)]
pub struct Connection {
    pub protocol: String,
    pub local: String,
    pub remote: String,
    pub sent_bytes: u64,
    pub received_bytes: u64,
    pub sent_rate: f64,
    pub received_rate: f64,
}

/// The payload of the `Updated` signal, sent once per interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Type)]
pub struct Update {
    /// End of the interval, seconds since the Unix epoch.
    pub time: u64,
    pub interval_ms: u32,
    pub processes: Vec<Process>,
    pub unattributed: Vec<Unattributed>,
    pub interfaces: Vec<Interface>,
}

/// Client side of `io.github.sockeye.Capture1`.
#[zbus::proxy(
    interface = "io.github.sockeye.Capture1",
    default_path = "/io/github/sockeye/Capture"
)]
pub trait Capture1 {
    /// Starts capturing (harmless when already capturing); `interval_ms` in 1..=60000.
    fn start(&self, interval_ms: u32) -> zbus::Result<()>;
    /// Stops capturing and closes every pcap handle; harmless when stopped.
    fn stop(&self) -> zbus::Result<()>;
    /// The libgtop netstats call: pid → (bytes sent, bytes received).
    fn get_stats(&self) -> zbus::Result<HashMap<u32, (u64, u64)>>;
    fn get_processes(&self) -> zbus::Result<Vec<Process>>;
    fn get_connections(&self, pid: u32) -> zbus::Result<Vec<Connection>>;
    fn get_interfaces(&self) -> zbus::Result<Vec<Interface>>;
    fn get_unattributed(&self) -> zbus::Result<Vec<Unattributed>>;
    /// Sets every total back to zero.
    fn reset_totals(&self) -> zbus::Result<()>;

    /// Emitted at the end of every interval while capturing.
    #[zbus(signal)]
    fn updated(&self, update: Update) -> zbus::Result<()>;

    #[zbus(property)]
    fn capturing(&self) -> zbus::Result<bool>;
    #[zbus(property)]
    fn version(&self) -> zbus::Result<String>;
}
