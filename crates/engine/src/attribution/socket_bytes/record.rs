//! The `sock_send_length` / `sock_recv_length` raw record: where its fields are (from the
//! tracefs `format` file; both tracepoints share one layout) and the byte count decoded
//! from it. The record comes from the kernel's ring but is still checked: a short record
//! is skipped, never read past its end, and the kernel filter is checked again here (a
//! kernel that refused the filter hands over every call).

use crate::attribution::connect_log::tracefs::field_offset;

/// `AF_INET` and `AF_INET6` as the `family` field holds them.
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
/// `MSG_PEEK`: the bytes stay queued and are read again by a later call.
pub(super) const MSG_PEEK: i32 = 2;

/// Where the fields are in the raw record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Layout {
    family: usize,
    protocol: usize,
    ret: usize,
    flags: usize,
}

impl Layout {
    /// Reads the offsets from a tracefs `format` text; `None` when a field is missing or
    /// has an unexpected size.
    pub(super) fn parse(format: &str) -> Option<Layout> {
        let field = |name: &str, size: usize| field_offset(format, name, size);
        Some(Layout {
            family: field("family", 2)?,
            protocol: field("protocol", 2)?,
            ret: field("ret", 4)?,
            flags: field("flags", 4)?,
        })
    }
}

/// Payload bytes one `sendmsg`/`recvmsg` call moved through an inet socket: `None` for
/// another family, an error (`ret` < 0), nothing moved, a `MSG_PEEK` read, or a record
/// too short to hold the fields.
pub(super) fn payload_bytes(layout: &Layout, raw: &[u8]) -> Option<u64> {
    let bytes = |at: usize, n: usize| raw.get(at..at.checked_add(n)?);
    let u16_at =
        |at: usize| -> Option<u16> { Some(u16::from_ne_bytes(bytes(at, 2)?.try_into().ok()?)) };
    let i32_at =
        |at: usize| -> Option<i32> { Some(i32::from_ne_bytes(bytes(at, 4)?.try_into().ok()?)) };
    let family = u16_at(layout.family)?;
    // Read for its bounds: a record without it is not this tracepoint's.
    let _protocol = u16_at(layout.protocol)?;
    let ret = i32_at(layout.ret)?;
    let flags = i32_at(layout.flags)?;
    if !(family == AF_INET || family == AF_INET6) || ret <= 0 || flags & MSG_PEEK != 0 {
        return None;
    }
    u64::try_from(ret).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The format file of Linux 6.18 (`sock_send_length`; `sock_recv_length` is the same).
    const FORMAT: &str = "name: sock_send_length
ID: 2284
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:void * sk;\toffset:8;\tsize:8;\tsigned:0;
\tfield:__u16 family;\toffset:16;\tsize:2;\tsigned:0;
\tfield:__u16 protocol;\toffset:18;\tsize:2;\tsigned:0;
\tfield:int ret;\toffset:20;\tsize:4;\tsigned:1;
\tfield:int flags;\toffset:24;\tsize:4;\tsigned:1;

print fmt: \"sk address = %p, ...\", REC->sk
";

    /// A raw record as the kernel writes it: common header, sk, family, protocol, ret,
    /// flags (native byte order).
    fn record(family: u16, protocol: u16, ret: i32, flags: i32) -> Vec<u8> {
        let mut raw = Vec::new();
        raw.extend_from_slice(&2284u16.to_ne_bytes());
        raw.extend_from_slice(&[0, 0]);
        raw.extend_from_slice(&4242i32.to_ne_bytes());
        raw.extend_from_slice(&0xffff_8880_1234_5678u64.to_ne_bytes());
        raw.extend_from_slice(&family.to_ne_bytes());
        raw.extend_from_slice(&protocol.to_ne_bytes());
        raw.extend_from_slice(&ret.to_ne_bytes());
        raw.extend_from_slice(&flags.to_ne_bytes());
        raw
    }

    #[test]
    fn the_6_18_format_is_read() {
        assert_eq!(
            Layout::parse(FORMAT),
            Some(Layout {
                family: 16,
                protocol: 18,
                ret: 20,
                flags: 24
            })
        );
    }

    #[test]
    fn a_format_without_a_field_or_with_another_size_is_refused() {
        assert_eq!(
            Layout::parse(&FORMAT.replace("int flags", "int other")),
            None
        );
        assert_eq!(
            Layout::parse(&FORMAT.replace("offset:20;\tsize:4", "offset:20;\tsize:8")),
            None
        );
    }

    #[test]
    fn inet_tcp_and_udp_calls_count_their_bytes() {
        let layout = Layout::parse(FORMAT).expect("layout");
        assert_eq!(payload_bytes(&layout, &record(2, 6, 1448, 0)), Some(1448));
        assert_eq!(
            payload_bytes(&layout, &record(10, 17, 512, 0x40)),
            Some(512)
        );
        assert_eq!(
            payload_bytes(&layout, &record(10, 6, i32::MAX, 0)),
            Some(i32::MAX as u64)
        );
    }

    #[test]
    fn errors_peeks_empty_calls_and_other_families_count_nothing() {
        let layout = Layout::parse(FORMAT).expect("layout");
        // -EAGAIN, an empty read (the peer closed), a MSG_PEEK read, a unix socket.
        assert_eq!(payload_bytes(&layout, &record(2, 6, -11, 0)), None);
        assert_eq!(payload_bytes(&layout, &record(2, 6, 0, 0)), None);
        assert_eq!(payload_bytes(&layout, &record(2, 17, 100, MSG_PEEK)), None);
        assert_eq!(payload_bytes(&layout, &record(1, 0, 100, 0)), None);
    }

    #[test]
    fn short_records_are_skipped_never_read_past_their_end() {
        let layout = Layout::parse(FORMAT).expect("layout");
        let full = record(2, 6, 100, 0);
        for len in 0..full.len() {
            assert_eq!(payload_bytes(&layout, &full[..len]), None, "length {len}");
        }
        let far = Layout {
            flags: usize::MAX - 1,
            ..layout
        };
        assert_eq!(payload_bytes(&far, &full), None);
    }
}
