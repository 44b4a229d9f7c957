//! Churn soak: one million short TCP connections from 10,000 short-lived processes through
//! the engine's parse → attribute → account path, on a simulated clock (1,000 connections
//! per simulated second, an accounting interval per simulated second). Prints heap (from a
//! counting global allocator) and RSS as it goes, so growth after warm-up shows, and the
//! allocations per packet: overall, and in a steady window of packets on known flows.
//!
//! `cargo run --release -p sockeye-engine --example soak [-- CONNECTIONS [PER_SECOND]]`
//!
//! Owners come from the engine's fake lookup (`sockeye_engine::testing`, the `testing`
//! feature): process N owns the connections N*100 .. N*100+99 and
//! exits after them (its details are then kept only while accounting references it).

use etherparse::PacketBuilder;
use sockeye_engine::accounting::{Accounting, AccountingConfig};
use sockeye_engine::owner::Pid;
use sockeye_engine::parse::{parse_frame, FragmentTable, LinkType};
use sockeye_engine::testing::FakeOwners;
use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Counts allocations and live heap bytes.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        let live = LIVE.fetch_add(layout.size() as u64, Relaxed) + layout.size() as u64;
        PEAK.fetch_max(live, Relaxed);
        // SAFETY: `layout` is our caller's, valid for `GlobalAlloc::alloc` (non-zero size).
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as u64, Relaxed);
        // SAFETY: `ptr` came from `System` (every allocation here does) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        let live = LIVE.fetch_add(new_size as u64, Relaxed) + new_size as u64;
        LIVE.fetch_sub(layout.size() as u64, Relaxed);
        PEAK.fetch_max(live, Relaxed);
        // SAFETY: `ptr` came from `System` with `layout`; `new_size` is our caller's,
        // non-zero and valid for `layout`'s alignment.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Connections per simulated second, unless given as the second argument. Accounting allows
/// 4,000 first owner lookups a second (a port scan must not cost one per packet), so rates
/// above 2,000 connections a second (two ends each) leave flows unattributed by design.
const RATE: u64 = 1_000;
/// Connections each short-lived process makes before it exits.
const PER_PROCESS: u64 = 100;
const LOCAL: [u8; 4] = [192, 0, 2, 10];

/// Ephemeral ports the simulated kernel hands out, in turn (so 4-tuples recur).
const PORTS: u64 = 28_232;
const FIRST_PORT: u64 = 32_768;
const FIRST_PID: u64 = 100_000;
/// The connection under way (the driver moves it on; the fake lookup reads it).
static CURRENT: AtomicU64 = AtomicU64::new(0);

fn pid_of_connection(n: u64) -> Pid {
    (FIRST_PID + n / PER_PROCESS) as Pid
}

/// Owner of a client port: the process of the latest connection that used it.
fn owner_of_port(port: u16) -> Option<Pid> {
    let current = CURRENT.load(Relaxed);
    let slot = u64::from(port).checked_sub(FIRST_PORT)?;
    let n = current.checked_sub((current + PORTS - slot % PORTS) % PORTS)?;
    Some(pid_of_connection(n))
}

/// Owners by connection ([`owner_of_port`]); processes of connections before the current
/// one have exited.
fn churn_owners() -> FakeOwners {
    let mut owners = FakeOwners::by_port(owner_of_port)
        .exiting_below(|| pid_of_connection(CURRENT.load(Relaxed)));
    owners.local.push(IpAddr::V4(Ipv4Addr::from(LOCAL)));
    owners
}

/// The frames of one connection (client → server unless noted), with the places where
/// addresses and ports are patched in.
struct Templates {
    frames: Vec<(Vec<u8>, bool)>,
}

impl Templates {
    fn new() -> Self {
        let out = |b: PacketBuilder2, len| b.finish(len);
        let c = (LOCAL, [198, 51, 100, 1]);
        let tcp = |from_client: bool,
                   f: &dyn Fn(
            etherparse::PacketBuilderStep<etherparse::TcpHeader>,
        ) -> etherparse::PacketBuilderStep<etherparse::TcpHeader>,
                   len: usize| {
            let (s, d) = if from_client { (c.0, c.1) } else { (c.1, c.0) };
            let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                .ipv4(s, d, 64)
                .tcp(1, 2, 1, 65535);
            (out(PacketBuilder2(f(b)), len), from_client)
        };
        let frames = vec![
            tcp(true, &|b| b.syn(), 0),
            tcp(false, &|b| b.syn().ack(1), 0),
            tcp(true, &|b| b.ack(1), 0),
            tcp(true, &|b| b.ack(1).psh(), 300),
            tcp(false, &|b| b.ack(1).psh(), 1400),
            tcp(true, &|b| b.ack(1).fin(), 0),
            tcp(false, &|b| b.ack(1).fin(), 0),
            tcp(true, &|b| b.ack(1), 0),
        ];
        Self { frames }
    }
}

struct PacketBuilder2(etherparse::PacketBuilderStep<etherparse::TcpHeader>);

impl PacketBuilder2 {
    fn finish(self, len: usize) -> Vec<u8> {
        let mut v = Vec::new();
        self.0.write(&mut v, &vec![0u8; len]).expect("frame");
        v
    }
}

/// Writes the connection's addresses and ports into `frame` (Ethernet + IPv4 + TCP).
fn patch(frame: &mut [u8], from_client: bool, remote: [u8; 4], client_port: u16) {
    let (src, dst) = if from_client {
        (LOCAL, remote)
    } else {
        (remote, LOCAL)
    };
    let (sport, dport) = if from_client {
        (client_port, 443)
    } else {
        (443, client_port)
    };
    frame[26..30].copy_from_slice(&src);
    frame[30..34].copy_from_slice(&dst);
    frame[34..36].copy_from_slice(&sport.to_be_bytes());
    frame[36..38].copy_from_slice(&dport.to_be_bytes());
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let connections: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rate: u64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(RATE)
        .max(1);
    let mut templates = Templates::new();
    let owners = churn_owners();
    let start = Instant::now();
    let mut acc = Accounting::new(owners, AccountingConfig::default(), start);
    let mut fragments = FragmentTable::default();
    let mut sim = Duration::ZERO;
    let mut next_interval = Duration::from_secs(1);
    let mut packets: u64 = 0;
    let report_every = (connections / 20).max(1);
    let wall = Instant::now();
    println!(
        "{:>9} {:>7} {:>9} {:>7} {:>7} {:>10} {:>10} {:>9} {:>11}",
        "conns",
        "sim s",
        "packets",
        "flows",
        "procs",
        "heap KiB",
        "peak KiB",
        "RSS KiB",
        "allocs/pkt"
    );
    let mut last_allocs = ALLOCS.load(Relaxed);
    // Allocations made by `end_interval` (per interval, not per packet), and their count.
    let (mut interval_allocs, mut intervals) = (0u64, 0u64);
    let mut last_interval_allocs = 0u64;
    let mut last_packets = 0u64;
    let mut steady: Option<(u64, u64)> = None;
    for n in 0..connections {
        CURRENT.store(n, Relaxed);
        let client_port = (FIRST_PORT + n % PORTS) as u16;
        let remote = [198, 51, 100, 1 + (n % 200) as u8];
        let now = start + sim;
        for (frame, from_client) in templates.frames.iter_mut() {
            patch(frame, *from_client, remote, client_port);
            let wire = frame.len() as u32;
            let meta = parse_frame(LinkType::Ethernet, frame, wire, &mut fragments);
            acc.record(&meta, now);
            packets += 1;
        }
        sim += Duration::from_nanos(1_000_000_000 / rate);
        if sim >= next_interval {
            let before = ALLOCS.load(Relaxed);
            let (processes, _) = acc.end_interval(Duration::from_secs(1), start + sim);
            drop(processes);
            let spent = ALLOCS.load(Relaxed) - before;
            interval_allocs += spent;
            intervals += 1;
            next_interval += Duration::from_secs(1);
        }
        // A steady window: 200,000 packets on one established flow, after warm-up.
        if n == connections / 2 && steady.is_none() {
            let frame = &mut templates.frames[4].0;
            patch(frame, false, remote, client_port);
            let before = ALLOCS.load(Relaxed);
            for _ in 0..200_000 {
                let meta = parse_frame(LinkType::Ethernet, frame, 1454, &mut fragments);
                acc.record(&meta, start + sim);
            }
            steady = Some((ALLOCS.load(Relaxed) - before, 200_000));
        }
        if (n + 1) % report_every == 0 {
            let allocs = ALLOCS.load(Relaxed);
            let in_intervals = interval_allocs - last_interval_allocs;
            last_interval_allocs = interval_allocs;
            let per_packet =
                (allocs - last_allocs - in_intervals) as f64 / (packets - last_packets) as f64;
            last_packets = packets;
            let (live, peak) = (LIVE.load(Relaxed), PEAK.load(Relaxed));
            let procs = acc.process_stats().len();
            println!(
                "{:>9} {:>7.0} {:>9} {:>7} {:>7} {:>10} {:>10} {:>9} {:>11.4}",
                n + 1,
                sim.as_secs_f64(),
                packets,
                acc.flow_count(),
                procs,
                live / 1024,
                peak / 1024,
                rss_kib(),
                per_packet
            );
            // The report itself allocates (process list): not the engine's per-packet cost.
            last_allocs = ALLOCS.load(Relaxed);
        }
    }
    let totals = acc.totals();
    println!(
        "done: {} connections, {} packets, {:.1} s wall ({:.2} M packets/s incl. interval work); \
         attributed {:.2}% of bytes",
        connections,
        packets,
        wall.elapsed().as_secs_f64(),
        packets as f64 / wall.elapsed().as_secs_f64() / 1e6,
        100.0 * totals.attributed_bytes as f64 / totals.captured_bytes.max(1) as f64
    );
    println!(
        "end_interval: {} intervals, {:.0} allocations per interval on average (process \
         list with names and command lines for the snapshot)",
        intervals,
        interval_allocs as f64 / intervals.max(1) as f64
    );
    if let Some((allocs, n)) = steady {
        println!("steady window: {allocs} allocations over {n} packets on a known flow");
    }
}
