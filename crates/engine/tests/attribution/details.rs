//! Process details: the app id of a process in a GNOME app scope (also another user's
//! look-alike of a known app), and thirty short-lived processes each found under its own
//! pid.

use super::support::{addr, recv_from, Script};
use sockeye_engine::attribution::SystemOwners;
use sockeye_engine::owner::OwnerLookup;
use sockeye_engine::Transport;
use std::path::PathBuf;

/// A cgroup `<hierarchy>/sockeye-attr-<pid>-<n>.slice/<unit>` holding one process (a
/// slice per test, so one test's clean-up never removes another's slice under it);
/// the process is moved back to the root cgroup and the directories removed on drop.
struct TestCgroup {
    root: PathBuf,
    slice: PathBuf,
    scope: PathBuf,
    pid: u32,
}

impl TestCgroup {
    /// The writable hierarchy systemd would use: cgroup2 if mounted, else the v1
    /// `name=systemd` one.
    fn hierarchy() -> PathBuf {
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
        let find = |pred: &dyn Fn(&[&str]) -> bool| {
            mounts.lines().find_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (f.len() > 3 && pred(&f)).then(|| PathBuf::from(f[1]))
            })
        };
        find(&|f| f[2] == "cgroup2")
            .or_else(|| find(&|f| f[2] == "cgroup" && f[3].contains("name=systemd")))
            .expect("a cgroup hierarchy to test app ids with")
    }

    fn new(unit: &str, pid: u32) -> Self {
        let root = Self::hierarchy();
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let slice = root.join(format!("sockeye-attr-{}-{n}.slice", std::process::id()));
        let scope = slice.join(unit);
        std::fs::create_dir_all(&scope).unwrap();
        let guard = Self {
            root,
            slice,
            scope,
            pid,
        };
        std::fs::write(guard.scope.join("cgroup.procs"), pid.to_string()).unwrap();
        guard
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(self.root.join("cgroup.procs"), self.pid.to_string());
        let _ = std::fs::remove_dir(&self.scope);
        let _ = std::fs::remove_dir(&self.slice);
    }
}

#[test]
fn a_process_in_a_gnome_app_scope_carries_its_app_id() {
    let mut owners = SystemOwners::new().unwrap();
    let mut child = Script::start(
        None,
        r#"
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
out(addr=a(u.getsockname()))
wait()
"#,
    );
    let local = addr(&child.line()["addr"]);
    let unit = format!("app-gnome-org.sockeye.Test\\x2dApp-{}.scope", child.pid());
    let _cgroup = TestCgroup::new(&unit, child.pid());
    let pid = owners.owner(Transport::Udp, local, "127.0.0.1:1".parse().unwrap());
    assert_eq!(pid, Some(child.pid()));
    let info = owners.process(child.pid()).unwrap();
    assert_eq!(info.app_id.as_deref(), Some("org.sockeye.Test-App"));
    drop(child);
}

#[test]
fn another_user_s_look_alike_firefox_scope_is_recorded_with_that_user() {
    let mut owners = SystemOwners::new().unwrap();
    // `nobody` plays bob, who ran `systemd-run --user --scope
    // --unit=app-gnome-org.mozilla.firefox-1` to look like the admin's Firefox.
    let mut child = Script::start(
        None,
        r#"
import os
os.setgroups([]); os.setgid(65534); os.setuid(65534)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
out(addr=a(u.getsockname()), uid=os.getuid())
wait()
"#,
    );
    let line = child.line();
    assert_eq!(line["uid"], 65534, "the script runs as nobody");
    let local = addr(&line["addr"]);
    let _cgroup = TestCgroup::new("app-gnome-org.mozilla.firefox-1.scope", child.pid());
    let pid = owners.owner(Transport::Udp, local, "127.0.0.1:1".parse().unwrap());
    assert_eq!(pid, Some(child.pid()));
    let info = owners.process(child.pid()).unwrap();
    // The app id the scope claims, with the uid that tells the GUI whose it is (the GUI
    // groups by both: tests of src/models/process_table).
    assert_eq!(info.app_id.as_deref(), Some("org.mozilla.firefox"));
    assert_eq!(info.uid, 65534);
    assert_eq!(info.user, "nobody");
    drop(child);
}

#[test]
fn thirty_short_lived_processes_are_each_found_under_their_own_pid() {
    let mut owners = SystemOwners::new().unwrap();
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let to = receiver.local_addr().unwrap();
    let mut credited = Vec::new();
    // One after the other, each living 50 ms after its datagram, as a shell loop of
    // short commands would.
    for _ in 0..30 {
        let mut child = Script::start(
            None,
            &format!(
                r#"
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"x", ("127.0.0.1", {}))
time.sleep(0.05)
"#,
                to.port()
            ),
        );
        let mut buf = [0u8; 8];
        let (_, from) = recv_from(&receiver, &mut buf);
        let got = owners.owner(Transport::Udp, from, to);
        child.wait_exit();
        credited.push((child.pid(), got));
    }
    let wrong: Vec<_> = credited
        .iter()
        .filter(|(pid, got)| *got != Some(*pid))
        .collect();
    assert!(wrong.is_empty(), "not credited to their sender: {wrong:?}");
    for (pid, _) in &credited {
        let info = owners.process(*pid).unwrap();
        assert_eq!(info.name, "python3");
    }
}
