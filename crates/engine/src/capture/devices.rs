//! The live [`Devices`]: pcap's device list and one pcap handle per interface, tuned for
//! header-only, lossless, low-latency capture.

use super::dispatch::dispatch;
use super::snap_filter;
use super::source::{BatchEnd, Devices, Frame, FrameSource, LinkIdentity, OpenError};
use crate::parse::LinkType;
use pcap::{Active, Capture, Device};
use std::fs::File;
use std::io::Read as _;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

/// Kernel ring per handle, in bytes: TPACKET_V3 packs packets by the length they were cut
/// to (`snap_filter`: 128 bytes and a header of some 50), so a 4 MiB ring holds about
/// 23,000 packets, 75 ms of a 300,000 packets/s flood of small datagrams. libpcap splits it
/// into 256 KiB blocks. The ring is mapped into the helper and counts in its RSS as its
/// pages are first written: 16 MiB per interface put the helper at 55–70 MB with three
/// interfaces (profile in build-aux/bench).
pub const BUFFER_SIZE: i32 = 4 << 20;
/// How long the kernel holds a ring block that has packets before it hands it over, in
/// milliseconds (TPACKET_V3's block timeout): the capture thread wakes when a block is
/// full or this old, not per packet. The kernel counts it in jiffies, so with HZ=250 any
/// value up to 4 ms is 4 ms. Every millisecond here is one a new flow's first packet may
/// wait for its lookup; the sockets of short-lived processes are known meanwhile from the
/// connect and route-lookup tracepoints (`attribution::connect_log`, `udp_senders`).
pub const BLOCK_TIMEOUT_MS: i32 = 4;

/// Pseudo devices pcap lists that carry no IP traffic of this machine, or would duplicate it.
pub fn is_capturable(name: &str) -> bool {
    !(name == "any"
        || name == "nflog"
        || name == "nfqueue"
        || name.starts_with("dbus-")
        || name.starts_with("usbmon")
        || name.starts_with("bluetooth"))
}

/// Interface names with their `flags` text, as read from sysfs.
type Links = Vec<(String, String)>;

/// Interfaces and handles from libpcap.
#[derive(Default)]
pub struct PcapDevices {
    /// The interfaces and their flags when pcap last listed them, and what it listed.
    last: Option<(Links, Vec<String>)>,
}

impl Devices for PcapDevices {
    /// pcap's device list takes some 7 ms here (it asks every interface and reads sysfs),
    /// once a second on the capture thread: the whole exchange of a short-lived process
    /// could pass meanwhile, its sockets gone before its packets were looked at (the
    /// fragmented-UDP root scenarios failed about one run in three). So pcap is asked only
    /// when the interfaces or their flags in `/sys/class/net` changed (a few dozen
    /// microseconds to read), and always when sysfs cannot be read.
    fn list_up(&mut self) -> Result<Vec<String>, String> {
        let links = sys_class_net(Path::new(SYS_CLASS_NET));
        if let (Some(links), Some((seen, listed))) = (&links, &self.last) {
            if links == seen {
                return Ok(listed.clone());
            }
        }
        let listed: Vec<String> = Device::list()
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|device| device.flags.is_up() && is_capturable(&device.name))
            .map(|device| device.name)
            .collect();
        self.last = links.map(|links| (links, listed.clone()));
        Ok(listed)
    }

    fn open(&mut self, name: &str) -> Result<Box<dyn FrameSource>, OpenError> {
        let capture = open(name).map_err(|error| OpenError {
            permission_denied: is_permission_error(&error),
            message: error.to_string(),
        })?;
        let link = LinkType::from_datalink(capture.get_datalink().0);
        Ok(Box::new(PcapSource { capture, link }))
    }

    fn kernel_bytes(&self, name: &str) -> Option<(u64, u64)> {
        kernel_bytes(&Path::new(SYS_CLASS_NET).join(name).join("statistics"))
    }

    fn identity(&self, name: &str) -> Option<LinkIdentity> {
        identity(&Path::new(SYS_CLASS_NET).join(name))
    }

    fn bridge_ports(&self, name: &str) -> Option<Vec<String>> {
        bridge_ports(&Path::new(SYS_CLASS_NET).join(name))
    }

    fn lower_devices(&self, name: &str) -> Vec<String> {
        lower_devices(&Path::new(SYS_CLASS_NET).join(name))
    }
}

/// Most lower devices read of one interface (a bond has a few, a macvlan one).
const MAX_LOWERS: usize = 64;

/// The interfaces the one whose sysfs directory is `dir` is stacked on: its `lower_NAME`
/// links. Untrusted like all of sysfs: the names are only compared with interface names.
fn lower_devices(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            name.to_str()?.strip_prefix("lower_").map(str::to_owned)
        })
        .take(MAX_LOWERS)
        .collect()
}

/// Most ports read of one bridge: more and it is captured itself.
const MAX_BRIDGE_PORTS: usize = 1024;

/// The ports of the bridge whose sysfs directory is `dir` (the entries of its `brif`
/// directory, which only bridges have), or `None` when it is no bridge, the list cannot
/// be read or it is longer than [`MAX_BRIDGE_PORTS`]. Untrusted like all of sysfs: the
/// names are only compared with interface names.
fn bridge_ports(dir: &Path) -> Option<Vec<String>> {
    let mut ports = Vec::new();
    for entry in std::fs::read_dir(dir.join("brif")).ok()? {
        ports.push(entry.ok()?.file_name().to_string_lossy().into_owned());
        if ports.len() > MAX_BRIDGE_PORTS {
            return None;
        }
    }
    Some(ports)
}

/// An interface's `ifindex` and Ethernet `address` from its sysfs directory. Untrusted
/// like all of sysfs: bounded reads, a number and six hex bytes or nothing.
fn identity(dir: &Path) -> Option<LinkIdentity> {
    let read = |name: &str| -> Option<String> {
        let mut text = String::new();
        File::open(dir.join(name))
            .ok()?
            .take(64)
            .read_to_string(&mut text)
            .ok()?;
        Some(text.trim().to_owned())
    };
    let ifindex = read("ifindex")?.parse().ok()?;
    let address = read("address")?;
    let mut mac = [0u8; 6];
    let mut parts = address.split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(LinkIdentity { ifindex, mac })
}

/// The `tx_bytes` and `rx_bytes` counters under an interface's sysfs `statistics`
/// directory. Untrusted like all of sysfs: each read is bounded and must be a number.
fn kernel_bytes(statistics: &Path) -> Option<(u64, u64)> {
    let read = |name: &str| -> Option<u64> {
        let mut text = String::new();
        File::open(statistics.join(name))
            .ok()?
            .take(32)
            .read_to_string(&mut text)
            .ok()?;
        text.trim().parse().ok()
    };
    Some((read("tx_bytes")?, read("rx_bytes")?))
}

/// Opens a non-blocking TPACKET_V3 handle on `name` (no immediate mode: the kernel hands
/// packets over a block at a time, see [`BLOCK_TIMEOUT_MS`]) with the snap filter, which
/// cuts each packet in the kernel to what the parser reads and lets every packet through:
/// ARP and unknown protocols are counted too. On a loopback interface the outgoing copy of
/// each packet is not taken (it comes in again).
fn open(name: &str) -> Result<Capture<Active>, pcap::Error> {
    let capture = Capture::from_device(name)?
        .snaplen(snap_filter::DNS_SNAP as i32)
        .buffer_size(BUFFER_SIZE)
        .immediate_mode(false)
        .promisc(false)
        .timeout(BLOCK_TIMEOUT_MS)
        .open()?
        .setnonblock()?;
    let link = LinkType::from_datalink(capture.get_datalink().0);
    let fd = capture.as_fd();
    let setup = |what: &str, done: std::io::Result<()>| {
        done.map_err(|e| pcap::Error::PcapError(format!("{what} on {name}: {e}")))
    };
    setup("snap filter", snap_filter::attach(fd, link))?;
    if is_loopback(&Path::new(SYS_CLASS_NET).join(name)) {
        // Best effort: before Linux 4.20 the option does not exist, and libpcap drops the
        // outgoing copies on loopback itself (after the kernel copied them).
        let _ = snap_filter::ignore_outgoing(fd);
    }
    Ok(capture)
}

/// Whether the interface with sysfs directory `dir` is a loopback (`IFF_LOOPBACK` in its
/// flags). Untrusted like all of sysfs: a bounded read of one hex number, else no.
fn is_loopback(dir: &Path) -> bool {
    const IFF_LOOPBACK: u32 = 0x8;
    let mut text = String::new();
    let read = File::open(dir.join("flags")).and_then(|f| f.take(32).read_to_string(&mut text));
    read.is_ok()
        && u32::from_str_radix(text.trim().trim_start_matches("0x"), 16)
            .is_ok_and(|flags| flags & IFF_LOOPBACK != 0)
}

/// Whether a pcap error means we lack the privilege to capture.
fn is_permission_error(error: &pcap::Error) -> bool {
    let text = error.to_string().to_lowercase();
    text.contains("permission") || text.contains("not permitted")
}

/// A live pcap handle (closed when dropped).
struct PcapSource {
    capture: Capture<Active>,
    link: LinkType,
}

impl FrameSource for PcapSource {
    fn link(&self) -> LinkType {
        self.link
    }

    fn poll_fd(&self) -> BorrowedFd<'_> {
        self.capture.as_fd()
    }

    fn read_batch(&mut self, max: usize, each: &mut dyn FnMut(Frame<'_>)) -> (usize, BatchEnd) {
        dispatch(&mut self.capture, max, each)
    }

    fn dropped(&mut self) -> Option<u64> {
        let stat = self.capture.stats().ok()?;
        Some(u64::from(stat.dropped) + u64::from(stat.if_dropped))
    }
}

const SYS_CLASS_NET: &str = "/sys/class/net";
/// More interfaces than this and the list is not cached (pcap is asked every time).
const MAX_LINKS: usize = 4096;

/// Every interface under `dir` with its `flags` text (IFF_UP among them), sorted; entries
/// without flags are skipped; `None` when the directory cannot be read or holds too many. Untrusted like all of sysfs:
/// names and flags are only compared, never parsed, and each read is bounded.
fn sys_class_net(dir: &Path) -> Option<Links> {
    let mut links = Vec::new();
    for entry in std::fs::read_dir(dir).ok()? {
        let name = entry.ok()?.file_name().to_string_lossy().into_owned();
        let mut flags = String::new();
        // Not an interface (`bonding_masters`), or one that just went away.
        if File::open(dir.join(&name).join("flags"))
            .and_then(|file| file.take(64).read_to_string(&mut flags))
            .is_err()
        {
            continue;
        }
        links.push((name, flags));
        if links.len() > MAX_LINKS {
            return None;
        }
    }
    links.sort_unstable();
    Some(links)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interface_signature_changes_with_a_new_interface_or_new_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let link = |name: &str, flags: &str| {
            std::fs::create_dir_all(dir.path().join(name)).expect("mkdir");
            std::fs::write(dir.path().join(name).join("flags"), flags).expect("flags");
        };
        link("lo", "0x9\n");
        link("eth0", "0x1002\n");
        let first = sys_class_net(dir.path()).expect("readable");
        assert_eq!(first.len(), 2);
        assert_eq!(sys_class_net(dir.path()), Some(first.clone()), "unchanged");
        link("eth0", "0x1003\n");
        let up = sys_class_net(dir.path()).expect("readable");
        assert_ne!(up, first, "eth0 came up");
        link("veth0", "0x1003\n");
        let more = sys_class_net(dir.path()).expect("readable");
        assert_ne!(more, up, "a new interface");
        std::fs::write(dir.path().join("bonding_masters"), "").expect("file");
        assert_eq!(
            sys_class_net(dir.path()),
            Some(more),
            "not an interface: skipped"
        );
        assert_eq!(sys_class_net(&dir.path().join("missing")), None);
    }

    #[test]
    fn an_interfaces_index_and_address_are_read_and_anything_else_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text);
        write("ifindex", "7\n").expect("write");
        write("address", "02:00:5e:10:00:0a\n").expect("write");
        assert_eq!(
            identity(dir.path()),
            Some(LinkIdentity {
                ifindex: 7,
                mac: [0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a]
            })
        );
        for bad in [
            "02:00:5e:10:00",
            "02:00:5e:10:00:0a:0b",
            "zz:00:5e:10:00:0a",
            "",
        ] {
            write("address", bad).expect("write");
            assert_eq!(identity(dir.path()), None, "{bad:?}");
        }
        write("address", "02:00:5e:10:00:0a").expect("write");
        write("ifindex", "seven").expect("write");
        assert_eq!(identity(dir.path()), None);
        assert_eq!(identity(&dir.path().join("gone")), None);
        let lo = identity(&Path::new(SYS_CLASS_NET).join("lo")).expect("lo");
        assert_eq!(lo.mac, [0; 6]);
    }

    #[test]
    fn the_real_sysfs_lists_loopback() {
        let links = sys_class_net(Path::new(SYS_CLASS_NET)).expect("/sys/class/net");
        assert!(links.iter().any(|(name, _)| name == "lo"), "{links:?}");
    }

    #[test]
    fn kernel_counters_are_read_and_anything_else_refused() {
        let lo = kernel_bytes(&Path::new(SYS_CLASS_NET).join("lo/statistics"));
        assert!(lo.is_some(), "lo has counters");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("tx_bytes"), "1514\n").expect("write");
        std::fs::write(dir.path().join("rx_bytes"), "60\n").expect("write");
        assert_eq!(kernel_bytes(dir.path()), Some((1514, 60)));
        std::fs::write(dir.path().join("rx_bytes"), "-1\n").expect("write");
        assert_eq!(kernel_bytes(dir.path()), None);
        std::fs::write(dir.path().join("rx_bytes"), "9".repeat(100)).expect("write");
        assert_eq!(kernel_bytes(dir.path()), None, "longer than any counter");
        assert_eq!(kernel_bytes(&dir.path().join("gone")), None);
    }

    #[test]
    fn the_devices_an_interface_is_stacked_on_are_its_lower_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let macvlan = dir.path().join("mv0");
        std::fs::create_dir_all(&macvlan).expect("dir");
        std::os::unix::fs::symlink("../eth0", macvlan.join("lower_eth0")).expect("link");
        std::fs::write(macvlan.join("mtu"), "1500\n").expect("write");
        std::fs::create_dir_all(macvlan.join("statistics")).expect("dir");
        assert_eq!(lower_devices(&macvlan), vec!["eth0".to_owned()]);
        assert!(lower_devices(&dir.path().join("gone")).is_empty());
        let many = dir.path().join("bond0");
        std::fs::create_dir_all(&many).expect("dir");
        for i in 0..200 {
            std::fs::write(many.join(format!("lower_p{i}")), "").expect("write");
        }
        assert_eq!(lower_devices(&many).len(), MAX_LOWERS);
    }

    #[test]
    fn a_bridges_ports_are_listed_and_anything_else_is_no_bridge() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bridge = dir.path().join("br0");
        std::fs::create_dir_all(bridge.join("brif/veth1")).expect("port");
        std::fs::create_dir_all(bridge.join("brif/tap0")).expect("port");
        let mut ports = bridge_ports(&bridge).expect("a bridge");
        ports.sort();
        assert_eq!(ports, ["tap0", "veth1"]);

        let plain = dir.path().join("eth0");
        std::fs::create_dir_all(&plain).expect("interface");
        assert_eq!(bridge_ports(&plain), None, "no brif: not a bridge");

        let huge = dir.path().join("br1");
        for i in 0..=MAX_BRIDGE_PORTS {
            std::fs::create_dir_all(huge.join(format!("brif/p{i}"))).expect("port");
        }
        assert_eq!(bridge_ports(&huge), None, "too many ports: captured itself");
    }

    #[test]
    fn pseudo_devices_are_not_captured_on() {
        for name in [
            "any",
            "nflog",
            "nfqueue",
            "dbus-system",
            "dbus-session",
            "usbmon0",
            "usbmon3",
            "bluetooth0",
            "bluetooth-monitor",
        ] {
            assert!(!is_capturable(name), "{name}");
        }
        for name in [
            "lo",
            "eth0",
            "wlp2s0",
            "veth12ab",
            "wg0",
            "tun0",
            "docker0",
            "anyconnect0",
        ] {
            assert!(is_capturable(name), "{name}");
        }
    }
}
