//! Root integration tests: the engine capturing real traffic, the exporter fed exactly as
//! the recorder feeds it, a real Prometheus server scraping it, tcpdump as the truth.
//!
//! Run as root (CI does): `cargo test -p sockeye-metrics --test root -- --nocapture`
//! prints one MEASURED line per scenario. Loopback ports 19741–19744 are theirs.

// Test helpers outside `#[test]` functions panic on purpose, like the tests themselves.
#![allow(clippy::unwrap_used)]

mod churn;
// Shared with the non-root tests, which use all of it.
#[allow(dead_code)]
#[path = "../common/http_client.rs"]
mod http_client;
mod prometheus;
mod support;
