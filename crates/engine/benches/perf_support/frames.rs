//! Frames for the benchmarks, built with etherparse's packet builder: one per link type, and
//! a deterministic traffic mix shaped like a busy desktop (bulk TCP and its ACKs, small
//! UDP, IPv6, loopback, ICMP echo, ARP). Frames are cut to the capture snaplen (128 bytes)
//! as the capture edge hands them over, and take no more memory than that (the capture
//! ring packs them in slots of about 200 bytes); the wire length is kept apart.

use etherparse::{PacketBuilder, VlanId};
use sockeye_engine::parse::LinkType;

/// What the capture keeps of each packet, in bytes (the engine's snaplen,
/// `capture/devices.rs`).
pub const SNAPLEN: usize = 128;

/// `full` cut to the snaplen, its buffer shrunk to fit (a truncated `Vec` keeps the whole
/// allocation: a mix of MTU-sized frames spread over several times the memory of a ring).
pub fn captured(mut full: Vec<u8>) -> Vec<u8> {
    full.truncate(SNAPLEN);
    full.shrink_to_fit();
    full
}

/// One captured frame: link type, the captured bytes and the length on the wire.
#[derive(Clone)]
pub struct Frame {
    pub link: LinkType,
    pub data: Vec<u8>,
    pub wire_len: u32,
}

impl Frame {
    fn new(link: LinkType, full: Vec<u8>) -> Self {
        let wire_len = u32::try_from(full.len()).unwrap_or(u32::MAX);
        let data = captured(full);
        Self {
            link,
            data,
            wire_len,
        }
    }
}

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];

fn payload(len: usize) -> Vec<u8> {
    vec![0x5a; len]
}

fn build(builder: PacketBuilder2, len: usize) -> Vec<u8> {
    builder.finish(&payload(len))
}

/// The etherparse builder's last step, boxed so frames of every shape go through one path.
enum PacketBuilder2 {
    Tcp(etherparse::PacketBuilderStep<etherparse::TcpHeader>),
    Udp(etherparse::PacketBuilderStep<etherparse::UdpHeader>),
    Icmp(etherparse::PacketBuilderStep<etherparse::Icmpv4Header>),
}

impl PacketBuilder2 {
    fn finish(self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::Tcp(b) => b.write(&mut out, payload).expect("tcp frame"),
            Self::Udp(b) => b.write(&mut out, payload).expect("udp frame"),
            Self::Icmp(b) => b.write(&mut out, payload).expect("icmp frame"),
        }
        out
    }
}

/// An Ethernet IPv4 TCP frame (`ack_only`: an ACK, else a segment of `len` payload bytes).
pub fn eth_tcp4(src: [u8; 4], dst: [u8; 4], ports: (u16, u16), len: usize) -> Frame {
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4(src, dst, 64)
        .tcp(ports.0, ports.1, 1, 65535)
        .ack(1);
    Frame::new(LinkType::Ethernet, build(PacketBuilder2::Tcp(b), len))
}

/// An Ethernet IPv4 UDP frame with `len` payload bytes.
pub fn eth_udp4(src: [u8; 4], dst: [u8; 4], ports: (u16, u16), len: usize) -> Frame {
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4(src, dst, 64)
        .udp(ports.0, ports.1);
    Frame::new(LinkType::Ethernet, build(PacketBuilder2::Udp(b), len))
}

/// An Ethernet IPv6 TCP frame.
pub fn eth_tcp6(src: [u8; 16], dst: [u8; 16], ports: (u16, u16), len: usize) -> Frame {
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv6(src, dst, 64)
        .tcp(ports.0, ports.1, 1, 65535)
        .ack(1);
    Frame::new(LinkType::Ethernet, build(PacketBuilder2::Tcp(b), len))
}

/// An Ethernet IPv6 UDP frame.
pub fn eth_udp6(src: [u8; 16], dst: [u8; 16], ports: (u16, u16), len: usize) -> Frame {
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv6(src, dst, 64)
        .udp(ports.0, ports.1);
    Frame::new(LinkType::Ethernet, build(PacketBuilder2::Udp(b), len))
}

/// An Ethernet IPv4 ICMP echo request.
pub fn eth_ping4(src: [u8; 4], dst: [u8; 4], id: u16) -> Frame {
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4(src, dst, 64)
        .icmpv4_echo_request(id, 1);
    Frame::new(LinkType::Ethernet, build(PacketBuilder2::Icmp(b), 56))
}

/// An Ethernet ARP request (non-IP: counted as "other").
pub fn eth_arp() -> Frame {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&MAC_A);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&MAC_A);
    f.extend_from_slice(&[192, 0, 2, 1]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&[192, 0, 2, 2]);
    Frame::new(LinkType::Ethernet, f)
}

/// The same IPv4 TCP segment (1448 payload bytes, 256 captured) on each link type.
pub fn per_link_type() -> Vec<(&'static str, Frame)> {
    let ip_tcp = || {
        let b = PacketBuilder::ipv4([192, 0, 2, 1], [198, 51, 100, 7], 64)
            .tcp(443, 51000, 1, 65535)
            .ack(1);
        build(PacketBuilder2::Tcp(b), 1448)
    };
    let ip6_udp = {
        let b = PacketBuilder::ipv6(
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            64,
        )
        .udp(443, 51000);
        build(PacketBuilder2::Udp(b), 1200)
    };
    let vlan = {
        let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
            .single_vlan(VlanId::try_new(10).expect("vlan id"))
            .ipv4([192, 0, 2, 1], [198, 51, 100, 7], 64)
            .tcp(443, 51000, 1, 65535)
            .ack(1);
        build(PacketBuilder2::Tcp(b), 1448)
    };
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend(ip_tcp());
    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
    ];
    sll2.extend(ip_tcp());
    let mut null = 2u32.to_ne_bytes().to_vec();
    null.extend(ip_tcp());
    vec![
        (
            "ethernet_ipv4_tcp",
            eth_tcp4([192, 0, 2, 1], [198, 51, 100, 7], (443, 51000), 1448),
        ),
        (
            "ethernet_ipv6_udp",
            eth_udp6(
                [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
                (443, 51000),
                1200,
            ),
        ),
        (
            "ethernet_vlan_ipv4_tcp",
            Frame::new(LinkType::Ethernet, vlan),
        ),
        ("linux_sll_ipv4_tcp", Frame::new(LinkType::LinuxSll, sll)),
        ("linux_sll2_ipv4_tcp", Frame::new(LinkType::LinuxSll2, sll2)),
        ("null_ipv4_tcp", Frame::new(LinkType::Null, null)),
        ("raw_ipv4_tcp", Frame::new(LinkType::RawIp, ip_tcp())),
        ("raw_ipv6_udp", Frame::new(LinkType::RawIp, ip6_udp)),
        ("ethernet_arp", eth_arp()),
    ]
}

/// A small deterministic generator (xorshift), so every run sees the same mix.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `count` frames over about `flows` distinct conversations. Local addresses are
/// 192.0.2.10, 2001:db8::10 and loopback; remote ones are documentation addresses.
/// Shares by packets: 40 % bulk TCP segments, 20 % their ACKs, 15 % small UDP, 10 % IPv6
/// TCP, 5 % IPv6 UDP, 5 % loopback TCP, 3 % ICMP echo, 2 % ARP.
pub fn mix(count: usize, flows: u64) -> Vec<Frame> {
    let mut rng = Rng::new(0x5eed);
    let local4 = [192, 0, 2, 10];
    let local6 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10];
    let remote4 = |n: u64| [198, 51, 100, (n % 250) as u8 + 1];
    let remote6 = |n: u64| {
        let mut a = [0x20, 1, 0xd, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        a[15] = (n % 250) as u8 + 1;
        a
    };
    let port = |n: u64| 30000 + (n % 30000) as u16;
    (0..count)
        .map(|_| {
            let flow = rng.below(flows.max(1));
            let class = rng.below(100);
            match class {
                0..=39 => eth_tcp4(remote4(flow), local4, (443, port(flow)), 1448),
                40..=59 => eth_tcp4(local4, remote4(flow), (port(flow), 443), 0),
                60..=74 => eth_udp4(
                    local4,
                    remote4(flow),
                    (port(flow), 53),
                    40 + rng.below(1200) as usize,
                ),
                75..=84 => eth_tcp6(remote6(flow), local6, (443, port(flow)), 1200),
                85..=89 => eth_udp6(local6, remote6(flow), (port(flow), 443), 1200),
                90..=94 => eth_tcp4([127, 0, 0, 1], [127, 0, 0, 1], (port(flow), 8080), 512),
                95..=97 => eth_ping4(local4, remote4(flow), (flow % 65536) as u16),
                _ => eth_arp(),
            }
        })
        .collect()
}
