//! Which addresses belong to this machine, per network namespace, kept current between
//! intervals: each namespace has a netlink socket subscribed to address changes, drained
//! when an address is not known, and new namespaces are looked for (rate-limited) too, so
//! an address that appears (a VPN, a veth into a new container) counts as local at once.
//!
//! What a namespace says about its addresses is its owner's word, and any user can make
//! one (`unshare -rn`) with 65,536 local addresses, whose `/proc/PID/net/fib_trie` (the
//! only way in without `CAP_SYS_ADMIN`, the helper's case) then took the kernel 1.3 s to
//! write, re-read on every unknown address and every interval: the capture thread was
//! busy 3.8 s of 4 s and credited none of 300 short loopback connections. So:
//! - namespaces are ranked ([`Rank`]): the host's first, root-owned ones next, those of
//!   other users' user namespaces last; a namespace of the last rank is read only up to
//!   [`USER_FILE_BYTES`] of each file;
//! - at most [`MAX_FOLLOWED_ADDRS`] addresses are followed across all namespaces, given
//!   out in rank order (then by inode): beyond it a namespace keeps its lowest addresses,
//!   or none;
//! - a namespace is read again no sooner than [`COST_FACTOR`] times as long as its last
//!   read took, and the namespaces of the last rank share one such budget (4,096 of them,
//!   each cheap, would otherwise still keep the thread busy);
//! - an address the host has is the host's alone ([`AddressBook::owners`]).

use crate::attribution::kernel::last_pid::LastPid;
use crate::attribution::kernel::netlink::{
    NetlinkSocket, NETLINK_ROUTE, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK,
};
use crate::attribution::namespaces::local_addrs::{netlink_addresses, proc_addresses, Bound};
use crate::attribution::namespaces::namespace::{in_namespace, namespace_of, NamedWatch};
use crate::attribution::namespaces::rank::Rank;
use crate::attribution::namespaces::tunnel_ports::netlink_tunnel_ports;
use crate::owner::Pid;
use crate::SystemPaths;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Least time between two drains of the change notifications on an unknown address.
const CATCH_UP_INTERVAL: Duration = Duration::from_millis(1);
/// Least time between two re-reads of the namespaces that announce no address change (read
/// through a member's `/proc/PID/net`) on an unknown address.
const UNWATCHED_RELOAD_INTERVAL: Duration = Duration::from_millis(20);
/// Least time between two searches for new namespaces on an unknown address.
const DISCOVERY_INTERVAL: Duration = Duration::from_millis(50);
/// Most pids whose namespace one search reads; more new pids wait for the next refresh.
const MAX_NEW_PIDS: Pid = 256;
/// Most namespaces followed; a better-ranked one found beyond it replaces the last.
const MAX_SPACES: usize = 4096;
/// Most addresses followed across all namespaces (a few MiB of hash sets). A busy host
/// has hundreds; beyond the bound a namespace keeps its lowest addresses (or none), the
/// namespaces taken in rank order, then by inode, so the outcome does not depend on the
/// order they were found in.
const MAX_FOLLOWED_ADDRS: usize = 65_536;
/// Most bytes read of `fib_trie` and of `if_inet6` of a host or root-owned namespace, in
/// bytes (some 160,000 addresses).
const TRUSTED_FILE_BYTES: u64 = 16 << 20;
/// Most bytes read of each file of a namespace of the last rank, in bytes: 5,133
/// addresses of a namespace flooded with 65,536, written and parsed in 6 ms (debug
/// build; the whole 6.8 MB took the kernel alone 1.3 s).
const USER_FILE_BYTES: u64 = 256 << 10;
/// A namespace is read again at the earliest this many times as long after its last read
/// as that read took: its re-reads take at most 1/20 of the capture thread.
const COST_FACTOR: u32 = 20;
/// Most time one pass spends reading namespaces of the last rank (one read may overrun
/// it); then they all wait [`COST_FACTOR`] times as long as the pass spent on them.
const USER_READ_SLICE: Duration = Duration::from_millis(2);
/// Longest a namespace whose reads are slow waits for its next read, so that its changes
/// are still seen, in seconds.
const MAX_REREAD_DELAY: Duration = Duration::from_secs(60);

/// The addresses of one namespace and the sockets that keep them current.
struct Space {
    /// Dumps the namespace's addresses (`RTM_GETADDR`).
    route: Option<NetlinkSocket>,
    /// Subscribed to address and link changes in the namespace.
    watch: Option<NetlinkSocket>,
    /// `/proc/PID/net` of a member, read when netlink is unavailable.
    net_dir: Option<PathBuf>,
    addrs: HashSet<IpAddr>,
    /// The UDP ports of its kernel tunnels (VXLAN, Geneve, bare UDP devices); read only
    /// through netlink (`/proc/PID/net` does not tell them).
    tunnel_ports: BTreeSet<u16>,
    rank: Rank,
    /// A change was announced (or, with no watch, may have happened) and not read yet.
    pending: bool,
    /// Earliest next read ([`COST_FACTOR`] times the last one's duration after it).
    next_read: Option<Instant>,
}

impl Space {
    /// Reads the namespace's addresses, at most `allowance` of them (its share of
    /// [`MAX_FOLLOWED_ADDRS`]), and times the read for the next one.
    fn read(&mut self, allowance: usize) {
        if let Some(Ok(ports)) = self.route.as_mut().map(netlink_tunnel_ports) {
            self.tunnel_ports = ports;
        }
        if allowance == 0 {
            // No room: nothing to read (still pending, for when room comes back).
            self.addrs.clear();
            return;
        }
        let started = Instant::now();
        let bound = Bound {
            addresses: allowance,
            file_bytes: match self.rank {
                Rank::Host | Rank::RootOwned => TRUSTED_FILE_BYTES,
                Rank::UserOwned => USER_FILE_BYTES,
            },
        };
        let from_netlink = self.route.as_mut().map(|r| netlink_addresses(r, bound));
        let addrs = match from_netlink {
            Some(Ok(addrs)) => Ok(addrs),
            _ => match &self.net_dir {
                Some(dir) => proc_addresses(dir, bound),
                None => Err(io::Error::from(io::ErrorKind::NotFound)),
            },
        };
        if let Ok(addrs) = addrs {
            self.addrs = addrs;
        }
        self.pending = false;
        let finished = Instant::now();
        let cost = finished.duration_since(started);
        self.next_read = Some(finished + cost.saturating_mul(COST_FACTOR).min(MAX_REREAD_DELAY));
    }

    /// Whether its last read was long enough ago for its cost.
    fn due(&self, now: Instant) -> bool {
        self.next_read.is_none_or(|at| now >= at)
    }

    /// Notes announced changes; a namespace without a watch may have changed when
    /// `unwatched`.
    fn note_changes(&mut self, unwatched: bool) {
        let announced = match self.watch.as_mut() {
            Some(watch) => watch.drain(),
            None => unwatched,
        };
        self.pending |= announced;
    }

    /// Keeps at most `allowance` addresses, the lowest; returns whether any went. It is
    /// read again (when due) in case room comes back.
    fn trim(&mut self, allowance: usize) -> bool {
        if self.addrs.len() <= allowance {
            return false;
        }
        let mut kept: Vec<IpAddr> = self.addrs.drain().collect();
        kept.sort_unstable();
        kept.truncate(allowance);
        self.addrs = kept.into_iter().collect();
        self.pending = true;
        true
    }
}

/// The addresses of every namespace followed, by namespace inode.
pub(crate) struct AddressBook {
    proc_root: PathBuf,
    spaces: HashMap<u64, Space>,
    /// The inodes of `spaces` by rank, then inode: the order addresses are given out in.
    order: Vec<u64>,
    /// The host's namespace (followed with no path to enter it).
    host: Option<u64>,
    /// Most addresses followed: [`MAX_FOLLOWED_ADDRS`] (smaller in tests).
    cap: usize,
    /// [`USER_READ_SLICE`] (zero in tests: one read per pass).
    user_slice: Duration,
    /// Namespaces of the last rank are not read again before this.
    user_reads_resume: Option<Instant>,
    /// The last of them read: the next pass goes on after it (in turn, none starved).
    user_cursor: u64,
    all: HashSet<IpAddr>,
    /// The tunnel ports of every namespace followed but those of other users' user
    /// namespaces: anyone can make one (`unshare -rn`) with a VXLAN device on port 53, and
    /// must not turn everyone's DNS into a tunnel's.
    tunnel_ports: BTreeSet<u16>,
    last_catch_up: Option<Instant>,
    last_discovery: Option<Instant>,
    last_unwatched_reload: Option<Instant>,
    /// The kernel's last allocated pid at the last search for new namespaces.
    last_pid: Option<Pid>,
    /// Changes whenever a namespace is followed or forgotten (see [`Self::generation`]).
    generation: u64,
    last_pid_file: LastPid,
    /// `/run/netns`, listed when it changed.
    named: NamedWatch,
}

impl AddressBook {
    pub(crate) fn new(paths: &SystemPaths) -> Self {
        let proc_root = paths.proc.clone();
        Self {
            last_pid_file: LastPid::new(&proc_root),
            proc_root,
            spaces: HashMap::new(),
            order: Vec::new(),
            host: None,
            cap: MAX_FOLLOWED_ADDRS,
            user_slice: USER_READ_SLICE,
            user_reads_resume: None,
            user_cursor: 0,
            all: HashSet::new(),
            tunnel_ports: BTreeSet::new(),
            last_catch_up: None,
            last_discovery: None,
            last_unwatched_reload: None,
            last_pid: None,
            generation: 0,
            named: NamedWatch::new(&paths.run_netns),
        }
    }

    /// Starts following namespace `inode`, entered through `ns_path` (`None`: the calling
    /// thread's own namespace, the host's); `net_dir` is the fallback `/proc/PID/net`.
    pub(crate) fn follow(&mut self, inode: u64, ns_path: Option<&Path>, net_dir: Option<PathBuf>) {
        if self.spaces.contains_key(&inode) {
            if let Some(net_dir) = net_dir {
                self.adopt_member(inode, net_dir);
            }
            return;
        }
        let rank = ns_path.map_or(Rank::Host, Rank::of);
        if self.spaces.len() >= MAX_SPACES && !self.make_room(rank) {
            return;
        }
        let open = || {
            let route = NetlinkSocket::open(NETLINK_ROUTE).ok();
            // Links too: a tunnel device made or removed changes the tunnel ports.
            let groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_LINK;
            let watch = NetlinkSocket::subscribe(NETLINK_ROUTE, groups).ok();
            Ok((route, watch))
        };
        let (route, watch) = match ns_path {
            None => open(),
            Some(path) => in_namespace(path, open),
        }
        .unwrap_or((None, None));
        self.insert(inode, rank, (route, watch), net_dir);
    }

    /// Adds namespace `inode` with its sockets, and reads it.
    fn insert(
        &mut self,
        inode: u64,
        rank: Rank,
        (route, watch): (Option<NetlinkSocket>, Option<NetlinkSocket>),
        net_dir: Option<PathBuf>,
    ) {
        let mut space = Space {
            route,
            watch,
            net_dir,
            addrs: HashSet::new(),
            tunnel_ports: BTreeSet::new(),
            rank,
            pending: true,
            next_read: None,
        };
        let key = (rank, inode);
        let at = self
            .order
            .partition_point(|i| self.spaces.get(i).map(|s| (s.rank, *i)) < Some(key));
        space.read(self.room_before(at));
        self.all.extend(space.addrs.iter().copied());
        if rank != Rank::UserOwned {
            self.tunnel_ports.extend(space.tunnel_ports.iter().copied());
        }
        self.spaces.insert(inode, space);
        self.order.insert(at, inode);
        if rank == Rank::Host {
            self.host = Some(inode);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.followed_total() > self.cap {
            self.admit(Instant::now(), false);
        }
    }

    /// What the namespaces before position `at` of the order leave of the cap.
    fn room_before(&self, at: usize) -> usize {
        let before: usize = self.order[..at.min(self.order.len())]
            .iter()
            .filter_map(|i| self.spaces.get(i))
            .map(|s| s.addrs.len())
            .sum();
        self.cap.saturating_sub(before)
    }

    /// At [`MAX_SPACES`], forgets the last-ranked namespace if a namespace of `rank` ranks
    /// before it. Returns whether there is room now.
    fn make_room(&mut self, rank: Rank) -> bool {
        let Some(&last) = self.order.last() else {
            return true;
        };
        if self.spaces.get(&last).is_some_and(|s| s.rank <= rank) {
            return false;
        }
        self.order.pop();
        self.spaces.remove(&last);
        self.generation = self.generation.wrapping_add(1);
        self.rebuild();
        true
    }

    /// Gives followed namespace `inode` the `/proc/PID/net` of a process inside it, when it
    /// has no netlink socket of its own and no member yet (or its member exited).
    ///
    /// A namespace named in /run/netns is followed as soon as it appears, before any
    /// process is in it; without CAP_SYS_ADMIN (the helper's case) netlink inside it
    /// cannot be opened, so a member's `/proc/PID/net` is the only way to its addresses.
    pub(crate) fn adopt_member(&mut self, inode: u64, net_dir: PathBuf) {
        let Some(space) = self.spaces.get_mut(&inode) else {
            return;
        };
        let adopt = space.route.is_none() && space.net_dir.as_ref().is_none_or(|dir| !dir.exists());
        if !adopt {
            return;
        }
        space.net_dir = Some(net_dir);
        // Read at once: a new member is found at most once per search (its predecessor
        // must have exited), whatever the last read cost.
        let at = self.order.iter().position(|i| *i == inode).unwrap_or(0);
        let room = self.room_before(at);
        if let Some(space) = self.spaces.get_mut(&inode) {
            space.read(room);
        }
        self.rebuild();
        if self.followed_total() > self.cap {
            self.admit(Instant::now(), false);
        }
    }

    /// Stops following namespaces not in `alive` (holding their sockets would keep them
    /// from being freed).
    pub(crate) fn retain(&mut self, alive: &HashSet<u64>) {
        self.spaces.retain(|inode, _| alive.contains(inode));
        self.order.retain(|inode| alive.contains(inode));
        if self.host.is_some_and(|host| !alive.contains(&host)) {
            self.host = None;
        }
        self.generation = self.generation.wrapping_add(1);
        self.rebuild();
    }

    /// Applies pending address changes (once per interval): namespaces whose watch
    /// announced one (or lost some) are read again, and those without a watch always,
    /// each when its cost allows.
    pub(crate) fn reload_changed(&mut self) {
        for space in self.spaces.values_mut() {
            space.note_changes(true);
        }
        self.admit(Instant::now(), true);
    }

    /// Whether `ip` is an address of a namespace followed, after catching up with changes.
    pub(crate) fn contains(&mut self, ip: IpAddr) -> bool {
        if self.all.contains(&ip) {
            return true;
        }
        self.catch_up();
        self.all.contains(&ip)
    }

    /// Whether `port` is the UDP port of a kernel tunnel in any namespace followed through
    /// netlink (as of the last reads: changes are read with the addresses').
    pub(crate) fn is_tunnel_port(&self, port: u16) -> bool {
        self.tunnel_ports.contains(&port)
    }

    /// Inodes of the namespaces followed, best-ranked first.
    pub(crate) fn namespaces(&self) -> impl Iterator<Item = u64> + '_ {
        self.order.iter().copied()
    }

    /// A value that changes whenever the set of namespaces followed may have: whoever
    /// compares it with the set needs to look again only then.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Looks for new namespaces (at most every [`DISCOVERY_INTERVAL`]): on an unknown
    /// address, and in the capture thread's idle moments, so that a namespace created
    /// meanwhile (`ip netns add`, a container starting) is then known, and its sockets can
    /// be set up, before its first packet. Found only on that packet, its set-up (some
    /// 5 ms) came inside the first lookup, and a short exchange was over before the other
    /// end was looked up (the fragmented-UDP root scenarios, 1 run in 4). Returns whether
    /// any was added.
    pub(crate) fn look_for_new_namespaces(&mut self) -> bool {
        let now = Instant::now();
        if self
            .last_discovery
            .is_some_and(|t| now.duration_since(t) < DISCOVERY_INTERVAL)
        {
            return false;
        }
        self.last_discovery = Some(now);
        self.discover()
    }

    /// The namespaces that have `ip`: the host alone when it has it (another namespace
    /// may claim any address, the host's too, and must not take its traffic).
    pub(crate) fn owners(&self, ip: IpAddr) -> Vec<u64> {
        let host = self.host.and_then(|h| Some(h).zip(self.spaces.get(&h)));
        if let Some((host, space)) = host {
            if space.addrs.contains(&ip) {
                return vec![host];
            }
        }
        self.order
            .iter()
            .filter(|inode| {
                self.spaces
                    .get(inode)
                    .is_some_and(|s| s.addrs.contains(&ip))
            })
            .copied()
            .collect()
    }

    /// Addresses followed, across all namespaces (at most [`MAX_FOLLOWED_ADDRS`]).
    pub(crate) fn followed_total(&self) -> usize {
        self.spaces.values().map(|s| s.addrs.len()).sum()
    }

    /// Applies announced address changes, and (less often) follows new namespaces.
    fn catch_up(&mut self) {
        let now = Instant::now();
        if self
            .last_catch_up
            .is_some_and(|t| now.duration_since(t) < CATCH_UP_INTERVAL)
        {
            return;
        }
        self.last_catch_up = Some(now);
        // Namespaces read through /proc/PID/net announce nothing: read them again too,
        // less often.
        let unwatched = self
            .last_unwatched_reload
            .is_none_or(|t| now.duration_since(t) >= UNWATCHED_RELOAD_INTERVAL);
        if unwatched {
            self.last_unwatched_reload = Some(now);
        }
        for space in self.spaces.values_mut() {
            space.note_changes(unwatched);
        }
        self.admit(now, true);
        self.look_for_new_namespaces();
    }

    /// Walks the namespaces in rank order, reading those with a pending change whose cost
    /// allows (when `read`; those of the last rank within their shared budget), and keeps
    /// each to what those before it left of [`MAX_FOLLOWED_ADDRS`]. Returns whether any
    /// addresses changed.
    fn admit(&mut self, now: Instant, read: bool) -> bool {
        let mut used = 0usize;
        let mut changed = false;
        let users_may = self.user_reads_resume.is_none_or(|at| now >= at);
        let mut user_time = Duration::ZERO;
        let mut user_waiting = false;
        for inode in &self.order {
            let Some(space) = self.spaces.get_mut(inode) else {
                continue;
            };
            let allowance = self.cap.saturating_sub(used);
            let user = space.rank == Rank::UserOwned;
            let budget =
                !user || (users_may && user_time <= self.user_slice && *inode > self.user_cursor);
            let wanted = allowance > 0 && space.pending && space.due(now);
            if read && wanted && user && !budget {
                user_waiting = true;
            }
            if read && budget && wanted {
                let started = Instant::now();
                space.read(allowance);
                if user {
                    user_time += started.elapsed().max(Duration::from_nanos(1));
                    self.user_cursor = *inode;
                }
                changed = true;
            }
            changed |= space.trim(allowance);
            used += space.addrs.len();
        }
        if !user_time.is_zero() {
            let pause = user_time.saturating_mul(COST_FACTOR).min(MAX_REREAD_DELAY);
            self.user_reads_resume = Some(Instant::now() + pause);
        } else if users_may && user_waiting {
            self.user_cursor = 0; // past the last one: start again from the first
        }
        if changed {
            self.rebuild();
        }
        changed
    }

    /// Follows namespaces named in `/run/netns` and those of processes started since the
    /// last search. Returns whether any was added.
    fn discover(&mut self) -> bool {
        let before = self.generation;
        for (inode, path) in self.named.changed().unwrap_or_default() {
            self.follow(inode, Some(&path), None);
        }
        let last = self.last_pid_file.read();
        if let (Some(previous), Some(last)) = (self.last_pid, last) {
            if last > previous && last - previous <= MAX_NEW_PIDS {
                for pid in previous + 1..=last {
                    if let Some(inode) = namespace_of(&self.proc_root, pid) {
                        let dir = self.proc_root.join(pid.to_string());
                        self.follow(inode, Some(&dir.join("ns/net")), Some(dir.join("net")));
                    }
                }
            }
        }
        self.last_pid = last;
        self.generation != before
    }

    fn rebuild(&mut self) {
        self.all = self
            .spaces
            .values()
            .flat_map(|s| s.addrs.iter().copied())
            .collect();
        self.tunnel_ports = self
            .spaces
            .values()
            .filter(|s| s.rank != Rank::UserOwned)
            .flat_map(|s| s.tunnel_ports.iter().copied())
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::os::unix::fs::MetadataExt;
    use std::process::Command;

    fn ip(args: &[&str]) {
        assert!(Command::new("ip").args(args).status().unwrap().success());
    }

    /// What a test made with `ip`, and the `ip` arguments that remove it, run on drop
    /// (also when the test fails).
    struct Made {
        name: String,
        undo: [&'static str; 2],
    }

    impl Drop for Made {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(self.undo).arg(&self.name).status();
        }
    }

    /// A `/proc/PID/net` stand-in whose `fib_trie` lists `count` local addresses from
    /// `first` on.
    fn net_dir(first: Ipv4Addr, count: u32) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write_fib(dir.path(), first, count);
        dir
    }

    fn write_fib(dir: &Path, first: Ipv4Addr, count: u32) {
        let mut text = String::from("Local:\n  +-- 0.0.0.0/0 3 0 5\n");
        for i in 0..count {
            let ip = Ipv4Addr::from(u32::from(first) + i);
            text += &format!("     |-- {ip}\n        /32 host LOCAL\n");
        }
        std::fs::write(dir.join("fib_trie"), text).unwrap();
    }

    fn v4(ip: &str) -> IpAddr {
        ip.parse().unwrap()
    }

    /// The addresses of followed namespace `inode`, sorted.
    fn followed(book: &AddressBook, inode: u64) -> Vec<IpAddr> {
        let mut addrs: Vec<IpAddr> = book.spaces[&inode].addrs.iter().copied().collect();
        addrs.sort_unstable();
        addrs
    }

    #[test]
    fn beyond_the_cap_addresses_go_to_the_host_then_root_s_namespaces_in_any_order_found() {
        // A cap of 1,000 stands for MAX_FOLLOWED_ADDRS (the same code, smaller files).
        let cap = 1_000;
        let host = net_dir(Ipv4Addr::new(192, 0, 2, 1), 3);
        let root_a = net_dir(Ipv4Addr::new(10, 1, 0, 0), 600);
        let root_b = net_dir(Ipv4Addr::new(10, 2, 0, 0), 600);
        let user = net_dir(Ipv4Addr::new(10, 3, 0, 0), 100);
        let spaces = [
            (1, Rank::Host, host.path()),
            (20, Rank::RootOwned, root_a.path()),
            (30, Rank::RootOwned, root_b.path()),
            (5, Rank::UserOwned, user.path()),
        ];
        let mut books = Vec::new();
        // Found in rank order, and the other way round: the outcome is the same.
        for order in [[0, 1, 2, 3], [3, 2, 1, 0]] {
            let mut book = AddressBook::new(&SystemPaths::default());
            book.cap = cap;
            for i in order {
                let (inode, rank, dir) = spaces[i];
                book.insert(inode, rank, (None, None), Some(dir.to_owned()));
                assert!(book.followed_total() <= cap);
                assert!(book.all.len() <= cap);
            }
            assert_eq!(book.followed_total(), cap);
            assert_eq!(book.spaces[&1].addrs.len(), 3, "the host's, all");
            assert_eq!(
                book.spaces[&20].addrs.len(),
                600,
                "the first root-owned's, all"
            );
            let rest = cap - 603;
            assert_eq!(
                book.spaces[&30].addrs.len(),
                rest,
                "the next one's, the lowest"
            );
            assert_eq!(
                followed(&book, 30).last(),
                Some(&v4(&format!(
                    "10.2.{}.{}",
                    (rest - 1) / 256,
                    (rest - 1) % 256
                )))
            );
            assert!(
                book.spaces[&5].addrs.is_empty(),
                "a user's namespace comes last"
            );
            assert!(book.contains(v4("10.2.0.0")));
            assert!(!book.contains(v4("10.3.0.0")));
            assert_eq!(
                book.namespaces().collect::<Vec<_>>(),
                vec![1, 20, 30, 5],
                "by rank, then inode"
            );
            books.push((followed(&book, 30), followed(&book, 20)));
        }
        assert!(
            books[0] == books[1],
            "the same addresses whatever the order found"
        );
        // The host loses a root namespace's worth of room: the user's namespace gets some.
        let mut book = AddressBook::new(&SystemPaths::default());
        book.cap = cap;
        for (inode, rank, dir) in spaces {
            book.insert(inode, rank, (None, None), Some(dir.to_owned()));
        }
        book.retain(&HashSet::from([1, 20, 5]));
        book.spaces.get_mut(&5).unwrap().next_read = None;
        book.reload_changed();
        assert_eq!(book.spaces[&5].addrs.len(), 100);
    }

    #[test]
    fn an_address_the_host_has_is_the_host_s_alone() {
        let host = net_dir(Ipv4Addr::new(10, 9, 0, 1), 2); // 10.9.0.1 and .2
        let user = net_dir(Ipv4Addr::new(10, 9, 0, 2), 2); // 10.9.0.2 and .3
        let root = net_dir(Ipv4Addr::new(10, 9, 0, 3), 1); // 10.9.0.3
        let mut book = AddressBook::new(&SystemPaths::default());
        // Found first and with the lowest inode, still not before the host.
        book.insert(
            3,
            Rank::UserOwned,
            (None, None),
            Some(user.path().to_owned()),
        );
        book.insert(
            2,
            Rank::RootOwned,
            (None, None),
            Some(root.path().to_owned()),
        );
        book.insert(9, Rank::Host, (None, None), Some(host.path().to_owned()));
        assert_eq!(book.owners(v4("10.9.0.1")), vec![9]);
        assert_eq!(
            book.owners(v4("10.9.0.2")),
            vec![9],
            "claimed by a user's too"
        );
        assert_eq!(
            book.owners(v4("10.9.0.3")),
            vec![2, 3],
            "not the host's: by rank"
        );
        assert!(book.owners(v4("10.9.0.4")).is_empty());
    }

    #[test]
    fn a_namespace_whose_read_took_long_is_read_again_later() {
        // Big enough that a read takes milliseconds.
        let dir = net_dir(Ipv4Addr::new(10, 4, 0, 0), 20_000);
        let mut book = AddressBook::new(&SystemPaths::default());
        let started = Instant::now();
        book.insert(
            7,
            Rank::RootOwned,
            (None, None),
            Some(dir.path().to_owned()),
        );
        let read = started.elapsed();
        let next = book.spaces[&7].next_read.unwrap();
        assert!(
            next <= started + read * (COST_FACTOR + 1),
            "due within {COST_FACTOR} × its cost"
        );
        let added = v4("10.5.0.0");
        write_fib(dir.path(), Ipv4Addr::new(10, 5, 0, 0), 20_000);
        book.reload_changed();
        if Instant::now() < next {
            assert!(!book.contains(added), "read again before it was due");
        }
        // Once due, the next interval reads it.
        let deadline = Instant::now() + read * (COST_FACTOR + 1) + Duration::from_secs(5);
        while !book.spaces[&7].addrs.contains(&added) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            book.reload_changed();
        }
        assert!(book.spaces[&7].addrs.contains(&added));
    }

    #[test]
    fn a_user_s_namespace_with_65536_addresses_is_read_only_in_part() {
        if !crate::testing::root_or_skip("making a user's namespace needs root") {
            return;
        }
        use std::io::{BufRead, Write};
        // As `nobody` would: 65,536 local routes on its loopback (each a `/32 host LOCAL`
        // entry of its fib_trie, as an address is).
        let script = "ip link set lo up && ip -batch - && echo ready && exec sleep 60";
        let mut child = Command::new(crate::attribution::namespaces::rank::AS_NOBODY[0])
            .args(&crate::attribution::namespaces::rank::AS_NOBODY[1..])
            .args(["unshare", "-rn", "sh", "-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut batch = String::new();
        for i in 0..65_536u32 {
            let [_, _, c, d] = i.to_be_bytes();
            batch += &format!("route add local 10.200.{c}.{d}/32 dev lo table local\n");
        }
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(batch.as_bytes());
        drop(stdin);
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let pid = child.id();
        let ready = line.starts_with("ready");
        if !ready {
            let _ = child.kill();
            let _ = child.wait();
            println!("unprivileged user namespaces are refused here: nothing to check");
            return;
        }
        let dir = PathBuf::from(format!("/proc/{pid}"));
        let inode = namespace_of(Path::new("/proc"), pid).unwrap();
        let rank = Rank::of(&dir.join("ns/net"));
        let mut book = AddressBook::new(&SystemPaths::default());
        let started = Instant::now();
        // As the helper reads it: no netlink inside, its member's /proc/PID/net.
        book.insert(inode, rank, (None, None), Some(dir.join("net")));
        let took = started.elapsed();
        let followed = book.spaces[&inode].addrs.len();
        let _ = child.kill();
        let _ = child.wait();
        println!("{followed} of 65,536 addresses followed, read in {took:?}");
        assert_eq!(rank, Rank::UserOwned);
        assert!(
            followed > 1_000,
            "its first addresses are followed: {followed}"
        );
        assert!(
            followed < 10_000,
            "only {USER_FILE_BYTES} bytes are read: {followed}"
        );
        assert!(book.contains(v4("10.200.0.1")));
    }

    #[test]
    fn the_namespaces_of_other_users_share_one_read_budget() {
        let mut book = AddressBook::new(&SystemPaths::default());
        book.user_slice = Duration::ZERO; // one read of theirs per pass
        let dirs: Vec<_> = (0..5)
            .map(|i| net_dir(Ipv4Addr::new(10, 6, i, 1), 1))
            .collect();
        for (i, dir) in dirs.iter().enumerate() {
            book.insert(
                100 + i as u64,
                Rank::UserOwned,
                (None, None),
                Some(dir.path().to_owned()),
            );
        }
        let root = net_dir(Ipv4Addr::new(10, 7, 0, 1), 1);
        book.insert(
            50,
            Rank::RootOwned,
            (None, None),
            Some(root.path().to_owned()),
        );
        // All changed (no watch: they may have) and each due by its own cost.
        for space in book.spaces.values_mut() {
            space.next_read = None;
            space.pending = true;
        }
        book.user_reads_resume = None;
        book.user_cursor = 0;
        book.admit(Instant::now(), true);
        let read = |book: &AddressBook| {
            let mut read: Vec<u64> = (100..105).filter(|i| !book.spaces[i].pending).collect();
            read.sort_unstable();
            read
        };
        assert_eq!(read(&book), vec![100], "one of theirs, the first by inode");
        assert!(
            !book.spaces[&50].pending,
            "root's namespace is read whatever theirs cost"
        );
        let resume = book.user_reads_resume.unwrap();
        book.admit(Instant::now(), true);
        if Instant::now() < resume {
            assert_eq!(read(&book), vec![100], "theirs wait for the shared budget");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while read(&book).len() < 5 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
            book.admit(Instant::now(), true);
        }
        assert_eq!(read(&book), vec![100, 101, 102, 103, 104], "all, in turn");
        // Then the first again.
        book.spaces.get_mut(&100).unwrap().pending = true;
        let deadline = Instant::now() + Duration::from_secs(5);
        while book.spaces[&100].pending && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
            book.admit(Instant::now(), true);
        }
        assert!(
            !book.spaces[&100].pending,
            "read again once the turn came round"
        );
    }

    #[test]
    fn at_the_namespace_cap_a_better_ranked_one_takes_the_place_of_the_last() {
        let mut book = AddressBook::new(&SystemPaths::default());
        for inode in 0..MAX_SPACES as u64 {
            book.insert(1_000 + inode, Rank::UserOwned, (None, None), None);
        }
        assert!(
            !book.make_room(Rank::UserOwned),
            "no room for another user's"
        );
        assert!(book.make_room(Rank::RootOwned));
        assert!(
            !book.spaces.contains_key(&(1_000 + MAX_SPACES as u64 - 1)),
            "the last went"
        );
        book.insert(1, Rank::RootOwned, (None, None), None);
        assert_eq!(book.spaces.len(), MAX_SPACES);
        assert_eq!(book.namespaces().next(), Some(1));
    }

    #[test]
    fn a_namespace_followed_before_it_had_a_member_adopts_its_first_member() {
        // As for a name in /run/netns without CAP_SYS_ADMIN: netlink inside it cannot be
        // opened, and no process is in it yet.
        let mut book = AddressBook::new(&SystemPaths::default());
        let inode = 4_242;
        book.follow(inode, Some(Path::new("/nonexistent/ns/net")), None);
        let ip: IpAddr = "10.211.7.2".parse().unwrap();
        assert!(book.owners(ip).is_empty());
        // Then a process enters it: its /proc/PID/net lists the address.
        let member = tempfile::tempdir().unwrap();
        let fib =
            "Local:\n  +-- 10.211.7.0/30 2 0 2\n     |-- 10.211.7.2\n        /32 host LOCAL\n";
        std::fs::write(member.path().join("fib_trie"), fib).unwrap();
        book.follow(inode, None, Some(member.path().to_owned()));
        assert_eq!(book.owners(ip), vec![inode]);
        assert!(book.contains(ip));
        // A member that exited is replaced by the next one.
        drop(member);
        let next = tempfile::tempdir().unwrap();
        std::fs::write(next.path().join("fib_trie"), fib.replace(".2\n", ".3\n")).unwrap();
        book.follow(inode, None, Some(next.path().to_owned()));
        assert_eq!(book.owners("10.211.7.3".parse().unwrap()), vec![inode]);
    }

    #[test]
    fn a_namespace_known_by_name_only_gets_its_addresses_once_a_process_shows_the_way() {
        let own = namespace_of(Path::new("/proc"), std::process::id()).unwrap();
        let mut book = AddressBook::new(&SystemPaths::default());
        // As the helper sees a named namespace without CAP_SYS_ADMIN: no way in.
        book.follow(own, Some(Path::new("/nonexistent/ns")), None);
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(book.spaces[&own].addrs.is_empty());
        let me = PathBuf::from(format!("/proc/{}", std::process::id()));
        book.follow(own, Some(&me.join("ns/net")), Some(me.join("net")));
        assert!(book.spaces[&own].addrs.contains(&loopback));
        assert!(book.all.contains(&loopback));
    }

    #[test]
    fn an_address_added_after_start_is_local_at_once() {
        let own = namespace_of(Path::new("/proc"), std::process::id()).unwrap();
        let mut book = AddressBook::new(&SystemPaths::default());
        book.follow(own, None, None);
        assert!(book.contains("127.0.0.1".parse().unwrap()));
        // A veth pair in this namespace (no dummy driver here).
        let dummy = Made {
            name: format!("sad{}", std::process::id()),
            undo: ["link", "del"],
        };
        let peer = format!("{}p", dummy.name);
        ip(&[
            "link",
            "add",
            &dummy.name,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
        ]);
        let subnet = 100 + std::process::id() % 100;
        let added: IpAddr = format!("10.{subnet}.77.1").parse().unwrap();
        ip(&["addr", "add", &format!("{added}/32"), "dev", &dummy.name]);
        // The notification may take a moment to arrive; poll within a bound.
        let deadline = Instant::now() + Duration::from_secs(2);
        while !book.contains(added) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(book.contains(added));
        assert_eq!(book.owners(added), vec![own]);
        drop(dummy);
        let deadline = Instant::now() + Duration::from_secs(2);
        while book.all.contains(&added) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
            book.contains("192.0.2.1".parse().unwrap()); // an unknown address drains
        }
        assert!(
            !book.all.contains(&added),
            "removed addresses are forgotten"
        );
    }

    #[test]
    fn a_namespace_named_after_start_is_followed_by_the_idle_search() {
        let own = namespace_of(Path::new("/proc"), std::process::id()).unwrap();
        let mut book = AddressBook::new(&SystemPaths::default());
        book.follow(own, None, None);
        book.look_for_new_namespaces();
        let netns = Made {
            name: format!("sockeye-book-{}", std::process::id()),
            undo: ["netns", "del"],
        };
        ip(&["netns", "add", &netns.name]);
        let path = PathBuf::from("/run/netns").join(&netns.name);
        let inode = std::fs::metadata(&path).map(|m| m.ino()).unwrap();
        // Rate-limited: a search right after the last one does nothing (timed from here:
        // `ip netns add` may take longer than the interval on a loaded machine).
        book.last_discovery = Some(Instant::now());
        assert!(!book.look_for_new_namespaces());
        assert!(!book.namespaces().any(|i| i == inode));
        std::thread::sleep(DISCOVERY_INTERVAL);
        // No unknown address was asked about: the idle search alone finds it.
        assert!(book.look_for_new_namespaces());
        assert!(book.namespaces().any(|i| i == inode));
    }
}
