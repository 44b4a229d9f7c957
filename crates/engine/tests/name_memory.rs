//! The name cache's memory bound, measured: heap bytes counted by a global allocator. Its
//! own test binary, as the counting allocator would otherwise count every other test.

use sockeye_engine::names::{
    NameCache, ENTRY_BOUND_BYTES, MAX_ADDRESSES, MAX_ASKER_ADDRESSES, MAX_HEAP_BYTES,
};
use sockeye_engine::parse::dns::{DnsName, DnsResponse, ResolvedAddress};
use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

/// Heap bytes in use by the whole test process.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn answer(name: &str, addr: Ipv4Addr) -> DnsResponse {
    let question = DnsName::from_text(name).expect("a valid name");
    DnsResponse {
        question,
        canonical: question,
        addresses: vec![ResolvedAddress {
            addr: IpAddr::V4(addr),
            ttl: 300,
        }],
        ..DnsResponse::default()
    }
}

/// One measurement at a time: the counter is the whole process's, and the test harness runs
/// this binary's tests on parallel threads.
static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Heap bytes a cache holds after `fill` ran on it.
fn heap_of(fill: impl Fn(&mut NameCache)) -> usize {
    let _alone = MEASURING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let before = LIVE.load(Ordering::Relaxed);
    let mut cache = NameCache::default();
    fill(&mut cache);
    let used = LIVE.load(Ordering::Relaxed) - before;
    drop(cache);
    used.max(0) as usize
}

#[test]
fn ten_thousand_distinct_names_stay_within_their_share_of_the_bound() {
    let now = Instant::now();
    let used = heap_of(|cache| {
        for i in 0..10_000u32 {
            let name = format!("host-{i}.cdn.example.com");
            let response = answer(&name, Ipv4Addr::from(0x0a00_0000 + i));
            cache.record(4_026_531_840, Some(1000 + i % 100), &response, now);
        }
        assert_eq!(cache.len(), (10_000, 10_000));
    });
    eprintln!("10,000 names: {used} bytes, {} per answer", used / 10_000);
    // Each answer fills two entries: one per address, one per asker.
    assert!(used <= 2 * 10_000 * ENTRY_BOUND_BYTES, "{used} bytes");
}

#[test]
fn a_cache_full_of_the_longest_distinct_names_stays_within_the_bound() {
    let now = Instant::now();
    let total = MAX_ADDRESSES + MAX_ASKER_ADDRESSES;
    let used = heap_of(|cache| {
        // Twice the bound's worth of answers, each a distinct name of 253 bytes.
        for i in 0..2 * total as u32 {
            let name = format!("{i:0>63}.{0}.{0}.{1}", "a".repeat(63), "b".repeat(61));
            let response = answer(&name, Ipv4Addr::from(0x0a00_0000 + i));
            cache.record(4_026_531_840, Some(i), &response, now);
        }
        assert_eq!(cache.len(), (MAX_ADDRESSES, MAX_ASKER_ADDRESSES));
    });
    eprintln!(
        "full cache: {used} bytes ({:.1} MiB), bound {MAX_HEAP_BYTES} ({:.1} MiB)",
        used as f64 / 1048576.0,
        MAX_HEAP_BYTES as f64 / 1048576.0
    );
    assert!(used <= MAX_HEAP_BYTES, "{used} > {MAX_HEAP_BYTES}");
}
