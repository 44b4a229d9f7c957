//! The sender log on real sends: a child process sends UDP and exits before the log is
//! read, and the log still names it, its port and its name; plus the bookkeeping rules
//! (the address check, the memory, the newest sender of a reused port).

use super::super::connect_log::state::GENERATION;
use super::*;
use std::process::Command;

/// A log with no rings, fed through `note`.
fn empty_log() -> UdpSenderLog {
    UdpSenderLog {
        rings: Vec::new(),
        senders: Generations::default(),
        names: Generations::default(),
        scratch: Vec::new(),
        lost: 0,
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("socket address")
}

fn route(local: &str, remote: &str) -> Route {
    Route {
        local: addr(local),
        remote: addr(remote),
    }
}

#[test]
fn an_unbound_sender_owns_its_port_towards_its_peer_whatever_local_address_the_packet_has() {
    let mut log = empty_log();
    let proc_root = Path::new("/nonexistent");
    log.note(
        7,
        route("0.0.0.0:40000", "10.0.0.2:53"),
        1,
        Instant::now(),
        proc_root,
    );
    let peer = addr("10.0.0.2:53");
    assert_eq!(log.sender(addr("10.0.0.1:40000"), peer, proc_root), Some(7));
    assert_eq!(log.sender(addr("10.0.0.1:40001"), peer, proc_root), None);
    assert_eq!(
        log.sender(addr("10.0.0.1:40000"), addr("10.0.0.2:54"), proc_root),
        None
    );
}

#[test]
fn a_bound_sender_owns_only_its_own_address() {
    let mut log = empty_log();
    let proc_root = Path::new("/nonexistent");
    log.note(
        7,
        route("10.0.0.1:40000", "10.0.0.2:53"),
        1,
        Instant::now(),
        proc_root,
    );
    let peer = addr("10.0.0.2:53");
    assert_eq!(log.sender(addr("10.0.0.1:40000"), peer, proc_root), Some(7));
    assert_eq!(log.sender(addr("10.0.0.9:40000"), peer, proc_root), None);
    // An IPv4-mapped flow is the IPv4 one.
    assert_eq!(
        log.sender(addr("[::ffff:10.0.0.1]:40000"), peer, proc_root),
        Some(7)
    );
}

#[test]
fn the_newest_sender_of_a_port_wins_and_an_old_one_is_forgotten() {
    let mut log = empty_log();
    let proc_root = Path::new("/nonexistent");
    let (local, peer) = (addr("127.0.0.1:40000"), addr("127.0.0.1:53"));
    let long_ago = Instant::now()
        .checked_sub(MEMORY + Duration::from_secs(1))
        .expect("an instant that long ago");
    log.note(
        7,
        route("0.0.0.0:40000", "127.0.0.1:53"),
        1,
        long_ago,
        proc_root,
    );
    assert_eq!(log.sender(local, peer, proc_root), None, "past MEMORY");
    log.note(
        8,
        route("0.0.0.0:40000", "127.0.0.1:53"),
        3,
        Instant::now(),
        proc_root,
    );
    assert_eq!(log.sender(local, peer, proc_root), Some(8));
    // Another CPU's ring, read later, with an older send on the same port: not taken.
    let older = route("0.0.0.0:40000", "127.0.0.1:53");
    log.note(9, older, 2, Instant::now(), proc_root);
    assert_eq!(log.sender(local, peer, proc_root), Some(8));
}

#[test]
fn the_newest_name_wins_whatever_order_the_rings_are_read_in_and_names_are_bounded() {
    let mut log = empty_log();
    let proc_root = Path::new("/nonexistent");
    let comm = |text: &str| Comm::from_bytes(text.as_bytes()).expect("comm");
    // A pyenv shim: bash execs python3 (time 20), read from the first CPU's ring
    // before bash's own exec (time 10) from the second's.
    name(
        &mut log.names,
        10,
        Named {
            comm: comm("python3"),
            time: 20,
        },
    );
    name(
        &mut log.names,
        10,
        Named {
            comm: comm("bash"),
            time: 10,
        },
    );
    assert_eq!(log.name(10, proc_root).as_deref(), Some("python3"));
    assert_eq!(log.name(11, proc_root), None);
    // A name is cleaned as every process name is.
    name(
        &mut log.names,
        12,
        Named {
            comm: comm("a\tb"),
            time: 1,
        },
    );
    assert_eq!(log.name(12, proc_root).as_deref(), Some("a?b"));
    for pid in 0..(3 * GENERATION as u32) {
        name(
            &mut log.names,
            1000 + pid,
            Named {
                comm: comm("x"),
                time: 1,
            },
        );
    }
    let kept = log.names.len();
    assert!(kept <= 2 * GENERATION, "{kept}");
}

/// Runs `code` in a child `python3`, which exits before this returns; its pid and
/// what it printed.
fn run_python(code: &str) -> (Pid, String) {
    let output = Command::new("python3")
        .args(["-S", "-c", code])
        .output()
        .expect("python3");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let pid = text
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .expect("the child prints its pid first");
    (pid, text)
}

/// The log opened for real (root only), enabled.
fn real_log() -> Option<UdpSenderLog> {
    if !crate::testing::root_or_skip("reading the route-lookup tracepoints needs root") {
        return None;
    }
    Some(UdpSenderLog::acquire(&SystemPaths::default()).expect("the sender log opens as root"))
}

#[test]
fn a_process_that_sent_and_exited_is_named_with_its_port_over_ipv4_and_ipv6() {
    let Some(mut log) = real_log() else {
        return;
    };
    let proc_root = Path::new("/proc");
    for (family, host) in [("AF_INET", "127.0.0.1"), ("AF_INET6", "::1")] {
        // A receiver that stays, so the datagrams are delivered (no ICMP error).
        let code = format!(
            "import os, socket\n\
             r = socket.socket(socket.{family}, socket.SOCK_DGRAM); r.bind(('{host}', 0))\n\
             s = socket.socket(socket.{family}, socket.SOCK_DGRAM)\n\
             for _ in range(3): s.sendto(b'x' * 100, r.getsockname()[:2])\n\
             c = socket.socket(socket.{family}, socket.SOCK_DGRAM); c.connect(r.getsockname()[:2])\n\
             c.send(b'y')\n\
             print(os.getpid(), s.getsockname()[1], c.getsockname()[1], r.getsockname()[1])\n"
        );
        let (pid, text) = run_python(&code);
        let ports: Vec<u16> = text
            .split_whitespace()
            .skip(1)
            .filter_map(|w| w.parse().ok())
            .collect();
        let [unconnected, connected, receiver] = ports[..] else {
            panic!("child printed {text:?}");
        };
        let ip: IpAddr = host.parse().expect("ip");
        let peer = SocketAddr::new(ip, receiver);
        // The child has exited and been reaped: only the log can tell.
        assert_eq!(
            log.sender(SocketAddr::new(ip, unconnected), peer, proc_root),
            Some(pid),
            "{family} sendto() from port {unconnected}"
        );
        assert_eq!(
            log.sender(SocketAddr::new(ip, connected), peer, proc_root),
            Some(pid),
            "{family} send() on a connect()ed socket, port {connected}"
        );
        assert_eq!(
            log.name(pid, proc_root).as_deref(),
            Some("python3"),
            "{family}"
        );
    }
    assert_eq!(log.lost, 0);
    log.release();
}

#[test]
fn a_forked_child_that_sends_carries_its_parents_name() {
    let Some(mut log) = real_log() else {
        return;
    };
    let code = "import os, socket\n\
         r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         r.bind(('127.0.0.1', 0))\n\
         child = os.fork()\n\
         if child == 0:\n\
         \x20   s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         \x20   s.sendto(b'z', r.getsockname())\n\
         \x20   os.write(1, b'%d %d\\n' % (os.getpid(), s.getsockname()[1]))\n\
         \x20   os._exit(0)\n\
         os.waitpid(child, 0)\n\
         print(r.getsockname()[1])\n";
    let (child, text) = run_python(code);
    let words: Vec<u16> = text
        .split_whitespace()
        .skip(1)
        .filter_map(|w| w.parse().ok())
        .collect();
    let [port, receiver] = words[..] else {
        panic!("printed {text:?}");
    };
    let local = SocketAddr::new([127, 0, 0, 1].into(), port);
    let peer = SocketAddr::new([127, 0, 0, 1].into(), receiver);
    assert_eq!(log.sender(local, peer, Path::new("/proc")), Some(child));
    assert_eq!(
        log.name(child, Path::new("/proc")).as_deref(),
        Some("python3")
    );
    log.release();
}
