//! The exported counters, fed one engine snapshot per interval and rendered for a scrape.
//!
//! The engine's totals are cumulative per process (per pid), per interface and per
//! protocol. Each interval adds what they *grew* by to the counters here: a total that went
//! down (the pid's entry was replaced, totals were reset) counts as having started again
//! from zero, so no exported counter ever goes down. Counters live as long as the process
//! that holds this registry. Only pids in the latest snapshot are remembered.

use crate::app_key::{app_key, AppKey, Executables, OTHER};
use crate::exposition::{Family, Format, Kind, Writer};
use crate::top_series::{add, Delta, FastMap, TopSeries};
use sockeye_engine::{Snapshot, Transport};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Interfaces with series of their own; the rest (containers' veth pairs come and go by
/// the thousand on some hosts) are summed in `interface="other"`.
pub const MAX_INTERFACES: usize = 64;

const APP_BYTES: Family = Family {
    name: "sockeye_app_network_bytes",
    kind: Kind::Counter,
    unit: Some("bytes"),
    help: "Bytes each application sent and received, per user, as captured on the wire. \
           app is the app id, else the executable path (the process name when it exited \
           too soon); applications outside the top N by recent traffic are summed in \
           app=\"other\".",
};
const INTERFACE_BYTES: Family = Family {
    name: "sockeye_interface_bytes",
    kind: Kind::Counter,
    unit: Some("bytes"),
    help: "Bytes sent and received on each network interface, as captured.",
};
const UNATTRIBUTED_BYTES: Family = Family {
    name: "sockeye_unattributed_bytes",
    kind: Kind::Counter,
    unit: Some("bytes"),
    help: "Captured bytes that matched no process's socket, by transport protocol.",
};
const DROPPED_PACKETS: Family = Family {
    name: "sockeye_capture_dropped_packets",
    kind: Kind::Counter,
    unit: None,
    help: "Packets the kernel or libpcap dropped before the recorder could count them.",
};
const UP: Family = Family {
    name: "sockeye_recorder_up",
    kind: Kind::Gauge,
    unit: None,
    help: "1 while the recorder captures packets; 0 before its first interval and after \
           its capture failed.",
};
const BUILD: Family = Family {
    name: "sockeye_build",
    kind: Kind::Info,
    unit: None,
    help: "The version of Sockeye serving these metrics.",
};

/// What the registry remembers of one pid: its key and the totals last seen.
#[derive(Debug)]
struct SeenProcess {
    /// Details the key was made from; when they change, the pid is someone else now (or
    /// the engine learnt its app id) and the key is made again.
    name: String,
    uid: u32,
    user: String,
    app_id: Option<String>,
    key: AppKey,
    /// Sent and received bytes.
    totals: [u64; 2],
    /// The observation it was last in.
    generation: u64,
}

/// Every counter this exporter serves.
#[derive(Debug)]
pub struct Registry {
    executables: Executables,
    /// (application, user) → sent, received.
    apps: TopSeries<AppKey, 2>,
    /// `app="other"` per user → sent, received; at most `top_apps` users, the rest in
    /// `user="other"`.
    other_apps: BTreeMap<Arc<str>, [u64; 2]>,
    other_users_limit: usize,
    /// Interface → sent, received, dropped packets.
    interfaces: TopSeries<Arc<str>, 3>,
    other_interfaces: [u64; 3],
    /// Per protocol (tcp, udp, icmp, other, tunnel) → sent, received.
    unattributed: [[u64; 2]; 5],
    up: bool,
    processes: FastMap<u32, SeenProcess>,
    interface_totals: FastMap<String, [u64; 3]>,
    unattributed_totals: [[u64; 2]; 5],
    generation: u64,
}

impl Registry {
    /// An empty registry naming at most `top_apps` (application, user) pairs, reading
    /// executables under `proc_root`.
    pub fn new(top_apps: usize, proc_root: impl Into<std::path::PathBuf>) -> Self {
        Self {
            executables: Executables::new(proc_root),
            apps: TopSeries::new(top_apps),
            other_apps: BTreeMap::new(),
            other_users_limit: top_apps.max(1),
            interfaces: TopSeries::new(MAX_INTERFACES),
            other_interfaces: [0; 3],
            unattributed: [[0; 2]; 5],
            up: false,
            processes: FastMap::default(),
            interface_totals: FastMap::default(),
            unattributed_totals: [[0; 2]; 5],
            generation: 0,
        }
    }

    /// Adds what the snapshot's totals grew by since the previous one.
    pub fn observe(&mut self, snapshot: &Snapshot) {
        self.up = true;
        self.generation += 1;
        let elapsed_s = f64::from(snapshot.interval_ms) / 1000.0;
        self.observe_processes(snapshot, elapsed_s);
        self.observe_interfaces(snapshot, elapsed_s);
        for stats in &snapshot.unattributed {
            let i = protocol_index(stats.protocol);
            let now = [stats.sent_bytes, stats.received_bytes];
            let grown = grown(&self.unattributed_totals[i], &now);
            self.unattributed_totals[i] = now;
            add(&mut self.unattributed[i], &grown);
        }
    }

    /// The capture ended with an error: `sockeye_recorder_up` reads 0 until the next
    /// snapshot.
    pub fn capture_failed(&mut self) {
        self.up = false;
    }

    fn observe_processes(&mut self, snapshot: &Snapshot, elapsed_s: f64) {
        let mut per_key: FastMap<AppKey, [u64; 2]> = FastMap::default();
        for process in &snapshot.processes {
            let now = [process.sent_bytes, process.received_bytes];
            let seen = self
                .processes
                .entry(process.pid)
                .or_insert_with(|| SeenProcess {
                    name: process.name.clone(),
                    uid: process.uid,
                    user: process.user.clone(),
                    app_id: process.app_id.clone(),
                    key: app_key(process, &self.executables),
                    totals: [0; 2],
                    generation: self.generation,
                });
            if seen.name != process.name
                || seen.uid != process.uid
                || seen.user != process.user
                || seen.app_id != process.app_id
            {
                seen.name.clone_from(&process.name);
                seen.uid = process.uid;
                seen.user.clone_from(&process.user);
                seen.app_id.clone_from(&process.app_id);
                seen.key = app_key(process, &self.executables);
            }
            let grown = grown(&seen.totals, &now);
            seen.totals = now;
            seen.generation = self.generation;
            if grown != [0; 2] {
                add(per_key.entry(seen.key.clone()).or_default(), &grown);
            }
        }
        let generation = self.generation;
        self.processes
            .retain(|_, seen| seen.generation == generation);
        let mut deltas = Vec::with_capacity(per_key.len());
        let mut other = Vec::new();
        for (key, counters) in per_key {
            if &*key.app == OTHER {
                other.push((key, counters));
            } else {
                deltas.push(Delta {
                    weight: counters[0].saturating_add(counters[1]),
                    key,
                    counters,
                });
            }
        }
        other.extend(self.apps.observe(deltas, elapsed_s));
        for (key, counters) in other {
            let user = if self.other_apps.contains_key(&key.user)
                || self.other_apps.len() < self.other_users_limit
            {
                key.user
            } else {
                Arc::from(OTHER)
            };
            add(self.other_apps.entry(user).or_default(), &counters);
        }
    }

    fn observe_interfaces(&mut self, snapshot: &Snapshot, elapsed_s: f64) {
        let mut deltas = Vec::new();
        let mut seen = FastMap::default();
        for stats in &snapshot.interfaces {
            let now = [stats.sent_bytes, stats.received_bytes, stats.dropped];
            let before = self
                .interface_totals
                .get(&stats.name)
                .copied()
                .unwrap_or_default();
            let grown = grown(&before, &now);
            seen.insert(stats.name.clone(), now);
            if grown == [0; 3] {
                continue;
            }
            if stats.name == OTHER {
                add(&mut self.other_interfaces, &grown);
            } else {
                deltas.push(Delta {
                    key: Arc::from(stats.name.as_str()),
                    counters: grown,
                    weight: grown[0].saturating_add(grown[1]),
                });
            }
        }
        self.interface_totals = seen;
        for (_, counters) in self.interfaces.observe(deltas, elapsed_s) {
            add(&mut self.other_interfaces, &counters);
        }
    }

    /// The exposition of every series, in `format`.
    pub fn render(&self, format: Format) -> String {
        let mut w = Writer::new(format);
        w.family(&APP_BYTES);
        let others = self.other_apps.iter().map(|(user, c)| (OTHER, &**user, c));
        let named = self.apps.named().map(|(k, c)| (&*k.app, &*k.user, c));
        for (app, user, [sent, received]) in named.chain(others) {
            for (direction, value) in [("sent", *sent), ("received", *received)] {
                w.sample(
                    &[("app", app), ("user", user), ("direction", direction)],
                    value,
                );
            }
        }
        let interfaces: Vec<(&str, &[u64; 3])> = self
            .interfaces
            .named()
            .map(|(name, c)| (&**name, c))
            .chain((self.other_interfaces != [0; 3]).then_some((OTHER, &self.other_interfaces)))
            .collect();
        w.family(&INTERFACE_BYTES);
        for (interface, [sent, received, _]) in &interfaces {
            for (direction, value) in [("sent", *sent), ("received", *received)] {
                w.sample(&[("interface", interface), ("direction", direction)], value);
            }
        }
        w.family(&UNATTRIBUTED_BYTES);
        for (protocol, [sent, received]) in PROTOCOLS.iter().zip(&self.unattributed) {
            for (direction, value) in [("sent", *sent), ("received", *received)] {
                w.sample(&[("protocol", protocol), ("direction", direction)], value);
            }
        }
        w.family(&DROPPED_PACKETS);
        for (interface, [_, _, dropped]) in &interfaces {
            w.sample(&[("interface", interface)], *dropped);
        }
        w.family(&UP);
        w.sample(&[], u64::from(self.up));
        w.family(&BUILD);
        w.sample(&[("version", env!("CARGO_PKG_VERSION"))], 1);
        w.finish()
    }

    /// How many series `sockeye_app_network_bytes_total` has now.
    pub fn app_series(&self) -> usize {
        2 * (self.apps.len() + self.other_apps.len())
    }
}

/// The `protocol` label of each unattributed bucket, by [`protocol_index`].
const PROTOCOLS: [&str; 5] = ["tcp", "udp", "icmp", "other", "tunnel"];

fn protocol_index(protocol: Transport) -> usize {
    match protocol {
        Transport::Tcp => 0,
        Transport::Udp => 1,
        Transport::Icmp => 2,
        Transport::Other => 3,
        Transport::Tunnel => 4,
    }
}

/// What each total grew by since `before`; a total below its earlier value started
/// again from zero, so all of it is new.
fn grown<const N: usize>(before: &[u64; N], now: &[u64; N]) -> [u64; N] {
    let mut out = [0; N];
    for i in 0..N {
        out[i] = now[i].checked_sub(before[i]).unwrap_or(now[i]);
    }
    out
}

#[cfg(test)]
mod tests;
