//! Frame parsing per link type: one captured frame (256 bytes of a 1514-byte segment, as the
//! capture hands it over) to a `PacketMeta`. Run with `cargo bench -p sockeye-engine --bench
//! perf_parse`.

#[path = "perf_support/cpu_time.rs"]
mod cpu_time;
#[allow(dead_code)]
#[path = "perf_support/frames.rs"]
mod frames;

use cpu_time::ThreadCpuTime;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sockeye_engine::parse::{parse_frame, FragmentTable};
use std::hint::black_box;

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

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = parse_each_link_type
}
criterion_main!(benches);
