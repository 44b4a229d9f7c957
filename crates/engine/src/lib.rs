//! Sockeye's engine: capture packets with libpcap and tell, per process, how many bytes
//! it sent and received. No GTK and no D-Bus live here; the helper wraps this crate.
//!
//! ```text
//! Capture::start ──► capture thread
//!                     ├─ pcap handles (one per interface, non-blocking, polled together)
//!                     ├─ parse      frame ─► PacketMeta (link layer by datalink, IP, ports)
//!                     ├─ attribute  flow  ─► pid (socket table ─► inode ─► process table)
//!                     └─ account    per-flow / per-process counters ─► Snapshot each interval
//! ```

pub mod attribution;
pub mod owner;
mod snapshot;

pub use snapshot::{
    ConnectionStats, InterfaceStats, ProcessStats, Snapshot, Transport, UnattributedStats,
};

use std::time::Duration;

/// Why the engine could not start or keep capturing; each variant maps to a sentence the
/// GUI and the terminal modes show to the user.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Capture needs CAP_NET_RAW (root): the caller is not privileged enough.
    #[error("permission denied: capturing packets needs administrator rights ({0})")]
    PermissionDenied(String),
    /// No interface that can be captured on is up.
    #[error("no network interface to capture on")]
    NoCaptureDevice,
    /// A named interface does not exist.
    #[error("no such network interface: {0}")]
    NoSuchInterface(String),
    /// libpcap reported an error.
    #[error("capture error on {interface}: {message}")]
    Pcap { interface: String, message: String },
    /// Reading the system's socket or process tables failed.
    #[error("cannot read {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// How a capture runs.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// Length of one accounting interval; a [`Snapshot`] is delivered at the end of each.
    pub interval: Duration,
    /// Interfaces to capture on; empty means every interface that is up, following
    /// interfaces that appear and disappear.
    pub interfaces: Vec<String>,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            interfaces: Vec::new(),
        }
    }
}

/// A running capture: a background thread that owns the pcap handles.
///
/// Dropping it (or calling [`Capture::stop`]) closes every pcap handle before returning, so a
/// stopped helper holds none.
pub struct Capture {
    _private: (),
}

impl Capture {
    /// Opens the handles and starts the capture thread. `on_update` is called on that thread
    /// once per interval with the cumulative snapshot, or with an error that ended the capture.
    pub fn start(
        options: CaptureOptions,
        on_update: impl FnMut(Result<Snapshot, EngineError>) + Send + 'static,
    ) -> Result<Capture, EngineError> {
        let _ = (options, on_update);
        Err(EngineError::NoCaptureDevice)
    }

    /// Connections of one process, as of now; `None` when the pid was never seen.
    pub fn connections(&self, pid: u32) -> Option<Vec<ConnectionStats>> {
        let _ = pid;
        None
    }

    /// Sets every total back to zero; rates are unaffected.
    pub fn reset_totals(&self) {}

    /// Changes the accounting interval from the next interval on.
    pub fn set_interval(&self, interval: Duration) {
        let _ = interval;
    }

    /// Stops the thread, closes the handles and returns the last snapshot.
    pub fn stop(self) -> Result<Snapshot, EngineError> {
        Err(EngineError::NoCaptureDevice)
    }
}
