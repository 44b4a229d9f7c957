//! The engine, run continuously: every interval's snapshot goes to the recording. A capture
//! that ends with an error is started again after a pause, with the delta tracker reset
//! (the new capture's totals start from zero).

use crate::service::{lock, Shared};
use sockeye_engine::{Capture, CaptureOptions, EngineError, Snapshot};
use sockeye_metrics::Exporter;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Snapshots waiting for the recording. They are cumulative, so one skipped while the
/// database is busy loses nothing: the next one carries its traffic.
const BACKLOG: usize = 4;

/// Pause before a capture that failed is started again.
const RESTART_PAUSE: Duration = Duration::from_secs(5);

/// Captures until the process ends: starts the engine, feeds the recording (and the
/// Prometheus exporter, when the config turns it on), restarts the engine when it fails.
pub async fn run(recording: Shared, interval: Duration, metrics: Option<Arc<Exporter>>) {
    loop {
        let (sender, mut snapshots) = mpsc::channel::<Result<Snapshot, EngineError>>(BACKLOG);
        let options = CaptureOptions {
            interval,
            interfaces: Vec::new(),
        };
        // Opening every pcap handle and scanning /proc blocks: off the async threads.
        let started = tokio::task::spawn_blocking(move || {
            Capture::start(options, move |result| {
                if result.is_ok() {
                    let _ = sender.try_send(result);
                } else {
                    // The error that ends the capture must arrive.
                    let _ = sender.blocking_send(result);
                }
            })
        })
        .await;
        let capture = match started {
            Ok(Ok(capture)) => capture,
            Err(error) => {
                eprintln!("sockeye-recorder: the capture start panicked: {error}; trying again");
                tokio::time::sleep(RESTART_PAUSE).await;
                continue;
            }
            Ok(Err(error)) => {
                eprintln!("sockeye-recorder: cannot capture: {error}; trying again");
                tokio::time::sleep(RESTART_PAUSE).await;
                continue;
            }
        };
        lock(&recording).capture_restarted();
        while let Some(result) = snapshots.recv().await {
            match result {
                Ok(snapshot) => {
                    if let Some(metrics) = &metrics {
                        metrics.observe(&snapshot);
                    }
                    lock(&recording).record_snapshot(&snapshot)
                }
                Err(error) => {
                    if let Some(metrics) = &metrics {
                        metrics.capture_failed();
                    }
                    eprintln!("sockeye-recorder: capture stopped: {error}; starting it again");
                    break;
                }
            }
        }
        // Joins the engine's thread off the async threads.
        let _ = tokio::task::spawn_blocking(move || capture.stop()).await;
        tokio::time::sleep(RESTART_PAUSE).await;
    }
}
