//! Socket inode → pid, from the `socket:[inode]` links in `/proc/PID/fd`, kept in a cache
//! that an unknown inode updates incrementally: new pids first, then recently active ones,
//! and a full rescan only when neither has it and none ran in the last 100 ms.
//!
//! Shared sockets: when several processes hold one socket (inherited across fork, passed
//! over a Unix socket), it is credited to the holder that started **most recently** (ties:
//! the higher pid): the child a launcher spawned with an inherited socket, the newest
//! owner of a passed socket — the process doing the work rather than the parent that
//! merely kept a copy. One exception: a child whose descriptor is close-on-exec while its
//! parent holds the same socket is a fork that has not called `exec` yet (every spawn
//! passes through this state for a moment, and pre-forked workers stay in it); it is about
//! to lose the descriptor, or shares its parent's job, so the parent keeps the socket.

use super::bounded_read::read_text;
use super::fd_dir::FdDir;
use super::process_info::parse_stat;
pub(crate) use scan::{list_pids, parse_socket_link};
use scan::{parse_fdinfo_flags, probe_pid, read_fds, read_last_pid, PidKind, O_CLOEXEC};

mod scan;
use crate::owner::Pid;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Most time between two full rescans of `/proc` that a miss may trigger: rescans are
/// spaced by ten times what the last one took (so they use at most about a tenth of one
/// core), but never less than [`MIN_FULL_SCAN_INTERVAL`] nor more than this.
const MAX_FULL_SCAN_INTERVAL: Duration = Duration::from_millis(100);
const MIN_FULL_SCAN_INTERVAL: Duration = Duration::from_millis(5);
/// How many recently active pids an unknown inode rechecks before a full rescan.
const RECENT: usize = 8;
/// Processes first seen this recently are rescanned on an unknown inode.
const YOUNG: Duration = Duration::from_secs(2);
/// Most young processes rescanned for one unknown inode.
const MAX_YOUNG_RESCANS: usize = 64;
/// Most failed inodes remembered between two intervals.
const MAX_MISSED: usize = 4096;
/// How long a pid that could not be read yet is probed again.
const UNRESOLVED_FOR: Duration = Duration::from_millis(500);
/// Most pids probed one by one for new processes before listing `/proc` instead.
const MAX_PID_PROBES: Pid = 256;
/// Most inodes remembered in total; beyond this the table is rebuilt by the next full scan.
const MAX_INODES: usize = 1 << 21;
/// Most fds read from one process in one scan.
pub(super) const MAX_FDS_PER_PROCESS: usize = 1 << 17;

/// What a scan learnt about one process.
#[derive(Debug, Clone)]
struct Holder {
    /// Start time from `/proc/PID/stat`, in clock ticks since boot (tells pid reuse apart).
    start_time: u64,
    /// Name from `/proc/PID/stat` at the time of the scan (used if the process is gone
    /// before its details are read).
    name: String,
    ppid: Pid,
    /// When this process was first scanned.
    first_seen: Instant,
    /// Every descriptor seen, sorted by number, with the socket inode it pointed at (0
    /// for anything but a socket).
    fds: Vec<(u32, u64)>,
}

impl Holder {
    /// The (inode, fd) of each socket held.
    fn sockets(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.fds
            .iter()
            .filter(|(_, inode)| *inode != 0)
            .map(|&(fd, inode)| (inode, fd))
    }

    fn fd_of(&self, inode: u64) -> Option<u32> {
        self.sockets().find(|(i, _)| *i == inode).map(|(_, fd)| fd)
    }
}

/// How a lookup found (or failed to find) its inode; counted for tests and benchmarks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScanCounters {
    pub cached: u64,
    pub new_pids: u64,
    pub recent: u64,
    pub full_scans: u64,
    pub misses: u64,
    /// Listings of the whole `/proc` directory looking for new processes.
    pub listings: u64,
}

/// The inode → pid cache of one `/proc` tree.
#[derive(Debug)]
pub(crate) struct SocketHolders {
    proc_root: PathBuf,
    owner_of: HashMap<u64, Pid>,
    holders: HashMap<Pid, Holder>,
    recent: VecDeque<Pid>,
    last_full_scan: Option<Instant>,
    /// The kernel's last allocated pid when new processes were last looked for.
    last_pid: Option<Pid>,
    /// Pids allocated but not readable in /proc yet, with when they were first probed.
    unresolved: Vec<(Pid, Instant)>,
    /// Inodes a lookup failed to find since the last interval.
    missed: HashSet<u64>,
    /// The inode map is full (of stale entries): rebuild it on the next lookup.
    rebuild: bool,
    /// How long the last full rescan took.
    last_full_scan_took: Duration,
    pub(crate) counters: ScanCounters,
}

impl SocketHolders {
    /// An empty cache over `proc_root` (normally `/proc`); call [`Self::full_scan`] to fill.
    pub(crate) fn new(proc_root: impl Into<PathBuf>) -> Self {
        Self {
            proc_root: proc_root.into(),
            owner_of: HashMap::new(),
            holders: HashMap::new(),
            recent: VecDeque::new(),
            last_full_scan: None,
            last_pid: None,
            missed: HashSet::new(),
            unresolved: Vec::new(),
            rebuild: false,
            last_full_scan_took: Duration::ZERO,
            counters: ScanCounters::default(),
        }
    }

    /// The start time and name a scan recorded for `pid`.
    pub(crate) fn scanned(&self, pid: Pid) -> Option<(u64, &str)> {
        self.holders
            .get(&pid)
            .map(|h| (h.start_time, h.name.as_str()))
    }

    /// The process holding socket `inode`, looked up incrementally when not cached;
    /// `hint` is a related socket (the listener of an accepted connection) whose holder
    /// is checked right after new processes.
    pub(crate) fn owner(&mut self, inode: u64, hint: Option<u64>) -> Option<Pid> {
        if self.rebuild {
            self.full_scan();
        }
        if let Some(pid) = self.found(inode) {
            self.counters.cached += 1;
            return Some(pid);
        }
        // Processes started since the last look, then processes first seen in the last
        // moments (they may have opened the socket after that first scan); newest first.
        let new = self.new_pids();
        let now = Instant::now();
        let mut young: Vec<(Instant, Pid)> = self
            .holders
            .iter()
            .filter(|(p, h)| now.duration_since(h.first_seen) < YOUNG && !new.contains(p))
            .map(|(&p, h)| (h.first_seen, p))
            .collect();
        young.sort_unstable_by(|a, b| b.cmp(a));
        // An inode that already missed (perhaps a kernel socket no process holds) does
        // not make every young process be read again; the sweep still covers them.
        let young_rescans = if self.missed.contains(&inode) {
            0
        } else {
            MAX_YOUNG_RESCANS
        };
        young.truncate(young_rescans);
        for pid in new.into_iter().chain(young.into_iter().map(|(_, p)| p)) {
            self.scan(pid, false);
            if self.owner_of.contains_key(&inode) {
                self.check_parent(inode);
                self.counters.new_pids += 1;
                return self.found(inode);
            }
        }
        // Recently active processes (and the listener's holder): first only descriptor
        // numbers new since their last scan (cheap for processes with many fds), then all
        // of them, as a new socket usually reuses the number of one closed before.
        let hinted = hint.and_then(|h| self.owner_of.get(&h).copied());
        let recent: Vec<Pid> = hinted
            .into_iter()
            .chain(self.recent.iter().copied())
            .collect();
        // The exact pass is skipped for an inode that already missed once: it is costly
        // for processes with many descriptors, and the socket may belong to no process.
        let passes: &[bool] = if self.missed.contains(&inode) {
            &[false]
        } else {
            &[false, true]
        };
        for &exact in passes {
            for &pid in &recent {
                if exact {
                    self.probe(pid, inode);
                } else {
                    self.scan(pid, true);
                }
                if let Some(pid) = self.found(inode) {
                    self.counters.recent += 1;
                    return Some(pid);
                }
            }
        }
        let spacing =
            (self.last_full_scan_took * 10).clamp(MIN_FULL_SCAN_INTERVAL, MAX_FULL_SCAN_INTERVAL);
        let due = self.last_full_scan.is_none_or(|t| t.elapsed() >= spacing);
        if due {
            let started = Instant::now();
            self.counters.full_scans += 1;
            let found = self.sweep(inode, true) || self.sweep(inode, false);
            self.last_full_scan = Some(Instant::now());
            self.last_full_scan_took = started.elapsed();
            if found {
                self.check_parent(inode);
                return self.found(inode);
            }
        }
        self.counters.misses += 1;
        if self.missed.len() >= MAX_MISSED {
            self.missed.clear();
        }
        self.missed.insert(inode);
        None
    }

    /// Looks for `inode` among the descriptors of known process `pid`, reading those that
    /// held sockets at its last scan first (a new socket usually takes the number of a
    /// socket closed before it), then the others, and stopping at the match.
    fn probe(&mut self, pid: Pid, inode: u64) {
        let Some(holder) = self.holders.get(&pid) else {
            return;
        };
        let order: Vec<u32> = holder
            .fds
            .iter()
            .filter(|(_, i)| *i != 0)
            .chain(holder.fds.iter().filter(|(_, i)| *i == 0))
            .map(|&(fd, _)| fd)
            .collect();
        let Ok(dir) = FdDir::open(&self.proc_root.join(format!("{pid}/fd"))) else {
            return;
        };
        let Some(fd) = order
            .into_iter()
            .find(|&fd| dir.socket_inode(fd) == Some(inode))
        else {
            return;
        };
        if let Some(holder) = self.holders.get_mut(&pid) {
            if let Ok(i) = holder.fds.binary_search_by_key(&fd, |&(f, _)| f) {
                holder.fds[i].1 = inode;
            }
        }
        self.claim(inode, pid, fd);
    }

    /// Rescans every process, newest pid first, until one holds `inode`; with `quick`
    /// only descriptor numbers new since each process's last scan are read.
    fn sweep(&mut self, inode: u64, quick: bool) -> bool {
        let listed = list_pids(&self.proc_root);
        self.forget_unlisted(&listed);
        let mut pids: Vec<Pid> = listed.into_iter().collect();
        pids.sort_unstable_by(|a, b| b.cmp(a));
        for pid in pids {
            self.scan(pid, quick);
            if self.owner_of.contains_key(&inode) {
                return true;
            }
        }
        false
    }

    /// Pids of processes started since the last call and not scanned yet, newest first.
    /// The kernel's last allocated pid (`/proc/loadavg`) tells whether any was: when it
    /// is unchanged nothing is read, when it moved a little only the pids in between are
    /// probed, and otherwise (wrap-around, bursts, no loadavg) `/proc` is listed.
    fn new_pids(&mut self) -> Vec<Pid> {
        let last = read_last_pid(&self.proc_root);
        let previous = std::mem::replace(&mut self.last_pid, last);
        let range = match (previous, last) {
            (Some(p), Some(l)) if l >= p && l - p <= MAX_PID_PROBES => p + 1..=l,
            _ => {
                self.counters.listings += 1;
                self.unresolved.clear();
                let listed = list_pids(&self.proc_root);
                self.forget_unlisted(&listed);
                let mut new: Vec<Pid> = listed
                    .into_iter()
                    .filter(|p| !self.holders.contains_key(p))
                    .collect();
                new.sort_unstable_by(|a, b| b.cmp(a));
                return new;
            }
        };
        // A pid is allocated a moment before its process shows in /proc: pids that could
        // not be read are probed again on the next calls, for a short while.
        let now = Instant::now();
        let mut candidates: Vec<(Pid, Instant)> = range.rev().map(|pid| (pid, now)).collect();
        candidates.extend(
            self.unresolved
                .drain(..)
                .filter(|(_, since)| now.duration_since(*since) < UNRESOLVED_FOR),
        );
        let mut new = Vec::new();
        for (pid, since) in candidates {
            if self.holders.contains_key(&pid) {
                continue;
            }
            match probe_pid(&self.proc_root, pid) {
                PidKind::Process => new.push(pid),
                PidKind::Thread => {}
                PidKind::Absent => self.unresolved.push((pid, since)),
            }
        }
        self.unresolved.truncate(MAX_PID_PROBES as usize);
        new
    }

    /// Rescans every process, rebuilding the cache.
    pub(crate) fn full_scan(&mut self) {
        self.counters.full_scans += 1;
        self.rebuild = false;
        let started = Instant::now();
        self.last_pid = read_last_pid(&self.proc_root);
        self.owner_of.clear();
        self.holders.clear();
        let mut pids: Vec<Pid> = list_pids(&self.proc_root).into_iter().collect();
        pids.sort_unstable();
        for pid in pids {
            self.scan(pid, false);
        }
        self.last_full_scan = Some(Instant::now());
        self.last_full_scan_took = started.elapsed();
    }

    /// Drops processes no longer in `/proc` (called once per interval).
    pub(crate) fn forget_exited(&mut self) {
        self.missed.clear();
        let listed = list_pids(&self.proc_root);
        self.forget_unlisted(&listed);
    }

    /// A new process found holding `inode` close-on-exec may be a fork that has not
    /// exec'd yet, its parent the real holder: scan the parent too so the shared-socket
    /// rule can choose.
    fn check_parent(&mut self, inode: u64) {
        let Some(&pid) = self.owner_of.get(&inode) else {
            return;
        };
        let Some(holder) = self.holders.get(&pid) else {
            return;
        };
        let fd = holder.fd_of(inode);
        let ppid = holder.ppid;
        if ppid > 1 && ppid != pid && fd.is_some_and(|fd| self.close_on_exec(pid, fd)) {
            self.scan(ppid, false);
        }
    }

    fn found(&mut self, inode: u64) -> Option<Pid> {
        let pid = *self.owner_of.get(&inode)?;
        if self.recent.front() != Some(&pid) {
            self.recent.retain(|&p| p != pid);
            self.recent.push_front(pid);
            self.recent.truncate(RECENT);
        }
        Some(pid)
    }

    fn forget_unlisted(&mut self, listed: &HashSet<Pid>) {
        let gone: Vec<Pid> = self
            .holders
            .keys()
            .copied()
            .filter(|p| !listed.contains(p))
            .collect();
        for pid in gone {
            self.drop_holder(pid);
        }
        self.recent.retain(|p| listed.contains(p));
    }

    fn drop_holder(&mut self, pid: Pid) {
        if let Some(old) = self.holders.remove(&pid) {
            for (inode, _) in old.sockets() {
                if self.owner_of.get(&inode) == Some(&pid) {
                    self.owner_of.remove(&inode);
                }
            }
        }
    }

    /// Reads one process's start time and descriptors, replacing what was known of it.
    /// With `quick`, descriptor numbers already seen in the last scan of the same process
    /// are assumed unchanged and only new numbers are read.
    fn scan(&mut self, pid: Pid, quick: bool) {
        let dir = self.proc_root.join(pid.to_string());
        let Some(stat) = read_text(&dir.join("stat"), 4096)
            .ok()
            .and_then(|t| parse_stat(&t))
        else {
            self.drop_holder(pid);
            return;
        };
        let same = self
            .holders
            .get(&pid)
            .filter(|h| h.start_time == stat.start_time);
        let first_seen = same.map_or_else(Instant::now, |h| h.first_seen);
        let previous = same
            .filter(|_| quick)
            .map(|h| h.fds.as_slice())
            .unwrap_or_default();
        let fds = read_fds(&dir.join("fd"), previous);
        self.drop_holder(pid);
        let holder = Holder {
            start_time: stat.start_time,
            name: stat.name,
            ppid: stat.ppid,
            first_seen,
            fds,
        };
        let sockets: Vec<(u64, u32)> = holder.sockets().collect();
        self.holders.insert(pid, holder);
        for (inode, fd) in sockets {
            self.claim(inode, pid, fd);
        }
    }

    /// Records that `pid` holds `inode` (through `fd`), following the shared-socket rule.
    fn claim(&mut self, inode: u64, pid: Pid, fd: u32) {
        let Some(&other) = self.owner_of.get(&inode) else {
            if self.owner_of.len() < MAX_INODES {
                self.owner_of.insert(inode, pid);
            } else {
                self.rebuild = true; // stale entries filled it: start over
            }
            return;
        };
        if other != pid && self.prefers(pid, fd, other, inode) {
            self.owner_of.insert(inode, pid);
        }
    }

    /// Whether `pid` (holding `inode` through `fd`) should own it rather than `other`.
    fn prefers(&self, pid: Pid, fd: u32, other: Pid, inode: u64) -> bool {
        let (Some(new), Some(old)) = (self.holders.get(&pid), self.holders.get(&other)) else {
            return true;
        };
        let newer = (new.start_time, pid) > (old.start_time, other);
        let unexeced_child = |child: &Holder, child_pid: Pid, child_fd: u32, parent: Pid| {
            child.ppid == parent && self.close_on_exec(child_pid, child_fd)
        };
        if newer {
            !unexeced_child(new, pid, fd, other)
        } else {
            let other_fd = old.fd_of(inode);
            other_fd.is_some_and(|f| unexeced_child(old, other, f, pid))
        }
    }

    /// Whether descriptor `fd` of `pid` is close-on-exec (`flags:` in `/proc/PID/fdinfo`).
    fn close_on_exec(&self, pid: Pid, fd: u32) -> bool {
        let path = self.proc_root.join(format!("{pid}/fdinfo/{fd}"));
        read_text(&path, 4096)
            .ok()
            .and_then(|t| parse_fdinfo_flags(&t))
            .is_some_and(|flags| flags & O_CLOEXEC != 0)
    }
}

#[cfg(test)]
mod tests;
