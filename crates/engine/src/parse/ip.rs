//! IPv4 / IPv6 and the transport ports: from a laxly sliced packet to a [`PacketMeta`].
//!
//! Ports are read from the IP payload directly (only its first bytes are needed), so a
//! first fragment or a payload cut off by the snaplen still gives its ports.

use super::dns;
use super::fragments::{FragmentKey, FragmentTable};
use super::ident;
use super::{Ident, PacketKind, PacketMeta};
use crate::Transport;
use etherparse::{IpNumber, LaxNetSlice, LaxSlicedPacket};
use std::net::{IpAddr, SocketAddr};

/// Where this packet sits in a fragmented IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fragment {
    /// Not fragmented: the payload starts with the transport header.
    Whole,
    /// First fragment: transport header present; later fragments need its ports.
    First { id: u32 },
    /// A later fragment: payload is data only.
    Later { id: u32, last: bool },
}

/// Builds the packet's meta data from its network layer.
pub fn parse_ip<'a>(
    packet: LaxSlicedPacket<'a>,
    wire_len: u32,
    fragments: &mut FragmentTable,
) -> PacketMeta<'a> {
    let (src, dst, fragment, payload, ip_fields) = match &packet.net {
        Some(LaxNetSlice::Ipv4(ipv4)) => {
            let header = ipv4.header();
            let offset = header.fragments_offset().value();
            let id = u32::from(header.identification());
            let fragment = match (offset, header.more_fragments()) {
                (0, false) => Fragment::Whole,
                (0, true) => Fragment::First { id },
                (_, more) => Fragment::Later { id, last: !more },
            };
            (
                IpAddr::V4(header.source_addr()),
                IpAddr::V4(header.destination_addr()),
                fragment,
                ipv4.payload(),
                ident::ipv4_fields(header.slice()),
            )
        }
        Some(LaxNetSlice::Ipv6(ipv6)) => {
            let header = ipv6.header();
            // Walked by hand: etherparse 0.21's extension iterator reads out of bounds on
            // some laxly sliced packets (found by the property test below).
            let fragment = ipv6_fragment(header.next_header(), ipv6.extensions().slice());
            (
                IpAddr::V6(header.source_addr()),
                IpAddr::V6(header.destination_addr()),
                fragment,
                ipv6.payload(),
                ident::ipv6_fields(header.slice()),
            )
        }
        Some(LaxNetSlice::Arp(_)) | None => return PacketMeta::other(wire_len),
    };

    let transport = transport_of(payload.ip_number);
    let key = |id| FragmentKey {
        src,
        dst,
        transport,
        id,
    };
    let (ports, kind) = match fragment {
        Fragment::Whole => read_ports(transport, payload.ip_number, payload.payload),
        Fragment::First { id } => {
            let (ports, kind) = read_ports(transport, payload.ip_number, payload.payload);
            if transport != Transport::Other {
                fragments.remember(key(id), ports);
            }
            (ports, kind)
        }
        Fragment::Later { id, last } => (
            fragments
                .ports_of(&key(id), last)
                .unwrap_or_else(|| other_ports(transport, payload.ip_number)),
            PacketKind::Plain,
        ),
    };
    // DNS is read from whole packets only (a fragmented response is skipped).
    let dns = match (fragment, transport) {
        (Fragment::Whole, Transport::Tcp | Transport::Udp) => dns::payload::of_packet(
            transport == Transport::Tcp,
            ports.0,
            payload.payload,
            !payload.incomplete,
        ),
        _ => None,
    };
    PacketMeta {
        transport,
        src: SocketAddr::new(src, ports.0),
        dst: SocketAddr::new(dst, ports.1),
        wire_len,
        kind,
        dns,
        ident: Ident::Packet {
            ip_fields,
            proto: payload.ip_number.0,
            l4: payload.payload,
        },
    }
}

fn transport_of(ip_number: IpNumber) -> Transport {
    match ip_number {
        IpNumber::TCP => Transport::Tcp,
        IpNumber::UDP => Transport::Udp,
        IpNumber::ICMP | IpNumber::IPV6_ICMP => Transport::Icmp,
        _ => Transport::Other,
    }
}

/// ICMPv4 echo request and reply types.
const ICMPV4_ECHO: (u8, u8) = (8, 0);
/// ICMPv6 echo request and reply types.
const ICMPV6_ECHO: (u8, u8) = (128, 129);
/// Offset of the TCP flags byte in the TCP header.
const TCP_FLAGS_OFFSET: usize = 13;
const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;

/// (source port, destination port) and the packet's kind. ICMP echo uses its identifier
/// as both ports (that is how ping sockets are bound), another IP protocol its protocol
/// number; TCP, UDP and ICMP whose ports were cut off get 0.
fn read_ports(
    transport: Transport,
    ip_number: IpNumber,
    payload: &[u8],
) -> ((u16, u16), PacketKind) {
    let be16 = |at: usize| {
        payload
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    match transport {
        Transport::Tcp | Transport::Udp => {
            let ports = (be16(0).unwrap_or(0), be16(2).unwrap_or(0));
            let flags = match transport {
                Transport::Tcp => payload.get(TCP_FLAGS_OFFSET).copied(),
                _ => None,
            };
            let kind = match flags {
                Some(flags) if flags & (TCP_SYN | TCP_ACK) == TCP_SYN => PacketKind::TcpSyn,
                Some(flags) if flags & (TCP_FIN | TCP_RST) != 0 => PacketKind::TcpFin,
                _ => PacketKind::Plain,
            };
            (ports, kind)
        }
        Transport::Icmp => {
            let (request, reply) = if ip_number == IpNumber::ICMP {
                ICMPV4_ECHO
            } else {
                ICMPV6_ECHO
            };
            let kind = match payload.first() {
                Some(t) if *t == request => PacketKind::EchoRequest,
                Some(t) if *t == reply => PacketKind::EchoReply,
                _ => PacketKind::Plain,
            };
            let id = if kind == PacketKind::Plain {
                0
            } else {
                be16(4).unwrap_or(0)
            };
            ((id, id), kind)
        }
        Transport::Other | Transport::Tunnel => {
            (other_ports(transport, ip_number), PacketKind::Plain)
        }
    }
}

/// The "ports" of a packet of another IP protocol: its protocol number on both sides, as
/// the kernel's raw socket table keys raw sockets (so a raw socket's traffic finds it);
/// 0 for TCP, UDP and ICMP fragments whose first fragment was not seen.
fn other_ports(transport: Transport, ip_number: IpNumber) -> (u16, u16) {
    match transport {
        Transport::Other => (u16::from(ip_number.0), u16::from(ip_number.0)),
        _ => (0, 0),
    }
}

/// Finds the fragment header among IPv6 extension headers (`extensions` as sliced after
/// the fixed header, starting with `next_header`), checking every length.
fn ipv6_fragment(mut next_header: IpNumber, extensions: &[u8]) -> Fragment {
    let mut at = 0usize;
    // At most a handful of extension headers exist; bound the walk anyway.
    for _ in 0..16 {
        let Some(header) = extensions.get(at..) else {
            break;
        };
        let len = match next_header {
            IpNumber::IPV6_FRAGMENTATION_HEADER => {
                let Some(bytes) = header.get(..8) else {
                    break;
                };
                let offset_and_flags = u16::from_be_bytes([bytes[2], bytes[3]]);
                let id = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
                let more = offset_and_flags & 1 == 1;
                return match (offset_and_flags >> 3, more) {
                    (0, false) => Fragment::Whole,
                    (0, true) => Fragment::First { id },
                    (_, more) => Fragment::Later { id, last: !more },
                };
            }
            IpNumber::IPV6_HEADER_HOP_BY_HOP
            | IpNumber::IPV6_ROUTE_HEADER
            | IpNumber::IPV6_DESTINATION_OPTIONS => match header.get(1) {
                Some(units) => (usize::from(*units) + 1) * 8,
                None => break,
            },
            IpNumber::AUTHENTICATION_HEADER => match header.get(1) {
                Some(units) => (usize::from(*units) + 2) * 4,
                None => break,
            },
            _ => break,
        };
        let Some(next) = header.first() else {
            break;
        };
        next_header = IpNumber(*next);
        at += len;
    }
    Fragment::Whole
}
