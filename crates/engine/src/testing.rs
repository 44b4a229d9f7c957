//! An owner lookup with no system behind it, shared by the unit tests, the benchmarks and
//! the soak example (the `testing` feature makes it public to the last two).
//!
//! Sockets are found in a table the caller fills ([`FakeOwners::bind`]) and, failing that,
//! by a rule on the local port ([`FakeOwners::by_port`]) for the benchmarks' thousands of
//! flows. Lookups are counted, so a test or a benchmark can show they happen per flow, not
//! per packet.

use crate::owner::{OwnerLookup, Pid, ProcessInfo};
use crate::Transport;
use std::collections::HashMap;
use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

/// Owner of a local port not in the table: a pid, or `None` for nobody.
type PortRule = Box<dyn Fn(u16) -> Option<Pid> + Send>;
/// The lowest pid still running: processes below it have exited.
type AliveFrom = Box<dyn Fn() -> Pid + Send>;

/// A fake owner lookup: a socket table, an optional port rule, local addresses and the
/// details of the processes found.
#[derive(Default)]
pub struct FakeOwners {
    /// (transport, local endpoint) → pid; the remote end is ignored (unconnected socket).
    pub sockets: HashMap<(Transport, SocketAddr), Pid>,
    /// Local addresses besides loopback.
    pub local: Vec<IpAddr>,
    /// Local networks, as (address, prefix length in bits).
    pub local_networks: Vec<(IpAddr, u8)>,
    pub processes: HashMap<Pid, ProcessInfo>,
    /// (interface index, EtherType) → the process whose packet socket sends such frames.
    pub packet_senders: HashMap<(u32, u16), Pid>,
    /// UDP ports of kernel tunnels ([`OwnerLookup::udp_tunnel_port`]).
    pub tunnel_ports: Vec<u16>,
    /// Owner lookups answered so far.
    pub lookups: usize,
    by_port: Option<PortRule>,
    alive_from: Option<AliveFrom>,
}

impl FakeOwners {
    /// An empty table, with `local` addresses besides loopback.
    pub fn with_local(local: &[IpAddr]) -> Self {
        Self {
            local: local.to_vec(),
            ..Self::default()
        }
    }

    /// Every local port not in the table belongs to `rule(port)`, whose details are made
    /// up at its first lookup. Nothing is local but loopback until `local` and
    /// `local_networks` say so.
    pub fn by_port(rule: impl Fn(u16) -> Option<Pid> + Send + 'static) -> Self {
        Self {
            by_port: Some(Box::new(rule)),
            ..Self::default()
        }
    }

    /// Processes whose pid is below `alive_from()` at a [`OwnerLookup::refresh`] have
    /// exited: they are marked so, and forgotten unless accounting still references them
    /// (short-lived processes in a soak). Without it, `refresh` changes nothing.
    pub fn exiting_below(mut self, alive_from: impl Fn() -> Pid + Send + 'static) -> Self {
        self.alive_from = Some(Box::new(alive_from));
        self
    }

    /// `pid` opens a socket on `local`.
    pub fn bind(&mut self, transport: Transport, local: SocketAddr, pid: Pid) {
        self.sockets.insert((transport, local), pid);
        self.processes.insert(pid, details(pid));
    }

    /// The process exits: its sockets vanish, its details stay (marked exited).
    pub fn exit(&mut self, pid: Pid) {
        self.sockets.retain(|_, owner| *owner != pid);
        if let Some(info) = self.processes.get_mut(&pid) {
            info.exited = true;
        }
    }
}

/// The made-up details of process `pid`: one allocation per string, as the soak example's
/// allocation count expects (`format!` would reallocate the short name).
fn details(pid: Pid) -> ProcessInfo {
    let mut name = String::with_capacity(16);
    let _ = write!(name, "proc{pid}");
    ProcessInfo {
        pid,
        name,
        cmdline: format!("proc{pid} --flag"),
        uid: 1000,
        user: "alice".into(),
        app_id: None,
        exited: false,
        details_unavailable: false,
    }
}

/// Whether `ip` is inside `network`/`prefix` (both of the same family).
fn in_network(ip: IpAddr, (network, prefix): (IpAddr, u8)) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

impl OwnerLookup for FakeOwners {
    fn udp_tunnel_port(&self, port: u16) -> bool {
        self.tunnel_ports.contains(&port)
    }

    fn owner(&mut self, transport: Transport, local: SocketAddr, _: SocketAddr) -> Option<Pid> {
        self.lookups += 1;
        if let Some(&pid) = self.sockets.get(&(transport, local)) {
            return Some(pid);
        }
        let pid = (self.by_port.as_ref()?)(local.port())?;
        self.processes.entry(pid).or_insert_with(|| details(pid));
        Some(pid)
    }

    /// The fake's log: whoever holds the socket now sent last.
    fn last_udp_sender(&mut self, local: SocketAddr, _: SocketAddr) -> Option<Pid> {
        self.sockets.get(&(Transport::Udp, local)).copied()
    }

    fn packet_owner(&mut self, ifindex: u32, ethertype: u16) -> Option<Pid> {
        self.packet_senders.get(&(ifindex, ethertype)).copied()
    }

    fn is_local(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_loopback()
            || self.local.contains(&ip)
            || self.local_networks.iter().any(|&net| in_network(ip, net))
    }

    fn process(&self, pid: Pid) -> Option<&ProcessInfo> {
        self.processes.get(&pid)
    }

    fn refresh(&mut self, referenced: &dyn Fn(Pid) -> bool) {
        let Some(alive_from) = &self.alive_from else {
            return;
        };
        let alive_from = alive_from();
        for (pid, info) in self.processes.iter_mut() {
            info.exited |= *pid < alive_from;
        }
        self.processes
            .retain(|pid, info| !info.exited || referenced(*pid));
    }
}

/// Whether a test that needs root can run. As another user it is skipped, with `why`
/// printed; under CI (`CI` set), which runs every test as root, not being root fails it
/// instead, so a root test never passes there without running.
pub fn root_or_skip(why: &str) -> bool {
    let root = rustix::process::geteuid().is_root();
    assert!(
        root || std::env::var_os("CI").is_none(),
        "{why}: CI must run this test as root"
    );
    if !root {
        eprintln!("skipped: {why}");
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn addresses_are_local_by_list_by_network_or_as_loopback() {
        let mut owners = FakeOwners::with_local(&[IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))]);
        owners
            .local_networks
            .push((Ipv4Addr::new(10, 0, 0, 0).into(), 8));
        let local = [
            "192.0.2.10",
            "10.9.8.7",
            "127.0.0.1",
            "::1",
            "::ffff:10.0.0.1",
        ];
        for ip in local {
            assert!(owners.is_local(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["192.0.2.11", "11.0.0.1", "2001:db8::10"] {
            assert!(!owners.is_local(ip.parse().unwrap()), "{ip}");
        }
        owners
            .local_networks
            .push((Ipv6Addr::UNSPECIFIED.into(), 0));
        assert!(owners.is_local("2001:db8::10".parse().unwrap()), "::/0");
    }

    #[test]
    fn the_table_comes_before_the_port_rule_and_exited_processes_are_forgotten() {
        let mut owners =
            FakeOwners::by_port(|port| port.is_multiple_of(2).then_some(100)).exiting_below(|| 101);
        let local: SocketAddr = "192.0.2.10:4000".parse().unwrap();
        let remote: SocketAddr = "198.51.100.1:443".parse().unwrap();
        owners.bind(Transport::Tcp, local, 7);
        assert_eq!(owners.owner(Transport::Tcp, local, remote), Some(7));
        assert_eq!(owners.owner(Transport::Udp, local, remote), Some(100));
        let odd = SocketAddr::new(local.ip(), 4001);
        assert_eq!(owners.owner(Transport::Udp, odd, remote), None);
        assert_eq!(owners.lookups, 3);
        owners.refresh(&|pid| pid == 7);
        assert!(owners.process(7).is_some_and(|info| info.exited));
        assert!(owners.process(100).is_none(), "exited and not referenced");
    }
}
