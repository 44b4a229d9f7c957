//! The kernel filter on every capture handle: a classic BPF program whose return value is
//! each packet's snap length. DNS answers (UDP or TCP from port 53, mDNS 5353, LLMNR 5355)
//! are copied up to [`DNS_SNAP`] bytes, so the host names in them can be read
//! (`parse::dns`); every other packet only up to [`HEADER_SNAP`], its headers. The program
//! never returns 0: every packet reaches the ring and is counted, malformed ones too (a
//! classic BPF load past a packet's end ends the program with 0, so each load is preceded
//! by a check of the length).
//!
//! Why a filter and not one snap length: the handles are TPACKET_V3 rings
//! (`capture::devices`), where a packet takes only the room it was cut to, so the snap
//! length is what the kernel copies per packet. Without a filter the kernel would copy
//! whole packets (64 KiB super-frames on `lo`) and libpcap would cut them afterwards. A
//! second handle per interface for DNS alone would run every packet past two taps.
//!
//! The program reads the link header length of the handle's link type and the kernel's
//! own idea of the packet's protocol (`SKF_AD_PROTOCOL`, so VLAN tags the driver stripped
//! do not matter). DNS inside a VLAN tag the driver kept, behind IPv6 extension headers, or
//! in an IP fragment other than the first is cut to the headers (its bytes are still
//! counted; its names are not read).
//!
//! On `lo` each packet passes the tap twice, going out and coming in. The outgoing copies
//! are not taken at all (`PACKET_IGNORE_OUTGOING`, Linux 4.20+): the kernel skips the
//! socket before cloning the packet for it, and libpcap would drop those copies anyway.

use crate::parse::LinkType;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Bytes copied of a packet that is not a DNS answer: Ethernet + two VLAN tags + IPv4 with
/// options or IPv6 with an extension header + the TCP header with its flags (what the
/// parser reads; wire lengths come from the kernel, not from this).
pub const HEADER_SNAP: u32 = 128;
/// Bytes copied of a DNS answer: the classic UDP limit is 512 bytes, EDNS answers go up to
/// 4,096 here (resolvers advertise 1,232–4,096); longer ones are read as truncated.
pub const DNS_SNAP: u32 = 4096;
/// Source ports of the answers whose names are read: DNS, mDNS, LLMNR.
const DNS_PORTS: [u16; 3] = [53, 5353, 5355];

/// `PACKET_IGNORE_OUTGOING` from `linux/if_packet.h` (the libc crate has it only in its
/// uapi tree, not exported for this target).
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;

const ETH_P_IP: u32 = 0x0800;
const ETH_P_IPV6: u32 = 0x86dd;
const IPPROTO_TCP: u32 = 6;
const IPPROTO_UDP: u32 = 17;
/// The fragment offset bits of IPv4's flags-and-offset field.
const IPV4_FRAGMENT_OFFSET: u32 = 0x1fff;

/// Bytes before the IP header for `link`, or `None` when the program cannot tell where it
/// starts (the handle then cuts every packet to the headers).
fn link_header_len(link: LinkType) -> Option<u32> {
    match link {
        LinkType::Ethernet => Some(14),
        // libpcap opens cooked handles as SOCK_DGRAM sockets: the kernel runs their
        // filter on the packet from its network header (libpcap adds the SLL header
        // afterwards).
        LinkType::LinuxSll | LinkType::LinuxSll2 => Some(0),
        LinkType::Null | LinkType::Loop => Some(4),
        LinkType::RawIp | LinkType::Ipv4 | LinkType::Ipv6 => Some(0),
        LinkType::Unsupported(_) => None,
    }
}

/// Where a jump goes: on to the next instruction, to a block, or to one of the two
/// returns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum To {
    Next,
    /// Over the next `n` instructions.
    Over(u8),
    Ipv6,
    Small,
    Big,
}

/// One instruction before its jumps are resolved.
struct Insn {
    code: u32,
    k: u32,
    jt: To,
    jf: To,
}

fn op(code: u32, k: u32) -> Insn {
    Insn {
        code,
        k,
        jt: To::Next,
        jf: To::Next,
    }
}

fn jump(code: u32, k: u32, jt: To, jf: To) -> Insn {
    Insn { code, k, jt, jf }
}

/// The program for a handle of `link`.
pub fn program(link: LinkType) -> Vec<libc::sock_filter> {
    use libc::{
        BPF_ABS, BPF_ALU, BPF_B, BPF_H, BPF_IND, BPF_JEQ, BPF_JGE, BPF_JMP, BPF_JSET, BPF_K,
        BPF_LD, BPF_LDX, BPF_LEN, BPF_MSH, BPF_RET, BPF_SUB, BPF_W, BPF_X,
    };
    let Some(l) = link_header_len(link) else {
        return assemble(vec![op(BPF_RET | BPF_K, HEADER_SNAP)]);
    };
    let load = |size: u32, offset: u32| op(BPF_LD | size | BPF_ABS, offset);
    let length = || op(BPF_LD | BPF_W | BPF_LEN, 0);
    let at_least = |bytes: u32| jump(BPF_JMP | BPF_JGE | BPF_K, bytes, To::Next, To::Small);
    let equal = |k: u32, jt: To, jf: To| jump(BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf);
    let dns_source_port = || {
        let last = DNS_PORTS.len() - 1;
        DNS_PORTS.iter().enumerate().map(move |(i, &port)| {
            let otherwise = if i == last { To::Small } else { To::Next };
            equal(u32::from(port), To::Big, otherwise)
        })
    };
    let mut p = vec![
        // A = the packet's protocol (EtherType, host order), as the kernel knows it.
        op(
            BPF_LD | BPF_W | BPF_ABS,
            (libc::SKF_AD_OFF + libc::SKF_AD_PROTOCOL) as u32,
        ),
        equal(ETH_P_IPV6, To::Ipv6, To::Next),
        equal(ETH_P_IP, To::Next, To::Small),
        // IPv4: the minimal header is there; UDP or TCP; not a later fragment.
        length(),
        at_least(l + 20),
        load(BPF_B, l + 9),
        equal(IPPROTO_UDP, To::Over(1), To::Next),
        equal(IPPROTO_TCP, To::Next, To::Small),
        load(BPF_H, l + 6),
        jump(
            BPF_JMP | BPF_JSET | BPF_K,
            IPV4_FRAGMENT_OFFSET,
            To::Small,
            To::Next,
        ),
        // X = the offset of the transport header; its source port is within the packet
        // when length - 2 >= X.
        op(BPF_LDX | BPF_B | BPF_MSH, l),
        length(),
        op(BPF_ALU | BPF_SUB | BPF_K, l + 2),
        jump(BPF_JMP | BPF_JGE | BPF_X, 0, To::Next, To::Small),
        op(BPF_LD | BPF_H | BPF_IND, l),
    ];
    p.extend(dns_source_port());
    let ipv6 = p.len();
    p.extend([
        // IPv6: the fixed header and a source port are there; UDP or TCP right after it.
        length(),
        at_least(l + 42),
        load(BPF_B, l + 6),
        equal(IPPROTO_UDP, To::Over(1), To::Next),
        equal(IPPROTO_TCP, To::Next, To::Small),
        load(BPF_H, l + 40),
    ]);
    p.extend(dns_source_port());
    assemble_with(p, ipv6)
}

fn assemble(insns: Vec<Insn>) -> Vec<libc::sock_filter> {
    assemble_with(insns, 0)
}

/// Resolves the jumps of `insns` (the IPv6 block starting at `ipv6`) and appends the two
/// returns, [`HEADER_SNAP`] then [`DNS_SNAP`].
fn assemble_with(mut insns: Vec<Insn>, ipv6: usize) -> Vec<libc::sock_filter> {
    use libc::{BPF_K, BPF_RET};
    let small = insns.len();
    insns.push(op(BPF_RET | BPF_K, HEADER_SNAP));
    insns.push(op(BPF_RET | BPF_K, DNS_SNAP));
    let big = small + 1;
    let offset = |at: usize, to: To| {
        let target = match to {
            To::Next => return 0,
            To::Over(n) => return n,
            To::Ipv6 => ipv6,
            To::Small => small,
            To::Big => big,
        };
        // Every target lies ahead, within the 255 instructions a jump can skip (the
        // program has some 40).
        u8::try_from(target.saturating_sub(at + 1)).unwrap_or(u8::MAX)
    };
    insns
        .iter()
        .enumerate()
        .map(|(at, insn)| libc::sock_filter {
            // Every opcode fits in 16 bits (libc gives them as u32).
            code: insn.code as u16,
            jt: offset(at, insn.jt),
            jf: offset(at, insn.jf),
            k: insn.k,
        })
        .collect()
}

/// Attaches [`program`]`(link)` to the packet socket `fd`.
pub fn attach(fd: BorrowedFd<'_>, link: LinkType) -> io::Result<()> {
    let mut program = program(link);
    let fprog = libc::sock_fprog {
        len: u16::try_from(program.len()).map_err(|_| io::Error::other("filter too long"))?,
        filter: program.as_mut_ptr(),
    };
    // The kernel copies the `len` instructions `fprog` points to during the call;
    // `program` outlives it.
    set_option(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
}

/// Tells the kernel not to hand the packet socket `fd` outgoing packets (for `lo`, where
/// each is seen again coming in).
pub fn ignore_outgoing(fd: BorrowedFd<'_>) -> io::Result<()> {
    let on: libc::c_int = 1;
    set_option(fd, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, &on)
}

/// setsockopt(2) with `value` (rustix has neither option).
fn set_option<T>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let size = libc::socklen_t::try_from(std::mem::size_of::<T>())
        .map_err(|_| io::Error::other("option too large"))?;
    // SAFETY: `fd` is a live socket for the call; the kernel reads `size` bytes at
    // `value`, a live reference of that size (and what the caller's value points to,
    // which the caller keeps alive), and writes nothing to user memory.
    let done = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(value).cast(),
            size,
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
#[path = "snap_filter_tests.rs"]
mod tests;
