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
/// property right after connecting and refuses a mismatch. The package version, then the
/// revision of the payloads after `+protocol.`: raise it whenever a signature or the meaning
/// of a field changes (2: command lines travel in [`Update::command_lines`], once; 3: socket
/// counters in [`Process`], host names and services in [`Connection`], `GetHosts`; 4: the
/// `tunnel` bucket of [`Unattributed`]).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "+protocol.4");

/// Most bytes an `Updated` signal may take on the wire, header included (zbus refuses
/// messages above 128 MiB; a signal this size already takes a GUI a while to read). Command
/// lines that do not fit wait for the next update; the rows with the totals are always sent.
pub const MAX_UPDATE_BYTES: usize = 16 * 1024 * 1024;

/// Most bytes of command-line text (D-Bus encoding included) one `Updated` signal carries:
/// 64 command lines of the engine's longest (4 KiB), thousands of usual ones. A burst of new
/// processes has its command lines spread over the following intervals.
pub const MAX_COMMAND_LINE_BYTES_PER_UPDATE: usize = 256 * 1024;

/// Most bytes of command-line text (D-Bus encoding included) one `GetCommandLines` reply
/// carries; the pids that did not fit are left out of it.
pub const MAX_COMMAND_LINE_BYTES_PER_REPLY: usize = 1024 * 1024;

/// One process's traffic (`app_id` is empty when unknown: D-Bus has no null).
///
/// In an `Updated` signal `cmdline` is always empty: command lines travel in
/// [`Update::command_lines`]. `GetProcesses` fills it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Type)]
pub struct Process {
    pub pid: u32,
    pub name: String,
    pub cmdline: String,
    pub uid: u32,
    pub user: String,
    pub app_id: String,
    pub exited: bool,
    /// The engine could not read the command line or app id in time (a process that
    /// stalls reads of its `/proc` files): `cmdline` stays empty for that reason.
    pub details_unavailable: bool,
    pub sent_bytes: u64,
    pub received_bytes: u64,
    pub sent_packets: u64,
    pub received_packets: u64,
    /// Bytes per second over the last interval.
    pub sent_rate: f64,
    /// Bytes per second over the last interval.
    pub received_rate: f64,
    /// Whether the kernel reports this process's socket-layer bytes (the two fields below);
    /// when false they are zero and mean "not known", not "none".
    pub socket_counters: bool,
    /// Payload bytes the process wrote to its sockets (what the app sent, before headers).
    pub socket_sent_bytes: u64,
    /// Payload bytes the process read from its sockets.
    pub socket_received_bytes: u64,
}

/// Traffic that matched no socket; `protocol` is `tcp`, `udp`, `icmp`, `other` or `tunnel`
/// (the outer packets of tunnels the kernel runs).
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
    /// The remote address's host name, from the DNS answer this process received (else the
    /// latest answer for that address in its network namespace); empty when none was seen.
    pub remote_name: String,
    /// The remote port's service name (`https`, `domain`, `ssh`…); empty when unknown.
    pub service: String,
}

/// One remote host the machine talked to during the capture: a name and the addresses
/// that answered to it, or one address with no name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Type)]
pub struct Host {
    /// The host name from DNS; empty when no answer named any of `addresses`.
    pub name: String,
    /// Remote addresses without ports, as text (`192.0.2.1`, `2001:db8::1`).
    pub addresses: Vec<String>,
    pub sent_bytes: u64,
    pub received_bytes: u64,
    /// Bytes per second over the last interval.
    pub sent_rate: f64,
    /// Bytes per second over the last interval.
    pub received_rate: f64,
    /// The processes that talked to this host, ascending.
    pub pids: Vec<u32>,
}

/// The payload of the `Updated` signal, sent once per interval, at most
/// [`MAX_UPDATE_BYTES`] long.
///
/// It tells what changed since the previous update of the same capture (a `Start` after
/// `Stop` begins again with everything):
/// - `processes` holds every running process and every exited one whose row changed; an
///   exited process missing from it is as the client last saw it (rates zero);
/// - `command_lines` holds the command lines the client has not had yet: those of new
///   processes and those that changed, as many as fit in
///   [`MAX_COMMAND_LINE_BYTES_PER_UPDATE`]; the rest follow in the next updates, and
///   `GetCommandLines` answers at once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Type)]
pub struct Update {
    /// End of the interval, seconds since the Unix epoch.
    pub time: u64,
    pub interval_ms: u32,
    pub processes: Vec<Process>,
    pub unattributed: Vec<Unattributed>,
    pub interfaces: Vec<Interface>,
    /// pid → command line (arguments joined by spaces), for the processes above or earlier.
    pub command_lines: HashMap<u32, String>,
}

/// D-Bus name of the error for invalid arguments (interval 0 or above [`MAX_INTERVAL_MS`]).
pub const INVALID_ARGS_ERROR: &str = "org.freedesktop.DBus.Error.InvalidArgs";
/// Largest interval `Start` accepts, in milliseconds (one minute).
pub const MAX_INTERVAL_MS: u32 = 60_000;

/// The errors the helper's methods reply with, named
/// `io.github.sockeye.Capture1.Error.<Variant>`; each carries a message for the log, and the
/// variant alone is enough for the GUI to write its own sentence.
///
/// On the client, `CaptureError::from(zbus_error)` turns a method error back into a
/// variant (other errors land in [`CaptureError::ZBus`]).
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "io.github.sockeye.Capture1.Error")]
pub enum CaptureError {
    /// Not a capture error: the call itself failed (connection closed, bad reply…).
    #[zbus(error)]
    ZBus(zbus::Error),
    /// The helper lacks the privileges to capture (not root, capabilities missing).
    PermissionDenied(String),
    /// No network interface that can be captured on is up.
    NoCaptureDevice(String),
    /// A named interface does not exist.
    NoSuchInterface(String),
    /// libpcap failed on an interface.
    CaptureFailed(String),
    /// The system's socket or process tables could not be read.
    SystemTables(String),
    /// `GetConnections` for a pid the capture never saw.
    UnknownProcess(String),
    /// `GetConnections` while no capture runs.
    NotCapturing(String),
}

impl CaptureError {
    /// Rebuilds the typed error from a D-Bus error name and message (as carried by the
    /// `Failed` signal); an unknown name becomes [`CaptureError::ZBus`].
    pub fn from_parts(error_name: &str, message: String) -> CaptureError {
        let suffix = error_name
            .strip_prefix("io.github.sockeye.Capture1.Error.")
            .unwrap_or("");
        match suffix {
            "PermissionDenied" => CaptureError::PermissionDenied(message),
            "NoCaptureDevice" => CaptureError::NoCaptureDevice(message),
            "NoSuchInterface" => CaptureError::NoSuchInterface(message),
            "CaptureFailed" => CaptureError::CaptureFailed(message),
            "SystemTables" => CaptureError::SystemTables(message),
            "UnknownProcess" => CaptureError::UnknownProcess(message),
            "NotCapturing" => CaptureError::NotCapturing(message),
            _ => CaptureError::ZBus(zbus::Error::Failure(format!("{error_name}: {message}"))),
        }
    }
}

/// Nominal peer name the proxy addresses. A peer-to-peer connection has no bus to route
/// names, and the helper registers none, so any well-known name reaches it; giving one lets
/// `Capture1Proxy::new(&connection)` work without a `.destination(..)`.
pub const HELPER_PEER_NAME: &str = "io.github.sockeye.Helper";

/// Client side of `io.github.sockeye.Capture1`.
///
/// On the peer-to-peer connection use `Capture1Proxy::new(&connection)`; signals
/// (`receive_updated()`, `receive_capturing_changed()`) work as on a bus.
#[zbus::proxy(
    interface = "io.github.sockeye.Capture1",
    default_service = "io.github.sockeye.Helper",
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
    /// pid → command line of the given pids, as of the last interval; pids the capture has
    /// not seen, and those past [`MAX_COMMAND_LINE_BYTES_PER_REPLY`], are left out.
    fn get_command_lines(&self, pids: &[u32]) -> zbus::Result<HashMap<u32, String>>;
    fn get_interfaces(&self) -> zbus::Result<Vec<Interface>>;
    fn get_unattributed(&self) -> zbus::Result<Vec<Unattributed>>;
    /// Every remote host of the capture (name, else address) with its totals and pids.
    fn get_hosts(&self) -> zbus::Result<Vec<Host>>;
    /// Sets every total back to zero.
    fn reset_totals(&self) -> zbus::Result<()>;

    /// Emitted at the end of every interval while capturing.
    #[zbus(signal)]
    fn updated(&self, update: Update) -> zbus::Result<()>;

    /// Emitted when the engine hits an error that ends the capture (`Capturing` turns false
    /// too); `error_name` is one of [`CaptureError`]'s D-Bus names, so
    /// [`CaptureError::from_parts`] turns it back into a typed error.
    #[zbus(signal)]
    fn failed(&self, error_name: String, message: String) -> zbus::Result<()>;

    #[zbus(property)]
    fn capturing(&self) -> zbus::Result<bool>;
    /// Whether short-lived UDP senders are traced (route-lookup tracepoints), as of the
    /// last interval.
    #[zbus(property(emits_changed_signal = "false"))]
    fn sender_log(&self) -> zbus::Result<bool>;
    /// Route lookups the sender log missed (a full kernel ring), as of the last interval.
    #[zbus(property(emits_changed_signal = "false"))]
    fn sender_events_lost(&self) -> zbus::Result<u64>;
    #[zbus(property)]
    fn version(&self) -> zbus::Result<String>;
}

pub mod recorder;

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::DBusError;

    #[test]
    fn a_failed_signal_names_back_into_the_typed_error() {
        let sent = CaptureError::NoCaptureDevice("no network interface".into());
        let name = sent.name().to_string();
        assert_eq!(name, "io.github.sockeye.Capture1.Error.NoCaptureDevice");
        let received = CaptureError::from_parts(&name, "no network interface".into());
        assert!(
            matches!(received, CaptureError::NoCaptureDevice(m) if m == "no network interface")
        );
    }

    #[test]
    fn an_unknown_error_name_is_kept_in_the_message() {
        let received = CaptureError::from_parts("org.example.Other", "boom".into());
        assert!(received.to_string().contains("org.example.Other: boom"));
    }
}
