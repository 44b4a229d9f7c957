//! The open frame sources (pcap handles), one per interface, with per-interface byte
//! counts and drop counters; follows interfaces that appear and disappear.
//!
//! An interface's totals are what it carried each way, so they come from the kernel's own
//! counters (read each interval, from when its handle opened, or from when a bridge began
//! to be counted without a handle, [`bridge_candidates`]): a frame's addresses cannot
//! say which way it crossed a veth into a local namespace or a bridge port, where both
//! ends are local, and libpcap on Linux offers no per-interface cooked mode that would.
//! Where the kernel's counters cannot be read, the capture's own count by the addresses
//! stands in.

use super::source::{Devices, FrameSource, LinkIdentity, OpenError};
use crate::{EngineError, InterfaceStats};
use std::collections::BTreeMap;
use std::os::fd::BorrowedFd;

/// An open source.
pub struct Handle {
    pub name: String,
    pub source: Box<dyn FrameSource>,
    /// Its index and hardware address, read when it opened.
    pub identity: Option<LinkIdentity>,
    /// When it is the first port with a handle of a bridge that has none
    /// ([`bridge_candidates`]): the bridge's index and address. A frame the host sends
    /// through the bridge leaves with the bridge's address and is seen on its ports only;
    /// this one credits its sender (the others count it as another frame, once each).
    pub bridge: Option<LinkIdentity>,
}

/// Counts of one interface, kept after its handle closes (totals are since start).
#[derive(Debug, Default, Clone)]
pub struct InterfaceCounters {
    /// Captured bytes by the addresses (the stand-in for the kernel's counters).
    pub sent_bytes: u64,
    pub received_bytes: u64,
    /// The kernel's counters while a handle was open, when they can be read.
    kernel: Option<KernelSpan>,
    /// Drops of handles closed earlier on this interface.
    pub dropped_before: u64,
    /// Drops of the current handle, as of the last `stats()`.
    pub dropped_now: u64,
    /// Drops counted before the last reset.
    pub dropped_at_reset: u64,
}

/// The kernel's byte counters of an interface over the spans its handles were open:
/// (transmitted, received) pairs.
#[derive(Debug, Default, Clone, Copy)]
struct KernelSpan {
    /// Counted over earlier spans, and before an earlier reset of the kernel's counters.
    before: (u64, u64),
    /// The counters when this span began (or were last reset to zero by the kernel).
    base: (u64, u64),
    /// The counters when last read.
    latest: (u64, u64),
    /// Whether a handle is open (`latest` keeps moving).
    open: bool,
}

impl KernelSpan {
    /// Counted so far.
    fn total(&self) -> (u64, u64) {
        (
            self.before.0 + self.latest.0.saturating_sub(self.base.0),
            self.before.1 + self.latest.1.saturating_sub(self.base.1),
        )
    }

    /// A new reading; counters that went down (the interface was re-created under the
    /// same name) start a new span from zero.
    fn read(&mut self, now: (u64, u64)) {
        if now.0 < self.latest.0 || now.1 < self.latest.1 {
            self.before = self.total();
            self.base = (0, 0);
        }
        self.latest = now;
    }

    /// A handle opens again: counted from `now` on.
    fn reopen(&mut self, now: (u64, u64)) {
        self.before = self.total();
        self.base = now;
        self.latest = now;
        self.open = true;
    }
}

impl InterfaceCounters {
    /// Bytes this interface carried each way, (sent, received).
    fn carried(&self) -> (u64, u64) {
        match &self.kernel {
            Some(span) => span.total(),
            None => (self.sent_bytes, self.received_bytes),
        }
    }

    fn dropped(&self) -> u64 {
        self.dropped_before
            .saturating_add(self.dropped_now)
            .saturating_sub(self.dropped_at_reset)
    }
}

/// The set of handles and their counters.
/// Rescans (one a second) between two checks of the stacking of unchanged handles.
const STACKING_RECHECK: u32 = 30;

pub struct Interfaces {
    devices: Box<dyn Devices>,
    pub handles: Vec<Handle>,
    pub counters: BTreeMap<String, InterfaceCounters>,
    /// Interfaces asked for by name; empty means every capturable interface that is up.
    wanted: Vec<String>,
    /// Bridges counted from the kernel's counters alone, without a handle: every frame
    /// they carry crosses one of their ports too, and each port has a handle
    /// ([`bridge_candidates`]).
    pub watched: Vec<String>,
    /// Some captured interface is stacked on another captured one (a host macvlan on its
    /// lower device): a TCP transfer may be seen as a super-frame on one and as segments
    /// on the other (`accounting/segments.rs` is needed).
    pub stacked: bool,
    /// The handles (name, index) when `stacked` was last worked out, and the rescans
    /// since.
    stacked_for: Vec<(String, u32)>,
    rescans_since_stacking: u32,
}

impl Interfaces {
    pub fn new(devices: Box<dyn Devices>, wanted: Vec<String>) -> Self {
        Self {
            devices,
            handles: Vec::new(),
            counters: BTreeMap::new(),
            wanted,
            watched: Vec::new(),
            stacked: false,
            stacked_for: Vec::new(),
            rescans_since_stacking: 0,
        }
    }

    /// Works [`Self::stacked`] out again when the handles changed (by name or index: a
    /// device made again under its old name), and every [`STACKING_RECHECK`] rescans
    /// (an interface enslaved to a bond or bridge keeps its handle): a directory read per
    /// handle, not every second.
    fn note_stacking(&mut self) {
        let mut handles: Vec<(String, u32)> = self
            .handles
            .iter()
            .map(|h| (h.name.clone(), h.identity.map_or(0, |id| id.ifindex)))
            .collect();
        handles.sort_unstable();
        self.rescans_since_stacking = self.rescans_since_stacking.saturating_add(1);
        if handles == self.stacked_for && self.rescans_since_stacking < STACKING_RECHECK {
            return;
        }
        self.rescans_since_stacking = 0;
        let captured = |name: &String| handles.iter().any(|(n, _)| n == name);
        self.stacked = handles
            .iter()
            .any(|(name, _)| self.devices.lower_devices(name).iter().any(&captured));
        self.stacked_for = handles;
    }

    /// Counts `name`'s bytes from the kernel's counters from now on (a handle opened, or
    /// a watch began). An interface with no readable counters keeps the capture's count
    /// throughout.
    fn start_kernel_span(&mut self, name: &str) {
        let counters = self.counters.entry(name.to_owned()).or_default();
        match (self.devices.kernel_bytes(name), counters.kernel.as_mut()) {
            // Still counting (a bridge moving between a handle and none).
            (Some(now), Some(span)) if span.open => span.read(now),
            (Some(now), Some(span)) => span.reopen(now),
            (Some(now), None) if counters.sent_bytes + counters.received_bytes == 0 => {
                counters.kernel = Some(KernelSpan {
                    base: now,
                    latest: now,
                    open: true,
                    ..KernelSpan::default()
                });
            }
            _ => {}
        }
    }

    /// Stops counting `name` from the kernel's counters, keeping what was counted.
    fn end_kernel_span(&mut self, name: &str) {
        if let Some(span) = self
            .counters
            .get_mut(name)
            .and_then(|counters| counters.kernel.as_mut())
        {
            span.open = false;
        }
    }

    /// Opens handles on interfaces that came up and closes those that went away. At
    /// start (`initial`) any failure to open anything is an error; later, an interface
    /// that cannot be opened is simply retried at the next scan.
    pub fn rescan(&mut self, initial: bool) -> Result<(), EngineError> {
        let up = self
            .devices
            .list_up()
            .map_err(|message| EngineError::Pcap {
                interface: "(device list)".into(),
                message,
            })?;
        let targets: Vec<String> = if self.wanted.is_empty() {
            up
        } else {
            if initial {
                if let Some(missing) = self.wanted.iter().find(|w| !up.contains(w)) {
                    return Err(EngineError::NoSuchInterface(missing.clone()));
                }
            }
            self.wanted
                .iter()
                .filter(|w| up.contains(w))
                .cloned()
                .collect()
        };

        // Bridges that may go without a handle of their own, with their ports.
        let candidates = bridge_candidates(&targets, self.devices.as_ref(), &self.counters);
        let is_candidate = |name: &String| candidates.iter().any(|(bridge, _)| bridge == name);

        // Handles of interfaces no longer wanted go; every other wanted interface but the
        // candidate bridges gets one, their ports first of all.
        let gone: Vec<String> = self
            .handles
            .iter()
            .filter(|h| !targets.contains(&h.name))
            .map(|h| h.name.clone())
            .collect();
        for name in gone {
            self.close(&name);
        }
        let mut first_error = None;
        let others: Vec<String> = targets
            .iter()
            .filter(|t| !is_candidate(t))
            .cloned()
            .collect();
        self.open_all(&others, &mut first_error);

        // A candidate is covered when each of its ports has a handle now (one whose open
        // failed leaves the bridge its own): its handle closes, the ports' being open
        // already, and its kernel counters go on counting without a gap.
        let open = |handles: &[Handle], name: &String| handles.iter().any(|h| &h.name == name);
        let (covered, uncovered): (Vec<_>, Vec<_>) = candidates
            .into_iter()
            .partition(|(_, ports)| ports.iter().all(|port| open(&self.handles, port)));
        for (name, _) in &covered {
            if open(&self.handles, name) {
                self.read_counters();
                self.drop_handle(name);
            }
            if !self.watched.contains(name) {
                self.start_kernel_span(name);
                self.watched.push(name.clone());
            }
        }
        // Watched bridges no longer covered get a handle again (below); their span goes
        // on unless none can be opened.
        let unwatched: Vec<String> = self
            .watched
            .iter()
            .filter(|name| !covered.iter().any(|(bridge, _)| bridge == *name))
            .cloned()
            .collect();
        self.watched
            .retain(|name| covered.iter().any(|(bridge, _)| bridge == name));
        let reopen: Vec<String> = uncovered.iter().map(|(name, _)| name.clone()).collect();
        if !unwatched.is_empty() {
            // What they carried so far, in case no handle opens.
            self.read_counters();
        }
        self.open_all(&reopen, &mut first_error);
        for name in &unwatched {
            if !open(&self.handles, name) {
                self.end_kernel_span(name);
            }
        }

        // The first port with a handle of each covered bridge knows the bridge's address
        // (a packet socket's frame sent through the bridge is credited once, not once per
        // port it is flooded to).
        for handle in &mut self.handles {
            handle.bridge = None;
        }
        for (bridge, ports) in &covered {
            let identity = self.devices.identity(bridge);
            let first = ports
                .iter()
                .find_map(|port| self.handles.iter().position(|h| &h.name == port));
            if let Some(handle) = first.and_then(|at| self.handles.get_mut(at)) {
                handle.bridge = identity;
            }
        }
        self.note_stacking();
        if initial && self.handles.is_empty() {
            return Err(match first_error {
                Some((_, error)) if error.permission_denied => {
                    EngineError::PermissionDenied(error.message)
                }
                Some((interface, error)) => EngineError::Pcap {
                    interface,
                    message: error.message,
                },
                None => EngineError::NoCaptureDevice,
            });
        }
        Ok(())
    }

    /// Closes the handle on `name` (the interface went away or failed), keeping its drops
    /// and what it carried.
    pub fn close(&mut self, name: &str) {
        self.read_counters();
        self.drop_handle(name);
        self.end_kernel_span(name);
    }

    /// Closes the handle on `name` and keeps its drops; its kernel span is left as it is.
    fn drop_handle(&mut self, name: &str) {
        self.handles.retain(|h| h.name != name);
        if let Some(counters) = self.counters.get_mut(name) {
            counters.dropped_before = counters.dropped_before.saturating_add(counters.dropped_now);
            counters.dropped_now = 0;
        }
    }

    /// Opens a handle on each of `names` that has none; the first failure is kept in
    /// `first_error`.
    fn open_all(&mut self, names: &[String], first_error: &mut Option<(String, OpenError)>) {
        for name in names {
            if self.handles.iter().any(|h| &h.name == name) {
                continue;
            }
            match self.devices.open(name) {
                Ok(source) => {
                    self.start_kernel_span(name);
                    self.handles.push(Handle {
                        name: name.clone(),
                        source,
                        identity: self.devices.identity(name),
                        bridge: None,
                    });
                }
                Err(error) => {
                    first_error.get_or_insert((name.clone(), error));
                }
            }
        }
    }

    /// Reads the drop counters (kernel and interface drops) and the kernel's byte
    /// counters of every open handle and watched bridge.
    pub fn read_counters(&mut self) {
        for name in &self.watched {
            let span = self
                .counters
                .get_mut(name)
                .and_then(|counters| counters.kernel.as_mut())
                .filter(|span| span.open);
            if let (Some(span), Some(now)) = (span, self.devices.kernel_bytes(name)) {
                span.read(now);
            }
        }
        for handle in &mut self.handles {
            let Some(counters) = self.counters.get_mut(&handle.name) else {
                continue;
            };
            if let Some(dropped) = handle.source.dropped() {
                counters.dropped_now = dropped;
            }
            if let Some(span) = counters.kernel.as_mut().filter(|span| span.open) {
                // Unreadable now (going away): the last reading stands.
                if let Some(now) = self.devices.kernel_bytes(&handle.name) {
                    span.read(now);
                }
            }
        }
    }

    /// Per-interface statistics, by name.
    pub fn stats(&self) -> Vec<InterfaceStats> {
        self.counters
            .iter()
            .map(|(name, c)| {
                let (sent_bytes, received_bytes) = c.carried();
                InterfaceStats {
                    name: name.clone(),
                    sent_bytes,
                    received_bytes,
                    dropped: c.dropped(),
                }
            })
            .collect()
    }

    /// Zeroes the byte counts and takes the current drops as the new zero.
    pub fn reset_totals(&mut self) {
        self.read_counters();
        for counters in self.counters.values_mut() {
            counters.sent_bytes = 0;
            counters.received_bytes = 0;
            if let Some(span) = counters.kernel.as_mut() {
                let latest = span.latest;
                *span = KernelSpan {
                    base: latest,
                    latest,
                    open: span.open,
                    ..KernelSpan::default()
                };
            }
            counters.dropped_at_reset =
                counters.dropped_before.saturating_add(counters.dropped_now);
        }
    }

    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> + '_ {
        self.handles.iter().map(|h| h.source.poll_fd())
    }
}

/// The bridges among `targets` that need no handle of their own once each of their ports
/// has one: a bridge (with `Devices::bridge_ports`) whose ports are all among `targets`
/// and whose kernel counters can be read (they give its totals, and did so far if it was
/// counted before). A frame crosses a bridge only between one of its ports and the host's
/// stack or another port, so every frame on it is seen on a port's handle: capturing the
/// bridge as well cost the kernel one more copy of each (a container's traffic behind a
/// bridge and NAT was copied three times, on its port, the bridge and the egress device;
/// now twice). A bridge with no ports, a port that is down or not captured, or a port list
/// that cannot be read keeps its handle.
fn bridge_candidates(
    targets: &[String],
    devices: &dyn Devices,
    counters: &BTreeMap<String, InterfaceCounters>,
) -> Vec<(String, Vec<String>)> {
    targets
        .iter()
        .filter_map(|name| {
            let ports = devices.bridge_ports(name)?;
            let counted_by_kernel = counters
                .get(name)
                .is_none_or(|c| c.kernel.is_some() || c.sent_bytes + c.received_bytes == 0);
            let candidate = !ports.is_empty()
                && ports.iter().all(|port| targets.contains(port))
                && counted_by_kernel
                && devices.kernel_bytes(name).is_some();
            candidate.then(|| (name.clone(), ports))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened_at(now: (u64, u64)) -> KernelSpan {
        KernelSpan {
            base: now,
            latest: now,
            open: true,
            ..KernelSpan::default()
        }
    }

    #[test]
    fn a_span_counts_from_its_open_and_across_reopens() {
        let mut span = opened_at((1_000, 500));
        span.read((5_000, 700));
        assert_eq!(span.total(), (4_000, 200));
        // Closed, then opened again later: what passed meanwhile is not counted.
        span.open = false;
        span.reopen((9_000, 900));
        span.read((9_100, 950));
        assert_eq!(span.total(), (4_100, 250));
    }

    #[test]
    fn counters_that_go_down_start_a_new_span_and_keep_what_was_counted() {
        let mut span = opened_at((1_000, 1_000));
        span.read((3_000, 2_000));
        // The interface was deleted and re-created under the same name: zero again.
        span.read((40, 10));
        assert_eq!(span.total(), (2_040, 1_010));
        span.read((100, 20));
        assert_eq!(span.total(), (2_100, 1_020), "totals only grow");
    }
}
