//! Fuzzes the DNS response decoder and the name cache it feeds: the input is one message as
//! a UDP payload, the same bytes as a TCP stream of length-prefixed messages, and as one TCP
//! segment framed the way accounting takes it (`payload::whole_tcp_messages`). The corpus
//! holds the unit tests' responses (a compressed CNAME answer, a CDN's chain).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockeye_engine::names::NameCache;
use sockeye_engine::parse::dns::payload::{whole_tcp_messages, MAX_MESSAGES_PER_SEGMENT};
use sockeye_engine::parse::dns::{tcp_messages, DnsResponse, MAX_ANSWERS};
use std::time::Instant;

fuzz_target!(|input: &[u8]| {
    let now = Instant::now();
    let mut cache = NameCache::with_capacity(8, 4);
    let mut response = DnsResponse::default();
    let udp = std::iter::once(input);
    let mut segment = Vec::new();
    for complete in [true, false] {
        let framed = whole_tcp_messages(input, complete).unwrap_or_default();
        assert!(framed.len() <= MAX_MESSAGES_PER_SEGMENT);
        assert!(framed.iter().all(|m| !m.is_empty() && m.len() < input.len()));
        segment.extend(framed);
    }
    let messages = udp.chain(tcp_messages(input).take(16)).chain(segment);
    for (i, message) in messages.enumerate() {
        if response.decode_into(message).is_ok() {
            assert!(response.addresses.len() <= MAX_ANSWERS);
            assert!(response.question.as_str().len() <= 253);
            cache.record(1, Some(i as u32 % 3), &response, now);
            // The newest address is named by its question (earlier ones of a long answer
            // may already be evicted from the 8-entry cache).
            if let Some(last) = response.addresses.last() {
                let name = cache.name_for(1, Some(i as u32 % 3), last.addr, now);
                assert_eq!(name.as_deref(), Some(response.question.as_str()));
            }
        }
    }
    let (by_address, by_asker) = cache.len();
    assert!(by_address <= 8 && by_asker <= 4);
});
