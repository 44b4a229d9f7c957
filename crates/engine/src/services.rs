//! Service names of well-known ports (`443/tcp` → `https`), from `/etc/services` read once,
//! with a built-in table of the common ones when that file is missing or unreadable.
//!
//! Why: a connection row reads better as "github.com (https)" than with a bare port
//! (issue 16). The file is untrusted input like any other: at most [`MAX_FILE_BYTES`] are
//! read and [`MAX_ENTRIES`] kept, names are kept only when short and printable, and a line
//! that does not parse is skipped.

use crate::Transport;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

/// Most bytes of the services file read (Debian's is some 13 KB, IANA's full list 1.6 MB).
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;
/// Most (port, protocol) names kept.
pub const MAX_ENTRIES: usize = 16_384;
/// Longest service name kept, in bytes.
const MAX_NAME: usize = 32;

/// The common services, for a system with no `/etc/services` (a minimal container).
const BUILT_IN: &[(u16, &str, &str)] = &[
    (20, "tcp", "ftp-data"),
    (21, "tcp", "ftp"),
    (22, "tcp", "ssh"),
    (23, "tcp", "telnet"),
    (25, "tcp", "smtp"),
    (53, "tcp", "domain"),
    (53, "udp", "domain"),
    (67, "udp", "bootps"),
    (68, "udp", "bootpc"),
    (69, "udp", "tftp"),
    (80, "tcp", "http"),
    (110, "tcp", "pop3"),
    (119, "tcp", "nntp"),
    (123, "udp", "ntp"),
    (137, "udp", "netbios-ns"),
    (138, "udp", "netbios-dgm"),
    (139, "tcp", "netbios-ssn"),
    (143, "tcp", "imap2"),
    (161, "udp", "snmp"),
    (389, "tcp", "ldap"),
    (443, "tcp", "https"),
    (443, "udp", "https"),
    (445, "tcp", "microsoft-ds"),
    (465, "tcp", "submissions"),
    (514, "udp", "syslog"),
    (546, "udp", "dhcpv6-client"),
    (547, "udp", "dhcpv6-server"),
    (587, "tcp", "submission"),
    (631, "tcp", "ipp"),
    (636, "tcp", "ldaps"),
    (853, "tcp", "domain-s"),
    (993, "tcp", "imaps"),
    (995, "tcp", "pop3s"),
    (1194, "udp", "openvpn"),
    (1883, "tcp", "mqtt"),
    (3306, "tcp", "mysql"),
    (3389, "tcp", "ms-wbt-server"),
    (5222, "tcp", "xmpp-client"),
    (5353, "udp", "mdns"),
    (5355, "udp", "llmnr"),
    (5432, "tcp", "postgresql"),
    (5900, "tcp", "rfb"),
    (6379, "tcp", "redis"),
    (6443, "tcp", "sun-sr-https"),
    (8080, "tcp", "http-alt"),
    (9418, "tcp", "git"),
    (51820, "udp", "wireguard"),
];

/// Port and protocol → service name.
#[derive(Debug, Clone, Default)]
pub struct Services {
    names: HashMap<(u16, Transport), Box<str>>,
}

impl Services {
    /// Reads `path` (at most [`MAX_FILE_BYTES`]); the built-in table when it cannot be read
    /// or names nothing.
    pub fn load(path: &Path) -> Self {
        let mut text = Vec::new();
        let read = std::fs::File::open(path)
            .and_then(|file| file.take(MAX_FILE_BYTES).read_to_end(&mut text));
        let parsed = match read {
            Ok(_) => Self::parse(&String::from_utf8_lossy(&text)),
            Err(_) => Self::default(),
        };
        if parsed.names.is_empty() {
            Self::built_in()
        } else {
            parsed
        }
    }

    /// The built-in table.
    pub fn built_in() -> Self {
        let mut services = Self::default();
        for (port, protocol, name) in BUILT_IN {
            services.add(*port, protocol, name);
        }
        services
    }

    /// Parses the `services(5)` format: `name port/protocol [aliases…] [# comment]`. The
    /// first name given for a port wins, as `getservbyport` returns it.
    pub fn parse(text: &str) -> Self {
        let mut services = Self::default();
        for line in text.lines() {
            if services.names.len() >= MAX_ENTRIES {
                break;
            }
            let line = line.split('#').next().unwrap_or_default();
            let mut fields = line.split_whitespace();
            let (Some(name), Some(port_protocol)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Some((port, protocol)) = port_protocol.split_once('/') else {
                continue;
            };
            if let Ok(port) = port.parse::<u16>() {
                services.add(port, protocol, name);
            }
        }
        services
    }

    fn add(&mut self, port: u16, protocol: &str, name: &str) {
        let transport = match protocol {
            "tcp" => Transport::Tcp,
            "udp" => Transport::Udp,
            _ => return,
        };
        let printable = name.bytes().all(|b| b.is_ascii_graphic());
        if name.is_empty() || name.len() > MAX_NAME || !printable {
            return;
        }
        self.names
            .entry((port, transport))
            .or_insert_with(|| name.into());
    }

    /// The service of `port` over `transport`, when it has a name.
    pub fn name(&self, transport: Transport, port: u16) -> Option<&str> {
        self.names.get(&(port, transport)).map(|name| &**name)
    }

    /// The service of a connection: its remote port's when that has a name (a client's
    /// connection to a server), else its local port's (a server's connection from a
    /// client's ephemeral port).
    pub fn of_connection(&self, transport: Transport, local: u16, remote: u16) -> Option<&str> {
        self.name(transport, remote)
            .or_else(|| self.name(transport, local))
    }
}

/// The system's table, read from `/etc/services` on first use.
pub fn system() -> &'static Services {
    static SYSTEM: OnceLock<Services> = OnceLock::new();
    SYSTEM.get_or_init(|| Services::load(Path::new("/etc/services")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_file_lines_give_names_by_port_and_protocol() {
        let services = Services::parse(
            "# comment\nssh\t\t22/tcp\t\t\t# SSH Remote Login Protocol\n\
             domain\t\t53/tcp\ndomain\t\t53/udp\nhttps 443/tcp www-s\nhttps2 443/tcp\n",
        );
        assert_eq!(services.name(Transport::Tcp, 22), Some("ssh"));
        assert_eq!(services.name(Transport::Udp, 53), Some("domain"));
        assert_eq!(services.name(Transport::Udp, 22), None);
        // The first name of a port wins.
        assert_eq!(services.name(Transport::Tcp, 443), Some("https"));
    }

    #[test]
    fn hostile_lines_are_skipped_without_panicking() {
        let long = "x".repeat(100);
        let text = format!(
            "{long} 1/tcp\nbad 70000/tcp\nnoport\nname /tcp\nname 9/\nname 10/sctp\n\
             caf\u{e9} 11/tcp\nok 12/udp\n\0\0\0 13/tcp\n"
        );
        let services = Services::parse(&text);
        assert_eq!(services.name(Transport::Udp, 12), Some("ok"));
        for port in [1, 9, 10, 11, 13] {
            assert_eq!(services.name(Transport::Tcp, port), None, "port {port}");
        }
    }

    #[test]
    fn a_missing_file_gives_the_built_in_table() {
        let dir = tempfile::tempdir().unwrap();
        let services = Services::load(&dir.path().join("no-such-file"));
        assert_eq!(services.name(Transport::Tcp, 443), Some("https"));
        assert_eq!(services.name(Transport::Tcp, 993), Some("imaps"));
    }

    #[test]
    fn at_most_max_entries_are_kept() {
        let text: String = (0..=u16::MAX)
            .map(|port| format!("s{port} {port}/tcp\n"))
            .collect();
        assert_eq!(Services::parse(&text).names.len(), MAX_ENTRIES);
    }

    #[test]
    fn a_connection_is_named_by_its_remote_port_else_its_local_one() {
        let services = Services::built_in();
        assert_eq!(
            services.of_connection(Transport::Tcp, 40000, 443),
            Some("https")
        );
        assert_eq!(
            services.of_connection(Transport::Tcp, 22, 40000),
            Some("ssh")
        );
        assert_eq!(services.of_connection(Transport::Tcp, 40000, 40001), None);
    }
}
