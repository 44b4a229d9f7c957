//! One network namespace's sockets, indexed for the questions packets ask: which socket has
//! this exact 4-tuple, and which one is bound (listening, unconnected) to this address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Kinds of socket the tables hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum SockProto {
    Tcp,
    Udp,
    /// ICMP "ping" datagram socket; its port is the echo identifier.
    Ping,
    /// Raw IP socket; its port is the IP protocol number it receives.
    Raw,
}

/// One socket as the kernel lists it, addresses canonical (IPv4-mapped IPv6 as IPv4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SocketEntry {
    pub proto: SockProto,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Socket inode (`socket:[inode]` in `/proc/PID/fd`); 0 for sockets no file holds
    /// (TIME_WAIT, request sockets).
    pub inode: u64,
    /// Owner uid the kernel recorded for the socket.
    pub uid: u32,
}

impl SocketEntry {
    /// Builds an entry, turning IPv4-mapped IPv6 addresses into plain IPv4 so a dual-stack
    /// socket talking IPv4 matches IPv4 packets directly.
    pub(crate) fn new(
        proto: SockProto,
        local: SocketAddr,
        remote: SocketAddr,
        inode: u64,
        uid: u32,
    ) -> Self {
        Self {
            proto,
            local: canonical(local),
            remote: canonical(remote),
            inode,
            uid,
        }
    }
}

/// A socket a lookup found: its inode and the uid the kernel recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FoundSocket {
    pub inode: u64,
    pub uid: u32,
}

/// Most sockets one namespace's table keeps; beyond this, entries are dropped (a table this
/// large means hostile input or a machine far beyond what one lookup table should hold).
pub(crate) const MAX_SOCKETS: usize = 1 << 20;

/// Sockets of one namespace.
#[derive(Debug, Default)]
pub(crate) struct SocketTable {
    /// Connected sockets by (kind, local, remote).
    exact: HashMap<(SockProto, SocketAddr, SocketAddr), FoundSocket>,
    /// Listening/unconnected TCP and UDP sockets, and every ping socket, by (kind, local
    /// address and port).
    bound: HashMap<(SockProto, SocketAddr), FoundSocket>,
    /// Raw sockets by (local address, protocol); several may share one.
    raw: HashMap<SocketAddr, Vec<FoundSocket>>,
}

/// Most raw sockets kept for one address and protocol.
const MAX_RAW_PER_ADDRESS: usize = 64;

impl SocketTable {
    pub(crate) fn len(&self) -> usize {
        self.exact.len() + self.bound.len() + self.raw.len()
    }

    /// Forgets every socket of `proto` (before it is read again).
    pub(crate) fn clear(&mut self, proto: SockProto) {
        self.exact.retain(|k, _| k.0 != proto);
        self.bound.retain(|k, _| k.0 != proto);
        if proto == SockProto::Raw {
            self.raw.clear();
        }
    }

    /// Adds one socket; sockets no file holds (inode 0) are skipped.
    pub(crate) fn insert(&mut self, entry: &SocketEntry) {
        if entry.inode == 0 || self.len() >= MAX_SOCKETS {
            return;
        }
        let found = FoundSocket {
            inode: entry.inode,
            uid: entry.uid,
        };
        let connected = !entry.remote.ip().is_unspecified() || entry.remote.port() != 0;
        match entry.proto {
            SockProto::Tcp | SockProto::Udp if connected => {
                self.exact
                    .insert((entry.proto, entry.local, entry.remote), found);
            }
            SockProto::Raw => {
                let same = self.raw.entry(entry.local).or_default();
                if same.len() < MAX_RAW_PER_ADDRESS && !same.contains(&found) {
                    same.push(found);
                }
            }
            _ => {
                self.bound.insert((entry.proto, entry.local), found);
            }
        }
    }

    /// The connected socket with exactly this 4-tuple.
    pub(crate) fn connected(
        &self,
        proto: SockProto,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<FoundSocket> {
        self.exact
            .get(&(proto, canonical(local), canonical(remote)))
            .copied()
    }

    /// The socket bound to `local`: on its exact address first, then on the wildcard of its
    /// family, then (for IPv4) on the IPv6 wildcard of a dual-stack socket.
    pub(crate) fn bound(&self, proto: SockProto, local: SocketAddr) -> Option<FoundSocket> {
        let local = canonical(local);
        let port = local.port();
        let mut candidates = vec![local];
        match local.ip() {
            IpAddr::V4(v4) => {
                candidates.push(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port));
                candidates.push(SocketAddr::new(v4.to_ipv6_mapped().into(), port));
                candidates.push(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port));
            }
            IpAddr::V6(_) => {
                candidates.push(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port));
            }
        }
        candidates
            .into_iter()
            .find_map(|addr| self.bound.get(&(proto, addr)).copied())
    }

    /// The connected socket, else the bound one (the kernel's own order for a packet).
    #[cfg(test)]
    pub(crate) fn lookup(
        &self,
        proto: SockProto,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<FoundSocket> {
        self.connected(proto, local, remote)
            .or_else(|| self.bound(proto, local))
    }

    /// The possible owners of ICMP echo traffic whose identifier is `local`'s port: the
    /// ping socket with that identifier, else every raw socket of the ICMP protocol of
    /// that family bound to the address or the wildcard (each receives the echo).
    pub(crate) fn icmp(&self, local: SocketAddr) -> Vec<FoundSocket> {
        let local = canonical(local);
        if let Some(ping) = self.bound(SockProto::Ping, local) {
            return vec![ping];
        }
        let protocol = if local.is_ipv4() { 1 } else { 58 };
        self.raw(local.ip(), protocol)
    }

    /// Raw sockets of IP protocol `protocol` that see packets to or from `ip`: those bound
    /// to `ip` first, then those bound to the wildcard address.
    pub(crate) fn raw(&self, ip: IpAddr, protocol: u16) -> Vec<FoundSocket> {
        let local = canonical(SocketAddr::new(ip, protocol));
        let wildcard: IpAddr = if local.is_ipv4() {
            Ipv4Addr::UNSPECIFIED.into()
        } else {
            Ipv6Addr::UNSPECIFIED.into()
        };
        let mut out: Vec<FoundSocket> = Vec::new();
        for ip in [local.ip(), wildcard] {
            for found in self
                .raw
                .get(&SocketAddr::new(ip, protocol))
                .into_iter()
                .flatten()
            {
                if !out.contains(found) {
                    out.push(*found);
                }
            }
        }
        out
    }
}

/// The address with an IPv4-mapped IPv6 address turned into IPv4.
pub(crate) fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_sockets_of_any_protocol_are_found_exact_address_first() {
        let mut table = SocketTable::default();
        let entry = |local: &str, inode| {
            SocketEntry::new(
                SockProto::Raw,
                local.parse().unwrap(),
                "0.0.0.0:0".parse().unwrap(),
                inode,
                0,
            )
        };
        // /proc/net/raw puts the protocol where a port would be.
        table.insert(&entry("0.0.0.0:253", 1));
        table.insert(&entry("127.0.0.2:253", 2));
        table.insert(&entry("127.0.0.2:47", 3));
        let inodes = |ip: &str, protocol| -> Vec<u64> {
            table
                .raw(ip.parse().unwrap(), protocol)
                .iter()
                .map(|f| f.inode)
                .collect()
        };
        assert_eq!(inodes("127.0.0.2", 253), vec![2, 1]);
        assert_eq!(inodes("127.0.0.1", 253), vec![1]);
        assert_eq!(inodes("127.0.0.2", 47), vec![3]);
        assert_eq!(inodes("127.0.0.2", 50), Vec::<u64>::new());
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn table(entries: &[(SockProto, &str, &str, u64)]) -> SocketTable {
        let mut t = SocketTable::default();
        for &(proto, l, r, inode) in entries {
            t.insert(&SocketEntry::new(proto, sa(l), sa(r), inode, 0));
        }
        t
    }

    fn inode(found: Option<FoundSocket>) -> Option<u64> {
        found.map(|f| f.inode)
    }

    #[test]
    fn an_established_tcp_socket_wins_over_its_listener() {
        let t = table(&[
            (SockProto::Tcp, "0.0.0.0:80", "0.0.0.0:0", 1),
            (SockProto::Tcp, "127.0.0.1:80", "127.0.0.1:5555", 2),
        ]);
        let got = t.lookup(SockProto::Tcp, sa("127.0.0.1:80"), sa("127.0.0.1:5555"));
        assert_eq!(inode(got), Some(2));
        let syn = t.lookup(SockProto::Tcp, sa("127.0.0.1:80"), sa("127.0.0.1:6666"));
        assert_eq!(inode(syn), Some(1));
    }

    #[test]
    fn unconnected_udp_matches_its_address_then_the_wildcards() {
        let t = table(&[
            (SockProto::Udp, "10.0.0.1:53", "0.0.0.0:0", 1),
            (SockProto::Udp, "0.0.0.0:53", "0.0.0.0:0", 2),
            (SockProto::Udp, "[::]:5353", "[::]:0", 3),
        ]);
        let any = sa("9.9.9.9:1");
        assert_eq!(
            inode(t.lookup(SockProto::Udp, sa("10.0.0.1:53"), any)),
            Some(1)
        );
        assert_eq!(
            inode(t.lookup(SockProto::Udp, sa("10.0.0.2:53"), any)),
            Some(2)
        );
        // A dual-stack IPv6 socket receives IPv4 traffic.
        assert_eq!(
            inode(t.lookup(SockProto::Udp, sa("10.0.0.2:5353"), any)),
            Some(3)
        );
        assert_eq!(inode(t.lookup(SockProto::Udp, sa("10.0.0.2:9"), any)), None);
    }

    #[test]
    fn ipv4_mapped_sockets_match_plain_ipv4_packets() {
        let t = table(&[(
            SockProto::Tcp,
            "[::ffff:127.0.0.1]:8080",
            "[::ffff:127.0.0.1]:4000",
            7,
        )]);
        let got = t.lookup(SockProto::Tcp, sa("127.0.0.1:8080"), sa("127.0.0.1:4000"));
        assert_eq!(inode(got), Some(7));
    }

    #[test]
    fn sockets_no_file_holds_are_not_indexed() {
        let t = table(&[(SockProto::Tcp, "127.0.0.1:80", "127.0.0.1:1", 0)]);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn icmp_prefers_the_ping_socket_with_that_identifier_then_a_raw_icmp_socket() {
        let t = table(&[
            (SockProto::Ping, "0.0.0.0:4242", "0.0.0.0:0", 1),
            (SockProto::Raw, "0.0.0.0:1", "0.0.0.0:0", 2),
            (SockProto::Raw, "[::]:58", "[::]:0", 3),
        ]);
        let inodes = |v: Vec<FoundSocket>| v.into_iter().map(|f| f.inode).collect::<Vec<_>>();
        assert_eq!(inodes(t.icmp(sa("127.0.0.1:4242"))), [1]);
        assert_eq!(inodes(t.icmp(sa("127.0.0.1:77"))), [2]);
        assert_eq!(inodes(t.icmp(sa("[::1]:77"))), [3]);
    }

    #[test]
    fn every_raw_icmp_socket_of_an_address_is_a_candidate() {
        let t = table(&[
            (SockProto::Raw, "0.0.0.0:1", "0.0.0.0:0", 2),
            (SockProto::Raw, "0.0.0.0:1", "0.0.0.0:0", 5),
            (SockProto::Raw, "10.0.0.1:1", "0.0.0.0:0", 7),
            (SockProto::Raw, "0.0.0.0:17", "0.0.0.0:0", 9),
        ]);
        let got: Vec<u64> = t.icmp(sa("10.0.0.1:300")).iter().map(|f| f.inode).collect();
        assert_eq!(got, [7, 2, 5]);
    }

    #[test]
    fn clearing_one_kind_keeps_the_others() {
        let mut t = table(&[
            (SockProto::Tcp, "127.0.0.1:80", "127.0.0.1:1", 1),
            (SockProto::Udp, "0.0.0.0:53", "0.0.0.0:0", 2),
        ]);
        t.clear(SockProto::Tcp);
        assert_eq!(t.len(), 1);
        assert!(t.bound(SockProto::Udp, sa("1.2.3.4:53")).is_some());
    }
}
