//! Parsers for `/proc/net/dev` (per-interface counters) and `/proc/net/netstat` (`IpExt`
//! octet totals). They take the file's text and skip whatever they cannot read: a hostile or
//! truncated file gives fewer entries, never a panic.

/// One interface's counters since boot, from `/proc/net/dev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceCounters {
    pub name: String,
    /// Bytes received since boot.
    pub rx_bytes: u64,
    pub rx_packets: u64,
    /// Bytes sent since boot.
    pub tx_bytes: u64,
    pub tx_packets: u64,
}

/// The whole system's IP octet totals since boot, from `/proc/net/netstat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpTotals {
    /// Bytes of IP packets received since boot (`IpExt InOctets`).
    pub in_octets: u64,
    /// Bytes of IP packets sent since boot (`IpExt OutOctets`).
    pub out_octets: u64,
}

/// Parses `/proc/net/dev`: two header lines, then `name: 16 counters` per interface.
pub fn parse_net_dev(text: &str) -> Vec<InterfaceCounters> {
    text.lines().filter_map(parse_net_dev_line).collect()
}

fn parse_net_dev_line(line: &str) -> Option<InterfaceCounters> {
    let (name, counters) = line.split_once(':')?;
    let name = name.trim();
    if name.is_empty() || name.contains('|') || name.chars().any(char::is_whitespace) {
        return None;
    }
    let fields: Vec<u64> = counters
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    if fields.len() < 16 {
        return None;
    }
    Some(InterfaceCounters {
        name: name.to_owned(),
        rx_bytes: fields[0],
        rx_packets: fields[1],
        tx_bytes: fields[8],
        tx_packets: fields[9],
    })
}

/// Parses the `IpExt` pair of lines (names, then values) of `/proc/net/netstat`.
pub fn parse_ip_totals(text: &str) -> Option<IpTotals> {
    let mut ip_ext = text.lines().filter_map(|l| l.strip_prefix("IpExt:"));
    let names = ip_ext.next()?;
    let values = ip_ext.next()?;
    let mut in_octets = None;
    let mut out_octets = None;
    for (name, value) in names.split_whitespace().zip(values.split_whitespace()) {
        match name {
            "InOctets" => in_octets = value.parse().ok(),
            "OutOctets" => out_octets = value.parse().ok(),
            _ => {}
        }
    }
    Some(IpTotals {
        in_octets: in_octets?,
        out_octets: out_octets?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    static NET_DEV: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    3865      37    0    0    0     0          0         0     3865      37    0    0    0     0       0          0
  eth0: 197198582    7055    0    0    0     0          0         0   500342    4620    0    0    0     0       0          0
wlp0s20f3:18446744073709551615 1 0 0 0 0 0 0 2 3 0 0 0 0 0 0
";

    static NETSTAT: &str = "\
TcpExt: SyncookiesSent SyncookiesRecv
TcpExt: 0 0
IpExt: InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts InOctets OutOctets InMcastOctets
IpExt: 0 0 0 0 0 0 197103465 438643 0
MPTcpExt: MPCapableSYNRX
MPTcpExt: 0
";

    #[test]
    fn net_dev_gives_bytes_and_packets_each_way_per_interface() {
        let parsed = parse_net_dev(NET_DEV);
        assert_eq!(parsed.len(), 3);
        assert_eq!(
            parsed[1],
            InterfaceCounters {
                name: "eth0".into(),
                rx_bytes: 197_198_582,
                rx_packets: 7055,
                tx_bytes: 500_342,
                tx_packets: 4620,
            }
        );
    }

    #[test]
    fn net_dev_reads_names_glued_to_large_counters() {
        let parsed = parse_net_dev(NET_DEV);
        assert_eq!(parsed[2].name, "wlp0s20f3");
        assert_eq!(parsed[2].rx_bytes, u64::MAX);
        assert_eq!(parsed[2].tx_bytes, 2);
    }

    #[test]
    fn net_dev_skips_truncated_and_garbled_lines() {
        let hostile = "  eth0: 1 2 3\n  eth1: a b c d e f g h i j k l m n o p\n: 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\nno colon at all\n  ok0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n  neg0: -1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n";
        let parsed = parse_net_dev(hostile);
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].name, "ok0");
        assert_eq!((parsed[0].rx_bytes, parsed[0].tx_bytes), (1, 9));
    }

    #[test]
    fn net_dev_of_empty_or_binary_input_is_empty() {
        assert!(parse_net_dev("").is_empty());
        assert!(parse_net_dev("\u{0}\u{ff}:\n:::\n").is_empty());
    }

    #[test]
    fn netstat_gives_ip_octet_totals() {
        assert_eq!(
            parse_ip_totals(NETSTAT),
            Some(IpTotals {
                in_octets: 197_103_465,
                out_octets: 438_643
            })
        );
    }

    #[test]
    fn netstat_without_values_or_octets_gives_nothing() {
        assert_eq!(parse_ip_totals("IpExt: InOctets OutOctets\n"), None);
        assert_eq!(parse_ip_totals("IpExt: InNoRoutes\nIpExt: 0\n"), None);
        assert_eq!(
            parse_ip_totals("IpExt: InOctets OutOctets\nIpExt: 5 x\n"),
            None
        );
        assert_eq!(parse_ip_totals(""), None);
    }
}
