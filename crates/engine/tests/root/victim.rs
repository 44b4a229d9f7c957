//! An unprivileged victim stuck in a FUSE file system that never answers (`fuse.rs`), so
//! that reading one of its `/proc/PID/` files hangs. Shared by the engine's root tests and
//! the helper's D-Bus tests, which include this file and `fuse.rs` by path.

use crate::fuse::StalledFuse;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Wedges its own mmap lock behind a FUSE read, so reading its `/proc/PID/cmdline` hangs.
pub const MMAP_LOCK_VICTIM: &str = include_str!("fuse_victim.py");
/// The user the victim runs as: the attack needs no privilege.
const NOBODY: u32 = 65534;

/// A victim process and the FUSE file system it is stuck in. On drop it is killed,
/// the FUSE connection aborted (only then can its stuck thread, and so the process, end)
/// and the process reaped.
pub struct Victim {
    child: Child,
    pub pid: u32,
    fuse: Option<StalledFuse>,
}

impl Victim {
    /// Starts `script` with the `python` interpreter, as nobody, with `path` (on `fuse`)
    /// and 127.0.0.1:`port` to send to.
    pub fn start(python: &str, script: &str, fuse: StalledFuse, path: &Path, port: u16) -> Victim {
        let mut child = Command::new(python)
            .args(["-S", "-c", script])
            .arg(path)
            .arg(port.to_string())
            .uid(NOBODY)
            .gid(NOBODY)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the victim");
        // A victim that failed half-way may never close its output (a thread stuck in
        // FUSE keeps it open), so its line is awaited with a deadline.
        let stdout = child.stdout.take().expect("victim stdout");
        let (sender, line) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = line
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_default();
        let victim = Victim {
            pid: child.id(),
            child,
            fuse: Some(fuse),
        };
        assert!(
            line.starts_with("ready "),
            "the victim did not start: {line:?}"
        );
        victim
    }

    /// READ requests the victim's FUSE server holds unanswered.
    pub fn reads_held(&self) -> u32 {
        self.fuse
            .as_ref()
            .map_or(0, |f| f.reads_held.load(Ordering::SeqCst))
    }

    /// Waits until one of the victim's threads sits in `mmap`, behind the thread that
    /// holds its mmap lock in FUSE: from then on, its command line cannot be read.
    pub fn wait_until_wedged(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let in_mmap = || {
            let tasks = std::fs::read_dir(format!("/proc/{}/task", self.pid)).ok()?;
            let found = tasks.flatten().any(|task| {
                std::fs::read_to_string(task.path().join("syscall"))
                    .is_ok_and(|s| s.split_whitespace().next() == Some(&libc::SYS_mmap.to_string()))
            });
            Some(found)
        };
        while in_mmap() != Some(true) {
            assert!(
                Instant::now() < deadline,
                "the victim's writer never blocked"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts a plain read of the victim's `/proc/PID/<file>` on a thread of its own and
    /// asserts that it is still held after 200 ms: the attack is live.
    pub fn hold_a_read(&self, file: &str) -> HeldRead {
        let (done, returned) = mpsc::channel();
        let path = format!("/proc/{}/{file}", self.pid);
        std::thread::spawn(move || {
            let _ = done.send(std::fs::read(path).map(drop));
        });
        assert!(
            returned.recv_timeout(Duration::from_millis(200)).is_err(),
            "reading the victim's {file} returned: the attack is not live"
        );
        HeldRead(returned)
    }

    /// Lets the victim send its traffic.
    pub fn go(&mut self) {
        let stdin = self.child.stdin.as_mut().expect("victim stdin");
        stdin.write_all(b"g").expect("start the victim's traffic");
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        drop(self.fuse.take());
        let _ = self.child.wait();
    }
}

/// A read of a victim's `/proc/PID/` file that hangs in FUSE ([`Victim::hold_a_read`]).
pub struct HeldRead(mpsc::Receiver<std::io::Result<()>>);

impl HeldRead {
    /// Whether the read returns within `limit`, as it must once the victim is dropped and
    /// its FUSE connection aborted.
    pub fn returns_within(&self, limit: Duration) -> bool {
        self.0.recv_timeout(limit).is_ok()
    }
}
