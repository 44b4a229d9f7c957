//! Per-process socket-layer byte counters, on a stock kernel: the payload each process
//! wrote to and read from its sockets (what the taskstats patch of the second seed would
//! have counted), beside the wire bytes the capture credits it with. Read from the
//! tracepoints `sock:sock_send_length` and `sock:sock_recv_length` (Linux 6.3+) through
//! perf ring buffers, as the connect log reads its tracepoint (no eBPF).
//!
//! Both fire at the end of every `sendmsg`/`recvmsg` on a socket (`sock_sendmsg_nosec`,
//! `sock_recvmsg_nosec`: `send`, `sendto`, `write` on a socket, `sendfile` and `splice`
//! into one, io_uring's send and receive), in the calling task's context: the pid the
//! sample carries (the thread group, `PERF_SAMPLE_TID`) is the process that moved the
//! bytes, also when it exits a microsecond later. `ret` is what the call returned.
//!
//! What is counted:
//! - **AF_INET and AF_INET6 sockets** (TCP, UDP, UDP-Lite, SCTP, MPTCP, ping and raw IP
//!   sockets alike: the family is what the tracepoint says; TCP and UDP are what the
//!   tests check), payload only: no IP or transport headers, so a process's socket
//!   counters are below its wire bytes by the headers, and above them for traffic the
//!   capture does not see.
//! - **Not unix sockets** (AF_UNIX), nor netlink or packet sockets: they carry no network
//!   traffic, and a desktop's D-Bus and Wayland chatter would swamp the counters and the
//!   ring.
//! - A receive with `MSG_PEEK` counts nothing: its bytes stay queued and are counted by
//!   the read that takes them. A call that failed (`ret` < 0: `EAGAIN` on a non-blocking
//!   socket, `ECONNRESET`…) or moved nothing (`ret` = 0: end of stream) counts nothing.
//!   A UDP read with `MSG_TRUNC` returns the datagram's full length, which is counted.
//! - Not bytes a process reads with `splice` from a TCP socket (that path skips
//!   `recvmsg`), nor the kernel's own sockets (NFS, SMB, WireGuard), whose calls run in
//!   whatever task happens to be current.
//!
//! The kernel-side filter keeps just inet calls that moved bytes and did not peek, so a
//! busy unix-socket desktop costs no wakeups; the same checks are made again here in
//! case the filter was refused. Events the kernel drops because a ring was full are
//! counted ([`SocketTally::lost`]) and reported, never silent: with any lost, the
//! counters are low by the lost calls' bytes.
//!
//! A pid's counters are kept from the moment the log was opened: a pid the kernel reuses
//! adds to the counters of the process that had it before (pids wrap only after
//! `pid_max`, 4 million by default). At most [`MAX_PIDS`] pids are kept; calls of further
//! pids are counted as lost.
//!
//! Reading the tracepoints needs `CAP_PERFMON` (or root) and tracefs to find their ids;
//! the helper opens them before dropping capabilities ([`preopen`]). Without them (a
//! kernel before 6.3, a container, no privilege) the counters are absent — `None`, never
//! zero — and [`crate::CaptureTotals::socket_counters`] says so.
//!
//! ```text
//! SocketBytesLog::open   ../connect_log/tracefs.rs  each tracepoint's id and format
//!                        ../connect_log/ring.rs     one perf ring per CPU and tracepoint
//! SocketBytesLog::drain  record.rs                  raw record ─► payload bytes
//!                        this file                  pid ─► sent, received
//! ```

mod record;

use super::connect_log::ring::{possible_cpus, Ring};
use super::connect_log::tracefs::event_files_of;
use super::preopened::Preopened;
use crate::owner::{Pid, SocketTally};
use crate::SystemPaths;
use perf_event_open_sys::bindings::{PERF_RECORD_LOST, PERF_RECORD_SAMPLE};
use record::{payload_bytes, Layout};
use std::io;

/// The tracepoints' directories under tracefs.
const SEND_EVENT: &str = "events/sock/sock_send_length";
const RECEIVE_EVENT: &str = "events/sock/sock_recv_length";
/// The kernel-side filter: inet sockets, calls that moved bytes, no `MSG_PEEK` (2).
const FILTER: &std::ffi::CStr = c"(family == 2 || family == 10) && ret > 0 && !(flags & 2)";
/// Most pids kept (some 40 bytes each).
pub(crate) const MAX_PIDS: usize = 65_536;

/// Which way a ring's calls moved bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Sent,
    Received,
}

/// The two tracepoints on every CPU, and the bytes counted so far.
pub(crate) struct SocketBytesLog {
    rings: Vec<(Direction, Ring)>,
    layout: Layout,
    tally: SocketTally,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for SocketBytesLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketBytesLog")
            .field("rings", &self.rings.len())
            .field("pids", &self.tally.per_pid.len())
            .field("lost", &self.tally.lost)
            .finish_non_exhaustive()
    }
}

/// The log opened by [`preopen`] and not in use by a [`super::SystemOwners`].
static PREOPENED: Preopened<SocketBytesLog> = Preopened::new();

/// Opens the tracepoints now, while the process still has the privilege to, for every
/// later [`super::SystemOwners`] of this process (the helper calls this before dropping
/// capabilities). Tells why they could not be opened.
pub fn preopen() -> io::Result<()> {
    PREOPENED.keep(SocketBytesLog::open(&SystemPaths::default())?);
    Ok(())
}

/// Closes the log [`preopen`] opened, or a released one kept for reuse: the next
/// [`super::SystemOwners`] opens its own, with the privilege it has then (tests of the
/// unprivileged case).
pub fn discard_preopened() {
    PREOPENED.discard();
}

impl SocketBytesLog {
    /// The preopened log, else a new one (needs CAP_PERFMON, and tracefs or
    /// CAP_SYS_ADMIN); enabled, counting from zero.
    pub(crate) fn acquire(paths: &SystemPaths) -> Option<SocketBytesLog> {
        let mut log = PREOPENED
            .take()
            .or_else(|| SocketBytesLog::open(paths).ok())?;
        log.tally = SocketTally::default();
        for (_, ring) in &mut log.rings {
            ring.skip_all();
            ring.enable(true);
        }
        Some(log)
    }

    /// Disables the events and keeps them for the next [`Self::acquire`].
    pub(crate) fn release(self) {
        for (_, ring) in &self.rings {
            ring.enable(false);
        }
        PREOPENED.keep(self);
    }

    fn open(paths: &SystemPaths) -> io::Result<SocketBytesLog> {
        let send = event_files_of(&paths.tracefs, SEND_EVENT)?;
        let receive = event_files_of(&paths.tracefs, RECEIVE_EVENT)?;
        let id = |text: &str| -> io::Result<u64> {
            text.trim()
                .parse()
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
        };
        let layout = Layout::parse(&send.format)
            .filter(|layout| Layout::parse(&receive.format) == Some(*layout))
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "unexpected tracepoint format")
            })?;
        let mut rings = Vec::new();
        for (direction, id) in [
            (Direction::Sent, id(&send.id)?),
            (Direction::Received, id(&receive.id)?),
        ] {
            for cpu in 0..possible_cpus() {
                match Ring::open(id, cpu, FILTER) {
                    Ok(ring) => rings.push((direction, ring)),
                    // An offline CPU refuses (ENODEV); its events cannot happen.
                    Err(e) if e.raw_os_error() == Some(libc_enodev()) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if rings.is_empty() {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        Ok(SocketBytesLog {
            rings,
            layout,
            tally: SocketTally::default(),
            scratch: Vec::with_capacity(128),
        })
    }

    /// Reads every event the kernel has written since the last call, and the counters.
    /// The rings' descriptors: readable when one is half full (the kernel's default
    /// watermark).
    pub(crate) fn fds(&self) -> impl Iterator<Item = std::os::fd::BorrowedFd<'_>> {
        self.rings.iter().map(|(_, ring)| ring.fd())
    }

    pub(crate) fn drain(&mut self) -> &SocketTally {
        let layout = self.layout;
        let tally = &mut self.tally;
        for (direction, ring) in &mut self.rings {
            let direction = *direction;
            // One process's calls come in runs (a flood of datagrams, a transfer in small
            // writes): added up here and put in the per-pid map once a run, not once a
            // call (1.2 million calls in a flood of 600,000 datagrams).
            let mut run: Option<Run> = None;
            ring.drain(&mut self.scratch, |kind, body| match kind {
                PERF_RECORD_SAMPLE => {
                    // u32 pid, u32 tid (PERF_SAMPLE_TID), u32 size, raw bytes.
                    let word = |at: usize| -> Option<u32> {
                        Some(u32::from_ne_bytes(body.get(at..at + 4)?.try_into().ok()?))
                    };
                    let (Some(pid), Some(size)) = (word(0), word(8)) else {
                        return;
                    };
                    let raw = body.get(12..).unwrap_or_default();
                    let raw = raw.get(..size as usize).unwrap_or(raw);
                    if let Some(bytes) = payload_bytes(&layout, raw) {
                        match &mut run {
                            Some(run) if run.pid == pid => {
                                run.bytes = run.bytes.saturating_add(bytes);
                                run.calls += 1;
                            }
                            _ => {
                                let next = Run {
                                    pid,
                                    bytes,
                                    calls: 1,
                                };
                                if let Some(done) = run.replace(next) {
                                    count(tally, done, direction);
                                }
                            }
                        }
                    }
                }
                PERF_RECORD_LOST => {
                    // u64 id, u64 lost.
                    if let Some(n) = body.get(8..16).and_then(|b| b.try_into().ok()) {
                        tally.lost = tally.lost.saturating_add(u64::from_ne_bytes(n));
                    }
                }
                _ => {}
            });
            if let Some(done) = run {
                count(tally, done, direction);
            }
        }
        &self.tally
    }
}

/// Consecutive calls of one process in one ring.
#[derive(Debug, Clone, Copy)]
struct Run {
    pid: Pid,
    /// Their payload bytes.
    bytes: u64,
    calls: u64,
}

/// `ENODEV`, the error `perf_event_open` gives for an offline CPU.
fn libc_enodev() -> i32 {
    rustix::io::Errno::NODEV.raw_os_error()
}

/// Adds a run of calls' bytes to their process; a process past [`MAX_PIDS`] loses them
/// (counted as lost calls).
fn count(tally: &mut SocketTally, run: Run, direction: Direction) {
    let Run { pid, bytes, calls } = run;
    let full = tally.per_pid.len() >= MAX_PIDS;
    let entry = match tally.per_pid.get_mut(&pid) {
        Some(entry) => entry,
        None if full => {
            tally.lost = tally.lost.saturating_add(calls);
            return;
        }
        None => tally.per_pid.entry(pid).or_default(),
    };
    match direction {
        Direction::Sent => entry.sent = entry.sent.saturating_add(bytes),
        Direction::Received => entry.received = entry.received.saturating_add(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::owner::SocketBytes;

    fn one(pid: Pid, bytes: u64) -> Run {
        Run {
            pid,
            bytes,
            calls: 1,
        }
    }

    #[test]
    fn calls_add_up_per_pid_and_direction() {
        let mut tally = SocketTally::default();
        count(&mut tally, one(7, 100), Direction::Sent);
        count(&mut tally, one(7, 23), Direction::Sent);
        count(&mut tally, one(7, 5), Direction::Received);
        count(&mut tally, one(8, 1), Direction::Received);
        assert_eq!(
            tally.per_pid.get(&7),
            Some(&SocketBytes {
                sent: 123,
                received: 5
            })
        );
        assert_eq!(
            tally.per_pid.get(&8),
            Some(&SocketBytes {
                sent: 0,
                received: 1
            })
        );
        assert_eq!(tally.lost, 0);
    }

    #[test]
    fn pids_past_the_bound_are_counted_as_lost() {
        let mut tally = SocketTally::default();
        for pid in 0..MAX_PIDS as u32 {
            count(&mut tally, one(pid, 1), Direction::Sent);
        }
        count(&mut tally, one(u32::MAX, 1), Direction::Sent);
        let run = Run {
            pid: u32::MAX - 1,
            bytes: 300,
            calls: 3,
        };
        count(&mut tally, run, Direction::Sent);
        count(&mut tally, one(0, 1), Direction::Sent);
        assert_eq!(tally.per_pid.len(), MAX_PIDS);
        assert_eq!(tally.lost, 4, "each call of a run is one lost");
        assert_eq!(tally.per_pid.get(&0).map(|b| b.sent), Some(2));
    }
}
