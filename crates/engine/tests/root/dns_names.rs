//! Host names from real DNS answers: dnsmasq in a test namespace serves a zone under
//! `sockeye.test` (A, AAAA, a CNAME chain, 2-second TTLs, 10,000 synthesised names); a
//! client in this namespace resolves through it directly and through a second dnsmasq on
//! a loopback address acting as the stub resolver, then connects to the address it got.
//! Its connection and the hosts list carry the name it looked up; after the TTL a
//! re-mapped name comes from the new answer and the old address loses it.

use crate::support::*;
use sockeye_engine::names::{ENTRY_BOUND_BYTES, MIN_KEEP};
use sockeye_engine::{ConnectionStats, HostStats};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CLIENT: &str = include_str!("dns_client.py");
/// The stub resolver's address (on `lo`).
const STUB: &str = "127.231.0.77";

/// A namespace `hsdns<pid>` with a veth pair to this one: host end `.1`, namespace ends
/// `.2` and `.3` (and `fd00:e7:<n>::1/2`), in a /24 of 10.231.0.0/17 chosen by pid.
struct DnsNetns {
    name: String,
    host_if: String,
    net: u32,
    dir: tempfile::TempDir,
}

impl DnsNetns {
    fn create() -> DnsNetns {
        let pid = std::process::id();
        let netns = DnsNetns {
            name: format!("hsdns{pid}"),
            host_if: format!("hsd{}", pid % 1_000_000),
            net: pid % 128,
            dir: tempfile::Builder::new()
                .prefix("hs-dns-")
                .tempdir()
                .expect("temp dir"),
        };
        let ns_if = format!("hsn{}", pid % 1_000_000);
        let (ns, host_if) = (netns.name.as_str(), netns.host_if.as_str());
        run(&["ip", "netns", "add", ns]);
        run(&[
            "ip", "link", "add", host_if, "type", "veth", "peer", "name", &ns_if,
        ]);
        run(&["ip", "link", "set", &ns_if, "netns", ns]);
        run(&["ip", "addr", "add", &netns.v4(1, 24), "dev", host_if]);
        run(&[
            "ip",
            "addr",
            "add",
            &netns.v6(1, 64),
            "dev",
            host_if,
            "nodad",
        ]);
        run(&["ip", "link", "set", host_if, "up"]);
        for (address, extra) in [
            (netns.v4(2, 24), None),
            (netns.v4(3, 24), None),
            (netns.v6(2, 64), Some("nodad")),
        ] {
            let mut args = vec!["ip", "-n", ns, "addr", "add", &address, "dev", &ns_if];
            args.extend(extra);
            run(&args);
        }
        run(&["ip", "-n", ns, "link", "set", &ns_if, "up"]);
        run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        netns
    }

    /// `10.231.<net>.<end>`, with `/prefix` when non-zero.
    fn v4(&self, end: u8, prefix: u8) -> String {
        let address = format!("10.231.{}.{end}", self.net);
        if prefix == 0 {
            address
        } else {
            format!("{address}/{prefix}")
        }
    }

    /// `fd00:e7:<net>::<end>`, with `/prefix` when non-zero.
    fn v6(&self, end: u8, prefix: u8) -> String {
        let address = format!("fd00:e7:{:x}::{end}", self.net);
        if prefix == 0 {
            address
        } else {
            format!("{address}/{prefix}")
        }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }
}

impl Drop for DnsNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
    }
}

/// A dnsmasq in the foreground, killed on drop.
struct Dnsmasq(Child);

impl Dnsmasq {
    /// The zone server in the namespace: `w.sockeye.test` at `w_end` (and the namespace's
    /// IPv6 address), `c` → `b` → `w` as a CNAME chain, `h-10-231-X-Y.bulk.sockeye.test`
    /// synthesised for 10.231.128.0/17; every answer with a 2-second TTL.
    fn zone(netns: &DnsNetns, w_end: u8, tag: &str) -> Dnsmasq {
        let w = format!(
            "--host-record=w.sockeye.test,{},{}",
            netns.v4(w_end, 0),
            netns.v6(2, 0)
        );
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &netns.name,
                "dnsmasq",
                "--keep-in-foreground",
            ])
            .args([
                "--no-resolv",
                "--no-hosts",
                "--port=53",
                "--bind-interfaces",
            ])
            .arg(format!("--listen-address={}", netns.v4(2, 0)))
            .args([
                "--local-ttl=2",
                "--max-ttl=2",
                "--user=root",
                "--log-queries",
            ])
            .arg(w)
            .args(["--cname=c.sockeye.test,b.sockeye.test"])
            .args(["--cname=b.sockeye.test,w.sockeye.test"])
            .args(["--synth-domain=bulk.sockeye.test,10.231.128.0/17,h-"])
            .arg(format!(
                "--pid-file={}",
                netns.path(&format!("{tag}.pid")).display()
            ))
            .arg(format!(
                "--log-facility={}",
                netns.path(&format!("{tag}.log")).display()
            ))
            .spawn()
            .expect("dnsmasq runs (Debian package dnsmasq-base)");
        let server = Dnsmasq(child);
        wait_for_answer(&netns.v4(2, 0));
        server
    }

    /// The stub resolver on [`STUB`]: no cache, every question forwarded to the zone.
    fn stub(netns: &DnsNetns) -> Dnsmasq {
        let child = Command::new("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--port=53",
            ])
            .args(["--bind-interfaces", "--cache-size=0", "--user=root"])
            .arg(format!("--listen-address={STUB}"))
            .arg(format!("--server={}", netns.v4(2, 0)))
            .arg(format!("--pid-file={}", netns.path("stub.pid").display()))
            .arg(format!(
                "--log-facility={}",
                netns.path("stub.log").display()
            ))
            .spawn()
            .expect("dnsmasq runs (Debian package dnsmasq-base)");
        let stub = Dnsmasq(child);
        wait_for_answer(STUB);
        stub
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `server` with a lookup (of a synthesised name) until it answers (10 s at most).
fn wait_for_answer(server: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = client(&["bulk", server, "1"]);
        if out.first().is_some_and(|line| line.ends_with(" 1")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "dnsmasq on {server} never answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `dns_client.py ARGS` to its end; its output lines.
fn client(args: &[&str]) -> Vec<String> {
    let mut child = Command::new(python())
        .args(["-S", "-c", CLIENT])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let lines = BufReader::new(child.stdout.take().expect("stdout"))
        .lines()
        .map_while(Result::ok)
        .collect();
    let _ = child.wait();
    lines
}

/// Resolves `name` (`qtype` 1: A, 28: AAAA) through `server`, connects to the first
/// address on `port` and sends `send` bytes; returns the client's pid and the address.
fn resolve_and_connect(
    server: &str,
    name: &str,
    qtype: u16,
    port: u16,
    send: usize,
) -> (u32, String) {
    let out = client(&[
        "resolve-connect",
        server,
        name,
        &qtype.to_string(),
        &port.to_string(),
        &send.to_string(),
    ]);
    assert_eq!(out.last().map(String::as_str), Some("done"), "{out:?}");
    let words: Vec<&str> = out[0].split_whitespace().collect();
    assert_eq!(words[0], "resolved", "{out:?}");
    (words[1].parse().expect("pid"), words[2].to_owned())
}

/// Polls the engine until `pid` has a TCP connection to `address` (5 s at most).
fn connection_to(engine: &Engine, pid: u32, address: &str, port: u16) -> ConnectionStats {
    let remote: std::net::SocketAddr = match address.contains(':') {
        true => format!("[{address}]:{port}"),
        false => format!("{address}:{port}"),
    }
    .parse()
    .expect("address");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = engine
            .capture
            .connections(pid)
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.remote == remote && c.sent_bytes > 0);
        if let Some(connection) = found {
            return connection;
        }
        assert!(
            Instant::now() < deadline,
            "pid {pid}: no connection to {remote}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// [`connection_to`], polled until it carries the name `name` (5 s at most); the last one
/// seen. The answer that names it may be read a ring block after the connection's first
/// packets (another interface: the stub answers on `lo`, the connection leaves on a veth),
/// so the connection can show up a few milliseconds before its name does.
fn connection_named(
    engine: &Engine,
    pid: u32,
    address: &str,
    port: u16,
    name: &str,
) -> ConnectionStats {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let connection = connection_to(engine, pid, address, port);
        if connection.remote_name.as_deref() == Some(name) || Instant::now() >= deadline {
            return connection;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls the engine's hosts until one satisfies `wanted` (5 s at most).
fn host_where(engine: &Engine, wanted: impl Fn(&HostStats) -> bool) -> HostStats {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let hosts = engine.capture.hosts();
        if let Some(host) = hosts.iter().find(|h| wanted(h)) {
            return host.clone();
        }
        assert!(Instant::now() < deadline, "no such host in {hosts:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn connections_and_hosts_carry_the_names_their_processes_looked_up() {
    let Some(_serial) = root_scenario("dns_names") else {
        return;
    };
    let netns = DnsNetns::create();
    let zone = Dnsmasq::zone(&netns, 2, "zone");
    let _stub = Dnsmasq::stub(&netns);
    let engine = Engine::start();
    let server = Peer::start(
        Some(&netns.name),
        &[arg("tcp-server"), arg("::"), arg(5), arg(100)],
    );

    // Directly, through the CNAME chain: the name is the one asked (c), not the chain's end.
    let (direct, address) =
        resolve_and_connect(&netns.v4(2, 0), "c.sockeye.test", 1, server.port, 20_000);
    assert_eq!(address, netns.v4(2, 0));
    let connection = connection_named(&engine, direct, &address, server.port, "c.sockeye.test");
    assert_eq!(
        connection.remote_name.as_deref(),
        Some("c.sockeye.test"),
        "{connection:?}"
    );

    // Through the stub resolver: the answer this client got came from 127.231.0.77.
    let (stubbed, address) = resolve_and_connect(STUB, "w.sockeye.test", 1, server.port, 30_000);
    assert_eq!(address, netns.v4(2, 0));
    let connection = connection_named(&engine, stubbed, &address, server.port, "w.sockeye.test");
    assert_eq!(
        connection.remote_name.as_deref(),
        Some("w.sockeye.test"),
        "{connection:?}"
    );
    // Each process keeps the name it looked up for the same address.
    let first = connection_named(&engine, direct, &address, server.port, "c.sockeye.test");
    assert_eq!(first.remote_name.as_deref(), Some("c.sockeye.test"));

    // AAAA, then a connection over IPv6.
    let (six, address) =
        resolve_and_connect(&netns.v4(2, 0), "w.sockeye.test", 28, server.port, 10_000);
    assert_eq!(address, netns.v6(2, 0));
    let connection = connection_named(&engine, six, &address, server.port, "w.sockeye.test");
    assert_eq!(
        connection.remote_name.as_deref(),
        Some("w.sockeye.test"),
        "{connection:?}"
    );
    let last_old_answer = Instant::now();

    let host = host_where(&engine, |h| {
        h.name.as_deref() == Some("w.sockeye.test") && h.pids.contains(&stubbed)
    });
    assert!(
        host.addresses
            .iter()
            .any(|a| a.to_string() == netns.v4(2, 0)),
        "{host:?}"
    );
    assert!(host.sent_bytes >= 30_000, "{host:?}");
    let host = host_where(&engine, |h| h.name.as_deref() == Some("c.sockeye.test"));
    assert!(host.pids.contains(&direct), "{host:?}");

    // The record moves to .3; after the TTL a new answer names the new address.
    drop(zone);
    let _zone = Dnsmasq::zone(&netns, 3, "zone-moved");
    let (moved, address) =
        resolve_and_connect(&netns.v4(2, 0), "w.sockeye.test", 1, server.port, 10_000);
    assert_eq!(address, netns.v4(3, 0));
    let connection = connection_named(&engine, moved, &address, server.port, "w.sockeye.test");
    assert_eq!(
        connection.remote_name.as_deref(),
        Some("w.sockeye.test"),
        "{connection:?}"
    );
    // And the old address, once its answers expired (2 s TTL, kept at least MIN_KEEP),
    // is no longer named for a process that did not look it up.
    let expired = last_old_answer + MIN_KEEP + Duration::from_millis(500);
    std::thread::sleep(expired.saturating_duration_since(Instant::now()));
    let late = Peer::start(
        None,
        &[
            arg("tcp-client"),
            arg(netns.v4(2, 0)),
            arg(server.port),
            arg(5_000),
            arg(1),
        ],
    )
    .finish();
    let connection = connection_to(&engine, late.pid, &netns.v4(2, 0), server.port);
    assert_eq!(connection.remote_name, None, "{connection:?}");
    eprintln!("SCENARIO dns_names: direct, stub, AAAA, moved and expired names as expected");
}

/// Answers a second the bulk client asks for: below the engine's decode budget (1,000 a
/// second), as a busy desktop's lookups are; a flood beyond it is counted, not decoded.
const BULK_RATE: &str = "800";

#[test]
fn ten_thousand_names_keep_memory_within_the_cache_bound() {
    let Some(_serial) = root_scenario("dns_bulk_names") else {
        return;
    };
    let netns = DnsNetns::create();
    let _zone = Dnsmasq::zone(&netns, 2, "zone");
    // Only the veth: the machine's other traffic must not grow the heap meanwhile.
    let (updates, snapshots) = std::sync::mpsc::channel();
    let options = sockeye_engine::CaptureOptions {
        interval: Duration::from_millis(100),
        interfaces: vec![netns.host_if.clone()],
    };
    let capture = sockeye_engine::Capture::start(options, move |update| {
        let _ = updates.send(update);
    })
    .expect("engine starts as root");
    let next = || {
        snapshots
            .recv_timeout(Duration::from_secs(3))
            .expect("a snapshot within 3 s")
            .expect("capture runs")
            .totals
    };
    let before = next();
    let heap_before = crate::heap::live();
    let out = client(&["bulk", &netns.v4(2, 0), "10000", BULK_RATE]);
    assert!(
        out.first().is_some_and(|l| l.ends_with(" 10000")),
        "{out:?}"
    );
    let seen = |t: &sockeye_engine::CaptureTotals| {
        (t.dns_decoded + t.dns_skipped) - (before.dns_decoded + before.dns_skipped)
    };
    // The latest snapshot, the queued ones drained (they hold heap too).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut totals = next();
    loop {
        while let Ok(Ok(snapshot)) = snapshots.try_recv() {
            totals = snapshot.totals;
        }
        if seen(&totals) >= 10_000 || Instant::now() >= deadline {
            break;
        }
        totals = next();
    }
    let decoded = totals.dns_decoded - before.dns_decoded;
    assert!(seen(&totals) >= 10_000, "{} answers seen", seen(&totals));
    // Paced below the budget: (nearly) every answer is decoded and learnt.
    assert!(decoded >= 9_000, "only {decoded} of 10000 answers decoded");
    // Each decoded answer adds at most one entry per table (per address, per asker),
    // each within ENTRY_BOUND_BYTES, and its query (a socket of its own) one entry of
    // the UDP sender log; 1 MiB for the rest of the engine's bookkeeping.
    let per_answer = 2 * ENTRY_BOUND_BYTES + sockeye_engine::attribution::SENDER_ENTRY_BOUND_BYTES;
    let bound = decoded as usize * per_answer + (1 << 20);
    let grown = (crate::heap::live() - heap_before).max(0) as usize;
    eprintln!(
        "SCENARIO dns_bulk_names: {} answers, {decoded} decoded, heap +{grown} B, bound {bound} B",
        seen(&totals)
    );
    assert!(grown <= bound, "heap grew {grown} B, bound {bound} B");
    drop(capture);
}
