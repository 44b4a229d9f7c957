//! Test scaffolding: Python child processes that print their sockets as JSON lines, test
//! network namespaces joined by a veth (cleaned up on drop), and polling with a deadline.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Helpers every child script starts with: `out(**fields)` prints one JSON line,
/// `a(sockname)` formats an address as Rust parses it, `wait()` blocks until the test
/// closes stdin.
const PRELUDE: &str = r#"
import socket, sys, json, time, ctypes
def a(s):
    return f"[{s[0]}]:{s[1]}" if ":" in s[0] else f"{s[0]}:{s[1]}"
def out(**kw):
    print(json.dumps(kw), flush=True)
def wait():
    sys.stdin.read()
"#;

/// A child process running a Python script; killed when dropped.
pub struct Script {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Script {
    /// Runs `script` with `/usr/bin/python3` (in namespace `netns` if given).
    pub fn start(netns: Option<&str>, script: &str) -> Self {
        let source = format!("{PRELUDE}\n{script}");
        let mut command = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "/usr/bin/python3", "-c", &source]);
                c
            }
            None => {
                let mut c = Command::new("/usr/bin/python3");
                c.args(["-c", &source]);
                c
            }
        };
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Self { child, stdout }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next JSON line the script printed.
    pub fn line(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read child");
        assert!(!line.is_empty(), "child exited before printing");
        serde_json::from_str(&line).expect("child printed JSON")
    }

    /// Closes the child's stdin: its `wait()` returns.
    pub fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }

    /// Waits (bounded) for the child to exit by itself.
    pub fn wait_exit(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().expect("try_wait").is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("child did not exit");
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn addr(value: &Value) -> SocketAddr {
    value
        .as_str()
        .expect("address string")
        .parse()
        .expect("address")
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("ip runs");
    assert!(status.success(), "ip {args:?} failed");
}

/// A network namespace joined to this one by a veth pair, with `host_ip` on this side
/// and `ns_ip` inside; removed when dropped (even when the test fails).
pub struct TestNamespace {
    pub name: String,
    host_if: String,
    pub host_ip: String,
    pub ns_ip: String,
}

impl TestNamespace {
    pub fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let name = format!("sockeye-attr-{pid}-{n}");
        let host_if = format!("sa{pid}{n}h");
        let ns_if = format!("sa{pid}{n}n");
        let subnet = format!("10.{}.{}", 150 + n, pid % 250);
        let guard = Self {
            name: name.clone(),
            host_if: host_if.clone(),
            host_ip: format!("{subnet}.1"),
            ns_ip: format!("{subnet}.2"),
        };
        ip(&["netns", "add", &name]);
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
        ]);
        ip(&["link", "set", &ns_if, "netns", &name]);
        ip(&[
            "addr",
            "add",
            &format!("{}/24", guard.host_ip),
            "dev",
            &host_if,
        ]);
        ip(&["link", "set", &host_if, "up"]);
        let in_ns = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &name, "ip"];
            all.extend_from_slice(args);
            ip(&all);
        };
        in_ns(&["addr", "add", &format!("{}/24", guard.ns_ip), "dev", &ns_if]);
        in_ns(&["link", "set", &ns_if, "up"]);
        in_ns(&["link", "set", "lo", "up"]);
        guard
    }

    /// Adds a second address (`.3`) on this side of the veth and returns it.
    pub fn add_host_address(&self) -> std::net::IpAddr {
        let extra = format!("{}.3", self.host_ip.rsplit_once('.').unwrap().0);
        ip(&["addr", "add", &format!("{extra}/24"), "dev", &self.host_if]);
        extra.parse().unwrap()
    }

    /// Runs a sysctl inside the namespace.
    pub fn sysctl(&self, setting: &str) {
        let status = Command::new("ip")
            .args(["netns", "exec", &self.name, "sysctl", "-qw", setting])
            .status()
            .expect("sysctl runs");
        assert!(status.success());
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Polls `probe` until it returns `Some` or 5 s pass.
pub fn poll<T>(mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `socket.recv_from`, again when a signal interrupts it (CI saw an EINTR here once; std
/// does not retry `recvfrom`).
pub fn recv_from(socket: &std::net::UdpSocket, buf: &mut [u8]) -> (usize, std::net::SocketAddr) {
    loop {
        match socket.recv_from(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other.expect("datagram within the read timeout"),
        }
    }
}
