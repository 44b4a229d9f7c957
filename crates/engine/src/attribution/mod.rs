//! Socket → inode → process attribution from the kernel's own tables, in every network
//! namespace of the machine.
//!
//! ```text
//! SystemOwners::owner(transport, local, remote)
//!  ├─ namespaces   which namespaces may hold the socket (the one owning `local`; own for
//!  │               loopback) — namespaces.rs, found from /proc/*/ns/net and /run/netns
//!  ├─ socket       cached table (socket_table.rs) ─ miss ─► sock_diag exact lookup in that
//!  │               namespace (sock_diag.rs); /proc/PID/net/* when netlink fails and for
//!  │               ping/raw sockets (proc_net.rs)                        ─► inode, uid
//!  ├─ holder       inode → pid from /proc/PID/fd, cached; an unknown inode is looked
//!  │               for in new pids (by /proc/loadavg's last pid), young pids, recently
//!  │               active pids, then a rate-limited sweep of all (processes/)
//!  └─ details      name, cmdline, user, app id, read at once (process_info.rs, users.rs,
//!                  app_id.rs) and kept after the process exits
//! refresh(): addresses (local_addrs.rs), socket tables, exited processes, new namespaces
//! ```

mod app_id;
mod bounded_read;
mod fd_dir;
mod local_addrs;
mod namespaces;
mod netlink;
mod proc_net;
mod process_info;
mod processes;
mod sock_diag;
mod socket_table;
mod users;

use crate::owner::{OwnerLookup, Pid, ProcessInfo};
use crate::{EngineError, Transport};
use namespaces::{named_namespaces, namespace_of, open_sockets_in, Namespace};
use processes::{list_pids, SocketHolders};
use socket_table::{canonical, FoundSocket, SockProto};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use users::Users;

/// Least time between two lookups in the kernel for the same flow key: only a guard
/// against a caller asking in a loop (accounting backs off by itself, from 2 ms on).
const KEY_RETRY: Duration = Duration::from_millis(1);
/// Most flow keys whose last kernel lookup time is remembered.
const MAX_KEYS: usize = 65_536;
/// Least time between two searches for new namespaces on a lookup miss.
const NAMESPACE_RESCAN: Duration = Duration::from_millis(20);
/// How long after a pid first appears its namespace link is re-read on every discovery.
const YOUNG_PID: Duration = Duration::from_secs(2);
/// Most processes whose details are kept (those accounting still references are kept
/// beyond this).
const MAX_DETAILS: usize = 65_536;
/// Most namespaces followed.
const MAX_NAMESPACES: usize = 4096;

/// Details of a process returned by `owner`, with the start time that tells it apart from a
/// later process reusing its pid.
struct Details {
    info: ProcessInfo,
    start_time: u64,
}

/// The real [`OwnerLookup`]: netlink sock_diag (with `/proc/net/*` as fallback) in every
/// network namespace, `/proc/PID/fd` for inode → pid.
pub struct SystemOwners {
    proc_root: PathBuf,
    /// Index 0 is the namespace this process runs in (the one pcap captures in).
    namespaces: Vec<Namespace>,
    /// Namespace of each pid seen, and when it was first seen, so discovery on a miss
    /// reads only young pids' links (a process may still `setns` early in its life).
    namespace_of_pid: HashMap<Pid, (u64, Instant)>,
    last_namespace_scan: Instant,
    holders: SocketHolders,
    details: HashMap<Pid, Details>,
    users: Users,
    /// Addresses of every namespace.
    local: HashSet<IpAddr>,
    /// Last kernel lookup per flow key (rate limit for keys that keep missing).
    tried: HashMap<(Transport, SocketAddr, SocketAddr), Instant>,
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
        let sockets = netlink::NetlinkSocket::open(netlink::NETLINK_SOCK_DIAG)
            .and_then(|d| Ok((d, netlink::NetlinkSocket::open(netlink::NETLINK_ROUTE)?)))
            .ok();
        let own = Namespace::new(own_inode, Some(own_pid), sockets);
        let mut owners = Self {
            holders: SocketHolders::new(&proc_root),
            proc_root,
            namespaces: vec![own],
            namespace_of_pid: HashMap::new(),
            last_namespace_scan: Instant::now(),
            details: HashMap::new(),
            users: Users::new("/etc/passwd"),
            local: HashSet::new(),
            tried: HashMap::new(),
        };
        owners.namespaces[0].refresh();
        owners.discover_namespaces(false);
        owners.rebuild_local();
        owners.holders.full_scan();
        Ok(owners)
    }

    /// Indices of the namespaces that may hold the socket of local address `ip`: its own
    /// namespace for loopback (pcap sees only this namespace's `lo`), else the namespaces
    /// owning `ip`, else all of them.
    fn candidates(&self, ip: IpAddr) -> Vec<usize> {
        if ip.is_loopback() {
            return vec![0];
        }
        let owning: Vec<usize> = (0..self.namespaces.len())
            .filter(|&i| self.namespaces[i].addrs.contains(&ip))
            .collect();
        if owning.is_empty() {
            (0..self.namespaces.len()).collect()
        } else {
            owning
        }
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
            Transport::Icmp => SockProto::Ping,
            Transport::Other => return None,
        };
        let mut found = None;
        if proto != SockProto::Ping {
            found = self.candidates(local.ip()).into_iter().find_map(|i| {
                self.namespaces
                    .get(i)?
                    .table
                    .connected(proto, local, remote)
            });
        }
        if found.is_none() && self.may_ask_kernel(transport, local, remote) {
            found = self.ask_kernel(proto, local, remote);
            if found.is_none() && self.discover_namespaces(true) {
                found = self.ask_kernel(proto, local, remote);
            }
        }
        let bound = self.candidates(local.ip()).into_iter().find_map(|i| {
            let table = &self.namespaces.get(i)?.table;
            match proto {
                SockProto::Ping => table.icmp(local),
                _ => table.bound(proto, local),
            }
        });
        let found = found.or(bound)?;
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

    /// Asks the kernel (sock_diag, or `/proc/PID/net` tables) of each candidate namespace.
    fn ask_kernel(
        &mut self,
        proto: SockProto,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<FoundSocket> {
        let ipv6 = local.is_ipv6();
        for i in self.candidates(local.ip()) {
            let Some(ns) = self.namespaces.get_mut(i) else {
                continue;
            };
            if proto == SockProto::Ping {
                let ping = ns.reload_from_proc(SockProto::Ping, ipv6);
                let raw = ns.reload_from_proc(SockProto::Raw, ipv6);
                if ping || raw {
                    if let Some(found) = ns.table.icmp(local) {
                        return Some(found);
                    }
                }
                continue;
            }
            if let Some(diag) = ns.diag.as_mut() {
                match diag.find(proto, local, remote) {
                    Ok(Some(entry)) if entry.inode != 0 => {
                        ns.table.insert(&entry);
                        return Some(FoundSocket {
                            inode: entry.inode,
                            uid: entry.uid,
                        });
                    }
                    Ok(_) => continue,
                    Err(_) => ns.diag = None,
                }
            }
            if ns.reload_from_proc(proto, ipv6) {
                if let Some(found) = ns.table.lookup(proto, local, remote) {
                    return Some(found);
                }
            }
        }
        None
    }

    /// Looks for namespaces not known yet. On a lookup miss (`on_miss`) at most every
    /// [`NAMESPACE_RESCAN`] and reading only the links of pids first seen in the last
    /// [`YOUNG_PID`]; once per interval reading every pid's link. Returns whether any
    /// namespace was added.
    fn discover_namespaces(&mut self, on_miss: bool) -> bool {
        let now = Instant::now();
        if on_miss && now.duration_since(self.last_namespace_scan) < NAMESPACE_RESCAN {
            return false;
        }
        self.last_namespace_scan = now;
        let listed = list_pids(&self.proc_root);
        self.namespace_of_pid.retain(|pid, _| listed.contains(pid));
        let mut members: HashMap<u64, Pid> = HashMap::new();
        for &pid in &listed {
            let known = self.namespace_of_pid.get(&pid).copied();
            let trusted =
                known.is_some_and(|(_, seen)| on_miss && now.duration_since(seen) >= YOUNG_PID);
            let ns = match known {
                Some((ns, _)) if trusted => ns,
                _ => match namespace_of(&self.proc_root, pid) {
                    Some(ns) => {
                        let seen = known.map_or(now, |(_, seen)| seen);
                        self.namespace_of_pid.insert(pid, (ns, seen));
                        ns
                    }
                    None => continue,
                },
            };
            let lowest = members.entry(ns).or_insert(pid);
            *lowest = (*lowest).min(pid);
        }
        let named = named_namespaces(Path::new("/run/netns"));
        let own = self.namespaces[0].inode;
        // Forget namespaces that are gone (holding their sockets would keep them alive).
        self.namespaces.retain(|ns| {
            ns.inode == own
                || members.contains_key(&ns.inode)
                || named.iter().any(|(inode, _)| *inode == ns.inode)
        });
        for ns in &mut self.namespaces {
            if ns.inode != own {
                if let Some(&pid) = members.get(&ns.inode) {
                    if ns.member.is_none_or(|m| !listed.contains(&m)) {
                        ns.member = Some(pid);
                    }
                }
            }
        }
        let known: HashSet<u64> = self.namespaces.iter().map(|n| n.inode).collect();
        let mut added = false;
        let mut new: Vec<(u64, Option<Pid>, PathBuf)> = members
            .iter()
            .filter(|(ns, _)| !known.contains(ns))
            .map(|(&ns, &pid)| (ns, Some(pid), self.proc_root.join(format!("{pid}/ns/net"))))
            .collect();
        for (inode, path) in named {
            if !known.contains(&inode) && !new.iter().any(|n| n.0 == inode) {
                new.push((inode, None, path));
            }
        }
        for (inode, member, path) in new {
            if self.namespaces.len() >= MAX_NAMESPACES {
                break;
            }
            let mut ns = Namespace::new(inode, member, open_sockets_in(&path).ok());
            ns.refresh();
            self.local.extend(ns.addrs.iter().copied());
            self.namespaces.push(ns);
            added = true;
        }
        added
    }

    fn rebuild_local(&mut self) {
        self.local = self
            .namespaces
            .iter()
            .flat_map(|ns| ns.addrs.iter().copied())
            .collect();
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
        let fallback_name = scanned.map(|(_, name)| name.to_owned()).unwrap_or_default();
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

impl OwnerLookup for SystemOwners {
    fn owner(
        &mut self,
        transport: Transport,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<Pid> {
        let (local, remote) = (canonical(local), canonical(remote));
        let (found, hint) = self.find_socket(transport, local, remote)?;
        let pid = self.holders.owner(found.inode, hint)?;
        self.note_process(pid, found.uid);
        Some(pid)
    }

    fn is_local(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_loopback() || self.local.contains(&ip)
    }

    fn process(&self, pid: Pid) -> Option<&ProcessInfo> {
        self.details.get(&pid).map(|d| &d.info)
    }

    fn refresh(&mut self, referenced: &dyn Fn(Pid) -> bool) {
        self.discover_namespaces(false);
        for ns in &mut self.namespaces {
            ns.refresh();
        }
        self.rebuild_local();
        self.holders.forget_exited();
        let proc_root = &self.proc_root;
        for (&pid, d) in self.details.iter_mut() {
            if !d.info.exited && process_info::start_time(proc_root, pid) != Some(d.start_time) {
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
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream, UdpSocket};
    use std::time::Duration;

    /// Asks until an answer comes or 5 s pass (a long-lived process's new socket may wait
    /// for the rate-limited rescan, as accounting's retries do).
    fn poll_owner(
        owners: &mut SystemOwners,
        transport: Transport,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<Pid> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let got = owners.owner(transport, local, remote);
            if got.is_some() || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn without_netlink_the_proc_net_tables_still_attribute_sockets() {
        let mut owners = SystemOwners::new().unwrap();
        for ns in &mut owners.namespaces {
            ns.diag = None;
        }
        let listener = TcpListener::bind("[::1]:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let me = Some(std::process::id());
        let (local, remote) = (client.local_addr().unwrap(), client.peer_addr().unwrap());
        assert_eq!(poll_owner(&mut owners, Transport::Tcp, local, remote), me);
        let peer = "127.0.0.1:9".parse().unwrap();
        let udp_local = udp.local_addr().unwrap();
        assert_eq!(poll_owner(&mut owners, Transport::Udp, udp_local, peer), me);
        owners.refresh(&|_| true);
        assert!(owners.namespaces[0].diag.is_none(), "stays on /proc");
        assert_eq!(owners.owner(Transport::Tcp, local, remote), me);
    }

    #[test]
    fn other_traffic_has_no_owner_and_loopback_is_always_local() {
        let mut owners = SystemOwners::new().unwrap();
        let any = "127.0.0.1:1".parse().unwrap();
        assert_eq!(owners.owner(Transport::Other, any, any), None);
        assert!(owners.is_local("127.4.5.6".parse().unwrap()));
        assert!(owners.is_local("::1".parse().unwrap()));
        assert!(owners.is_local("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!owners.is_local("192.0.2.1".parse().unwrap()), "TEST-NET-1");
        assert!(owners.process(u32::MAX).is_none());
    }
}
