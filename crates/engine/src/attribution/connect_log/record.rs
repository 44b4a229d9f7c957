//! The tracepoint's raw record: where its fields are (from the tracefs `format` file, so
//! a kernel that moves them is read right) and one state change decoded from it. The
//! record comes from the kernel's ring, but is still checked: short or foreign records
//! are skipped, never read past their end.

use super::tracefs::field_offset;
use crate::owner::Pid;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `AF_INET` and `AF_INET6` as the tracepoint's `family` field holds them.
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// Where the tracepoint's fields are in its raw record (from the tracefs `format` file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Layout {
    pub(super) skaddr: usize,
    pub(super) oldstate: usize,
    pub(super) newstate: usize,
    pub(super) sport: usize,
    pub(super) dport: usize,
    pub(super) family: usize,
    pub(super) protocol: usize,
    pub(super) saddr: usize,
    pub(super) daddr: usize,
    pub(super) saddr_v6: usize,
    pub(super) daddr_v6: usize,
}

impl Layout {
    /// Reads the offsets from a tracefs `format` text; `None` when a field is missing or
    /// has an unexpected size.
    pub(super) fn parse(format: &str) -> Option<Layout> {
        let field = |name: &str, size: usize| field_offset(format, name, size);
        Some(Layout {
            skaddr: field("skaddr", 8)?,
            oldstate: field("oldstate", 4)?,
            newstate: field("newstate", 4)?,
            sport: field("sport", 2)?,
            dport: field("dport", 2)?,
            family: field("family", 2)?,
            protocol: field("protocol", 2)?,
            saddr: field("saddr", 4)?,
            daddr: field("daddr", 4)?,
            saddr_v6: field("saddr_v6", 16)?,
            daddr_v6: field("daddr_v6", 16)?,
        })
    }
}

/// One state change, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Change {
    pub(super) pid: Pid,
    pub(super) socket: u64,
    pub(super) protocol: u16,
    pub(super) oldstate: i32,
    pub(super) newstate: i32,
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
}

/// Decodes a sample's raw tracepoint record; `None` for anything short or foreign.
pub(super) fn decode(layout: &Layout, pid: Pid, raw: &[u8]) -> Option<Change> {
    let bytes = |at: usize, n: usize| raw.get(at..at.checked_add(n)?);
    let u16_at =
        |at: usize| -> Option<u16> { Some(u16::from_ne_bytes(bytes(at, 2)?.try_into().ok()?)) };
    let i32_at =
        |at: usize| -> Option<i32> { Some(i32::from_ne_bytes(bytes(at, 4)?.try_into().ok()?)) };
    let socket = u64::from_ne_bytes(bytes(layout.skaddr, 8)?.try_into().ok()?);
    let family = u16_at(layout.family)?;
    let (src, dst) = if family == AF_INET {
        let v4 = |at| -> Option<IpAddr> {
            let b: [u8; 4] = bytes(at, 4)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        };
        (v4(layout.saddr)?, v4(layout.daddr)?)
    } else if family == AF_INET6 {
        let v6 = |at| -> Option<IpAddr> {
            let b: [u8; 16] = bytes(at, 16)?.try_into().ok()?;
            Some(Ipv6Addr::from(b).to_canonical())
        };
        (v6(layout.saddr_v6)?, v6(layout.daddr_v6)?)
    } else {
        return None;
    };
    Some(Change {
        pid,
        socket,
        protocol: u16_at(layout.protocol)?,
        oldstate: i32_at(layout.oldstate)?,
        newstate: i32_at(layout.newstate)?,
        // The tracepoint stores ports in host order.
        local: SocketAddr::new(src, u16_at(layout.sport)?),
        remote: SocketAddr::new(dst, u16_at(layout.dport)?),
    })
}
