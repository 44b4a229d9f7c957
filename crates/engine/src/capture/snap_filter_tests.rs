//! The snap filter run on byte fixtures by a small classic BPF interpreter (the opcodes the
//! program uses, with the kernel's rule that a load past the end returns 0), and attached
//! to a real socket so the kernel's own checker accepts it.

use super::*;
use proptest::prelude::*;

/// Runs `program` on `packet` (from its link header) whose protocol the kernel knows as
/// `protocol`; the return value, as the kernel would take it.
fn run(program: &[libc::sock_filter], packet: &[u8], protocol: u16) -> u32 {
    let (mut a, mut x): (u32, u32) = (0, 0);
    let mut pc = 0;
    let byte = |at: u32| packet.get(at as usize).map(|&b| u32::from(b));
    let half = |at: u32| Some(byte(at)? << 8 | byte(at + 1)?);
    let ancillary_protocol = (libc::SKF_AD_OFF + libc::SKF_AD_PROTOCOL) as u32;
    while let Some(insn) = program.get(pc) {
        pc += 1;
        let code = u32::from(insn.code);
        let loaded = match code {
            c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                assert_eq!(
                    insn.k, ancillary_protocol,
                    "only the protocol is read as a word"
                );
                Some(u32::from(protocol))
            }
            c if c == libc::BPF_LD | libc::BPF_H | libc::BPF_ABS => half(insn.k),
            c if c == libc::BPF_LD | libc::BPF_B | libc::BPF_ABS => byte(insn.k),
            c if c == libc::BPF_LD | libc::BPF_H | libc::BPF_IND => half(x.wrapping_add(insn.k)),
            c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_LEN => Some(packet.len() as u32),
            c if c == libc::BPF_LDX | libc::BPF_B | libc::BPF_MSH => {
                match byte(insn.k) {
                    Some(b) => x = (b & 0xf) * 4,
                    None => return 0,
                }
                continue;
            }
            c if c == libc::BPF_ALU | libc::BPF_SUB | libc::BPF_K => Some(a.wrapping_sub(insn.k)),
            c if c == libc::BPF_RET | libc::BPF_K => return insn.k,
            c if c & 0x07 == libc::BPF_JMP => {
                let operand = if c & libc::BPF_X != 0 { x } else { insn.k };
                let taken = match c & 0xf0 {
                    op if op == libc::BPF_JEQ => a == operand,
                    op if op == libc::BPF_JGE => a >= operand,
                    op if op == libc::BPF_JSET => a & operand != 0,
                    other => panic!("jump {other:#x} not interpreted"),
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
                continue;
            }
            other => panic!("opcode {other:#x} not interpreted"),
        };
        match loaded {
            Some(value) => a = value,
            None => return 0,
        }
    }
    panic!("the program fell off its end");
}

const UDP: u8 = 17;
const TCP: u8 = 6;

/// An Ethernet frame (when `ethernet`) with an IPv4 header of `ihl` words, `transport`
/// from `sport` to `dport`, and 100 bytes of payload; flags-and-offset as given.
fn ipv4(ethernet: bool, ihl: u8, transport: u8, sport: u16, dport: u16, frag: u16) -> Vec<u8> {
    let mut p = Vec::new();
    if ethernet {
        p.extend([0; 12]);
        p.extend(0x0800u16.to_be_bytes());
    }
    let mut ip = vec![0u8; usize::from(ihl) * 4];
    ip[0] = 0x40 | ihl;
    ip[6..8].copy_from_slice(&frag.to_be_bytes());
    ip[9] = transport;
    p.extend(ip);
    p.extend(sport.to_be_bytes());
    p.extend(dport.to_be_bytes());
    p.extend([0; 120]);
    p
}

fn ipv6(transport: u8, sport: u16, dport: u16) -> Vec<u8> {
    let mut p = vec![0u8; 12];
    p.extend(0x86ddu16.to_be_bytes());
    let mut ip = vec![0u8; 40];
    ip[0] = 0x60;
    ip[6] = transport;
    p.extend(ip);
    p.extend(sport.to_be_bytes());
    p.extend(dport.to_be_bytes());
    p.extend([0; 120]);
    p
}

#[test]
fn dns_answers_are_kept_whole_over_udp_and_tcp_ipv4_and_ipv6() {
    let ethernet = program(LinkType::Ethernet);
    for port in DNS_PORTS {
        for transport in [UDP, TCP] {
            let v4 = ipv4(true, 5, transport, port, 40_000, 0);
            assert_eq!(
                run(&ethernet, &v4, 0x0800),
                DNS_SNAP,
                "v4 {transport} {port}"
            );
            let v6 = ipv6(transport, port, 40_000);
            assert_eq!(
                run(&ethernet, &v6, 0x86dd),
                DNS_SNAP,
                "v6 {transport} {port}"
            );
        }
    }
    // IPv4 options move the ports: the header length is read.
    let options = ipv4(true, 8, UDP, 53, 40_000, 0);
    assert_eq!(run(&ethernet, &options, 0x0800), DNS_SNAP);
    // On a raw IP link (tun, WireGuard) the IP header starts at once.
    let raw = ipv4(false, 5, UDP, 53, 40_000, 0);
    assert_eq!(run(&program(LinkType::RawIp), &raw, 0x0800), DNS_SNAP);
}

#[test]
fn everything_else_is_cut_to_its_headers() {
    let ethernet = program(LinkType::Ethernet);
    // A query (to port 53), other ports, other transports.
    for packet in [
        ipv4(true, 5, UDP, 40_000, 53, 0),
        ipv4(true, 5, TCP, 443, 40_000, 0),
        ipv4(true, 5, 1, 53, 40_000, 0),
    ] {
        assert_eq!(run(&ethernet, &packet, 0x0800), HEADER_SNAP);
    }
    assert_eq!(run(&ethernet, &ipv6(UDP, 40_000, 53), 0x86dd), HEADER_SNAP);
    assert_eq!(run(&ethernet, &ipv6(58, 53, 53), 0x86dd), HEADER_SNAP);
    // A later fragment carries no ports, whatever its bytes look like.
    let fragment = ipv4(true, 5, UDP, 53, 40_000, 185);
    assert_eq!(run(&ethernet, &fragment, 0x0800), HEADER_SNAP);
    // ARP, and a link type the program cannot read.
    assert_eq!(run(&ethernet, &[0; 42], 0x0806), HEADER_SNAP);
    let unsupported = program(LinkType::Unsupported(147));
    assert_eq!(
        run(&unsupported, &ipv4(true, 5, UDP, 53, 1, 0), 0x0800),
        HEADER_SNAP
    );
}

#[test]
fn a_packet_cut_anywhere_is_never_dropped() {
    let ethernet = program(LinkType::Ethernet);
    for (packet, protocol) in [
        (ipv4(true, 5, UDP, 53, 40_000, 0), 0x0800),
        (ipv4(true, 15, UDP, 53, 40_000, 0), 0x0800),
        (ipv6(UDP, 53, 40_000), 0x86dd),
    ] {
        for end in 0..packet.len() {
            let snap = run(&ethernet, &packet[..end], protocol);
            assert!(
                snap == HEADER_SNAP || snap == DNS_SNAP,
                "cut at {end}: {snap}"
            );
        }
    }
}

#[test]
fn the_kernel_accepts_the_program_for_every_link_type() {
    use std::os::fd::AsFd;
    // Any socket takes a classic filter without privilege; the kernel checks the program
    // (jumps in range, a return at the end) as it would on a capture handle.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    for link in [
        LinkType::Ethernet,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::Null,
        LinkType::Loop,
        LinkType::RawIp,
        LinkType::Ipv4,
        LinkType::Ipv6,
        LinkType::Unsupported(147),
    ] {
        attach(socket.as_fd(), link).unwrap_or_else(|e| panic!("{link:?}: {e}"));
    }
}

proptest! {
    /// Whatever the bytes and the protocol: one of the two snap lengths, never 0.
    #[test]
    fn any_bytes_get_one_of_the_two_snap_lengths(
        packet in proptest::collection::vec(any::<u8>(), 0..200),
        protocol in prop_oneof![Just(0x0800u16), Just(0x86dd), any::<u16>()],
        raw in any::<bool>(),
    ) {
        let link = if raw { LinkType::RawIp } else { LinkType::Ethernet };
        let snap = run(&program(link), &packet, protocol);
        prop_assert!(snap == HEADER_SNAP || snap == DNS_SNAP);
    }
}
