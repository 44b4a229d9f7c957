//! The capture behind the D-Bus object: at most one engine [`Capture`] at a time, the latest
//! snapshot, and the channel that carries each interval's update to the signal emitter.

use super::wire_size;
use sockeye_engine::{Capture, CaptureOptions, ConnectionStats, EngineError, HostStats, Snapshot};
use sockeye_protocol::MAX_COMMAND_LINE_BYTES_PER_REPLY;
use std::collections::HashMap;
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

/// What the D-Bus getters read, on the async thread: never held across an engine call.
#[derive(Default)]
struct Published {
    /// Increases with every `start` and `stop`; reports from older captures are stale.
    generation: u64,
    /// Whether a capture runs (mirrors `Session::capture`, updated under its lock).
    capturing: bool,
    /// The last snapshot delivered (kept after `stop` so `GetStats` still answers).
    latest: Option<Snapshot>,
    /// The hosts as of that snapshot (the engine publishes them beside it).
    hosts: Arc<Vec<HostStats>>,
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
///
/// Two locks, always taken in this order: `capture` is held across slow engine calls
/// (opening every pcap handle and scanning `/proc` in `start`, a connections query of up to
/// 2 s), so it is only ever taken on tokio's blocking pool; `published` is held for a
/// moment only, so the getters can take it on the connection's single async thread without
/// stalling every other call, signal and the shutdown behind a slow `Start`.
#[derive(Clone)]
pub struct Session {
    capture: Arc<Mutex<Option<Capture>>>,
    published: Arc<Mutex<Published>>,
    reports: mpsc::Sender<Report>,
}

/// Locks `mutex`; a panic while holding it leaves plain data behind: keep serving it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Session {
    /// A stopped session and the receiving end of its reports.
    pub fn new() -> (Session, mpsc::Receiver<Report>) {
        let (reports, receiver) = mpsc::channel(REPORT_BACKLOG);
        let session = Session {
            capture: Arc::default(),
            published: Arc::default(),
            reports,
        };
        (session, receiver)
    }

    /// Starts capturing every `interval`, or changes the interval of the running capture.
    pub fn start(&self, interval: Duration) -> Result<Started, EngineError> {
        let mut running = lock(&self.capture);
        if let Some(capture) = running.as_ref() {
            capture.set_interval(interval);
            return Ok(Started::AlreadyRunning);
        }
        // Reports tagged with it are accepted once `published` says so, below: `accept`
        // waits for the `capture` lock held until then.
        let generation = lock(&self.published).generation + 1;
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
        *running = Some(capture);
        let mut published = lock(&self.published);
        published.generation = generation;
        published.capturing = true;
        published.latest = None;
        published.hosts = Arc::default();
        Ok(Started::New)
    }

    /// Stops the capture, closing every pcap handle before returning; `false` when none ran.
    pub fn stop(&self) -> bool {
        let (capture, generation) = {
            let mut running = lock(&self.capture);
            let mut published = lock(&self.published);
            published.generation += 1;
            published.capturing = false;
            (running.take(), published.generation)
        };
        let Some(capture) = capture else {
            return false;
        };
        // Joins the capture thread outside the locks: the thread may be waiting for the
        // forwarder to take its last report, which needs them.
        if let Ok((last, hosts)) = capture.stop_with_hosts() {
            let mut published = lock(&self.published);
            // Unless a new capture started meanwhile: its totals start from zero.
            if published.generation == generation {
                published.latest = Some(last);
                published.hosts = hosts;
            }
        }
        true
    }

    pub fn is_capturing(&self) -> bool {
        lock(&self.published).capturing
    }

    /// Takes a report from the capture thread: a snapshot becomes the latest, an error ends
    /// the capture. Returns `None` for reports from a capture that was stopped since.
    pub fn accept(&self, report: Report) -> Option<Result<Snapshot, EngineError>> {
        let mut running = lock(&self.capture);
        let mut published = lock(&self.published);
        if report.generation != published.generation || running.is_none() {
            return None;
        }
        match report.result {
            Ok(snapshot) => {
                published.latest = Some(snapshot.clone());
                if let Some(capture) = running.as_ref() {
                    published.hosts = capture.hosts();
                }
                Some(Ok(snapshot))
            }
            Err(error) => {
                let capture = running.take();
                published.generation += 1;
                published.capturing = false;
                drop(published);
                drop(running);
                if let Some(capture) = capture {
                    // The thread has ended with this error; stop only joins it.
                    let _ = capture.stop();
                }
                Some(Err(error))
            }
        }
    }

    /// The remote hosts as of the latest snapshot, the busiest first.
    pub fn hosts(&self) -> Arc<Vec<HostStats>> {
        Arc::clone(&lock(&self.published).hosts)
    }

    /// The latest snapshot (empty before the first interval).
    pub fn latest(&self) -> Snapshot {
        lock(&self.published).latest.clone().unwrap_or_default()
    }

    /// pid → command line of those of `pids` the latest snapshot has, in the order asked,
    /// until [`MAX_COMMAND_LINE_BYTES_PER_REPLY`] is reached. One pass over the snapshot,
    /// under the lock, copying only the lines answered.
    pub fn command_lines(&self, pids: &[u32]) -> HashMap<u32, String> {
        let published = lock(&self.published);
        let Some(latest) = &published.latest else {
            return HashMap::new();
        };
        // No more pids than lines could fit: the rest would be left out anyway.
        let most = MAX_COMMAND_LINE_BYTES_PER_REPLY / wire_size::command_line("");
        let mut wanted: HashMap<u32, usize> = HashMap::new();
        for &pid in pids.iter().take(most) {
            let order = wanted.len();
            wanted.entry(pid).or_insert(order);
        }
        let mut found: Vec<(usize, u32, &str)> = latest
            .processes
            .iter()
            .filter_map(|p| Some((*wanted.get(&p.pid)?, p.pid, p.cmdline.as_str())))
            .collect();
        found.sort_unstable_by_key(|(order, ..)| *order);
        let mut used = 0;
        let mut lines = HashMap::new();
        for (_, pid, line) in found {
            used += wire_size::command_line(line);
            if used > MAX_COMMAND_LINE_BYTES_PER_REPLY {
                break;
            }
            lines.entry(pid).or_insert_with(|| line.to_owned());
        }
        lines
    }

    /// Connections of `pid`, as of now (asks the capture thread: up to 2 s).
    pub fn connections(&self, pid: u32) -> Result<Vec<ConnectionStats>, NoConnections> {
        let running = lock(&self.capture);
        let capture = running.as_ref().ok_or(NoConnections::NotCapturing)?;
        capture
            .connections(pid)
            .ok_or(NoConnections::UnknownProcess)
    }

    /// Sets every total back to zero (in the engine and in the latest snapshot).
    pub fn reset_totals(&self) {
        let running = lock(&self.capture);
        if let Some(capture) = running.as_ref() {
            capture.reset_totals();
        }
        if let Some(latest) = &mut lock(&self.published).latest {
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
        lock(&self.published).hosts = Arc::default();
    }
}
