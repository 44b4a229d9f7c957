//! The capture thread: polls every handle together, reads each in batches until empty,
//! parses and accounts each packet, answers control messages, closes an interval on time
//! and follows interfaces as they come and go.

use super::interfaces::Interfaces;
use super::source::BatchEnd;
use super::waker::Waker;
use crate::accounting::Accounting;
use crate::owner::{OwnerLookup, Pid};
use crate::parse::{ethernet_source_and_type, parse_frame, FragmentTable};
use crate::{ConnectionStats, EngineError, Snapshot};
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Messages from [`crate::Capture`] to its thread.
pub enum Control {
    Stop,
    ResetTotals,
    SetInterval(Duration),
    Connections(Pid, Sender<Option<Vec<ConnectionStats>>>),
}

/// How often the device list is read again to follow interfaces that appear or vanish.
pub const RESCAN_PERIOD: Duration = Duration::from_secs(1);
/// Packets read from one handle before the others get their turn.
const BATCH: usize = 8192;
/// How long after its end an interval is closed: a packet reaches this thread up to a
/// ring block's timeout after it was captured (`devices::BLOCK_TIMEOUT_MS`, and a timer
/// tick more), and not in capture order across interfaces. Closed at once, an interval
/// could count a connection on one interface before the DNS answer on another that named
/// it, read moments later (a hosts root scenario saw the connection's bytes go to the
/// address's other name). Rates still span one interval: it is shifted, not longer.
/// 50 ms leaves room for a kernel with HZ=100, where the block timeout is 10 ms and a
/// block may wait for a second tick.
const INTERVAL_LAG: Duration = Duration::from_millis(50);
/// Longest run of put-off lookups between two reads of the handles.
const CATCH_UP_SLICE: Duration = Duration::from_millis(5);
/// Longest sleep while lookups wait for a retry (their delays start at 2 ms).
const RETRY_PERIOD: Duration = Duration::from_millis(5);
/// Longest sleep otherwise: the owner lookup prepares this often (reads processes started
/// since, so their first connection is found with one guess; see `OwnerLookup::prepare`).
/// 50 ms rather than 5 took nine tenths of the wakeups off an idle machine, and off a
/// machine with sparse traffic (the wakeups, each with its reads of `/proc`, were most of
/// the helper's time there; build-aux/bench). New namespaces are looked for as often
/// (`AddressBook::look_for_new_namespaces`). A process started meanwhile is still found
/// at its first packet, by the lookup itself, a fraction of a millisecond later than when
/// read ahead.
const PREPARE_PERIOD: Duration = Duration::from_millis(50);
/// Longest sleep once no packet came for [`QUIET_AFTER`]: the owner lookup prepares (and
/// reads its logs) about once a second. An idle helper spent 2.3 ms a second (0.23 % of a
/// core) waking 20 times a second (build-aux/bench/idle). Nothing waits on it: a packet
/// wakes the thread when its ring block is handed over, and a process connecting wakes it
/// through the connect log (`OwnerLookup::wake_fds`), whose details are read then.
const QUIET_PREPARE_PERIOD: Duration = Duration::from_secs(1);
/// How long without a packet makes the capture quiet (see [`QUIET_PREPARE_PERIOD`]).
const QUIET_AFTER: Duration = Duration::from_secs(2);

pub type UpdateFn = Box<dyn FnMut(Result<Snapshot, EngineError>) + Send>;

/// Everything the capture thread owns.
pub struct Session<O: OwnerLookup> {
    pub accounting: Accounting<O>,
    pub interfaces: Interfaces,
    pub fragments: FragmentTable,
    pub interval: Duration,
    /// How often interfaces are listed again ([`RESCAN_PERIOD`] outside tests).
    pub rescan_period: Duration,
    pub control: Receiver<Control>,
    pub waker: Arc<Waker>,
    pub on_update: UpdateFn,
}

impl<O: OwnerLookup> Session<O> {
    /// Runs until stopped; returns the final snapshot. Handles close when `self` drops.
    pub fn run(mut self) -> Result<Snapshot, EngineError> {
        raise_priority();
        // The first interval, like every one, ends INTERVAL_LAG before it is closed.
        let started = Instant::now();
        let mut interval_start = started.checked_sub(INTERVAL_LAG).unwrap_or(started);
        let mut next_rescan = started + self.rescan_period;
        let mut ready: Vec<bool> = Vec::new();
        let mut busy = false;
        let mut last_packet = started;
        loop {
            loop {
                match self.control.try_recv() {
                    Ok(Control::Stop) | Err(TryRecvError::Disconnected) => {
                        return Ok(self.close_interval(&mut interval_start, Instant::now()));
                    }
                    Ok(Control::ResetTotals) => {
                        self.accounting.reset_totals();
                        self.interfaces.reset_totals();
                    }
                    Ok(Control::SetInterval(interval)) => self.interval = interval,
                    Ok(Control::Connections(pid, reply)) => {
                        // The caller may have given up waiting; nothing to do then.
                        let _ = reply.send(self.accounting.connections(pid));
                    }
                    Err(TryRecvError::Empty) => break,
                }
            }

            let now = Instant::now();
            if now >= interval_start + self.interval + INTERVAL_LAG {
                let until = now.checked_sub(INTERVAL_LAG).unwrap_or(now);
                let snapshot = self.close_interval(&mut interval_start, until);
                (self.on_update)(Ok(snapshot));
            }
            if now >= next_rescan {
                // Errors here are transient (an interface vanished mid-listing): retried
                // at the next scan.
                let _ = self.interfaces.rescan(false);
                self.accounting.set_stacked(self.interfaces.stacked);
                next_rescan = now + self.rescan_period;
            }

            let deadline = (interval_start + self.interval + INTERVAL_LAG).min(next_rescan);
            let timeout = if busy {
                0
            } else {
                let prepare = if self.accounting.lookups_waiting() {
                    RETRY_PERIOD
                } else if now.saturating_duration_since(last_packet) < QUIET_AFTER {
                    PREPARE_PERIOD
                } else {
                    QUIET_PREPARE_PERIOD
                };
                let wait = deadline
                    .saturating_duration_since(Instant::now())
                    .min(prepare);
                i32::try_from(wait.as_millis().saturating_add(1)).unwrap_or(i32::MAX)
            };
            let extra = self.accounting.wake_fds();
            let polled = poll(&self.waker, &self.interfaces, &extra, timeout, &mut ready);
            drop(extra);
            let (woken, owners_woken) = match polled {
                Ok(woken) => woken,
                Err(error) => {
                    let describe = || EngineError::Io {
                        what: "capture handles (poll)".into(),
                        source: std::io::Error::new(error.kind(), error.to_string()),
                    };
                    (self.on_update)(Err(describe()));
                    return Err(describe());
                }
            };
            if woken {
                self.waker.drain();
            }
            if owners_woken {
                self.accounting.woken();
            }
            let read;
            (busy, read) = self.read_ready(&ready);
            if read > 0 {
                last_packet = Instant::now();
            }
            if !busy {
                // Caught up with every handle: run the lookups put off meanwhile, a few
                // milliseconds at a time so new packets are not kept waiting.
                busy = self.accounting.catch_up(Instant::now(), CATCH_UP_SLICE);
            }
            if !busy {
                self.accounting.prepare();
            }
        }
    }

    /// Reads every ready handle; returns whether one still had packets left after a batch,
    /// and how many packets were read.
    fn read_ready(&mut self, ready: &[bool]) -> (bool, usize) {
        let mut more = false;
        let mut total = 0;
        let mut failed = Vec::new();
        for (handle, _) in self
            .interfaces
            .handles
            .iter_mut()
            .zip(ready)
            .filter(|(_, ready)| **ready)
        {
            // Looked up by reference: cloning the name here allocated on every wakeup.
            if !self.interfaces.counters.contains_key(&handle.name) {
                self.interfaces
                    .counters
                    .insert(handle.name.clone(), Default::default());
            }
            let Some(counters) = self.interfaces.counters.get_mut(&handle.name) else {
                continue;
            };
            let link = handle.source.link();
            let iface = interface_id(&handle.name);
            // A frame without IP that leaves with the interface's own address was sent
            // from here, maybe by a packet socket (loopback's address is all zeros); on
            // a port of a bridge without a handle, also one with the bridge's address
            // (sent through the bridge).
            let sent_here = handle.identity.filter(|id| id.mac != [0; 6]);
            let sent_via = handle.bridge.filter(|id| id.mac != [0; 6]);
            let mut clock = BatchClock::new();
            let (accounting, fragments) = (&mut self.accounting, &mut self.fragments);
            let (read, end) = handle.source.read_batch(BATCH, &mut |frame| {
                let meta = parse_frame(link, frame.data, frame.wire_len, fragments);
                let now = clock.now(accounting.lookups_run());
                let age = now.age(frame.captured);
                let outgoing = if meta.is_ip() {
                    None
                } else {
                    ethernet_source_and_type(link, frame.data).and_then(|(source, ethertype)| {
                        [sent_here, sent_via]
                            .into_iter()
                            .flatten()
                            .find(|id| id.mac == source)
                            .map(|id| (id.ifindex, ethertype))
                    })
                };
                let locality = match outgoing {
                    Some((ifindex, ethertype)) => {
                        accounting.record_link_frame(frame.wire_len, ifindex, ethertype)
                    }
                    None => accounting.record_on(&meta, now.mono, age, iface),
                };
                let len = u64::from(frame.wire_len);
                if locality.src_local {
                    counters.sent_bytes = counters.sent_bytes.saturating_add(len);
                }
                if locality.dst_local || !locality.src_local {
                    counters.received_bytes = counters.received_bytes.saturating_add(len);
                }
            });
            if end == BatchEnd::Failed {
                // The interface went away (or broke): close it; the next scan reopens it
                // if it comes back.
                failed.push(handle.name.clone());
            }
            more |= end == BatchEnd::Full;
            total += read;
        }
        for name in failed {
            self.interfaces.close(&name);
        }
        (more, total)
    }

    /// Ends the interval under way and builds its snapshot.
    /// The interval is the packets captured from `interval_start` to `until` (read by now),
    /// the next one starts at `until`.
    fn close_interval(&mut self, interval_start: &mut Instant, until: Instant) -> Snapshot {
        let now = Instant::now();
        let elapsed = until.saturating_duration_since(*interval_start);
        *interval_start = until;
        self.interfaces.read_counters();
        let (processes, unattributed) = self.accounting.end_interval(elapsed, now);
        Snapshot {
            time: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            interval_ms: u32::try_from(self.interval.as_millis()).unwrap_or(u32::MAX),
            processes,
            unattributed,
            interfaces: self.interfaces.stats(),
            totals: self.accounting.totals(),
        }
    }
}

/// A number naming an interface for accounting, which tells another sighting of one
/// packet (on another interface) from a new transfer (`Accounting::record_on`). From the
/// name, so it stays the same when the handle is reopened; a clash of two names (one in
/// four billion) would only make their copies of one packet count twice.
fn interface_id(name: &str) -> u32 {
    use std::hash::BuildHasher;
    let hash = foldhash::fast::FixedState::with_seed(0x1f_aced).hash_one(name);
    // The high half: the low bits of a multiplicative hash are the weaker.
    (hash >> 32) as u32
}

/// Nice value of the capture thread. It is not a real-time thread: one would preempt
/// whatever runs on its CPU at every wakeup and could starve the session under a flood.
/// The kernel batches packets for it instead (`devices::BLOCK_TIMEOUT_MS`), and the
/// sockets of short-lived processes are known from tracepoints, not from a race to
/// `/proc`. A raised priority still gets it a CPU soon after a block is handed over.
const CAPTURE_NICE: i32 = -10;
/// Time slice asked for the capture thread, in nanoseconds. Under EEVDF (Linux 6.6+) a
/// woken thread with a short slice preempts sooner; the default slice (about 3 ms) let
/// SYNs wait 2–5 ms on a busy machine.
const CAPTURE_SLICE_NS: u64 = 100_000;

/// Raises this thread's scheduling priority (needs CAP_SYS_NICE; without it, a helper that
/// dropped it, the nice value stays) and asks for a short time slice (no privilege needed;
/// ignored by kernels without custom slices).
fn raise_priority() {
    // setpriority/getpriority with PRIO_PROCESS and who = 0 (`None`) act on the calling
    // thread only (Linux keeps nice values per thread). Some sandboxes refuse an explicit
    // thread id even to root, hence 0.
    let _ = rustix::process::setpriority_process(None, CAPTURE_NICE);
    // getpriority on the caller does not fail; were it to, 0 is the default nice value.
    let nice = rustix::process::getpriority_process(None).unwrap_or(0);
    let attr = libc::sched_attr {
        size: std::mem::size_of::<libc::sched_attr>() as u32,
        sched_policy: libc::SCHED_OTHER as u32,
        sched_flags: 0,
        sched_nice: nice,
        sched_priority: 0,
        sched_runtime: CAPTURE_SLICE_NS,
        sched_deadline: 0,
        sched_period: 0,
    };
    // rustix has no sched_setattr. Refused (an old kernel, a sandbox), the thread keeps
    // the default slice.
    // SAFETY: sched_setattr(pid 0 = this thread, a valid sched_attr of the size it states,
    // flags 0) reads the struct and changes only this thread's scheduling.
    let _ = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, std::ptr::from_ref(&attr), 0) };
}

/// How long ago the kernel captured a frame (0 when unknown or the clock went back).
/// The time of the packets of a batch, read from the clocks once every
/// [`BatchClock::EVERY`] packets and after every packet that made accounting look up an
/// owner. Reading both clocks per packet was a sixth of the capture thread's time on MTU-sized
/// TCP (profile in build-aux/bench); between lookups a packet takes well under a
/// microsecond, so the time stays exact to a few microseconds, while a lookup (up to a
/// millisecond) is never hidden from the retry delays after it.
struct BatchClock {
    read: Option<Now>,
    /// Packets still to be timed with `read`.
    left: u32,
    /// Owner lookups accounting had run when the clocks were read.
    lookups: u64,
}

#[derive(Clone, Copy)]
struct Now {
    mono: Instant,
    wall: SystemTime,
}

impl Now {
    /// How long before this time the kernel captured a packet.
    fn age(&self, captured: Option<SystemTime>) -> Duration {
        captured
            .and_then(|at| self.wall.duration_since(at).ok())
            .unwrap_or_default()
    }
}

impl BatchClock {
    const EVERY: u32 = 32;

    fn new() -> Self {
        Self {
            read: None,
            left: 0,
            lookups: 0,
        }
    }

    /// The time for the next packet, given the owner lookups accounting has run so far.
    fn now(&mut self, lookups: u64) -> Now {
        match self.read {
            Some(now) if self.left > 0 && lookups == self.lookups => {
                self.left -= 1;
                now
            }
            _ => {
                let now = Now {
                    mono: Instant::now(),
                    wall: SystemTime::now(),
                };
                self.read = Some(now);
                self.left = Self::EVERY - 1;
                self.lookups = lookups;
                now
            }
        }
    }
}

/// poll(2) over the waker, every handle and the owner lookup's `extra` descriptors for at
/// most `timeout_ms`; EINTR counts as a timeout. Fills `ready` with whether each handle is
/// readable, in the order of [`Interfaces::fds`], and returns whether the waker is and
/// whether one of `extra` is.
fn poll(
    waker: &Waker,
    interfaces: &Interfaces,
    extra: &[BorrowedFd<'_>],
    timeout_ms: i32,
    ready: &mut Vec<bool>,
) -> std::io::Result<(bool, bool)> {
    let handles = interfaces.fds().count();
    let mut fds: Vec<PollFd<'_>> = std::iter::once(waker.as_fd())
        .chain(interfaces.fds())
        .chain(extra.iter().copied())
        .map(|fd| PollFd::from_borrowed_fd(fd, PollFlags::IN))
        .collect();
    let timeout = Timespec {
        tv_sec: (timeout_ms / 1000).into(),
        tv_nsec: (timeout_ms % 1000 * 1_000_000).into(),
    };
    match rustix::event::poll(&mut fds, Some(&timeout)) {
        Ok(_) | Err(Errno::INTR) => {}
        Err(error) => return Err(error.into()),
    }
    ready.clear();
    ready.extend(fds[1..=handles].iter().map(|fd| !fd.revents().is_empty()));
    let extra_ready = fds[handles + 1..].iter().any(|fd| !fd.revents().is_empty());
    Ok((!fds[0].revents().is_empty(), extra_ready))
}
