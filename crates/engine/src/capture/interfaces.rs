//! The open frame sources (pcap handles), one per interface, with per-interface byte
//! counts and drop counters; follows interfaces that appear and disappear.

use super::source::{Devices, FrameSource};
use crate::{EngineError, InterfaceStats};
use std::collections::BTreeMap;
use std::os::fd::BorrowedFd;

/// An open source.
pub struct Handle {
    pub name: String,
    pub source: Box<dyn FrameSource>,
}

/// Counts of one interface, kept after its handle closes (totals are since start).
#[derive(Debug, Default, Clone)]
pub struct InterfaceCounters {
    pub sent_bytes: u64,
    pub received_bytes: u64,
    /// Drops of handles closed earlier on this interface.
    pub dropped_before: u64,
    /// Drops of the current handle, as of the last `stats()`.
    pub dropped_now: u64,
    /// Drops counted before the last reset.
    pub dropped_at_reset: u64,
}

impl InterfaceCounters {
    fn dropped(&self) -> u64 {
        self.dropped_before
            .saturating_add(self.dropped_now)
            .saturating_sub(self.dropped_at_reset)
    }
}

/// The set of handles and their counters.
pub struct Interfaces {
    devices: Box<dyn Devices>,
    pub handles: Vec<Handle>,
    pub counters: BTreeMap<String, InterfaceCounters>,
    /// Interfaces asked for by name; empty means every capturable interface that is up.
    wanted: Vec<String>,
}

impl Interfaces {
    pub fn new(devices: Box<dyn Devices>, wanted: Vec<String>) -> Self {
        Self {
            devices,
            handles: Vec::new(),
            counters: BTreeMap::new(),
            wanted,
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
        for name in &targets {
            if self.handles.iter().any(|h| &h.name == name) {
                continue;
            }
            match self.devices.open(name) {
                Ok(source) => {
                    self.counters.entry(name.clone()).or_default();
                    self.handles.push(Handle {
                        name: name.clone(),
                        source,
                    });
                }
                Err(error) => {
                    first_error.get_or_insert((name.clone(), error));
                }
            }
        }
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

    /// Closes the handle on `name` (the interface went away or failed), keeping its drops.
    pub fn close(&mut self, name: &str) {
        self.read_drops();
        self.handles.retain(|h| h.name != name);
        if let Some(counters) = self.counters.get_mut(name) {
            counters.dropped_before = counters.dropped_before.saturating_add(counters.dropped_now);
            counters.dropped_now = 0;
        }
    }

    /// Reads the drop counters (kernel and interface drops) of every open handle.
    pub fn read_drops(&mut self) {
        for handle in &mut self.handles {
            if let Some(dropped) = handle.source.dropped() {
                if let Some(counters) = self.counters.get_mut(&handle.name) {
                    counters.dropped_now = dropped;
                }
            }
        }
    }

    /// Per-interface statistics, by name.
    pub fn stats(&self) -> Vec<InterfaceStats> {
        self.counters
            .iter()
            .map(|(name, c)| InterfaceStats {
                name: name.clone(),
                sent_bytes: c.sent_bytes,
                received_bytes: c.received_bytes,
                dropped: c.dropped(),
            })
            .collect()
    }

    /// Zeroes the byte counts and takes the current drops as the new zero.
    pub fn reset_totals(&mut self) {
        self.read_drops();
        for counters in self.counters.values_mut() {
            counters.sent_bytes = 0;
            counters.received_bytes = 0;
            counters.dropped_at_reset =
                counters.dropped_before.saturating_add(counters.dropped_now);
        }
    }

    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> + '_ {
        self.handles.iter().map(|h| h.source.poll_fd())
    }
}
