//! The Hosts view's model: the helper's `GetHosts` answer becomes one row per remote host
//! (its DNS name, else its address) with rates, totals, a rate history and the apps that
//! talked to it; plus search matching, the sort order, and the pids whose hosts match a
//! search (so the Processes view finds an app by the hosts it talks to).

use sockeye_protocol::Host;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::process_table::SPARKLINE_LEN;
use super::rates::RateHistory;

/// Everything a host row shows, with rates in bytes per second and totals in bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct HostData {
    /// The DNS name, else the first address: what the row stands for.
    pub key: String,
    /// The name from a DNS answer the helper saw; empty when none.
    pub name: String,
    /// A name found by a reverse lookup of the first address, for hosts without `name`.
    pub looked_up: Option<String>,
    /// Addresses without ports, as text.
    pub addresses: Vec<String>,
    pub download_rate: f64,
    pub upload_rate: f64,
    pub received: u64,
    pub sent: u64,
    /// The processes that talked to this host, ascending.
    pub pids: Vec<u32>,
    /// Names of the applications of `pids`, sorted, each once.
    pub apps: Vec<String>,
    pub history: RateHistory,
}

impl HostData {
    fn new(key: String) -> Self {
        Self {
            key,
            name: String::new(),
            looked_up: None,
            addresses: Vec::new(),
            download_rate: 0.0,
            upload_rate: 0.0,
            received: 0,
            sent: 0,
            pids: Vec::new(),
            apps: Vec::new(),
            history: RateHistory::new(SPARKLINE_LEN),
        }
    }

    /// The name to show: from DNS, else from a reverse lookup, else the address.
    pub fn title(&self) -> &str {
        if !self.name.is_empty() {
            &self.name
        } else if let Some(name) = &self.looked_up {
            name
        } else {
            &self.key
        }
    }

    /// The addresses, comma-separated ("192.0.2.1, 2001:db8::1").
    pub fn address_list(&self) -> String {
        self.addresses.join(", ")
    }

    /// Download plus upload, in bytes per second.
    pub fn total_rate(&self) -> f64 {
        self.download_rate + self.upload_rate
    }

    /// Whether a search for `query` (any case) finds this host: its names, an address or
    /// an app using it. An empty query finds everything.
    pub fn matches(&self, query: &str) -> bool {
        let query = query.trim().to_lowercase();
        query.is_empty()
            || self.names_match(&query)
            || self.apps.iter().any(|a| a.to_lowercase().contains(&query))
    }

    /// Whether `query` (trimmed, lower case, not empty) is part of a name or an address.
    fn names_match(&self, query: &str) -> bool {
        self.name.to_lowercase().contains(query)
            || self
                .looked_up
                .as_ref()
                .is_some_and(|n| n.to_lowercase().contains(query))
            || self
                .addresses
                .iter()
                .any(|a| a.to_lowercase().contains(query))
    }
}

/// The columns the Hosts view sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostColumn {
    Name,
    Apps,
    Download,
    Upload,
    Received,
    Sent,
    /// Download plus upload rate (the default, descending).
    TotalRate,
}

/// Ascending order of two hosts by `column`; ties are broken by bytes, then title, then
/// key, so the order is stable from one update to the next.
pub fn compare(a: &HostData, b: &HostData, column: HostColumn) -> Ordering {
    let primary = match column {
        HostColumn::Name => a.title().to_lowercase().cmp(&b.title().to_lowercase()),
        HostColumn::Apps => a
            .apps
            .join(", ")
            .to_lowercase()
            .cmp(&b.apps.join(", ").to_lowercase()),
        HostColumn::Download => a.download_rate.total_cmp(&b.download_rate),
        HostColumn::Upload => a.upload_rate.total_cmp(&b.upload_rate),
        HostColumn::Received => a.received.cmp(&b.received),
        HostColumn::Sent => a.sent.cmp(&b.sent),
        HostColumn::TotalRate => a.total_rate().total_cmp(&b.total_rate()),
    };
    primary
        .then_with(|| (a.received + a.sent).cmp(&(b.received + b.sent)))
        .then_with(|| a.title().to_lowercase().cmp(&b.title().to_lowercase()))
        .then_with(|| a.key.cmp(&b.key))
}

/// What changed with a `GetHosts` answer, so the view touches only those rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostChanges {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    /// Hosts the helper no longer lists (totals were reset).
    pub removed: Vec<String>,
}

/// The hosts of the capture, keyed by [`HostData::key`].
#[derive(Debug, Default)]
pub struct HostTable {
    hosts: BTreeMap<String, HostData>,
    /// Reverse-lookup names by address, kept across answers (a host may leave and return).
    looked_up: HashMap<String, String>,
}

impl HostTable {
    /// Takes the helper's list of hosts (all of them, each time); `app_of` names the
    /// application of a pid, if the process table knows it.
    pub fn apply(&mut self, hosts: &[Host], app_of: &dyn Fn(u32) -> Option<String>) -> HostChanges {
        let mut changes = HostChanges::default();
        let mut seen = HashSet::with_capacity(hosts.len());
        for host in hosts {
            let key = if host.name.is_empty() {
                match host.addresses.first() {
                    Some(address) => address.clone(),
                    None => continue,
                }
            } else {
                host.name.clone()
            };
            if !seen.insert(key.clone()) {
                continue;
            }
            let data = self.hosts.entry(key.clone()).or_insert_with(|| {
                changes.added.push(key.clone());
                HostData::new(key.clone())
            });
            if changes.added.last() != Some(&key) {
                changes.updated.push(key.clone());
            }
            data.name.clone_from(&host.name);
            data.addresses.clone_from(&host.addresses);
            data.looked_up = if host.name.is_empty() {
                self.looked_up.get(&key).cloned()
            } else {
                None
            };
            data.download_rate = finite(host.received_rate);
            data.upload_rate = finite(host.sent_rate);
            data.received = host.received_bytes;
            data.sent = host.sent_bytes;
            data.pids.clone_from(&host.pids);
            let mut apps: Vec<String> = host.pids.iter().filter_map(|p| app_of(*p)).collect();
            apps.sort_by_key(|a| a.to_lowercase());
            apps.dedup();
            data.apps = apps;
            data.history.push(data.download_rate, data.upload_rate);
        }
        self.hosts.retain(|key, _| {
            let keep = seen.contains(key);
            if !keep {
                changes.removed.push(key.clone());
            }
            keep
        });
        changes
    }

    /// Records the name a reverse lookup found for `address`; returns the key of the host
    /// whose title changed, if any.
    pub fn set_looked_up(&mut self, address: &str, name: &str) -> Option<String> {
        self.looked_up.insert(address.to_owned(), name.to_owned());
        let host = self.hosts.get_mut(address)?;
        if !host.name.is_empty() || host.looked_up.as_deref() == Some(name) {
            return None;
        }
        host.looked_up = Some(name.to_owned());
        Some(host.key.clone())
    }

    /// The first address of each host the helper has no name for.
    pub fn unnamed_addresses(&self) -> impl Iterator<Item = &str> {
        self.hosts
            .values()
            .filter(|h| h.name.is_empty() && h.looked_up.is_none())
            .filter_map(|h| h.addresses.first().map(String::as_str))
    }

    /// The pids of the hosts whose name or address contains `query` (any case): the
    /// processes a search finds by the hosts they talk to. Empty for an empty query.
    pub fn pids_matching(&self, query: &str) -> HashSet<u32> {
        let query = query.trim().to_lowercase();
        if query.is_empty() {
            return HashSet::new();
        }
        self.hosts
            .values()
            .filter(|h| h.names_match(&query))
            .flat_map(|h| h.pids.iter().copied())
            .collect()
    }

    pub fn host(&self, key: &str) -> Option<&HostData> {
        self.hosts.get(key)
    }

    pub fn hosts(&self) -> impl Iterator<Item = &HostData> {
        self.hosts.values()
    }
}

fn finite(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 {
        v
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, addresses: &[&str], received: u64, rate: f64, pids: &[u32]) -> Host {
        Host {
            name: name.into(),
            addresses: addresses.iter().map(|a| (*a).to_owned()).collect(),
            sent_bytes: received / 10,
            received_bytes: received,
            sent_rate: rate / 10.0,
            received_rate: rate,
            pids: pids.to_vec(),
        }
    }

    fn apps(pid: u32) -> Option<String> {
        match pid {
            1 | 2 => Some("Firefox".into()),
            3 => Some("Evolution".into()),
            _ => None,
        }
    }

    fn sorted(table: &HostTable, column: HostColumn) -> Vec<String> {
        let mut hosts: Vec<&HostData> = table.hosts().collect();
        hosts.sort_by(|a, b| compare(b, a, column));
        hosts.iter().map(|h| h.title().to_owned()).collect()
    }

    #[test]
    fn a_host_without_a_name_is_keyed_and_titled_by_its_address() {
        let mut table = HostTable::default();
        let changes = table.apply(
            &[
                host("github.com", &["192.0.2.1", "192.0.2.2"], 100, 1.0, &[1]),
                host("", &["2001:db8::5"], 50, 1.0, &[3]),
                host("", &[], 10, 1.0, &[3]),
            ],
            &apps,
        );
        assert_eq!(
            changes.added,
            ["github.com", "2001:db8::5"],
            "no address, no row"
        );
        let unnamed = table.host("2001:db8::5").expect("unnamed host");
        assert_eq!(unnamed.title(), "2001:db8::5");
        assert_eq!(
            table
                .host("github.com")
                .map(|h| h.address_list())
                .as_deref(),
            Some("192.0.2.1, 192.0.2.2")
        );
        assert_eq!(
            table.unnamed_addresses().collect::<Vec<_>>(),
            ["2001:db8::5"]
        );
    }

    #[test]
    fn hosts_list_their_apps_once_each_by_name() {
        let mut table = HostTable::default();
        table.apply(
            &[host("matrix.org", &["192.0.2.3"], 1, 1.0, &[1, 2, 3, 99])],
            &apps,
        );
        assert_eq!(
            table.host("matrix.org").map(|h| h.apps.clone()),
            Some(vec!["Evolution".into(), "Firefox".into()])
        );
    }

    #[test]
    fn hosts_sort_by_each_column_with_ties_broken_by_bytes_then_name() {
        let mut table = HostTable::default();
        table.apply(
            &[
                host("b.example", &["192.0.2.1"], 300, 5.0, &[3]),
                host("a.example", &["192.0.2.2"], 100, 50.0, &[1]),
                host("c.example", &["192.0.2.3"], 200, 5.0, &[1]),
            ],
            &apps,
        );
        assert_eq!(
            sorted(&table, HostColumn::Received),
            ["b.example", "c.example", "a.example"]
        );
        assert_eq!(
            sorted(&table, HostColumn::TotalRate),
            ["a.example", "b.example", "c.example"],
            "equal rates: more bytes first"
        );
        assert_eq!(
            sorted(&table, HostColumn::Name),
            ["c.example", "b.example", "a.example"],
            "descending"
        );
        assert_eq!(
            sorted(&table, HostColumn::Apps)[0],
            "c.example",
            "Firefox after Evolution"
        );
    }

    #[test]
    fn a_search_finds_hosts_by_name_address_looked_up_name_or_app() {
        let mut table = HostTable::default();
        table.apply(
            &[
                host("fonts.gstatic.com", &["192.0.2.1"], 1, 1.0, &[1]),
                host("", &["198.51.100.7"], 1, 1.0, &[3]),
            ],
            &apps,
        );
        let found = |table: &HostTable, q: &str| -> Vec<String> {
            table
                .hosts()
                .filter(|h| h.matches(q))
                .map(|h| h.key.clone())
                .collect()
        };
        assert_eq!(found(&table, "GSTATIC"), ["fonts.gstatic.com"]);
        assert_eq!(found(&table, "198.51"), ["198.51.100.7"]);
        assert_eq!(found(&table, "evolution"), ["198.51.100.7"]);
        assert_eq!(found(&table, ""), ["198.51.100.7", "fonts.gstatic.com"]);
        assert!(found(&table, "nowhere").is_empty());
        assert_eq!(
            table
                .set_looked_up("198.51.100.7", "mail.example.net")
                .as_deref(),
            Some("198.51.100.7")
        );
        assert_eq!(found(&table, "mail.example"), ["198.51.100.7"]);
        assert_eq!(
            table.host("198.51.100.7").map(HostData::title),
            Some("mail.example.net")
        );
        assert_eq!(
            table.unnamed_addresses().count(),
            0,
            "looked up: not asked again"
        );
    }

    #[test]
    fn processes_match_a_search_by_the_names_of_their_hosts() {
        let mut table = HostTable::default();
        table.apply(
            &[
                host("github.com", &["192.0.2.1"], 1, 1.0, &[1, 2]),
                host("matrix.org", &["192.0.2.2"], 1, 1.0, &[3]),
            ],
            &apps,
        );
        assert_eq!(table.pids_matching("hub"), HashSet::from([1, 2]));
        assert_eq!(table.pids_matching("192.0.2.2"), HashSet::from([3]));
        assert!(
            table.pids_matching("  ").is_empty(),
            "an empty search marks no process"
        );
        assert!(
            table.pids_matching("firefox").is_empty(),
            "app names are the process table's to match"
        );
    }

    #[test]
    fn a_host_the_helper_drops_is_removed_and_a_looked_up_name_survives_its_return() {
        let mut table = HostTable::default();
        table.apply(&[host("", &["192.0.2.9"], 1, 1.0, &[1])], &apps);
        table.set_looked_up("192.0.2.9", "peer.example.org");
        let changes = table.apply(&[], &apps);
        assert_eq!(changes.removed, ["192.0.2.9"]);
        assert_eq!(table.hosts().count(), 0);
        let changes = table.apply(&[host("", &["192.0.2.9"], 1, 1.0, &[1])], &apps);
        assert_eq!(changes.added, ["192.0.2.9"]);
        assert_eq!(
            table.host("192.0.2.9").map(HostData::title),
            Some("peer.example.org")
        );
    }

    #[test]
    fn rates_that_are_not_finite_show_as_zero() {
        let mut table = HostTable::default();
        table.apply(
            &[host("x.example", &["192.0.2.1"], 1, f64::NAN, &[])],
            &apps,
        );
        assert_eq!(table.host("x.example").map(|h| h.download_rate), Some(0.0));
    }
}
