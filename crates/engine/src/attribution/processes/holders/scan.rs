//! Reading `/proc` for processes and their descriptors: pid listings, the last pid the
//! kernel allocated, descriptor links and flags. Every file is untrusted input.

use super::MAX_FDS_PER_PROCESS;
use crate::attribution::kernel::bounded_read::read_text;
use crate::attribution::processes::fd_dir::FdDir;
use crate::owner::Pid;
use std::collections::HashSet;
use std::fs;
use std::path::Path;

/// `O_CLOEXEC` as `/proc/PID/fdinfo` shows it (octal 02000000).
pub(super) const O_CLOEXEC: u32 = 0o2000000;

/// The `flags:` value (octal) of a `/proc/PID/fdinfo/FD` file.
pub(crate) fn parse_fdinfo_flags(text: &str) -> Option<u32> {
    let value = text.lines().find_map(|l| l.strip_prefix("flags:"))?;
    u32::from_str_radix(value.trim(), 8).ok()
}

/// What a pid in /proc is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PidKind {
    /// A live process (thread-group leader).
    Process,
    /// A thread: reachable as `/proc/TID` but not listed, sharing its process's fds.
    Thread,
    /// Not readable: gone, or allocated but not visible yet.
    Absent,
}

/// Tells processes from threads by the `Tgid:` line of `/proc/PID/status`.
pub(super) fn probe_pid(proc_root: &Path, pid: Pid) -> PidKind {
    let tgid = read_text(&proc_root.join(format!("{pid}/status")), 1024)
        .ok()
        .and_then(|t| {
            let tgid = t.lines().find_map(|l| l.strip_prefix("Tgid:"))?;
            tgid.trim().parse::<Pid>().ok()
        });
    match tgid {
        Some(tgid) if tgid == pid => PidKind::Process,
        Some(_) => PidKind::Thread,
        None => PidKind::Absent,
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

/// Every descriptor in an fd directory with the socket inode it points at (0 for anything
/// else), sorted by number; numbers found in `previous` keep their inode without a read.
/// Empty when the directory is unreadable (the process is gone or not ours to read).
pub(super) fn read_fds(fd_dir: &Path, previous: &[(u32, u64)]) -> Vec<(u32, u64)> {
    let Ok(mut dir) = FdDir::open(fd_dir) else {
        return Vec::new();
    };
    let mut numbers = dir.fds(MAX_FDS_PER_PROCESS);
    numbers.sort_unstable();
    numbers
        .into_iter()
        .map(|fd| {
            let known = previous
                .binary_search_by_key(&fd, |&(f, _)| f)
                .ok()
                .map(|i| previous[i].1);
            let inode = known.unwrap_or_else(|| dir.socket_inode(fd).unwrap_or(0));
            (fd, inode)
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

/// Clock ticks per second of `/proc/PID/stat` times (`USER_HZ`, nearly always 100).
pub(super) fn clock_ticks_per_second() -> u64 {
    match rustix::param::clock_ticks_per_second() {
        0 => 100,
        hz => hz,
    }
}

/// Now, in clock ticks since boot, the clock process start times are measured on.
pub(super) fn boot_ticks() -> Option<u64> {
    let now = rustix::time::clock_gettime_dynamic(rustix::time::DynamicClockId::Boottime).ok()?;
    let hz = clock_ticks_per_second();
    let secs = u64::try_from(now.tv_sec).ok()?;
    let nanos = u64::try_from(now.tv_nsec).ok()?;
    Some(secs * hz + nanos * hz / 1_000_000_000)
}
