//! The live [`Devices`]: pcap's device list and one pcap handle per interface, tuned for
//! header-only, lossless, low-latency capture.

use super::source::{Devices, Frame, FrameSource, OpenError, Read};
use crate::parse::LinkType;
use pcap::{Active, Capture, Device};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bytes captured per packet: Ethernet + two VLAN tags + IPv4 with options or IPv6 with
/// some extension headers + the ports and flags of TCP. Wire length is counted, not this;
/// a smaller snaplen fits more packets in the ring (each slot holds a whole snaplen).
pub const SNAPLEN: i32 = 128;
/// Kernel ring buffer per handle, in bytes: some 20,000 packet slots at this snaplen (a
/// slot is about 200 bytes), 65 ms of a 300,000 packets/s flood, so a 64-byte UDP flood on
/// loopback is not dropped while the thread is busy. The ring is mapped into the helper and
/// counts in its RSS in full: 16 MiB per interface put the helper at 55–70 MB with three
/// interfaces (profile in build-aux/bench).
pub const BUFFER_SIZE: i32 = 4 << 20;

/// Pseudo devices pcap lists that carry no IP traffic of this machine, or would duplicate it.
pub fn is_capturable(name: &str) -> bool {
    !(name == "any"
        || name == "nflog"
        || name == "nfqueue"
        || name.starts_with("dbus-")
        || name.starts_with("usbmon")
        || name.starts_with("bluetooth"))
}

/// Interfaces and handles from libpcap.
pub struct PcapDevices;

impl Devices for PcapDevices {
    fn list_up(&mut self) -> Result<Vec<String>, String> {
        Ok(Device::list()
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|device| device.flags.is_up() && is_capturable(&device.name))
            .map(|device| device.name)
            .collect())
    }

    fn open(&mut self, name: &str) -> Result<Box<dyn FrameSource>, OpenError> {
        let capture = open(name).map_err(|error| OpenError {
            permission_denied: is_permission_error(&error),
            message: error.to_string(),
        })?;
        let link = LinkType::from_datalink(capture.get_datalink().0);
        Ok(Box::new(PcapSource { capture, link }))
    }
}

/// Opens a non-blocking handle on `name`: header-only snaplen, big buffer, immediate mode
/// (each packet is delivered at once, so a short-lived process is looked up while alive).
/// No BPF filter: every frame is counted, ARP and unknown protocols included.
fn open(name: &str) -> Result<Capture<Active>, pcap::Error> {
    Capture::from_device(name)?
        .snaplen(SNAPLEN)
        .buffer_size(BUFFER_SIZE)
        .immediate_mode(true)
        .promisc(false)
        .timeout(1)
        .open()?
        .setnonblock()
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

    fn poll_fd(&self) -> RawFd {
        self.capture.as_raw_fd()
    }

    fn read(&mut self) -> Read<'_> {
        match self.capture.next_packet() {
            Ok(packet) => Read::Frame(Frame {
                captured: timestamp(&packet.header.ts),
                data: packet.data,
                wire_len: packet.header.len,
            }),
            Err(pcap::Error::TimeoutExpired) | Err(pcap::Error::NoMorePackets) => Read::Empty,
            Err(_) => Read::Failed,
        }
    }

    fn dropped(&mut self) -> Option<u64> {
        let stat = self.capture.stats().ok()?;
        Some(u64::from(stat.dropped) + u64::from(stat.if_dropped))
    }
}

/// A pcap timestamp (microseconds, the default precision) as a time.
fn timestamp(ts: &libc::timeval) -> Option<SystemTime> {
    let seconds = u64::try_from(ts.tv_sec).ok()?;
    let micros = u64::try_from(ts.tv_usec).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds) + Duration::from_micros(micros))
}

#[cfg(test)]
mod tests {
    use super::*;

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
