//! Frame parsing per link type: one captured frame (256 bytes of a 1514-byte segment, as the
//! capture hands it over) to a `PacketMeta`; and a typical DNS response (a CNAME and four
//! addresses, compressed) decoded and recorded in the name cache, and the response that
//! asks the decoder for the most work. Run with `cargo bench -p
//! sockeye-engine --bench perf_parse`.

#[path = "perf_support/cpu_time.rs"]
mod cpu_time;
#[allow(dead_code)]
#[path = "perf_support/frames.rs"]
mod frames;

use cpu_time::ThreadCpuTime;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sockeye_engine::names::NameCache;
use sockeye_engine::parse::dns::DnsResponse;
use sockeye_engine::parse::{parse_frame, FragmentTable};
use std::hint::black_box;
use std::time::Instant;

fn parse_each_link_type(c: &mut Criterion<ThreadCpuTime>) {
    let mut group = c.benchmark_group("parse_frame");
    group.throughput(Throughput::Elements(1));
    for (name, frame) in frames::per_link_type() {
        let mut fragments = FragmentTable::default();
        group.bench_function(name, |b| {
            b.iter(|| {
                parse_frame(
                    black_box(frame.link),
                    black_box(&frame.data),
                    black_box(frame.wire_len),
                    &mut fragments,
                )
            })
        });
    }
    group.finish();
}

/// `www.youtube.com`'s answer as a public resolver gives it: a CNAME to
/// `youtube-ui.l.google.com` and four A records pointing back at that name (131 bytes).
fn typical_dns_response() -> Vec<u8> {
    let mut m = vec![0x5a, 0x17, 0x81, 0x80, 0, 1, 0, 5, 0, 0, 0, 0];
    m.extend_from_slice(b"\x03www\x07youtube\x03com\x00\x00\x01\x00\x01");
    m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0x01, 0x2c, 0, 22]);
    let target = m.len();
    m.extend_from_slice(b"\x0ayoutube-ui\x01l\x06google\xc0\x18");
    for last in [110, 100, 101, 102] {
        m.extend_from_slice(&[0xc0, target as u8, 0, 1, 0, 1, 0, 0, 0, 0xb4, 0, 4]);
        m.extend_from_slice(&[142, 250, 185, last]);
    }
    m
}

/// The most work one message can ask of the decoder (as in the unit test
/// `a_message_built_for_the_most_work_is_decoded_in_bounded_time`): the longest question
/// name and 64 CNAMEs owned by it, 63 with an unreadable target and the last a loop back to
/// the question, so each of the 9 hops compares every owner in full.
fn most_work_dns_response() -> Vec<u8> {
    let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 64, 0, 0, 0, 0];
    for label in [b'a', b'a', b'a', b'b'] {
        let len = if label == b'b' { 61 } else { 63 };
        m.push(len);
        m.extend(std::iter::repeat_n(label, usize::from(len)));
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    for i in 0..64 {
        m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0]);
        m.push(if i < 63 { 0xff } else { 12 });
    }
    m
}

fn dns_response(c: &mut Criterion<ThreadCpuTime>) {
    let message = typical_dns_response();
    let mut response = DnsResponse::default();
    assert_eq!(message.len(), 131);
    assert!(response.decode_into(&message).is_ok() && response.addresses.len() == 4);
    assert_eq!(response.canonical.as_str(), "youtube-ui.l.google.com");
    let mut group = c.benchmark_group("dns_response");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode", |b| {
        b.iter(|| response.decode_into(black_box(&message)))
    });
    let most_work = most_work_dns_response();
    assert!(response.decode_into(&most_work).is_ok() && response.addresses.is_empty());
    group.bench_function("most_work", |b| {
        b.iter(|| response.decode_into(black_box(&most_work)))
    });
    let mut cache = NameCache::default();
    let now = Instant::now();
    group.bench_function("decode_and_record", |b| {
        b.iter(|| {
            if response.decode_into(black_box(&message)).is_ok() {
                cache.record(black_box(4_026_531_840), Some(4242), &response, now);
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = parse_each_link_type, dns_response
}
criterion_main!(benches);
