//! The sweep of every process's descriptors, on its own low-priority thread: reading all
//! of `/proc/*/fd` takes tens of milliseconds on a busy machine, too long to do on the
//! capture thread. A lookup that misses asks for a sweep; the thread runs at most one at a
//! time at low priority, pauses twice as long as the last one took (so it uses at most
//! about a third of a core while lookups keep missing), and hands back where each socket
//! inode was found. Nothing runs while no lookup misses.

use super::scan::{list_pids, read_fds};
use crate::attribution::kernel::bounded_read::read_text;
use crate::attribution::processes::process_info::parse_stat;
use crate::owner::Pid;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bounds of the pause after a sweep.
const MIN_PAUSE: Duration = Duration::from_millis(10);
const MAX_PAUSE: Duration = Duration::from_millis(500);
/// Most inodes one sweep records.
const MAX_INODES: usize = 1 << 21;

/// What one sweep found: socket inode → (pid, start time) of its most recently started
/// holder (the shared-socket rule is applied again when the holder is adopted).
#[derive(Debug, Default)]
pub(crate) struct SweepResult {
    pub holders: HashMap<u64, (Pid, u64)>,
}

/// The handle the lookup side keeps; dropping it ends the thread.
#[derive(Debug)]
pub(crate) struct Sweeper {
    requests: Option<Sender<()>>,
    results: Option<Receiver<Arc<SweepResult>>>,
    latest: Arc<SweepResult>,
    /// Sweeps whose results arrived.
    pub(crate) completed: u64,
}

impl Sweeper {
    /// Starts the thread over `proc_root`; without a thread (spawn failed) requests are
    /// ignored and lookups rely on the cheaper passes alone.
    pub(crate) fn start(proc_root: PathBuf) -> Self {
        let (request_tx, request_rx) = mpsc::channel::<()>();
        let (result_tx, result_rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("sockeye-sweep".into())
            .spawn(move || run(&proc_root, &request_rx, &result_tx));
        let ok = spawned.is_ok();
        Self {
            requests: ok.then_some(request_tx),
            results: ok.then_some(result_rx),
            latest: Arc::default(),
            completed: 0,
        }
    }

    /// Asks for a sweep (coalesced with any pending request).
    pub(crate) fn request(&self) {
        if let Some(tx) = &self.requests {
            let _ = tx.send(());
        }
    }

    /// The newest result that has arrived.
    pub(crate) fn latest(&mut self) -> &SweepResult {
        if let Some(rx) = &self.results {
            while let Ok(result) = rx.try_recv() {
                self.latest = result;
                self.completed += 1;
            }
        }
        &self.latest
    }

    /// Waits (bounded) for the next result; for tests.
    #[cfg(test)]
    pub(crate) fn wait_for_result(&mut self, timeout: Duration) -> bool {
        let Some(rx) = &self.results else {
            return false;
        };
        match rx.recv_timeout(timeout) {
            Ok(result) => {
                self.latest = result;
                self.completed += 1;
                true
            }
            Err(_) => false,
        }
    }
}

/// The thread: one sweep per (coalesced) request, then a pause; ends when the handle is
/// dropped.
fn run(proc_root: &Path, requests: &Receiver<()>, results: &Sender<Arc<SweepResult>>) {
    lower_priority();
    while requests.recv().is_ok() {
        while requests.try_recv().is_ok() {} // coalesce
        let started = Instant::now();
        let result = sweep(proc_root);
        let took = started.elapsed();
        if results.send(Arc::new(result)).is_err() {
            return;
        }
        std::thread::sleep((took * 2).clamp(MIN_PAUSE, MAX_PAUSE));
    }
}

/// Reads every process's descriptors.
fn sweep(proc_root: &Path) -> SweepResult {
    let mut holders: HashMap<u64, (Pid, u64)> = HashMap::new();
    for pid in list_pids(proc_root) {
        let dir = proc_root.join(pid.to_string());
        let Some(stat) = read_text(&dir.join("stat"), 4096)
            .ok()
            .and_then(|t| parse_stat(&t))
        else {
            continue;
        };
        for (_, inode) in read_fds(&dir.join("fd"), &[]) {
            if inode == 0 || holders.len() >= MAX_INODES {
                continue;
            }
            let newer = holders
                .get(&inode)
                .is_none_or(|&(other, start)| (stat.start_time, pid) > (start, other));
            if newer {
                holders.insert(inode, (pid, stat.start_time));
            }
        }
    }
    SweepResult { holders }
}

/// Runs this thread at a lower priority than capture (nice +10; on Linux `setpriority`
/// with who = 0 affects the calling thread only). Failure leaves it as it is.
fn lower_priority() {
    let _ = rustix::process::setpriority_process(None, 10);
}
