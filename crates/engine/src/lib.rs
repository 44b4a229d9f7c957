//! Sockeye's engine: capture packets with libpcap and tell, per process, how many bytes
//! it sent and received. No GTK and no D-Bus live here; the helper wraps this crate.
//!
//! ```text
//! Capture::start ──► capture thread (capture/session.rs; real time while it keeps up)
//!                     ├─ capture/     one non-blocking pcap handle per interface that is up,
//!                     │               polled together with an eventfd for control messages;
//!                     │               devices re-listed every second (hot-plug); drops.
//!                     │               pcap sits behind source.rs (FrameSource, Devices)
//!                     ├─ parse/       frame ─► PacketMeta (link layer by datalink, IP, ports,
//!                     │               fragments); nothing deeper sees raw bytes
//!                     ├─ accounting/  PacketMeta ─► flows.rs (owner cached per endpoint) ─►
//!                     │               per-process / per-flow counters, unattributed buckets;
//!                     │               lookups.rs (when to ask), credit.rs (who is owed);
//!                     │               host_names.rs (DNS answers ─► names/), hosts.rs
//!                     │               (traffic per remote host, per interval)
//!                     │   └─ owner.rs  OwnerLookup: attribution/ or a fake (testing.rs)
//!                     └─ snapshot.rs  what on_update receives each interval (the --json shape)
//!
//! attribution/ (SystemOwners: the real OwnerLookup), one room per question
//!   ├─ namespaces/   which network namespaces may hold a socket, whose addresses are local
//!   ├─ sockets/      which socket a packet belongs to (cached tables, then the kernel)
//!   ├─ kernel/       netlink, sock_diag, /proc/PID/net, bounded /proc reads, last pid
//!   ├─ processes/    which process holds a socket, and what that process is
//!   └─ connect_log/  who connected or listened: the sock:inet_sock_set_state tracepoint
//! names/            address → host name per namespace (and per asker), from DNS answers
//!                    decoded by parse/dns/; TTL, LRU, memory bound
//! services.rs        port → service name (/etc/services, or a built-in table)
//! system_paths.rs    /proc, /etc/passwd, /run/netns, tracefs: one value, for tests to move
//! ```
//!
//! Threading: `on_update` runs on the capture thread, so it must not block for long; the
//! [`Capture`] methods send messages to that thread and return at once (`connections`
//! waits for its answer).

pub mod accounting;
pub mod attribution;
mod capture;
pub mod names;
pub mod owner;
pub mod parse;
pub mod privilege;
pub mod services;
mod snapshot;
pub mod system_paths;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use snapshot::{
    CaptureTotals, ConnectionStats, HostStats, InterfaceStats, ProcessStats, Snapshot, Transport,
    UnattributedStats,
};
pub use system_paths::SystemPaths;

use capture::Control;
use owner::OwnerLookup;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
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

/// How long [`Capture::connections`] waits for the capture thread to answer.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// A running capture: a background thread that owns the pcap handles.
///
/// Dropping it (or calling [`Capture::stop`]) closes every pcap handle before returning, so a
/// stopped helper holds none.
pub struct Capture {
    control: Sender<Control>,
    waker: Arc<capture::Waker>,
    thread: Option<JoinHandle<Result<Snapshot, EngineError>>>,
}

impl Capture {
    /// Opens the handles and starts the capture thread. `on_update` is called on that thread
    /// once per interval with the cumulative snapshot, or with an error that ended the capture.
    pub fn start(
        options: CaptureOptions,
        on_update: impl FnMut(Result<Snapshot, EngineError>) + Send + 'static,
    ) -> Result<Capture, EngineError> {
        Self::start_with(options, attribution::SystemOwners::new()?, on_update)
    }

    /// Like [`Capture::start`], with a given owner lookup (tests, or a custom socket table).
    pub fn start_with<O: OwnerLookup + 'static>(
        options: CaptureOptions,
        owners: O,
        on_update: impl FnMut(Result<Snapshot, EngineError>) + Send + 'static,
    ) -> Result<Capture, EngineError> {
        let (control, waker, thread) = capture::spawn(options, owners, Box::new(on_update))?;
        // The capture thread's accounting publishes its hosts each interval from now on
        // (accounting/hosts.rs; the first interval ends at least 10 ms later).
        accounting::hosts::register(thread.thread().id());
        Ok(Capture {
            control,
            waker,
            thread: Some(thread),
        })
    }

    /// Every remote host talked to since start (or the last reset), the busiest first, as
    /// of the end of the last interval (published just before that interval's
    /// `on_update`, so a slow reader may already see the next interval's).
    pub fn hosts(&self) -> Arc<Vec<HostStats>> {
        match &self.thread {
            Some(thread) => accounting::hosts::latest(thread.thread().id()),
            None => Arc::default(),
        }
    }

    /// Like [`Capture::stop`], with the hosts as of that last snapshot.
    pub fn stop_with_hosts(mut self) -> Result<(Snapshot, Arc<Vec<HostStats>>), EngineError> {
        self.shutdown()
    }

    /// Connections of one process, as of now; `None` when the pid was never seen (or the
    /// capture thread has ended).
    pub fn connections(&self, pid: u32) -> Option<Vec<ConnectionStats>> {
        let (reply, answer) = std::sync::mpsc::channel();
        self.send(Control::Connections(pid, reply));
        answer.recv_timeout(QUERY_TIMEOUT).ok().flatten()
    }

    /// Sets every total back to zero; rates are unaffected.
    pub fn reset_totals(&self) {
        self.send(Control::ResetTotals);
    }

    /// Changes the accounting interval from the next interval on (at least 10 ms).
    pub fn set_interval(&self, interval: Duration) {
        self.send(Control::SetInterval(interval.max(capture::MIN_INTERVAL)));
    }

    /// Stops the thread, closes the handles and returns the last snapshot.
    pub fn stop(mut self) -> Result<Snapshot, EngineError> {
        self.shutdown().map(|(snapshot, _)| snapshot)
    }

    fn send(&self, message: Control) {
        // A send fails only when the thread has ended; its error went to `on_update`.
        let _ = self.control.send(message);
        self.waker.wake();
    }

    fn shutdown(&mut self) -> Result<(Snapshot, Arc<Vec<HostStats>>), EngineError> {
        let Some(thread) = self.thread.take() else {
            return Err(EngineError::NoCaptureDevice);
        };
        self.send(Control::Stop);
        let id = thread.thread().id();
        let last = thread.join();
        // After the join: the last interval's hosts are in.
        let hosts = accounting::hosts::unregister(id);
        let last = last.unwrap_or_else(|_| {
            Err(EngineError::Io {
                what: "capture thread".into(),
                source: std::io::Error::other("the capture thread panicked"),
            })
        });
        last.map(|snapshot| (snapshot, hosts))
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.shutdown();
        }
    }
}
