//! The details of a process whose read can hang for as long as the process wants, read off
//! the capture thread by a small pool of threads, each read with a deadline.
//!
//! Which reads can hang, and why (checked on Linux 6.18 with a victim whose mmap lock is
//! held by its own thread, stuck in a read of a FUSE file whose server never answers):
//! - `/proc/PID/cmdline` (and `environ`, `maps`, `mem`, which are not read): the kernel
//!   copies the arguments out of the process's memory with `access_remote_vm`, which takes
//!   the process's mmap lock. The process owns that lock: one thread holds it while
//!   faulting on a FUSE page (a read through `/proc/self/mem` cannot drop it), a second
//!   queues for it as a writer (`mmap`), and every later reader waits behind them. No
//!   privilege is needed (a FUSE mount through fusermount or in a user namespace). The
//!   older recipe, pointing the arguments at a FUSE mapping with `PR_SET_MM_MAP`, fails
//!   since Linux 4.17: cmdline is read with `FOLL_ANON`, never from a file mapping.
//! - `/proc/PID/root/.flatpak-info`: looking that name up walks the process's root, which
//!   the process chooses (in a user namespace, a FUSE or overlay mount), so even the
//!   `O_PATH` open can wait on a FUSE server.
//!
//! The other files read per process, `stat`, `comm`, `status` and `cgroup`, and the
//! `fd` links, need neither the mmap lock nor a lookup below the process's root; they
//! answered at once for the victim above and are read on the capture thread
//! (`process_info.rs`), so a process is credited under its name and user at once.
//!
//! ```text
//! capture thread                         workers (at most MAX_THREADS)
//!  request(pid, start, uid) ─► queue ─►   read cmdline, .flatpak-info (read.rs),
//!  poll():                                 start time checked before and after
//!   ◄─ outcomes (channel) ◄──────────────  Read / Gone
//!   a read running past DEADLINE: the pid is Unavailable, its worker counted stuck and
//!   replaced while fewer than MAX_THREADS exist; a stuck worker that comes back serves
//!   again (its late result still counts)
//! ```
//!
//! A worker stuck in the kernel cannot be cancelled, so stuck workers are counted and never
//! more than [`MAX_THREADS`] threads exist in a pool ([`MAX_THREADS_IN_PROCESS`] in all
//! pools, as each capture start makes one and stuck threads outlive theirs); once all of them are stuck, every request
//! (queued or new) is answered Unavailable at once. Once [`MAX_STUCK_PER_UID`] workers are
//! stuck on one user's processes, that user's requests (queued or new) are answered
//! Unavailable at once, so one user's hanging processes cannot take the other users'
//! details away (a request already being read when the cap is reached may add one more).
//! A pid is never asked for twice: the caller keeps its outcome with the pid's start time.

mod read;
pub(crate) use read::LateDetails;

use crate::owner::Pid;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a read may take before its process is shown with its details unavailable, in
/// milliseconds: both files answer within microseconds unless something holds them.
pub(crate) const DEADLINE: Duration = Duration::from_millis(200);
/// Workers kept free to read (not stuck).
const LIVE_WORKERS: usize = 2;
/// Most worker threads, stuck ones included.
pub(crate) const MAX_THREADS: usize = 8;
/// Most worker threads of all pools together, stuck ones included: every capture start
/// makes a new pool, and a stuck thread of an earlier pool lives on until released.
const MAX_THREADS_IN_PROCESS: usize = 4 * MAX_THREADS;
/// Stuck workers after which a user's requests are answered Unavailable at once.
pub(crate) const MAX_STUCK_PER_UID: usize = 2;
/// Most requests waiting for a worker; beyond, a request is answered Unavailable.
const MAX_QUEUE: usize = 4096;
/// Stack of a worker thread, in bytes: it holds a path and a 64 KiB buffer on the heap.
const STACK_SIZE: usize = 256 * 1024;
/// Worker threads alive in this process, of every pool.
static THREADS_IN_PROCESS: AtomicUsize = AtomicUsize::new(0);

/// The worker threads that pools sharing it may have together: every pool of the process
/// shares [`ThreadBudget::PROCESS`]; tests make small ones.
#[derive(Clone, Copy)]
pub(crate) struct ThreadBudget {
    alive: &'static AtomicUsize,
    cap: usize,
}

impl ThreadBudget {
    const PROCESS: ThreadBudget = ThreadBudget {
        alive: &THREADS_IN_PROCESS,
        cap: MAX_THREADS_IN_PROCESS,
    };

    /// Counts one more thread, unless the budget is spent.
    fn take(self) -> Option<Counted> {
        if self.alive.fetch_add(1, Ordering::SeqCst) >= self.cap {
            self.alive.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Counted(self.alive))
    }
}

/// One thread counted in a [`ThreadBudget`], until dropped (by the thread as it ends).
struct Counted(&'static AtomicUsize);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One process whose late details are wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Request {
    pub pid: Pid,
    /// Start time (clock ticks since boot) that identifies the process, when known: read
    /// again around the read so a reused pid's details are never credited to it.
    pub start_time: Option<u64>,
    /// Real uid: `.flatpak-info` counts only as a plain file of this user.
    pub uid: u32,
}

/// What came of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Late {
    Read(LateDetails),
    /// The pid no longer named the process asked for (it exited, maybe reused).
    Gone,
    /// Not read within [`DEADLINE`], or no worker was left to read it.
    Unavailable,
}

/// The answer to a request, named by the request's pid and start time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub pid: Pid,
    pub start_time: Option<u64>,
    pub late: Late,
}

/// Requests waiting for a worker, shared with the workers.
#[derive(Default)]
struct Queue {
    requests: VecDeque<Request>,
    /// The pool is gone: workers end.
    closed: bool,
}

/// The queue and the bell that wakes idle workers.
#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

/// What a worker is reading, and since when.
type Busy = Arc<Mutex<Option<(Request, Instant)>>>;

/// The capture thread's view of one worker.
struct Worker {
    busy: Busy,
    /// Start of the read already reported Unavailable (the worker is stuck in it).
    reported: Option<Instant>,
}

/// The pool of reader threads, owned by the capture thread (see the module doc).
pub(crate) struct LateReaders {
    proc_root: Arc<Path>,
    shared: Arc<Shared>,
    outcomes: Receiver<Outcome>,
    sender: Sender<Outcome>,
    workers: Vec<Worker>,
    /// The threads it may start, with every other pool.
    budget: ThreadBudget,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A worker that panicked left plain data behind; it is still consistent.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LateReaders {
    /// A pool reading below `proc_root`; threads start with the first request.
    pub(crate) fn new(proc_root: &Path) -> Self {
        Self::with_budget(proc_root, ThreadBudget::PROCESS)
    }

    /// A pool whose threads count in `budget`.
    fn with_budget(proc_root: &Path, budget: ThreadBudget) -> Self {
        let (sender, outcomes) = mpsc::channel();
        Self {
            proc_root: Arc::from(PathBuf::from(proc_root)),
            shared: Arc::default(),
            outcomes,
            sender,
            workers: Vec::new(),
            budget,
        }
    }

    /// Asks for the late details of a process. The answer comes from [`Self::poll`],
    /// except when it is known at once: Unavailable when no worker can take it.
    pub(crate) fn request(&mut self, request: Request) -> Option<Outcome> {
        self.ensure_workers();
        let blocked_user = self.stuck_for(request.uid) >= MAX_STUCK_PER_UID;
        let mut queue = lock(&self.shared.queue);
        if blocked_user || self.live() == 0 || queue.requests.len() >= MAX_QUEUE {
            return Some(unavailable(request));
        }
        queue.requests.push_back(request);
        drop(queue);
        self.shared.wake.notify_one();
        None
    }

    /// The outcomes since the last call: reads done, and reads past their deadline (each
    /// reported once). Also replaces stuck workers, and answers the queued requests
    /// Unavailable when every worker is stuck.
    pub(crate) fn poll(&mut self, now: Instant) -> Vec<Outcome> {
        let mut outcomes: Vec<Outcome> = self.outcomes.try_iter().collect();
        for worker in &mut self.workers {
            let busy = *lock(&worker.busy);
            match busy {
                Some((request, since)) if now.saturating_duration_since(since) >= DEADLINE => {
                    if worker.reported != Some(since) {
                        worker.reported = Some(since);
                        outcomes.push(unavailable(request));
                    }
                }
                _ => worker.reported = None,
            }
        }
        // A user's requests beyond its cap are answered before new workers could take
        // them; every request when even new workers cannot be had.
        let at_cap: Vec<u32> = self
            .workers
            .iter()
            .filter_map(|w| w.reported.and(*lock(&w.busy)).map(|(r, _)| r.uid))
            .filter(|&uid| self.stuck_for(uid) >= MAX_STUCK_PER_UID)
            .collect();
        self.refuse_queued(&mut outcomes, |r| at_cap.contains(&r.uid));
        self.ensure_workers();
        if self.live() == 0 {
            self.refuse_queued(&mut outcomes, |_| true);
        }
        outcomes
    }

    /// Answers the queued requests that `refused` picks Unavailable.
    fn refuse_queued(&self, outcomes: &mut Vec<Outcome>, refused: impl Fn(&Request) -> bool) {
        let mut queue = lock(&self.shared.queue);
        if !queue.requests.iter().any(&refused) {
            return;
        }
        let (out, kept): (VecDeque<Request>, VecDeque<Request>) =
            queue.requests.drain(..).partition(|r| refused(r));
        queue.requests = kept;
        outcomes.extend(out.into_iter().map(unavailable));
    }

    /// Workers stuck in a read for a process of `uid`.
    fn stuck_for(&self, uid: u32) -> usize {
        self.workers
            .iter()
            .filter(|w| w.reported.is_some() && lock(&w.busy).is_some_and(|(r, _)| r.uid == uid))
            .count()
    }

    /// Workers currently stuck in a read past its deadline.
    #[cfg(test)]
    fn stuck(&self) -> usize {
        self.workers.len() - self.live()
    }

    /// Workers not known to be stuck.
    fn live(&self) -> usize {
        self.workers.iter().filter(|w| w.reported.is_none()).count()
    }

    /// Starts workers until [`LIVE_WORKERS`] are free or [`MAX_THREADS`] exist (or
    /// [`MAX_THREADS_IN_PROCESS`] in all pools).
    fn ensure_workers(&mut self) {
        while self.live() < LIVE_WORKERS && self.workers.len() < MAX_THREADS {
            let Some(counted) = self.budget.take() else {
                return;
            };
            let busy = Busy::default();
            let (shared, sender) = (Arc::clone(&self.shared), self.sender.clone());
            let (proc_root, mine) = (Arc::clone(&self.proc_root), Arc::clone(&busy));
            let spawned = std::thread::Builder::new()
                .name("sockeye-details".into())
                .stack_size(STACK_SIZE)
                .spawn(move || {
                    let _counted = counted;
                    serve(&proc_root, &shared, &mine, &sender);
                });
            if spawned.is_err() {
                // No thread now (resource limits; the closure, and with it the count, is
                // dropped): requests wait for the next chance, or are answered
                // Unavailable when no worker is left.
                return;
            }
            self.workers.push(Worker {
                busy,
                reported: None,
            });
        }
    }
}

impl Drop for LateReaders {
    /// Idle workers end now, busy ones after their read (a stuck one when released).
    fn drop(&mut self) {
        lock(&self.shared.queue).closed = true;
        self.shared.wake.notify_all();
    }
}

fn unavailable(request: Request) -> Outcome {
    Outcome {
        pid: request.pid,
        start_time: request.start_time,
        late: Late::Unavailable,
    }
}

/// A worker: takes requests until the pool is dropped.
fn serve(
    proc_root: &Path,
    shared: &Shared,
    busy: &Mutex<Option<(Request, Instant)>>,
    sender: &Sender<Outcome>,
) {
    loop {
        let request = {
            let mut queue = lock(&shared.queue);
            loop {
                if queue.closed {
                    return;
                }
                if let Some(request) = queue.requests.pop_front() {
                    break request;
                }
                queue = shared
                    .wake
                    .wait(queue)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        *lock(busy) = Some((request, Instant::now()));
        let late = read::read(proc_root, &request);
        *lock(busy) = None;
        let outcome = Outcome {
            pid: request.pid,
            start_time: request.start_time,
            late,
        };
        if sender.send(outcome).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
