//! A process's connections grouped by the host at their other end (its DNS name, else its
//! address), for the details pane: the busiest host first, and within a host the busiest
//! connection first.

use sockeye_protocol::Connection;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// The connections to one host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostGroup {
    /// The host's DNS name; empty when the helper saw none.
    pub name: String,
    /// The remote address of the group's first connection, without its port.
    pub address: String,
    pub received: u64,
    pub sent: u64,
    /// Bytes per second.
    pub download_rate: f64,
    pub upload_rate: f64,
    pub connections: Vec<Connection>,
}

impl HostGroup {
    /// The name to show: from DNS, else from `looked_up` (a reverse lookup of the address),
    /// else the address.
    pub fn title(&self, looked_up: Option<&str>) -> String {
        if !self.name.is_empty() {
            self.name.clone()
        } else {
            looked_up.unwrap_or(&self.address).to_owned()
        }
    }
}

/// The address part of a connection's remote end (`192.0.2.1:443`, `[2001:db8::1]:443`);
/// the text itself when it has no port.
pub fn remote_address(remote: &str) -> String {
    match remote.parse::<SocketAddr>() {
        Ok(addr) => addr.ip().to_string(),
        Err(_) => remote.to_owned(),
    }
}

/// The remote end's address, if the helper's text is an `ip:port`.
pub fn remote_ip(remote: &str) -> Option<IpAddr> {
    remote.parse::<SocketAddr>().ok().map(|a| a.ip())
}

/// The connection's service name (`https`), else its remote port, else nothing.
pub fn service_label(connection: &Connection) -> String {
    if !connection.service.is_empty() {
        return connection.service.clone();
    }
    match connection.remote.parse::<SocketAddr>() {
        Ok(addr) => addr.port().to_string(),
        Err(_) => String::new(),
    }
}

fn bytes(c: &Connection) -> u64 {
    c.sent_bytes.saturating_add(c.received_bytes)
}

fn rate(c: &Connection) -> f64 {
    let r = c.sent_rate + c.received_rate;
    if r.is_finite() {
        r
    } else {
        0.0
    }
}

/// Groups `connections` by host: by DNS name when the helper gave one, else by remote
/// address. Hosts and their connections come busiest first (bytes each way, then rate),
/// ties by name, so the order holds from one update to the next.
pub fn group_by_host(connections: Vec<Connection>) -> Vec<HostGroup> {
    let mut groups: Vec<HostGroup> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for c in connections {
        let address = remote_address(&c.remote);
        let key = if c.remote_name.is_empty() {
            format!("address:{address}")
        } else {
            format!("name:{}", c.remote_name)
        };
        let i = *index.entry(key).or_insert_with(|| {
            groups.push(HostGroup {
                name: c.remote_name.clone(),
                address,
                received: 0,
                sent: 0,
                download_rate: 0.0,
                upload_rate: 0.0,
                connections: Vec::new(),
            });
            groups.len() - 1
        });
        let group = &mut groups[i];
        group.received = group.received.saturating_add(c.received_bytes);
        group.sent = group.sent.saturating_add(c.sent_bytes);
        if c.received_rate.is_finite() {
            group.download_rate += c.received_rate.max(0.0);
        }
        if c.sent_rate.is_finite() {
            group.upload_rate += c.sent_rate.max(0.0);
        }
        group.connections.push(c);
    }
    for group in &mut groups {
        group.connections.sort_by(|a, b| {
            bytes(b)
                .cmp(&bytes(a))
                .then_with(|| rate(b).total_cmp(&rate(a)))
                .then_with(|| a.remote.cmp(&b.remote))
                .then_with(|| a.local.cmp(&b.local))
        });
    }
    groups.sort_by(|a, b| {
        (b.received.saturating_add(b.sent))
            .cmp(&a.received.saturating_add(a.sent))
            .then_with(|| {
                (b.download_rate + b.upload_rate).total_cmp(&(a.download_rate + a.upload_rate))
            })
            .then_with(|| order_names(a, b))
    });
    groups
}

fn order_names(a: &HostGroup, b: &HostGroup) -> Ordering {
    a.name.cmp(&b.name).then_with(|| a.address.cmp(&b.address))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(remote: &str, name: &str, service: &str, received: u64) -> Connection {
        Connection {
            protocol: "tcp".into(),
            local: "192.0.2.100:40000".into(),
            remote: remote.into(),
            received_bytes: received,
            sent_bytes: received / 10,
            received_rate: received as f64 / 100.0,
            remote_name: name.into(),
            service: service.into(),
            ..Default::default()
        }
    }

    #[test]
    fn connections_to_one_name_form_one_group_whatever_their_address() {
        let groups = group_by_host(vec![
            connection("192.0.2.1:443", "github.com", "https", 100),
            connection("192.0.2.9:53", "", "domain", 5),
            connection("192.0.2.2:443", "github.com", "https", 300),
            connection("[2001:db8::7]:6881", "", "", 1000),
            connection("[2001:db8::7]:6882", "", "", 10),
        ]);
        let titles: Vec<String> = groups.iter().map(|g| g.title(None)).collect();
        assert_eq!(
            titles,
            ["2001:db8::7", "github.com", "192.0.2.9"],
            "busiest host first"
        );
        let github = &groups[1];
        assert_eq!(github.received, 400);
        assert_eq!(github.sent, 40);
        assert_eq!(
            github
                .connections
                .iter()
                .map(|c| c.remote.as_str())
                .collect::<Vec<_>>(),
            ["192.0.2.2:443", "192.0.2.1:443"],
            "busiest connection first"
        );
        assert_eq!(groups[0].connections.len(), 2, "one address, two ports");
    }

    #[test]
    fn a_looked_up_name_titles_an_unnamed_group_but_never_a_named_one() {
        let groups = group_by_host(vec![
            connection("198.51.100.4:22", "", "ssh", 10),
            connection("198.51.100.5:443", "matrix.org", "https", 5),
        ]);
        assert_eq!(
            groups[0].title(Some("host.example.net")),
            "host.example.net"
        );
        assert_eq!(groups[1].title(Some("other.example.net")), "matrix.org");
    }

    #[test]
    fn the_service_shows_else_the_port() {
        assert_eq!(
            service_label(&connection("192.0.2.1:443", "", "https", 1)),
            "https"
        );
        assert_eq!(
            service_label(&connection("[2001:db8::1]:51413", "", "", 1)),
            "51413"
        );
        assert_eq!(service_label(&connection("garbage", "", "", 1)), "");
        assert_eq!(remote_address("[2001:db8::1]:80"), "2001:db8::1");
        assert_eq!(remote_address("not an address"), "not an address");
    }

    #[test]
    fn no_connections_make_no_groups() {
        assert!(group_by_host(Vec::new()).is_empty());
    }
}
