//! Attribution of a new flow on a busy machine: 500 real child processes holding 10 real
//! sockets each (5,000 sockets), then `SystemOwners::owner` for a socket opened just now.
//! Needs root (sock_diag, other processes' /proc/PID/fd). Traffic only on 127.0.0.1.
//!
//! Three cases, because the inode → pid step depends on who opened the socket:
//! - `own_process`: the socket is in a process that already had sockets looked up (a busy
//!   client opening one more connection): found among recently active processes;
//! - `new_process`: a process started after the last lookup: found among new pids;
//! - `idle_process`: one of the 500 sleeping children, none of them looked up recently:
//!   needs a full `/proc` rescan (rate-limited by the engine), the worst case.
//!
//! Each case prints the cost of the first call for a new socket (wall and CPU time, found
//! or not), and — since a miss is retried by accounting on its schedule while background
//! work goes on — whether and when the process was found with those retries, and the calls
//! and CPU it took in all. Criterion's estimate covers the first call in the own-process case. Run with `cargo bench -p sockeye-engine --bench perf_attribution`.

#[allow(dead_code)]
#[path = "perf_support/cpu_time.rs"]
mod cpu_time;

use cpu_time::thread_cpu_ns;
use criterion::Criterion;
use sockeye_engine::accounting::AccountingConfig;
use sockeye_engine::attribution::SystemOwners;
use sockeye_engine::owner::OwnerLookup;
use sockeye_engine::Transport;
use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Child processes started.
const CHILDREN: usize = 500;
/// Environment variable that turns this binary into one of the children.
const CHILD_ENV: &str = "SOCKEYE_BENCH_ATTRIBUTION_CHILD";

/// A child: holds 10 sockets (a listener, two connections to it and their two accepted
/// ends, five bound UDP sockets), says `ready`, then opens one more TCP connection to
/// 127.0.0.1:PORT (from the environment) each time it gets SIGUSR1, until killed. No pipe
/// stays open, so the benchmark process itself holds only a few descriptors.
fn child_main(port: u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let addr = listener.local_addr().expect("addr");
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(TcpStream::connect(addr).expect("connect"));
        held.push(listener.accept().expect("accept").0);
    }
    let udp: Vec<UdpSocket> = (0..5)
        .map(|_| UdpSocket::bind("127.0.0.1:0").expect("udp"))
        .collect();
    // rustix has no safe signal-mask or sigwait calls: these stay libc.
    // SAFETY: sigemptyset initialises the whole local set before it is read; sigaddset and
    // pthread_sigmask only read and write that live set (the old-mask pointer may be null).
    let set = unsafe {
        let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(set.as_mut_ptr());
        let mut set = set.assume_init();
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    println!("ready");
    // Our stdout becomes /dev/null, so the parent's pipe reaches EOF.
    let null = std::fs::File::open("/dev/null").expect("/dev/null");
    rustix::stdio::dup2_stdout(&null).expect("stdout to /dev/null");
    drop(null);
    let mut extra = Vec::new();
    loop {
        let mut sig = 0;
        // SAFETY: `set` is an initialised sigset_t and `sig` a live int for the number.
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            break;
        }
        extra.push(TcpStream::connect(("127.0.0.1", port)).expect("connect"));
    }
    drop((listener, held, udp, extra));
}

struct Worker {
    child: Child,
}

impl Worker {
    fn start(port: u16) -> Worker {
        let exe = std::env::current_exe().expect("current exe");
        let mut child = Command::new(exe)
            .env(CHILD_ENV, port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn child");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("ready line");
        assert_eq!(line.trim(), "ready");
        Worker { child }
    }

    /// Has the child open a connection to `listener`; returns the child's local address
    /// (and keeps the accepted end in `accepted`).
    fn connect(&mut self, listener: &TcpListener, accepted: &mut Vec<TcpStream>) -> SocketAddr {
        let child = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(child, rustix::process::Signal::USR1).expect("SIGUSR1");
        let (stream, peer) = listener.accept().expect("accept");
        accepted.push(stream);
        peer
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Calls `refresh` once a second, as accounting does at the end of its intervals (socket
/// tables re-read, exited processes forgotten); without it cached entries would go stale.
struct Refresher(Instant);

impl Refresher {
    fn tick(&mut self, owners: &mut SystemOwners) {
        if self.0.elapsed() >= Duration::from_secs(1) {
            owners.refresh(&|_| true);
            self.0 = Instant::now();
        }
    }
}

/// Longest a lookup is retried before it counts as not found.
const GIVE_UP: Duration = Duration::from_secs(1);

/// What lookups of new sockets cost and when they found their process: the first call
/// (wall and this thread's CPU time), and the time until a call found the expected pid when
/// retried on accounting's own schedule (`AccountingConfig::retry`), as the capture thread
/// does for a flow whose owner is still unknown.
#[derive(Default)]
struct Samples {
    first_wall: Vec<Duration>,
    first_cpu: Vec<Duration>,
    found_first: usize,
    until_found: Vec<Duration>,
    calls: usize,
    cpu_total: Duration,
}

impl Samples {
    fn time(&mut self, mut lookup: impl FnMut() -> bool) {
        let retry = AccountingConfig::default().retry;
        let start = Instant::now();
        for attempt in 0.. {
            let (wall, cpu) = (Instant::now(), thread_cpu_ns());
            let ok = lookup();
            let cpu = Duration::from_nanos(thread_cpu_ns().saturating_sub(cpu));
            self.calls += 1;
            self.cpu_total += cpu;
            if attempt == 0 {
                self.first_wall.push(wall.elapsed());
                self.first_cpu.push(cpu);
                self.found_first += usize::from(ok);
            }
            if ok {
                self.until_found.push(start.elapsed());
                return;
            }
            let delay = retry.get(attempt).or(retry.last()).copied();
            let delay = delay.unwrap_or(Duration::from_millis(200));
            if start.elapsed() + delay > GIVE_UP {
                return;
            }
            std::thread::sleep(delay);
        }
    }

    fn print(mut self, name: &str) {
        let n = self.first_wall.len();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let at = |v: &mut Vec<Duration>, q: f64| {
            v.sort();
            if v.is_empty() {
                f64::NAN
            } else {
                ms(v[((v.len() as f64 - 1.0) * q).round() as usize])
            }
        };
        println!(
            "attribution/{name}: n={n}; first call: wall median {:.3} ms p90 {:.3} ms, \
             cpu median {:.3} ms p90 {:.3} ms, found {}/{n}; with retries: found {}/{n} \
             within {} ms, time to found median {:.1} ms p90 {:.1} ms; {:.2} calls and \
             {:.3} ms cpu per new socket",
            at(&mut self.first_wall, 0.5),
            at(&mut self.first_wall, 0.9),
            at(&mut self.first_cpu, 0.5),
            at(&mut self.first_cpu, 0.9),
            self.found_first,
            self.until_found.len(),
            GIVE_UP.as_millis(),
            at(&mut self.until_found, 0.5),
            at(&mut self.until_found, 0.9),
            self.calls as f64 / n.max(1) as f64,
            ms(self.cpu_total) / n.max(1) as f64,
        );
    }
}

fn main() {
    if let Some(port) = std::env::var(CHILD_ENV).ok().and_then(|p| p.parse().ok()) {
        child_main(port);
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let server = listener.local_addr().expect("addr");
    // 500 children with 10 sockets each, and this process's own descriptors.
    eprintln!("starting {CHILDREN} children with 10 sockets each ...");
    let mut workers: Vec<Worker> = (0..CHILDREN)
        .map(|_| Worker::start(server.port()))
        .collect();
    let started = Instant::now();
    let mut owners = SystemOwners::new().expect("SystemOwners::new (run as root)");
    eprintln!(
        "SystemOwners::new with {} processes on the machine: {:.1} ms",
        std::fs::read_dir("/proc")
            .map(|d| d
                .filter(|e| e.as_ref().is_ok_and(|e| e
                    .file_name()
                    .to_string_lossy()
                    .parse::<u32>()
                    .is_ok()))
                .count())
            .unwrap_or(0),
        started.elapsed().as_secs_f64() * 1e3
    );
    let me = std::process::id();
    let mut refresher = Refresher(Instant::now());
    let mut accepted = Vec::new();

    // Own process: a fresh connection from this (already looked-up) process.
    let mut own_lookup =
        |owners: &mut SystemOwners, accepted: &mut Vec<TcpStream>, samples: &mut Samples| {
            refresher.tick(owners);
            let client = TcpStream::connect(server).expect("connect");
            accepted.push(listener.accept().expect("accept").0);
            let local = client.local_addr().expect("addr");
            samples.time(|| {
                let got = owners.owner(Transport::Tcp, local, server);
                if got != Some(me) && std::env::var_os("SOCKEYE_BENCH_DEBUG").is_some() {
                    eprintln!("own_process miss: {local} -> {got:?}");
                }
                got == Some(me)
            });
            if accepted.len() > 64 {
                accepted.clear();
            }
        };
    // Prime: this process becomes a recently active one.
    own_lookup(&mut owners, &mut accepted, &mut Samples::default());
    let mut own = Samples::default();
    for _ in 0..100 {
        own_lookup(&mut owners, &mut accepted, &mut own);
    }
    own.print("own_process");

    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(50)
        .measurement_time(Duration::from_secs(5));
    c.bench_function("attribution/own_process", |b| {
        b.iter_custom(|iters| {
            // One call per new socket (no retries): what a new flow costs the capture thread.
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                refresher.tick(&mut owners);
                let client = TcpStream::connect(server).expect("connect");
                accepted.push(listener.accept().expect("accept").0);
                let local = client.local_addr().expect("addr");
                let t = Instant::now();
                black_box(owners.owner(Transport::Tcp, local, server));
                total += t.elapsed();
                if accepted.len() > 64 {
                    accepted.clear();
                }
            }
            total
        })
    });
    accepted.clear();

    // New process: a child started after the last lookup.
    let mut new = Samples::default();
    for _ in 0..40 {
        refresher.tick(&mut owners);
        let mut worker = Worker::start(server.port());
        let local = worker.connect(&listener, &mut accepted);
        let pid = worker.child.id();
        new.time(|| {
            let got = owners.owner(Transport::Tcp, local, server);
            if got != Some(pid) && std::env::var_os("SOCKEYE_BENCH_DEBUG").is_some() {
                eprintln!("new_process miss: {local} of {pid} -> {got:?}");
            }
            got == Some(pid)
        });
        drop(worker);
        accepted.clear();
    }
    new.print("new_process");

    // Idle process: one of the 500 sleeping children, in turn (each is looked up once, so
    // it is never among the recently active). Spaced like accounting's retries of new
    // flows (at least 100 ms apart), so the engine's full-scan rate limit lets scans run.
    let mut idle = Samples::default();
    for i in 0..40 {
        refresher.tick(&mut owners);
        let worker = &mut workers[(i * 12) % CHILDREN];
        let local = worker.connect(&listener, &mut accepted);
        std::thread::sleep(Duration::from_millis(110));
        let pid = worker.child.id();
        idle.time(|| owners.owner(Transport::Tcp, local, server) == Some(pid));
    }
    idle.print("idle_process");

    // The same, back to back (no spacing): shows what the rate limit returns meanwhile.
    let mut burst = Samples::default();
    for i in 0..40 {
        refresher.tick(&mut owners);
        let worker = &mut workers[(i * 12 + 7) % CHILDREN];
        let local = worker.connect(&listener, &mut accepted);
        let pid = worker.child.id();
        burst.time(|| owners.owner(Transport::Tcp, local, server) == Some(pid));
    }
    burst.print("idle_process_back_to_back");

    c.final_summary();
    drop(accepted);
    // Dropping a worker kills and reaps its child.
    drop(workers);
}
