//! Fuzzes the frame parser: the first byte picks the link type, the rest is the frame.
//! The corpus holds real frames captured on lo and a veth (Ethernet) and the unit-test
//! fixtures of every link type.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockeye_engine::parse::{parse_frame, FragmentTable, LinkType};

/// pcap datalink values the parser dispatches on, indexed by the input's first byte.
const DATALINKS: [i32; 9] = [1, 113, 276, 0, 108, 12, 228, 229, 147];

fuzz_target!(|input: &[u8]| {
    let Some((selector, frame)) = input.split_first() else {
        return;
    };
    let link = LinkType::from_datalink(DATALINKS[usize::from(*selector) % DATALINKS.len()]);
    let mut fragments = FragmentTable::with_capacity(4);
    // Twice, so a first fragment's ports are looked up by the same frame.
    for _ in 0..2 {
        let meta = parse_frame(link, frame, 1500, &mut fragments);
        assert_eq!(meta.wire_len, 1500);
    }
});
