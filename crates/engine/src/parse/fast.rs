//! The common case read straight from the bytes: an unfragmented IPv4 or IPv6 packet (no
//! IPv6 extension headers) carrying TCP or UDP, on Ethernet without tags, Linux cooked
//! capture or raw IP. Anything else — tags, fragments, extension headers, ICMP, a header cut
//! short, lengths that disagree — returns `None` and goes the general way through
//! etherparse, which this must agree with whenever it answers (a property test checks it).
//!
//! Why: etherparse slices every layer into a large struct that is copied around; that was
//! about half of the per-packet CPU in the profile (`build-aux/bench/README.md`), while
//! these few fixed offsets are all accounting needs.

use super::dns;
use super::ident;
use super::link::LinkType;
use super::{Ident, PacketKind, PacketMeta};
use crate::Transport;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERNET_HEADER_LEN: usize = 14;
const SLL_HEADER_LEN: usize = 16;
const SLL2_HEADER_LEN: usize = 20;
const IPV6_HEADER_LEN: usize = 40;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
/// Bytes of the TCP header read: ports and the flags byte.
const TCP_NEEDED: usize = 14;
/// Bytes of the UDP header read: ports.
const UDP_NEEDED: usize = 4;
const TCP_FLAGS_OFFSET: usize = 13;
const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;

/// The packet's meta data when the frame is of the common shape, else `None`.
pub fn parse(link: LinkType, frame: &[u8], wire_len: u32) -> Option<PacketMeta<'_>> {
    let (ethertype, net) = match link {
        LinkType::Ethernet => (be16(frame, 12)?, frame.get(ETHERNET_HEADER_LEN..)?),
        LinkType::LinuxSll => (be16(frame, 14)?, frame.get(SLL_HEADER_LEN..)?),
        LinkType::LinuxSll2 => (be16(frame, 0)?, frame.get(SLL2_HEADER_LEN..)?),
        LinkType::RawIp => match frame.first()? >> 4 {
            4 => (ETHERTYPE_IPV4, frame),
            6 => (ETHERTYPE_IPV6, frame),
            _ => return None,
        },
        _ => return None,
    };
    let (src, dst, proto, payload, complete, ip_fields) = match ethertype {
        ETHERTYPE_IPV4 => ipv4(net)?,
        ETHERTYPE_IPV6 => ipv6(net)?,
        _ => return None,
    };
    let (transport, kind) = match proto {
        PROTO_TCP if payload.len() >= TCP_NEEDED => {
            let flags = payload[TCP_FLAGS_OFFSET];
            let kind = if flags & (TCP_SYN | TCP_ACK) == TCP_SYN {
                PacketKind::TcpSyn
            } else if flags & (TCP_FIN | TCP_RST) != 0 {
                PacketKind::TcpFin
            } else {
                PacketKind::Plain
            };
            (Transport::Tcp, kind)
        }
        PROTO_UDP if payload.len() >= UDP_NEEDED => (Transport::Udp, PacketKind::Plain),
        _ => return None,
    };
    let src_port = be16(payload, 0)?;
    Some(PacketMeta {
        transport,
        src: SocketAddr::new(src, src_port),
        dst: SocketAddr::new(dst, be16(payload, 2)?),
        wire_len,
        kind,
        dns: dns::payload::of_packet(transport == Transport::Tcp, src_port, payload, complete),
        ident: Ident::Packet {
            ip_fields,
            proto,
            l4: payload,
        },
    })
}

/// Addresses, protocol, payload and whether the capture holds all of it, and the invariant
/// header fields ([`ident::ipv4_fields`]).
type IpParts<'a> = (IpAddr, IpAddr, u8, &'a [u8], bool, u64);

/// The [`IpParts`] (payload cut to the header's total length) of a whole, unfragmented
/// IPv4 packet.
fn ipv4(net: &[u8]) -> Option<IpParts<'_>> {
    let header = net.get(..20)?;
    let header_len = usize::from(header[0] & 0x0f) * 4;
    if header[0] >> 4 != 4 || header_len < 20 || net.len() < header_len {
        return None;
    }
    // More-fragments flag or a fragment offset: the general path keeps fragment state.
    if u16::from_be_bytes([header[6], header[7]]) & 0x3fff != 0 {
        return None;
    }
    let total_len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    if total_len < header_len {
        return None;
    }
    let end = total_len.min(net.len());
    let src = Ipv4Addr::new(header[12], header[13], header[14], header[15]);
    let dst = Ipv4Addr::new(header[16], header[17], header[18], header[19]);
    let complete = net.len() >= total_len;
    Some((
        src.into(),
        dst.into(),
        header[9],
        &net[header_len..end],
        complete,
        ident::ipv4_fields(header),
    ))
}

/// The [`IpParts`] (payload cut to the payload length) of an IPv6 packet whose next header
/// is the transport (no extension headers).
fn ipv6(net: &[u8]) -> Option<IpParts<'_>> {
    let header = net.get(..IPV6_HEADER_LEN)?;
    if header[0] >> 4 != 6 {
        return None;
    }
    let payload_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
    // 0 means a jumbogram (hop-by-hop option): not the common case.
    if payload_len == 0 {
        return None;
    }
    let end = (IPV6_HEADER_LEN + payload_len).min(net.len());
    let src: [u8; 16] = header[8..24].try_into().ok()?;
    let dst: [u8; 16] = header[24..40].try_into().ok()?;
    Some((
        Ipv6Addr::from(src).into(),
        Ipv6Addr::from(dst).into(),
        header[6],
        &net[IPV6_HEADER_LEN..end],
        net.len() >= IPV6_HEADER_LEN + payload_len,
        ident::ipv6_fields(header),
    ))
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}
