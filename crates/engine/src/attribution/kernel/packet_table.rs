//! The kernel's table of packet sockets (`/proc/net/packet`): which AF_PACKET sockets
//! exist in a network namespace, with the EtherType each receives (`Proto`, host order;
//! 0 for a socket that only sends, 0x0003 `ETH_P_ALL` for every frame) and the interface
//! it is bound to (`Iface`, 0 for any): who may have sent a frame that carries no IP
//! packet (`SystemOwners::packet_owner`). Parsed as untrusted text: bounded, every field
//! checked, malformed lines skipped.
//!
//! ```text
//! sk               RefCnt Type Proto  Iface R Rmem   User   Inode
//! 000000009c190c6d 3      3    88b5   1     1 0      0      643476
//! ```

/// `ETH_P_ALL`: a socket that sees every frame (a capture: tcpdump, this engine).
pub(crate) const ETH_P_ALL: u16 = 0x0003;
/// Most sockets read from one table.
const MAX_SOCKETS: usize = 65_536;

/// One packet socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PacketSocket {
    /// The EtherType it was opened or bound for (0: none, it only sends).
    pub proto: u16,
    /// The interface index it is bound to (0: every interface).
    pub ifindex: u32,
    pub uid: u32,
    pub inode: u64,
}

/// The sockets of a `/proc/net/packet` text.
pub(crate) fn parse(text: &str) -> Vec<PacketSocket> {
    text.lines()
        .skip(1)
        .filter_map(parse_line)
        .take(MAX_SOCKETS)
        .collect()
}

fn parse_line(line: &str) -> Option<PacketSocket> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [_sk, _refcnt, _kind, proto, ifindex, _running, _rmem, uid, inode] = fields[..] else {
        return None;
    };
    Some(PacketSocket {
        proto: u16::from_str_radix(proto, 16).ok()?,
        ifindex: ifindex.parse().ok()?,
        uid: uid.parse().ok()?,
        inode: inode.parse().ok()?,
    })
}

/// EtherTypes the kernel sends frames of itself (ARP requests and replies, RARP), and
/// 802.3 frames, whose type field is a length (≤ 0x05ff: the bridge's STP): for these a
/// socket that only sends is no evidence.
fn kernel_sends(ethertype: u16) -> bool {
    matches!(ethertype, 0x0806 | 0x8035) || ethertype <= 0x05ff
}

/// Which of `sockets` may have sent a frame of `ethertype` out of interface `ifindex`,
/// most likely first: those opened for that EtherType, then those that only send (proto
/// 0; not for a type the kernel sends itself); each bound to that interface or to none.
/// Never a socket that sees every frame (`ETH_P_ALL`): that is a capture (tcpdump, this
/// engine), a receiver of the frame, not its sender. The caller takes a group only when
/// it holds one process.
pub(crate) fn senders(
    sockets: &[PacketSocket],
    ifindex: u32,
    ethertype: u16,
) -> [Vec<PacketSocket>; 2] {
    let on_interface = |s: &&PacketSocket| s.ifindex == ifindex || s.ifindex == 0;
    let with = |proto: u16| -> Vec<PacketSocket> {
        sockets
            .iter()
            .filter(on_interface)
            .filter(|s| s.proto == proto)
            .copied()
            .collect()
    };
    let exact = if ethertype == 0 || ethertype == ETH_P_ALL {
        Vec::new()
    } else {
        with(ethertype)
    };
    let send_only = if kernel_sends(ethertype) {
        Vec::new()
    } else {
        with(0)
    };
    [exact, send_only]
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "sk               RefCnt Type Proto  Iface R Rmem   User   Inode
000000009c190c6d 3      3    88b5   5     1 0      0      643476
0000000090b33f3e 2      3    0000   0     0 0      1000   643477
00000000aaaaaaaa 3      3    0003   0     1 0      0      643478
00000000bbbbbbbb 3      2    88b5   6     1 0      0      643479
";

    #[test]
    fn the_table_is_read_field_by_field() {
        let sockets = parse(TABLE);
        assert_eq!(sockets.len(), 4);
        assert_eq!(
            sockets[0],
            PacketSocket {
                proto: 0x88b5,
                ifindex: 5,
                uid: 0,
                inode: 643_476
            }
        );
        assert_eq!(sockets[1].uid, 1000);
    }

    #[test]
    fn malformed_lines_are_skipped_and_the_table_is_bounded() {
        let text = "header\n\
                    x 3 3 zz 5 1 0 0 1\n\
                    x 3 3 88b5 -1 1 0 0 2\n\
                    x 3 3 88b5 5 1 0 0\n\
                    x 3 3 88b5 5 1 0 0 3 extra\n\
                    x 3 3 10000 5 1 0 0 4\n\
                    x 3 3 88b5 5 1 0 0 5\n";
        let sockets = parse(text);
        assert_eq!(sockets.iter().map(|s| s.inode).collect::<Vec<_>>(), [5]);
        let mut big = String::from("header\n");
        for i in 0..(MAX_SOCKETS + 10) {
            big.push_str(&format!("x 3 3 0003 0 1 0 0 {i}\n"));
        }
        assert_eq!(parse(&big).len(), MAX_SOCKETS);
        assert!(parse("").is_empty());
    }

    #[test]
    fn senders_come_by_ethertype_then_send_only_and_never_a_capture() {
        let sockets = parse(TABLE);
        let [exact, send_only] = senders(&sockets, 5, 0x88b5);
        assert_eq!(exact.iter().map(|s| s.inode).collect::<Vec<_>>(), [643_476]);
        assert_eq!(
            send_only.iter().map(|s| s.inode).collect::<Vec<_>>(),
            [643_477]
        );
        // Another interface: the socket bound to 5 is not a candidate, the unbound are.
        let [exact, send_only] = senders(&sockets, 6, 0x88b5);
        assert_eq!(exact.iter().map(|s| s.inode).collect::<Vec<_>>(), [643_479]);
        assert_eq!(send_only.len(), 1);
        // An ARP frame the kernel may have sent: no socket opened for ARP, and a socket
        // that only sends is no evidence; the capture (ETH_P_ALL) never is.
        assert_eq!(senders(&sockets, 5, 0x0806), [vec![], vec![]]);
        assert_eq!(
            senders(&sockets, 5, 0x0026),
            [vec![], vec![]],
            "802.3 (STP)"
        );
        assert!(senders(&sockets, 5, ETH_P_ALL)[0].is_empty());
    }
}
