//! The UDP ports of the tunnels the kernel runs in one network namespace: its VXLAN,
//! Geneve and bare UDP devices, from their link information (`RTM_GETLINK`). Traffic to or
//! from these ports that no socket of a process owns is the tunnel's
//! (`accounting/tunnels.rs`).
//!
//! One dump of every device, each reply's kind checked. The kernel can filter a dump by
//! kind, but only for a kind whose module is loaded: asking for `geneve` where it is not
//! lists every device anyway, so three filtered dumps could cost three full ones. The
//! dump is read with the namespace's addresses, when a change was announced and its cost
//! allows (`address_book.rs`).
//!
//! Every reply is untrusted input: attributes are bounds-checked by
//! [`attributes`], a port attribute of the wrong length is skipped, and at most
//! [`MAX_PORTS`] ports are kept.

use crate::attribution::kernel::netlink::{attributes, NetlinkSocket};
use std::collections::BTreeSet;
use std::io;

const RTM_GETLINK: u16 = 18;
/// `sizeof(struct ifinfomsg)`.
const IFINFOMSG_LEN: usize = 16;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;

/// The device kinds whose link information carries the UDP port they receive on (and send
/// to), with the attribute that holds it (`linux/if_link.h`: `IFLA_VXLAN_PORT`,
/// `IFLA_GENEVE_PORT`, `IFLA_BAREUDP_PORT`, each a big-endian `u16`).
const KINDS: [(&str, u16); 3] = [("vxlan", 15), ("geneve", 5), ("bareudp", 1)];

/// Most ports kept per namespace (each tunnel device has one; thousands would be absurd).
pub(crate) const MAX_PORTS: usize = 256;

/// The UDP ports of the kernel tunnels of the namespace `route` (a `NETLINK_ROUTE`
/// socket) lives in.
pub(crate) fn netlink_tunnel_ports(route: &mut NetlinkSocket) -> io::Result<BTreeSet<u16>> {
    let mut ports = BTreeSet::new();
    // An empty `ifinfomsg`: every device of the namespace.
    route.request(RTM_GETLINK, true, &[0u8; IFINFOMSG_LEN], |body| {
        if ports.len() < MAX_PORTS {
            if let Some(port) = parse_link(body) {
                ports.insert(port);
            }
        }
    })?;
    Ok(ports)
}

/// The tunnel port of one `RTM_NEWLINK` body, when it describes a device of one of
/// [`KINDS`].
pub(crate) fn parse_link(body: &[u8]) -> Option<u16> {
    let attrs = body.get(IFINFOMSG_LEN..)?;
    let (_, info) = attributes(attrs).find(|(kind, _)| *kind == IFLA_LINKINFO)?;
    let mut kind = None;
    let mut data = None;
    for (attr, payload) in attributes(info) {
        match attr {
            IFLA_INFO_KIND => kind = Some(payload.split(|b| *b == 0).next().unwrap_or(&[])),
            IFLA_INFO_DATA => data = Some(payload),
            _ => {}
        }
    }
    let port_attr = KINDS
        .iter()
        .find(|(name, _)| Some(name.as_bytes()) == kind)?
        .1;
    let (_, port) = attributes(data?).find(|(attr, _)| *attr == port_attr)?;
    match port {
        [hi, lo] => Some(u16::from_be_bytes([*hi, *lo])).filter(|p| *p != 0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Netlink attributes nest with this flag on their type (the kernel sets it).
    const NLA_F_NESTED: u16 = 0x8000;

    /// One netlink attribute, padded to four bytes.
    fn attribute(kind: u16, payload: &[u8]) -> Vec<u8> {
        let len = 4 + payload.len();
        let mut out = Vec::with_capacity((len + 3) & !3);
        out.extend_from_slice(&u16::try_from(len).expect("short").to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(payload);
        out.resize((len + 3) & !3, 0);
        out
    }

    /// An `RTM_NEWLINK` body of a device of `kind` whose data holds `data`.
    fn link(kind: &str, data: &[u8]) -> Vec<u8> {
        let mut name = kind.as_bytes().to_vec();
        name.push(0);
        let mut info = attribute(IFLA_INFO_KIND, &name);
        info.extend_from_slice(&attribute(IFLA_INFO_DATA | NLA_F_NESTED, data));
        let mut body = vec![0u8; IFINFOMSG_LEN];
        body.extend_from_slice(&attribute(3, b"vx0\0")); // IFLA_IFNAME
        body.extend_from_slice(&attribute(IFLA_LINKINFO | NLA_F_NESTED, &info));
        body
    }

    #[test]
    fn the_port_of_each_tunnel_kind_is_read_from_its_own_attribute() {
        let vxlan = link("vxlan", &attribute(15, &4789u16.to_be_bytes()));
        assert_eq!(parse_link(&vxlan), Some(4789));
        let mut geneve_data = attribute(1, &7u32.to_ne_bytes()); // IFLA_GENEVE_ID
        geneve_data.extend_from_slice(&attribute(5, &6081u16.to_be_bytes()));
        assert_eq!(parse_link(&link("geneve", &geneve_data)), Some(6081));
        let bare = link("bareudp", &attribute(1, &6635u16.to_be_bytes()));
        assert_eq!(parse_link(&bare), Some(6635));
    }

    #[test]
    fn other_devices_and_malformed_attributes_name_no_port() {
        // A veth's data is not a tunnel's, even with an attribute of number 15.
        assert_eq!(
            parse_link(&link("veth", &attribute(15, &[0x12, 0xb5]))),
            None
        );
        // A port of the wrong length, and port 0.
        assert_eq!(parse_link(&link("vxlan", &attribute(15, &[0x12]))), None);
        assert_eq!(parse_link(&link("vxlan", &attribute(15, &[0, 0]))), None);
        // Truncated bodies, and an attribute longer than the body.
        let whole = link("vxlan", &attribute(15, &4789u16.to_be_bytes()));
        for cut in 0..whole.len() {
            let _ = parse_link(&whole[..cut]);
        }
        let mut lying = vec![0u8; IFINFOMSG_LEN];
        lying.extend_from_slice(&[0xff, 0x00, IFLA_LINKINFO as u8, 0x80]);
        assert_eq!(parse_link(&lying), None);
    }

    proptest::proptest! {
        /// Any reply, however malformed, is read without panicking; a well-formed one of a
        /// tunnel kind names its port, whatever else the data holds.
        #[test]
        fn any_reply_is_read_safely(
            junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            port in 1u16..,
            kind in 0usize..3,
        ) {
            let _ = parse_link(&junk);
            let mut with_junk = vec![0u8; IFINFOMSG_LEN];
            with_junk.extend_from_slice(&junk);
            let _ = parse_link(&with_junk);
            let (name, attr) = KINDS[kind];
            let mut data = attribute(attr, &port.to_be_bytes());
            data.extend_from_slice(&attribute(attr + 1, &junk[..junk.len().min(64)]));
            proptest::prop_assert_eq!(parse_link(&link(name, &data)), Some(port));
        }
    }
}
