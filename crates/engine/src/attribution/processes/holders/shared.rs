//! The shared-socket rule: when several processes hold one socket (inherited across fork,
//! passed over a Unix socket), it is credited to the holder that started **most recently**
//! (ties: the higher pid): the child a launcher spawned with an inherited socket, the
//! newest owner of a passed socket — the process doing the work rather than the parent
//! that merely kept a copy. One exception: a child whose descriptor is close-on-exec while
//! its parent holds the same socket is a fork that has not called `exec` yet (every spawn
//! passes through this state for a moment, and pre-forked workers stay in it); it is about
//! to lose the descriptor, or shares its parent's job, so the parent keeps the socket.

use super::scan::{parse_fdinfo_flags, O_CLOEXEC};
use super::{Holder, SocketHolders, MAX_INODES};
use crate::attribution::kernel::bounded_read::read_text;
use crate::owner::Pid;

impl SocketHolders {
    /// A new process found holding `inode` close-on-exec may be a fork that has not
    /// exec'd yet, its parent the real holder: scan the parent too so the shared-socket
    /// rule can choose.
    pub(super) fn check_parent(&mut self, inode: u64) {
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

    /// Records that `pid` holds `inode` (through `fd`), following the shared-socket rule.
    pub(super) fn claim(&mut self, inode: u64, pid: Pid, fd: u32) {
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
    pub(super) fn close_on_exec(&self, pid: Pid, fd: u32) -> bool {
        let path = self.proc_root.join(format!("{pid}/fdinfo/{fd}"));
        read_text(&path, 4096)
            .ok()
            .and_then(|t| parse_fdinfo_flags(&t))
            .is_some_and(|flags| flags & O_CLOEXEC != 0)
    }
}
