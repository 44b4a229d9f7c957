//! The hot path without the kernel: flow lookup among 100 000 live flows, and the whole
//! parse → attribute → account path over a traffic mix, in packets per second on one core.
//! Owners come from a fake lookup (the real one is measured in `perf_attribution`): after
//! a flow's first packet, attribution is the owner cached in the flow, which is what runs
//! per packet. Run with `cargo bench -p sockeye-engine --bench perf_pipeline`.
//!
//! `SOCKEYE_BENCH_PCAP=file.pcap` replaces the synthetic mix with a recorded capture.

#[path = "perf_support/cpu_time.rs"]
mod cpu_time;
#[allow(dead_code)]
#[path = "perf_support/frames.rs"]
mod frames;

use cpu_time::ThreadCpuTime;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use frames::Frame;
use sockeye_engine::accounting::{Accounting, AccountingConfig};
use sockeye_engine::parse::{parse_frame, FragmentTable, LinkType, PacketMeta};
use sockeye_engine::testing::FakeOwners;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

/// Packets in the mix (each criterion iteration runs all of them).
const MIX_PACKETS: usize = 65_536;
/// Packets read per batch before `Instant::now()` is read again (the capture thread's BATCH).
const BATCH: usize = 4096;

/// The frames of a recorded capture, when `SOCKEYE_BENCH_PCAP` names one.
fn recorded() -> Option<Vec<Frame>> {
    let path = std::env::var_os("SOCKEYE_BENCH_PCAP")?;
    let mut capture = pcap::Capture::from_file(&path).expect("open SOCKEYE_BENCH_PCAP");
    // Files store DLT_RAW as 101; the engine's mapping knows that value too.
    let link = LinkType::from_datalink(capture.get_datalink().0);
    let mut frames = Vec::new();
    while let Ok(packet) = capture.next_packet() {
        let data = frames::captured(packet.data.to_vec());
        frames.push(Frame {
            link,
            data,
            wire_len: packet.header.len,
        });
    }
    eprintln!("recorded mix: {} frames from {:?}", frames.len(), path);
    Some(frames)
}

fn accounting(capacity: usize) -> Accounting<FakeOwners> {
    let config = AccountingConfig {
        flow_capacity: capacity,
        lookups_per_second: 1e9,
        lookup_burst: 1e9,
        ..AccountingConfig::default()
    };
    Accounting::new(fake_owners(500), config, Instant::now())
}

/// A fake system with no kernel behind it: every local endpoint belongs to one of
/// `processes` pids (1000 + port % processes), found at the first lookup; 192.0.2.10,
/// 2001:db8::10, 10.0.0.0/8 and loopback are local.
fn fake_owners(processes: u32) -> FakeOwners {
    let processes = processes.max(1);
    let mut owners = FakeOwners::by_port(move |port| Some(1000 + u32::from(port) % processes));
    owners.local.push(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)));
    owners.local.push(IpAddr::V6(Ipv6Addr::new(
        0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10,
    )));
    owners
        .local_networks
        .push((IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8));
    owners
}

/// Metas of `n` TCP flows between 192.0.2.10 and 198.51.100.0/24 (distinct port pairs).
fn flow_metas(n: usize) -> Vec<PacketMeta<'static>> {
    let mut fragments = FragmentTable::default();
    (0..n)
        .map(|i| {
            let remote = [198, 51, 100, (i % 250) as u8 + 1];
            let port = 1024 + (i / 250) as u16;
            let frame = frames::eth_tcp4([192, 0, 2, 10], remote, (port, 443), 100);
            parse_frame(frame.link, &frame.data, frame.wire_len, &mut fragments).without_payload()
        })
        .collect()
}

fn flow_lookup(c: &mut Criterion<ThreadCpuTime>) {
    const FLOWS: usize = 100_000;
    let metas = flow_metas(FLOWS);
    let mut acc = accounting(1 << 18);
    let now = Instant::now();
    for meta in &metas {
        acc.record(meta, now);
    }
    // Visit the live flows in a scattered order (no cache-friendly sequence).
    let mut rng = frames::Rng::new(7);
    let order: Vec<usize> = (0..MIX_PACKETS)
        .map(|_| rng.below(FLOWS as u64) as usize)
        .collect();
    let mut group = c.benchmark_group("flows");
    group.throughput(Throughput::Elements(order.len() as u64));
    group.bench_function("record_known_flow_of_100k", |b| {
        b.iter(|| {
            for &i in &order {
                black_box(acc.record(&metas[i], now));
            }
        })
    });
    group.finish();
}

fn pipeline(c: &mut Criterion<ThreadCpuTime>) {
    if let Some(mix) = recorded() {
        pipeline_over(c, "pipeline_recorded", &mix);
        return;
    }
    // 4,096 frames (about 0.6 MB with their buffers) stay in the caches like the part of
    // the capture ring the kernel has just written; 65,536 frames (about 11 MB, three
    // times a capture ring) do not all: the two ends of what a live capture sees.
    pipeline_over(c, "pipeline_4k_frames", &frames::mix(4_096, 2_000));
    pipeline_over(c, "pipeline_64k_frames", &frames::mix(MIX_PACKETS, 2_000));
}

fn pipeline_over(c: &mut Criterion<ThreadCpuTime>, name: &str, mix: &[Frame]) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(mix.len() as u64));
    group.measurement_time(Duration::from_secs(5));

    group.bench_function("parse_only", |b| {
        let mut fragments = FragmentTable::default();
        b.iter(|| {
            for frame in mix {
                black_box(parse_frame(
                    frame.link,
                    &frame.data,
                    frame.wire_len,
                    &mut fragments,
                ));
            }
        })
    });

    // Steady state: every flow of the mix already seen once.
    let mut acc = accounting(1 << 16);
    let mut fragments = FragmentTable::default();
    let warm = Instant::now();
    for frame in mix {
        let meta = parse_frame(frame.link, &frame.data, frame.wire_len, &mut fragments);
        acc.record(&meta, warm);
    }
    group.bench_function("parse_attribute_account", |b| {
        b.iter(|| {
            for batch in mix.chunks(BATCH) {
                let now = Instant::now();
                for frame in batch {
                    let meta = parse_frame(frame.link, &frame.data, frame.wire_len, &mut fragments);
                    black_box(acc.record(&meta, now));
                }
            }
        })
    });

    // Cold: a fresh accounting each iteration, so every flow is new once (owner lookups,
    // flow creation, process entries) — the worst case per packet of the same mix.
    group.bench_function("parse_attribute_account_cold", |b| {
        b.iter_batched(
            || accounting(1 << 16),
            |mut acc| {
                let mut fragments = FragmentTable::default();
                for batch in mix.chunks(BATCH) {
                    let now = Instant::now();
                    for frame in batch {
                        let meta =
                            parse_frame(frame.link, &frame.data, frame.wire_len, &mut fragments);
                        black_box(acc.record(&meta, now));
                    }
                }
                acc
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = flow_lookup, pipeline
}
criterion_main!(benches);
