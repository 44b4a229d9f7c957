//! Link layers, chosen by the datalink type pcap reports for the handle (never guessed
//! from the bytes): Ethernet with VLAN tags, Linux cooked SLL/SLL2, BSD loopback and raw IP.

use etherparse::{EtherType, LaxSlicedPacket};

/// Link-layer header type of a capture handle (pcap's `DLT_*` / `LINKTYPE_*` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// Ethernet II, with 802.1Q / 802.1ad tags (`DLT_EN10MB`, 1). `lo` reports this too.
    Ethernet,
    /// Linux cooked capture v1 (113), e.g. the `any` device.
    LinuxSll,
    /// Linux cooked capture v2 (276).
    LinuxSll2,
    /// BSD loopback with a 4-byte address family in host order (`DLT_NULL`, 0).
    Null,
    /// BSD loopback with the family in network order (`DLT_LOOP`, 108).
    Loop,
    /// Raw IPv4 or IPv6, as on tun and WireGuard devices (live value 12, file value 101).
    RawIp,
    /// Raw IPv4 only (228).
    Ipv4,
    /// Raw IPv6 only (229).
    Ipv6,
    /// Anything else: frames are counted as "other" without being parsed.
    Unsupported(i32),
}

impl LinkType {
    /// Maps pcap's datalink number (as `get_datalink()` returns it) to a link type.
    pub fn from_datalink(value: i32) -> Self {
        match value {
            1 => Self::Ethernet,
            113 => Self::LinuxSll,
            276 => Self::LinuxSll2,
            0 => Self::Null,
            108 => Self::Loop,
            // 12 is DLT_RAW as Linux libpcap reports it live; 14 on OpenBSD; 101 in files.
            12 | 14 | 101 => Self::RawIp,
            228 => Self::Ipv4,
            229 => Self::Ipv6,
            other => Self::Unsupported(other),
        }
    }
}

/// Length of the Linux cooked v1 header, in bytes.
const SLL_HEADER_LEN: usize = 16;
/// Length of the Linux cooked v2 header, in bytes.
const SLL2_HEADER_LEN: usize = 20;
/// Length of the BSD loopback address family field, in bytes.
const NULL_HEADER_LEN: usize = 4;

/// Slices `frame` from its link layer down as far as it goes (laxly: a frame cut off by the
/// snaplen still yields its IP header). `None` when the link layer itself is unusable.
pub fn network_layer(link: LinkType, frame: &[u8]) -> Option<LaxSlicedPacket<'_>> {
    match link {
        LinkType::Ethernet => LaxSlicedPacket::from_ethernet(frame).ok(),
        LinkType::LinuxSll => {
            let protocol = be16(frame, 14)?;
            let payload = frame.get(SLL_HEADER_LEN..)?;
            Some(LaxSlicedPacket::from_ether_type(
                EtherType(protocol),
                payload,
            ))
        }
        LinkType::LinuxSll2 => {
            let protocol = be16(frame, 0)?;
            let payload = frame.get(SLL2_HEADER_LEN..)?;
            Some(LaxSlicedPacket::from_ether_type(
                EtherType(protocol),
                payload,
            ))
        }
        LinkType::Null | LinkType::Loop => {
            let family: [u8; 4] = frame.get(..NULL_HEADER_LEN)?.try_into().ok()?;
            let family = if link == LinkType::Null {
                u32::from_ne_bytes(family)
            } else {
                u32::from_be_bytes(family)
            };
            let ether_type = match family {
                2 => EtherType::IPV4,
                // AF_INET6 differs between systems: Linux, NetBSD/OpenBSD, FreeBSD, macOS.
                10 | 24 | 28 | 30 => EtherType::IPV6,
                _ => return None,
            };
            let payload = frame.get(NULL_HEADER_LEN..)?;
            Some(LaxSlicedPacket::from_ether_type(ether_type, payload))
        }
        LinkType::RawIp => LaxSlicedPacket::from_ip(frame).ok(),
        // etherparse goes by the version nibble; these link types promise one version.
        LinkType::Ipv4 => {
            (ip_version(frame)? == 4).then(|| LaxSlicedPacket::from_ip(frame).ok())?
        }
        LinkType::Ipv6 => {
            (ip_version(frame)? == 6).then(|| LaxSlicedPacket::from_ip(frame).ok())?
        }
        LinkType::Unsupported(_) => None,
    }
}

/// The big-endian 16-bit value at `offset`, if the frame is long enough.
/// An Ethernet frame's source address and EtherType (past one 802.1Q or 802.1ad tag);
/// `None` for another link type or a frame too short to hold them.
pub fn ethernet_source_and_type(link: LinkType, frame: &[u8]) -> Option<([u8; 6], u16)> {
    if link != LinkType::Ethernet {
        return None;
    }
    let source: [u8; 6] = frame.get(6..12)?.try_into().ok()?;
    let ethertype = match be16(frame, 12)? {
        0x8100 | 0x88a8 => be16(frame, 16)?,
        ethertype => ethertype,
    };
    Some((source, ethertype))
}

fn be16(frame: &[u8], offset: usize) -> Option<u16> {
    let bytes = frame.get(offset..offset.checked_add(2)?)?;
    Some(u16::from_be_bytes([bytes[0], bytes[1]]))
}

/// The IP version nibble of a raw IP frame.
fn ip_version(frame: &[u8]) -> Option<u8> {
    frame.first().map(|byte| byte >> 4)
}
