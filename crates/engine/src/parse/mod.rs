//! The capture edge: turns one captured frame into a small owned [`PacketMeta`]; nothing
//! deeper in the engine sees raw bytes.
//!
//! ```text
//! frame ─► link (by pcap datalink) ─► IPv4 / IPv6 (extension headers) ─► transport ports
//!                                         └─ fragments after the first: ports from the first
//! dns/    a DNS response's payload ─► question name, CNAME chain, addresses with TTLs
//!         (not on the frame path yet: issue 16 feeds it port-53 payloads)
//! ```
//!
//! Every input is untrusted: a frame that is short, truncated by the snaplen or simply
//! garbage still yields a `PacketMeta` (transport `Other`, unspecified addresses) carrying
//! its wire length, so it is counted and never lost.

pub mod dns;
mod fast;
mod fragments;
mod ip;
mod link;
#[cfg(test)]
mod tests;

pub use fragments::FragmentTable;
pub use link::LinkType;

use crate::Transport;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// What accounting needs to know about one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketMeta {
    pub transport: Transport,
    /// Source address and port (ICMP echo: the echo identifier; other ICMP: 0; another IP
    /// protocol: its protocol number, as raw sockets are keyed).
    pub src: SocketAddr,
    /// Destination address and port, as for `src`.
    pub dst: SocketAddr,
    /// Length of the packet on the wire, in bytes (pcap's `len`, never `caplen`).
    pub wire_len: u32,
    /// What the packet means for attribution, beyond its addresses.
    pub kind: PacketKind,
}

/// The few header bits accounting cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    Plain,
    /// A TCP SYN without ACK: a connection (re)starts, so owners cached for this 4-tuple
    /// may belong to a previous connection.
    TcpSyn,
    /// A TCP FIN or RST: the connection is closing, so its flow is forgotten soon after it
    /// falls silent instead of after the full idle timeout (a machine opening thousands of
    /// short connections must not keep each in the flow table for a minute).
    TcpFin,
    /// ICMP / ICMPv6 echo request: sent by a socket, answered by the kernel.
    EchoRequest,
    /// ICMP / ICMPv6 echo reply: sent by the kernel, received by the requesting socket.
    EchoReply,
}

impl PacketMeta {
    /// A frame that carries no IP packet we understand (ARP, truncated, unknown link).
    pub fn other(wire_len: u32) -> Self {
        let unspecified = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
        Self {
            transport: Transport::Other,
            src: unspecified,
            dst: unspecified,
            wire_len,
            kind: PacketKind::Plain,
        }
    }

    /// Whether the packet carried IP addresses (only those can belong to a socket).
    pub fn is_ip(&self) -> bool {
        !self.src.ip().is_unspecified() || !self.dst.ip().is_unspecified()
    }
}

/// Parses one frame captured on a handle of datalink `link`. `wire_len` is the length the
/// packet had on the wire; `frame` may be shorter (snaplen). Never panics.
pub fn parse_frame(
    link: LinkType,
    frame: &[u8],
    wire_len: u32,
    fragments: &mut FragmentTable,
) -> PacketMeta {
    match fast::parse(link, frame, wire_len) {
        Some(meta) => meta,
        None => parse_general(link, frame, wire_len, fragments),
    }
}

/// Every frame the fast path leaves: link layers, tags, fragments and extension headers
/// through etherparse.
fn parse_general(
    link: LinkType,
    frame: &[u8],
    wire_len: u32,
    fragments: &mut FragmentTable,
) -> PacketMeta {
    match link::network_layer(link, frame) {
        Some(net) => ip::parse_ip(net, wire_len, fragments),
        None => PacketMeta::other(wire_len),
    }
}
