//! The sandbox, checked from inside the running helper (issue 20, item 5): after start-up
//! it cannot write in `/etc` or `/proc/sys`, open a device, ptrace or read pid 1's memory,
//! signal another process, run a program, mount, load BPF, open a Unix socket or leave its
//! network namespace — while capture in the same run still attributes known
//! traffic. The helper under test is built with the `sandbox-probe` feature, whose hook
//! (`src/sandbox/probe.rs`, asked for by `SOCKEYE_SANDBOX_PROBE=1`) makes each attempt on
//! a thread started after the sandbox and prints the errno it got.

use crate::common::{self, Helper, Sender};
use futures_lite::StreamExt;
use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Where a denial comes from: the read-only mounts answer `EROFS`, `nodev` `EACCES`, the
/// seccomp filter `EPERM`.
const READ_ONLY: i32 = libc::EROFS;
const NODEV: i32 = libc::EACCES;
const SECCOMP: i32 = libc::EPERM;

/// Each attempt of the probe and the errno the sandbox must give it. Without the sandbox
/// every one of them succeeds or fails with another errno (see `probe.rs`).
const EXPECTED_DENIALS: &[(&str, i32)] = &[
    ("etc_create_file", READ_ONLY),
    ("etc_open_for_writing", READ_ONLY),
    ("etc_mkdir", READ_ONLY),
    ("proc_sys_open_for_writing", READ_ONLY),
    ("dev_open_for_writing", NODEV),
    ("ptrace_seize_pid1", SECCOMP),
    ("process_vm_readv_pid1", SECCOMP),
    ("process_vm_writev_pid1", SECCOMP),
    ("pidfd_open_pid1", SECCOMP),
    ("signal_pid1", SECCOMP),
    // The same on a root process of the test's own, which root may trace (pid 1 may not
    // be, on some machines, even by root): without the sandbox these succeed.
    ("ptrace_seize_target", SECCOMP),
    ("process_vm_readv_target", SECCOMP),
    ("process_vm_writev_target", SECCOMP),
    ("pidfd_open_target", SECCOMP),
    ("signal_target", SECCOMP),
    ("execve", SECCOMP),
    ("mount", SECCOMP),
    ("setns", SECCOMP),
    ("unshare", SECCOMP),
    ("bpf", SECCOMP),
    ("perf_event_open", SECCOMP),
    ("userfaultfd", SECCOMP),
    ("open_by_handle_at", SECCOMP),
    ("keyctl", SECCOMP),
    ("unix_socket_connect", SECCOMP),
    ("tiocsti", SECCOMP),
];

/// A process for the probe to reach into; killed on drop.
struct Target(std::process::Child);

impl Target {
    fn start() -> Target {
        Target(Command::new("sleep").arg("600").spawn().unwrap())
    }

    fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads the helper's stderr on a thread; the probe's JSON arrives on `probe`, every
/// line is kept for failure messages.
fn watch_stderr(stderr: std::process::ChildStderr) -> mpsc::Receiver<String> {
    let (sender, probe) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("helper: {line}");
            if let Some(json) = line.strip_prefix("sockeye-helper: sandbox probe: ") {
                let _ = sender.send(json.to_owned());
            }
        }
    });
    probe
}

/// Checks the probe's report: every attempt denied by the expected half of the sandbox,
/// every needed read still allowed.
fn assert_denied(report: &str) {
    let report: serde_json::Value = serde_json::from_str(report).expect("probe JSON");
    // Root (CAP_SYS_ADMIN) on Linux 6.x and x86_64 or aarch64 here: no half may be missing.
    assert_eq!(report["filesystem"], "read-only", "{report}");
    assert_eq!(report["syscalls"], "installed", "{report}");
    let denied = report["denied"].as_object().expect("denied attempts");
    assert_eq!(denied.len(), EXPECTED_DENIALS.len(), "{denied:?}");
    for &(attempt, errno) in EXPECTED_DENIALS {
        assert_eq!(
            denied.get(attempt).and_then(serde_json::Value::as_i64),
            Some(i64::from(errno)),
            "{attempt}: {denied:?}"
        );
    }
    let allowed = report["allowed"].as_object().expect("allowed attempts");
    assert!(allowed.len() >= 5, "{allowed:?}");
    for (attempt, errno) in allowed {
        assert_eq!(errno, 0, "{attempt} must still work: {allowed:?}");
    }
}

/// Datagrams of the known burst, and their bytes on `lo` (payload + 42 per datagram).
const COUNT: usize = 40;
const DATAGRAM: usize = 1000;
const WIRE_BYTES: u64 = (COUNT * (DATAGRAM + 42)) as u64;

/// Sends the known burst from a new process to a socket of ours; returns the sender.
fn known_burst() -> Sender {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let sender = Sender::start(&[], "127.0.0.1", port, COUNT, DATAGRAM);
    receiver
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buffer = [0u8; 2048];
    for _ in 0..COUNT {
        receiver.recv(&mut buffer).expect("datagram of the burst");
    }
    sender
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_helper_cannot_write_etc_or_trace_pid_1_yet_still_attributes_traffic() {
    if !sockeye_engine::testing::root_or_skip("the sandbox is tested on the root helper") {
        return;
    }
    let target = Target::start();
    let (ours, theirs) = UnixStream::pair().unwrap();
    let theirs = std::os::fd::OwnedFd::from(theirs);
    let mut child = Command::new(common::HELPER)
        .arg("--stdio")
        .env("SOCKEYE_SANDBOX_PROBE", "1")
        .env("SOCKEYE_SANDBOX_PROBE_TARGET", target.pid())
        .stdin(theirs.try_clone().unwrap())
        .stdout(theirs)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let probe = watch_stderr(child.stderr.take().unwrap());
    let helper = Helper { child };
    let report = probe
        .recv_timeout(Duration::from_secs(10))
        .expect("the probe's line within 10 s");
    assert_denied(&report);

    // The same helper, in the same run, still captures and attributes.
    let (_connection, proxy) = common::client(ours).await;
    let mut updates = proxy.receive_updated().await.unwrap();
    proxy.start(200).await.expect("Start inside the sandbox");
    tokio::time::timeout(Duration::from_secs(10), updates.next())
        .await
        .expect("first update");
    let sender = known_burst();
    let mut sent = None;
    for _ in 0..50 {
        let Ok(Some(signal)) = tokio::time::timeout(Duration::from_secs(2), updates.next()).await
        else {
            continue;
        };
        let update = signal.args().unwrap().update;
        sent = update
            .processes
            .iter()
            .find(|p| p.pid == sender.0.id())
            .map(|p| p.sent_bytes);
        if sent == Some(WIRE_BYTES) {
            break;
        }
    }
    assert_eq!(sent, Some(WIRE_BYTES), "the burst credited to its sender");
    assert!(common::is_running(helper.pid()), "the helper survived");
}

#[test]
fn json_mode_is_sandboxed_the_same_and_still_attributes_traffic() {
    if !sockeye_engine::testing::root_or_skip("the sandbox is tested on the root helper") {
        return;
    }
    let target = Target::start();
    let mut child = Command::new(common::HELPER)
        .args(["--json", "--interval", "200", "--interface", "lo"])
        .env("SOCKEYE_SANDBOX_PROBE", "1")
        .env("SOCKEYE_SANDBOX_PROBE_TARGET", target.pid())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let probe = watch_stderr(child.stderr.take().unwrap());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let helper = Helper { child };
    let report = probe
        .recv_timeout(Duration::from_secs(10))
        .expect("the probe's line within 10 s");
    assert_denied(&report);
    // Capturing once the first line is out.
    let first = lines.next().expect("a first line").expect("read");
    assert!(first.starts_with('{'), "{first}");
    let sender = known_burst();
    let mut sent = None;
    // 50 lines of 200 ms: 10 s.
    for line in lines.take(50) {
        let line: serde_json::Value = serde_json::from_str(&line.expect("read")).expect("JSON");
        sent = line["processes"]
            .as_array()
            .expect("processes")
            .iter()
            .find(|p| p["pid"] == sender.0.id())
            .and_then(|p| p["sent_bytes"].as_u64());
        if sent == Some(WIRE_BYTES) {
            break;
        }
    }
    assert_eq!(sent, Some(WIRE_BYTES), "the burst credited to its sender");
    assert!(common::is_running(helper.pid()), "the helper survived");
}
