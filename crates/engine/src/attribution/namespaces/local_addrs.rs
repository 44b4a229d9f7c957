//! The addresses of one network namespace: from netlink RTM_GETADDR on a socket opened in
//! that namespace, or from its `/proc/PID/net/{fib_trie,if_inet6}` when netlink fails.

use crate::attribution::kernel::bounded_read::read_text;
use crate::attribution::kernel::netlink::{attributes, NetlinkSocket};
use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

const RTM_GETADDR: u16 = 22;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
/// `sizeof(struct ifaddrmsg)`.
const IFADDRMSG_LEN: usize = 8;
/// Most addresses kept per namespace.
const MAX_ADDRS: usize = 65_536;
/// Most bytes read of `fib_trie` or `if_inet6`.
const MAX_FILE: u64 = 16 * 1024 * 1024;

/// Every address of every interface of the namespace `route` (a `NETLINK_ROUTE` socket)
/// lives in.
pub(crate) fn netlink_addresses(route: &mut NetlinkSocket) -> io::Result<HashSet<IpAddr>> {
    let request = [0u8; IFADDRMSG_LEN]; // AF_UNSPEC: both families
    let mut out = HashSet::new();
    route.request(RTM_GETADDR, true, &request, |body| {
        if out.len() < MAX_ADDRS {
            if let Some(ip) = parse_ifaddr(body) {
                out.insert(ip);
            }
        }
    })?;
    Ok(out)
}

/// One `RTM_NEWADDR` body: the interface's own address (`IFA_LOCAL`, which differs from
/// `IFA_ADDRESS` on point-to-point links), else `IFA_ADDRESS`.
pub(crate) fn parse_ifaddr(body: &[u8]) -> Option<IpAddr> {
    let family = i32::from(*body.first()?);
    let attrs = body.get(IFADDRMSG_LEN..)?;
    let mut address = None;
    let mut local = None;
    for (kind, payload) in attributes(attrs) {
        let ip = match (family, payload.len()) {
            (libc::AF_INET, 4) => IpAddr::V4(Ipv4Addr::new(
                payload[0], payload[1], payload[2], payload[3],
            )),
            (libc::AF_INET6, 16) => {
                let octets: [u8; 16] = payload.try_into().ok()?;
                IpAddr::V6(Ipv6Addr::from(octets))
            }
            _ => continue,
        };
        match kind {
            IFA_LOCAL => local = Some(ip),
            IFA_ADDRESS => address = Some(ip),
            _ => {}
        }
    }
    local.or(address)
}

/// The addresses of the namespace whose `/proc/PID/net` is `net_dir`, from the kernel's
/// FIB (IPv4 `/32 host LOCAL` entries) and `if_inet6`.
pub(crate) fn proc_addresses(net_dir: &Path) -> io::Result<HashSet<IpAddr>> {
    let mut out = HashSet::new();
    let fib = read_text(&net_dir.join("fib_trie"), MAX_FILE);
    let inet6 = read_text(&net_dir.join("if_inet6"), MAX_FILE);
    if fib.is_err() && inet6.is_err() {
        return fib.map(|_| out);
    }
    if let Ok(text) = fib {
        out.extend(parse_fib_trie_local(&text).into_iter().map(IpAddr::V4));
    }
    if let Ok(text) = inet6 {
        out.extend(parse_if_inet6(&text).into_iter().map(IpAddr::V6));
    }
    Ok(out)
}

/// The addresses a `fib_trie` lists as `/32 host LOCAL` (each follows its `|-- a.b.c.d`).
pub(crate) fn parse_fib_trie_local(text: &str) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(addr) = line.strip_prefix("|-- ") {
            last = addr.trim().parse().ok();
        } else if line.starts_with("/32 host LOCAL") {
            if let Some(ip) = last {
                if !out.contains(&ip) && out.len() < MAX_ADDRS {
                    out.push(ip);
                }
            }
        }
    }
    out
}

/// The addresses of `if_inet6` lines (32 hex digits in network order, then index, prefix
/// length, scope, flags and interface name).
pub(crate) fn parse_if_inet6(text: &str) -> Vec<Ipv6Addr> {
    text.lines()
        .filter_map(|line| {
            let hex = line.split_ascii_whitespace().next()?;
            if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u128::from_str_radix(hex, 16).ok().map(Ipv6Addr::from)
        })
        .take(MAX_ADDRS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIB_TRIE: &str = "Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.9.0.0/24 2 0 2
        |-- 10.9.0.0
           /24 link UNICAST
        |-- 10.9.0.7
           /32 host LOCAL
     +-- 127.0.0.0/8 2 0 2
        |-- 127.0.0.1
           /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
        |-- 10.9.0.7
           /32 host LOCAL
        |-- 10.9.0.255
           /32 link BROADCAST
";

    #[test]
    fn fib_trie_local_host_routes_are_this_namespace_s_addresses() {
        let got = parse_fib_trie_local(FIB_TRIE);
        assert_eq!(
            got,
            vec![Ipv4Addr::new(10, 9, 0, 7), Ipv4Addr::new(127, 0, 0, 1)]
        );
        assert!(parse_fib_trie_local("/32 host LOCAL\n|-- nonsense\n/32 host LOCAL").is_empty());
    }

    #[test]
    fn if_inet6_lines_give_their_address() {
        let text = "00000000000000000000000000000001 01 80 10 80       lo\n\
                    fe800000000000000000000000000abc 02 40 20 80     eth0\n\
                    zz800000000000000000000000000abc 02 40 20 80     eth0\n\
                    fe80 02\n";
        let got = parse_if_inet6(text);
        assert_eq!(
            got,
            vec![
                Ipv6Addr::LOCALHOST,
                "fe80::abc".parse::<Ipv6Addr>().unwrap()
            ]
        );
    }

    #[test]
    fn ifaddr_messages_prefer_the_local_address() {
        let mut body = vec![libc::AF_INET as u8, 32, 0, 0, 1, 0, 0, 0];
        body.extend([8, 0, IFA_ADDRESS as u8, 0, 10, 0, 0, 2]);
        body.extend([8, 0, IFA_LOCAL as u8, 0, 10, 0, 0, 1]);
        assert_eq!(parse_ifaddr(&body), Some("10.0.0.1".parse().unwrap()));
        body.truncate(16);
        assert_eq!(parse_ifaddr(&body), Some("10.0.0.2".parse().unwrap()));
        body[0] = libc::AF_INET6 as u8; // a 4-byte payload is not an IPv6 address
        assert_eq!(parse_ifaddr(&body), None);
        assert_eq!(parse_ifaddr(&[]), None);
    }

    #[test]
    fn the_running_namespace_has_loopback() {
        let got = proc_addresses(Path::new("/proc/self/net")).unwrap();
        assert!(got.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let mut route =
            NetlinkSocket::open(crate::attribution::kernel::netlink::NETLINK_ROUTE).unwrap();
        let got = netlink_addresses(&mut route).unwrap();
        assert!(got.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
}
