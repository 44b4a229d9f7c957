//! A day's hours of one key packed into one blob (`hour_blocks.hours`).
//!
//! A row per hour cost about 26 bytes of which only the four counters (about 10 bytes as
//! varints) are data; the rest was the record header, the time and the key repeated in
//! every hour. Packing a day's hours into one row keeps the data and pays the rest once a
//! day: the history of the benchmark (a year, 500 apps, 3 users) shrinks from 111 MB.
//!
//! Layout: for each hour with traffic, in increasing order: the hour's index, then sent
//! bytes, received bytes, sent packets, received packets, each an unsigned LEB128 varint.
//! The index counts hours from the first whole hour at or after the local midnight that
//! starts the day (a midnight need not fall on a whole UTC hour), so it is 0..=25.

use crate::usage::{Counters, HOUR_S};
use std::collections::BTreeMap;

/// A day's hours: hour index → that hour's counters.
pub type Hours = BTreeMap<u64, Counters>;

/// The first whole hour at or after `day` (seconds since the epoch).
pub fn first_hour(day: u64) -> u64 {
    day.div_ceil(HOUR_S) * HOUR_S
}

/// The index of the hour starting at `hour` within `day` (`None` when it is not in it).
pub fn index_of(day: u64, hour: u64) -> Option<u64> {
    let first = first_hour(day);
    (hour >= first && hour.is_multiple_of(HOUR_S)).then(|| (hour - first) / HOUR_S)
}

/// When hour `index` of `day` starts.
pub fn start_of(day: u64, index: u64) -> u64 {
    first_hour(day).saturating_add(index.saturating_mul(HOUR_S))
}

fn put(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

fn take(input: &mut &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        value |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Packs `hours` (about 10 bytes an hour for typical counts).
pub fn encode(hours: &Hours) -> Vec<u8> {
    let mut out = Vec::with_capacity(hours.len() * 12);
    for (index, c) in hours {
        put(&mut out, *index);
        for value in [
            c.sent_bytes,
            c.received_bytes,
            c.sent_packets,
            c.received_packets,
        ] {
            put(&mut out, value);
        }
    }
    out
}

/// Unpacks a blob; `None` when it is not one [`encode`] wrote (a damaged file).
pub fn decode(mut input: &[u8]) -> Option<Hours> {
    let mut hours = Hours::new();
    while !input.is_empty() {
        let index = take(&mut input)?;
        let counters = Counters {
            sent_bytes: take(&mut input)?,
            received_bytes: take(&mut input)?,
            sent_packets: take(&mut input)?,
            received_packets: take(&mut input)?,
        };
        hours.insert(index, counters);
    }
    Some(hours)
}

/// Adds `more` into `hours`, hour by hour (saturating).
pub fn add(hours: &mut Hours, more: &Hours) {
    for (index, counters) in more {
        hours.entry(*index).or_default().add(counters);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hours_round_trip_including_the_largest_counts() {
        let mut hours = Hours::new();
        hours.insert(0, Counters::default());
        hours.insert(
            3,
            Counters {
                sent_bytes: 600_000,
                received_bytes: u64::MAX,
                sent_packets: 127,
                received_packets: 128,
            },
        );
        hours.insert(
            25,
            Counters {
                sent_bytes: 1,
                ..Counters::default()
            },
        );
        let blob = encode(&hours);
        assert_eq!(decode(&blob), Some(hours));
    }

    #[test]
    fn damaged_blobs_are_refused_not_misread() {
        let mut hours = Hours::new();
        hours.insert(
            1,
            Counters {
                sent_bytes: 300,
                ..Counters::default()
            },
        );
        let blob = encode(&hours);
        assert_eq!(decode(&blob[..blob.len() - 1]), None, "cut short");
        assert_eq!(decode(&[0xff; 11]), None, "a varint longer than 64 bits");
        assert_eq!(decode(&[]), Some(Hours::new()));
    }

    #[test]
    fn hour_indexes_count_from_the_first_whole_hour_of_the_day() {
        let day = 1_765_000_800 - 19_800; // a midnight at UTC+5:30: not a whole UTC hour
        assert_eq!(first_hour(day), day + 1800);
        assert_eq!(index_of(day, day + 1800), Some(0));
        assert_eq!(index_of(day, day + 1800 + 5 * HOUR_S), Some(5));
        assert_eq!(index_of(day, day - 1800), None);
        assert_eq!(start_of(day, 5), day + 1800 + 5 * HOUR_S);
    }
}
