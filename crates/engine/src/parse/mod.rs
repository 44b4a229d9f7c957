//! The capture edge: turns one captured frame into a small owned [`PacketMeta`]; nothing
//! deeper in the engine sees raw bytes.
//!
//! ```text
//! frame ─► link (by pcap datalink) ─► IPv4 / IPv6 (extension headers) ─► transport ports
//!                                         └─ fragments after the first: ports from the first
//! dns/    a DNS response's payload ─► question name, CNAME chain, addresses with TTLs;
//!         payload.rs: which packets carry one (source port 53, 5353, 5355), borrowed
//!         into PacketMeta::dns for accounting to decode under its budgets
//! ```
//!
//! Every input is untrusted: a frame that is short, truncated by the snaplen or simply
//! garbage still yields a `PacketMeta` (transport `Other`, unspecified addresses) carrying
//! its wire length, so it is counted and never lost. The one exception to "no raw bytes
//! deeper in": a DNS response's message, borrowed from the frame ([`PacketMeta::dns`]) for
//! the packet's accounting to decode (issue 16), since only accounting knows its asker.

pub mod dns;
mod fast;
mod fragments;
pub(crate) mod ident;
mod ip;
mod link;
#[cfg(test)]
mod tests;

pub use fragments::FragmentTable;
pub use link::{ethernet_source_and_type, LinkType};

use crate::Transport;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// What accounting needs to know about one packet; `'a` is the captured frame's lifetime
/// (only [`PacketMeta::dns`] borrows from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketMeta<'a> {
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
    /// The DNS response(s) of a whole TCP or UDP packet sent from a DNS port, as far as
    /// they were captured; `None` for every other packet.
    pub dns: Option<dns::DnsPayload<'a>>,
    /// Fingerprint of the packet, the same on every interface it crosses and through NAT
    /// (see `ident`), computed when asked for ([`Ident::value`]).
    pub ident: Ident<'a>,
}

/// A packet's fingerprint, or what it is computed from: accounting asks for it only for
/// flows still watched for copies on other interfaces (`accounting::sightings`), so the
/// packets of settled flows do not pay for the hash.
#[derive(Debug, Clone, Copy)]
pub enum Ident<'a> {
    /// No fingerprint: not an IP packet.
    None,
    /// A fingerprint given as is (tests).
    Known(u64),
    /// From the invariant IP header fields, the IP protocol and the transport header and
    /// payload as captured.
    Packet {
        ip_fields: u64,
        proto: u8,
        l4: &'a [u8],
    },
}

impl Ident<'_> {
    /// The fingerprint; 0 for none.
    pub fn value(&self) -> u64 {
        match *self {
            Ident::None => 0,
            Ident::Known(value) => value,
            Ident::Packet {
                ip_fields,
                proto,
                l4,
            } => ident::of(ip_fields, proto, l4),
        }
    }

    /// A TCP segment's sequence number and payload length in bytes, when this is one with
    /// payload (see [`ident::tcp_range`]).
    pub fn tcp_range(&self) -> Option<(u32, u32)> {
        match *self {
            Ident::Packet {
                ip_fields,
                proto,
                l4,
            } => ident::tcp_range(ip_fields, proto, l4),
            Ident::None | Ident::Known(_) => None,
        }
    }
}

/// Equal when the fingerprints are: the fast and the general parser may slice the same
/// packet's bytes differently without it mattering.
impl PartialEq for Ident<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value()
    }
}

impl Eq for Ident<'_> {}

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

impl PacketMeta<'_> {
    /// A frame that carries no IP packet we understand (ARP, truncated, unknown link).
    pub fn other(wire_len: u32) -> PacketMeta<'static> {
        let unspecified = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
        PacketMeta {
            transport: Transport::Other,
            src: unspecified,
            dst: unspecified,
            wire_len,
            kind: PacketKind::Plain,
            dns: None,
            ident: Ident::None,
        }
    }

    /// The same meta data without the borrowed DNS payload, to keep past the frame.
    pub fn without_payload(&self) -> PacketMeta<'static> {
        PacketMeta {
            transport: self.transport,
            src: self.src,
            dst: self.dst,
            wire_len: self.wire_len,
            kind: self.kind,
            dns: None,
            ident: match self.ident {
                Ident::None => Ident::None,
                ident => Ident::Known(ident.value()),
            },
        }
    }

    /// Whether the packet carried IP addresses (only those can belong to a socket).
    pub fn is_ip(&self) -> bool {
        !self.src.ip().is_unspecified() || !self.dst.ip().is_unspecified()
    }
}

/// Parses one frame captured on a handle of datalink `link`. `wire_len` is the length the
/// packet had on the wire; `frame` may be shorter (snaplen). Never panics.
pub fn parse_frame<'a>(
    link: LinkType,
    frame: &'a [u8],
    wire_len: u32,
    fragments: &mut FragmentTable,
) -> PacketMeta<'a> {
    match fast::parse(link, frame, wire_len) {
        Some(meta) => meta,
        None => parse_general(link, frame, wire_len, fragments),
    }
}

/// Every frame the fast path leaves: link layers, tags, fragments and extension headers
/// through etherparse.
fn parse_general<'a>(
    link: LinkType,
    frame: &'a [u8],
    wire_len: u32,
    fragments: &mut FragmentTable,
) -> PacketMeta<'a> {
    match link::network_layer(link, frame) {
        Some(net) => ip::parse_ip(net, wire_len, fragments),
        None => PacketMeta::other(wire_len),
    }
}
