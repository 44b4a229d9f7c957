//! Socket → inode → process attribution from the kernel's own tables, in every network
//! namespace of the machine. Each question has its own room:
//!
//! ```text
//! SystemOwners::owner(transport, local, remote)          (this file: the order of questions)
//!  ├─ namespaces/  which namespaces may hold the socket: the ones owning `local` (this
//!  │               one for loopback); wildcard sockets count only there (namespace_set.rs;
//!  │               namespace.rs finds them from /proc/*/ns/net and /run/netns;
//!  │               address_book.rs keeps each one's addresses, read by local_addrs.rs,
//!  │               current through netlink notifications, bounded and ranked by who
//!  │               made the namespace: rank.rs)
//!  ├─ sockets/     the socket: cached table (socket_table.rs) ─ miss ─► the kernel of
//!  │               each candidate namespace, rate-limited per key (mod.rs); ICMP by its
//!  │               ping or raw socket
//!  ├─ kernel/      how the kernel is asked: netlink.rs, sock_diag.rs, proc_net.rs
//!  │               (/proc/PID/net/*), bounded_read.rs (untrusted /proc files),
//!  │               last_pid.rs (did any process start?)
//!  ├─ processes/   inode → pid from /proc/PID/fd, incremental (holders/, fd_dir.rs); a
//!  │               socket closed before its holder was read (closed.rs); name, user,
//!  │               cgroup app id read at once (process_info.rs, users.rs, app_id.rs),
//!  │               cmdline and Flatpak app id by reader threads with a deadline, as
//!  │               their reads can hang (late_details/); kept after the process exits
//!  ├─ connect_log/ who connected or listened, from the sock:inet_sock_set_state
//!  │               tracepoint: for TCP connections over before their lookup
//!  └─ udp_senders/ who sent UDP from a port to a peer, from the route-lookup
//!                  tracepoints: for UDP senders gone before their lookup; the names
//!                  processes had, from exec and fork records
//! SystemOwners::socket_bytes()    socket_bytes/: payload each process sent and received
//!                                 on inet sockets, from sock:sock_{send,recv}_length
//! SystemOwners::is_local(ip)      namespaces/address_book.rs
//! SystemOwners::refresh()         new namespaces, address changes, cached sockets
//!                                 forgotten, exited processes marked, unreferenced forgotten
//! ```
//!
//! The fixed paths (`/proc`, `/etc/passwd`, `/run/netns`, tracefs) come from one
//! [`SystemPaths`] value.

mod connect_log;
mod kernel;
mod namespaces;
mod preopened;
mod processes;
mod socket_bytes;
mod sockets;
mod trace;
mod udp_senders;
pub use connect_log::preopen as preopen_connect_log;
pub use socket_bytes::{
    discard_preopened as discard_preopened_socket_bytes, preopen as preopen_socket_bytes,
};
pub use trace::trace_lookups;
pub use udp_senders::{
    discard_preopened as discard_preopened_udp_senders, preopen as preopen_udp_senders,
    SENDER_ENTRY_BOUND_BYTES,
};

use crate::owner::{OwnerLookup, Pid, ProcessInfo, SocketTally};
use crate::{EngineError, SystemPaths, Transport};
use connect_log::ConnectLog;
use kernel::bounded_read::read_text;
use kernel::packet_table;
use namespaces::address_book::AddressBook;
use namespaces::namespace::namespace_of;
use namespaces::namespace_set::NamespaceSet;
use processes::holders::SocketHolders;
use processes::late_details::{Late, LateDetails, LateReaders, Request};
use processes::process_info;
use processes::users::Users;
use socket_bytes::SocketBytesLog;
use sockets::socket_table::canonical;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use udp_senders::UdpSenderLog;

/// Least time between two lookups in the kernel for the same flow key: only a guard
/// against a caller asking in a loop (accounting backs off by itself, from 2 ms on).
const KEY_RETRY: Duration = Duration::from_millis(1);
/// Most flow keys whose last kernel lookup time is remembered.
const MAX_KEYS: usize = 65_536;
/// Most processes whose details are kept (those accounting still references are kept
/// beyond this).
const MAX_DETAILS: usize = 65_536;
/// How long the sender found for (interface, EtherType) of frames without IP is kept: the
/// packet socket table (some 20 µs to read and parse here) is read at most 100 times a
/// second per kind of frame, whatever the frame rate; a second sender that opens its
/// socket later is seen within this time.
const PACKET_OWNER_TTL: Duration = Duration::from_millis(10);
/// Most (interface, EtherType) pairs remembered.
const MAX_PACKET_KEYS: usize = 1024;
/// Most bytes of `/proc/net/packet` read (some 80 bytes a socket).
const MAX_PACKET_TABLE: u64 = 8 << 20;

/// Details of a process returned by `owner`, with the start time that tells it apart from a
/// later process reusing its pid.
struct Details {
    info: ProcessInfo,
    start_time: u64,
    /// The part read off the capture thread, as it can hang (`late_details/`).
    late: LateState,
}

/// Where the late details of a process stand.
#[derive(Debug, Clone)]
enum LateState {
    /// Asked for; `info` shows the process without them meanwhile.
    Pending,
    Read(LateDetails),
    /// Not asked for: the process had exited before its details were read.
    NotAsked,
    /// Their read hung past its deadline, or no reader was left.
    Unavailable,
}

impl LateState {
    /// Puts the late details into `info`.
    fn fill(&self, info: &mut ProcessInfo) {
        match self {
            LateState::Read(late) => {
                info.cmdline.clone_from(&late.cmdline);
                if late.flatpak_app_id.is_some() {
                    info.app_id.clone_from(&late.flatpak_app_id);
                }
                info.details_unavailable = false;
            }
            LateState::Unavailable => info.details_unavailable = true,
            LateState::Pending | LateState::NotAsked => {}
        }
    }
}

/// The real [`OwnerLookup`]: netlink sock_diag (with `/proc/net/*` as fallback) in every
/// network namespace, `/proc/PID/fd` for inode → pid, and the connect tracepoint for TCP
/// connections over before their lookup: `connect()` names the client end, `listen()` the
/// server end (`connect_log.rs`; root or a preopened log only).
///
/// Privileges it relies on (the helper should keep these and may drop the rest):
/// `CAP_SYS_PTRACE` to read other users' `/proc/PID/{fd,ns,root}`, and `CAP_SYS_ADMIN`
/// to `setns` into other network namespaces (without it, other namespaces are read from
/// their members' `/proc/PID/net` tables only). sock_diag dumps and `/proc/net` need none.
///
/// It owns one background thread (the sweeper, see `processes/sweeper.rs`) and a few
/// netlink sockets per namespace; all end when it is dropped (the thread after its
/// current sweep).
pub struct SystemOwners {
    proc_root: PathBuf,
    namespaces: NamespaceSet,
    /// Addresses of every namespace; behind a `RefCell` because `is_local` (`&self`)
    /// catches up with announced address changes.
    addresses: RefCell<AddressBook>,
    holders: SocketHolders,
    details: HashMap<Pid, Details>,
    /// Reads command lines and Flatpak app ids off the capture thread.
    late: LateReaders,
    users: Users,
    /// Last kernel lookup per flow key (rate limit for keys that keep missing).
    tried: HashMap<(Transport, SocketAddr, SocketAddr), Instant>,
    /// Who opened or listened for each TCP connection, when the tracepoint can be read.
    connects: Option<ConnectLog>,
    /// Payload bytes per process at the socket layer, when the tracepoints can be read.
    socket_bytes: Option<SocketBytesLog>,
    /// Who sent UDP from each port to each peer, and the names processes had, when the
    /// route-lookup tracepoints can be read.
    udp_senders: Option<UdpSenderLog>,
    /// (interface index, EtherType) → the packet socket's process that sends such
    /// frames, or none, and when that was found (kept [`PACKET_OWNER_TTL`]).
    packet_owners: HashMap<(u32, u16), (Option<Pid>, Instant)>,
}

impl Drop for SystemOwners {
    fn drop(&mut self) {
        if let Some(log) = self.connects.take() {
            log.release();
        }
        if let Some(log) = self.socket_bytes.take() {
            log.release();
        }
        if let Some(log) = self.udp_senders.take() {
            log.release();
        }
    }
}

impl SystemOwners {
    /// Reads the initial socket and process tables of every namespace of the real system.
    pub fn new() -> Result<Self, EngineError> {
        Self::with_paths(&SystemPaths::default())
    }

    /// Like [`SystemOwners::new`], reading the system's tables from `paths`.
    pub fn with_paths(paths: &SystemPaths) -> Result<Self, EngineError> {
        let proc_root = paths.proc.clone();
        let own_pid = std::process::id();
        let own_inode = namespace_of(&proc_root, own_pid).ok_or_else(|| EngineError::Io {
            what: proc_root.join("self/ns/net").display().to_string(),
            source: std::io::Error::last_os_error(),
        })?;
        let mut book = AddressBook::new(paths);
        let namespaces = NamespaceSet::new(paths, own_inode, own_pid, &mut book);
        let mut owners = Self {
            holders: SocketHolders::new(&proc_root),
            late: LateReaders::new(&proc_root),
            proc_root,
            namespaces,
            addresses: RefCell::new(book),
            details: HashMap::new(),
            users: Users::new(paths.passwd.clone()),
            tried: HashMap::new(),
            connects: ConnectLog::acquire(paths),
            socket_bytes: SocketBytesLog::acquire(paths),
            udp_senders: UdpSenderLog::acquire(paths),
            packet_owners: HashMap::new(),
        };
        owners
            .namespaces
            .discover_at_start(owners.addresses.get_mut());
        owners.holders.full_scan();
        Ok(owners)
    }

    /// Reads the details of `pid` unless they are known for this very process: at once
    /// those that cannot hang, the others through the late readers (`late_details/`).
    fn note_process(&mut self, pid: Pid, socket_uid: u32) {
        let scanned = self.holders.scanned(pid);
        // A pid the holders no longer list (known from the connect log, or exiting) is
        // told apart from a later process by its stat, read now: read again in full
        // while it exits, it would lose its command line (empty for a zombie).
        let start_time = scanned
            .map(|(start, _)| start)
            .or_else(|| process_info::start_time(&self.proc_root, pid));
        if let (Some(d), Some(start)) = (self.details.get_mut(&pid), start_time) {
            if d.start_time == start {
                // Known, but maybe from before an exec (its name was the parent's then).
                let renamed = self
                    .udp_senders
                    .as_mut()
                    .and_then(|log| log.name(pid, &self.proc_root))
                    .filter(|name| *name != d.info.name);
                if let Some(name) = renamed {
                    d.info.name = name;
                }
                return;
            }
        }
        // Without a start time (the process is gone) the details are read again each
        // time; their late part is asked for once per pid all the same.
        let key = start_time.unwrap_or(0);
        let asked = self
            .details
            .get(&pid)
            .filter(|d| d.start_time == key)
            .map(|d| d.late.clone());
        // For a process gone before /proc is read: the name its exec (or rename) records
        // gave, else the one a scan read (it may predate an exec: a scan between fork
        // and exec reads the parent's name), else the one read at its connect.
        let fallback_name = self
            .udp_senders
            .as_mut()
            .and_then(|log| log.name(pid, &self.proc_root))
            .or_else(|| scanned.map(|(_, name)| name.to_owned()))
            .or_else(|| Some(self.connects.as_ref()?.name(pid)?.to_owned()))
            .unwrap_or_default();
        let mut info =
            process_info::read_process_info(&self.proc_root, pid, &fallback_name, &mut self.users);
        if info.uid == u32::MAX {
            info.uid = socket_uid;
            info.user = self.users.name(socket_uid);
        }
        let late = match asked {
            Some(state) => state,
            None if info.exited => LateState::NotAsked,
            None => {
                let request = Request {
                    pid,
                    start_time,
                    uid: info.uid,
                };
                match self.late.request(request) {
                    Some(_refused) => LateState::Unavailable,
                    None => LateState::Pending,
                }
            }
        };
        late.fill(&mut info);
        if self.details.len() >= MAX_DETAILS {
            self.details.retain(|_, d| !d.info.exited);
        }
        self.details.insert(
            pid,
            Details {
                info,
                start_time: key,
                late,
            },
        );
    }

    /// Takes in the late details read since the last call, and marks the processes whose
    /// read passed its deadline. An outcome for a pid that now names a later process, or
    /// that is forgotten, is dropped.
    fn take_late_details(&mut self) {
        for outcome in self.late.poll(Instant::now()) {
            let Some(d) = self.details.get_mut(&outcome.pid) else {
                continue;
            };
            if d.start_time != outcome.start_time.unwrap_or(0) {
                continue;
            }
            let state = match outcome.late {
                Late::Read(details) => LateState::Read(details),
                Late::Unavailable => LateState::Unavailable,
                Late::Gone => continue,
            };
            if matches!(d.late, LateState::Read(_)) && matches!(state, LateState::Unavailable) {
                continue;
            }
            state.fill(&mut d.info);
            d.late = state;
        }
    }
}

impl SystemOwners {
    /// The process that opened TCP connection `local` → `remote` (its client end), from
    /// the connect tracepoint: for connections over before their holder could be read.
    fn connector(
        &mut self,
        transport: Transport,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<Pid> {
        if transport != Transport::Tcp {
            return None;
        }
        self.connects
            .as_mut()?
            .connector(local, remote, &self.proc_root)
    }

    /// The one process whose packet sockets in this namespace (the host's: only its
    /// interfaces are captured) can have sent a frame of `ethertype` out of `ifindex`
    /// (`kernel/packet_table.rs` says which sockets count); `None` when none or several
    /// can. This process's own (the capture's) never count.
    fn find_packet_owner(&mut self, ifindex: u32, ethertype: u16) -> Option<Pid> {
        let text = read_text(&self.proc_root.join("self/net/packet"), MAX_PACKET_TABLE).ok()?;
        let sockets = packet_table::parse(&text);
        let own = std::process::id();
        for group in packet_table::senders(&sockets, ifindex, ethertype) {
            let mut holders: Vec<(Pid, u32)> = group
                .iter()
                .filter_map(|s| Some((self.holders.owner(s.inode, None)?, s.uid)))
                .filter(|&(pid, _)| pid != own)
                .collect();
            holders.sort_unstable();
            holders.dedup_by_key(|h| h.0);
            match holders[..] {
                [] => continue,
                [(pid, uid)] => {
                    self.note_process(pid, uid);
                    return Some(pid);
                }
                _ => return None,
            }
        }
        None
    }

    /// The process that last sent UDP from `local`'s port to `remote`, from the
    /// route-lookup tracepoints: for a sender whose socket closed before its lookup.
    fn udp_sender(
        &mut self,
        transport: Transport,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<Pid> {
        // A kernel tunnel's outer packets: its route lookup ran in the context of whichever
        // task sent the inner packet, which the log would name (accounting/tunnels.rs).
        if transport != Transport::Udp
            || self.udp_tunnel_port(local.port())
            || self.udp_tunnel_port(remote.port())
        {
            return None;
        }
        self.udp_senders
            .as_mut()?
            .sender(local, remote, &self.proc_root)
    }

    /// The process the tracepoints saw connect, listen on `local` or send UDP from it,
    /// for an end whose socket or holder is gone; its details are noted (with `uid`
    /// when the socket told it and `/proc` no longer does).
    fn witness(
        &mut self,
        transport: Transport,
        local: SocketAddr,
        remote: SocketAddr,
        uid: u32,
    ) -> Option<Pid> {
        let pid = self
            .connector(transport, local, remote)
            .or_else(|| self.listened_on(transport, local))
            .or_else(|| self.udp_sender(transport, local, remote))?;
        self.note_process(pid, uid);
        Some(pid)
    }

    /// The process that listened on `local` (TCP), from the tracepoint: the last answer
    /// for a server end when neither the connection's socket nor a live listener is left.
    /// Only a listener still open or closed moments ago, in a namespace that may own
    /// `local` (when its namespace is known), counts.
    fn listened_on(&mut self, transport: Transport, local: SocketAddr) -> Option<Pid> {
        if transport != Transport::Tcp {
            return None;
        }
        let listener = self.connects.as_mut()?.listener(local, &self.proc_root)?;
        let candidates = self.candidates(local.ip());
        let fits = listener.namespace.is_none_or(|inode| {
            candidates
                .indices
                .iter()
                .filter_map(|&i| self.namespaces.list.get(i))
                .any(|ns| ns.inode == inode)
        });
        fits.then_some(listener.pid)
    }
}

impl OwnerLookup for SystemOwners {
    fn owner(
        &mut self,
        transport: Transport,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<Pid> {
        let (local, remote) = (canonical(local), canonical(remote));
        match transport {
            Transport::Icmp => return self.icmp_owner(local, remote),
            Transport::Other => return self.raw_owner(local, remote),
            // A bucket, never a flow's transport.
            Transport::Tunnel => return None,
            Transport::Tcp | Transport::Udp => {}
        }
        let Some((found, hint)) = self.find_socket(transport, local, remote) else {
            return self
                .witness(transport, local, remote, u32::MAX)
                .or_else(|| {
                    trace::miss(
                        transport,
                        local,
                        remote,
                        "no open socket in any candidate namespace (never seen, or already closed)",
                    );
                    None
                });
        };
        let Some(pid) = self.holder(transport, local, remote, found.inode, hint) else {
            // The socket outlived its holder's descriptors by a moment (the process is
            // exiting, or passed the socket on and closed it): the tracepoints may still
            // have seen who connected, listened or sent.
            return self
                .witness(transport, local, remote, found.uid)
                .or_else(|| {
                    trace::miss(
                        transport,
                        local,
                        remote,
                        &format!("no holder of inode {}", found.inode),
                    );
                    None
                });
        };
        self.note_process(pid, found.uid);
        Some(pid)
    }

    fn prepare(&mut self) {
        self.holders.prepare();
        self.take_late_details();
        // A new namespace (a name in /run/netns, or a new process's) is followed and its
        // sockets set up now, while idle, rather than inside the first lookup of its
        // traffic: found there, its set-up took some 5 ms, long enough for a short
        // exchange and its processes to be over before the other end of that first packet
        // was looked up. Both searches are rate-limited.
        let book = self.addresses.get_mut();
        book.look_for_new_namespaces();
        self.namespaces.set_up_followed(book);
        // Drained often so the rings (256 KiB per CPU and direction) do not fill during
        // a bulk transfer of small writes (and when half full, `wake_fds`).
        self.woken();
    }

    /// The three logs' rings: the connect log's wake at each connect or listen, the
    /// others when half full.
    fn wake_fds(&self) -> Vec<std::os::fd::BorrowedFd<'_>> {
        let connects = self.connects.iter().flat_map(|log| log.fds());
        let senders = self.udp_senders.iter().flat_map(|log| log.fds());
        let bytes = self.socket_bytes.iter().flat_map(|log| log.fds());
        connects.chain(senders).chain(bytes).collect()
    }

    /// Reads the logs, and the details of the processes the connect log saw connecting or
    /// listening while they still run: a client that connects, exchanges a few kilobytes
    /// and exits within the few milliseconds the capture hands packets over late would
    /// otherwise be shown without its command line and user.
    fn woken(&mut self) {
        if let Some(log) = self.connects.as_mut() {
            log.drain(&self.proc_root);
            for pid in log.take_started() {
                self.note_process(pid, u32::MAX);
            }
        }
        if let Some(log) = self.socket_bytes.as_mut() {
            log.drain();
        }
        if let Some(log) = self.udp_senders.as_mut() {
            log.drain(&self.proc_root);
        }
    }

    fn packet_owner(&mut self, ifindex: u32, ethertype: u16) -> Option<Pid> {
        let key = (ifindex, ethertype);
        let now = Instant::now();
        if let Some(&(pid, at)) = self.packet_owners.get(&key) {
            if now.saturating_duration_since(at) < PACKET_OWNER_TTL {
                return pid;
            }
        }
        let pid = self.find_packet_owner(ifindex, ethertype);
        if self.packet_owners.len() >= MAX_PACKET_KEYS {
            self.packet_owners.clear();
        }
        self.packet_owners.insert(key, (pid, now));
        pid
    }

    fn last_udp_sender(&mut self, local: SocketAddr, remote: SocketAddr) -> Option<Pid> {
        let pid = self.udp_sender(Transport::Udp, local, remote)?;
        // Its details, for a process that may be credited from now on. Asked after every
        // pause of a flow (a voice call's every packet): a process already known is not
        // read again.
        if !self.details.contains_key(&pid) {
            self.note_process(pid, u32::MAX);
        }
        Some(pid)
    }

    fn sender_log(&self) -> Option<u64> {
        Some(self.udp_senders.as_ref()?.lost)
    }

    fn socket_bytes(&mut self) -> Option<&SocketTally> {
        Some(self.socket_bytes.as_mut()?.drain())
    }

    fn is_local(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_loopback()
            || self
                .addresses
                .try_borrow_mut()
                .is_ok_and(|mut book| book.contains(ip))
    }

    fn process(&self, pid: Pid) -> Option<&ProcessInfo> {
        self.details.get(&pid).map(|d| &d.info)
    }

    fn udp_tunnel_port(&self, port: u16) -> bool {
        self.addresses
            .try_borrow()
            .is_ok_and(|book| book.is_tunnel_port(port))
    }

    fn namespace(&self, pid: Pid) -> Option<u64> {
        namespace_of(&self.proc_root, pid)
    }

    fn refresh(&mut self, referenced: &dyn Fn(Pid) -> bool) {
        self.take_late_details();
        let book = self.addresses.get_mut();
        self.namespaces.discover(false, book);
        book.reload_changed();
        for ns in &mut self.namespaces.list {
            ns.forget_sockets();
        }
        let listed = self.holders.forget_exited();
        let (proc_root, holders) = (&self.proc_root, &self.holders);
        for (&pid, d) in self.details.iter_mut() {
            if d.info.exited {
                continue;
            }
            // Gone from /proc, or the pid now names a later process (start time differs).
            let start = match holders.scanned(pid) {
                Some((start, _)) => Some(start),
                None if listed.contains(&pid) => process_info::start_time(proc_root, pid),
                None => None,
            };
            if !listed.contains(&pid) || start != Some(d.start_time) {
                d.info.exited = true;
            }
        }
        self.details
            .retain(|&pid, d| !d.info.exited || referenced(pid));
        if self.details.len() > MAX_DETAILS {
            self.details.retain(|&pid, _| referenced(pid));
        }
        let now = Instant::now();
        self.tried
            .retain(|_, at| now.duration_since(*at) < KEY_RETRY);
    }
}

#[cfg(test)]
mod tests;
