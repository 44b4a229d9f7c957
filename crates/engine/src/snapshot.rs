//! What the engine reports each interval: plain owned data, serialisable as the helper's
//! `--json` line (field names are a contract with scripts: keep them).

use serde::Serialize;
use std::net::{IpAddr, SocketAddr};

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
    /// Only as an unattributed bucket, never a flow's: the outer packets of a tunnel the
    /// kernel runs, with no process behind them (VXLAN, Geneve, GRE, IPIP, IPsec's ESP…;
    /// the rule is in `accounting`'s module doc). `--json` and D-Bus: `"tunnel"`.
    Tunnel,
}

impl Transport {
    /// Its name in `--json`, on D-Bus, in the recorder's database and in metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Icmp => "icmp",
            Transport::Other => "other",
            Transport::Tunnel => "tunnel",
        }
    }
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

/// How much was captured, and how much of it was attributed to at least one process,
/// counted per *transfer*: a packet seen on several local interfaces (a container's veth
/// port, the bridge, the NATed egress) is one transfer, counted at its first sighting
/// (`accounting`'s module doc has the rule). Per transfer,
/// `captured_bytes == attributed_bytes + Σ unattributed (sent + received) + pending_bytes`
/// holds in every snapshot (pending: traffic whose owner may still be found, published
/// to a process or a bucket within two seconds, so that no published total goes down);
/// the further sightings are `repeated_bytes`, so
/// `captured_bytes + repeated_bytes` is every sighting on every interface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureTotals {
    /// Wire bytes of every transfer captured (its first sighting), on all interfaces.
    pub captured_bytes: u64,
    pub captured_packets: u64,
    /// Wire bytes of further sightings of transfers counted already (another interface
    /// the same packet crossed, translated or not).
    pub repeated_bytes: u64,
    pub repeated_packets: u64,
    /// Wire bytes of transfers whose sender or receiver is a known process.
    pub attributed_bytes: u64,
    /// Wire bytes of transfers with no owner yet whose owner may still be found (for up
    /// to `AccountingConfig::orphan_hold`): in no process and no unattributed bucket
    /// yet, so that neither ever goes down. Per snapshot, `captured_bytes ==
    /// attributed_bytes + Σ unattributed + pending_bytes`.
    pub pending_bytes: u64,
    /// Owner lookups made, and those that found no owner (diagnostics).
    pub owner_lookups: u64,
    pub owner_misses: u64,
    /// Lookups put off because the global lookup budget was spent or the capture thread
    /// was far behind.
    pub lookups_deferred: u64,
    /// DNS messages received by a local socket and decoded for host names.
    pub dns_decoded: u64,
    /// DNS messages left undecoded because the decode budget was spent
    /// (`AccountingConfig::dns_decodes_per_second`).
    pub dns_skipped: u64,
    /// TCP segments from port 53 left undecoded because a message in them was split
    /// across segments (messages are not reassembled).
    pub dns_split: u64,
    /// The per-process socket-layer counters ([`ProcessStats::socket_sent_bytes`]) are
    /// available: this kernel has the tracepoints and the engine may read them.
    pub socket_counters: bool,
    /// Send and receive calls the socket counters missed (the kernel's ring was full):
    /// with any, some processes' socket counters are low.
    pub socket_events_lost: u64,
    /// Short-lived UDP senders are found from the kernel's route-lookup tracepoints (this
    /// kernel has them and the engine may read them); without, a sender whose socket
    /// closed before its first packet was looked up is "unknown UDP".
    pub sender_log: bool,
    /// Route lookups the sender log missed (the kernel's ring was full): with any, a
    /// short-lived sender may have fallen to "unknown UDP".
    pub sender_events_lost: u64,
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
    /// Payload bytes the process wrote to its inet sockets (TCP, UDP…: no headers), since
    /// start; absent (`None`, left out of `--json`), not zero, when the kernel cannot tell
    /// (`attribution/socket_bytes/`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket_sent_bytes: Option<u64>,
    /// Payload bytes it read from them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket_received_bytes: Option<u64>,
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
    /// The remote address's host name: from the DNS answer this process received, else the
    /// latest answer for that address in its network namespace (`names/`).
    pub remote_name: Option<String>,
    /// The service of the remote port (else of the local one), from `/etc/services`.
    pub service: Option<String>,
}

/// One remote host: a DNS name and the addresses seen for it, or one address with no
/// name; what the machine's processes sent to it and received from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostStats {
    /// Host name from DNS; `None` when no answer named the address.
    pub name: Option<String>,
    /// Remote addresses (at most 16), in the order they were seen.
    pub addresses: Vec<IpAddr>,
    /// Bytes sent to it, since start (or the last reset).
    pub sent_bytes: u64,
    /// Bytes received from it.
    pub received_bytes: u64,
    /// Bytes per second over the last interval.
    pub sent_rate: f64,
    pub received_rate: f64,
    /// The processes that talked to it, ascending (at most 64).
    pub pids: Vec<u32>,
}
