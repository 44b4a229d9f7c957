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
/// Most processes kept for [`ConnectLog::take_started`] between two calls (a connect
/// storm beyond it is credited as before, its details read when its packets are).
const MAX_STARTED: usize = 1024;
/// How long a closed listener still names the server of its port: longer than
/// accounting's retry schedule (~0.4 s), short enough that a later process reusing the
/// port, or the listener's pid, is not taken for it.
const LISTENER_GRACE: Duration = Duration::from_secs(2);

/// The connect tracepoint on every CPU, and what it told so far.
pub(crate) struct ConnectLog {
    rings: Vec<Ring>,
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
        for ring in &mut log.rings {
            ring.skip_all();
            ring.enable(true);
        }
        Some(log)
    }

    /// Disables the events and keeps them for the next [`Self::acquire`].
    pub(crate) fn release(self) {
        for ring in &self.rings {
            ring.enable(false);
        }
        PREOPENED.keep(self);
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
        let mut rings = Vec::new();
        let mut last_error = None;
        for cpu in 0..ring::possible_cpus() {
            // A connect wakes the capture thread, which reads the connecting process's
            // details while it runs: the capture hands packets over a few milliseconds
            // late, after a short-lived client may have exited (its name would survive
            // in this log, its command line and user would not).
            let extras = Extras {
                time: true,
                names: false,
                wake_each: true,
            };
            match Ring::open_with(id, cpu, FILTER, extras) {
                Ok(ring) => rings.push(ring),
                Err(e) => last_error = Some(e),
            }
        }
        if rings.is_empty() {
            return Err(last_error.unwrap_or_else(|| io::Error::from(io::ErrorKind::NotFound)));
        }
        Ok(ConnectLog::with_rings(rings, layout))
    }

    fn with_rings(rings: Vec<Ring>, layout: Layout) -> ConnectLog {
        ConnectLog {
            rings,
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

    /// The rings' descriptors: readable when a connect or listen was logged.
    pub(crate) fn fds(&self) -> impl Iterator<Item = std::os::fd::BorrowedFd<'_>> {
        self.rings.iter().map(Ring::fd)
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
