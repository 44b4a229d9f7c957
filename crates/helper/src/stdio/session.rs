//! The capture behind the D-Bus object: at most one engine [`Capture`] at a time, the latest
//! snapshot, and the channel that carries each interval's update to the signal emitter.

use sockeye_engine::{Capture, CaptureOptions, ConnectionStats, EngineError, Snapshot};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;

/// What the capture thread reports, tagged with the capture it came from so that a late
/// report from a stopped capture is ignored.
#[derive(Debug)]
pub struct Report {
    pub generation: u64,
    pub result: Result<Snapshot, EngineError>,
}

#[derive(Default)]
struct State {
    capture: Option<Capture>,
    /// Increases with every `start`; reports from older captures are stale.
    generation: u64,
    /// The last snapshot delivered (kept after `stop` so `GetStats` still answers).
    latest: Option<Snapshot>,
}

/// Whether `start` began a capture or only changed the interval of the running one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    New,
    AlreadyRunning,
}

/// Reports waiting for the signal emitter. Snapshots are cumulative, so when a slow client
/// lets this many pile up, dropping the newest loses only that interval's rates.
const REPORT_BACKLOG: usize = 8;

/// Why [`Session::connections`] has nothing to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoConnections {
    NotCapturing,
    /// The capture never saw this pid.
    UnknownProcess,
}

/// Shared between the D-Bus object and the report forwarder.
#[derive(Clone)]
pub struct Session {
    state: Arc<Mutex<State>>,
    reports: mpsc::Sender<Report>,
}

impl Session {
    /// A stopped session and the receiving end of its reports.
    pub fn new() -> (Session, mpsc::Receiver<Report>) {
        let (reports, receiver) = mpsc::channel(REPORT_BACKLOG);
        let session = Session {
            state: Arc::default(),
            reports,
        };
        (session, receiver)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind: keep serving it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts capturing every `interval`, or changes the interval of the running capture.
    pub fn start(&self, interval: Duration) -> Result<Started, EngineError> {
        let mut state = self.lock();
        if let Some(capture) = &state.capture {
            capture.set_interval(interval);
            return Ok(Started::AlreadyRunning);
        }
        let generation = state.generation + 1;
        let reports = self.reports.clone();
        let options = CaptureOptions {
            interval,
            interfaces: Vec::new(),
        };
        let capture = Capture::start(options, move |result| {
            let report = Report { generation, result };
            if report.result.is_ok() {
                // Full: the client is slow; skip this snapshot (see REPORT_BACKLOG).
                let _ = reports.try_send(report);
            } else {
                // The error that ends the capture must arrive; this thread ends next.
                // Fails only when the receiver is gone, while the helper shuts down.
                let _ = reports.blocking_send(report);
            }
        })?;
        state.generation = generation;
        state.capture = Some(capture);
        state.latest = None;
        Ok(Started::New)
    }

    /// Stops the capture, closing every pcap handle before returning; `false` when none ran.
    pub fn stop(&self) -> bool {
        let capture = {
            let mut state = self.lock();
            state.generation += 1;
            state.capture.take()
        };
        let Some(capture) = capture else {
            return false;
        };
        // Joins the capture thread, outside the lock (the thread never takes it, but a
        // concurrent GetStats should not wait for the join).
        if let Ok(last) = capture.stop() {
            self.lock().latest = Some(last);
        }
        true
    }

    pub fn is_capturing(&self) -> bool {
        self.lock().capture.is_some()
    }

    /// Takes a report from the capture thread: a snapshot becomes the latest, an error ends
    /// the capture. Returns `None` for reports from a capture that was stopped since.
    pub fn accept(&self, report: Report) -> Option<Result<Snapshot, EngineError>> {
        let mut state = self.lock();
        if report.generation != state.generation || state.capture.is_none() {
            return None;
        }
        match report.result {
            Ok(snapshot) => {
                state.latest = Some(snapshot.clone());
                Some(Ok(snapshot))
            }
            Err(error) => {
                let capture = state.capture.take();
                state.generation += 1;
                drop(state);
                if let Some(capture) = capture {
                    // The thread has ended with this error; stop only joins it.
                    let _ = capture.stop();
                }
                Some(Err(error))
            }
        }
    }

    /// The latest snapshot (empty before the first interval).
    pub fn latest(&self) -> Snapshot {
        self.lock().latest.clone().unwrap_or_default()
    }

    /// Connections of `pid`, as of now.
    pub fn connections(&self, pid: u32) -> Result<Vec<ConnectionStats>, NoConnections> {
        let state = self.lock();
        let capture = state.capture.as_ref().ok_or(NoConnections::NotCapturing)?;
        capture
            .connections(pid)
            .ok_or(NoConnections::UnknownProcess)
    }

    /// Sets every total back to zero (in the engine and in the latest snapshot).
    pub fn reset_totals(&self) {
        let mut state = self.lock();
        if let Some(capture) = &state.capture {
            capture.reset_totals();
        }
        if let Some(latest) = &mut state.latest {
            for process in &mut latest.processes {
                process.sent_bytes = 0;
                process.received_bytes = 0;
                process.sent_packets = 0;
                process.received_packets = 0;
            }
            for bucket in &mut latest.unattributed {
                bucket.sent_bytes = 0;
                bucket.received_bytes = 0;
            }
            for interface in &mut latest.interfaces {
                interface.sent_bytes = 0;
                interface.received_bytes = 0;
            }
        }
    }
}
