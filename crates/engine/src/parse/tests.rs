//! Frame parser specifications on byte-array fixtures, one per link type and header
//! combination, plus a property test that no input makes the parser panic.

use super::*;
use crate::Transport;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Ethernet / IPv4 10.0.0.1 → 10.0.0.2 / TCP 40000 → 80, SYN.
static ETH_IPV4_TCP_SYN: [u8; 54] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45, 0x00,
    0x00, 0x28, 0x12, 0x34, 0x00, 0x00, 0x40, 0x06, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
    0x00, 0x02, 0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x50, 0x02,
    0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
];

/// Ethernet / 802.1Q VLAN 100 / IPv4 10.0.0.1 → 10.0.0.2 / UDP 5353 → 53, 4 bytes.
static ETH_VLAN_IPV4_UDP: [u8; 50] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x81, 0x00, 0x00, 0x64,
    0x08, 0x00, 0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, 0x0a, 0x00,
    0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x14, 0xe9, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, 0x61, 0x62,
    0x63, 0x64,
];

/// Ethernet / 802.1ad S-tag 200 / 802.1Q C-tag 100 / IPv6 fd00::1 → fd00::2 / TCP 443 → 50000, SYN+ACK.
static ETH_QINQ_IPV6_TCP: [u8; 82] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0xa8, 0x00, 0xc8,
    0x81, 0x00, 0x00, 0x64, 0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x14, 0x06, 0x40, 0xfd, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01, 0xbb,
    0xc3, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x50, 0x12, 0xff, 0xff, 0x00, 0x00,
    0x00, 0x00,
];

/// Linux cooked v1 (outgoing) / IPv4 10.0.0.1 → 10.0.0.2 / UDP 1000 → 2000.
static SLL_IPV4_UDP: [u8; 44] = [
    0x00, 0x04, 0x00, 0x01, 0x00, 0x06, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x08, 0x00,
    0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01,
    0x0a, 0x00, 0x00, 0x02, 0x03, 0xe8, 0x07, 0xd0, 0x00, 0x08, 0x00, 0x00,
];

/// Linux cooked v2 (ifindex 3, to us) / IPv6 fd00::1 → fd00::2 / UDP 3000 → 4000, 2 bytes.
static SLL2_IPV6_UDP: [u8; 70] = [
    0x86, 0xdd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x06, 0x02, 0x00, 0x00, 0x00,
    0x00, 0x01, 0x00, 0x00, 0x60, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x11, 0x40, 0xfd, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x0b, 0xb8, 0x0f, 0xa0,
    0x00, 0x0a, 0x00, 0x00, 0x78, 0x79,
];

/// BSD NULL (AF_INET, little-endian host) / IPv4 127.0.0.1 → 127.0.0.1 / ICMP echo request id 0xbeef.
static NULL_IPV4_ICMP_ECHO: [u8; 32] = [
    0x02, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00,
    0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0xbe, 0xef, 0x00, 0x01,
];

/// BSD LOOP (AF_INET6 = 30, network order) / IPv6 fd00::2 → fd00::1 / ICMPv6 echo reply id 0x0102.
static LOOP_IPV6_ICMPV6_ECHO_REPLY: [u8; 52] = [
    0x00, 0x00, 0x00, 0x1e, 0x60, 0x00, 0x00, 0x00, 0x00, 0x08, 0x3a, 0x40, 0xfd, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xfd, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x81, 0x00, 0x00, 0x00,
    0x01, 0x02, 0x00, 0x01,
];

/// Raw IPv4 (tun) / 10.0.0.1 → 10.0.0.2 / UDP 51820 → 51821.
static RAW_IPV4_UDP: [u8; 28] = [
    0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01,
    0x0a, 0x00, 0x00, 0x02, 0xca, 0x6c, 0xca, 0x6d, 0x00, 0x08, 0x00, 0x00,
];

/// Raw IPv6 / fd00::1 → fd00::2 / TCP 22 → 60000, ACK.
static RAW_IPV6_TCP: [u8; 60] = [
    0x60, 0x00, 0x00, 0x00, 0x00, 0x14, 0x06, 0x40, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x16, 0xea, 0x60, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x50, 0x10, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
];

/// Raw IPv6 / hop-by-hop options / destination options / UDP 7000 → 8000.
static RAW_IPV6_EXT_UDP: [u8; 64] = [
    0x60, 0x00, 0x00, 0x00, 0x00, 0x18, 0x00, 0x40, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x3c, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00,
    0x11, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x1b, 0x58, 0x1f, 0x40, 0x00, 0x08, 0x00, 0x00,
];

/// Raw IPv4 first fragment (MF, offset 0, id 0x4242) / UDP 1111 → 2222; captured 60 of 1500 bytes.
static RAW_IPV4_FRAG_FIRST: [u8; 60] = [
    0x45, 0x00, 0x05, 0xdc, 0x42, 0x42, 0x20, 0x00, 0x40, 0x11, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01,
    0x0a, 0x00, 0x00, 0x02, 0x04, 0x57, 0x08, 0xae, 0x05, 0xc8, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03,
    0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13,
    0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
];

/// Raw IPv4 last fragment (offset 185 × 8 = 1480, id 0x4242) of the packet above, data only.
static RAW_IPV4_FRAG_LAST: [u8; 60] = [
    0x45, 0x00, 0x00, 0x78, 0x42, 0x42, 0x00, 0xb9, 0x40, 0x11, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01,
    0x0a, 0x00, 0x00, 0x02, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
    0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b,
    0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27,
];

/// Raw IPv6 / fragment header (offset 0, M, id 0xcafe) / UDP 3333 → 4444 (first fragment, 24 data bytes shown).
static RAW_IPV6_FRAG_FIRST: [u8; 80] = [
    0x60, 0x00, 0x00, 0x00, 0x00, 0x28, 0x2c, 0x40, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x11, 0x00, 0x00, 0x01, 0x00, 0x00, 0xca, 0xfe,
    0x0d, 0x05, 0x11, 0x5c, 0x00, 0x20, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
];

/// Raw IPv6 / fragment header (offset 1448, last, id 0xcafe) / data only.
static RAW_IPV6_FRAG_LATER: [u8; 80] = [
    0x60, 0x00, 0x00, 0x00, 0x00, 0x28, 0x2c, 0x40, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x11, 0x00, 0x05, 0xa8, 0x00, 0x00, 0xca, 0xfe,
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
];

/// Ethernet / IPv4 (total length 1500) / TCP 40000 → 80, cut by the snaplen after 54 bytes.
static ETH_IPV4_TCP_TRUNCATED: [u8; 54] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45, 0x00,
    0x05, 0xdc, 0x12, 0x34, 0x00, 0x00, 0x40, 0x06, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
    0x00, 0x02, 0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x50, 0x18,
    0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
];

/// Ethernet / IPv4 header cut after 10 bytes: no addresses.
static ETH_IPV4_HEADER_CUT: [u8; 24] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45, 0x00,
    0x00, 0x28, 0x12, 0x34, 0x00, 0x00, 0x40, 0x06,
];

/// Ethernet / ARP who-has 10.0.0.2 tell 10.0.0.1.
static ETH_ARP_REQUEST: [u8; 42] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x01,
    0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x02,
];

/// Ethernet / IPv4 / ICMP port unreachable (not echo: no identifier).
static ETH_IPV4_ICMP_UNREACHABLE: [u8; 70] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45, 0x00,
    0x00, 0x38, 0x12, 0x34, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
    0x00, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x45, 0x00, 0x00, 0x1c, 0x12, 0x34,
    0x00, 0x00, 0x40, 0x11, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x01, 0x07, 0xd0,
    0x03, 0xe8, 0x00, 0x08, 0x00, 0x00,
];

/// Ethernet / IPv4 / GRE (protocol 47): counted as other, with addresses.
static ETH_IPV4_GRE: [u8; 38] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45, 0x00,
    0x00, 0x18, 0x12, 0x34, 0x00, 0x00, 0x40, 0x2f, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
    0x00, 0x02, 0x00, 0x00, 0x08, 0x00,
];

/// dnsmasq's answer to `w.sockeye.test AAAA` (fd00:e7::2, TTL 2), 10.0.0.2:53 → 10.0.0.1:40000.
static ETH_IPV4_DNS_ANSWER: [u8; 102] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0x45, 0x00,
    0x00, 0x58, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x02, 0x0a, 0x00,
    0x00, 0x01, 0x00, 0x35, 0x9c, 0x40, 0x00, 0x44, 0x00, 0x00, 0x12, 0x34, 0x85, 0x80, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x77, 0x07, 0x73, 0x6f, 0x63, 0x6b, 0x65, 0x79, 0x65,
    0x04, 0x74, 0x65, 0x73, 0x74, 0x00, 0x00, 0x1c, 0x00, 0x01, 0xc0, 0x0c, 0x00, 0x1c, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x10, 0xfd, 0x00, 0x00, 0xe7, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
];

const A4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const A6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);

fn sa(ip: impl Into<IpAddr>, port: u16) -> SocketAddr {
    SocketAddr::new(ip.into(), port)
}

/// Parses a frame; the fingerprint, checked to be there for every IP packet, is zeroed
/// so that expected values need not spell it out (`ident`'s own tests check its fields).
fn parse(link: LinkType, frame: &[u8], wire_len: u32) -> PacketMeta<'_> {
    let got = parse_frame(link, frame, wire_len, &mut FragmentTable::default());
    assert_eq!(
        got.ident.value() != 0,
        got.is_ip(),
        "fingerprint of {got:?}"
    );
    PacketMeta {
        ident: Ident::None,
        ..got
    }
}

/// `got` with its fingerprint, checked to be there, zeroed.
fn without_ident(got: PacketMeta<'_>) -> PacketMeta<'_> {
    assert_ne!(got.ident.value(), 0, "fingerprint of {got:?}");
    PacketMeta {
        ident: Ident::None,
        ..got
    }
}

fn meta(
    transport: Transport,
    src: SocketAddr,
    dst: SocketAddr,
    wire_len: u32,
) -> PacketMeta<'static> {
    PacketMeta {
        transport,
        src,
        dst,
        wire_len,
        kind: PacketKind::Plain,
        dns: None,
        ident: Ident::None,
    }
}

#[test]
fn datalink_numbers_map_to_link_types() {
    assert_eq!(LinkType::from_datalink(1), LinkType::Ethernet);
    assert_eq!(LinkType::from_datalink(113), LinkType::LinuxSll);
    assert_eq!(LinkType::from_datalink(276), LinkType::LinuxSll2);
    assert_eq!(LinkType::from_datalink(0), LinkType::Null);
    assert_eq!(LinkType::from_datalink(108), LinkType::Loop);
    assert_eq!(LinkType::from_datalink(12), LinkType::RawIp);
    assert_eq!(LinkType::from_datalink(101), LinkType::RawIp);
    assert_eq!(LinkType::from_datalink(228), LinkType::Ipv4);
    assert_eq!(LinkType::from_datalink(229), LinkType::Ipv6);
    assert_eq!(LinkType::from_datalink(147), LinkType::Unsupported(147));
}

#[test]
fn ethernet_tcp_syn_gives_ports_and_marks_a_new_connection() {
    let got = parse(LinkType::Ethernet, &ETH_IPV4_TCP_SYN, 60);
    assert_eq!(
        got,
        PacketMeta {
            kind: PacketKind::TcpSyn,
            ..meta(Transport::Tcp, sa(A4, 40000), sa(B4, 80), 60)
        }
    );
}

#[test]
fn tcp_fin_or_rst_marks_a_closing_connection() {
    // The SYN fixture with its flags byte (Ethernet 14 + IPv4 20 + 13) rewritten.
    for (flags, closing) in [(0x11, true), (0x04, true), (0x14, true), (0x10, false)] {
        let mut frame = ETH_IPV4_TCP_SYN;
        frame[14 + 20 + 13] = flags;
        let got = parse(LinkType::Ethernet, &frame, 60);
        let kind = if closing {
            PacketKind::TcpFin
        } else {
            PacketKind::Plain
        };
        assert_eq!(got.kind, kind, "flags {flags:#04x}");
        assert_eq!((got.src.port(), got.dst.port()), (40000, 80));
    }
}

#[test]
fn vlan_tagged_udp_is_parsed_through_the_tag() {
    let got = parse(LinkType::Ethernet, &ETH_VLAN_IPV4_UDP, 64);
    let expected = meta(Transport::Udp, sa(A4, 5353), sa(B4, 53), 64);
    assert_eq!(PacketMeta { dns: None, ..got }, expected);
    // From the mDNS port: its payload is handed on as a DNS message.
    assert!(matches!(got.dns, Some(super::dns::DnsPayload::Udp(_))));
}

#[test]
fn a_dns_answer_hands_its_message_on_whole_or_as_far_as_it_was_captured() {
    use super::dns::{DnsPayload, DnsResponse};
    let got = parse(LinkType::Ethernet, &ETH_IPV4_DNS_ANSWER, 102);
    assert_eq!(
        PacketMeta { dns: None, ..got },
        meta(Transport::Udp, sa(B4, 53), sa(A4, 40000), 102)
    );
    let Some(DnsPayload::Udp(message)) = got.dns else {
        panic!("no DNS payload: {got:?}");
    };
    assert_eq!(message, &ETH_IPV4_DNS_ANSWER[42..]);
    let answer = DnsResponse::decode(message).unwrap();
    assert_eq!(answer.question.as_str(), "w.sockeye.test");
    assert_eq!(answer.addresses.len(), 1);
    // Cut by a small snap length: the message is handed on as far as it goes, and decodes
    // as truncated, with no address.
    let cut = parse(LinkType::Ethernet, &ETH_IPV4_DNS_ANSWER[..90], 102);
    let Some(DnsPayload::Udp(message)) = cut.dns else {
        panic!("no DNS payload: {cut:?}");
    };
    assert_eq!(message.len(), 48);
    let answer = DnsResponse::decode(message).unwrap();
    assert!(answer.truncated && answer.addresses.is_empty());
    // The question to port 53 carries no payload to decode.
    let mut query = ETH_IPV4_DNS_ANSWER;
    query[34..38].copy_from_slice(&[0x9c, 0x40, 0x00, 0x35]);
    assert_eq!(parse(LinkType::Ethernet, &query, 102).dns, None);
}

#[test]
fn double_tagged_ipv6_syn_ack_does_not_open_a_connection() {
    let got = parse(LinkType::Ethernet, &ETH_QINQ_IPV6_TCP, 86);
    assert_eq!(got, meta(Transport::Tcp, sa(A6, 443), sa(B6, 50000), 86));
}

#[test]
fn linux_cooked_v1_carries_ipv4() {
    let got = parse(LinkType::LinuxSll, &SLL_IPV4_UDP, 44);
    assert_eq!(got, meta(Transport::Udp, sa(A4, 1000), sa(B4, 2000), 44));
}

#[test]
fn linux_cooked_v2_carries_ipv6() {
    let got = parse(LinkType::LinuxSll2, &SLL2_IPV6_UDP, 70);
    assert_eq!(got, meta(Transport::Udp, sa(A6, 3000), sa(B6, 4000), 70));
}

#[cfg(target_endian = "little")]
#[test]
fn bsd_null_loopback_icmp_echo_uses_the_identifier_as_port() {
    let got = parse(LinkType::Null, &NULL_IPV4_ICMP_ECHO, 32);
    let lo = Ipv4Addr::LOCALHOST;
    let expected = meta(Transport::Icmp, sa(lo, 0xbeef), sa(lo, 0xbeef), 32);
    let expected = PacketMeta {
        kind: PacketKind::EchoRequest,
        ..expected
    };
    assert_eq!(got, expected);
}

#[test]
fn bsd_loop_ipv6_echo_reply_uses_the_identifier_as_port() {
    let got = parse(LinkType::Loop, &LOOP_IPV6_ICMPV6_ECHO_REPLY, 52);
    let expected = meta(Transport::Icmp, sa(B6, 0x0102), sa(A6, 0x0102), 52);
    let expected = PacketMeta {
        kind: PacketKind::EchoReply,
        ..expected
    };
    assert_eq!(got, expected);
}

#[test]
fn raw_ip_link_types_carry_ipv4_and_ipv6() {
    let udp = meta(Transport::Udp, sa(A4, 51820), sa(B4, 51821), 28);
    assert_eq!(parse(LinkType::RawIp, &RAW_IPV4_UDP, 28), udp);
    assert_eq!(parse(LinkType::Ipv4, &RAW_IPV4_UDP, 28), udp);
    let tcp = meta(Transport::Tcp, sa(A6, 22), sa(B6, 60000), 60);
    assert_eq!(parse(LinkType::RawIp, &RAW_IPV6_TCP, 60), tcp);
    assert_eq!(parse(LinkType::Ipv6, &RAW_IPV6_TCP, 60), tcp);
}

#[test]
fn raw_ipv4_only_link_rejects_ipv6_as_other() {
    let got = parse(LinkType::Ipv4, &RAW_IPV6_TCP, 60);
    assert_eq!(got.transport, Transport::Other);
    assert_eq!(got.wire_len, 60);
}

#[test]
fn ipv6_extension_headers_are_walked_to_the_transport() {
    let got = parse(LinkType::RawIp, &RAW_IPV6_EXT_UDP, 64);
    assert_eq!(got, meta(Transport::Udp, sa(A6, 7000), sa(B6, 8000), 64));
}

#[test]
fn later_ipv4_fragment_gets_the_ports_of_the_first() {
    let mut fragments = FragmentTable::default();
    let first = without_ident(parse_frame(
        LinkType::RawIp,
        &RAW_IPV4_FRAG_FIRST,
        1500,
        &mut fragments,
    ));
    assert_eq!(
        first,
        meta(Transport::Udp, sa(A4, 1111), sa(B4, 2222), 1500)
    );
    let last = without_ident(parse_frame(
        LinkType::RawIp,
        &RAW_IPV4_FRAG_LAST,
        120,
        &mut fragments,
    ));
    assert_eq!(last, meta(Transport::Udp, sa(A4, 1111), sa(B4, 2222), 120));
    assert_eq!(fragments.len(), 0, "the last fragment forgets the packet");
}

#[test]
fn later_fragment_without_its_first_keeps_addresses_with_port_zero() {
    let got = parse(LinkType::RawIp, &RAW_IPV4_FRAG_LAST, 120);
    assert_eq!(got, meta(Transport::Udp, sa(A4, 0), sa(B4, 0), 120));
}

#[test]
fn later_ipv6_fragment_gets_the_ports_of_the_first() {
    let mut fragments = FragmentTable::default();
    let first = without_ident(parse_frame(
        LinkType::RawIp,
        &RAW_IPV6_FRAG_FIRST,
        1280,
        &mut fragments,
    ));
    assert_eq!(
        first,
        meta(Transport::Udp, sa(A6, 3333), sa(B6, 4444), 1280)
    );
    let later = without_ident(parse_frame(
        LinkType::RawIp,
        &RAW_IPV6_FRAG_LATER,
        200,
        &mut fragments,
    ));
    assert_eq!(later, meta(Transport::Udp, sa(A6, 3333), sa(B6, 4444), 200));
}

#[test]
fn fragment_table_forgets_the_oldest_packet_when_full() {
    let mut table = FragmentTable::with_capacity(2);
    let key = |id| fragments::FragmentKey {
        src: IpAddr::V4(A4),
        dst: IpAddr::V4(B4),
        transport: Transport::Udp,
        id,
    };
    for id in 0..100 {
        table.remember(key(id), (1, 2));
        assert!(table.len() <= 2);
    }
    assert_eq!(table.ports_of(&key(0), false), None);
    assert_eq!(table.ports_of(&key(99), false), Some((1, 2)));
}

#[test]
fn snaplen_truncated_tcp_still_gives_ports_and_counts_the_wire_length() {
    let got = parse(LinkType::Ethernet, &ETH_IPV4_TCP_TRUNCATED, 1514);
    assert_eq!(got, meta(Transport::Tcp, sa(A4, 40000), sa(B4, 80), 1514));
}

#[test]
fn ip_header_cut_short_is_other_without_addresses() {
    let got = parse(LinkType::Ethernet, &ETH_IPV4_HEADER_CUT, 60);
    assert_eq!(got, PacketMeta::other(60));
    assert!(!got.is_ip());
}

#[test]
fn arp_is_other() {
    assert_eq!(
        parse(LinkType::Ethernet, &ETH_ARP_REQUEST, 60),
        PacketMeta::other(60)
    );
}

#[test]
fn icmp_that_is_not_echo_has_port_zero() {
    let got = parse(LinkType::Ethernet, &ETH_IPV4_ICMP_UNREACHABLE, 70);
    assert_eq!(got, meta(Transport::Icmp, sa(A4, 0), sa(B4, 0), 70));
}

#[test]
fn another_ip_protocol_is_other_with_its_addresses_and_protocol_number() {
    // GRE is IP protocol 47: a raw socket of protocol 47 is keyed by it.
    let got = parse(LinkType::Ethernet, &ETH_IPV4_GRE, 60);
    assert_eq!(got, meta(Transport::Other, sa(A4, 47), sa(B4, 47), 60));
    assert!(got.is_ip());
}

#[test]
fn empty_and_unsupported_frames_are_other() {
    for link in [
        LinkType::Ethernet,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::Null,
        LinkType::RawIp,
        LinkType::Unsupported(147),
    ] {
        assert_eq!(parse(link, &[], 42), PacketMeta::other(42), "{link:?}");
    }
}

#[test]
fn common_frames_take_the_fast_path_and_the_rest_the_general_one() {
    let fast = |link, frame: &[u8]| super::fast::parse(link, frame, 100).is_some();
    assert!(fast(LinkType::Ethernet, &ETH_IPV4_TCP_SYN));
    assert!(fast(LinkType::LinuxSll, &SLL_IPV4_UDP));
    assert!(fast(LinkType::LinuxSll2, &SLL2_IPV6_UDP));
    assert!(fast(LinkType::RawIp, &RAW_IPV4_UDP));
    assert!(fast(LinkType::RawIp, &RAW_IPV6_TCP));
    // Cut by the snaplen after the TCP header: still the common case.
    assert!(fast(LinkType::Ethernet, &ETH_IPV4_TCP_TRUNCATED));
    for (link, frame) in [
        (LinkType::Ethernet, &ETH_VLAN_IPV4_UDP[..]),
        (LinkType::Ethernet, &ETH_QINQ_IPV6_TCP[..]),
        (LinkType::RawIp, &RAW_IPV6_EXT_UDP[..]),
        (LinkType::RawIp, &RAW_IPV4_FRAG_FIRST[..]),
        (LinkType::RawIp, &RAW_IPV4_FRAG_LAST[..]),
        (LinkType::RawIp, &RAW_IPV6_FRAG_FIRST[..]),
        (LinkType::Ethernet, &ETH_IPV4_HEADER_CUT[..]),
        (LinkType::Ethernet, &ETH_ARP_REQUEST[..]),
        (LinkType::Ethernet, &ETH_IPV4_ICMP_UNREACHABLE[..]),
        (LinkType::Ethernet, &ETH_IPV4_GRE[..]),
        (LinkType::Null, &NULL_IPV4_ICMP_ECHO[..]),
    ] {
        assert!(!fast(link, frame), "{link:?} {frame:02x?}");
    }
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn any_link() -> impl Strategy<Value = LinkType> {
        prop_oneof![
            Just(LinkType::Ethernet),
            Just(LinkType::LinuxSll),
            Just(LinkType::LinuxSll2),
            Just(LinkType::Null),
            Just(LinkType::Loop),
            Just(LinkType::RawIp),
            Just(LinkType::Ipv4),
            Just(LinkType::Ipv6),
            any::<i32>().prop_map(LinkType::from_datalink),
        ]
    }

    /// Valid fixtures with some bytes overwritten: reaches deeper than pure noise.
    fn mutated_fixture() -> impl Strategy<Value = Vec<u8>> {
        let fixtures: Vec<&'static [u8]> = vec![
            &ETH_IPV4_TCP_SYN,
            &ETH_VLAN_IPV4_UDP,
            &SLL_IPV4_UDP,
            &RAW_IPV4_UDP,
            &RAW_IPV6_TCP,
            &ETH_QINQ_IPV6_TCP,
            &SLL2_IPV6_UDP,
            &RAW_IPV6_EXT_UDP,
            &RAW_IPV4_FRAG_FIRST,
            &RAW_IPV6_FRAG_LATER,
            &ETH_IPV4_DNS_ANSWER,
        ];
        (
            prop::sample::select(fixtures),
            prop::collection::vec((any::<usize>(), any::<u8>()), 0..8),
            any::<usize>(),
        )
            .prop_map(|(fixture, edits, cut)| {
                let mut frame = fixture.to_vec();
                for (at, byte) in edits {
                    let len = frame.len();
                    frame[at % len] = byte;
                }
                frame.truncate(cut % (frame.len() + 1));
                frame
            })
    }

    /// Whenever the fast path answers, the general path (etherparse) gives the same.
    fn assert_fast_path_agrees(link: LinkType, frame: &[u8]) -> Result<(), TestCaseError> {
        if let Some(fast) = super::super::fast::parse(link, frame, 1234) {
            let mut fragments = FragmentTable::with_capacity(8);
            let general = super::super::parse_general(link, frame, 1234, &mut fragments);
            prop_assert_eq!(fast, general);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(
            link in any_link(),
            frame in prop::collection::vec(any::<u8>(), 0..300),
            wire_len in any::<u32>(),
        ) {
            let mut fragments = FragmentTable::with_capacity(8);
            let got = parse_frame(link, &frame, wire_len, &mut fragments);
            prop_assert_eq!(got.wire_len, wire_len);
        }

        #[test]
        fn mutated_frames_never_panic(link in any_link(), frame in mutated_fixture()) {
            let mut fragments = FragmentTable::with_capacity(8);
            for _ in 0..2 {
                let got = parse_frame(link, &frame, 1500, &mut fragments);
                prop_assert_eq!(got.wire_len, 1500);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn the_fast_path_agrees_with_the_general_one_on_random_bytes(
            link in any_link(),
            frame in prop::collection::vec(any::<u8>(), 0..300),
        ) {
            assert_fast_path_agrees(link, &frame)?;
        }

        #[test]
        fn the_fast_path_agrees_with_the_general_one_on_mutated_frames(
            link in any_link(),
            frame in mutated_fixture(),
        ) {
            assert_fast_path_agrees(link, &frame)?;
        }
    }
}

#[test]
fn an_ethernet_frames_source_and_type_are_read_past_one_vlan_tag() {
    let mut frame = vec![0xffu8; 6];
    frame.extend_from_slice(&[2, 0, 0x5e, 0, 0, 1]);
    frame.extend_from_slice(&[0x88, 0xb5, 1, 2, 3]);
    let source = [2, 0, 0x5e, 0, 0, 1];
    assert_eq!(
        crate::parse::ethernet_source_and_type(LinkType::Ethernet, &frame),
        Some((source, 0x88b5))
    );
    let mut tagged = frame[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x08, 0x06]);
    assert_eq!(
        crate::parse::ethernet_source_and_type(LinkType::Ethernet, &tagged),
        Some((source, 0x0806))
    );
    assert_eq!(
        crate::parse::ethernet_source_and_type(LinkType::Ethernet, &frame[..13]),
        None
    );
    assert_eq!(
        crate::parse::ethernet_source_and_type(LinkType::Ethernet, &tagged[..17]),
        None
    );
    assert_eq!(
        crate::parse::ethernet_source_and_type(LinkType::RawIp, &frame),
        None
    );
}
