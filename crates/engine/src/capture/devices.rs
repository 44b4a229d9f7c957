//! Which interfaces to capture on, and opening a pcap handle tuned for header-only,
//! lossless, low-latency capture.

use pcap::{Active, Capture, Device};

/// Bytes captured per packet: enough for Ethernet + two VLAN tags + IPv6 with extension
/// headers + a TCP header with options. Wire length is counted, not this.
pub const SNAPLEN: i32 = 256;
/// Kernel ring buffer per handle, in bytes: holds a burst of some 60 000 small packets, so a
/// 64-byte UDP flood on loopback is not dropped while the thread is busy.
pub const BUFFER_SIZE: i32 = 16 << 20;

/// Pseudo devices pcap lists that carry no IP traffic of this machine, or would duplicate it.
pub fn is_capturable(name: &str) -> bool {
    !(name == "any"
        || name == "nflog"
        || name == "nfqueue"
        || name.starts_with("dbus-")
        || name.starts_with("usbmon")
        || name.starts_with("bluetooth"))
}

/// Names of the interfaces that are up and worth capturing on.
pub fn list_up() -> Result<Vec<String>, pcap::Error> {
    Ok(Device::list()?
        .into_iter()
        .filter(|device| device.flags.is_up() && is_capturable(&device.name))
        .map(|device| device.name)
        .collect())
}

/// Opens a non-blocking handle on `name`: header-only snaplen, big buffer, immediate mode
/// (each packet is delivered at once, so a short-lived process is looked up while alive).
/// No BPF filter: every frame is counted, ARP and unknown protocols included.
pub fn open(name: &str) -> Result<Capture<Active>, pcap::Error> {
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
pub fn is_permission_error(error: &pcap::Error) -> bool {
    let text = error.to_string().to_lowercase();
    text.contains("permission") || text.contains("not permitted")
}
