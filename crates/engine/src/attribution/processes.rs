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
use super::process_info::parse_stat;
use crate::owner::Pid;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Most time between two full rescans of `/proc` that a miss may trigger: rescans are
/// spaced by ten times what the last one took (so they use at most about a tenth of one
/// core), but never less than [`MIN_FULL_SCAN_INTERVAL`] nor more than this.
const MAX_FULL_SCAN_INTERVAL: Duration = Duration::from_millis(100);
const MIN_FULL_SCAN_INTERVAL: Duration = Duration::from_millis(5);
/// How many recently active pids an unknown inode rechecks before a full rescan.
const RECENT: usize = 8;
/// Most inodes remembered in total; beyond this the table is rebuilt by the next full scan.
const MAX_INODES: usize = 1 << 21;
/// Most fds read from one process in one scan.
const MAX_FDS_PER_PROCESS: usize = 1 << 20;

/// What a scan learnt about one process.
#[derive(Debug, Clone)]
struct Holder {
    /// Start time from `/proc/PID/stat`, in clock ticks since boot (tells pid reuse apart).
    start_time: u64,
    /// Name from `/proc/PID/stat` at the time of the scan (used if the process is gone
    /// before its details are read).
    name: String,
    ppid: Pid,
    /// Socket inodes held, with the fd number holding each.
    inodes: Vec<(u64, u32)>,
}

/// How a lookup found (or failed to find) its inode; counted for tests and benchmarks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScanCounters {
    pub cached: u64,
    pub new_pids: u64,
    pub recent: u64,
    pub full_scans: u64,
    pub misses: u64,
}

/// The inode → pid cache of one `/proc` tree.
#[derive(Debug)]
pub(crate) struct SocketHolders {
    proc_root: PathBuf,
    owner_of: HashMap<u64, Pid>,
    holders: HashMap<Pid, Holder>,
    recent: VecDeque<Pid>,
    last_full_scan: Option<Instant>,
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
        if let Some(pid) = self.found(inode) {
            self.counters.cached += 1;
            return Some(pid);
        }
        let listed = list_pids(&self.proc_root);
        self.forget_unlisted(&listed);
        let mut new: Vec<Pid> = listed
            .iter()
            .copied()
            .filter(|p| !self.holders.contains_key(p))
            .collect();
        new.sort_unstable_by(|a, b| b.cmp(a)); // newest pids first
        for pid in new {
            self.scan(pid);
        }
        if self.owner_of.contains_key(&inode) {
            self.check_parent(inode);
            self.counters.new_pids += 1;
            return self.found(inode);
        }
        let hinted = hint.and_then(|h| self.owner_of.get(&h).copied());
        let recent: Vec<Pid> = hinted
            .into_iter()
            .chain(self.recent.iter().copied())
            .collect();
        for pid in recent {
            self.scan(pid);
            if let Some(pid) = self.found(inode) {
                self.counters.recent += 1;
                return Some(pid);
            }
        }
        let spacing =
            (self.last_full_scan_took * 10).clamp(MIN_FULL_SCAN_INTERVAL, MAX_FULL_SCAN_INTERVAL);
        let due = self.last_full_scan.is_none_or(|t| t.elapsed() >= spacing);
        if due {
            self.full_scan();
            if let Some(pid) = self.found(inode) {
                return Some(pid);
            }
        }
        self.counters.misses += 1;
        None
    }

    /// Rescans every process, rebuilding the cache.
    pub(crate) fn full_scan(&mut self) {
        self.counters.full_scans += 1;
        let started = Instant::now();
        self.owner_of.clear();
        self.holders.clear();
        let mut pids: Vec<Pid> = list_pids(&self.proc_root).into_iter().collect();
        pids.sort_unstable();
        for pid in pids {
            self.scan(pid);
        }
        self.last_full_scan = Some(Instant::now());
        self.last_full_scan_took = started.elapsed();
    }

    /// Drops processes no longer in `/proc` (called once per interval).
    pub(crate) fn forget_exited(&mut self) {
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
        let fd = holder
            .inodes
            .iter()
            .find(|(i, _)| *i == inode)
            .map(|&(_, f)| f);
        let ppid = holder.ppid;
        if ppid > 1 && ppid != pid && fd.is_some_and(|fd| self.close_on_exec(pid, fd)) {
            self.scan(ppid);
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
            for (inode, _) in old.inodes {
                if self.owner_of.get(&inode) == Some(&pid) {
                    self.owner_of.remove(&inode);
                }
            }
        }
    }

    /// Reads one process's start time and socket fds, replacing what was known of it.
    fn scan(&mut self, pid: Pid) {
        let dir = self.proc_root.join(pid.to_string());
        let Some(stat) = read_text(&dir.join("stat"), 4096)
            .ok()
            .and_then(|t| parse_stat(&t))
        else {
            self.drop_holder(pid);
            return;
        };
        let inodes = socket_inodes(&dir.join("fd"));
        self.drop_holder(pid);
        self.holders.insert(
            pid,
            Holder {
                start_time: stat.start_time,
                name: stat.name,
                ppid: stat.ppid,
                inodes: inodes.clone(),
            },
        );
        for (inode, fd) in inodes {
            self.claim(inode, pid, fd);
        }
    }

    /// Records that `pid` holds `inode` (through `fd`), following the shared-socket rule.
    fn claim(&mut self, inode: u64, pid: Pid, fd: u32) {
        let Some(&other) = self.owner_of.get(&inode) else {
            if self.owner_of.len() < MAX_INODES {
                self.owner_of.insert(inode, pid);
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
            let other_fd = old
                .inodes
                .iter()
                .find(|(i, _)| *i == inode)
                .map(|&(_, f)| f);
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

/// `O_CLOEXEC` as `/proc/PID/fdinfo` shows it (octal 02000000).
const O_CLOEXEC: u32 = 0o2000000;

/// The `flags:` value (octal) of a `/proc/PID/fdinfo/FD` file.
pub(crate) fn parse_fdinfo_flags(text: &str) -> Option<u32> {
    let value = text.lines().find_map(|l| l.strip_prefix("flags:"))?;
    u32::from_str_radix(value.trim(), 8).ok()
}

/// The numeric entries of `proc_root` (thread-group leaders; threads share their fds).
pub(crate) fn list_pids(proc_root: &Path) -> HashSet<Pid> {
    let Ok(entries) = fs::read_dir(proc_root) else {
        return HashSet::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<Pid>().ok())
        .filter(|&pid| pid > 0)
        .collect()
}

/// The (inode, fd) of each `socket:[N]` link in an fd directory (empty when unreadable).
fn socket_inodes(fd_dir: &Path) -> Vec<(u64, u32)> {
    let Ok(entries) = fs::read_dir(fd_dir) else {
        return Vec::new();
    };
    entries
        .take(MAX_FDS_PER_PROCESS)
        .filter_map(|e| {
            let e = e.ok()?;
            let fd = e.file_name().to_str()?.parse().ok()?;
            let target = fs::read_link(e.path()).ok()?;
            Some((parse_socket_link(target.to_str()?)?, fd))
        })
        .collect()
}

/// The inode of a `socket:[N]` link target.
pub(crate) fn parse_socket_link(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A fake `/proc` in a temp dir.
    struct FakeProc(tempfile::TempDir);

    impl FakeProc {
        fn new() -> Self {
            Self(tempfile::tempdir().unwrap())
        }

        fn process(&self, pid: Pid, start: u64, inodes: &[u64]) {
            self.child(pid, 1, start, inodes, false);
        }

        /// A process with parent `ppid`, its socket fds close-on-exec or not.
        fn child(&self, pid: Pid, ppid: Pid, start: u64, inodes: &[u64], cloexec: bool) {
            let dir = self.0.path().join(pid.to_string());
            let (fd, fdinfo) = (dir.join("fd"), dir.join("fdinfo"));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&fd).unwrap();
            fs::create_dir_all(&fdinfo).unwrap();
            let stat =
                format!("{pid} (p{pid}) S {ppid} 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 {start} 0 0");
            fs::write(dir.join("stat"), stat).unwrap();
            let flags = if cloexec { "02000002" } else { "02" };
            for (n, inode) in inodes.iter().enumerate() {
                symlink(format!("socket:[{inode}]"), fd.join(n.to_string())).unwrap();
                let info = format!("pos:\t0\nflags:\t{flags}\nmnt_id:\t9\nino:\t{inode}\n");
                fs::write(fdinfo.join(n.to_string()), info).unwrap();
            }
            symlink("/dev/null", fd.join("999")).unwrap();
        }

        fn exit(&self, pid: Pid) {
            fs::remove_dir_all(self.0.path().join(pid.to_string())).unwrap();
        }
    }

    impl SocketHolders {
        fn owner_t(&mut self, inode: u64) -> Option<Pid> {
            self.owner(inode, None)
        }
    }

    #[test]
    fn an_accepted_connection_is_looked_for_at_its_listener_s_holder_first() {
        let proc = FakeProc::new();
        proc.process(10, 100, &[1]);
        proc.process(20, 200, &[2]);
        let mut holders = SocketHolders::new(proc.0.path());
        holders.full_scan();
        proc.process(10, 100, &[1, 3]);
        assert_eq!(holders.owner(3, Some(1)), Some(10));
        assert_eq!(holders.counters.full_scans, 1);
    }

    #[test]
    fn socket_links_parse_and_others_do_not() {
        assert_eq!(parse_socket_link("socket:[12345]"), Some(12345));
        for other in [
            "pipe:[1]",
            "socket:[]",
            "socket:[12",
            "socket:[-1]",
            "/dev/null",
            "socket:[99999999999999999999999]",
        ] {
            assert_eq!(parse_socket_link(other), None, "{other}");
        }
    }

    #[test]
    fn a_full_scan_maps_every_socket_to_its_process() {
        let proc = FakeProc::new();
        proc.process(10, 100, &[1, 2]);
        proc.process(20, 200, &[3]);
        let mut holders = SocketHolders::new(proc.0.path());
        holders.full_scan();
        assert_eq!(holders.owner_t(1), Some(10));
        assert_eq!(holders.owner_t(3), Some(20));
        assert_eq!(holders.counters.cached, 2);
    }

    #[test]
    fn a_new_process_is_found_without_a_full_rescan() {
        let proc = FakeProc::new();
        proc.process(10, 100, &[1]);
        let mut holders = SocketHolders::new(proc.0.path());
        holders.full_scan();
        proc.process(30, 300, &[7]);
        assert_eq!(holders.owner_t(7), Some(30));
        assert_eq!(holders.counters.full_scans, 1);
        assert_eq!(holders.counters.new_pids, 1);
    }

    #[test]
    fn a_recently_active_process_is_rechecked_before_a_full_rescan() {
        let proc = FakeProc::new();
        proc.process(10, 100, &[1]);
        proc.process(20, 200, &[2]);
        let mut holders = SocketHolders::new(proc.0.path());
        holders.full_scan();
        assert_eq!(holders.owner_t(2), Some(20)); // 20 becomes recent
        proc.process(20, 200, &[2, 5]);
        assert_eq!(holders.owner_t(5), Some(20));
        assert_eq!(holders.counters.recent, 1);
        assert_eq!(holders.counters.full_scans, 1);
    }

    #[test]
    fn full_rescans_are_rate_limited() {
        let proc = FakeProc::new();
        proc.process(10, 100, &[1]);
        let mut holders = SocketHolders::new(proc.0.path());
        holders.full_scan();
        holders.last_full_scan_took = Duration::from_secs(1);
        assert_eq!(holders.owner_t(404), None);
        assert_eq!(holders.owner_t(405), None);
        assert_eq!(holders.counters.full_scans, 1);
        assert_eq!(holders.counters.misses, 2);
    }

    #[test]
    fn a_shared_socket_goes_to_the_most_recently_started_holder() {
        let proc = FakeProc::new();
        proc.process(50, 900, &[8]); // started later, lower pid (pid wrapped)
        proc.process(40, 100, &[8]);
        proc.process(60, 500, &[8]);
        let mut holders = SocketHolders::new(proc.0.path());
        holders.full_scan();
        assert_eq!(holders.owner_t(8), Some(50));
    }

    #[test]
    fn a_fork_that_has_not_exec_d_yet_leaves_the_socket_to_its_parent() {
        let proc = FakeProc::new();
        proc.process(40, 100, &[8]);
        proc.child(41, 40, 900, &[8], true);
        let mut holders = SocketHolders::new(proc.0.path());
        holders.full_scan();
        assert_eq!(holders.owner_t(8), Some(40));
        // An inherited descriptor that survives exec belongs to the child.
        proc.child(41, 40, 900, &[8], false);
        holders.full_scan();
        assert_eq!(holders.owner_t(8), Some(41));
    }

    #[test]
    fn a_new_unexec_d_fork_found_first_still_leaves_the_socket_to_its_parent() {
        let proc = FakeProc::new();
        proc.process(40, 100, &[]);
        let mut holders = SocketHolders::new(proc.0.path());
        holders.full_scan();
        proc.process(40, 100, &[8]);
        proc.child(41, 40, 900, &[8], true);
        assert_eq!(holders.owner_t(8), Some(40));
    }

    #[test]
    fn fdinfo_flags_are_octal() {
        assert_eq!(
            parse_fdinfo_flags("pos:\t0\nflags:\t02004002\n"),
            Some(0o2004002)
        );
        assert_eq!(parse_fdinfo_flags("flags:\t9\n"), None);
        assert_eq!(parse_fdinfo_flags(""), None);
    }

    #[test]
    fn exited_processes_are_forgotten_and_their_sockets_with_them() {
        let proc = FakeProc::new();
        proc.process(10, 100, &[1]);
        let mut holders = SocketHolders::new(proc.0.path());
        holders.full_scan();
        proc.exit(10);
        holders.forget_exited();
        assert!(holders.scanned(10).is_none());
        assert_eq!(holders.owner_of.get(&1), None);
    }

    #[test]
    fn vanished_and_malformed_processes_are_skipped() {
        let proc = FakeProc::new();
        proc.process(10, 100, &[1]);
        let bad = proc.0.path().join("11");
        fs::create_dir_all(bad.join("fd")).unwrap();
        fs::write(bad.join("stat"), "11 (trunc").unwrap();
        fs::create_dir_all(proc.0.path().join("12")).unwrap(); // no stat, no fd
        fs::create_dir_all(proc.0.path().join("self")).unwrap();
        let mut holders = SocketHolders::new(proc.0.path());
        holders.full_scan();
        assert_eq!(holders.owner_t(1), Some(10));
        assert!(holders.scanned(11).is_none());
        assert!(holders.scanned(12).is_none());
    }
}
