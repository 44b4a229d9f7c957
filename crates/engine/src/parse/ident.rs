//! A packet's fingerprint ([`PacketMeta::ident`]): a hash of the header fields and first
//! payload bytes that stay the same on every local interface one packet crosses — a
//! container's veth port, the bridge, the routed or NATed egress — so accounting can tell
//! several sightings of one transfer from several transfers (`accounting::sightings`).
//!
//! Left out, because forwarding or NAT change them: addresses and ports (NAT), the IPv4
//! TTL / IPv6 hop limit (routing), the IPv4 header checksum and the transport checksums
//! (NAT rewrites them), the ICMP echo identifier (masquerading rewrites it). Kept: the
//! IPv4 total length, identification and fragment field; the IPv6 payload length and flow
//! label; the IP protocol; TCP sequence and acknowledgement numbers, data offset and
//! flags; the UDP length; and up to [`PAYLOAD_BYTES`] bytes of payload. Two different TCP
//! segments share all of that only by a 64-bit coincidence of sequence and acknowledgement
//! numbers; two UDP datagrams only when their length and first bytes agree (and, over
//! IPv4, their identification: 0 for unconnected sockets with DF set) — which accounting
//! copes with by counting sightings per interface, not by trusting the hash alone.
//!
//! [`PacketMeta::ident`]: super::PacketMeta::ident

/// Payload bytes hashed: enough to tell apart datagrams of equal length (a DNS id, a QUIC
/// connection id, a counter), few enough to stay within the capture's snap length (128
/// bytes for most packets) and cheap.
pub const PAYLOAD_BYTES: usize = 16;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_ICMP: u8 = 1;
const PROTO_ICMPV6: u8 = 58;

/// The invariant fields of an IPv4 header (`header` from its first byte): total length,
/// identification, flags and fragment offset (bytes 2..8), and the header's length (in
/// 32-bit words, for [`tcp_range`]), tagged as IPv4.
pub fn ipv4_fields(header: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    if let Some(fields) = header.get(2..8) {
        bytes[..6].copy_from_slice(fields);
    }
    bytes[6] = header.first().map_or(0, |b| b & 0x0f);
    bytes[7] = 4;
    u64::from_le_bytes(bytes)
}

/// The sequence number and payload length, in bytes, of a TCP segment whose IP header gave
/// `ip_fields` and whose TCP header and payload (as far as captured) are `l4`; `None` for
/// anything else, or a segment without payload. The length comes from the IP header, so a
/// capture cut short of the payload still tells it; an IPv6 packet with extension headers
/// would be taken as longer than it is (they are rare on TCP; a wrong length costs only
/// a missed recognition, `accounting/segments.rs`).
pub fn tcp_range(ip_fields: u64, proto: u8, l4: &[u8]) -> Option<(u32, u32)> {
    if proto != PROTO_TCP {
        return None;
    }
    let b = ip_fields.to_le_bytes();
    let ip_payload = match b[7] {
        4 => u32::from(u16::from_be_bytes([b[0], b[1]])).checked_sub(u32::from(b[6]) * 4)?,
        // Only a TCP header right after the IPv6 header: extension headers would count.
        6 if b[6] == PROTO_TCP => u32::from(u16::from_be_bytes([b[3], b[4]])),
        _ => return None,
    };
    let seq = u32::from_be_bytes(l4.get(4..8)?.try_into().ok()?);
    let tcp_header = u32::from(l4.get(12)? >> 4) * 4;
    let len = ip_payload.checked_sub(tcp_header)?;
    (len > 0 && tcp_header >= 20).then_some((seq, len))
}

/// The invariant fields of an IPv6 header (`header` from its first byte): the flow label
/// (20 bits), the payload length and the next header (for [`tcp_range`]: with extension
/// headers the payload length is not the TCP segment's), tagged as IPv6.
pub fn ipv6_fields(header: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    if let Some(fields) = header.get(1..6) {
        bytes[..5].copy_from_slice(fields);
        // The traffic class's low nibble shares byte 1 with the flow label: DSCP marks
        // may change on the way.
        bytes[0] &= 0x0f;
    }
    bytes[6] = header.get(6).copied().unwrap_or(0);
    bytes[7] = 6;
    u64::from_le_bytes(bytes)
}

/// The fingerprint of a packet whose IP header gave `ip_fields` ([`ipv4_fields`] or
/// [`ipv6_fields`]), whose transport is IP protocol `proto` and whose transport header
/// and payload, as far as captured, are `l4`. Never 0 (0 means "no fingerprint").
///
/// A few integers mixed by folded multiplications (as foldhash does), not a general
/// hasher over a buffer: that took 10 % of the per-packet path in the pipeline bench.
pub fn of(ip_fields: u64, proto: u8, l4: &[u8]) -> u64 {
    // The transport's invariant header fields, and where its payload starts.
    let (header, payload_at) = match proto {
        // Sequence and acknowledgement numbers; data offset and flags.
        PROTO_TCP => (
            word(l4, 4) ^ u64::from(half(l4, 12)).rotate_left(40),
            l4.get(12).map_or(usize::MAX, |b| usize::from(b >> 4) * 4),
        ),
        // The length (ports and checksum change under NAT).
        PROTO_UDP => (u64::from(half(l4, 4)), 8),
        // Type and code, and the echo sequence (the checksum and echo id change under NAT).
        PROTO_ICMP | PROTO_ICMPV6 => (u64::from(half(l4, 0)) << 16 | u64::from(half(l4, 6)), 8),
        _ => (0, 0),
    };
    let (first, second, n) = match l4.get(payload_at..) {
        Some(payload) if payload.len() >= PAYLOAD_BYTES => {
            (word(payload, 0), word(payload, 8), PAYLOAD_BYTES as u64)
        }
        Some(payload) => {
            let mut padded = [0u8; PAYLOAD_BYTES];
            padded[..payload.len()].copy_from_slice(payload);
            (word(&padded, 0), word(&padded, 8), payload.len() as u64)
        }
        None => (0, 0, u64::MAX),
    };
    let h = folded_multiply(
        ip_fields ^ SEEDS[0],
        header ^ SEEDS[1] ^ u64::from(proto) << 56,
    );
    let h = h ^ folded_multiply(first ^ SEEDS[2], second ^ SEEDS[3] ^ n);
    folded_multiply(h, SEEDS[4]).max(1)
}

/// foldhash's constants (fractional digits of pi).
const SEEDS: [u64; 5] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
    0x4528_21e6_38d0_1377,
];

/// The high and low halves of the full product, xored.
fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// The eight bytes at `at`, 0 when fewer are there.
fn word(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes)
}

/// The two bytes at `at`, 0 when fewer are there.
fn half(bytes: &[u8], at: usize) -> u16 {
    bytes
        .get(at..at + 2)
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_changes_nothing_that_is_hashed() {
        // A TCP segment: ports 1000 → 80, seq, ack, doff 5, ACK|PSH, window, checksum.
        let mut tcp = vec![
            0x03, 0xe8, 0x00, 0x50, 1, 2, 3, 4, 5, 6, 7, 8, 0x50, 0x18, 0, 64, 0xaa, 0xbb, 0, 0,
        ];
        tcp.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\n");
        let ip = ipv4_fields(&[0x45, 0, 0, 60, 0x12, 0x34, 0x40, 0]);
        let before = of(ip, PROTO_TCP, &tcp);
        // Masquerading: another source port and checksum.
        let mut translated = tcp.clone();
        translated[..2].copy_from_slice(&[0xbe, 0xef]);
        translated[16..18].copy_from_slice(&[0x01, 0x02]);
        assert_eq!(of(ip, PROTO_TCP, &translated), before);
        // Another segment of the same connection: another sequence number.
        let mut next = tcp.clone();
        next[7] = 9;
        assert_ne!(of(ip, PROTO_TCP, &next), before);
        // Another IPv4 identification.
        let other_id = ipv4_fields(&[0x45, 0, 0, 60, 0x12, 0x35, 0x40, 0]);
        assert_ne!(of(other_id, PROTO_TCP, &tcp), before);
    }

    #[test]
    fn a_tcp_segment_tells_its_sequence_range() {
        let mut tcp = vec![0u8; 20];
        tcp[4..8].copy_from_slice(&1000u32.to_be_bytes());
        tcp[12] = 0x50;
        // IPv4: 20-byte header, 20-byte TCP header, 1448 bytes of payload.
        let v4 = ipv4_fields(&[0x45, 0, 0x05, 0xd0, 0, 1, 0x40, 0]);
        assert_eq!(tcp_range(v4, PROTO_TCP, &tcp), Some((1000, 1448)));
        // IPv6: payload length 1468 = TCP header + 1448.
        let v6 = ipv6_fields(&[0x60, 0, 0, 0, 0x05, 0xbc, 6, 64]);
        assert_eq!(tcp_range(v6, PROTO_TCP, &tcp), Some((1000, 1448)));
        // Behind a hop-by-hop options header (0) the length is not the segment's.
        let hop_by_hop = ipv6_fields(&[0x60, 0, 0, 0, 0x05, 0xc4, 0, 64]);
        assert_eq!(tcp_range(hop_by_hop, PROTO_TCP, &tcp), None);
        // A bare ACK, UDP, a cut header, a length shorter than the headers.
        let ack = ipv4_fields(&[0x45, 0, 0, 40, 0, 1, 0x40, 0]);
        assert_eq!(tcp_range(ack, PROTO_TCP, &tcp), None);
        assert_eq!(tcp_range(v4, PROTO_UDP, &tcp), None);
        assert_eq!(tcp_range(v4, PROTO_TCP, &tcp[..12]), None);
        let short = ipv4_fields(&[0x45, 0, 0, 10, 0, 1, 0x40, 0]);
        assert_eq!(tcp_range(short, PROTO_TCP, &tcp), None);
    }

    #[test]
    fn short_and_empty_inputs_give_a_fingerprint() {
        for proto in [0, PROTO_TCP, PROTO_UDP, PROTO_ICMP, PROTO_ICMPV6, 253] {
            for len in 0..30 {
                let l4 = vec![0xffu8; len];
                assert_ne!(of(ipv6_fields(&[]), proto, &l4), 0);
            }
        }
    }
}
