//! The first, cheapest pass for an unknown socket inode: a few `readlink`s per likely
//! process, at the descriptor numbers where its next socket most likely is, so a short
//! connection is found while it is still open (a full read of every descriptor of every
//! candidate can take long enough for it to close first, on a busy machine).
//!
//! Where a new socket lands: `socket()`, `accept()` and `connect()`'s socket take the
//! lowest free number, so it is where the process's last new socket was (closed since:
//! the "hot" numbers below), the lowest number free at the last scan, or a low number that
//! held some other file then (a program starting up reads and closes files).
//!
//! Which processes: the listener's holder, the processes whose sockets lookups found
//! lately, and the processes read for the first time in the last moments (`fresh`), which
//! [`SocketHolders::prepare`] reads while the capture thread has nothing else to do.

use super::{Pid, SocketHolders};
use std::time::{Duration, Instant};

/// Most descriptor numbers remembered per process as where its new sockets appeared.
pub(super) const HOT_FDS: usize = 4;
/// Low numbers holding something else than a socket at the last scan that are guessed too.
const LOW_OTHERS: usize = 2;
/// Descriptors below this are the standard streams, never guessed as "other" numbers.
const FIRST_NON_STANDARD: u32 = 3;
/// Most processes first read lately that are guessed at.
pub(super) const MAX_FRESH: usize = 32;
/// How long a process first read counts as fresh.
pub(super) const FRESH_FOR: Duration = Duration::from_secs(2);
/// A process first read this soon after it appeared may not have called `exec` yet (its
/// descriptors are then its parent's): [`SocketHolders::prepare`] reads it once more
/// after this long.
pub(super) const EXEC_GRACE: Duration = Duration::from_millis(10);

/// A process read for the first time lately.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fresh {
    pub pid: Pid,
    pub first_read: Instant,
    pub read_again: bool,
}

impl SocketHolders {
    /// Records that `pid` was found holding the new socket `inode`: its descriptor number
    /// goes first among the process's hot numbers.
    pub(super) fn mark_hot(&mut self, pid: Pid, inode: u64) {
        let Some(holder) = self.holders.get_mut(&pid) else {
            return;
        };
        let Some(fd) = holder.fd_of(inode) else {
            return;
        };
        holder.hot.retain(|&f| f != fd);
        holder.hot.insert(0, fd);
        holder.hot.truncate(HOT_FDS);
    }

    /// Remembers that `pid` was just read for the first time.
    pub(super) fn note_fresh(&mut self, pid: Pid, now: Instant) {
        self.fresh.retain(|f| f.pid != pid);
        self.fresh.push_front(Fresh {
            pid,
            first_read: now,
            read_again: false,
        });
        self.fresh.truncate(MAX_FRESH);
    }

    /// The likeliest processes, likeliest first: `first` (the listener's holder), the
    /// recently found ones, then the fresh ones, newest first.
    pub(super) fn likely_holders(&mut self, first: Option<Pid>) -> Vec<Pid> {
        let now = Instant::now();
        self.fresh
            .retain(|f| now.duration_since(f.first_read) < FRESH_FOR);
        let mut pids: Vec<Pid> = first.into_iter().collect();
        let others = self.recent.iter().chain(self.fresh.iter().map(|f| &f.pid));
        for &pid in others {
            if !pids.contains(&pid) {
                pids.push(pid);
            }
        }
        pids
    }

    /// Reads the likely descriptor numbers of `pid`; claims `inode` when one points at it.
    /// Returns whether it was found.
    pub(super) fn guess(&mut self, pid: Pid, inode: u64) -> bool {
        let Some(holder) = self.holders.get(&pid) else {
            return false;
        };
        let mut numbers = holder.hot.clone();
        let mut lowest_free = 0;
        for &(fd, _) in &holder.fds {
            if fd != lowest_free {
                break;
            }
            lowest_free += 1;
        }
        let low_others = holder
            .fds
            .iter()
            .filter(|&&(fd, socket)| fd >= FIRST_NON_STANDARD && socket == 0)
            .map(|&(fd, _)| fd)
            .take(LOW_OTHERS);
        for fd in std::iter::once(lowest_free).chain(low_others) {
            if !numbers.contains(&fd) {
                numbers.push(fd);
            }
        }
        let Some(fd) = numbers
            .into_iter()
            .find(|&fd| socket_inode_at(&self.proc_root, pid, fd) == Some(inode))
        else {
            return false;
        };
        if let Some(holder) = self.holders.get_mut(&pid) {
            match holder.fds.binary_search_by_key(&fd, |&(f, _)| f) {
                Ok(i) => holder.fds[i].1 = inode,
                Err(i) => holder.fds.insert(i, (fd, inode)),
            }
        }
        self.claim(inode, pid, fd);
        true
    }
}

/// The socket inode descriptor `fd` of `pid` points at: one `readlink`.
fn socket_inode_at(proc_root: &std::path::Path, pid: Pid, fd: u32) -> Option<u64> {
    let path = proc_root.join(format!("{pid}/fd/{fd}"));
    let mut buf = [0u8; 64];
    let len = rustix::fs::readlinkat_raw(rustix::fs::CWD, &path, &mut buf[..]).ok()?;
    let target = std::str::from_utf8(buf.get(..len)?).ok()?;
    super::parse_socket_link(target)
}

/// Least time between two [`SocketHolders::prepare`] runs.
pub(crate) const PREPARE_PERIOD: Duration = Duration::from_millis(5);
/// Most time one [`SocketHolders::prepare`] spends reading processes.
const PREPARE_BUDGET: Duration = Duration::from_millis(1);

impl SocketHolders {
    /// Reads processes started since the last look (and, once more, those read before
    /// they may have called `exec`), so that the socket a new process opens is found with
    /// one guess. Meant for idle moments of the capture thread: at most every
    /// [`PREPARE_PERIOD`] and for at most [`PREPARE_BUDGET`]; what is left waits for the
    /// next call or the next lookup.
    pub(crate) fn prepare(&mut self) {
        let now = Instant::now();
        if self
            .last_prepare
            .is_some_and(|t| now.duration_since(t) < PREPARE_PERIOD)
        {
            return;
        }
        self.last_prepare = Some(now);
        let deadline = now + PREPARE_BUDGET;
        let new = self.take_new_pids();
        for (n, &pid) in new.iter().enumerate() {
            if Instant::now() > deadline {
                self.keep_pending(new.get(n..).unwrap_or_default());
                return;
            }
            self.scan(pid, false);
            self.note_fresh(pid, Instant::now());
        }
        let again: Vec<Pid> = self
            .fresh
            .iter()
            .filter(|f| !f.read_again && now.duration_since(f.first_read) >= EXEC_GRACE)
            .map(|f| f.pid)
            .collect();
        for pid in again {
            if Instant::now() > deadline {
                return;
            }
            self.scan(pid, false);
            if let Some(f) = self.fresh.iter_mut().find(|f| f.pid == pid) {
                f.read_again = true;
            }
        }
    }
}
