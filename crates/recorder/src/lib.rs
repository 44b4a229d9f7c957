//! `sockeye-recorder`: the engine run continuously as a system service, writing per-hour,
//! per-app, per-user network use into SQLite and serving it on the system bus
//! (`io.github.sockeye.Recorder1`, see `sockeye_protocol::recorder`).
//!
//! Its own binary, not a mode of `sockeye-helper`: the helper is a per-session,
//! peer-to-peer server with no state that lives as long as one GUI window and exits when
//! its socket closes; the recorder is a long-lived system-bus service that owns a database,
//! a bus name and a bus policy, and runs under systemd with its own hardening. Keeping
//! them apart keeps SQLite and the system-bus code out of the process pkexec starts.
//!
//! ```text
//! engine Capture ── snapshot each interval ──► capture::run
//!                                                │ Recording::record_snapshot
//!                                                ▼   (delta: totals → what the interval added)
//!                       pending (bounded, in memory: the current hour, failed writes)
//!                                                │ Recording::flush, every flush_seconds
//!                                                ▼   and on SIGTERM/SIGINT
//!                         store: history.sqlite (WAL) ── usage_hour, usage_day, spans
//!                                                ▲
//! system bus ── service::HistoryService ─────────┘  reads stored + pending rows,
//!               (caller uid from the bus,            visibility: own rows, others summed,
//!                polkit history-all)                 every row with history-all
//! ```

pub mod admin;
pub mod capture;
pub mod cli;
pub mod config;
pub mod delta;
pub mod localtime;
pub mod pending;
pub mod polkit;
pub mod recording;
pub mod service;
pub mod store;
pub mod usage;
pub mod visibility;
