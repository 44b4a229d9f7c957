//! Socket inode → pid, from the `socket:[inode]` links in `/proc/PID/fd`, kept in a cache
//! that an unknown inode updates incrementally, cheapest and likeliest first:
//!
//! ```text
//! owner(inode) = quick_owner, then search_owner
//!  quick_owner
//!  ├─ cached                 inode → pid map
//!  ├─ guesses                likely processes (listener's holder, recently found, read
//!  │                         for the first time lately), a few likely fd numbers each
//!  │                         (hot.rs)
//!  └─ new processes          pids allocated since the last look (/proc/loadavg), read
//!                            whole, newest first, up to the holder
//!  search_owner (the caller first checks the socket still exists)
//!  ├─ recently active ones   new fd numbers only
//!  ├─ last sweep's result    every process, read on the sweeper thread (sweeper.rs)
//!  ├─ recently active ones   every fd, sockets and high numbers first ┐ 3 ms budget
//!  ├─ young processes        started in the last 2 s, read again      ┘
//!  └─ miss                   asks the sweeper for a sweep; accounting retries later
//! prepare()                  while the capture thread is idle: new processes read ahead
//!                            of their first packet (hot.rs)
//! ```
//!
//! Which holder a shared socket is credited to is decided in `shared.rs`.

use crate::attribution::kernel::bounded_read::read_text;
use crate::attribution::kernel::last_pid::LastPid;
use crate::attribution::processes::fd_dir::FdDir;
use crate::attribution::processes::process_info::parse_stat;
use scan::{boot_ticks, clock_ticks_per_second, probe_pid, read_fds, PidKind};
pub(crate) use scan::{list_pids, parse_socket_link};
use sweeper::Sweeper;

mod hot;
mod scan;
mod shared;
mod sweeper;
use crate::owner::Pid;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Most time one lookup spends on young and recently active processes before the sweep
/// (a single process's descriptors are read whole, except when probing).
const SEARCH_BUDGET: Duration = Duration::from_millis(3);
/// How many recently active pids an unknown inode rechecks before a full rescan.
const RECENT: usize = 8;
/// Processes started this recently are rescanned on an unknown inode, in seconds.
const YOUNG_SECONDS: u64 = 2;
/// Most young processes rescanned for one unknown inode.
const MAX_YOUNG_RESCANS: usize = 64;
/// Misses after which an inode no longer makes young and recent processes be read whole
/// (accounting retries an unknown flow with back-off: 2, 5, 10… ms).
const GIVE_UP_AFTER: u32 = 3;
/// Most failed inodes remembered between two intervals.
const MAX_MISSED: usize = 4096;
/// How long a pid that could not be read yet is probed again: a process shows in /proc
/// within microseconds of getting its pid, and the pids of processes that have exited
/// since stay unreadable, so probing them for long only costs every lookup.
const UNRESOLVED_FOR: Duration = Duration::from_millis(10);
/// Most pids probed one by one for new processes before listing `/proc` instead.
const MAX_PID_PROBES: Pid = 256;
/// Most inodes remembered in total; beyond this the table is rebuilt by the next full scan.
pub(in crate::attribution) const MAX_INODES: usize = 1 << 21;
/// Most fds read from one process in one scan.
pub(in crate::attribution) const MAX_FDS_PER_PROCESS: usize = 1 << 17;

/// What a scan learnt about one process.
#[derive(Debug, Clone)]
pub(in crate::attribution) struct Holder {
    /// Start time from `/proc/PID/stat`, in clock ticks since boot (tells pid reuse apart).
    pub(in crate::attribution) start_time: u64,
    /// Name from `/proc/PID/stat` at the time of the scan (used if the process is gone
    /// before its details are read).
    name: String,
    pub(in crate::attribution) ppid: Pid,
    /// Every descriptor seen, sorted by number, with the socket inode it pointed at (0
    /// for anything but a socket).
    pub(in crate::attribution) fds: Vec<(u32, u64)>,
    /// Descriptor numbers where lookups found this process's new sockets, latest first
    /// (see `hot.rs`).
    hot: Vec<u32>,
}

impl Holder {
    /// The (inode, fd) of each socket held.
    fn sockets(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.fds
            .iter()
            .filter(|(_, inode)| *inode != 0)
            .map(|&(fd, inode)| (inode, fd))
    }

    pub(in crate::attribution) fn fd_of(&self, inode: u64) -> Option<u32> {
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
    /// Found through the sweeper thread's last result.
    pub swept: u64,
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
    /// Reads every process on its own thread when lookups miss.
    sweeper: Sweeper,
    /// Clock ticks (`/proc/PID/stat` units) within which a process counts as young.
    young_ticks: u64,
    /// Fixed "now" in clock ticks since boot, for tests on fake trees.
    #[cfg(test)]
    now_ticks: Option<u64>,
    /// The kernel's last allocated pid when new processes were last looked for.
    last_pid: Option<Pid>,
    /// Where it is read.
    last_pid_file: LastPid,
    /// Pids allocated but not readable in /proc yet, with when they were first probed.
    unresolved: Vec<(Pid, Instant)>,
    /// New pids a lookup did not read because it found its socket first, newest first.
    pending_new: Vec<Pid>,
    /// Processes read for the first time lately, newest first (hot.rs).
    fresh: VecDeque<hot::Fresh>,
    /// When [`Self::prepare`] last ran.
    last_prepare: Option<Instant>,
    /// Inodes a lookup failed to find since the last interval.
    missed: HashMap<u64, u32>,
    /// The inode map is full (of stale entries): rebuild it on the next lookup.
    rebuild: bool,
    pub(crate) counters: ScanCounters,
}

impl SocketHolders {
    /// An empty cache over `proc_root` (normally `/proc`); call [`Self::full_scan`] to fill.
    pub(crate) fn new(proc_root: impl Into<PathBuf>) -> Self {
        let proc_root = proc_root.into();
        Self {
            sweeper: Sweeper::start(proc_root.clone()),
            last_pid_file: LastPid::new(&proc_root),
            proc_root,
            owner_of: HashMap::new(),
            holders: HashMap::new(),
            recent: VecDeque::new(),
            young_ticks: YOUNG_SECONDS * clock_ticks_per_second(),
            #[cfg(test)]
            now_ticks: None,
            last_pid: None,
            missed: HashMap::new(),
            pending_new: Vec::new(),
            fresh: VecDeque::new(),
            last_prepare: None,
            unresolved: Vec::new(),
            rebuild: false,
            counters: ScanCounters::default(),
        }
    }

    /// Now, in clock ticks since boot (the unit of process start times).
    fn ticks_since_boot(&self) -> Option<u64> {
        #[cfg(test)]
        if let Some(now) = self.now_ticks {
            return Some(now);
        }
        boot_ticks()
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
        self.quick_owner(inode, hint)
            .or_else(|| self.search_owner(inode, hint))
    }

    /// The cheap passes of [`Self::owner`] (cached, guesses, new processes): tens of
    /// microseconds, worth trying before asking whether the socket still exists.
    pub(crate) fn quick_owner(&mut self, inode: u64, hint: Option<u64>) -> Option<Pid> {
        if self.rebuild {
            self.full_scan();
        }
        if let Some(pid) = self.found(inode) {
            self.counters.cached += 1;
            return Some(pid);
        }
        // 1. Likely processes, a few likely descriptor numbers each (hot.rs).
        let hinted = hint.and_then(|h| self.owner_of.get(&h).copied());
        for pid in self.likely_holders(hinted) {
            if self.guess(pid, inode) {
                // A recent (or fresh) process's likely descriptor.
                self.counters.recent += 1;
                return self.found_new(inode);
            }
        }
        // 2. Processes started since the last look, newest first, up to the one holding
        //    the socket; those not read yet are read first on the next look.
        let new = self.take_new_pids();
        for (n, &pid) in new.iter().enumerate() {
            self.scan(pid, false);
            self.note_fresh(pid, Instant::now());
            if self.owner_of.contains_key(&inode) {
                self.keep_pending(new.get(n + 1..).unwrap_or_default());
                self.check_parent(inode);
                self.counters.new_pids += 1;
                return self.found_new(inode);
            }
        }
        None
    }

    /// The costlier passes of [`Self::owner`], after [`Self::quick_owner`] missed.
    pub(crate) fn search_owner(&mut self, inode: u64, hint: Option<u64>) -> Option<Pid> {
        let deadline = Instant::now() + SEARCH_BUDGET;
        // An inode that already missed a few times (perhaps a kernel socket no process
        // holds) no longer makes young and recent processes be read whole.
        let given_up = self.missed.get(&inode).is_some_and(|&n| n >= GIVE_UP_AFTER);
        let hinted = hint.and_then(|h| self.owner_of.get(&h).copied());
        let mut recent: Vec<Pid> = hinted.into_iter().collect();
        for &pid in &self.recent {
            if !recent.contains(&pid) {
                recent.push(pid);
            }
        }
        // 3. Recently active processes, descriptor numbers new since their last scan
        //    only: cheap even for processes with many fds.
        for &pid in &recent {
            self.scan(pid, true);
            if self.owner_of.contains_key(&inode) {
                self.counters.recent += 1;
                return self.found_new(inode);
            }
        }
        // 3. Every process, as the sweeper thread last read them: adopt the holder it
        //    found, reading that one process again so the shared-socket rule applies.
        if let Some(&(pid, _)) = self.sweeper.latest().holders.get(&inode) {
            self.scan(pid, false);
            if self.owner_of.contains_key(&inode) {
                self.check_parent(inode);
                self.counters.swept += 1;
                return self.found_new(inode);
            }
        }
        if !given_up {
            // 4. Recently active processes again, every descriptor, those that held
            //    sockets first: a new socket usually reuses the number of a closed one.
            if let Some(pid) = self.probe_recent(inode, &recent, deadline) {
                self.counters.recent += 1;
                return Some(pid);
            }
            // 5. Processes started in the last moments, read again (they may have opened
            //    the socket after their first scan), newest first, within the budget.
            if self.rescan_young(inode, deadline) {
                self.check_parent(inode);
                self.counters.new_pids += 1;
                return self.found_new(inode);
            }
        }
        // 6. Ask the sweeper to read every process, so that accounting's next retry finds
        //    the socket.
        self.sweeper.request();
        self.counters.misses += 1;
        if self.missed.len() >= MAX_MISSED {
            self.missed.clear();
        }
        *self.missed.entry(inode).or_insert(0) += 1;
        None
    }

    /// Step 4 of [`Self::owner`]: the `recent` processes again, every descriptor, those
    /// that held sockets first (a new socket usually reuses the number of a closed one),
    /// until `deadline`; the likeliest process gets a millisecond even if new processes
    /// took the whole budget.
    fn probe_recent(&mut self, inode: u64, recent: &[Pid], deadline: Instant) -> Option<Pid> {
        for (n, &pid) in recent.iter().enumerate() {
            let until = if n == 0 {
                deadline.max(Instant::now() + Duration::from_millis(1))
            } else {
                deadline
            };
            if Instant::now() > until {
                break;
            }
            self.probe(pid, inode, until);
            if self.owner_of.contains_key(&inode) {
                return self.found_new(inode);
            }
        }
        None
    }

    /// Step 5 of [`Self::owner`]: processes started in the last moments (they may have
    /// opened the socket after their first scan), except the `new` ones just read, read
    /// again newest first until `deadline`. True when one of them holds `inode`.
    fn rescan_young(&mut self, inode: u64, deadline: Instant) -> bool {
        let young_since = self
            .ticks_since_boot()
            .map(|now| now.saturating_sub(self.young_ticks));
        let mut young: Vec<(u64, Pid)> = self
            .holders
            .iter()
            .filter(|(_, h)| young_since.is_some_and(|t| h.start_time >= t))
            .map(|(&p, h)| (h.start_time, p))
            .collect();
        young.sort_unstable_by(|a, b| b.cmp(a));
        young.truncate(MAX_YOUNG_RESCANS);
        for (_, pid) in young {
            if Instant::now() > deadline {
                break;
            }
            self.scan(pid, false);
            if self.owner_of.contains_key(&inode) {
                return true;
            }
        }
        false
    }

    /// Looks for `inode` among the descriptors of known process `pid`, reading those that
    /// held sockets at its last scan first (a new socket usually takes the number of a
    /// socket closed before it), then the others, highest numbers first, and stopping at
    /// the match or the deadline.
    fn probe(&mut self, pid: Pid, inode: u64, deadline: Instant) {
        let Some(holder) = self.holders.get(&pid) else {
            return;
        };
        // Highest numbers first within each group: a process's long-lived descriptors
        // (standard streams, files opened at start) hold the low numbers.
        let order: Vec<u32> = holder
            .fds
            .iter()
            .rev()
            .filter(|(_, i)| *i != 0)
            .chain(holder.fds.iter().rev().filter(|(_, i)| *i == 0))
            .map(|&(fd, _)| fd)
            .collect();
        let Ok(dir) = FdDir::open(&self.proc_root.join(format!("{pid}/fd"))) else {
            return;
        };
        let mut found = None;
        for (n, fd) in order.into_iter().enumerate() {
            if dir.socket_inode(fd) == Some(inode) {
                found = Some(fd);
                break;
            }
            if n % 64 == 63 && Instant::now() > deadline {
                return;
            }
        }
        let Some(fd) = found else {
            return;
        };
        if let Some(holder) = self.holders.get_mut(&pid) {
            if let Ok(i) = holder.fds.binary_search_by_key(&fd, |&(f, _)| f) {
                holder.fds[i].1 = inode;
            }
        }
        self.claim(inode, pid, fd);
    }

    /// Processes started since the last look, newest first, then those a previous look
    /// left unread.
    fn take_new_pids(&mut self) -> Vec<Pid> {
        let mut new = self.new_pids();
        for pid in std::mem::take(&mut self.pending_new) {
            if !new.contains(&pid) {
                new.push(pid);
            }
        }
        new
    }

    /// Keeps new pids not read yet for the next look.
    fn keep_pending(&mut self, pids: &[Pid]) {
        self.pending_new = pids.to_vec();
        self.pending_new.truncate(MAX_PID_PROBES as usize);
    }

    /// Pids of processes started since the last call and not scanned yet, newest first.
    /// The kernel's last allocated pid (`/proc/loadavg`) tells whether any was: when it
    /// is unchanged nothing is read, when it moved a little only the pids in between are
    /// probed, and otherwise (wrap-around, bursts, no loadavg) `/proc` is listed.
    fn new_pids(&mut self) -> Vec<Pid> {
        let last = self.last_pid_file.read();
        let previous = std::mem::replace(&mut self.last_pid, last);
        let allocated: Vec<Pid> = match (previous, last) {
            // Nothing allocated since (not even at `Pid::MAX`, which no kernel hands out
            // but untrusted `loadavg` text may say, and `p + 1` would overflow).
            (Some(p), Some(l)) if l == p => Vec::new(),
            (Some(p), Some(l)) if l > p && l - p <= MAX_PID_PROBES => (p + 1..=l).rev().collect(),
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
        let mut candidates: Vec<(Pid, Instant)> =
            allocated.into_iter().map(|pid| (pid, now)).collect();
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
        self.last_pid = self.last_pid_file.read();
        self.owner_of.clear();
        self.holders.clear();
        self.pending_new.clear();
        self.fresh.clear();
        let mut pids: Vec<Pid> = list_pids(&self.proc_root).into_iter().collect();
        pids.sort_unstable();
        for pid in pids {
            self.scan(pid, false);
        }
    }

    /// Drops processes no longer in `/proc` (called once per interval).
    /// Returns the pids listed in `/proc`.
    pub(crate) fn forget_exited(&mut self) -> HashSet<Pid> {
        self.missed.clear();
        let listed = list_pids(&self.proc_root);
        self.forget_unlisted(&listed);
        listed
    }

    /// [`Self::found`] for an inode a search just found: its descriptor number becomes hot.
    fn found_new(&mut self, inode: u64) -> Option<Pid> {
        let pid = self.found(inode)?;
        self.mark_hot(pid, inode);
        Some(pid)
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
        let previous = same
            .filter(|_| quick)
            .map(|h| h.fds.as_slice())
            .unwrap_or_default();
        let fds = read_fds(&dir.join("fd"), previous);
        let hot = same.map(|h| h.hot.clone()).unwrap_or_default();
        self.drop_holder(pid);
        let holder = Holder {
            start_time: stat.start_time,
            name: stat.name,
            ppid: stat.ppid,
            fds,
            hot,
        };
        let sockets: Vec<(u64, u32)> = holder.sockets().collect();
        self.holders.insert(pid, holder);
        for (inode, fd) in sockets {
            self.claim(inode, pid, fd);
        }
    }
}

#[cfg(test)]
mod tests;
