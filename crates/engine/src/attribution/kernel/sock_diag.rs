//! TCP and UDP socket tables from netlink sock_diag (`SOCK_DIAG_BY_FAMILY` with
//! `inet_diag_req_v2`): whole-table dumps, and exact lookups of one socket by its 4-tuple.

use crate::attribution::kernel::netlink::NetlinkSocket;
use crate::attribution::sockets::socket_table::{SockProto, SocketEntry};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `sizeof(struct inet_diag_req_v2)`.
const REQ_LEN: usize = 56;
/// `sizeof(struct inet_diag_msg)`.
const MSG_LEN: usize = 72;
/// Every TCP state but TIME_WAIT (6) and SYN_RECV (3): those are held by no file, so no
/// process owns them, and a busy server has many.
const TCP_STATES: u32 = 0xfff & !(1 << 6) & !(1 << 3);
const ALL_STATES: u32 = 0xffff_ffff;
/// `INET_DIAG_NOCOOKIE`: match any socket cookie.
const NO_COOKIE: u32 = 0xffff_ffff;

/// A sock_diag netlink socket of one network namespace.
pub(crate) struct SockDiag {
    socket: NetlinkSocket,
}

impl SockDiag {
    /// Opens sock_diag in the calling thread's network namespace.
    #[cfg(test)]
    pub(crate) fn open() -> io::Result<Self> {
        NetlinkSocket::open(crate::attribution::kernel::netlink::NETLINK_SOCK_DIAG)
            .map(Self::from_socket)
    }

    /// Wraps a `NETLINK_SOCK_DIAG` socket (opened in another namespace).
    pub(crate) fn from_socket(socket: NetlinkSocket) -> Self {
        Self { socket }
    }

    /// Appends every `proto` socket of the IPv4 (`ipv6` false) or IPv6 family.
    pub(crate) fn dump(
        &mut self,
        proto: SockProto,
        ipv6: bool,
        out: &mut Vec<SocketEntry>,
    ) -> io::Result<()> {
        let unspecified = if ipv6 {
            SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 0)
        } else {
            SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0)
        };
        let states = if proto == SockProto::Tcp {
            TCP_STATES
        } else {
            ALL_STATES
        };
        let req = encode_request(proto, states, unspecified, unspecified)?;
        self.socket
            .request(SOCK_DIAG_BY_FAMILY, true, &req, |body| {
                if let Some(entry) = decode_message(proto, body) {
                    out.push(entry);
                }
            })
    }

    /// The socket the kernel would deliver a `proto` packet from `remote` to `local` to:
    /// the connected socket with that 4-tuple, else the listening or unconnected one bound
    /// to `local` (`Ok(None)` when there is none).
    pub(crate) fn find(
        &mut self,
        proto: SockProto,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> io::Result<Option<SocketEntry>> {
        // For TCP the kernel reads `id.src` as the socket's local end; for UDP the two are
        // swapped ("for historical reasons", net/ipv4/udp_diag.c).
        let (src, dst) = match proto {
            SockProto::Udp => (remote, local),
            _ => (local, remote),
        };
        let req = encode_request(proto, ALL_STATES, src, dst)?;
        let mut found = None;
        let result = self
            .socket
            .request(SOCK_DIAG_BY_FAMILY, false, &req, |body| {
                found = decode_message(proto, body);
            });
        match result {
            Ok(()) => Ok(found),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The IP protocol number of a sock_diag-dumpable kind.
fn ip_protocol(proto: SockProto) -> io::Result<u8> {
    match proto {
        SockProto::Tcp => Ok(libc::IPPROTO_TCP as u8),
        SockProto::Udp => Ok(libc::IPPROTO_UDP as u8),
        _ => Err(io::Error::from(io::ErrorKind::Unsupported)),
    }
}

/// Encodes an `inet_diag_req_v2` whose socket id holds `src` and `dst` (same family).
fn encode_request(
    proto: SockProto,
    states: u32,
    src: SocketAddr,
    dst: SocketAddr,
) -> io::Result<[u8; REQ_LEN]> {
    let mut req = [0u8; REQ_LEN];
    req[0] = if src.is_ipv6() {
        libc::AF_INET6 as u8
    } else {
        libc::AF_INET as u8
    };
    req[1] = ip_protocol(proto)?;
    req[4..8].copy_from_slice(&states.to_ne_bytes());
    req[8..10].copy_from_slice(&src.port().to_be_bytes());
    req[10..12].copy_from_slice(&dst.port().to_be_bytes());
    write_addr(&mut req[12..28], src.ip());
    write_addr(&mut req[28..44], dst.ip());
    // idiag_if stays 0 (any interface); the cookie matches any socket.
    req[48..52].copy_from_slice(&NO_COOKIE.to_ne_bytes());
    req[52..56].copy_from_slice(&NO_COOKIE.to_ne_bytes());
    Ok(req)
}

fn write_addr(out: &mut [u8], ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => out[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => out.copy_from_slice(&v6.octets()),
    }
}

/// Decodes one `inet_diag_msg`; `None` when it is too short or of an unknown family.
pub(crate) fn decode_message(proto: SockProto, body: &[u8]) -> Option<SocketEntry> {
    let msg = body.get(..MSG_LEN)?;
    let family = i32::from(msg[0]);
    let read_ip = |bytes: &[u8]| -> Option<IpAddr> {
        if family == libc::AF_INET {
            let b: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
            Some(IpAddr::V4(b.into()))
        } else if family == libc::AF_INET6 {
            let b: [u8; 16] = bytes.get(..16)?.try_into().ok()?;
            Some(IpAddr::V6(b.into()))
        } else {
            None
        }
    };
    let sport = u16::from_be_bytes([msg[4], msg[5]]);
    let dport = u16::from_be_bytes([msg[6], msg[7]]);
    let src = read_ip(&msg[8..24])?;
    let dst = read_ip(&msg[24..40])?;
    let u32_at = |i: usize| u32::from_ne_bytes([msg[i], msg[i + 1], msg[i + 2], msg[i + 3]]);
    let uid = u32_at(64);
    let inode = u64::from(u32_at(68));
    Some(SocketEntry::new(
        proto,
        SocketAddr::new(src, sport),
        SocketAddr::new(dst, dport),
        inode,
        uid,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `inet_diag_msg` for 127.0.0.1:8080 ↔ 127.0.0.1:40000, uid 1000, inode 123456.
    fn tcp_v4_message() -> Vec<u8> {
        let mut m = vec![0u8; MSG_LEN];
        m[0] = libc::AF_INET as u8;
        m[1] = 1; // ESTABLISHED
        m[4..6].copy_from_slice(&8080u16.to_be_bytes());
        m[6..8].copy_from_slice(&40000u16.to_be_bytes());
        m[8..12].copy_from_slice(&[127, 0, 0, 1]);
        m[24..28].copy_from_slice(&[127, 0, 0, 1]);
        m[64..68].copy_from_slice(&1000u32.to_ne_bytes());
        m[68..72].copy_from_slice(&123456u32.to_ne_bytes());
        m
    }

    #[test]
    fn a_diag_message_decodes_to_its_socket() {
        let e = decode_message(SockProto::Tcp, &tcp_v4_message()).unwrap();
        assert_eq!(e.local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(e.remote, "127.0.0.1:40000".parse().unwrap());
        assert_eq!((e.uid, e.inode), (1000, 123456));
    }

    #[test]
    fn truncated_or_foreign_messages_are_skipped() {
        let m = tcp_v4_message();
        assert_eq!(decode_message(SockProto::Tcp, &m[..MSG_LEN - 1]), None);
        let mut foreign = m.clone();
        foreign[0] = 99;
        assert_eq!(decode_message(SockProto::Tcp, &foreign), None);
    }

    #[test]
    fn ipv4_mapped_addresses_decode_as_ipv4() {
        let mut m = vec![0u8; MSG_LEN];
        m[0] = libc::AF_INET6 as u8;
        m[4..6].copy_from_slice(&53u16.to_be_bytes());
        m[8..24].copy_from_slice(&"::ffff:10.1.2.3".parse::<Ipv6Addr>().unwrap().octets());
        m[68..72].copy_from_slice(&9u32.to_ne_bytes());
        let e = decode_message(SockProto::Udp, &m).unwrap();
        assert_eq!(e.local, "10.1.2.3:53".parse().unwrap());
    }

    #[test]
    fn requests_carry_family_protocol_and_ports_in_network_order() {
        let req = encode_request(
            SockProto::Tcp,
            TCP_STATES,
            "[::1]:443".parse().unwrap(),
            "[::1]:50000".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(req[0], libc::AF_INET6 as u8);
        assert_eq!(req[1], 6);
        assert_eq!(&req[8..10], &443u16.to_be_bytes());
        assert_eq!(&req[10..12], &50000u16.to_be_bytes());
        assert_eq!(req[27], 1);
        assert!(encode_request(SockProto::Ping, 0, req_addr(), req_addr()).is_err());
    }

    /// The inode of an fd of this process.
    fn inode_of(fd: &impl std::os::fd::AsRawFd) -> u64 {
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        crate::attribution::processes::holders::parse_socket_link(link.to_str().unwrap()).unwrap()
    }

    #[test]
    fn the_kernel_finds_a_tcp_connection_and_its_listener_by_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let mut diag = SockDiag::open().unwrap();
        let (c_local, c_remote) = (client.local_addr().unwrap(), client.peer_addr().unwrap());
        let got = diag
            .find(SockProto::Tcp, c_local, c_remote)
            .unwrap()
            .unwrap();
        assert_eq!(got.inode, inode_of(&client));
        let got = diag
            .find(SockProto::Tcp, c_remote, c_local)
            .unwrap()
            .unwrap();
        assert_eq!(got.inode, inode_of(&server));
        // A SYN from a new peer would go to the listener.
        let new_peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let got = diag
            .find(SockProto::Tcp, c_remote, new_peer)
            .unwrap()
            .unwrap();
        assert_eq!(got.inode, inode_of(&listener));
        let mut all = Vec::new();
        diag.dump(SockProto::Tcp, false, &mut all).unwrap();
        assert!(all.iter().any(|e| e.inode == inode_of(&client)));
    }

    #[test]
    fn the_kernel_finds_connected_and_unconnected_udp_sockets() {
        let unconnected = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let connected = std::net::UdpSocket::bind("[::1]:0").unwrap();
        connected.connect("[::1]:9").unwrap();
        let mut diag = SockDiag::open().unwrap();
        let peer: SocketAddr = "127.0.0.1:4444".parse().unwrap();
        let got = diag
            .find(SockProto::Udp, unconnected.local_addr().unwrap(), peer)
            .unwrap()
            .unwrap();
        assert_eq!(got.inode, inode_of(&unconnected));
        let local = connected.local_addr().unwrap();
        let got = diag
            .find(SockProto::Udp, local, "[::1]:9".parse().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(got.inode, inode_of(&connected));
        let closed: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(diag.find(SockProto::Udp, closed, peer).unwrap(), None);
    }

    #[test]
    fn the_kernel_finds_an_auto_bound_wildcard_udp_socket() {
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        sender
            .send_to(b"x", receiver.local_addr().unwrap())
            .unwrap();
        let port = sender.local_addr().unwrap().port();
        let local: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut diag = SockDiag::open().unwrap();
        for _ in 0..50 {
            let got = diag
                .find(SockProto::Udp, local, receiver.local_addr().unwrap())
                .unwrap();
            assert_eq!(got.map(|e| e.inode), Some(inode_of(&sender)));
        }
    }

    #[test]
    fn the_kernel_finds_both_ends_of_an_ipv6_udp_exchange() {
        let server = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let client = std::net::UdpSocket::bind("[::1]:0").unwrap();
        client.connect(server.local_addr().unwrap()).unwrap();
        client.send(b"x").unwrap();
        let (s, c) = (server.local_addr().unwrap(), client.local_addr().unwrap());
        let mut diag = SockDiag::open().unwrap();
        let got = diag.find(SockProto::Udp, s, c).unwrap();
        assert_eq!(got.map(|e| e.inode), Some(inode_of(&server)), "server");
        let got = diag.find(SockProto::Udp, c, s).unwrap();
        assert_eq!(got.map(|e| e.inode), Some(inode_of(&client)), "client");
    }

    fn req_addr() -> SocketAddr {
        "127.0.0.1:1".parse().unwrap()
    }
}
