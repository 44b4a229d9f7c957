//! The connect log's decoding and bookkeeping on crafted tracepoint records: offsets from
//! the format file, IPv4 and IPv6 records, short and foreign ones, handshakes, listeners
//! and their grace period, bounded maps.

use super::state::GENERATION;
use super::*;
use std::net::Ipv6Addr;
const FORMAT: &str = "name: inet_sock_set_state
ID: 2287
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;
\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;
\tfield:int newstate;\toffset:20;\tsize:4;\tsigned:1;
\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;
\tfield:__u16 dport;\toffset:26;\tsize:2;\tsigned:0;
\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;
\tfield:__u16 protocol;\toffset:30;\tsize:2;\tsigned:0;
\tfield:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;
\tfield:__u8 daddr[4];\toffset:36;\tsize:4;\tsigned:0;
\tfield:__u8 saddr_v6[16];\toffset:40;\tsize:16;\tsigned:0;
\tfield:__u8 daddr_v6[16];\toffset:56;\tsize:16;\tsigned:0;
";

fn layout() -> Layout {
    Layout::parse(FORMAT).expect("layout")
}

/// A log with no rings, fed through `note`.
fn empty_log() -> ConnectLog {
    ConnectLog::with_rings(Vec::new(), layout())
}

fn record(family: u16, old: i32, new: i32, sport: u16, dport: u16) -> Vec<u8> {
    let mut raw = vec![0u8; 72];
    raw[8..16].copy_from_slice(&0xffff_8880_1234_5678u64.to_ne_bytes());
    raw[16..20].copy_from_slice(&old.to_ne_bytes());
    raw[20..24].copy_from_slice(&new.to_ne_bytes());
    raw[24..26].copy_from_slice(&sport.to_ne_bytes());
    raw[26..28].copy_from_slice(&dport.to_ne_bytes());
    raw[28..30].copy_from_slice(&family.to_ne_bytes());
    raw[30..32].copy_from_slice(&TCP.to_ne_bytes());
    raw[32..36].copy_from_slice(&[127, 0, 0, 1]);
    raw[36..40].copy_from_slice(&[127, 0, 0, 2]);
    raw[40..56].copy_from_slice(&Ipv6Addr::LOCALHOST.octets());
    raw[56..72].copy_from_slice(&"::ffff:10.0.0.1".parse::<Ipv6Addr>().unwrap().octets());
    raw
}

#[test]
fn the_format_file_gives_every_offset() {
    let l = layout();
    assert_eq!((l.skaddr, l.oldstate, l.newstate), (8, 16, 20));
    assert_eq!((l.sport, l.dport, l.family), (24, 26, 28));
    assert_eq!((l.saddr, l.daddr, l.saddr_v6, l.daddr_v6), (32, 36, 40, 56));
}

#[test]
fn a_format_missing_a_field_or_with_another_size_is_refused() {
    assert_eq!(Layout::parse(&FORMAT.replace("skaddr", "sk")), None);
    assert_eq!(
        Layout::parse(&FORMAT.replace("offset:24;\tsize:2", "offset:24;\tsize:4")),
        None
    );
    assert_eq!(Layout::parse(""), None);
}

#[test]
fn ipv4_and_ipv6_records_decode_with_host_order_ports() {
    let v4 = decode(&layout(), 42, &record(2, 2, 1, 40000, 80)).expect("v4");
    assert_eq!(v4.pid, 42);
    assert_eq!(v4.socket, 0xffff_8880_1234_5678);
    assert_eq!((v4.oldstate, v4.newstate), (2, 1));
    assert_eq!(v4.local, "127.0.0.1:40000".parse().unwrap());
    assert_eq!(v4.remote, "127.0.0.2:80".parse().unwrap());
    let v6 = decode(&layout(), 7, &record(10, 7, 2, 0, 443)).expect("v6");
    assert_eq!(v6.local, "[::1]:0".parse().unwrap());
    // A v4-mapped peer is the IPv4 address the capture sees.
    assert_eq!(v6.remote, "10.0.0.1:443".parse().unwrap());
}

#[test]
fn short_or_foreign_records_are_skipped() {
    let l = layout();
    // IPv4 needs the record up to its addresses (40 bytes), IPv6 all of it.
    let v4 = record(2, 2, 1, 1, 2);
    for len in 0..40 {
        assert_eq!(decode(&l, 1, &v4[..len]), None, "{len} bytes");
    }
    let v6 = record(10, 2, 1, 1, 2);
    for len in 0..v6.len() {
        assert_eq!(decode(&l, 1, &v6[..len]), None, "{len} bytes");
    }
    assert_eq!(decode(&l, 1, &record(1, 2, 1, 1, 2)), None, "AF_UNIX");
}

#[test]
fn a_socket_address_reused_by_a_siblings_socket_leaves_each_connection_its_own_process() {
    let mut log = empty_log();
    let proc_root = Path::new("/nonexistent");
    // Every record has the same kernel socket address: the first socket was freed and
    // its memory given to the next process's socket.
    for (pid, port) in [(100, 40000), (101, 40001)] {
        let connect = decode(&log.layout, pid, &record(2, 7, 2, 0, 80)).unwrap();
        let established = decode(&log.layout, 1, &record(2, 2, 1, port, 80)).unwrap();
        log.note(connect, proc_root);
        log.note(established, proc_root);
    }
    let remote = "127.0.0.2:80".parse().unwrap();
    let first = "127.0.0.1:40000".parse().unwrap();
    let second = "127.0.0.1:40001".parse().unwrap();
    assert_eq!(log.connector(first, remote, proc_root), Some(100));
    assert_eq!(log.connector(second, remote, proc_root), Some(101));
}

#[test]
fn the_two_events_of_a_handshake_name_the_connecting_process() {
    let mut log = empty_log();
    let proc_root = Path::new("/nonexistent");
    let connect = decode(&log.layout, 4242, &record(2, 7, 2, 0, 80)).unwrap();
    // The handshake ends in softirq: whatever pid was running.
    let established = decode(&log.layout, 1, &record(2, 2, 1, 40000, 80)).unwrap();
    log.note(connect, proc_root);
    log.note(established, proc_root);
    let local = "127.0.0.1:40000".parse().unwrap();
    let remote = "127.0.0.2:80".parse().unwrap();
    assert_eq!(log.connector(local, remote, proc_root), Some(4242));
    assert_eq!(
        log.connector(remote, local, proc_root),
        None,
        "the server end"
    );
}

#[test]
fn a_listen_names_the_server_of_its_port_for_a_while_after_it_closed() {
    let mut log = empty_log();
    let proc_root = Path::new("/nonexistent");
    let note = |log: &mut ConnectLog, pid, raw: &[u8]| {
        let change = decode(&log.layout, pid, raw).unwrap();
        log.note(change, proc_root);
    };
    let pid_at = |log: &mut ConnectLog, at: &str| {
        log.listener(at.parse().unwrap(), proc_root).map(|l| l.pid)
    };
    // listen() on 127.0.0.1:8080 by pid 77, then on the IPv4 wildcard of 9090 by 78.
    note(&mut log, 77, &record(2, 7, 10, 8080, 0));
    let mut wildcard = record(2, 7, 10, 9090, 0);
    wildcard[32..36].copy_from_slice(&[0, 0, 0, 0]);
    note(&mut log, 78, &wildcard);
    // An unbound socket's listen() has port 0: its port is not known, nothing kept.
    note(&mut log, 79, &record(2, 7, 10, 0, 0));
    // SCTP reports its listens on the same tracepoint: not TCP's.
    let mut sctp = record(2, 7, 10, 7070, 0);
    sctp[30..32].copy_from_slice(&132u16.to_ne_bytes());
    note(&mut log, 81, &sctp);
    assert_eq!(pid_at(&mut log, "127.0.0.1:8080"), Some(77));
    assert_eq!(pid_at(&mut log, "10.1.2.3:9090"), Some(78));
    assert_eq!(pid_at(&mut log, "127.0.0.1:8081"), None);
    assert_eq!(pid_at(&mut log, "127.0.0.1:0"), None);
    assert_eq!(pid_at(&mut log, "127.0.0.1:7070"), None);
    // Its process is gone (no /proc here): the namespace is not known.
    let listener = log.listener("127.0.0.1:8080".parse().unwrap(), proc_root);
    assert_eq!(listener.and_then(|l| l.namespace), None);
    // Closed (LISTEN -> CLOSE): still the answer during the grace period, not after.
    note(&mut log, 1, &record(2, 10, 7, 8080, 0));
    assert_eq!(pid_at(&mut log, "127.0.0.1:8080"), Some(77));
    let key: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let mut closed = log.listener.get(&key).unwrap();
    closed.closed = Instant::now().checked_sub(LISTENER_GRACE * 2);
    log.listener.insert(key, closed);
    assert_eq!(pid_at(&mut log, "127.0.0.1:8080"), None);
    // A later listen() on the same address wins.
    note(&mut log, 80, &record(2, 7, 10, 8080, 0));
    assert_eq!(pid_at(&mut log, "127.0.0.1:8080"), Some(80));
}

#[test]
fn generations_stay_bounded_and_keep_the_latest() {
    let mut map = Generations::default();
    for i in 0..(3 * GENERATION as u64) {
        map.insert(i, i);
    }
    assert!(map.new.len() + map.old.len() <= 2 * GENERATION);
    let last = 3 * GENERATION as u64 - 1;
    assert_eq!(map.get(&last), Some(last));
    assert_eq!(map.get(&0), None);
}
