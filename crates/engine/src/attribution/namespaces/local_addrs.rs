//! The addresses of one network namespace: from netlink RTM_GETADDR on a socket opened in
//! that namespace, or from its `/proc/PID/net/{fib_trie,if_inet6}` when netlink fails.
//!
//! Both are bounded by the caller ([`Bound`]): a user's namespace may hold 65,536 local
//! addresses or more. Its `fib_trie` is then 6.8 MB, and the kernel alone took 1.3 s to
//! produce it here (each 4 KiB read walks the trie again from its start, so the cost grows
//! with the square of the bytes read: 0.05 s for the first 1 MiB, 0.28 s for 4 MiB).
//! Parsing is linear (a hash set removes duplicates; a list scanned for each address
//! took seconds at 65,536).

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

/// How much of one namespace's addresses is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bound {
    /// Most distinct addresses kept; the rest of a dump or file is skipped.
    pub addresses: usize,
    /// Most bytes read of each of `fib_trie` and `if_inet6`.
    pub file_bytes: u64,
}

/// Every address of every interface of the namespace `route` (a `NETLINK_ROUTE` socket)
/// lives in, at most `bound.addresses` of them.
pub(crate) fn netlink_addresses(
    route: &mut NetlinkSocket,
    bound: Bound,
) -> io::Result<HashSet<IpAddr>> {
    let request = [0u8; IFADDRMSG_LEN]; // AF_UNSPEC: both families
    let mut out = HashSet::new();
    route.request(RTM_GETADDR, true, &request, |body| {
        if out.len() < bound.addresses {
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
/// FIB (IPv4 `/32 host LOCAL` entries) and `if_inet6`, within `bound` (IPv4 first).
pub(crate) fn proc_addresses(net_dir: &Path, bound: Bound) -> io::Result<HashSet<IpAddr>> {
    let mut out = HashSet::new();
    let fib = read_text(&net_dir.join("fib_trie"), bound.file_bytes);
    let fib_err = match fib {
        Ok(text) => {
            let v4 = parse_fib_trie_local(&text, bound.addresses);
            out.extend(v4.into_iter().map(IpAddr::V4));
            None
        }
        Err(e) => Some(e),
    };
    let room = bound.addresses.saturating_sub(out.len());
    if room == 0 {
        return Ok(out);
    }
    match read_text(&net_dir.join("if_inet6"), bound.file_bytes) {
        Ok(text) => out.extend(parse_if_inet6(&text, room).into_iter().map(IpAddr::V6)),
        Err(_) => {
            if let Some(fib_err) = fib_err {
                return Err(fib_err);
            }
        }
    }
    Ok(out)
}

/// The distinct addresses (at most `limit`, in the file's order) a `fib_trie` lists as
/// `/32 host LOCAL` (each follows its `|-- a.b.c.d`). Linear in the text.
pub(crate) fn parse_fib_trie_local(text: &str, limit: usize) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in text.lines() {
        if out.len() >= limit {
            break;
        }
        let line = line.trim();
        if let Some(addr) = line.strip_prefix("|-- ") {
            last = addr.trim().parse().ok();
        } else if line.starts_with("/32 host LOCAL") {
            if let Some(ip) = last {
                if seen.insert(ip) {
                    out.push(ip);
                }
            }
        }
    }
    out
}

/// The distinct addresses (at most `limit`, in the file's order) of `if_inet6` lines (32
/// hex digits in network order, then index, prefix length, scope, flags and interface
/// name). An address is listed once per interface that has it.
pub(crate) fn parse_if_inet6(text: &str, limit: usize) -> Vec<Ipv6Addr> {
    let mut seen = HashSet::new();
    text.lines()
        .filter_map(|line| {
            let hex = line.split_ascii_whitespace().next()?;
            if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u128::from_str_radix(hex, 16).ok().map(Ipv6Addr::from)
        })
        .filter(|ip| seen.insert(*ip))
        .take(limit)
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
        let got = parse_fib_trie_local(FIB_TRIE, 10);
        assert_eq!(
            got,
            vec![Ipv4Addr::new(10, 9, 0, 7), Ipv4Addr::new(127, 0, 0, 1)]
        );
        assert_eq!(parse_fib_trie_local(FIB_TRIE, 1), got[..1]);
        let nonsense = "/32 host LOCAL\n|-- nonsense\n/32 host LOCAL";
        assert!(parse_fib_trie_local(nonsense, 10).is_empty());
    }

    /// A `fib_trie` as the kernel writes it for a namespace with `count` local addresses
    /// (10.200.0.0 on), listed in its Main and its Local table.
    fn flooded_fib_trie(count: u32) -> String {
        let mut text = String::new();
        for table in ["Main", "Local"] {
            text += &format!("{table}:\n  +-- 10.200.0.0/14 2 0 2\n");
            for i in 0..count {
                let [_, b, c, d] = i.to_be_bytes();
                text += &format!("     |-- 10.{}.{c}.{d}\n        /32 host LOCAL\n", 200 + b);
            }
        }
        text
    }

    #[test]
    fn a_fib_trie_of_a_quarter_million_entries_parses_in_linear_time() {
        // 2 × 131,072 entries of 131,072 distinct addresses: the list scanned for each
        // address (the former de-duplication) would compare some 10^10 times. (Not
        // bigger: the test process's other tests search its descriptors on a budget.)
        let count = 1 << 17;
        let text = flooded_fib_trie(count);
        let started = std::time::Instant::now();
        let got = parse_fib_trie_local(&text, usize::MAX);
        let took = started.elapsed();
        assert_eq!(got.len(), count as usize, "each address once");
        assert_eq!(got[0], Ipv4Addr::new(10, 200, 0, 0));
        assert_eq!(got[got.len() - 1], Ipv4Addr::new(10, 201, 255, 255));
        println!("{} bytes, {count} addresses parsed in {took:?}", text.len());
        // Bounded: the rest is not even looked at.
        assert_eq!(parse_fib_trie_local(&text, 4_096).len(), 4_096);
    }

    #[test]
    fn reading_a_namespace_s_files_stops_at_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let fib = flooded_fib_trie(10_000);
        std::fs::write(dir.path().join("fib_trie"), &fib).unwrap();
        std::fs::write(
            dir.path().join("if_inet6"),
            "00000000000000000000000000000001 01 80 10 80       lo\n",
        )
        .unwrap();
        let all = Bound {
            addresses: usize::MAX,
            file_bytes: u64::MAX,
        };
        let got = proc_addresses(dir.path(), all).unwrap();
        assert_eq!(got.len(), 10_001);
        assert!(got.contains(&IpAddr::V6(Ipv6Addr::LOCALHOST)));
        // By count: IPv4 first, IPv6 only with room left.
        let few = Bound {
            addresses: 100,
            ..all
        };
        let got = proc_addresses(dir.path(), few).unwrap();
        assert_eq!(got.len(), 100);
        assert!(!got.contains(&IpAddr::V6(Ipv6Addr::LOCALHOST)));
        // By bytes: only what the first 4 KiB hold (each entry is some 50 bytes).
        let short = Bound {
            file_bytes: 4_096,
            ..all
        };
        let got = proc_addresses(dir.path(), short).unwrap();
        assert!(got.len() < 100, "{} addresses from 4 KiB", got.len());
        assert!(got.contains(&IpAddr::V4(Ipv4Addr::new(10, 200, 0, 0))));
        // Neither file: the error of reading them.
        let none = tempfile::tempdir().unwrap();
        assert!(proc_addresses(none.path(), all).is_err());
    }

    #[test]
    fn if_inet6_lines_give_their_address() {
        let text = "00000000000000000000000000000001 01 80 10 80       lo\n\
                    fe800000000000000000000000000abc 02 40 20 80     eth0\n\
                    zz800000000000000000000000000abc 02 40 20 80     eth0\n\
                    fe80 02\n";
        let got = parse_if_inet6(text, 10);
        assert_eq!(
            parse_if_inet6(&format!("{text}{text}"), 10),
            got,
            "once each"
        );
        assert_eq!(parse_if_inet6(text, 1), got[..1]);
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
        let all = Bound {
            addresses: 65_536,
            file_bytes: 16 << 20,
        };
        let got = proc_addresses(Path::new("/proc/self/net"), all).unwrap();
        assert!(got.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let mut route =
            NetlinkSocket::open(crate::attribution::kernel::netlink::NETLINK_ROUTE).unwrap();
        let got = netlink_addresses(&mut route, all).unwrap();
        assert!(got.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
}
