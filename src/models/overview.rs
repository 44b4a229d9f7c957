//! The Overview tab's model: from successive `/proc` samples to per-interface and
//! whole-machine rates and histories. Interfaces appear and disappear with the samples.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::interfaces::InterfaceKind;
use super::proc_net::{InterfaceCounters, IpTotals};
use super::rates::{rate, RateHistory};

/// How many samples the charts keep (five minutes at one per second).
pub const HISTORY_LEN: usize = 300;

/// One reading of the system, taken every refresh interval.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Seconds since an arbitrary fixed point (monotonic).
    pub time_s: f64,
    pub counters: Vec<InterfaceCounters>,
    pub ip_totals: Option<IpTotals>,
    pub kinds: BTreeMap<String, InterfaceKind>,
    pub addresses: BTreeMap<String, Vec<IpAddr>>,
}

/// One interface as the Overview shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct InterfaceState {
    pub name: String,
    pub kind: InterfaceKind,
    pub addresses: Vec<IpAddr>,
    /// Bytes per second received over the last interval.
    pub download_rate: f64,
    /// Bytes per second sent over the last interval.
    pub upload_rate: f64,
    /// Bytes received since boot.
    pub received: u64,
    /// Bytes sent since boot.
    pub sent: u64,
}

/// Which interfaces came and went with the last sample.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub appeared: Vec<String>,
    pub vanished: Vec<String>,
}

#[derive(Debug)]
pub struct OverviewModel {
    interfaces: BTreeMap<String, InterfaceState>,
    last_time_s: Option<f64>,
    machine_history: RateHistory,
    ip_totals: Option<IpTotals>,
}

impl Default for OverviewModel {
    fn default() -> Self {
        Self {
            interfaces: BTreeMap::new(),
            last_time_s: None,
            machine_history: RateHistory::new(HISTORY_LEN),
            ip_totals: None,
        }
    }
}

impl OverviewModel {
    /// Takes a new sample; rates are computed against the previous one.
    pub fn apply(&mut self, sample: Sample) -> Changes {
        let elapsed = self.last_time_s.map(|t| sample.time_s - t).unwrap_or(0.0);
        self.last_time_s = Some(sample.time_s);
        self.ip_totals = sample.ip_totals;

        let mut changes = Changes::default();
        let mut next = BTreeMap::new();
        for c in sample.counters {
            let kind = sample
                .kinds
                .get(&c.name)
                .copied()
                .unwrap_or(InterfaceKind::Other);
            let addresses = sample.addresses.get(&c.name).cloned().unwrap_or_default();
            let (download_rate, upload_rate) = match self.interfaces.get(&c.name) {
                Some(prev) => (
                    rate(prev.received, c.rx_bytes, elapsed),
                    rate(prev.sent, c.tx_bytes, elapsed),
                ),
                None => {
                    changes.appeared.push(c.name.clone());
                    (0.0, 0.0)
                }
            };
            next.insert(
                c.name.clone(),
                InterfaceState {
                    name: c.name,
                    kind,
                    addresses,
                    download_rate,
                    upload_rate,
                    received: c.rx_bytes,
                    sent: c.tx_bytes,
                },
            );
        }
        changes.vanished = self
            .interfaces
            .keys()
            .filter(|name| !next.contains_key(*name))
            .cloned()
            .collect();
        self.interfaces = next;

        let (down, up) = self.machine_rates();
        self.machine_history.push(down, up);
        changes
    }

    /// Interfaces sorted by name.
    pub fn interfaces(&self) -> impl Iterator<Item = &InterfaceState> {
        self.interfaces.values()
    }

    pub fn interface(&self, name: &str) -> Option<&InterfaceState> {
        self.interfaces.get(name)
    }

    /// The machine's (download, upload) bytes per second: the sum over physical interfaces,
    /// or over every interface but loopback when there is no physical one (containers).
    pub fn machine_rates(&self) -> (f64, f64) {
        let physical: Vec<&InterfaceState> = self
            .interfaces
            .values()
            .filter(|i| i.kind.is_physical())
            .collect();
        let counted: Vec<&InterfaceState> = if physical.is_empty() {
            self.interfaces
                .values()
                .filter(|i| i.kind != InterfaceKind::Loopback)
                .collect()
        } else {
            physical
        };
        counted.iter().fold((0.0, 0.0), |(d, u), i| {
            (d + i.download_rate, u + i.upload_rate)
        })
    }

    pub fn machine_history(&self) -> &RateHistory {
        &self.machine_history
    }

    /// The system's IP totals since boot, when `/proc/net/netstat` could be read.
    pub fn ip_totals(&self) -> Option<IpTotals> {
        self.ip_totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(name: &str, rx: u64, tx: u64) -> InterfaceCounters {
        InterfaceCounters {
            name: name.into(),
            rx_bytes: rx,
            rx_packets: 0,
            tx_bytes: tx,
            tx_packets: 0,
        }
    }

    fn sample(time_s: f64, counters: Vec<InterfaceCounters>) -> Sample {
        let kinds = counters
            .iter()
            .map(|c| {
                let kind = match c.name.as_str() {
                    "lo" => InterfaceKind::Loopback,
                    n if n.starts_with("veth") => InterfaceKind::Virtual,
                    _ => InterfaceKind::Ethernet,
                };
                (c.name.clone(), kind)
            })
            .collect();
        Sample {
            time_s,
            counters,
            kinds,
            ..Default::default()
        }
    }

    #[test]
    fn rates_come_from_the_difference_between_two_samples() {
        let mut model = OverviewModel::default();
        model.apply(sample(10.0, vec![counters("eth0", 1_000, 500)]));
        model.apply(sample(12.0, vec![counters("eth0", 5_000, 1_500)]));
        let eth0 = model.interface("eth0").unwrap();
        assert_eq!((eth0.download_rate, eth0.upload_rate), (2_000.0, 500.0));
        assert_eq!((eth0.received, eth0.sent), (5_000, 1_500));
    }

    #[test]
    fn interfaces_that_come_and_go_are_reported() {
        let mut model = OverviewModel::default();
        let first = model.apply(sample(
            0.0,
            vec![counters("lo", 0, 0), counters("eth0", 0, 0)],
        ));
        assert_eq!(first.appeared, vec!["lo".to_string(), "eth0".to_string()]);
        let second = model.apply(sample(
            1.0,
            vec![counters("eth0", 0, 0), counters("veth1", 9, 9)],
        ));
        assert_eq!(second.appeared, vec!["veth1".to_string()]);
        assert_eq!(second.vanished, vec!["lo".to_string()]);
        assert!(model.interface("lo").is_none());
        // A new interface has no rate yet, whatever its counters.
        assert_eq!(model.interface("veth1").unwrap().download_rate, 0.0);
    }

    #[test]
    fn machine_rate_counts_physical_interfaces_only() {
        let mut model = OverviewModel::default();
        model.apply(sample(
            0.0,
            vec![
                counters("lo", 0, 0),
                counters("eth0", 0, 0),
                counters("veth1", 0, 0),
            ],
        ));
        model.apply(sample(
            1.0,
            vec![
                counters("lo", 7_000, 7_000),
                counters("eth0", 100, 200),
                counters("veth1", 50, 50),
            ],
        ));
        assert_eq!(model.machine_rates(), (100.0, 200.0));
        assert_eq!(
            model.machine_history().samples().last(),
            Some((100.0, 200.0))
        );
    }

    #[test]
    fn without_a_physical_interface_everything_but_loopback_counts() {
        let mut model = OverviewModel::default();
        model.apply(sample(
            0.0,
            vec![counters("lo", 0, 0), counters("veth1", 0, 0)],
        ));
        model.apply(sample(
            1.0,
            vec![counters("lo", 9_000, 9_000), counters("veth1", 30, 40)],
        ));
        assert_eq!(model.machine_rates(), (30.0, 40.0));
    }

    #[test]
    fn a_counter_reset_is_not_a_negative_or_huge_rate() {
        let mut model = OverviewModel::default();
        model.apply(sample(0.0, vec![counters("eth0", 1_000_000, 1_000_000)]));
        model.apply(sample(1.0, vec![counters("eth0", 10, 10)]));
        assert_eq!(model.machine_rates(), (0.0, 0.0));
    }
}
