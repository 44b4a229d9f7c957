//! Engine snapshots → the D-Bus payload types of `sockeye-protocol` (D-Bus has no null and
//! no socket address: `None` becomes `""`, addresses become `ip:port` text).

use sockeye_engine::{
    ConnectionStats, HostStats, InterfaceStats, ProcessStats, Snapshot, UnattributedStats,
};
use sockeye_protocol::{Connection, Host, Interface, Process, Unattributed};
use std::collections::HashMap;

/// The libgtop netstats shape: pid → (bytes sent, bytes received).
pub fn stats(snapshot: &Snapshot) -> HashMap<u32, (u64, u64)> {
    snapshot
        .processes
        .iter()
        .map(|p| (p.pid, (p.sent_bytes, p.received_bytes)))
        .collect()
}

/// A process without its command line (an `Updated` row: the line travels apart, once;
/// `GetProcesses` adds the lines that fit).
pub fn row(p: &ProcessStats) -> Process {
    Process {
        pid: p.pid,
        name: p.name.clone(),
        cmdline: String::new(),
        uid: p.uid,
        user: p.user.clone(),
        app_id: p.app_id.clone().unwrap_or_default(),
        exited: p.exited,
        details_unavailable: p.details_unavailable,
        sent_bytes: p.sent_bytes,
        received_bytes: p.received_bytes,
        sent_packets: p.sent_packets,
        received_packets: p.received_packets,
        sent_rate: p.sent_rate,
        received_rate: p.received_rate,
        // D-Bus has no null: the flag says whether the two counters mean anything.
        socket_counters: p.socket_sent_bytes.is_some() && p.socket_received_bytes.is_some(),
        socket_sent_bytes: p.socket_sent_bytes.unwrap_or(0),
        socket_received_bytes: p.socket_received_bytes.unwrap_or(0),
    }
}

pub fn unattributed(u: &UnattributedStats) -> Unattributed {
    Unattributed {
        protocol: u.protocol.name().to_owned(),
        sent_bytes: u.sent_bytes,
        received_bytes: u.received_bytes,
    }
}

pub fn interface(i: &InterfaceStats) -> Interface {
    Interface {
        name: i.name.clone(),
        sent_bytes: i.sent_bytes,
        received_bytes: i.received_bytes,
        dropped: i.dropped,
    }
}

pub fn connection(c: &ConnectionStats) -> Connection {
    Connection {
        protocol: c.protocol.name().to_owned(),
        local: c.local.to_string(),
        remote: c.remote.to_string(),
        sent_bytes: c.sent_bytes,
        received_bytes: c.received_bytes,
        sent_rate: c.sent_rate,
        received_rate: c.received_rate,
        remote_name: c.remote_name.clone().unwrap_or_default(),
        service: c.service.clone().unwrap_or_default(),
    }
}

pub fn host(h: &HostStats) -> Host {
    Host {
        name: h.name.clone().unwrap_or_default(),
        addresses: h.addresses.iter().map(ToString::to_string).collect(),
        sent_bytes: h.sent_bytes,
        received_bytes: h.received_bytes,
        sent_rate: h.sent_rate,
        received_rate: h.received_rate,
        pids: h.pids.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockeye_engine::Transport;
    use std::net::SocketAddr;

    #[test]
    fn missing_app_id_becomes_an_empty_string() {
        let p = ProcessStats {
            pid: 7,
            app_id: None,
            ..Default::default()
        };
        assert_eq!(row(&p).app_id, "");
    }

    #[test]
    fn ipv6_connection_addresses_are_bracketed() {
        let local: SocketAddr = "[::1]:80".parse().unwrap();
        let remote: SocketAddr = "[::1]:4242".parse().unwrap();
        let c = ConnectionStats {
            protocol: Transport::Tcp,
            local,
            remote,
            sent_bytes: 1,
            received_bytes: 2,
            sent_rate: 0.0,
            received_rate: 0.0,
            remote_name: None,
            service: Some("http".into()),
        };
        let converted = connection(&c);
        assert_eq!(converted.local, "[::1]:80");
        assert_eq!(converted.protocol, "tcp");
        assert_eq!(converted.remote_name, "");
        assert_eq!(converted.service, "http");
    }

    #[test]
    fn a_host_without_a_name_has_an_empty_one_and_plain_addresses() {
        let h = HostStats {
            name: None,
            addresses: vec!["2001:db8::1".parse().unwrap(), "10.0.0.1".parse().unwrap()],
            sent_bytes: 1,
            received_bytes: 2,
            sent_rate: 3.0,
            received_rate: 4.0,
            pids: vec![5, 9],
        };
        let converted = host(&h);
        assert_eq!(converted.name, "");
        assert_eq!(converted.addresses, vec!["2001:db8::1", "10.0.0.1"]);
        assert_eq!(converted.pids, vec![5, 9]);
        let named = host(&HostStats {
            name: Some("www.sockeye.test".into()),
            ..h
        });
        assert_eq!(named.name, "www.sockeye.test");
    }

    #[test]
    fn stats_map_pid_to_sent_and_received() {
        let snapshot = Snapshot {
            processes: vec![ProcessStats {
                pid: 42,
                sent_bytes: 10,
                received_bytes: 20,
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(stats(&snapshot).get(&42), Some(&(10, 20)));
    }
}
