//! Socket → inode → process attribution from the kernel's own tables, in every network
//! namespace of the machine.
//!
//! ```text
//! SystemOwners::owner(transport, local, remote)
//!  ├─ namespaces   which namespaces may hold the socket: the ones owning `local` (this
//!  │               one for loopback); wildcard sockets count only there (namespace_set.rs,
//!  │               namespaces.rs: found from /proc/*/ns/net and /run/netns)
//!  ├─ socket       cached table (socket_table.rs) ─ miss ─► sock_diag exact lookup in
//!  │               that namespace (sock_diag.rs over netlink.rs); /proc/PID/net/* when
//!  │               netlink fails and for ping/raw sockets (proc_net.rs)  ─► inode, uid
//!  ├─ holder       inode → pid from /proc/PID/fd, incremental (processes/); a socket
//!  │               closed before its holder was read: closed.rs
//!  └─ details      name, cmdline, user, app id, read at once (process_info.rs, users.rs,
//!                  app_id.rs) and kept after the process exits
//! SystemOwners::is_local(ip)
//!  └─ address_book.rs: addresses per namespace (local_addrs.rs), kept current by netlink
//!                  address notifications and a rate-limited search for new namespaces
//! SystemOwners::refresh(): new namespaces, address changes, cached sockets forgotten,
//!                  exited processes marked, unreferenced ones forgotten
//! ```

mod address_book;
mod app_id;
mod bounded_read;
mod closed;
mod connect_log;
mod fd_dir;
mod last_pid;
mod local_addrs;
mod namespace_set;
mod namespaces;
mod netlink;
mod proc_net;
mod process_info;
mod processes;
mod sock_diag;
mod socket_table;
mod trace;
mod users;
pub use connect_log::preopen as preopen_connect_log;
pub use trace::trace_lookups;

use crate::owner::{OwnerLookup, Pid, ProcessInfo};
use crate::{EngineError, Transport};
use address_book::AddressBook;
use connect_log::ConnectLog;
use namespace_set::{Candidates, NamespaceSet};
use namespaces::namespace_of;
use processes::SocketHolders;
use socket_table::{canonical, FoundSocket, SockProto};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use users::Users;

/// Least time between two lookups in the kernel for the same flow key: only a guard
/// against a caller asking in a loop (accounting backs off by itself, from 2 ms on).
const KEY_RETRY: Duration = Duration::from_millis(1);
/// Most flow keys whose last kernel lookup time is remembered.
const MAX_KEYS: usize = 65_536;
/// Most processes whose details are kept (those accounting still references are kept
/// beyond this).
const MAX_DETAILS: usize = 65_536;

/// Details of a process returned by `owner`, with the start time that tells it apart from a
/// later process reusing its pid.
struct Details {
    info: ProcessInfo,
    start_time: u64,
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
    users: Users,
    /// Last kernel lookup per flow key (rate limit for keys that keep missing).
    tried: HashMap<(Transport, SocketAddr, SocketAddr), Instant>,
    /// Who opened or listened for each TCP connection, when the tracepoint can be read.
    connects: Option<ConnectLog>,
}

impl Drop for SystemOwners {
    fn drop(&mut self) {
        if let Some(log) = self.connects.take() {
            log.release();
        }
    }
}

impl SystemOwners {
    /// Reads the initial socket and process tables of every namespace.
    pub fn new() -> Result<Self, EngineError> {
        let proc_root = PathBuf::from("/proc");
        let own_pid = std::process::id();
        let own_inode = namespace_of(&proc_root, own_pid).ok_or_else(|| EngineError::Io {
            what: "/proc/self/ns/net".into(),
            source: std::io::Error::last_os_error(),
        })?;
        let mut book = AddressBook::new(&proc_root);
        let namespaces = NamespaceSet::new(proc_root.clone(), own_inode, own_pid, &mut book);
        let mut owners = Self {
            holders: SocketHolders::new(&proc_root),
            proc_root,
            namespaces,
            addresses: RefCell::new(book),
            details: HashMap::new(),
            users: Users::new("/etc/passwd"),
            tried: HashMap::new(),
            connects: ConnectLog::acquire(),
        };
        owners
            .namespaces
            .discover_at_start(owners.addresses.get_mut());
        owners.holders.full_scan();
        Ok(owners)
    }

    /// The namespaces to ask about a socket on local address `ip`, after looking for the
    /// namespace owning `ip` when it is not known yet (rate-limited). Loopback traffic is
    /// always this namespace's (pcap sees only its `lo`), though every namespace has
    /// 127.0.0.1: no search for it.
    fn candidates(&mut self, ip: IpAddr) -> Candidates {
        let book = self.addresses.get_mut();
        if !ip.is_loopback() && self.namespaces.misses_owner_of(ip, book) {
            self.namespaces.discover_missing(book);
        }
        self.namespaces.candidates(ip, self.addresses.get_mut())
    }

    /// The socket a packet of `transport` between `local` and `remote` belongs to, and the
    /// inode of the listening or unconnected socket bound to `local` (a hint: an accepted
    /// connection usually belongs to the process holding its listener).
    fn find_socket(
        &mut self,
        transport: Transport,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<(FoundSocket, Option<u64>)> {
        let proto = match transport {
            Transport::Tcp => SockProto::Tcp,
            Transport::Udp => SockProto::Udp,
            Transport::Icmp | Transport::Other => return None,
        };
        let candidates = self.candidates(local.ip());
        let mut found = candidates.indices.iter().find_map(|&i| {
            let table = &self.namespaces.list.get(i)?.table;
            table.connected(proto, local, remote)
        });
        // Whether the kernel was asked and every namespace answered through sock_diag: then
        // "no socket" is the truth and a bound socket from the cached table is stale.
        let mut authoritative = false;
        if found.is_none() && self.may_ask_kernel(transport, local, remote) {
            (found, authoritative) = self.ask_kernel(proto, &candidates, local, remote);
            // A namespace found late may hold it; never for loopback (see `candidates`).
            if found.is_none()
                && !local.ip().is_loopback()
                && self.namespaces.discover(true, self.addresses.get_mut())
            {
                let candidates = self.candidates(local.ip());
                (found, authoritative) = self.ask_kernel(proto, &candidates, local, remote);
            }
        }
        let candidates = self.candidates(local.ip());
        let bound = candidates
            .indices
            .iter()
            .filter(|_| candidates.owned)
            .find_map(|&i| self.namespaces.list.get(i)?.table.bound(proto, local));
        let found = found.or(bound.filter(|_| !authoritative))?;
        let hint = bound.map(|b| b.inode).filter(|&i| i != found.inode);
        Some((found, hint))
    }

    /// Rate-limits kernel lookups per flow key.
    fn may_ask_kernel(
        &mut self,
        transport: Transport,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> bool {
        let now = Instant::now();
        let key = (transport, local, remote);
        if let Some(at) = self.tried.get(&key) {
            if now.duration_since(*at) < KEY_RETRY {
                return false;
            }
        }
        if self.tried.len() >= MAX_KEYS {
            self.tried
                .retain(|_, at| now.duration_since(*at) < KEY_RETRY);
            if self.tried.len() >= MAX_KEYS {
                self.tried.clear();
            }
        }
        self.tried.insert(key, now);
        true
    }

    /// Asks the kernel (sock_diag, or `/proc/PID/net` tables) of each candidate namespace;
    /// also tells whether a miss is certain (every namespace answered through sock_diag).
    fn ask_kernel(
        &mut self,
        proto: SockProto,
        candidates: &Candidates,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> (Option<FoundSocket>, bool) {
        let ipv6 = local.is_ipv6();
        let mut certain = true;
        // Outside the namespaces owning the address only an exact binding counts.
        let fits = |bound: SocketAddr| candidates.owned || bound.ip() == local.ip();
        for &i in &candidates.indices {
            let Some(ns) = self.namespaces.list.get_mut(i) else {
                continue;
            };
            if let Some(diag) = ns.diag.as_mut() {
                let mut answer = diag.find(proto, local, remote);
                if proto == SockProto::Tcp && matches!(answer, Ok(Some(e)) if e.inode == 0) {
                    // Only a TIME_WAIT remains: the connection is over. Its server side
                    // belongs to whoever holds the listener on that port (if this end
                    // is a server's: the kernel answers with the listener for a peer
                    // that has no connection).
                    let nobody = SocketAddr::new(unspecified(local.ip()), 0);
                    answer = diag.find(proto, local, nobody);
                }
                match answer {
                    Ok(Some(entry)) if entry.inode != 0 && fits(entry.local) => {
                        ns.table.insert(&entry);
                        let found = FoundSocket {
                            inode: entry.inode,
                            uid: entry.uid,
                        };
                        return (Some(found), true);
                    }
                    Ok(_) => continue,
                    Err(_) => ns.diag = None,
                }
            }
            certain = false;
            if ns.reload_from_proc(proto, ipv6) {
                let found = ns.table.connected(proto, local, remote).or_else(|| {
                    candidates
                        .owned
                        .then(|| ns.table.bound(proto, local))
                        .flatten()
                });
                if found.is_some() {
                    return (found, false);
                }
            }
        }
        (None, certain)
    }

    /// The owner of ICMP echo traffic with identifier `local.port()`: the ping socket with
    /// that identifier, else a raw ICMP socket on the address. Several raw sockets all
    /// receive every echo; ping tools using raw sockets put their pid (its low 16 bits) in
    /// the identifier, so the holder whose pid matches is preferred, else the first found.
    /// Only namespaces owning `local` count (their wildcard sockets see its traffic).
    fn icmp_owner(&mut self, local: SocketAddr, remote: SocketAddr) -> Option<Pid> {
        let candidates = self.candidates(local.ip());
        if !candidates.owned {
            return None;
        }
        if self.may_ask_kernel(Transport::Icmp, local, remote) {
            let memberless = candidates.indices.iter().any(|&i| {
                self.namespaces
                    .list
                    .get(i)
                    .is_some_and(|ns| ns.member.is_none())
            });
            if memberless {
                // The tables are read from a member's /proc/PID/net: look for one.
                self.namespaces.discover(true, self.addresses.get_mut());
            }
            for &i in &candidates.indices {
                if let Some(ns) = self.namespaces.list.get_mut(i) {
                    // Ping sockets are not in sock_diag; both tables are small.
                    ns.reload_from_proc(SockProto::Ping, local.is_ipv6());
                    ns.reload_from_proc(SockProto::Raw, local.is_ipv6());
                }
            }
        }
        let sockets: Vec<FoundSocket> = candidates
            .indices
            .iter()
            .filter_map(|&i| self.namespaces.list.get(i))
            .flat_map(|ns| ns.table.icmp(local))
            .collect();
        let several = sockets.len() > 1;
        let mut first = None;
        for socket in sockets {
            let Some(pid) = self.holders.owner(socket.inode, None) else {
                continue;
            };
            if !several || pid & 0xffff == u32::from(local.port()) {
                self.note_process(pid, socket.uid);
                return Some(pid);
            }
            first.get_or_insert((pid, socket.uid));
        }
        let (pid, uid) = first?;
        self.note_process(pid, uid);
        Some(pid)
    }

    /// Reads the details of `pid` unless they are known for this very process.
    fn note_process(&mut self, pid: Pid, socket_uid: u32) {
        let scanned = self.holders.scanned(pid);
        let start_time = scanned.map(|(start, _)| start);
        if let (Some(d), Some(start)) = (self.details.get(&pid), start_time) {
            if d.start_time == start {
                return;
            }
        }
        let fallback_name = scanned
            .map(|(_, name)| name)
            .or_else(|| self.connects.as_ref()?.name(pid))
            .unwrap_or_default()
            .to_owned();
        let mut info =
            process_info::read_process_info(&self.proc_root, pid, &fallback_name, &mut self.users);
        if info.uid == u32::MAX {
            info.uid = socket_uid;
            info.user = self.users.name(socket_uid);
        }
        if self.details.len() >= MAX_DETAILS {
            self.details.retain(|_, d| !d.info.exited);
        }
        self.details.insert(
            pid,
            Details {
                info,
                start_time: start_time.unwrap_or(0),
            },
        );
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

/// The wildcard address of `ip`'s family.
fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
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
        if transport == Transport::Icmp {
            return self.icmp_owner(local, remote);
        }
        let Some((found, hint)) = self.find_socket(transport, local, remote) else {
            let witness = self
                .connector(transport, local, remote)
                .or_else(|| self.listened_on(transport, local));
            if let Some(pid) = witness {
                self.note_process(pid, u32::MAX);
                return Some(pid);
            }
            trace::miss(
                transport,
                local,
                remote,
                "no open socket in any candidate namespace (never seen, or already closed)",
            );
            return None;
        };
        let Some(pid) = self.holder(transport, local, remote, found.inode, hint) else {
            trace::miss(
                transport,
                local,
                remote,
                &format!("no holder of inode {}", found.inode),
            );
            return None;
        };
        self.note_process(pid, found.uid);
        Some(pid)
    }

    fn prepare(&mut self) {
        self.holders.prepare();
        // A new namespace (a name in /run/netns, or a new process's) is followed and its
        // sockets set up now, while idle, rather than inside the first lookup of its
        // traffic: found there, its set-up took some 5 ms, long enough for a short
        // exchange and its processes to be over before the other end of that first packet
        // was looked up. Both searches are rate-limited.
        let book = self.addresses.get_mut();
        book.look_for_new_namespaces();
        self.namespaces.set_up_followed(book);
        if let Some(log) = self.connects.as_mut() {
            log.drain(&self.proc_root);
        }
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

    fn refresh(&mut self, referenced: &dyn Fn(Pid) -> bool) {
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
