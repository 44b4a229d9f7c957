//! The decoder against records laid out as Linux 6.18's format files say.

use super::*;

/// `fib:fib_table_lookup`'s format file on Linux 6.18.
const FORMAT_V4: &str = "name: fib_table_lookup
ID: 2264
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:u32 tb_id;	offset:8;	size:4;	signed:0;
	field:int err;	offset:12;	size:4;	signed:1;
	field:int oif;	offset:16;	size:4;	signed:1;
	field:int iif;	offset:20;	size:4;	signed:1;
	field:u8 proto;	offset:24;	size:1;	signed:0;
	field:__u8 tos;	offset:25;	size:1;	signed:0;
	field:__u8 scope;	offset:26;	size:1;	signed:0;
	field:__u8 flags;	offset:27;	size:1;	signed:0;
	field:__u8 src[4];	offset:28;	size:4;	signed:0;
	field:__u8 dst[4];	offset:32;	size:4;	signed:0;
	field:__u8 gw4[4];	offset:36;	size:4;	signed:0;
	field:__u8 gw6[16];	offset:40;	size:16;	signed:0;
	field:u16 sport;	offset:56;	size:2;	signed:0;
	field:u16 dport;	offset:58;	size:2;	signed:0;
	field:char name[16];	offset:60;	size:16;	signed:0;

print fmt: \"table %u oif %d iif %d proto %u %pI4/%u -> %pI4/%u tos %d scope %d flags %x ==> dev %s gw %pI4/%pI6c err %d\", REC->tb_id, REC->oif, REC->iif, REC->proto, REC->src, REC->sport, REC->dst, REC->dport, REC->tos, REC->scope, REC->flags, REC->name, REC->gw4, REC->gw6, REC->err
";
/// `fib6:fib6_table_lookup`'s format file on Linux 6.18.
const FORMAT_V6: &str = "name: fib6_table_lookup
ID: 2315
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:u32 tb_id;	offset:8;	size:4;	signed:0;
	field:int err;	offset:12;	size:4;	signed:1;
	field:int oif;	offset:16;	size:4;	signed:1;
	field:int iif;	offset:20;	size:4;	signed:1;
	field:u32 flowlabel;	offset:24;	size:4;	signed:0;
	field:__u8 tos;	offset:28;	size:1;	signed:0;
	field:__u8 scope;	offset:29;	size:1;	signed:0;
	field:__u8 flags;	offset:30;	size:1;	signed:0;
	field:__u8 src[16];	offset:31;	size:16;	signed:0;
	field:__u8 dst[16];	offset:47;	size:16;	signed:0;
	field:u16 sport;	offset:64;	size:2;	signed:0;
	field:u16 dport;	offset:66;	size:2;	signed:0;
	field:u8 proto;	offset:68;	size:1;	signed:0;
	field:u8 rt_type;	offset:69;	size:1;	signed:0;
	field:char name[16];	offset:70;	size:16;	signed:0;
	field:__u8 gw[16];	offset:86;	size:16;	signed:0;

print fmt: \"table %3u oif %d iif %d proto %u %pI6c/%u -> %pI6c/%u flowlabel %#x tos %d scope %d flags %x ==> dev %s gw %pI6c err %d\", REC->tb_id, REC->oif, REC->iif, REC->proto, REC->src, REC->sport, REC->dst, REC->dport, REC->flowlabel, REC->tos, REC->scope, REC->flags, REC->name, REC->gw, REC->err
";

/// A record as the kernel writes it: `flags` in `common_flags`, then the fields.
struct Record {
    flags: u8,
    iif: i32,
    proto: u8,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
}

impl Record {
    fn send(src: &str, sport: u16, dst: &str, dport: u16) -> Record {
        Record {
            flags: 0,
            iif: OUTPUT_LOOKUP,
            proto: UDP,
            src: src.parse().expect("address"),
            dst: dst.parse().expect("address"),
            sport,
            dport,
        }
    }

    /// The raw bytes, with the layout of `format`.
    fn raw(&self, format: &str) -> (Layout, Vec<u8>) {
        let v6 = self.src.is_ipv6();
        let layout = Layout::parse(format, if v6 { 16 } else { 4 }).expect("layout");
        let mut raw = vec![0u8; if v6 { 102 } else { 76 }];
        let at = |name: &str, size: usize| field_offset(format, name, size).expect(name);
        raw[at("common_flags", 1)] = self.flags;
        raw[at("proto", 1)] = self.proto;
        let iif = at("iif", 4);
        raw[iif..iif + 4].copy_from_slice(&self.iif.to_ne_bytes());
        let mut put = |name: &str, ip: IpAddr| match ip {
            IpAddr::V4(v4) => {
                let o = at(name, 4);
                raw[o..o + 4].copy_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                let o = at(name, 16);
                raw[o..o + 16].copy_from_slice(&v6.octets());
            }
        };
        put("src", self.src);
        put("dst", self.dst);
        let sport = at("sport", 2);
        raw[sport..sport + 2].copy_from_slice(&self.sport.to_ne_bytes());
        let dport = at("dport", 2);
        raw[dport..dport + 2].copy_from_slice(&self.dport.to_ne_bytes());
        (layout, raw)
    }

    fn decoded(&self) -> Option<Route> {
        let format = if self.src.is_ipv6() {
            FORMAT_V6
        } else {
            FORMAT_V4
        };
        let (layout, raw) = self.raw(format);
        decode(&layout, &raw)
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("socket address")
}

#[test]
fn an_unbound_ipv4_send_gives_its_port_and_its_peer() {
    let route = Record::send("0.0.0.0", 36683, "127.0.0.1", 9999).decoded();
    assert_eq!(
        route,
        Some(Route {
            local: addr("0.0.0.0:36683"),
            remote: addr("127.0.0.1:9999"),
        })
    );
}

#[test]
fn an_ipv6_send_and_a_v4_mapped_peer_are_read() {
    let route = Record::send("fd00::1", 40940, "::1", 53).decoded();
    assert_eq!(route.map(|r| r.remote), Some(addr("[::1]:53")));
    assert_eq!(route.map(|r| r.local), Some(addr("[fd00::1]:40940")));
    let mapped = Record::send("::", 5000, "::ffff:10.0.0.2", 123).decoded();
    assert_eq!(mapped.map(|r| r.remote), Some(addr("10.0.0.2:123")));
}

#[test]
fn lookups_that_are_not_a_process_sending_udp_are_passed_over() {
    let mut softirq = Record::send("::1", 9999, "::1", 37791);
    softirq.flags = 0x80 | 0x10; // "b.s": an ICMPv6 error's lookup, from softirq
    assert_eq!(softirq.decoded(), None);
    let mut hardirq = Record::send("127.0.0.1", 1, "127.0.0.2", 2);
    hardirq.flags = 0x08;
    assert_eq!(hardirq.decoded(), None);
    let mut tcp = Record::send("0.0.0.0", 0, "127.0.0.1", 80);
    tcp.proto = 6;
    assert_eq!(tcp.decoded(), None);
    let mut input = Record::send("10.0.0.1", 53, "10.0.0.2", 40000);
    input.iif = 4; // received on interface 4
    assert_eq!(input.decoded(), None);
    let unbound_port = Record::send("0.0.0.0", 0, "127.0.0.1", 53);
    assert_eq!(unbound_port.decoded(), None);
    // Interrupts off in a process's own context (flag 0x01) is still the sender.
    let mut irqs_off = Record::send("127.0.0.1", 1000, "127.0.0.2", 2000);
    irqs_off.flags = 0x01;
    assert!(irqs_off.decoded().is_some());
}

#[test]
fn a_short_record_is_skipped_whatever_its_length() {
    let (layout, raw) = Record::send("127.0.0.1", 1000, "127.0.0.2", 2000).raw(FORMAT_V4);
    for len in 0..raw.len() {
        let short = &raw[..len];
        let decoded = decode(&layout, short);
        assert!(decoded.is_none() || len >= 60, "{len} bytes decoded");
    }
}

#[test]
fn both_formats_parse_and_a_changed_size_is_refused() {
    assert!(Layout::parse(FORMAT_V4, 4).is_some());
    assert!(Layout::parse(FORMAT_V6, 16).is_some());
    assert_eq!(Layout::parse(FORMAT_V4, 16), None);
    let changed = FORMAT_V4.replace(
        "u16 sport;\toffset:56;\tsize:2",
        "u32 sport;\toffset:56;\tsize:4",
    );
    assert_eq!(Layout::parse(&changed, 4), None);
}

#[test]
fn exec_and_fork_records_name_processes_and_threads_are_passed_over() {
    let mut comm = Vec::new();
    comm.extend_from_slice(&42u32.to_ne_bytes());
    comm.extend_from_slice(&42u32.to_ne_bytes());
    comm.extend_from_slice(b"dig\0\0\0\0\0");
    let (pid, name) = decode_comm(&comm).expect("comm");
    assert_eq!((pid, name.text().as_str()), (42, "dig"));
    let mut thread = comm.clone();
    thread[4..8].copy_from_slice(&43u32.to_ne_bytes());
    assert_eq!(decode_comm(&thread), None);
    // A name without its NUL is cut at the kernel's 15 bytes.
    let mut long = comm[..8].to_vec();
    long.extend_from_slice(&[b'x'; 40]);
    assert_eq!(decode_comm(&long).map(|(_, n)| n.text().len()), Some(15));
    assert_eq!(decode_comm(&comm[..8]), None);
    assert_eq!(decode_comm(&comm[..5]), None);

    let fork = |pid: u32, ppid: u32, tid: u32| -> Vec<u8> {
        [pid, ppid, tid, ppid, 0, 0]
            .iter()
            .flat_map(|w| w.to_ne_bytes())
            .collect()
    };
    assert_eq!(decode_fork(&fork(50, 42, 50)), Some((50, 42)));
    assert_eq!(decode_fork(&fork(42, 42, 51)), None, "a new thread");
    assert_eq!(decode_fork(&fork(50, 42, 50)[..10]), None);
    let mut by_a_thread = fork(50, 42, 50);
    by_a_thread[12..16].copy_from_slice(&43u32.to_ne_bytes());
    assert_eq!(decode_fork(&by_a_thread), None, "forked by thread 43");
}
