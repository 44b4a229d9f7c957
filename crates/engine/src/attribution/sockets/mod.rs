//! The socket a packet belongs to: the namespaces that may hold it, the cached tables of
//! those namespaces, then the kernel (sock_diag, or `/proc/PID/net`) with a per-key rate
//! limit; ICMP echo traffic by its ping or raw socket.

pub(super) mod socket_table;

use super::namespaces::namespace_set::Candidates;
use super::SystemOwners;
use super::{KEY_RETRY, MAX_KEYS};
use crate::owner::Pid;
use crate::Transport;
use socket_table::{FoundSocket, SockProto, SocketTable};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

impl SystemOwners {
    /// The namespaces to ask about a socket on local address `ip`, after looking for the
    /// namespace owning `ip` when it is not known yet (rate-limited). Loopback traffic is
    /// always this namespace's (pcap sees only its `lo`), though every namespace has
    /// 127.0.0.1: no search for it.
    pub(super) fn candidates(&mut self, ip: IpAddr) -> Candidates {
        let book = self.addresses.get_mut();
        if !ip.is_loopback() && self.namespaces.misses_owner_of(ip, book) {
            self.namespaces.discover_missing(book);
        }
        self.namespaces.candidates(ip, self.addresses.get_mut())
    }

    /// The socket a packet of `transport` between `local` and `remote` belongs to, and the
    /// inode of the listening or unconnected socket bound to `local` (a hint: an accepted
    /// connection usually belongs to the process holding its listener).
    pub(super) fn find_socket(
        &mut self,
        transport: Transport,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<(FoundSocket, Option<u64>)> {
        let proto = match transport {
            Transport::Tcp => SockProto::Tcp,
            Transport::Udp => SockProto::Udp,
            Transport::Icmp | Transport::Other | Transport::Tunnel => return None,
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
    pub(super) fn may_ask_kernel(
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
    pub(super) fn ask_kernel(
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
    pub(super) fn icmp_owner(&mut self, local: SocketAddr, remote: SocketAddr) -> Option<Pid> {
        let identifier = u32::from(local.port());
        self.raw_socket_owner(
            Transport::Icmp,
            local,
            remote,
            |table| table.icmp(local),
            |pid| pid & 0xffff == identifier,
        )
    }

    /// The owner of a packet of another IP protocol (`local.port()` holds the protocol
    /// number, see `parse`): a raw socket of that protocol bound to `local`'s address,
    /// else one bound to the wildcard. Every raw socket of the protocol receives a copy of
    /// each packet; the one bound to the exact address is the answer, else the first found.
    pub(super) fn raw_owner(&mut self, local: SocketAddr, remote: SocketAddr) -> Option<Pid> {
        let protocol = local.port();
        self.raw_socket_owner(
            Transport::Other,
            local,
            remote,
            |table| table.raw(local.ip(), protocol),
            |_| false,
        )
    }

    /// The holder of the first of the raw (or ping) sockets `sockets` lists in the
    /// namespaces owning `local`, or of the first whose pid `preferred` picks when there
    /// are several. The raw and ping tables are reread when the key may ask the kernel
    /// (sock_diag has neither).
    fn raw_socket_owner(
        &mut self,
        transport: Transport,
        local: SocketAddr,
        remote: SocketAddr,
        sockets: impl Fn(&SocketTable) -> Vec<FoundSocket>,
        preferred: impl Fn(Pid) -> bool,
    ) -> Option<Pid> {
        let candidates = self.candidates(local.ip());
        if !candidates.owned {
            return None;
        }
        if self.may_ask_kernel(transport, local, remote) {
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
                    // Both tables are small.
                    if transport == Transport::Icmp {
                        ns.reload_from_proc(SockProto::Ping, local.is_ipv6());
                    }
                    ns.reload_from_proc(SockProto::Raw, local.is_ipv6());
                }
            }
        }
        let found: Vec<FoundSocket> = candidates
            .indices
            .iter()
            .filter_map(|&i| self.namespaces.list.get(i))
            .flat_map(|ns| sockets(&ns.table))
            .collect();
        let several = found.len() > 1;
        let mut first = None;
        for socket in found {
            let Some(pid) = self.holders.owner(socket.inode, None) else {
                continue;
            };
            if !several || preferred(pid) {
                self.note_process(pid, socket.uid);
                return Some(pid);
            }
            first.get_or_insert((pid, socket.uid));
        }
        let (pid, uid) = first?;
        self.note_process(pid, uid);
        Some(pid)
    }
}

/// The wildcard address of `ip`'s family.
pub(super) fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}
