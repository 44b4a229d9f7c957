//! Every network namespace of the machine with its socket table: found from the pids in
//! `/proc` and the names in `/run/netns`, forgotten when gone, and the candidates asked
//! for a local address. Namespaces that any user could have made ([`Rank::UserOwned`])
//! come last: asked last for an address no namespace owns, and the first to give way at
//! [`MAX_NAMESPACES`], so that thousands of them cannot keep root's containers out.

use crate::attribution::kernel::netlink::{NetlinkSocket, NETLINK_SOCK_DIAG};
use crate::attribution::kernel::sock_diag::SockDiag;
use crate::attribution::namespaces::address_book::AddressBook;
use crate::attribution::namespaces::namespace::{
    in_namespace, named_namespaces, namespace_of, Namespace,
};
use crate::attribution::namespaces::rank::Rank;
use crate::attribution::processes::holders::list_pids;
use crate::owner::Pid;
use crate::SystemPaths;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Least time between two searches for new namespaces on a lookup miss.
const RESCAN: Duration = Duration::from_millis(20);
/// Least time between two searches when the address book already knows that a namespace
/// owning the address is missing from the set (a namespace just created, whose first
/// connection may last only milliseconds).
const MISSING_RESCAN: Duration = Duration::from_millis(2);
/// How long after a pid first appears its namespace link is re-read on every search (a
/// process may still `setns` or `unshare` early in its life).
const YOUNG_PID: Duration = Duration::from_secs(2);
/// Most namespaces followed; a better-ranked one found beyond it replaces one of the last
/// rank.
const MAX_NAMESPACES: usize = 4096;

/// The namespaces whose sockets may own traffic.
pub(crate) struct NamespaceSet {
    proc_root: PathBuf,
    /// Where named namespaces are mounted (`/run/netns`).
    run_netns: PathBuf,
    /// Index 0 is the namespace this process runs in (the one pcap captures in).
    pub list: Vec<Namespace>,
    /// Namespace of each pid seen, and when it was first seen.
    namespace_of_pid: HashMap<Pid, (u64, Instant)>,
    last_scan: Option<Instant>,
    /// Namespaces the address book follows that an idle search did not find (their
    /// processes exited and they have no name): not searched for again while idle until
    /// the next refresh forgets them, or every idle moment would search.
    unfound: HashSet<u64>,
    /// The address book's generation when [`Self::set_up_followed`] last found nothing to
    /// set up; `None` once the set changed since.
    settled: Option<u64>,
}

/// Where a lookup for a local address should look.
pub(crate) struct Candidates {
    /// Indices into [`NamespaceSet::list`].
    pub indices: Vec<usize>,
    /// Whether those namespaces own the address; when none does, every namespace is a
    /// candidate but only sockets bound to exactly that address may match (a wildcard
    /// socket of some namespace says nothing about an address it does not have).
    pub owned: bool,
}

impl NamespaceSet {
    /// The set holding this process's own namespace `own` (member `own_pid`).
    pub(crate) fn new(paths: &SystemPaths, own: u64, own_pid: Pid, book: &mut AddressBook) -> Self {
        let proc_root = paths.proc.clone();
        let diag = NetlinkSocket::open(NETLINK_SOCK_DIAG)
            .ok()
            .map(SockDiag::from_socket);
        let mut namespace = Namespace::new(own, Some(own_pid), diag, Rank::Host);
        namespace.load_all();
        book.follow(own, None, Some(proc_root.join(format!("{own_pid}/net"))));
        Self {
            proc_root,
            run_netns: paths.run_netns.clone(),
            list: vec![namespace],
            namespace_of_pid: HashMap::new(),
            last_scan: None,
            unfound: HashSet::new(),
            settled: None,
        }
    }

    /// The namespaces to ask about a socket on local address `ip`: this one for loopback
    /// (pcap sees only this namespace's `lo`), else those owning `ip`, else all.
    pub(crate) fn candidates(&self, ip: IpAddr, book: &AddressBook) -> Candidates {
        if ip.is_loopback() {
            return Candidates {
                indices: vec![0],
                owned: true,
            };
        }
        let owners = book.owners(ip);
        let indices: Vec<usize> = (0..self.list.len())
            .filter(|&i| owners.contains(&self.list[i].inode))
            .collect();
        if indices.is_empty() {
            // Best-ranked first (the sort is stable: found order within a rank).
            let mut indices: Vec<usize> = (0..self.list.len()).collect();
            indices.sort_by_key(|&i| self.list[i].rank);
            Candidates {
                indices,
                owned: false,
            }
        } else {
            Candidates {
                indices,
                owned: true,
            }
        }
    }

    /// Whether a namespace that owns `ip` is not in the set yet.
    pub(crate) fn misses_owner_of(&self, ip: IpAddr, book: &AddressBook) -> bool {
        book.owners(ip)
            .iter()
            .any(|inode| !self.list.iter().any(|n| n.inode == *inode))
    }

    /// Sets up the namespaces the address book follows but the set lacks, for idle
    /// moments (rate-limited like [`Self::discover_missing`]). Those the search does not
    /// find are left alone until the next refresh; at the cap nothing is searched (the
    /// search would run on every call and add nothing).
    pub(crate) fn set_up_followed(&mut self, book: &mut AddressBook) {
        // Called every few milliseconds: nothing to compare unless the book or the set
        // changed since the last check found nothing missing.
        if self.settled == Some(book.generation()) {
            return;
        }
        let wanted = |set: &Self, inode: &u64| {
            !set.unfound.contains(inode) && !set.list.iter().any(|n| n.inode == *inode)
        };
        if !book.namespaces().any(|inode| wanted(self, &inode)) {
            self.settled = Some(book.generation());
            return;
        }
        if self.list.len() >= MAX_NAMESPACES
            || self.last_scan.is_some_and(|t| t.elapsed() < MISSING_RESCAN)
        {
            return;
        }
        self.last_scan = None;
        self.discover(true, book);
        let unfound: Vec<u64> = book
            .namespaces()
            .filter(|inode| wanted(self, inode))
            .collect();
        self.unfound.extend(unfound);
    }

    /// [`Self::discover`] on a miss for an address whose namespace the address book knows
    /// but the set lacks: rate-limited to [`MISSING_RESCAN`] only.
    pub(crate) fn discover_missing(&mut self, book: &mut AddressBook) -> bool {
        if self.last_scan.is_some_and(|t| t.elapsed() < MISSING_RESCAN) {
            return false;
        }
        self.last_scan = None;
        self.discover(true, book)
    }

    /// The first search, at start: the tables of every namespace are read whole, so that
    /// flows that exist already are found without asking the kernel one by one. Those
    /// found later are not: a dump walks the kernel's socket hash tables, which all
    /// namespaces share, and took 2–3 ms here even for an empty namespace, on the capture
    /// thread, long enough for a short exchange to end before its other end is looked up.
    pub(crate) fn discover_at_start(&mut self, book: &mut AddressBook) {
        self.discover(false, book);
        for ns in &mut self.list[1..] {
            ns.load_all();
        }
    }

    /// Looks for namespaces not known yet, reading only the links of pids first seen in
    /// the last [`YOUNG_PID`] (a process changes namespace, if ever, early in its life).
    /// On a lookup miss (`on_miss`) at most every [`RESCAN`]; once per interval it also
    /// forgets namespaces that are gone. Returns whether any namespace was added.
    pub(crate) fn discover(&mut self, on_miss: bool, book: &mut AddressBook) -> bool {
        let now = Instant::now();
        self.settled = None;
        if on_miss
            && self
                .last_scan
                .is_some_and(|t| now.duration_since(t) < RESCAN)
        {
            return false;
        }
        self.last_scan = Some(now);
        let listed = list_pids(&self.proc_root);
        self.namespace_of_pid.retain(|pid, _| listed.contains(pid));
        let mut members: HashMap<u64, Pid> = HashMap::new();
        for &pid in &listed {
            let known = self.namespace_of_pid.get(&pid).copied();
            let trusted = known.is_some_and(|(_, seen)| now.duration_since(seen) >= YOUNG_PID);
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
        let named = named_namespaces(&self.run_netns);
        let own = self.list[0].inode;
        if !on_miss {
            // Forget namespaces that are gone (holding their sockets would keep them alive).
            let alive: HashSet<u64> = members
                .keys()
                .copied()
                .chain(named.iter().map(|(inode, _)| *inode))
                .chain([own])
                .collect();
            self.list.retain(|ns| alive.contains(&ns.inode));
            book.retain(&alive);
            self.unfound.clear();
        }
        for ns in &mut self.list[1..] {
            if let Some(&pid) = members.get(&ns.inode) {
                if ns.member.is_none_or(|m| !listed.contains(&m)) {
                    ns.member = Some(pid);
                    // The address book may have missed it (it reads only a few new pids).
                    book.adopt_member(ns.inode, self.proc_root.join(format!("{pid}/net")));
                }
            }
        }
        let known: HashSet<u64> = self.list.iter().map(|n| n.inode).collect();
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
        let added = !new.is_empty();
        let mut new: Vec<_> = new
            .into_iter()
            .map(|(inode, member, path)| (Rank::of(&path), inode, member, path))
            .collect();
        new.sort_by_key(|n| (n.0, n.1));
        for (rank, inode, member, path) in new {
            if self.list.len() >= MAX_NAMESPACES && !self.make_room(rank) {
                break;
            }
            let diag = in_namespace(&path, || NetlinkSocket::open(NETLINK_SOCK_DIAG))
                .ok()
                .map(SockDiag::from_socket);
            // Its tables are not read whole (see `discover_at_start`): its sockets are
            // asked for one by one as its traffic comes.
            let ns = Namespace::new(inode, member, diag, rank);
            let net_dir = member.map(|pid| self.proc_root.join(format!("{pid}/net")));
            book.follow(inode, Some(&path), net_dir);
            self.list.push(ns);
        }
        added
    }

    /// At [`MAX_NAMESPACES`], forgets the last-found namespace of the worst rank present
    /// if `rank` is better. Returns whether there is room now.
    fn make_room(&mut self, rank: Rank) -> bool {
        let worst = (1..self.list.len()).max_by_key(|&i| (self.list[i].rank, i));
        match worst {
            Some(i) if self.list[i].rank > rank => {
                self.list.remove(i);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_followed_namespace_that_is_gone_is_searched_for_once_until_the_refresh() {
        let paths = SystemPaths::default();
        let pid = std::process::id();
        let own = namespace_of(&paths.proc, pid).unwrap();
        let mut book = AddressBook::new(&paths);
        let mut set = NamespaceSet::new(&paths, own, pid, &mut book);
        // As a namespace whose only process exited after the address book read it.
        let gone = 4_242;
        book.follow(gone, Some(Path::new("/nonexistent/ns/net")), None);
        set.set_up_followed(&mut book);
        let searched = set.last_scan;
        assert!(searched.is_some());
        assert!(set.unfound.contains(&gone));
        std::thread::sleep(MISSING_RESCAN * 2);
        set.set_up_followed(&mut book);
        assert_eq!(
            set.last_scan, searched,
            "searched again for a namespace not found"
        );
        // The refresh forgets it everywhere.
        set.discover(false, &mut book);
        assert!(set.unfound.is_empty());
        assert!(!book.namespaces().any(|inode| inode == gone));
    }

    #[test]
    fn a_user_s_namespaces_are_asked_last_and_give_way_first_at_the_cap() {
        let paths = SystemPaths::default();
        let pid = std::process::id();
        let own = namespace_of(&paths.proc, pid).unwrap();
        let mut book = AddressBook::new(&paths);
        let mut set = NamespaceSet::new(&paths, own, pid, &mut book);
        // Found in this order: a user's, root's, a user's, root's.
        for (inode, rank) in [
            (11, Rank::UserOwned),
            (12, Rank::RootOwned),
            (13, Rank::UserOwned),
            (14, Rank::RootOwned),
        ] {
            set.list.push(Namespace::new(inode, None, None, rank));
        }
        // An address no namespace owns: every namespace is asked, best-ranked first.
        let nobody_s: IpAddr = "192.0.2.77".parse().unwrap();
        let candidates = set.candidates(nobody_s, &book);
        assert!(!candidates.owned);
        let asked: Vec<u64> = candidates
            .indices
            .iter()
            .map(|&i| set.list[i].inode)
            .collect();
        assert_eq!(asked, vec![own, 12, 14, 11, 13]);
        // At the cap, root's namespace takes the place of the user's found last; another
        // user's takes nobody's.
        assert!(!set.make_room(Rank::UserOwned));
        assert!(set.make_room(Rank::RootOwned));
        let left: Vec<u64> = set.list.iter().map(|n| n.inode).collect();
        assert_eq!(left, vec![own, 11, 12, 14]);
        assert!(set.make_room(Rank::RootOwned));
        assert!(!set.make_room(Rank::RootOwned), "root's namespaces stay");
        assert_eq!(set.list.len(), 3);
    }
}
