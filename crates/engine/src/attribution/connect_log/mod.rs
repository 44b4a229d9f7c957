//! Who opened, or listened for, each TCP connection, from the kernel's
//! `sock:inet_sock_set_state` tracepoint read through perf ring buffers (no eBPF): the one
//! answer for a connection that is over before its first packet is looked up.
//!
//! A loopback connection of a few kilobytes lives for about a hundred microseconds; by the
//! time the capture thread looks up its SYN, the client socket may already be in
//! TIME_WAIT, which has no inode, so neither sock_diag nor `/proc/PID/fd` can name its
//! process. The tracepoint fires in `connect()` itself (CLOSE → SYN_SENT, in the
//! connecting process: its pid is right, but the source port is not chosen yet) and
//! again when the handshake ends (SYN_SENT → ESTABLISHED or CLOSE, with both ports, in
//! whatever context the SYN-ACK arrives). Both carry the kernel socket's address, which
//! joins them: socket → pid from the first, four-tuple → socket from the second.
//!
//! The same tracepoint fires in `listen()` (CLOSE → LISTEN, in the listening process, its
//! address and port bound) and when the listener closes: the last answer for the server
//! end of a connection whose server closed its listener and exited before the first
//! packet was looked up (a one-shot server, or a capture thread a few milliseconds
//! behind). It is used only when no socket and no live listener are found, for a listener
//! still open or closed in the last [`LISTENER_GRACE`], in a namespace that may own the
//! address.
//!
//! A kernel-side filter keeps just these events of the six or so a connection goes
//! through (TCP only for the listener's: SCTP and MPTCP report their own listens there).
//! Reading the tracepoint needs `CAP_PERFMON` (or root) and tracefs to find its id; the
//! helper opens it before dropping capabilities and keeps the descriptors (see
//! [`preopen`]). Without it (a container, an old kernel, no tracefs) attribution works as
//! before, minus these connections.
//!
//! Everything in the ring is parsed as untrusted: bounded records, bounded maps.
//!
//! ```text
//! ConnectLog::open   tracefs.rs  the tracepoint's id and format (a mounted tracefs, else
//!                                a detached one)
//!                    ring.rs     one perf ring per CPU, kernel-side filter
//! ConnectLog::drain  record.rs   raw record ─► Change (layout from the format file)
//!                    state.rs    Change ─► connector / socket / listener / name maps
//! ```

mod record;
pub(super) mod ring;
pub(super) mod state;
pub(super) mod tracefs;

use super::preopened::Preopened;
use crate::owner::Pid;
use crate::SystemPaths;
use perf_event_open_sys::bindings::{PERF_RECORD_LOST, PERF_RECORD_SAMPLE};
use record::{decode, Layout};
use ring::{Extras, Ring};
use state::Generations;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// `TCP_SYN_SENT` in `include/net/tcp_states.h`.
const SYN_SENT: i32 = 2;
/// `TCP_LISTEN`.
const LISTEN: i32 = 10;
/// The kernel-side filter: connects, the ends of handshakes, and TCP listens and their
/// closes.
const FILTER: &std::ffi::CStr =
    c"newstate == 2 || oldstate == 2 || ((newstate == 10 || oldstate == 10) && protocol == 6)";
/// `IPPROTO_TCP`.
const TCP: u16 = 6;
/// The doorbell's kernel-side filter: connects and TCP listens (see [`ConnectLog::bells`]).
const BELL_FILTER: &std::ffi::CStr = c"newstate == 2 || (newstate == 10 && protocol == 6)";
/// How long the doorbell stays off after it rang. A process connecting in a loop rings
/// at most once per hold-off, some 200 times a second; a process connecting meanwhile has
/// its details read when the hold-off ends (the capture thread wakes then,
/// [`ConnectLog::wake_at`]) or its packets come, a few milliseconds late at most.
pub(crate) const BELL_HOLD_OFF: Duration = Duration::from_millis(5);
/// Most processes kept for [`ConnectLog::take_started`] between two calls (a connect
/// storm beyond it is credited as before, its details read when its packets are).
const MAX_STARTED: usize = 1024;
/// How long a closed listener still names the server of its port: longer than
/// accounting's retry schedule (~0.4 s), short enough that a later process reusing the
/// port, or the listener's pid, is not taken for it.
const LISTENER_GRACE: Duration = Duration::from_secs(2);

/// The connect tracepoint on every CPU, and what it told so far.
pub(crate) struct ConnectLog {
    /// The records, read when the capture thread comes by (or when half full).
    rings: Vec<Ring>,
    /// A second event on the same tracepoint per CPU whose every record wakes the
    /// capture thread (`wake_each`), kept only to ring at a connect or listen, so the
    /// details of a process that connects and exits within milliseconds are read while
    /// it runs. Each wakeup is a self-IPI in the kernel (`irq_work`), which in a virtual
    /// machine costs a VM exit: rung at every connect, it slowed 600 sequential
    /// connections of one process by 44 % (without it: 5 %; `build-aux/bench`,
    /// short-conns). So once it rang its output is paused for [`BELL_HOLD_OFF`] (a flag
    /// on the ring; switching per-CPU events off and on would interrupt every CPU). (A
    /// filter leaving out the processes already rung for cannot be had: the kernel sets
    /// a perf event's filter once.)
    bells: Vec<Ring>,
    /// Until when the doorbell is off, after it rang.
    bells_off_until: Option<Instant>,
    layout: Layout,
    /// Kernel socket address → pid of the process that called `connect()` on it, until
    /// its handshake ends (the address is reused by a later socket once this one is freed).
    connector: Generations<u64, Pid>,
    /// (local, remote) of a client connection → the process that connected it, taken
    /// from `connector` when the handshake ended, while the socket was still its own.
    client_of: Generations<(SocketAddr, SocketAddr), Pid>,
    /// Listening address (the wildcard for any) → the listener last opened on it.
    listener: Generations<SocketAddr, Listener>,
    /// Names of connecting and listening processes, read when their event was seen (they
    /// may be gone by the time their traffic is looked up).
    names: HashMap<Pid, String>,
    /// Processes seen connecting or listening since [`Self::take_started`], oldest first,
    /// at most [`MAX_STARTED`].
    started: Vec<Pid>,
    scratch: Vec<u8>,
    /// Events the kernel dropped because a ring was full (diagnostics).
    pub(crate) lost: u64,
}

/// A TCP listener seen in `listen()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Listener {
    pub pid: Pid,
    /// The listener's network namespace (inode), read at once; `None` when the process
    /// was already gone. The tracepoint itself does not say.
    pub namespace: Option<u64>,
    socket: u64,
    /// When it closed, if it has.
    closed: Option<Instant>,
}

impl std::fmt::Debug for ConnectLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectLog")
            .field("cpus", &self.rings.len())
            .field("lost", &self.lost)
            .finish_non_exhaustive()
    }
}

/// The log opened by [`preopen`] and not in use by a [`super::SystemOwners`].
static PREOPENED: Preopened<ConnectLog> = Preopened::new();

/// Opens the connect tracepoint now, while the process still has the privilege to, for
/// every later [`super::SystemOwners`] of this process (the helper calls this before
/// dropping capabilities). Tells why it could not be opened.
pub fn preopen() -> io::Result<()> {
    PREOPENED.keep(ConnectLog::open(&SystemPaths::default())?);
    Ok(())
}

impl ConnectLog {
    /// The preopened log, else a new one (needs CAP_PERFMON, and tracefs or
    /// CAP_SYS_ADMIN); enabled, empty.
    pub(crate) fn acquire(paths: &SystemPaths) -> Option<ConnectLog> {
        let mut log = PREOPENED.take().or_else(|| ConnectLog::open(paths).ok())?;
        log.bells_off_until = None;
        for ring in log.rings.iter_mut().chain(log.bells.iter_mut()) {
            ring.pause(false);
            ring.skip_all();
            ring.enable(true);
        }
        Some(log)
    }

    /// Disables the events and keeps them for the next [`Self::acquire`].
    pub(crate) fn release(self) {
        for ring in self.rings.iter().chain(&self.bells) {
            ring.enable(false);
        }
        PREOPENED.keep(self);
    }

    /// Switches the doorbell back on once its hold-off is over.
    pub(crate) fn rearm(&mut self, now: Instant) {
        if self.bells_off_until.is_some_and(|until| now >= until) {
            self.bells_off_until = None;
            for bell in &mut self.bells {
                // Written before the pause took hold: not a new ring.
                bell.skip_all();
                bell.pause(false);
            }
        }
    }

    /// When the capture thread should wake to switch the doorbell back on, if it is off.
    pub(crate) fn wake_at(&self) -> Option<Instant> {
        self.bells_off_until
    }

    fn open(paths: &SystemPaths) -> io::Result<ConnectLog> {
        let files = tracefs::event_files(&paths.tracefs)?;
        let id: u64 = files
            .id
            .trim()
            .parse()
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        let layout = Layout::parse(&files.format).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "unexpected tracepoint format")
        })?;
        let (mut rings, mut bells) = (Vec::new(), Vec::new());
        let mut last_error = None;
        let records = Extras {
            time: true,
            ..Extras::default()
        };
        let bell = Extras {
            wake_each: true,
            small: true,
            ..Extras::default()
        };
        for cpu in 0..ring::possible_cpus() {
            match Ring::open_with(id, cpu, FILTER, records) {
                Ok(ring) => rings.push(ring),
                Err(e) => {
                    last_error = Some(e);
                    continue;
                }
            }
            // Without a doorbell a connecting process's details are read when its
            // packets are, a few milliseconds later.
            if let Ok(ring) = Ring::open_with(id, cpu, BELL_FILTER, bell) {
                bells.push(ring);
            }
        }
        if rings.is_empty() {
            return Err(last_error.unwrap_or_else(|| io::Error::from(io::ErrorKind::NotFound)));
        }
        let mut log = ConnectLog::with_rings(rings, layout);
        log.bells = bells;
        Ok(log)
    }

    fn with_rings(rings: Vec<Ring>, layout: Layout) -> ConnectLog {
        ConnectLog {
            rings,
            bells: Vec::new(),
            bells_off_until: None,
            layout,
            connector: Generations::default(),
            client_of: Generations::default(),
            listener: Generations::default(),
            names: HashMap::new(),
            started: Vec::new(),
            scratch: Vec::with_capacity(256),
            lost: 0,
        }
    }

    /// The rings' descriptors: readable when a connect or listen rang the doorbell, or
    /// the records' ring is half full.
    pub(crate) fn fds(&self) -> impl Iterator<Item = std::os::fd::BorrowedFd<'_>> {
        self.bells.iter().chain(&self.rings).map(Ring::fd)
    }

    /// The processes seen connecting or listening since the last call, each once.
    pub(crate) fn take_started(&mut self) -> Vec<Pid> {
        let mut started = std::mem::take(&mut self.started);
        started.sort_unstable();
        started.dedup();
        started
    }

    /// Reads every event the kernel has written since the last call.
    pub(crate) fn drain(&mut self, proc_root: &Path) {
        let layout = self.layout;
        let mut changes = Vec::new();
        let mut lost = 0;
        // Rang: off for a while (its records say nothing the records' rings do not).
        let mut rang = false;
        for bell in &mut self.bells {
            rang |= bell.skip_all();
        }
        if rang && self.bells_off_until.is_none() {
            self.bells_off_until = Some(Instant::now() + BELL_HOLD_OFF);
            for bell in &self.bells {
                bell.pause(true);
            }
        }
        for ring in &mut self.rings {
            ring.drain(&mut self.scratch, |kind, body| match kind {
                PERF_RECORD_SAMPLE => {
                    // u32 pid, u32 tid (PERF_SAMPLE_TID), u64 time, u32 size, raw bytes.
                    let word = |at: usize| -> Option<u32> {
                        Some(u32::from_ne_bytes(body.get(at..at + 4)?.try_into().ok()?))
                    };
                    let time = body
                        .get(8..16)
                        .and_then(|b| b.try_into().ok())
                        .map(u64::from_ne_bytes);
                    let (Some(pid), Some(time), Some(size)) = (word(0), time, word(16)) else {
                        return;
                    };
                    let raw = body.get(20..).unwrap_or_default();
                    let raw = raw.get(..size as usize).unwrap_or(raw);
                    if let Some(change) = decode(&layout, pid, raw) {
                        changes.push((time, change));
                    }
                }
                PERF_RECORD_LOST => {
                    // u64 id, u64 lost.
                    if let Some(n) = body.get(8..16).and_then(|b| b.try_into().ok()) {
                        lost += u64::from_ne_bytes(n);
                    }
                }
                _ => {}
            });
        }
        self.lost = self.lost.saturating_add(lost);
        // The rings are read one CPU after the other: a connect on one CPU and the end of
        // its handshake on another are noted in the order they happened.
        changes.sort_by_key(|(time, _)| *time);
        for (_, change) in changes {
            self.note(change, proc_root);
        }
    }
}

#[cfg(test)]
mod tests;
