//! Socket inode → pid, from the `socket:[inode]` links in `/proc/PID/fd`, kept in a cache
//! that an unknown inode updates incrementally: new pids first, then recently active ones,
//! and a full rescan only when neither has it and none ran in the last 100 ms.
//!
//! Shared sockets: when several processes hold one socket (inherited across fork, passed
//! over a Unix socket), it is credited to the holder that started **most recently** (ties:
//! the higher pid). That is the worker of a pre-forking server, the child a shell or
//! launcher spawned with an inherited socket, and the newest owner of a passed socket —
//! the process doing the work, rather than the parent that merely kept a copy.

use super::bounded_read::read_text;
use super::process_info::parse_stat;
use crate::owner::Pid;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Least time between two full rescans of `/proc`.
const FULL_SCAN_INTERVAL: Duration = Duration::from_millis(100);
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
    inodes: Vec<u64>,
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
            counters: ScanCounters::default(),
        }
    }

    /// The start time and name a scan recorded for `pid`.
    pub(crate) fn scanned(&self, pid: Pid) -> Option<(u64, &str)> {
        self.holders
            .get(&pid)
            .map(|h| (h.start_time, h.name.as_str()))
    }

    /// The process holding socket `inode`, looked up incrementally when not cached.
    pub(crate) fn owner(&mut self, inode: u64) -> Option<Pid> {
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
        if let Some(pid) = self.found(inode) {
            self.counters.new_pids += 1;
            return Some(pid);
        }
        let recent: Vec<Pid> = self.recent.iter().copied().collect();
        for pid in recent {
            self.scan(pid);
            if let Some(pid) = self.found(inode) {
                self.counters.recent += 1;
                return Some(pid);
            }
        }
        let due = self
            .last_full_scan
            .is_none_or(|t| t.elapsed() >= FULL_SCAN_INTERVAL);
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
        self.last_full_scan = Some(Instant::now());
        self.owner_of.clear();
        self.holders.clear();
        let mut pids: Vec<Pid> = list_pids(&self.proc_root).into_iter().collect();
        pids.sort_unstable();
        for pid in pids {
            self.scan(pid);
        }
    }

    /// Drops processes no longer in `/proc` (called once per interval).
    pub(crate) fn forget_exited(&mut self) {
        let listed = list_pids(&self.proc_root);
        self.forget_unlisted(&listed);
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
            for inode in old.inodes {
                if self.owner_of.get(&inode) == Some(&pid) {
                    self.owner_of.remove(&inode);
                }
            }
        }
    }

    /// Reads one process's start time and socket fds, replacing what was known of it.
    fn scan(&mut self, pid: Pid) {
        let dir = self.proc_root.join(pid.to_string());
        let Some((start_time, name)) = read_text(&dir.join("stat"), 4096)
            .ok()
            .and_then(|t| parse_stat(&t))
        else {
            self.drop_holder(pid);
            return;
        };
        let inodes = socket_inodes(&dir.join("fd"));
        self.drop_holder(pid);
        for &inode in &inodes {
            self.claim(inode, pid, start_time);
        }
        self.holders.insert(
            pid,
            Holder {
                start_time,
                name,
                inodes,
            },
        );
    }

    /// Records that `pid` holds `inode`, unless a more recently started holder has it.
    fn claim(&mut self, inode: u64, pid: Pid, start_time: u64) {
        if let Some(&other) = self.owner_of.get(&inode) {
            let other_start = self.holders.get(&other).map_or(0, |h| h.start_time);
            if other != pid && (other_start, other) > (start_time, pid) {
                return;
            }
        } else if self.owner_of.len() >= MAX_INODES {
            return;
        }
        self.owner_of.insert(inode, pid);
    }
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

/// The inodes of the `socket:[N]` links in an fd directory (empty when unreadable).
fn socket_inodes(fd_dir: &Path) -> Vec<u64> {
    let Ok(entries) = fs::read_dir(fd_dir) else {
        return Vec::new();
    };
    entries
        .take(MAX_FDS_PER_PROCESS)
        .filter_map(|e| {
            let target = fs::read_link(e.ok()?.path()).ok()?;
            parse_socket_link(target.to_str()?)
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
            let dir = self.0.path().join(pid.to_string());
            let fd = dir.join("fd");
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&fd).unwrap();
            let stat =
                format!("{pid} (p{pid}) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 {start} 0 0");
            fs::write(dir.join("stat"), stat).unwrap();
            for (n, inode) in inodes.iter().enumerate() {
                symlink(format!("socket:[{inode}]"), fd.join(n.to_string())).unwrap();
            }
            symlink("/dev/null", fd.join("999")).unwrap();
        }

        fn exit(&self, pid: Pid) {
            fs::remove_dir_all(self.0.path().join(pid.to_string())).unwrap();
        }
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
        assert_eq!(holders.owner(1), Some(10));
        assert_eq!(holders.owner(3), Some(20));
        assert_eq!(holders.counters.cached, 2);
    }

    #[test]
    fn a_new_process_is_found_without_a_full_rescan() {
        let proc = FakeProc::new();
        proc.process(10, 100, &[1]);
        let mut holders = SocketHolders::new(proc.0.path());
        holders.full_scan();
        proc.process(30, 300, &[7]);
        assert_eq!(holders.owner(7), Some(30));
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
        assert_eq!(holders.owner(2), Some(20)); // 20 becomes recent
        proc.process(20, 200, &[2, 5]);
        assert_eq!(holders.owner(5), Some(20));
        assert_eq!(holders.counters.recent, 1);
        assert_eq!(holders.counters.full_scans, 1);
    }

    #[test]
    fn full_rescans_are_rate_limited() {
        let proc = FakeProc::new();
        proc.process(10, 100, &[1]);
        let mut holders = SocketHolders::new(proc.0.path());
        holders.full_scan();
        assert_eq!(holders.owner(404), None);
        assert_eq!(holders.owner(405), None);
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
        assert_eq!(holders.owner(8), Some(50));
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
        assert_eq!(holders.owner(1), Some(10));
        assert!(holders.scanned(11).is_none());
        assert!(holders.scanned(12).is_none());
    }
}
