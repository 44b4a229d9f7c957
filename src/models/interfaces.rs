//! What kind of network interface a name is (from `/sys/class/net`) and which addresses
//! it has (from `getifaddrs`).

use gettextrs::gettext;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

/// The kind of an interface, as shown under its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InterfaceKind {
    Ethernet,
    Wifi,
    Tunnel,
    Virtual,
    Loopback,
    Other,
}

impl InterfaceKind {
    /// A short label for the user.
    pub fn label(self) -> String {
        match self {
            InterfaceKind::Ethernet => gettext("Ethernet"),
            InterfaceKind::Wifi => gettext("Wi-Fi"),
            InterfaceKind::Tunnel => gettext("Tunnel"),
            InterfaceKind::Virtual => gettext("Virtual"),
            InterfaceKind::Loopback => gettext("Loopback"),
            InterfaceKind::Other => gettext("Other"),
        }
    }

    /// A symbolic icon for the kind.
    pub fn icon_name(self) -> &'static str {
        match self {
            InterfaceKind::Ethernet => "network-wired-symbolic",
            InterfaceKind::Wifi => "network-wireless-symbolic",
            InterfaceKind::Tunnel => "network-vpn-symbolic",
            InterfaceKind::Virtual => "network-workgroup-symbolic",
            InterfaceKind::Loopback => "computer-symbolic",
            InterfaceKind::Other => "network-wired-symbolic",
        }
    }

    /// Whether its traffic is the machine's own traffic to the outside world (physical
    /// links), as opposed to loopback, bridges or tunnels that would count it twice.
    pub fn is_physical(self) -> bool {
        matches!(
            self,
            InterfaceKind::Ethernet | InterfaceKind::Wifi | InterfaceKind::Other
        )
    }
}

/// What `/sys/class/net/<name>` tells about an interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceFacts {
    /// `type`: the ARPHRD number (1 Ethernet, 772 loopback, 65534 none).
    pub arp_type: Option<u32>,
    /// A `wireless` or `phy80211` entry exists.
    pub wireless: bool,
    /// A `tun_flags` entry exists (tun/tap).
    pub tun: bool,
    /// The device lives under `/sys/devices/virtual`.
    pub virtual_device: bool,
}

/// Decides the kind from the facts.
pub fn classify(facts: &InterfaceFacts) -> InterfaceKind {
    match facts.arp_type {
        Some(772) => return InterfaceKind::Loopback,
        Some(65534) => return InterfaceKind::Tunnel,
        _ => {}
    }
    if facts.wireless {
        InterfaceKind::Wifi
    } else if facts.tun {
        InterfaceKind::Tunnel
    } else if facts.virtual_device {
        InterfaceKind::Virtual
    } else if facts.arp_type == Some(1) {
        InterfaceKind::Ethernet
    } else {
        InterfaceKind::Other
    }
}

/// Reads the facts of `name` under `sys_class_net` (normally `/sys/class/net`). A name
/// with a path separator or a missing entry gives empty facts.
pub fn read_facts(sys_class_net: &Path, name: &str) -> InterfaceFacts {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return InterfaceFacts::default();
    }
    let dir = sys_class_net.join(name);
    let arp_type = std::fs::read_to_string(dir.join("type"))
        .ok()
        .and_then(|t| t.trim().parse().ok());
    let virtual_device = std::fs::canonicalize(&dir)
        .map(|p| p.components().any(|c| c.as_os_str() == "virtual"))
        .unwrap_or(false);
    InterfaceFacts {
        arp_type,
        wireless: dir.join("wireless").exists() || dir.join("phy80211").exists(),
        tun: dir.join("tun_flags").exists(),
        virtual_device,
    }
}

/// Every interface's IPv4 and IPv6 addresses, by interface name (empty on failure).
pub fn addresses() -> BTreeMap<String, Vec<IpAddr>> {
    let mut out: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // rustix has no getifaddrs: libc it is.
    // SAFETY: getifaddrs fills `head` with a list we only read and then free once.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cursor = head;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a node of the list getifaddrs returned, not yet freed.
        let entry = unsafe { &*cursor };
        cursor = entry.ifa_next;
        if entry.ifa_addr.is_null() || entry.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(entry.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: ifa_addr points at a sockaddr whose family tells its real type.
        let address = unsafe {
            match i32::from((*entry.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sin = &*(entry.ifa_addr as *const libc::sockaddr_in);
                    Some(IpAddr::from(
                        u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                    ))
                }
                libc::AF_INET6 => {
                    let sin6 = &*(entry.ifa_addr as *const libc::sockaddr_in6);
                    Some(IpAddr::from(sin6.sin6_addr.s6_addr))
                }
                _ => None,
            }
        };
        if let Some(address) = address {
            out.entry(name).or_default().push(address);
        }
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed exactly once.
    unsafe { libc::freeifaddrs(head) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_wifi_tunnel_virtual_and_ethernet_are_told_apart() {
        let lo = InterfaceFacts {
            arp_type: Some(772),
            virtual_device: true,
            ..Default::default()
        };
        let wifi = InterfaceFacts {
            arp_type: Some(1),
            wireless: true,
            ..Default::default()
        };
        let wg = InterfaceFacts {
            arp_type: Some(65534),
            virtual_device: true,
            ..Default::default()
        };
        let tap = InterfaceFacts {
            arp_type: Some(1),
            tun: true,
            virtual_device: true,
            ..Default::default()
        };
        let veth = InterfaceFacts {
            arp_type: Some(1),
            virtual_device: true,
            ..Default::default()
        };
        let eth = InterfaceFacts {
            arp_type: Some(1),
            ..Default::default()
        };
        assert_eq!(classify(&lo), InterfaceKind::Loopback);
        assert_eq!(classify(&wifi), InterfaceKind::Wifi);
        assert_eq!(classify(&wg), InterfaceKind::Tunnel);
        assert_eq!(classify(&tap), InterfaceKind::Tunnel);
        assert_eq!(classify(&veth), InterfaceKind::Virtual);
        assert_eq!(classify(&eth), InterfaceKind::Ethernet);
        assert_eq!(classify(&InterfaceFacts::default()), InterfaceKind::Other);
    }

    #[test]
    fn facts_are_read_from_a_sysfs_like_tree() {
        let root = tempfile::tempdir().unwrap();
        let devices = root.path().join("devices");
        let class = root.path().join("class");
        std::fs::create_dir_all(devices.join("pci0/net/eth0")).unwrap();
        std::fs::create_dir_all(devices.join("virtual/net/veth9")).unwrap();
        std::fs::create_dir_all(devices.join("pci1/net/wlan0/phy80211")).unwrap();
        std::fs::create_dir_all(&class).unwrap();
        for (name, dir) in [("eth0", "pci0"), ("veth9", "virtual"), ("wlan0", "pci1")] {
            std::fs::write(devices.join(dir).join("net").join(name).join("type"), "1\n").unwrap();
            std::os::unix::fs::symlink(devices.join(dir).join("net").join(name), class.join(name))
                .unwrap();
        }
        assert_eq!(
            classify(&read_facts(&class, "eth0")),
            InterfaceKind::Ethernet
        );
        assert_eq!(
            classify(&read_facts(&class, "veth9")),
            InterfaceKind::Virtual
        );
        assert_eq!(classify(&read_facts(&class, "wlan0")), InterfaceKind::Wifi);
    }

    #[test]
    fn vanished_or_path_like_names_give_empty_facts() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(read_facts(root.path(), "gone0"), InterfaceFacts::default());
        assert_eq!(read_facts(root.path(), "../etc"), InterfaceFacts::default());
        assert_eq!(read_facts(root.path(), ".."), InterfaceFacts::default());
    }

    #[test]
    fn the_loopback_interface_has_its_address() {
        let all = addresses();
        let lo = all.get("lo").cloned().unwrap_or_default();
        assert!(lo.contains(&"127.0.0.1".parse().unwrap()), "{all:?}");
    }
}
