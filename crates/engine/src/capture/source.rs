//! Where frames come from: one pollable source per interface, and the list of interfaces.
//! The live implementation ([`super::devices`]) wraps pcap; session tests use a fake, so
//! the capture loop is specified without root.

use crate::parse::LinkType;
use std::os::fd::BorrowedFd;
use std::time::SystemTime;

/// One captured frame.
pub struct Frame<'a> {
    /// The captured bytes (at most the snaplen).
    pub data: &'a [u8],
    /// Length on the wire, in bytes.
    pub wire_len: u32,
    /// When the kernel captured it, if known.
    pub captured: Option<SystemTime>,
}

/// How a batch read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchEnd {
    /// Nothing more for now.
    Drained,
    /// The batch is full; more may be waiting.
    Full,
    /// The source failed (its interface went away): close it.
    Failed,
}

/// A non-blocking frame source for one interface.
pub trait FrameSource: Send {
    /// Link layer of its frames.
    fn link(&self) -> LinkType;
    /// Descriptor that poll(2) reports readable when frames are waiting.
    fn poll_fd(&self) -> BorrowedFd<'_>;
    /// Hands up to `max` waiting frames to `each`, in order; returns how many and why it
    /// stopped. The live source reads the kernel ring in place (`dispatch.rs`): one frame
    /// at a time, libpcap copies every frame out of the ring first.
    fn read_batch(&mut self, max: usize, each: &mut dyn FnMut(Frame<'_>)) -> (usize, BatchEnd);
    /// Frames dropped (kernel buffer full or by the interface) since it was opened.
    fn dropped(&mut self) -> Option<u64>;
}

/// Why a source could not be opened.
#[derive(Debug)]
pub struct OpenError {
    pub message: String,
    /// The caller lacks the privilege to capture.
    pub permission_denied: bool,
}

/// The interfaces of the machine.
pub trait Devices: Send {
    /// Names of the interfaces that are up and worth capturing on.
    fn list_up(&mut self) -> Result<Vec<String>, String>;
    fn open(&mut self, name: &str) -> Result<Box<dyn FrameSource>, OpenError>;
    /// The kernel's own byte counters of interface `name`, (transmitted, received), since
    /// it came up; `None` where they cannot be read (then the capture's count stands in).
    fn kernel_bytes(&self, _name: &str) -> Option<(u64, u64)> {
        None
    }
    /// Interface `name`'s index and hardware address, read when its handle opens: a
    /// frame that leaves with that source address was sent from this machine (see
    /// `Accounting::record_link_frame`). `None` where they cannot be read.
    fn identity(&self, _name: &str) -> Option<LinkIdentity> {
        None
    }
    /// When `name` is a bridge, the names of its ports (its lower interfaces); `None`
    /// when it is not one or they cannot be read.
    fn bridge_ports(&self, _name: &str) -> Option<Vec<String>> {
        None
    }
    /// The interfaces `name` is stacked on (a macvlan's, ipvlan's or VLAN's lower
    /// device); none where it is stacked on none or they cannot be read.
    fn lower_devices(&self, _name: &str) -> Vec<String> {
        Vec::new()
    }
}

/// An interface's index and Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkIdentity {
    pub ifindex: u32,
    pub mac: [u8; 6],
}
