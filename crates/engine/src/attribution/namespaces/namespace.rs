//! Network namespaces of this machine: found from `/proc/*/ns/net` (and `/run/netns`),
//! each with netlink sockets opened inside it and its own socket table and addresses.

use crate::attribution::kernel::proc_net;
use crate::attribution::kernel::sock_diag::SockDiag;
use crate::attribution::namespaces::rank::Rank;
use crate::attribution::sockets::socket_table::{SockProto, SocketTable};
use crate::owner::Pid;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Least time between two re-reads of one `/proc/PID/net` table on lookups that miss.
const PROC_RELOAD_INTERVAL: Duration = Duration::from_millis(1);

/// The inode number of a namespace link target such as `net:[4026531840]`.
pub(crate) fn parse_ns_link(target: &str) -> Option<u64> {
    target
        .strip_prefix("net:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The network namespace of `pid` (`None` when it is gone or unreadable).
pub(crate) fn namespace_of(proc_root: &Path, pid: Pid) -> Option<u64> {
    let target = fs::read_link(proc_root.join(pid.to_string()).join("ns/net")).ok()?;
    parse_ns_link(target.to_str()?)
}

/// Namespaces kept alive by a name in `dir` (`ip netns add` mounts them in `/run/netns`),
/// as (inode, path); such a namespace may have no process yet still have addresses.
///
/// `ip netns add` creates the name as an empty file, then mounts the namespace on it: a
/// name on the directory's own file system is not mounted yet and is skipped (its inode
/// is the file's, not the namespace's).
pub(crate) fn named_namespaces(dir: &Path) -> Vec<(u64, PathBuf)> {
    list_named(dir, fs::metadata(dir).map(|m| m.dev()).ok()).0
}

/// [`named_namespaces`] given the device of `dir`, and whether a name was skipped as not
/// mounted yet.
fn list_named(dir: &Path, dir_dev: Option<u64>) -> (Vec<(u64, PathBuf)>, bool) {
    let Ok(entries) = fs::read_dir(dir) else {
        return (Vec::new(), false);
    };
    let mut unmounted = false;
    let names = entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            let meta = fs::metadata(&path).ok()?;
            let mounted = Some(meta.dev()) != dir_dev;
            unmounted |= !mounted;
            mounted.then_some((meta.ino(), path))
        })
        .take(4096)
        .collect();
    (names, unmounted)
}

/// A directory of namespace names (`/run/netns`) listed again only when it may hold new
/// ones: its modification time changed, it changed in the last [`RECENT`] (file times are
/// as coarse as a scheduler tick, so a name added just after a listing may not move it),
/// or the last listing found a name not mounted yet (mounting moves no time). One `stat`
/// instead of a listing and a `stat` per name, 50 times a second on an idle machine.
pub(crate) struct NamedWatch {
    dir: PathBuf,
    stamp: Option<(i64, i64, u64, u64)>,
    settled: bool,
}

/// How long after a change the directory is listed every time.
const RECENT: Duration = Duration::from_secs(2);

impl NamedWatch {
    pub(crate) fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            stamp: None,
            settled: false,
        }
    }

    /// The names in the directory when it may have changed since the last call.
    pub(crate) fn changed(&mut self) -> Option<Vec<(u64, PathBuf)>> {
        let meta = fs::metadata(&self.dir).ok();
        let stamp = meta
            .as_ref()
            .map(|m| (m.mtime(), m.mtime_nsec(), m.ino(), m.dev()));
        let recent = meta
            .and_then(|m| m.modified().ok())
            .is_none_or(|at| at.elapsed().map_or(true, |age| age < RECENT));
        if self.settled && stamp == self.stamp && !recent {
            return None;
        }
        let (names, unmounted) = list_named(&self.dir, stamp.map(|(_, _, _, dev)| dev));
        self.stamp = stamp;
        self.settled = !unmounted;
        Some(names)
    }
}

/// Runs `f` on a short-lived thread inside the network namespace at `ns_path`: `setns`
/// changes only that thread, and sockets `f` creates stay bound to the namespace they were
/// created in.
pub(crate) fn in_namespace<T: Send>(
    ns_path: &Path,
    f: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    let ns = File::open(ns_path)?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // setns changes only this thread, which ends when `f` returns.
                rustix::thread::move_into_link_name_space(
                    ns.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )?;
                f()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
    })
}

/// One network namespace and what is known of it.
pub(crate) struct Namespace {
    /// Inode of the namespace (`net:[inode]`), its identity.
    pub inode: u64,
    /// A process inside it, whose `/proc/PID/net` shows its tables.
    pub member: Option<Pid>,
    /// sock_diag inside it; `None` when it could not be opened or failed (then the
    /// `/proc/PID/net` tables are read instead).
    pub diag: Option<SockDiag>,
    pub table: SocketTable,
    /// Last re-read of each `/proc/PID/net` table on a miss, by (kind, IPv6).
    reloaded: Vec<((SockProto, bool), Instant)>,
    /// The last refresh of a table failed (kept for diagnostics).
    pub last_error: Option<String>,
    /// Who made it: those any user could have made are asked last.
    pub rank: Rank,
}

impl Namespace {
    /// A namespace, with its sock_diag socket when it could be opened.
    pub(crate) fn new(inode: u64, member: Option<Pid>, diag: Option<SockDiag>, rank: Rank) -> Self {
        Self {
            inode,
            member,
            diag,
            table: SocketTable::default(),
            reloaded: Vec::new(),
            last_error: None,
            rank,
        }
    }

    /// `/proc/PID/net` of the member, if any.
    fn net_dir(&self) -> Option<PathBuf> {
        self.member
            .map(|pid| PathBuf::from(format!("/proc/{pid}/net")))
    }

    /// Reads every socket table (for the namespaces there at start: flows that exist
    /// already are then found without asking the kernel one by one).
    pub(crate) fn load_all(&mut self) {
        self.last_error = None;
        for proto in [
            SockProto::Tcp,
            SockProto::Udp,
            SockProto::Ping,
            SockProto::Raw,
        ] {
            self.table.clear(proto);
            for ipv6 in [false, true] {
                self.load(proto, ipv6);
            }
        }
    }

    /// Forgets the cached sockets (once per interval). They are not read again: a lookup
    /// that misses asks the kernel for exactly the socket it needs, which is cheaper than
    /// dumping thousands of sockets each interval, and stale entries (a socket closed, its
    /// address reused) live at most one interval.
    pub(crate) fn forget_sockets(&mut self) {
        self.table = SocketTable::default();
    }

    /// Reads one table into the socket table (without clearing it first).
    fn load(&mut self, proto: SockProto, ipv6: bool) {
        let mut entries = Vec::new();
        let via_diag = matches!(proto, SockProto::Tcp | SockProto::Udp);
        let mut result = Err(io::Error::from(io::ErrorKind::Unsupported));
        if via_diag {
            if let Some(diag) = self.diag.as_mut() {
                result = diag.dump(proto, ipv6, &mut entries);
                if result.is_err() {
                    entries.clear();
                    self.diag = None; // fall back to /proc from now on
                }
            }
        }
        if result.is_err() {
            result = match self.net_dir() {
                Some(dir) => proc_net::read_table(&dir, proto, ipv6, &mut entries),
                None => Err(io::Error::from(io::ErrorKind::NotFound)),
            };
        }
        if let Err(e) = result {
            // A missing IPv6 table on a kernel without IPv6 is normal; record, go on.
            self.last_error = Some(format!("{}: {e}", proc_net::file_name(proto, ipv6)));
        }
        for entry in &entries {
            self.table.insert(entry);
        }
    }

    /// Re-reads the `/proc/PID/net` table of `proto` and family on a lookup miss, unless it
    /// was re-read in the last few milliseconds. Returns whether it was re-read.
    pub(crate) fn reload_from_proc(&mut self, proto: SockProto, ipv6: bool) -> bool {
        let key = (proto, ipv6);
        let now = Instant::now();
        if let Some((_, at)) = self.reloaded.iter_mut().find(|(k, _)| *k == key) {
            if now.duration_since(*at) < PROC_RELOAD_INTERVAL {
                return false;
            }
            *at = now;
        } else {
            self.reloaded.push((key, now));
        }
        let Some(dir) = self.net_dir() else {
            return false;
        };
        let mut entries = Vec::new();
        if proc_net::read_table(&dir, proto, ipv6, &mut entries).is_err() {
            return false;
        }
        // Only add: a concurrent table refresh is not needed for correctness, and entries
        // of closed sockets go at the next interval's refresh.
        for entry in &entries {
            self.table.insert(entry);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sets the modification time of `dir` to an hour ago.
    fn age(dir: &Path) {
        let hour_ago = rustix::fs::Timespec {
            tv_sec: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64
                - 3600,
            tv_nsec: 0,
        };
        let times = rustix::fs::Timestamps {
            last_access: hour_ago,
            last_modification: hour_ago,
        };
        rustix::fs::utimensat(rustix::fs::CWD, dir, &times, rustix::fs::AtFlags::empty()).unwrap();
    }

    #[test]
    fn a_names_directory_is_listed_again_only_once_it_may_have_changed() {
        let dir = tempfile::tempdir().unwrap();
        let mut watch = NamedWatch::new(dir.path());
        age(dir.path());
        assert_eq!(watch.changed(), Some(vec![]), "the first call lists");
        assert_eq!(watch.changed(), None, "nothing changed");

        // A name not mounted yet (a plain file) is skipped, and keeps the listing going
        // until it is mounted, even once the directory's time is old.
        fs::write(dir.path().join("soon"), b"").unwrap();
        assert_eq!(watch.changed(), Some(vec![]), "changed just now");
        age(dir.path());
        assert_eq!(watch.changed(), Some(vec![]), "a name is not mounted yet");
        fs::remove_file(dir.path().join("soon")).unwrap();
        assert_eq!(watch.changed(), Some(vec![]));
        age(dir.path());
        assert_eq!(watch.changed(), Some(vec![]), "its time changed");
        assert_eq!(watch.changed(), None);
    }

    #[test]
    fn namespace_links_parse_and_others_do_not() {
        assert_eq!(parse_ns_link("net:[4026531840]"), Some(4026531840));
        assert_eq!(parse_ns_link("mnt:[4026531840]"), None);
        assert_eq!(parse_ns_link("net:[x]"), None);
        assert_eq!(parse_ns_link("net:[1"), None);
    }

    #[test]
    fn this_process_has_a_namespace() {
        assert!(namespace_of(Path::new("/proc"), std::process::id()).is_some());
        assert_eq!(namespace_of(Path::new("/nonexistent"), 1), None);
    }

    #[test]
    fn code_runs_inside_a_namespace_entered_by_path() {
        let path = PathBuf::from(format!("/proc/{}/ns/net", std::process::id()));
        let inode = in_namespace(&path, || {
            Ok(namespace_of(Path::new("/proc"), std::process::id()))
        })
        .unwrap();
        assert!(inode.is_some());
        assert!(in_namespace(Path::new("/nonexistent"), || Ok(())).is_err());
    }
}
