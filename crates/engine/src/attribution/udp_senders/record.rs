//! The `fib:fib_table_lookup` and `fib6:fib6_table_lookup` raw records: where their fields
//! are (from each tracepoint's tracefs `format` file) and the route lookup of one UDP send
//! decoded from them; and the `PERF_RECORD_COMM` / `PERF_RECORD_FORK` records that name
//! processes. Records come from the kernel's ring but are still checked: a short record
//! is skipped, never read past its end, and the kernel filter is checked again here (a
//! kernel that refused the filter hands over every route lookup).

use crate::attribution::connect_log::tracefs::field_offset;
use crate::owner::Pid;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `IPPROTO_UDP`.
const UDP: u8 = 17;
/// `LOOPBACK_IFINDEX`: the input interface of every output route lookup
/// (`ip_route_output_key_hash`, `ip6_route_output_flags`), in every namespace; an input
/// lookup (a packet received or forwarded) has its real interface there instead.
const OUTPUT_LOOKUP: i32 = 1;
/// `common_flags` bits of a record made in hard or soft interrupt or NMI context
/// (`TRACE_FLAG_HARDIRQ`, `TRACE_FLAG_SOFTIRQ`, `TRACE_FLAG_NMI`): there the current task
/// is whichever one was interrupted, not the sender (an ICMPv6 error's lookup, a kernel
/// tunnel's).
pub(super) const INTERRUPT_FLAGS: u8 = 0x08 | 0x10 | 0x40;
/// Longest `comm` the kernel keeps (`TASK_COMM_LEN`, with its NUL).
const COMM_LEN: usize = 16;

/// Where one tracepoint's fields are in its raw record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Layout {
    flags: usize,
    iif: usize,
    proto: usize,
    src: usize,
    dst: usize,
    sport: usize,
    dport: usize,
    /// 4 (fib) or 16 (fib6).
    address_len: usize,
}

impl Layout {
    /// Reads the offsets from a tracefs `format` text, the addresses `address_len` bytes
    /// long; `None` when a field is missing or has an unexpected size.
    pub(super) fn parse(format: &str, address_len: usize) -> Option<Layout> {
        let field = |name: &str, size: usize| field_offset(format, name, size);
        Some(Layout {
            flags: field("common_flags", 1)?,
            iif: field("iif", 4)?,
            proto: field("proto", 1)?,
            src: field("src", address_len)?,
            dst: field("dst", address_len)?,
            sport: field("sport", 2)?,
            dport: field("dport", 2)?,
            address_len,
        })
    }
}

/// The route lookup of one UDP send: the sending socket's end (its address unspecified
/// while the socket is not bound to one: the lookup picks the source) and the peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Route {
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
}

/// Decodes a route lookup record: `None` for anything short, foreign, or not a UDP
/// output lookup made in the sender's own context.
pub(super) fn decode(layout: &Layout, raw: &[u8]) -> Option<Route> {
    let bytes = |at: usize, n: usize| raw.get(at..at.checked_add(n)?);
    let u16_at =
        |at: usize| -> Option<u16> { Some(u16::from_ne_bytes(bytes(at, 2)?.try_into().ok()?)) };
    let i32_at =
        |at: usize| -> Option<i32> { Some(i32::from_ne_bytes(bytes(at, 4)?.try_into().ok()?)) };
    let flags = *bytes(layout.flags, 1)?.first()?;
    let proto = *bytes(layout.proto, 1)?.first()?;
    if flags & INTERRUPT_FLAGS != 0 || proto != UDP || i32_at(layout.iif)? != OUTPUT_LOOKUP {
        return None;
    }
    let address = |at: usize| -> Option<IpAddr> {
        let b = bytes(at, layout.address_len)?;
        if let Ok(v4) = <[u8; 4]>::try_from(b) {
            return Some(IpAddr::V4(Ipv4Addr::from(v4)));
        }
        let v6: [u8; 16] = b.try_into().ok()?;
        Some(Ipv6Addr::from(v6).to_canonical())
    };
    // The tracepoints store ports in host order.
    let (sport, dport) = (u16_at(layout.sport)?, u16_at(layout.dport)?);
    if sport == 0 || dport == 0 {
        return None;
    }
    Some(Route {
        local: SocketAddr::new(address(layout.src)?, sport),
        remote: SocketAddr::new(address(layout.dst)?, dport),
    })
}

/// A process name as the kernel keeps it (`comm`, at most 15 bytes), stored inline so the
/// bounded maps hold no heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Comm([u8; COMM_LEN]);

impl Comm {
    /// The name from a NUL-padded or NUL-terminated `comm`; `None` when empty.
    pub(super) fn from_bytes(bytes: &[u8]) -> Option<Comm> {
        let len = bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(bytes.len())
            .min(COMM_LEN - 1);
        if len == 0 {
            return None;
        }
        let mut comm = [0; COMM_LEN];
        comm[..len].copy_from_slice(&bytes[..len]);
        Some(Comm(comm))
    }

    /// The bytes before the first NUL, as text (not yet cleaned for display).
    pub(crate) fn text(&self) -> String {
        let len = self.0.iter().position(|&b| b == 0).unwrap_or(COMM_LEN);
        String::from_utf8_lossy(&self.0[..len]).into_owned()
    }
}

/// A `PERF_RECORD_COMM` (u32 pid, u32 tid, the NUL-padded name): the process's new name
/// when its main thread (`pid == tid`) execs or is renamed; `None` for another thread's
/// rename (`/proc/PID/comm` is the main thread's) or a short record.
pub(super) fn decode_comm(body: &[u8]) -> Option<(Pid, Comm)> {
    let pid = u32::from_ne_bytes(body.get(0..4)?.try_into().ok()?);
    let tid = u32::from_ne_bytes(body.get(4..8)?.try_into().ok()?);
    if pid != tid {
        return None;
    }
    let name = body.get(8..)?;
    Some((pid, Comm::from_bytes(&name[..name.len().min(COMM_LEN)])?))
}

/// A `PERF_RECORD_FORK` (u32 pid, ppid, tid, ptid, u64 time): a new process (`pid ==
/// tid`) forked by its parent's main thread (`ptid == ppid`), whose name it keeps until
/// it execs; `None` for a new thread, or a process forked by another thread (it takes
/// that thread's name, which is not kept here).
pub(super) fn decode_fork(body: &[u8]) -> Option<(Pid, Pid)> {
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(body.get(at..at + 4)?.try_into().ok()?))
    };
    let (pid, ppid, tid, ptid) = (word(0)?, word(4)?, word(8)?, word(12)?);
    (pid == tid && pid != ppid && ptid == ppid).then_some((pid, ppid))
}

#[cfg(test)]
mod tests;
