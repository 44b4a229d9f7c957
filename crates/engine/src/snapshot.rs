//! What the engine reports each interval: plain owned data, serialisable as the helper's
//! `--json` line (field names are a contract with scripts: keep them).

use serde::Serialize;
use std::net::SocketAddr;

/// Transport protocol of a flow or of an unattributed bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Tcp,
    Udp,
    /// ICMP and ICMPv6.
    Icmp,
    /// Any other IP protocol, and non-IP frames (ARP…).
    Other,
}

/// Everything measured since the capture started, as of the end of one interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// End of the interval, in seconds since the Unix epoch.
    pub time: u64,
    /// Length of the interval the rates were measured over, in milliseconds.
    pub interval_ms: u32,
    pub processes: Vec<ProcessStats>,
    pub unattributed: Vec<UnattributedStats>,
    pub interfaces: Vec<InterfaceStats>,
    /// Captured and attributed totals, for the share of traffic attributed to a process
    /// (not part of the `--json` line).
    #[serde(skip)]
    pub totals: CaptureTotals,
}

/// How much was captured, and how much of it was attributed to at least one process.
/// `captured_bytes == attributed_bytes + Σ unattributed (sent + received)` always holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureTotals {
    /// Wire bytes of every packet captured, on all interfaces.
    pub captured_bytes: u64,
    pub captured_packets: u64,
    /// Wire bytes of packets whose sender or receiver is a known process.
    pub attributed_bytes: u64,
    /// Owner lookups made, and those that found no owner (diagnostics).
    pub owner_lookups: u64,
    pub owner_misses: u64,
    /// Lookups put off because the global lookup budget was spent or the capture thread
    /// was far behind.
    pub lookups_deferred: u64,
}

/// One process's traffic. Totals are cumulative since start; rates in bytes per second
/// over the last interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProcessStats {
    pub pid: u32,
    /// Short name (`/proc/PID/comm`).
    pub name: String,
    /// Command line, arguments joined by spaces.
    pub cmdline: String,
    pub uid: u32,
    pub user: String,
    /// Application the process belongs to (Flatpak id, systemd app scope, snap), when known.
    pub app_id: Option<String>,
    /// The process has exited; its traffic stays in the totals.
    pub exited: bool,
    /// Its command line could not be read in time (the read hung): `cmdline` is empty.
    pub details_unavailable: bool,
    pub sent_bytes: u64,
    pub received_bytes: u64,
    pub sent_packets: u64,
    pub received_packets: u64,
    pub sent_rate: f64,
    pub received_rate: f64,
}

/// Traffic that matched no socket, by protocol; never dropped silently.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnattributedStats {
    pub protocol: Transport,
    pub sent_bytes: u64,
    pub received_bytes: u64,
}

/// Per-interface totals and pcap's drop counter.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InterfaceStats {
    pub name: String,
    pub sent_bytes: u64,
    pub received_bytes: u64,
    /// Packets the kernel or libpcap dropped on this interface since start.
    pub dropped: u64,
}

/// One flow of one process, as seen from that process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionStats {
    pub protocol: Transport,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub sent_bytes: u64,
    pub received_bytes: u64,
    pub sent_rate: f64,
    pub received_rate: f64,
}
