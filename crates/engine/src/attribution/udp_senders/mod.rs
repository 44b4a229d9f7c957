//! Who sent each UDP datagram, told by the kernel in the sender's own context: for the
//! DNS clients, `dig`, NTP and game probes that send a few datagrams and exit before the
//! capture thread looks their first packet up (their socket is gone from sock_diag and
//! `/proc/PID/fd` by then, so nothing else can name them).
//!
//! **Which tracepoint, and why.** Measured on Linux 6.18 (this machine):
//! - `sock:sock_send_length` fires in every `sendmsg`, with the pid, but carries only the
//!   kernel socket's address, family, protocol and byte count: nothing joins it to a
//!   packet's addresses and ports once the socket is gone.
//! - `fib:fib_table_lookup` and `fib6:fib6_table_lookup` fire in the route lookup the
//!   sender's `sendto()` makes (`udp_sendmsg` → `ip_route_output_flow`), synchronously in
//!   the sending task, and carry the protocol, the source port (already bound), the
//!   destination address and port, and the input interface (1, the loopback index, for
//!   every output lookup). That is the packet's flow key, minus the source address of a
//!   socket not bound to one (the lookup chooses it): a sender is keyed by its peer and
//!   its port. A `connect()`ed UDP socket makes its lookup in `connect()` and none per
//!   send (its route is cached): one record for the socket's life, as good.
//! - The same tracepoints fire for TCP connects, for every received or forwarded packet
//!   (input lookups, their real interface as `iif`), and from softirq (ICMP errors, TCP
//!   resets, kernel tunnels), where the current task is whichever one was interrupted.
//!   The kernel-side filter keeps only UDP output lookups made outside interrupts
//!   (`proto == 17 && iif == 1 && !(common_flags & 0x58)`), so a flood of received
//!   packets costs nothing here; the decoder checks it all again.
//! - Names: the same rings carry `PERF_RECORD_COMM` (every `exec`, and renames) and
//!   `PERF_RECORD_FORK` (a child keeps its parent's name until it execs): the name a
//!   process had, kept for when it is gone before `/proc/PID/comm` is read.
//!
//! **What a record decides.** Only a flow whose socket is no longer in any candidate
//! namespace is asked here (an open socket always wins), and only for UDP. The last
//! sender seen for (peer address and port, local port) within [`MEMORY`], whose own
//! address is the flow's or unspecified, is taken: that is the sending process for its
//! datagrams and the receiving one for the answers to them. The tracepoint does not say
//! which network namespace sent; two namespaces would have to use the same local port
//! towards the same peer within the same moments to be confused.
//!
//! The log also tells a port taken again: the first datagram of a UDP flow after a pause
//! (`AccountingConfig::udp_reuse_gap`) is checked against the last sender from its port
//! to its peer, and another process than the flow's owner is that end's owner from then
//! on (`OwnerLookup::last_udp_sender`; not through a fresh lookup, which could still find
//! the old socket in the socket and holder caches).
//!
//! Reading the tracepoints needs `CAP_PERFMON` (or root) and tracefs to find their ids;
//! the helper opens them before dropping capabilities ([`preopen`]). Without them (an old
//! kernel, a container) such senders land in "unknown UDP" as before, and
//! [`crate::CaptureTotals::sender_log`] says so. Events the kernel drops because a ring
//! was full are counted ([`UdpSenderLog::lost`]) and reported.
//!
//! ```text
//! UdpSenderLog::open    ../connect_log/tracefs.rs  each tracepoint's id and format
//!                       ../connect_log/ring.rs     one perf ring per CPU and tracepoint
//! UdpSenderLog::drain   record.rs                  raw record ─► route, name, fork
//!                       this file                  (peer, port) ─► sender; pid ─► name
//! ```

mod record;

use super::connect_log::ring::{possible_cpus, Extras, Ring};
use super::connect_log::state::Generations;
use super::connect_log::tracefs::event_files_of;
use super::kernel::bounded_read::read_text;
use super::preopened::Preopened;
use super::processes::process_info::parse_comm;
use super::sockets::socket_table::canonical;
use crate::owner::Pid;
use crate::SystemPaths;
use perf_event_open_sys::bindings::{
    PERF_RECORD_COMM, PERF_RECORD_FORK, PERF_RECORD_LOST, PERF_RECORD_SAMPLE,
};
pub(crate) use record::Comm;
use record::{decode, decode_comm, decode_fork, Layout, Route};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

/// The tracepoints' directories under tracefs.
const EVENT_V4: &str = "events/fib/fib_table_lookup";
const EVENT_V6: &str = "events/fib6/fib6_table_lookup";
/// The kernel-side filter: UDP output lookups, not from an interrupt (hard or soft) or
/// NMI. Both tracepoints name the fields alike.
const FILTER: &std::ffi::CStr = c"proto == 17 && iif == 1 && !(common_flags & 0x58)";
/// How long a sender is remembered after its last send: far beyond the accounting's
/// lookup retries (~0.4 s) and a capture thread seconds behind, short enough that a
/// later socket on the same port and peer is rarely taken for it.
pub(crate) const MEMORY: Duration = Duration::from_secs(30);

/// Most heap one remembered sender takes, in bytes, when its map has just grown (the
/// table doubles at 7/8 full: one entry and its control byte, × 8/7 × 2). Each distinct
/// (peer, local port) a process sends from within [`MEMORY`] is one entry, at most 2 ×
/// 32,768 of them (some 13 MiB at most, about 6 MiB in steady state); a resolver client
/// that opens a socket per query adds one per query.
pub const SENDER_ENTRY_BOUND_BYTES: usize =
    (std::mem::size_of::<((SocketAddr, u16), Sender)>() + 1) * 16 / 7;

/// A process that sent from a local port to a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sender {
    pid: Pid,
    /// The socket's own address; unspecified when it was not bound to one.
    local: IpAddr,
    seen: Instant,
    /// The kernel's time of the send (ns, `PERF_SAMPLE_TIME`).
    time: u64,
}

/// A name a process took, and when (the kernel's ns): records of several CPUs are read
/// one ring after the other, and a shell's exec must not be taken for the newer exec of
/// the program it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Named {
    comm: Comm,
    time: u64,
}

/// Remembers `named` for `pid` unless a newer name is known.
fn name(names: &mut Generations<Pid, Named>, pid: Pid, named: Named) {
    if names.get(&pid).is_none_or(|known| known.time <= named.time) {
        names.insert(pid, named);
    }
}

/// The u64 at `at` of a record's body.
fn time_at(body: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(
        body.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// The route-lookup tracepoints on every CPU, and what they told so far.
pub(crate) struct UdpSenderLog {
    rings: Vec<(Layout, Ring)>,
    /// (peer, local port) → the last process that sent from that port to that peer.
    senders: Generations<(SocketAddr, u16), Sender>,
    /// Names processes had, from exec and fork records and read at a sender's first send.
    names: Generations<Pid, Named>,
    scratch: Vec<u8>,
    /// Events the kernel dropped because a ring was full.
    pub(crate) lost: u64,
}

impl std::fmt::Debug for UdpSenderLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpSenderLog")
            .field("rings", &self.rings.len())
            .field("lost", &self.lost)
            .finish_non_exhaustive()
    }
}

/// The log opened by [`preopen`] and not in use by a [`super::SystemOwners`].
static PREOPENED: Preopened<UdpSenderLog> = Preopened::new();

/// Opens the tracepoints now, while the process still has the privilege to, for every
/// later [`super::SystemOwners`] of this process (the helper calls this before dropping
/// capabilities). Tells why they could not be opened.
pub fn preopen() -> io::Result<()> {
    PREOPENED.keep(UdpSenderLog::open(&SystemPaths::default())?);
    Ok(())
}

/// Closes the log [`preopen`] opened, or a released one kept for reuse (tests of the
/// unprivileged case).
pub fn discard_preopened() {
    PREOPENED.discard();
}

impl UdpSenderLog {
    /// The preopened log, else a new one (needs CAP_PERFMON, and tracefs or
    /// CAP_SYS_ADMIN); enabled, empty.
    pub(crate) fn acquire(paths: &SystemPaths) -> Option<UdpSenderLog> {
        let mut log = PREOPENED
            .take()
            .or_else(|| UdpSenderLog::open(paths).ok())?;
        log.senders = Generations::default();
        log.names = Generations::default();
        log.lost = 0;
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

    fn open(paths: &SystemPaths) -> io::Result<UdpSenderLog> {
        let mut rings = Vec::new();
        for (event, address_len) in [(EVENT_V4, 4), (EVENT_V6, 16)] {
            let files = event_files_of(&paths.tracefs, event)?;
            let id: u64 = files
                .id
                .trim()
                .parse()
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
            let layout = Layout::parse(&files.format, address_len).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unexpected format of {event}"),
                )
            })?;
            for cpu in 0..possible_cpus() {
                // Names come once per CPU: on the IPv4 rings.
                let extras = Extras {
                    time: true,
                    names: address_len == 4,
                    wake_each: false,
                };
                let ring = Ring::open_with(id, cpu, FILTER, extras);
                match ring {
                    Ok(ring) => rings.push((layout, ring)),
                    // An offline CPU refuses (ENODEV); its events cannot happen.
                    Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NODEV.raw_os_error()) => {
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        if rings.is_empty() {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        Ok(UdpSenderLog {
            rings,
            senders: Generations::default(),
            names: Generations::default(),
            scratch: Vec::with_capacity(128),
            lost: 0,
        })
    }

    /// Reads every event the kernel has written since the last call.
    /// The rings' descriptors: readable when one is half full (the kernel's default
    /// watermark), so a burst of sends or of new processes is read before it overflows.
    pub(crate) fn fds(&self) -> impl Iterator<Item = std::os::fd::BorrowedFd<'_>> {
        self.rings.iter().map(|(_, ring)| ring.fd())
    }

    pub(crate) fn drain(&mut self, proc_root: &Path) {
        let now = Instant::now();
        let mut routes: Vec<(Pid, u64, Route)> = Vec::new();
        let mut lost = 0u64;
        let names = &mut self.names;
        for (layout, ring) in &mut self.rings {
            let layout = *layout;
            ring.drain(&mut self.scratch, |kind, body| match kind {
                PERF_RECORD_SAMPLE => {
                    // u32 pid, u32 tid (PERF_SAMPLE_TID), u64 time, u32 size, raw bytes.
                    let word = |at: usize| -> Option<u32> {
                        Some(u32::from_ne_bytes(body.get(at..at + 4)?.try_into().ok()?))
                    };
                    let (Some(pid), Some(time), Some(size)) = (word(0), time_at(body, 8), word(16))
                    else {
                        return;
                    };
                    let raw = body.get(20..).unwrap_or_default();
                    let raw = raw.get(..size as usize).unwrap_or(raw);
                    if let Some(route) = decode(&layout, raw) {
                        routes.push((pid, time, route));
                    }
                }
                PERF_RECORD_COMM => {
                    // Ends with the sample id: u32 pid, u32 tid, u64 time.
                    let time = body.len().checked_sub(8).and_then(|at| time_at(body, at));
                    if let (Some((pid, comm)), Some(time)) = (decode_comm(body), time) {
                        name(names, pid, Named { comm, time });
                    }
                }
                PERF_RECORD_FORK => {
                    if let (Some((child, parent)), Some(time)) =
                        (decode_fork(body), time_at(body, 16))
                    {
                        if let Some(named) = names.get(&parent) {
                            name(
                                names,
                                child,
                                Named {
                                    comm: named.comm,
                                    time,
                                },
                            );
                        }
                    }
                }
                PERF_RECORD_LOST => {
                    // u64 id, u64 lost.
                    if let Some(n) = body.get(8..16).and_then(|b| b.try_into().ok()) {
                        lost = lost.saturating_add(u64::from_ne_bytes(n));
                    }
                }
                _ => {}
            });
        }
        self.lost = self.lost.saturating_add(lost);
        let mut last: Option<(Pid, Route)> = None;
        for (pid, time, route) in routes {
            // A flood from one socket repeats one record: noted once per drain.
            if last == Some((pid, route)) {
                continue;
            }
            last = Some((pid, route));
            self.note(pid, route, time, now, proc_root);
        }
    }

    /// Remembers one send (made at kernel `time`), and its process's name if no record
    /// named it yet. Rings of several CPUs are read one after the other: a send older
    /// than the one remembered for its key is not taken for the newer.
    fn note(&mut self, pid: Pid, route: Route, time: u64, now: Instant, proc_root: &Path) {
        let remote = canonical(route.remote);
        let local = canonical(route.local);
        let key = (remote, local.port());
        let known = self.senders.get(&key);
        if known.is_some_and(|s| s.time > time) {
            return;
        }
        if known.map(|s| s.pid) != Some(pid) && self.names.get(&pid).is_none() {
            // A process that started before the log did has no exec record here.
            let comm = read_text(&proc_root.join(pid.to_string()).join("comm"), 64)
                .ok()
                .and_then(|text| Comm::from_bytes(text.trim_end_matches('\n').as_bytes()));
            if let Some(comm) = comm {
                name(&mut self.names, pid, Named { comm, time });
            }
        }
        let sender = Sender {
            pid,
            local: local.ip(),
            seen: now,
            time,
        };
        self.senders.insert(key, sender);
    }

    /// The process that sent UDP from `local`'s port to `remote` within [`MEMORY`]
    /// (bound to `local`'s address or to none): the owner of that flow's local end.
    pub(crate) fn sender(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        proc_root: &Path,
    ) -> Option<Pid> {
        self.drain(proc_root);
        let local = canonical(local);
        let sender = self.senders.get(&(canonical(remote), local.port()))?;
        let fits = sender.local.is_unspecified() || sender.local == local.ip();
        (fits && sender.seen.elapsed() < MEMORY).then_some(sender.pid)
    }

    /// The name `pid` had when it last exec'd, was renamed, forked or sent, cleaned for
    /// display as every process name is; the rings are read first (its exec may be
    /// there, unread: a process looked at between its fork and its exec showed its
    /// parent's name).
    pub(crate) fn name(&mut self, pid: Pid, proc_root: &Path) -> Option<String> {
        self.drain(proc_root);
        self.names
            .get(&pid)
            .map(|named| parse_comm(&named.comm.text()))
            .filter(|name| !name.is_empty())
    }
}

#[cfg(test)]
mod tests;
