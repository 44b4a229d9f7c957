//! Throughput of the per-packet path, parse → account, on a synthetic mix of frames
//! (TCP/UDP over IPv4/IPv6, VLAN, ICMP echo, ARP) with a fake owner lookup.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use etherparse::PacketBuilder;
use sockeye_engine::accounting::{Accounting, AccountingConfig};
use sockeye_engine::parse::{parse_frame, FragmentTable, LinkType};
use sockeye_engine::testing::FakeOwners;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

/// Every local endpoint with an even port belongs to one of 50 pids; 10.0.0.0/8 and
/// fd00::/16 (and loopback) are local.
fn even_ports() -> FakeOwners {
    let mut owners =
        FakeOwners::by_port(|port| port.is_multiple_of(2).then_some(u32::from(port % 50) + 100));
    owners
        .local_networks
        .push((IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8));
    owners
        .local_networks
        .push((IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0)), 16));
    owners
}

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];

fn frames() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for i in 0..1000u16 {
        let port = 30_000 + i % 200;
        let payload = vec![0u8; usize::from(i % 3) * 500];
        let mut frame = Vec::new();
        let built = match i % 20 {
            0..=11 => PacketBuilder::ethernet2(MAC_A, MAC_B)
                .ipv4([10, 0, 0, 1], [192, 0, 2, 7], 64)
                .tcp(port, 443, u32::from(i), 65535)
                .write(&mut frame, &payload),
            12..=16 => PacketBuilder::ethernet2(MAC_B, MAC_A)
                .ipv6(
                    [0x20; 16],
                    [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                    64,
                )
                .udp(53, port)
                .write(&mut frame, &payload),
            17 => PacketBuilder::ethernet2(MAC_A, MAC_B)
                .single_vlan(100.try_into().unwrap_or_default())
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .udp(port, 5353)
                .write(&mut frame, &payload),
            18 => PacketBuilder::ethernet2(MAC_A, MAC_B)
                .ipv4([10, 0, 0, 1], [192, 0, 2, 7], 64)
                .icmpv4_echo_request(port, i)
                .write(&mut frame, &payload),
            _ => {
                frame.extend_from_slice(&[0xff; 6]);
                frame.extend_from_slice(&MAC_A);
                frame.extend_from_slice(&[0x08, 0x06]);
                frame.extend_from_slice(&[0; 28]);
                Ok(())
            }
        };
        if built.is_ok() {
            frame.truncate(256); // snaplen
            frames.push(frame);
        }
    }
    frames
}

fn parse_and_account(c: &mut Criterion) {
    let frames = frames();
    let mut fragments = FragmentTable::default();
    let mut accounting = Accounting::new(even_ports(), AccountingConfig::default(), Instant::now());
    let mut group = c.benchmark_group("per_packet");
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.bench_function("parse_only", |b| {
        b.iter(|| {
            for frame in &frames {
                black_box(parse_frame(LinkType::Ethernet, frame, 1500, &mut fragments));
            }
        })
    });
    group.bench_function("parse_and_account", |b| {
        b.iter(|| {
            let now = Instant::now();
            for frame in &frames {
                let meta = parse_frame(LinkType::Ethernet, frame, 1500, &mut fragments);
                black_box(accounting.record(&meta, now));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, parse_and_account);
criterion_main!(benches);
