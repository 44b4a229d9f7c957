//! Socket tables from `/proc/PID/net/{tcp,tcp6,udp,udp6,raw,raw6,icmp,icmp6}`: the fallback
//! when sock_diag is unavailable, and the only source for ping sockets (which sock_diag
//! cannot dump). Each file shows the namespace of the process whose `/proc` entry it is in.

use crate::attribution::kernel::bounded_read::for_each_line;
use crate::attribution::sockets::socket_table::{SockProto, SocketEntry, MAX_SOCKETS};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

/// Longest line accepted, in bytes (real lines are about 150).
const MAX_LINE: usize = 512;
/// Most bytes read from one table file (about 1.5 million lines).
const MAX_FILE: u64 = 256 * 1024 * 1024;
/// TCP state TIME_WAIT: held by no file.
const TIME_WAIT: u8 = 6;

/// The file name of a table in `/proc/PID/net/`.
pub(crate) fn file_name(proto: SockProto, ipv6: bool) -> &'static str {
    match (proto, ipv6) {
        (SockProto::Tcp, false) => "tcp",
        (SockProto::Tcp, true) => "tcp6",
        (SockProto::Udp, false) => "udp",
        (SockProto::Udp, true) => "udp6",
        (SockProto::Raw, false) => "raw",
        (SockProto::Raw, true) => "raw6",
        (SockProto::Ping, false) => "icmp",
        (SockProto::Ping, true) => "icmp6",
    }
}

/// Appends the sockets listed in `net_dir/<table>` (`net_dir` is e.g. `/proc/PID/net`).
pub(crate) fn read_table(
    net_dir: &Path,
    proto: SockProto,
    ipv6: bool,
    out: &mut Vec<SocketEntry>,
) -> io::Result<()> {
    let path = net_dir.join(file_name(proto, ipv6));
    let start = out.len();
    for_each_line(&path, MAX_FILE, MAX_LINE, |line| {
        if out.len() - start < MAX_SOCKETS {
            if let Some(entry) = parse_line(proto, line) {
                out.push(entry);
            }
        }
    })
}

/// Parses one table line (`sl local rem st … uid timeout inode …`); the header and any
/// malformed line give `None`.
pub(crate) fn parse_line(proto: SockProto, line: &str) -> Option<SocketEntry> {
    let mut fields = line.split_ascii_whitespace();
    let slot = fields.next()?;
    if !slot.ends_with(':') {
        return None; // the header line
    }
    let local = parse_endpoint(fields.next()?)?;
    let remote = parse_endpoint(fields.next()?)?;
    let state = u8::from_str_radix(fields.next()?, 16).ok()?;
    if proto == SockProto::Tcp && state == TIME_WAIT {
        return None;
    }
    let mut rest = fields.skip(3); // tx:rx queues, timer, retransmits
    let uid = rest.next()?.parse().ok()?;
    let inode = rest.nth(1)?.parse().ok()?; // after the timeout
    if local.is_ipv4() != remote.is_ipv4() {
        return None;
    }
    Some(SocketEntry::new(proto, local, remote, inode, uid))
}

/// Parses `ADDR:PORT` where ADDR is 8 (IPv4) or 32 (IPv6) hex digits of 32-bit words in
/// the kernel's (little-endian) byte order and PORT 4 hex digits.
fn parse_endpoint(field: &str) -> Option<SocketAddr> {
    let (addr, port) = field.split_once(':')?;
    if port.len() != 4 || !port.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(parse_word(addr)?)),
        32 => {
            let mut octets = [0u8; 16];
            for (i, chunk) in octets.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&parse_word(addr.get(i * 8..i * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Eight hex digits printing a 32-bit word in little-endian host order → its four bytes in
/// memory (network) order.
fn parse_word(hex: &str) -> Option<[u8; 4]> {
    if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(u32::from_str_radix(hex, 16).ok()?.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1F90 0100007F:9C41 06 00000000:00000000 03:00000DA6 00000000     0        0 0 3 0000000000000000
";

    #[test]
    fn tcp_lines_give_address_port_uid_and_inode() {
        let e = parse_line(SockProto::Tcp, TCP.lines().nth(1).unwrap()).unwrap();
        assert_eq!(e.local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(e.remote, "0.0.0.0:0".parse().unwrap());
        assert_eq!((e.uid, e.inode), (1000, 4242));
    }

    #[test]
    fn the_header_and_time_wait_sockets_are_skipped() {
        assert_eq!(
            parse_line(SockProto::Tcp, TCP.lines().next().unwrap()),
            None
        );
        assert_eq!(
            parse_line(SockProto::Tcp, TCP.lines().nth(3).unwrap()),
            None
        );
    }

    #[test]
    fn ipv6_words_are_little_endian() {
        let line = "   0: 00000000000000000000000001000000:0035 0000000000000000FFFF00000100007F:A000 07 00000000:00000000 00:00000000 00000000     0        0 77 2 0000000000000000 0";
        let e = parse_line(SockProto::Udp, line).unwrap();
        assert_eq!(e.local, "[::1]:53".parse().unwrap());
        // IPv4-mapped IPv6 comes out as plain IPv4.
        assert_eq!(e.remote, "127.0.0.1:40960".parse().unwrap());
    }

    #[test]
    fn truncated_and_garbage_lines_are_skipped() {
        let full = TCP.lines().nth(2).unwrap();
        for cut in 0..full.len() {
            // Only a cut that leaves the inode's leading digits whole can still parse.
            if let Some(e) = parse_line(SockProto::Tcp, &full[..cut]) {
                assert!(cut >= full.find(" 4343").unwrap() + 2);
                assert!(e.inode <= 4343);
            }
        }
        for garbage in [
            "   0: 0100007G:1F90 00000000:0000 0A 0 0 0 0 0 1",
            "   0: 0100007F:1F9 00000000:0000 0A 0 0 0 0 0 1",
            "   0: 0100007F1F90 00000000:0000 0A 0 0 0 0 0 1",
            "   0: 0100007F:1F90 00000000000000000000000000000000:0000 0A 0 0 0 0 0 1",
            "   0: +100007F:1F90 00000000:0000 0A 0 0 0 0 0 1",
            "   0: 0100007F:1F90 00000000:0000 0A 0 0 0 -5 0 1",
            "   0: ☃☃☃☃:1F90 00000000:0000 0A 0 0 0 0 0 1",
            "",
            ":",
        ] {
            assert_eq!(parse_line(SockProto::Tcp, garbage), None, "{garbage}");
        }
    }

    #[test]
    fn ping_sockets_show_their_identifier_as_local_port() {
        let line = "   1: 00000000:1092 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 99 2 0000000000000000 0";
        let e = parse_line(SockProto::Ping, line).unwrap();
        assert_eq!(e.local.port(), 0x1092);
    }

    #[test]
    fn a_table_file_is_read_whole_and_a_huge_one_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("tcp"), TCP).unwrap();
        let mut out = Vec::new();
        read_table(dir.path(), SockProto::Tcp, false, &mut out).unwrap();
        assert_eq!(out.len(), 2);

        let mut huge = String::from("x");
        huge.push_str(&"y".repeat(10_000_000));
        huge.push('\n');
        huge.push_str(TCP.lines().nth(1).unwrap());
        huge.push('\n');
        fs::write(dir.path().join("udp"), huge).unwrap();
        let mut out = Vec::new();
        read_table(dir.path(), SockProto::Udp, false, &mut out).unwrap();
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_missing_table_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        assert!(read_table(dir.path(), SockProto::Raw, true, &mut out).is_err());
    }
}
