//! Reads one Overview sample from the system: `/proc/net/dev`, `/proc/net/netstat`,
//! interface kinds from `/sys/class/net` (cached per name) and addresses.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use crate::models::interfaces::{self, InterfaceKind};
use crate::models::overview::Sample;
use crate::models::proc_net;

pub(super) struct Sampler {
    started: Instant,
    kinds: BTreeMap<String, InterfaceKind>,
}

impl Default for Sampler {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            kinds: BTreeMap::new(),
        }
    }
}

impl Sampler {
    /// A missing or unreadable file gives an empty part of the sample, not an error:
    /// the page then shows no interfaces or "Unknown" totals.
    pub(super) fn read(&mut self) -> Sample {
        let counters = std::fs::read_to_string("/proc/net/dev")
            .map(|t| proc_net::parse_net_dev(&t))
            .unwrap_or_default();
        let ip_totals = std::fs::read_to_string("/proc/net/netstat")
            .ok()
            .and_then(|t| proc_net::parse_ip_totals(&t));
        self.kinds
            .retain(|name, _| counters.iter().any(|c| &c.name == name));
        for c in &counters {
            if !self.kinds.contains_key(&c.name) {
                let facts = interfaces::read_facts(Path::new("/sys/class/net"), &c.name);
                self.kinds
                    .insert(c.name.clone(), interfaces::classify(&facts));
            }
        }
        Sample {
            time_s: self.started.elapsed().as_secs_f64(),
            counters,
            ip_totals,
            kinds: self.kinds.clone(),
            addresses: interfaces::addresses(),
        }
    }
}
