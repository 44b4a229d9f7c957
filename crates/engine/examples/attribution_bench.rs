//! Micro-benchmark of the new-flow lookup (`SystemOwners::owner`) on a machine made busy
//! with 500 extra processes holding 10 sockets each (5,000 sockets); prints a table of
//! median and 90th-percentile latencies per path. Run as root, in release mode:
//! `cargo run --release -p sockeye-engine --example attribution_bench`.

use rustix::net::{AddressFamily, SocketAddrV4, SocketType};
use rustix::process::{Pid, WaitOptions};
use sockeye_engine::attribution::SystemOwners;
use sockeye_engine::owner::OwnerLookup;
use sockeye_engine::Transport;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

const PROCESSES: usize = 500;
const SOCKETS_PER_PROCESS: usize = 10;
const ROUNDS: usize = 200;

/// A forked child holding sockets; on each byte from `command` it opens one more UDP
/// socket (byte 2: after closing the one it opened last, so the new one reuses its
/// descriptor number) and writes its port to the shared answer pipe; on EOF it exits.
struct Worker {
    pid: Pid,
    command: OwnedFd,
}

impl Worker {
    /// Its pid, as attribution reports it.
    fn pid(&self) -> u32 {
        self.pid.as_raw_nonzero().get().unsigned_abs()
    }
}

/// Opens a UDP socket on 127.0.0.1 (any port), returning it and its port (0 when that
/// could not be read).
fn udp_socket() -> Option<(OwnedFd, u16)> {
    let fd = rustix::net::socket(AddressFamily::INET, SocketType::DGRAM, None).ok()?;
    let _ = rustix::net::bind(&fd, &SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
    let port = rustix::net::getsockname(&fd)
        .ok()
        .and_then(|addr| SocketAddrV4::try_from(addr).ok())
        .map_or(0, |addr| addr.port());
    Some((fd, port))
}

/// Forks a worker; the child closes the command pipes of the `earlier` workers so each
/// holds only its own descriptors.
fn spawn_worker(earlier: &mut Vec<Worker>, answer: BorrowedFd<'_>) -> Worker {
    let (cmd_read, cmd_write) = rustix::pipe::pipe().expect("pipe");
    // SAFETY: the child runs only `worker_main`, which makes async-signal-safe calls (no
    // allocation or lock: a thread of `SystemOwners` may hold one at the fork) and leaves
    // with _exit, never returning into the parent's code.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        drop(cmd_write);
        worker_main(earlier, cmd_read, answer);
    }
    Worker {
        pid: Pid::from_raw(pid).expect("a child's pid"),
        command: cmd_write,
    }
}

/// The forked child: see [`Worker`].
fn worker_main(earlier: &mut Vec<Worker>, command: OwnedFd, answer: BorrowedFd<'_>) -> ! {
    // Closes the inherited descriptors (the buffer itself is not freed).
    earlier.clear();
    for _ in 0..SOCKETS_PER_PROCESS {
        // Held until the child exits.
        std::mem::forget(udp_socket());
    }
    let mut byte = [0u8];
    let mut last: Option<OwnedFd> = None;
    while rustix::io::read(&command, &mut byte) == Ok(1) {
        if byte[0] == REUSE {
            drop(last.take());
        }
        let (fd, port) = udp_socket().map_or((None, 0), |(fd, port)| (Some(fd), port));
        // The one opened before stays held.
        std::mem::forget(std::mem::replace(&mut last, fd));
        let _ = rustix::io::write(answer, &port.to_ne_bytes());
    }
    // SAFETY: _exit takes no pointers; it ends the child at once, without running the
    // parent's exit handlers or flushing stdio buffers copied from it.
    unsafe { libc::_exit(0) }
}

/// Command bytes to a worker: open one more socket; close the last one and open another.
const OPEN: u8 = 1;
const REUSE: u8 = 2;

/// Asks `worker` to open a new socket and returns its port.
fn new_socket_in(worker: &Worker, answer: BorrowedFd<'_>) -> u16 {
    socket_command(worker, answer, OPEN)
}

/// Sends `command` to `worker` and returns the port of the socket it opened.
fn socket_command(worker: &Worker, answer: BorrowedFd<'_>, command: u8) -> u16 {
    let mut port = [0u8; 2];
    rustix::io::write(&worker.command, &[command]).expect("command to a worker");
    // A 2-byte write to a pipe arrives whole.
    rustix::io::read(answer, &mut port).expect("answer of a worker");
    u16::from_ne_bytes(port)
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i]
}

struct Row {
    path: &'static str,
    samples: Vec<Duration>,
    found: usize,
}

fn main() {
    let (answer_read, answer_write) = rustix::pipe::pipe().expect("pipe");
    let (answer_read, answer_write) = (answer_read.as_fd(), answer_write.as_fd());
    let mut workers: Vec<Worker> = Vec::with_capacity(PROCESSES);
    for _ in 0..PROCESSES {
        let w = spawn_worker(&mut workers, answer_write);
        workers.push(w);
    }
    // Let every worker open its sockets: ask each for one more and wait for the answer.
    for w in &workers {
        new_socket_in(w, answer_read);
    }
    let started = Instant::now();
    let mut owners = SystemOwners::new().expect("attribution starts");
    let setup = started.elapsed();
    let peer = SocketAddr::from((Ipv4Addr::LOCALHOST, 9));
    let mut rows = Vec::new();

    // 1. A new socket in a new, short-lived process (the short-lived-process case).
    let mut samples = Vec::new();
    let mut found = 0;
    for _ in 0..ROUNDS {
        let fresh = spawn_worker(&mut workers, answer_write);
        let port = new_socket_in(&fresh, answer_read);
        let local = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let t = Instant::now();
        let pid = owners.owner(Transport::Udp, local, peer);
        samples.push(t.elapsed());
        found += usize::from(pid == Some(fresh.pid()));
        stop(fresh);
    }
    rows.push(Row {
        path: "new socket, new process",
        samples,
        found,
    });

    // 2. A new socket in a recently active process (one whose socket was just looked up),
    //    on a new descriptor number; 3. the same on a reused descriptor number.
    let active = &workers[0];
    let warm = new_socket_in(active, answer_read);
    let warm = SocketAddr::from((Ipv4Addr::LOCALHOST, warm));
    let deadline = Instant::now() + Duration::from_secs(5);
    while owners.owner(Transport::Udp, warm, peer).is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut known = Vec::new();
    for (label, command) in [
        ("new socket, active process", OPEN),
        ("same, reused fd number", REUSE),
    ] {
        let mut samples = Vec::new();
        let mut found = 0;
        for _ in 0..ROUNDS {
            let port = socket_command(active, answer_read, command);
            let local = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let t = Instant::now();
            let pid = owners.owner(Transport::Udp, local, peer);
            samples.push(t.elapsed());
            found += usize::from(pid == Some(active.pid()));
            if command == OPEN {
                known.push(local);
            }
        }
        rows.push(Row {
            path: label,
            samples,
            found,
        });
    }

    // 4. A socket already looked up once (table, inode cache and details all hit).
    rows.push(measure("cached socket", &known, &mut owners, peer));

    // 5. A new socket in an idle process: the first lookup (which misses and asks the
    //    sweeper thread), and the time until a retry on accounting's back-off schedule
    //    (2, 5, 10, 20, 50, 100, 200, 200… ms) finds it.
    let mut first = Vec::new();
    let mut until_found = Vec::new();
    let mut found = 0;
    for i in 0..40 {
        let w = &workers[1 + (i * 37 + 11) % (PROCESSES - 1)];
        let port = new_socket_in(w, answer_read);
        let local = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let started = Instant::now();
        let mut pid = owners.owner(Transport::Udp, local, peer);
        first.push(started.elapsed());
        let retries = [2u64, 5, 10, 20, 50, 100].into_iter().chain([200; 10]);
        let mut since = Instant::now();
        for delay in retries {
            if pid.is_some() {
                break;
            }
            let wait = Duration::from_millis(delay).saturating_sub(since.elapsed());
            std::thread::sleep(wait);
            since = Instant::now();
            pid = owners.owner(Transport::Udp, local, peer);
        }
        if pid == Some(w.pid()) {
            found += 1;
            until_found.push(started.elapsed());
        }
    }
    rows.push(Row {
        path: "idle process, 1st lookup",
        samples: first,
        found: 0,
    });
    rows.push(Row {
        path: "idle process, until found",
        samples: until_found,
        found,
    });

    // 6. The once-per-interval refresh (namespaces, addresses, socket tables, exits).
    let mut samples = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        owners.refresh(&|_| true);
        samples.push(t.elapsed());
    }
    rows.push(Row {
        path: "refresh()",
        samples,
        found: 0,
    });

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{PROCESSES} processes x {SOCKETS_PER_PROCESS}+ UDP sockets; SystemOwners::new() took {:.1} ms; loadavg {}",
        setup.as_secs_f64() * 1e3,
        load.trim()
    );
    println!(
        "{:<28} {:>7} {:>11} {:>11} {:>11}",
        "path", "rounds", "median µs", "p90 µs", "found"
    );
    for mut row in rows {
        let n = row.samples.len();
        let median = percentile(&mut row.samples, 0.5);
        let p90 = percentile(&mut row.samples, 0.9);
        println!(
            "{:<28} {:>7} {:>11.1} {:>11.1} {:>8}/{n}",
            row.path,
            n,
            median.as_secs_f64() * 1e6,
            p90.as_secs_f64() * 1e6,
            row.found
        );
    }
    for w in workers {
        stop(w);
    }
}

fn measure(
    path: &'static str,
    locals: &[SocketAddr],
    owners: &mut SystemOwners,
    peer: SocketAddr,
) -> Row {
    let mut samples = Vec::new();
    let mut found = 0;
    for &local in locals {
        let t = Instant::now();
        let pid = owners.owner(Transport::Udp, local, peer);
        samples.push(t.elapsed());
        found += usize::from(pid.is_some());
    }
    Row {
        path,
        samples,
        found,
    }
}

/// Ends a worker: EOF on its command pipe, then reap it.
fn stop(worker: Worker) {
    drop(worker.command);
    let _ = rustix::process::waitpid(Some(worker.pid), WaitOptions::empty());
}
