//! Scenario building blocks: a TCP or UDP exchange between peers (in this namespace or a
//! test namespace), measured against the wire.

use crate::support::*;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Where a peer runs and which address it uses.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    /// Network namespace (`None`: this one).
    pub netns: Option<&'a str>,
    /// Address to bind (server) or connect to (client).
    pub host: &'a str,
}

pub fn here(host: &str) -> Side<'_> {
    Side { netns: None, host }
}

/// The server's socket, by address and port: first in the owners, it keeps a client in
/// another namespace that got the same port number (known by port alone) from owning it.
fn server_endpoint(side: Side, port: u16) -> Owns {
    endpoint_is(SocketAddr::new(
        side.host.parse().expect("test address"),
        port,
    ))
}

/// A TCP exchange: `clients` client processes each make `connections` connections,
/// sending `send` bytes and receiving `reply` bytes on each.
pub struct TcpExchange<'a> {
    pub name: &'a str,
    pub interface: &'a str,
    pub server: Side<'a>,
    pub client: Side<'a>,
    pub send: usize,
    pub reply: usize,
    pub clients: usize,
    pub connections: usize,
}

/// What a TCP exchange gave.
pub struct TcpOutcome {
    pub measurement: Measurement,
    pub snapshot: sockeye_engine::Snapshot,
    /// Wire bytes (sent, received) per pid.
    pub truth: HashMap<u32, (u64, u64)>,
    pub client_pids: Vec<u32>,
    /// Longest lifetime of a client process, from spawn to exit.
    pub longest_client: Duration,
}

/// Runs the exchange under `engine`.
pub fn run_tcp(engine: &Engine, x: &TcpExchange) -> TcpOutcome {
    let total = x.clients * x.connections;
    let server = Peer::start(
        x.server.netns,
        &[
            arg("tcp-server"),
            arg(x.server.host),
            arg(total),
            arg(x.reply),
        ],
    );
    let counter = WireCounter::start(x.interface, &format!("tcp port {}", server.port));
    let mut owners = vec![(server.pid, server_endpoint(x.server, server.port))];
    let mut ports = HashSet::from([server.port]);
    let mut longest = Duration::ZERO;
    let mut client_pids = Vec::new();
    for _ in 0..x.clients {
        let started = Instant::now();
        let client = Peer::start(
            x.client.netns,
            &[
                arg("tcp-client"),
                arg(x.client.host),
                arg(server.port),
                arg(x.send),
                arg(x.connections),
            ],
        )
        .finish();
        longest = longest.max(started.elapsed());
        ports.extend(client.ports.iter().copied());
        owners.push((client.pid, port_in(client.ports.clone())));
        client_pids.push(client.pid);
    }
    server.finish();
    let packets = counter.finish();
    let truth = truth(&packets, &Expectation { owners });
    let (measurement, snapshot) = measure(engine, x.name, &truth, &ports);
    TcpOutcome {
        measurement,
        snapshot,
        truth,
        client_pids,
        longest_client: longest,
    }
}

/// A UDP exchange: one client sends `count` datagrams of `size` bytes, each answered.
pub struct UdpExchange<'a> {
    pub name: &'a str,
    pub interface: &'a str,
    pub server: Side<'a>,
    pub client: Side<'a>,
    pub count: usize,
    pub size: usize,
    /// The client calls connect(); otherwise it uses sendto() on an unconnected socket.
    pub connected: bool,
}

pub fn run_udp(engine: &Engine, x: &UdpExchange) -> (Measurement, sockeye_engine::Snapshot) {
    let server = Peer::start(
        x.server.netns,
        &[arg("udp-server"), arg(x.server.host), arg(x.count)],
    );
    let counter = WireCounter::start(x.interface, &format!("udp port {}", server.port));
    let client = Peer::start(
        x.client.netns,
        &[
            arg("udp-client"),
            arg(x.client.host),
            arg(server.port),
            arg(x.count),
            arg(x.size),
            arg(u8::from(x.connected)),
        ],
    )
    .finish();
    let server = server.finish();
    let packets = counter.finish();
    let owners = vec![
        (server.pid, server_endpoint(x.server, server.port)),
        (client.pid, port_in(client.ports.clone())),
    ];
    let truth = truth(&packets, &Expectation { owners });
    measure(
        engine,
        x.name,
        &truth,
        &HashSet::from([server.port, client.port]),
    )
}

/// 300 short TCP connections over loopback from one client process, 1 kB each way.
pub fn three_hundred_loopback_connections(engine: &Engine, name: &str) -> TcpOutcome {
    run_tcp(
        engine,
        &TcpExchange {
            name,
            interface: "lo",
            server: here("127.0.0.1"),
            client: here("127.0.0.1"),
            send: 1_000,
            reply: 1_000,
            clients: 1,
            connections: 300,
        },
    )
}
