//! The Network table's model: helper updates become process rows (keyed by pid),
//! unattributed rows ("Unknown TCP" …) and, when grouping, application rows summing their
//! processes. Also the header line's figures, search matching and the sort order.

use gettextrs::gettext;
use sockeye_protocol::Update;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use super::rates::{rate, RateHistory};

/// Samples in a row's sparkline (one minute at one per second).
pub const SPARKLINE_LEN: usize = 60;

/// What a row stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowKey {
    Process(u32),
    /// Traffic that matched no socket, by protocol (`tcp`, `udp`, `icmp`, `other`).
    Unattributed(String),
    /// An application: its app id, or `process:<name>` for processes without one.
    Application(String),
}

/// Everything a row shows, with rates in bytes per second and totals in bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct RowData {
    pub key: RowKey,
    /// Application name, process name or "Unknown TCP".
    pub title: String,
    pub app_id: String,
    pub pid: Option<u32>,
    pub user: String,
    pub cmdline: String,
    pub exited: bool,
    pub download_rate: f64,
    pub upload_rate: f64,
    pub received: u64,
    pub sent: u64,
    pub history: RateHistory,
    /// For application rows: how many processes are beneath.
    pub process_count: usize,
}

impl RowData {
    fn new(key: RowKey, title: String) -> Self {
        Self {
            key,
            title,
            app_id: String::new(),
            pid: None,
            user: String::new(),
            cmdline: String::new(),
            exited: false,
            download_rate: 0.0,
            upload_rate: 0.0,
            received: 0,
            sent: 0,
            history: RateHistory::new(SPARKLINE_LEN),
            process_count: 0,
        }
    }

    /// Download plus upload, in bytes per second.
    pub fn total_rate(&self) -> f64 {
        self.download_rate + self.upload_rate
    }

    /// Has not sent or received anything since capture started (or totals were reset).
    pub fn is_idle(&self) -> bool {
        self.received == 0 && self.sent == 0
    }

    /// Whether a search for `query` (any case) finds this row: name, pid, user or command
    /// line. An empty query finds everything.
    pub fn matches(&self, query: &str) -> bool {
        let query = query.trim();
        if query.is_empty() {
            return true;
        }
        let query = query.to_lowercase();
        self.title.to_lowercase().contains(&query)
            || self.app_id.to_lowercase().contains(&query)
            || self.pid.is_some_and(|p| p.to_string() == query)
            || self.user.to_lowercase() == query
            || self.cmdline.to_lowercase().contains(&query)
    }

    /// "1234 · alice · /usr/bin/foo --bar" for processes; a description otherwise.
    pub fn subtitle(&self) -> String {
        match &self.key {
            RowKey::Process(pid) => {
                let mut parts = vec![pid.to_string()];
                if !self.user.is_empty() {
                    parts.push(self.user.clone());
                }
                if !self.cmdline.is_empty() {
                    parts.push(self.cmdline.clone());
                }
                parts.join(" · ")
            }
            RowKey::Unattributed(_) => gettext("Traffic that matched no socket"),
            RowKey::Application(_) => gettextrs::ngettext(
                "{} process",
                "{} processes",
                u32::try_from(self.process_count).unwrap_or(u32::MAX),
            )
            .replacen("{} ", &format!("{} ", self.process_count), 1),
        }
    }
}

/// The columns the table sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortColumn {
    Name,
    Download,
    Upload,
    Received,
    Sent,
    /// Download plus upload rate (the default, descending).
    TotalRate,
}

/// Ascending order of two rows by `column`; ties are broken by name, then key, so the order
/// is stable from one update to the next.
pub fn compare(a: &RowData, b: &RowData, column: SortColumn) -> Ordering {
    let primary = match column {
        SortColumn::Name => Ordering::Equal,
        SortColumn::Download => a.download_rate.total_cmp(&b.download_rate),
        SortColumn::Upload => a.upload_rate.total_cmp(&b.upload_rate),
        SortColumn::Received => a.received.cmp(&b.received),
        SortColumn::Sent => a.sent.cmp(&b.sent),
        SortColumn::TotalRate => a.total_rate().total_cmp(&b.total_rate()),
    };
    primary
        .then_with(|| a.title.to_lowercase().cmp(&b.title.to_lowercase()))
        .then_with(|| a.key.cmp(&b.key))
}

/// The header line's figures.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    /// Bytes per second, all rows.
    pub download_rate: f64,
    pub upload_rate: f64,
    /// Attributed bytes / (attributed + unattributed bytes); `None` before any traffic.
    pub attributed_share: Option<f64>,
    /// Packets pcap dropped, all interfaces.
    pub dropped: u64,
}

/// What changed with an update, so the view touches only those rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub added: Vec<RowKey>,
    pub updated: Vec<RowKey>,
}

/// Finds an application's display name from its app id (desktop file), if any.
pub type AppNames<'a> = &'a dyn Fn(&str) -> Option<String>;

#[derive(Debug, Default)]
pub struct ProcessTable {
    processes: BTreeMap<u32, RowData>,
    unattributed: BTreeMap<String, RowData>,
    summary: Summary,
}

impl ProcessTable {
    /// Takes one interval's update. Processes missing from it are kept, marked exited.
    pub fn apply(&mut self, update: &Update) -> Changes {
        let mut changes = Changes::default();
        let mut seen = Vec::with_capacity(update.processes.len());
        for p in &update.processes {
            seen.push(p.pid);
            let key = RowKey::Process(p.pid);
            let row = self.processes.entry(p.pid).or_insert_with(|| {
                changes.added.push(key.clone());
                RowData::new(key.clone(), String::new())
            });
            if !changes.added.contains(&key) {
                changes.updated.push(key);
            }
            row.title = if p.name.is_empty() {
                gettext("Process {}").replacen("{}", &p.pid.to_string(), 1)
            } else {
                p.name.clone()
            };
            row.app_id = p.app_id.clone();
            row.pid = Some(p.pid);
            row.user = p.user.clone();
            row.cmdline = p.cmdline.clone();
            row.exited = p.exited;
            row.download_rate = finite(p.received_rate);
            row.upload_rate = finite(p.sent_rate);
            row.received = p.received_bytes;
            row.sent = p.sent_bytes;
            row.history.push(row.download_rate, row.upload_rate);
        }
        seen.sort_unstable();
        for (pid, row) in self.processes.iter_mut() {
            if seen.binary_search(pid).is_err() {
                row.exited = true;
                row.download_rate = 0.0;
                row.upload_rate = 0.0;
                row.history.push(0.0, 0.0);
                changes.updated.push(row.key.clone());
            }
        }

        let elapsed_s = f64::from(update.interval_ms.max(1)) / 1000.0;
        for u in &update.unattributed {
            let key = RowKey::Unattributed(u.protocol.clone());
            let row = self
                .unattributed
                .entry(u.protocol.clone())
                .or_insert_with(|| {
                    changes.added.push(key.clone());
                    RowData::new(key.clone(), unattributed_title(&u.protocol))
                });
            if !changes.added.contains(&key) {
                changes.updated.push(key);
            }
            row.download_rate = rate(row.received, u.received_bytes, elapsed_s);
            row.upload_rate = rate(row.sent, u.sent_bytes, elapsed_s);
            row.received = u.received_bytes;
            row.sent = u.sent_bytes;
            row.history.push(row.download_rate, row.upload_rate);
        }

        let attributed: u64 = self.processes.values().map(|r| r.received + r.sent).sum();
        let unattributed: u64 = self
            .unattributed
            .values()
            .map(|r| r.received + r.sent)
            .sum();
        let all_rows = self.processes.values().chain(self.unattributed.values());
        let (download_rate, upload_rate) = all_rows.fold((0.0, 0.0), |(d, u), r| {
            (d + r.download_rate, u + r.upload_rate)
        });
        self.summary = Summary {
            download_rate,
            upload_rate,
            attributed_share: (attributed + unattributed > 0)
                .then(|| attributed as f64 / (attributed + unattributed) as f64),
            dropped: update.interfaces.iter().map(|i| i.dropped).sum(),
        };
        changes
    }

    /// Forgets exited processes; returns the keys of the removed rows.
    pub fn clear_exited(&mut self) -> Vec<RowKey> {
        let gone: Vec<u32> = self
            .processes
            .values()
            .filter(|r| r.exited)
            .filter_map(|r| r.pid)
            .collect();
        for pid in &gone {
            self.processes.remove(pid);
        }
        gone.into_iter().map(RowKey::Process).collect()
    }

    pub fn row(&self, key: &RowKey) -> Option<&RowData> {
        match key {
            RowKey::Process(pid) => self.processes.get(pid),
            RowKey::Unattributed(proto) => self.unattributed.get(proto),
            RowKey::Application(_) => None,
        }
    }

    pub fn processes(&self) -> impl Iterator<Item = &RowData> {
        self.processes.values()
    }

    pub fn unattributed(&self) -> impl Iterator<Item = &RowData> {
        self.unattributed.values()
    }

    pub fn summary(&self) -> Summary {
        self.summary
    }

    /// pid → (bytes sent, bytes received): the seed-compatible `GetStats` answer.
    pub fn stats(&self) -> HashMap<u32, (u64, u64)> {
        self.processes
            .iter()
            .map(|(pid, r)| (*pid, (r.sent, r.received)))
            .collect()
    }

    /// Application rows: processes grouped by app id (or by name when they have none),
    /// with summed rates, totals and histories; their members' pids sorted.
    pub fn applications(&self, app_names: AppNames) -> BTreeMap<String, (RowData, Vec<u32>)> {
        let mut groups: BTreeMap<String, Vec<&RowData>> = BTreeMap::new();
        for row in self.processes.values() {
            groups.entry(group_key(row)).or_default().push(row);
        }
        groups
            .into_iter()
            .map(|(key, members)| {
                let first = members[0];
                let title = if first.app_id.is_empty() {
                    first.title.clone()
                } else {
                    app_names(&first.app_id).unwrap_or_else(|| first.app_id.clone())
                };
                let mut row = RowData::new(RowKey::Application(key.clone()), title);
                row.app_id = first.app_id.clone();
                row.user = first.user.clone();
                row.process_count = members.len();
                row.exited = members.iter().all(|m| m.exited);
                for m in &members {
                    row.download_rate += m.download_rate;
                    row.upload_rate += m.upload_rate;
                    row.received += m.received;
                    row.sent += m.sent;
                }
                row.history = RateHistory::sum(SPARKLINE_LEN, members.iter().map(|m| &m.history));
                let pids = members.iter().filter_map(|m| m.pid).collect();
                (key, (row, pids))
            })
            .collect()
    }
}

/// The application a process row belongs to.
pub fn group_key(row: &RowData) -> String {
    if row.app_id.is_empty() {
        format!("process:{}", row.title)
    } else {
        row.app_id.clone()
    }
}

fn unattributed_title(protocol: &str) -> String {
    match protocol {
        "tcp" => gettext("Unknown TCP"),
        "udp" => gettext("Unknown UDP"),
        "icmp" => gettext("Unknown ICMP"),
        _ => gettext("Other Traffic"),
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
    use sockeye_protocol::{Interface, Process, Unattributed};

    fn process(pid: u32, name: &str, app_id: &str, received: u64, sent: u64) -> Process {
        Process {
            pid,
            name: name.into(),
            cmdline: format!("/usr/bin/{name} --flag"),
            uid: 1000,
            user: "alice".into(),
            app_id: app_id.into(),
            received_bytes: received,
            sent_bytes: sent,
            received_rate: received as f64,
            sent_rate: sent as f64,
            ..Default::default()
        }
    }

    fn update(processes: Vec<Process>, unattributed: Vec<Unattributed>) -> Update {
        Update {
            time: 0,
            interval_ms: 1000,
            processes,
            unattributed,
            interfaces: vec![Interface {
                name: "lo".into(),
                dropped: 3,
                ..Default::default()
            }],
        }
    }

    #[test]
    fn processes_are_rows_keyed_by_pid_updated_in_place() {
        let mut table = ProcessTable::default();
        let first = table.apply(&update(vec![process(10, "curl", "", 100, 50)], vec![]));
        assert_eq!(first.added, vec![RowKey::Process(10)]);
        let second = table.apply(&update(vec![process(10, "curl", "", 300, 80)], vec![]));
        assert_eq!(second.added, vec![]);
        assert_eq!(second.updated, vec![RowKey::Process(10)]);
        let row = table.row(&RowKey::Process(10)).unwrap();
        assert_eq!((row.received, row.sent), (300, 80));
        assert_eq!(row.history.len(), 2);
        assert_eq!(row.subtitle(), "10 · alice · /usr/bin/curl --flag");
    }

    #[test]
    fn a_process_missing_from_an_update_stays_dimmed_until_cleared() {
        let mut table = ProcessTable::default();
        table.apply(&update(
            vec![
                process(10, "curl", "", 100, 50),
                process(11, "wget", "", 1, 1),
            ],
            vec![],
        ));
        table.apply(&update(vec![process(11, "wget", "", 2, 2)], vec![]));
        let gone = table.row(&RowKey::Process(10)).unwrap();
        assert!(gone.exited);
        assert_eq!(gone.total_rate(), 0.0);
        assert_eq!(gone.received, 100, "totals stay visible");
        assert_eq!(table.clear_exited(), vec![RowKey::Process(10)]);
        assert!(table.row(&RowKey::Process(10)).is_none());
        assert!(table.row(&RowKey::Process(11)).is_some());
    }

    #[test]
    fn unattributed_traffic_has_rows_with_rates_from_their_totals() {
        let mut table = ProcessTable::default();
        let u = |tcp: u64| {
            vec![Unattributed {
                protocol: "tcp".into(),
                sent_bytes: 0,
                received_bytes: tcp,
            }]
        };
        table.apply(&update(vec![], u(1_000)));
        table.apply(&update(vec![], u(3_000)));
        let row = table.row(&RowKey::Unattributed("tcp".into())).unwrap();
        assert_eq!(row.title, "Unknown TCP");
        assert_eq!(row.download_rate, 2_000.0);
    }

    #[test]
    fn summary_gives_total_rates_attributed_share_and_drops() {
        let mut table = ProcessTable::default();
        let unattributed = vec![Unattributed {
            protocol: "udp".into(),
            sent_bytes: 2,
            received_bytes: 0,
        }];
        table.apply(&update(vec![process(1, "a", "", 600, 398)], unattributed));
        let s = table.summary();
        assert_eq!(s.attributed_share, Some(998.0 / 1000.0));
        assert_eq!(s.dropped, 3);
        assert_eq!(s.download_rate, 600.0);
        assert_eq!(table.stats().get(&1), Some(&(398, 600)));
    }

    #[test]
    fn no_traffic_means_no_attributed_share() {
        let mut table = ProcessTable::default();
        table.apply(&update(vec![process(1, "a", "", 0, 0)], vec![]));
        assert_eq!(table.summary().attributed_share, None);
        assert!(table.row(&RowKey::Process(1)).unwrap().is_idle());
    }

    #[test]
    fn grouping_sums_processes_by_app_id_or_by_name() {
        let mut table = ProcessTable::default();
        let names = |id: &str| (id == "org.mozilla.firefox").then(|| "Firefox".to_string());
        table.apply(&update(
            vec![
                process(1, "firefox", "org.mozilla.firefox", 100, 10),
                process(2, "Socket Process", "org.mozilla.firefox", 50, 5),
                process(3, "curl", "", 1, 1),
                process(4, "curl", "", 2, 2),
            ],
            vec![],
        ));
        let apps = table.applications(&names);
        let (firefox, pids) = &apps["org.mozilla.firefox"];
        assert_eq!(firefox.title, "Firefox");
        assert_eq!(
            (firefox.received, firefox.sent, firefox.process_count),
            (150, 15, 2)
        );
        assert_eq!(pids, &vec![1, 2]);
        assert_eq!(firefox.subtitle(), "2 processes");
        let (curl, pids) = &apps["process:curl"];
        assert_eq!((curl.title.as_str(), curl.download_rate), ("curl", 3.0));
        assert_eq!(pids, &vec![3, 4]);
    }

    #[test]
    fn sorting_is_by_the_column_then_by_name_for_a_stable_order() {
        let mut a = RowData::new(RowKey::Process(1), "alpha".into());
        let mut b = RowData::new(RowKey::Process(2), "Beta".into());
        a.download_rate = 10.0;
        b.upload_rate = 20.0;
        assert_eq!(compare(&a, &b, SortColumn::Download), Ordering::Greater);
        assert_eq!(compare(&a, &b, SortColumn::TotalRate), Ordering::Less);
        assert_eq!(
            compare(&a, &b, SortColumn::Received),
            Ordering::Less,
            "tie → name"
        );
        assert_eq!(
            compare(&a, &b, SortColumn::Name),
            Ordering::Less,
            "case-insensitive"
        );
        let same_name = RowData::new(RowKey::Process(3), "alpha".into());
        assert_eq!(
            compare(&a, &same_name, SortColumn::Name),
            Ordering::Less,
            "tie → pid"
        );
    }

    #[test]
    fn search_finds_name_pid_user_and_command_line() {
        let mut table = ProcessTable::default();
        table.apply(&update(vec![process(4242, "Telegram", "", 1, 1)], vec![]));
        let row = table.row(&RowKey::Process(4242)).unwrap();
        for query in [
            "",
            "tele",
            "TELEGRAM",
            "4242",
            "alice",
            "--flag",
            " usr/bin ",
        ] {
            assert!(row.matches(query), "{query:?} should match");
        }
        for query in ["424", "bob", "firefox"] {
            assert!(!row.matches(query), "{query:?} should not match");
        }
    }

    #[test]
    fn hostile_rates_from_the_helper_are_shown_as_zero() {
        let mut table = ProcessTable::default();
        let mut p = process(1, "", "", 0, 0);
        p.received_rate = f64::NAN;
        p.sent_rate = -4.0;
        table.apply(&update(vec![p], vec![]));
        let row = table.row(&RowKey::Process(1)).unwrap();
        assert_eq!(row.total_rate(), 0.0);
        assert_eq!(row.title, "Process 1");
    }
}
