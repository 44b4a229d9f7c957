//! Optional lookup tracing for diagnosing attribution misses in the field and in flaky
//! scenarios: with `SOCKEYE_TRACE_LOOKUPS` set in the environment (or after
//! [`trace_lookups`]), every owner lookup that finds nobody prints one line on stderr
//! saying which stage failed. Off by default: the terminal modes own stdout, and a miss is
//! normal for a connection that is already gone.

use crate::Transport;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

static FORCED: AtomicBool = AtomicBool::new(false);

/// Turns lookup tracing on for this process (test harnesses, where setting the environment
/// of a running multi-threaded process is unsafe).
pub fn trace_lookups() {
    FORCED.store(true, Ordering::Relaxed);
}

fn enabled() -> bool {
    static FROM_ENV: OnceLock<bool> = OnceLock::new();
    FORCED.load(Ordering::Relaxed)
        || *FROM_ENV.get_or_init(|| std::env::var_os("SOCKEYE_TRACE_LOOKUPS").is_some())
}

/// Reports a lookup of `local` ↔ `remote` that found no owner, and why.
pub(super) fn miss(transport: Transport, local: SocketAddr, remote: SocketAddr, why: &str) {
    static START: OnceLock<Instant> = OnceLock::new();
    if enabled() {
        let start = START.get_or_init(Instant::now);
        eprintln!(
            "sockeye-engine: {:>9.3} ms miss {transport:?} {local} <-> {remote}: {why}",
            start.elapsed().as_secs_f64() * 1000.0
        );
    }
}
