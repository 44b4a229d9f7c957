//! Which packets carry DNS responses, and where their messages are: the bytes after the
//! UDP or TCP header of a packet *from* a DNS port, borrowed from the captured frame.
//!
//! Why here and not in accounting: only the capture edge sees bytes; accounting gets the
//! borrowed message(s) in [`crate::parse::PacketMeta::dns`] and hands them to the decoder
//! under its budgets. Any captured length works: a message cut by the snap length is
//! decoded as truncated (what was read is kept).

/// Source ports whose packets are DNS responses: DNS (53), mDNS (5353: its answers carry
/// no question and teach nothing, see `parse::dns`) and LLMNR (5355).
pub const RESPONSE_PORTS: [u16; 3] = [53, 5353, 5355];

/// Smallest TCP header, in bytes.
const TCP_MIN_HEADER: usize = 20;
/// UDP header, in bytes.
const UDP_HEADER: usize = 8;

/// The DNS bytes of one packet sent from a DNS port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsPayload<'a> {
    /// One message (a UDP datagram's payload), as far as it was captured.
    Udp(&'a [u8]),
    /// A TCP segment's payload as far as it was captured; `complete` when the capture
    /// holds the whole segment (the IP header's length agrees). Each message there follows
    /// its 2-byte length (`parse::dns::tcp_messages`).
    Tcp { bytes: &'a [u8], complete: bool },
}

/// The DNS payload of a whole (unfragmented) TCP or UDP packet, `transport` being its IP
/// payload from the transport header on, when its source port is a DNS port; `complete`
/// tells whether the capture holds the whole IP payload. `None` for anything else, and for
/// an empty payload (a bare TCP acknowledgement).
pub fn of_packet(
    tcp: bool,
    src_port: u16,
    transport: &[u8],
    complete: bool,
) -> Option<DnsPayload<'_>> {
    if !RESPONSE_PORTS.contains(&src_port) {
        return None;
    }
    if tcp {
        let data_offset = usize::from(*transport.get(12)? >> 4) * 4;
        if data_offset < TCP_MIN_HEADER {
            return None;
        }
        let bytes = transport.get(data_offset..).filter(|b| !b.is_empty())?;
        Some(DnsPayload::Tcp { bytes, complete })
    } else {
        let bytes = transport.get(UDP_HEADER..).filter(|b| !b.is_empty())?;
        Some(DnsPayload::Udp(bytes))
    }
}

/// Most DNS messages decoded from one TCP segment: the per-packet bound (each message's
/// own work is bounded by the decoder).
pub const MAX_MESSAGES_PER_SEGMENT: usize = 4;

/// The messages of one TCP segment, when they can be trusted to start where its 2-byte
/// length prefixes say: the segment must begin at a prefix and its messages must fill it
/// exactly (a complete segment), or up to where the capture cut it. A segment that ends
/// inside a message it began, or starts in the middle of one (the rest of a message split
/// across segments), gives `None`: such messages are skipped, not reassembled.
pub fn whole_tcp_messages(bytes: &[u8], complete: bool) -> Option<Vec<&[u8]>> {
    let mut messages = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if messages.len() == MAX_MESSAGES_PER_SEGMENT {
            // More than the per-packet bound: what was taken is kept.
            return Some(messages);
        }
        let (prefix, body) = rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*prefix));
        if len == 0 {
            return None;
        }
        if body.len() < len {
            // Cut: acceptable only where the capture cut it.
            if complete {
                return None;
            }
            // A message cut to nothing teaches nothing.
            if !body.is_empty() {
                messages.push(body);
            }
            return (!messages.is_empty()).then_some(messages);
        }
        let (message, after) = body.split_at(len);
        messages.push(message);
        rest = after;
    }
    (!messages.is_empty()).then_some(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_header(data: &[u8]) -> Vec<u8> {
        let mut segment = vec![0u8; 20];
        segment[12] = 5 << 4;
        segment.extend_from_slice(data);
        segment
    }

    #[test]
    fn udp_from_port_53_is_a_response_payload_and_to_port_53_is_not() {
        let datagram = [0, 53, 0x9c, 0x40, 0, 12, 0, 0, 1, 2, 3, 4];
        assert_eq!(
            of_packet(false, 53, &datagram, true),
            Some(DnsPayload::Udp(&[1, 2, 3, 4]))
        );
        assert_eq!(of_packet(false, 40000, &datagram, true), None);
        assert_eq!(of_packet(false, 53, &datagram[..8], true), None);
    }

    #[test]
    fn tcp_payload_starts_after_the_data_offset() {
        let segment = tcp_header(&[0, 2, 7, 8]);
        assert_eq!(
            of_packet(true, 53, &segment, false),
            Some(DnsPayload::Tcp {
                bytes: &[0, 2, 7, 8],
                complete: false
            })
        );
        let mut bad_offset = segment.clone();
        bad_offset[12] = 4 << 4;
        assert_eq!(of_packet(true, 53, &bad_offset, true), None);
        assert_eq!(of_packet(true, 53, &tcp_header(&[]), true), None);
    }

    #[test]
    fn tcp_messages_that_fill_a_segment_are_taken() {
        let bytes = [0, 2, 1, 1, 0, 3, 2, 2, 2];
        assert_eq!(
            whole_tcp_messages(&bytes, true),
            Some(vec![&[1u8, 1][..], &[2u8, 2, 2][..]])
        );
    }

    #[test]
    fn a_message_split_across_segments_is_skipped() {
        // The segment ends inside its second message, and the capture holds all of it.
        assert_eq!(whole_tcp_messages(&[0, 2, 1, 1, 0, 9, 2], true), None);
        // The next segment starts inside that message: its "prefix" overruns.
        assert_eq!(whole_tcp_messages(&[2, 2, 2, 2], true), None);
    }

    #[test]
    fn a_message_cut_by_the_capture_is_kept_for_a_truncated_decode() {
        assert_eq!(
            whole_tcp_messages(&[0, 9, 1, 2], false),
            Some(vec![&[1u8, 2][..]])
        );
        assert_eq!(whole_tcp_messages(&[0, 9], false), None);
        assert_eq!(
            whole_tcp_messages(&[0, 1, 7, 0, 9], false),
            Some(vec![&[7u8][..]])
        );
    }

    #[test]
    fn at_most_four_messages_are_taken_from_one_segment() {
        let bytes: Vec<u8> = (0..10).flat_map(|_| [0u8, 1, 7]).collect();
        assert_eq!(
            whole_tcp_messages(&bytes, true).map(|m| m.len()),
            Some(MAX_MESSAGES_PER_SEGMENT)
        );
    }
}
