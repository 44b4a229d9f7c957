//! Starting the real helper on a socketpair and polling for conditions with a deadline.

use sockeye_protocol::Capture1Proxy;
use std::net::UdpSocket;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const HELPER: &str = env!("CARGO_BIN_EXE_sockeye-helper");

/// A helper process started on one end of a socketpair.
pub struct Helper {
    pub child: Child,
}

impl Helper {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits at most `limit` for the helper to exit; returns its status and how long it took.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<(std::process::ExitStatus, Duration)> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some((status, started.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `sockeye-helper --stdio` with `socket` as its stdin and stdout.
pub fn spawn_helper(socket: OwnedFd) -> Helper {
    spawn_helper_bounded(socket, None)
}

/// Like [`spawn_helper`]; with `bounding` (a `setpriv --bounding-set` list such as
/// `-net_raw`) the helper starts with fewer capabilities, to show what each one is for.
pub fn spawn_helper_bounded(socket: OwnedFd, bounding: Option<&str>) -> Helper {
    let mut command = match bounding {
        Some(set) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--bounding-set={set}")).arg("--").arg(HELPER);
            c
        }
        None => Command::new(HELPER),
    };
    let child = command
        .arg("--stdio")
        .stdin(socket.try_clone().unwrap())
        .stdout(socket)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn sockeye-helper");
    Helper { child }
}

/// Helper plus a connected client.
pub struct Session {
    pub helper: Helper,
    pub connection: zbus::Connection,
    pub proxy: Capture1Proxy<'static>,
}

/// Starts the helper and connects to it as its client (the test process made the pair).
pub async fn connect() -> Session {
    connect_bounded(None).await
}

/// [`connect`] to a helper started by [`spawn_helper_bounded`].
pub async fn connect_bounded(bounding: Option<&str>) -> Session {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let helper = spawn_helper_bounded(theirs.into(), bounding);
    let (connection, proxy) = client(ours).await;
    Session {
        helper,
        connection,
        proxy,
    }
}

/// The zbus p2p client side on `stream`.
pub async fn client(stream: UnixStream) -> (zbus::Connection, Capture1Proxy<'static>) {
    stream.set_nonblocking(true).unwrap();
    let stream = tokio::net::UnixStream::from_std(stream).unwrap();
    let connection = zbus::connection::Builder::unix_stream(stream)
        .p2p()
        .build()
        .await
        .expect("p2p handshake with the helper");
    let proxy = Capture1Proxy::new(&connection).await.unwrap();
    (connection, proxy)
}

/// Polls `condition` every 10 ms until it holds or `limit` passes.
pub fn poll_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if started.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether process `pid` exists and is not a zombie.
pub fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

/// Whether process `pid` has installed its SIGTERM handler (`SigCgt` bit 15), i.e. it is
/// past start-up.
pub fn handles_sigterm(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (rustix::process::Signal::TERM.as_raw() - 1)) != 0)
}

/// Packet sockets (pcap handles) process `pid` holds: its socket inodes that appear in
/// `/proc/<pid>/net/packet`.
pub fn packet_socket_count(pid: u32) -> usize {
    let Ok(table) = std::fs::read_to_string(format!("/proc/{pid}/net/packet")) else {
        return 0;
    };
    let packet_inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().last().map(str::to_owned))
        .collect();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            let inode = target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .to_owned();
            Some(inode)
        })
        .filter(|inode| packet_inodes.contains(inode))
        .count()
}

/// Whether the engine can capture here at all (the stub on main cannot). Traffic tests
/// need it; they fail, not skip, when it is missing so nobody mistakes a stub for a pass.
pub fn engine_error(result: &zbus::Result<()>) -> Option<String> {
    result.as_ref().err().map(|e| e.to_string())
}

/// `prefix…` runs one Python process (no child holds its socket, so the pid is certain)
/// that sends `count` datagrams of `size` bytes to `to` and stays alive until killed.
pub struct Sender(pub Child);

impl Sender {
    pub fn start(prefix: &[&str], to: &str, port: u16, count: usize, size: usize) -> Sender {
        Sender::start_paced(prefix, to, port, count, size, 0)
    }

    /// Like [`Sender::start`], pausing `pause_ms` milliseconds after each datagram.
    pub fn start_paced(
        prefix: &[&str],
        to: &str,
        port: u16,
        count: usize,
        size: usize,
        pause_ms: u64,
    ) -> Sender {
        let script = format!(
            "import socket, time\n\
             s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             s.connect(('{to}', {port}))\n\
             for _ in range({count}): s.send(bytes({size})); time.sleep({pause_ms} / 1000)\n\
             time.sleep(60)\n"
        );
        let mut command = Command::new(prefix.first().copied().unwrap_or(PYTHON));
        if !prefix.is_empty() {
            command.args(&prefix[1..]).arg(PYTHON);
        }
        Sender(command.arg("-c").arg(script).spawn().unwrap())
    }
}

/// The interpreter of the test's Python processes.
pub const PYTHON: &str = "/usr/bin/python3";

impl Drop for Sender {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Number of perf event descriptors `pid` holds (the engine's connect tracepoint, one per
/// CPU, opened before the helper drops its capabilities).
pub fn perf_event_count(pid: u32) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy() == "anon_inode:[perf_event]")
        .count()
}

/// Receives datagrams until `bytes` arrived; returns the number of datagrams.
pub fn receive(socket: &UdpSocket, bytes: usize) -> usize {
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buffer = vec![0u8; 65536];
    let (mut total, mut datagrams) = (0, 0);
    while total < bytes {
        total += socket.recv(&mut buffer).expect("datagram from the sender");
        datagrams += 1;
    }
    datagrams
}

/// On `lo`, each datagram's wire length is its payload plus 14 (Ethernet) + 20 (IPv4) +
/// 8 (UDP) bytes.
pub fn wire_bytes(payload: usize, datagrams: usize) -> u64 {
    (payload + 42 * datagrams) as u64
}
