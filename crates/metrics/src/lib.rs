//! Per-application network use as Prometheus metrics: the recorder feeds each interval's
//! engine [`Snapshot`] to an [`Exporter`], which serves `GET /metrics` (OpenMetrics or the
//! Prometheus text format) on loopback TCP or a unix socket. Off unless the recorder's
//! config has a `[metrics]` table; then nothing listens at all.
//!
//! ```text
//! recorder's per-interval function ── Exporter::observe(&Snapshot)
//!                                        │  (a mutex; never waits for a scraper)
//!   registry.rs    cumulative engine totals ─► what they grew by ─► counters that only grow
//!    ├─ app_key.rs     process ─► (app id | executable | name, user): never a pid
//!    └─ top_series.rs  at most top_apps (app, user) pairs named, the rest in app="other"
//!   exposition.rs  counters ─► OpenMetrics 1.0 / Prometheus 0.0.4 text, by Accept
//!   server.rs      thread "sockeye-metrics": tokio + hyper, GET /metrics, bounded clients
//! config.rs        the [metrics] table: listen = "127.0.0.1:9741" | "unix:/path", top_apps
//! ```
//!
//! Wiring it into a capture loop:
//!
//! ```no_run
//! # fn demo(config: Option<sockeye_metrics::MetricsConfig>) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! let exporter = sockeye_metrics::Exporter::start(config.as_ref())?.map(Arc::new);
//! let metrics = exporter.clone();
//! let capture = sockeye_engine::Capture::start(Default::default(), move |update| {
//!     if let Some(metrics) = &metrics {
//!         match &update {
//!             Ok(snapshot) => metrics.observe(snapshot),
//!             Err(_) => metrics.capture_failed(),
//!         }
//!     }
//!     // … the recorder's own work with `update` …
//! })?;
//! # drop(capture); Ok(()) }
//! ```
//!
//! No per-connection, per-address or per-host data is exported, and no pid: only
//! applications, users, interfaces and protocols, each with bounded cardinality.

mod app_key;
mod config;
mod exposition;
mod registry;
mod server;
mod top_series;

pub use app_key::{app_key, AppKey, Executables};
pub use config::{
    ConfigError, ListenAddress, MetricsConfig, TopApps, DEFAULT_PORT, DEFAULT_TOP_APPS,
    MAX_TOP_APPS,
};
pub use exposition::Format;
pub use registry::MAX_INTERFACES;
pub use top_series::{HALF_LIFE_S, HYSTERESIS};

use registry::Registry;
use sockeye_engine::{Snapshot, SystemPaths};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

/// Why the exporter could not start; each variant reads as a sentence for the log.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot listen for metrics on {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot listen for metrics on unix:{}: another process serves that socket (is a \
         second recorder running?)",
        .0.display()
    )]
    SocketInUse(PathBuf),
    #[error(
        "cannot listen for metrics on unix:{}: a file that is not a socket is in the way",
        .0.display()
    )]
    NotASocket(PathBuf),
    #[error("cannot start the metrics server: {0}")]
    Runtime(#[source] std::io::Error),
}

/// A running exporter: the counters and the server that serves them. Dropping it stops
/// the server, closes its connections and removes its unix socket file.
pub struct Exporter {
    registry: Arc<Mutex<Registry>>,
    address: ListenAddress,
    _server: server::Server,
}

impl Exporter {
    /// Starts serving as `config` says: `None` (no `[metrics]` table) starts nothing, opens
    /// no socket and returns `Ok(None)`. A non-loopback address is logged as a warning.
    pub fn start(config: Option<&MetricsConfig>) -> Result<Option<Exporter>, MetricsError> {
        Self::start_with_paths(config, &SystemPaths::default())
    }

    /// Like [`Exporter::start`], reading executables' paths under `paths.proc`.
    pub fn start_with_paths(
        config: Option<&MetricsConfig>,
        paths: &SystemPaths,
    ) -> Result<Option<Exporter>, MetricsError> {
        let Some(config) = config else {
            return Ok(None);
        };
        if let Some(warning) = config.listen.warning() {
            eprintln!("sockeye metrics: warning: {warning}");
        }
        let (listener, address) = server::bind(&config.listen)?;
        let registry = Arc::new(Mutex::new(Registry::new(
            config.top_apps.get(),
            paths.proc.clone(),
        )));
        let unix_path = match &address {
            ListenAddress::Unix(path) => Some(path.clone()),
            ListenAddress::Tcp(_) => None,
        };
        let server = server::Server::spawn(listener, unix_path, Arc::clone(&registry))?;
        Ok(Some(Exporter {
            registry,
            address,
            _server: server,
        }))
    }

    /// Adds one interval's snapshot (the engine's cumulative totals; what grew since the
    /// previous call is counted). Call it once per interval from the capture loop: it holds
    /// a mutex for about half a microsecond per process (10 ms for 20,000 processes whose
    /// totals all changed, optimized build) and never waits for a scraper's socket.
    pub fn observe(&self, snapshot: &Snapshot) {
        self.lock().observe(snapshot);
    }

    /// The capture ended with an error: `sockeye_recorder_up` reads 0 until the next
    /// [`Exporter::observe`].
    pub fn capture_failed(&self) {
        self.lock().capture_failed();
    }

    /// Where the metrics are served (with the port the system chose when the config
    /// said port 0).
    pub fn address(&self) -> &ListenAddress {
        &self.address
    }

    /// The exposition a scrape in `format` would get now.
    pub fn exposition(&self, format: Format) -> String {
        self.lock().render(format)
    }

    /// How many `sockeye_app_network_bytes_total` series are exported now: at most
    /// `2 × (2 × top_apps + 1)` (named pairs, `app="other"` per user, `user="other"`).
    pub fn app_series(&self) -> usize {
        self.lock().app_series()
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorder shares one exporter between its capture thread and the rest.
    #[test]
    fn an_exporter_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Exporter>();
    }

    #[test]
    fn no_config_starts_nothing() {
        assert!(Exporter::start(None).unwrap().is_none());
    }
}
