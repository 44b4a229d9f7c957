//! The inode → pid cache against fake `/proc` trees: new, young, recent and vanished
//! processes, shared sockets, hostile entries.

use super::scan::{clock_ticks_per_second, parse_fdinfo_flags};
use super::*;
use std::fs;
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
        fs::write(dir.join("status"), format!("Name:\tp\nTgid:\t{pid}\n")).unwrap();
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

    /// Makes every known process old enough not to count as young.
    fn age(&mut self) {
        self.now_ticks = Some(1 << 40);
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
fn new_processes_are_found_from_the_last_pid_without_listing_proc() {
    let proc = FakeProc::new();
    let loadavg = |last: u32| {
        let text = format!("0.00 0.00 0.00 1/100 {last}\n");
        fs::write(proc.0.path().join("loadavg"), text).unwrap();
    };
    proc.process(10, 100, &[1]);
    loadavg(10);
    let mut holders = SocketHolders::new(proc.0.path());
    holders.full_scan();
    proc.process(12, 300, &[7]);
    // A thread of 12 holds the same fds but is not a process.
    proc.process(13, 300, &[7]);
    fs::write(proc.0.path().join("13/status"), "Tgid:\t12\n").unwrap();
    loadavg(13);
    assert_eq!(holders.owner_t(7), Some(12));
    assert_eq!(holders.counters.listings, 0);
    assert_eq!(holders.counters.new_pids, 1);
    // A pid allocated before its process is readable is probed again next time.
    loadavg(15);
    assert_eq!(holders.owner_t(8), None);
    proc.process(15, 400, &[8]);
    assert_eq!(holders.owner_t(8), Some(15));
    assert_eq!(holders.counters.new_pids, 2);
    assert_eq!(holders.counters.listings, 0);
    // Nothing new: no probe, no listing.
    assert_eq!(holders.owner_t(404), None);
    assert_eq!(holders.counters.listings, 0);
}

#[test]
fn a_last_pid_of_u32_max_in_loadavg_is_survived() {
    let proc = FakeProc::new();
    let max = format!("0.00 0.00 0.00 1/100 {}\n", Pid::MAX);
    fs::write(proc.0.path().join("loadavg"), max).unwrap();
    proc.process(10, 100, &[1]);
    let mut holders = SocketHolders::new(proc.0.path());
    holders.full_scan();
    assert_eq!(holders.owner_t(404), None);
    assert_eq!(holders.owner_t(1), Some(10));
}

#[test]
fn a_process_that_opens_its_socket_after_its_first_scan_is_rescanned_while_young() {
    let proc = FakeProc::new();
    let mut holders = SocketHolders::new(proc.0.path());
    holders.full_scan();
    let hz = clock_ticks_per_second();
    holders.now_ticks = Some(10 * hz);
    proc.process(30, 9 * hz, &[]); // started a second ago
    assert_eq!(holders.owner_t(1), None); // scanned as new, still without sockets
    proc.process(30, 9 * hz, &[9]);
    assert_eq!(holders.owner_t(9), Some(30), "young: read again");
    // Found by the cheap passes (read again whole, or guessed at its lowest free
    // descriptor as a process read for the first time lately), not by a sweep.
    let counters = holders.counters;
    assert_eq!(
        (counters.new_pids + counters.recent, counters.swept),
        (1, 0)
    );
}

#[test]
fn a_recently_active_process_is_rechecked_before_a_full_rescan() {
    let proc = FakeProc::new();
    proc.process(10, 100, &[1]);
    proc.process(20, 200, &[2]);
    let mut holders = SocketHolders::new(proc.0.path());
    holders.full_scan();
    assert_eq!(holders.owner_t(2), Some(20)); // 20 becomes recent
    holders.age();
    proc.process(20, 200, &[2, 5]);
    assert_eq!(holders.owner_t(5), Some(20));
    assert_eq!(holders.counters.recent, 1);
    assert_eq!(holders.counters.full_scans, 1);
}

#[test]
fn a_reused_descriptor_number_in_a_recent_process_is_found_without_a_full_rescan() {
    let proc = FakeProc::new();
    proc.process(20, 200, &[2]);
    let mut holders = SocketHolders::new(proc.0.path());
    holders.full_scan();
    assert_eq!(holders.owner_t(2), Some(20)); // 20 becomes recent
    proc.process(20, 200, &[6]); // fd 0 closed, and reused by a new socket
    holders.age();
    assert_eq!(holders.owner_t(6), Some(20), "found by the exact rescan");
    assert_eq!(holders.counters.full_scans, 1);
}

#[test]
fn an_idle_process_s_new_socket_is_found_by_the_sweeper_on_a_later_retry() {
    let proc = FakeProc::new();
    proc.process(10, 100, &[1]);
    let mut holders = SocketHolders::new(proc.0.path());
    holders.full_scan();
    holders.age();
    proc.process(10, 100, &[1, 5]); // old, not recently active
    assert_eq!(holders.owner_t(5), None, "a miss asks for a sweep");
    assert!(holders.sweeper.wait_for_result(Duration::from_secs(5)));
    assert_eq!(holders.owner_t(5), Some(10));
    assert_eq!(holders.counters.swept, 1);
    assert_eq!(
        holders.counters.full_scans, 1,
        "no sweep on the lookup's own time"
    );
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

#[test]
fn a_new_process_read_while_idle_has_its_first_socket_found_by_one_guess() {
    let proc = FakeProc::new();
    proc.process(10, 100, &[1]);
    let mut holders = SocketHolders::new(proc.0.path());
    holders.full_scan();
    proc.process(30, 300, &[]); // started, no socket yet
    holders.prepare(); // the capture thread is idle: 30 is read ahead
    proc.process(30, 300, &[7]); // its first socket, at the lowest free number
    assert_eq!(holders.owner_t(7), Some(30));
    let counters = holders.counters;
    assert_eq!((counters.recent, counters.new_pids), (1, 0), "one guess");
    assert_eq!(counters.full_scans, 1);
}

#[test]
fn a_process_reopening_the_same_descriptor_number_is_found_by_one_guess() {
    let proc = FakeProc::new();
    proc.process(20, 200, &[2]);
    let mut holders = SocketHolders::new(proc.0.path());
    holders.full_scan();
    holders.age();
    assert_eq!(holders.owner_t(2), Some(20)); // cached: 20 becomes recent
    for inode in 3..10 {
        // Each connection closes its socket and opens the next at the same number.
        proc.process(20, 200, &[inode]);
        assert_eq!(holders.owner_t(inode), Some(20));
    }
    assert_eq!(holders.counters.recent, 7, "each found by a guess");
    assert_eq!(holders.counters.full_scans, 1);
}
