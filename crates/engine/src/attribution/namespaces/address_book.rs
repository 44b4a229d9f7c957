//! Which addresses belong to this machine, per network namespace, kept current between
//! intervals: each namespace has a netlink socket subscribed to address changes, drained
//! when an address is not known, and new namespaces are looked for (rate-limited) too, so
//! an address that appears (a VPN, a veth into a new container) counts as local at once.

use crate::attribution::kernel::last_pid::LastPid;
use crate::attribution::kernel::netlink::{
    NetlinkSocket, NETLINK_ROUTE, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR,
};
use crate::attribution::namespaces::local_addrs::{netlink_addresses, proc_addresses};
use crate::attribution::namespaces::namespace::{in_namespace, namespace_of, NamedWatch};
use crate::owner::Pid;
use crate::SystemPaths;
use std::collections::{HashMap, HashSet};
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
/// Most namespaces followed.
const MAX_SPACES: usize = 4096;

/// The addresses of one namespace and the sockets that keep them current.
struct Space {
    /// Dumps the namespace's addresses (`RTM_GETADDR`).
    route: Option<NetlinkSocket>,
    /// Subscribed to address changes in the namespace.
    watch: Option<NetlinkSocket>,
    /// `/proc/PID/net` of a member, read when netlink is unavailable.
    net_dir: Option<PathBuf>,
    addrs: HashSet<IpAddr>,
}

impl Space {
    fn reload(&mut self) {
        let from_netlink = self.route.as_mut().map(netlink_addresses);
        let addrs = match from_netlink {
            Some(Ok(addrs)) => Ok(addrs),
            _ => match &self.net_dir {
                Some(dir) => proc_addresses(dir),
                None => Err(io::Error::from(io::ErrorKind::NotFound)),
            },
        };
        if let Ok(addrs) = addrs {
            self.addrs = addrs;
        }
    }
}

/// The addresses of every namespace followed, by namespace inode.
pub(crate) struct AddressBook {
    proc_root: PathBuf,
    spaces: HashMap<u64, Space>,
    all: HashSet<IpAddr>,
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
            all: HashSet::new(),
            last_catch_up: None,
            last_discovery: None,
            last_unwatched_reload: None,
            last_pid: None,
            generation: 0,
            named: NamedWatch::new(&paths.run_netns),
        }
    }

    /// Starts following namespace `inode`, entered through `ns_path` (`None`: the calling
    /// thread's own namespace); `net_dir` is the fallback `/proc/PID/net`.
    pub(crate) fn follow(&mut self, inode: u64, ns_path: Option<&Path>, net_dir: Option<PathBuf>) {
        if self.spaces.contains_key(&inode) {
            if let Some(net_dir) = net_dir {
                self.adopt_member(inode, net_dir);
            }
            return;
        }
        if self.spaces.len() >= MAX_SPACES {
            return;
        }
        let open = || {
            let route = NetlinkSocket::open(NETLINK_ROUTE).ok();
            let groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
            let watch = NetlinkSocket::subscribe(NETLINK_ROUTE, groups).ok();
            Ok((route, watch))
        };
        let (route, watch) = match ns_path {
            None => open(),
            Some(path) => in_namespace(path, open),
        }
        .unwrap_or((None, None));
        let mut space = Space {
            route,
            watch,
            net_dir,
            addrs: HashSet::new(),
        };
        space.reload();
        self.all.extend(space.addrs.iter().copied());
        self.spaces.insert(inode, space);
        self.generation = self.generation.wrapping_add(1);
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
        if adopt {
            space.net_dir = Some(net_dir);
            space.reload();
            self.all.extend(space.addrs.iter().copied());
        }
    }

    /// Stops following namespaces not in `alive` (holding their sockets would keep them
    /// from being freed).
    pub(crate) fn retain(&mut self, alive: &HashSet<u64>) {
        self.spaces.retain(|inode, _| alive.contains(inode));
        self.generation = self.generation.wrapping_add(1);
        self.rebuild();
    }

    /// Applies pending address changes (once per interval): namespaces whose watch
    /// announced one (or lost some) are read again, and those without a watch always.
    pub(crate) fn reload_changed(&mut self) {
        for space in self.spaces.values_mut() {
            if space.watch.as_mut().is_none_or(NetlinkSocket::drain) {
                space.reload();
            }
        }
        self.rebuild();
    }

    /// Whether `ip` is an address of a namespace followed, after catching up with changes.
    pub(crate) fn contains(&mut self, ip: IpAddr) -> bool {
        if self.all.contains(&ip) {
            return true;
        }
        self.catch_up();
        self.all.contains(&ip)
    }

    /// Inodes of the namespaces followed.
    pub(crate) fn namespaces(&self) -> impl Iterator<Item = u64> + '_ {
        self.spaces.keys().copied()
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

    /// The namespaces that have `ip`.
    pub(crate) fn owners(&self, ip: IpAddr) -> Vec<u64> {
        self.spaces
            .iter()
            .filter(|(_, s)| s.addrs.contains(&ip))
            .map(|(&inode, _)| inode)
            .collect()
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
        let mut changed = false;
        // Namespaces read through /proc/PID/net announce nothing: read them again too,
        // less often.
        let unwatched = self
            .last_unwatched_reload
            .is_none_or(|t| now.duration_since(t) >= UNWATCHED_RELOAD_INTERVAL);
        if unwatched {
            self.last_unwatched_reload = Some(now);
        }
        for space in self.spaces.values_mut() {
            let announced = match space.watch.as_mut() {
                Some(watch) => watch.drain(),
                None => unwatched,
            };
            if announced {
                space.reload();
                changed = true;
            }
        }
        changed |= self.look_for_new_namespaces();
        if changed {
            self.rebuild();
        }
    }

    /// Follows namespaces named in `/run/netns` and those of processes started since the
    /// last search. Returns whether any was added.
    fn discover(&mut self) -> bool {
        let before = self.spaces.len();
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
        self.spaces.len() != before
    }

    fn rebuild(&mut self) {
        self.all = self
            .spaces
            .values()
            .flat_map(|s| s.addrs.iter().copied())
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
