//! The Network table's model: helper updates become process rows (keyed by pid),
//! unattributed rows ("Unknown TCP" …) and, when grouping, application rows summing their
//! processes. Also the header line's figures, search matching and the sort order.

use gettextrs::gettext;
use sockeye_protocol::Update;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::rates::{rate, RateHistory};

/// Samples in a row's sparkline (one minute at one per second).
pub const SPARKLINE_LEN: usize = 60;

/// What a row stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowKey {
    Process(u32),
    /// Traffic that matched no socket, by protocol (`tcp`, `udp`, `icmp`, `other`, `tunnel`).
    Unattributed(String),
    /// An application of one user.
    Application(AppKey),
}

/// Which application rows group processes under: the user's and the app's.
///
/// The app id comes from a cgroup name or `.flatpak-info`, both chosen by the process's
/// owner: another user's `systemd-run --user --scope --unit=app-gnome-org.mozilla.firefox-1`
/// says "Firefox" as well as ours does. Keyed by uid too, it stays a row of its own, and
/// its title names its user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppKey {
    /// Real uid of the processes.
    pub uid: u32,
    /// The app id, or `process:<name>` for processes without one.
    pub group: String,
}

/// Everything a row shows, with rates in bytes per second and totals in bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct RowData {
    pub key: RowKey,
    /// Application name, process name or "Unknown TCP".
    pub title: String,
    pub app_id: String,
    pub pid: Option<u32>,
    /// Real uid of the process, or of an application row's processes.
    pub uid: Option<u32>,
    pub user: String,
    pub cmdline: String,
    pub exited: bool,
    /// The helper could not read the command line in time (see the protocol's `Process`).
    pub details_unavailable: bool,
    pub download_rate: f64,
    pub upload_rate: f64,
    pub received: u64,
    pub sent: u64,
    /// Payload bytes (sent, received) the process wrote to and read from its sockets, or
    /// an application's processes that have them, summed; `None` when the helper's kernel
    /// does not report them.
    pub socket: Option<(u64, u64)>,
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
            uid: None,
            user: String::new(),
            cmdline: String::new(),
            exited: false,
            details_unavailable: false,
            download_rate: 0.0,
            upload_rate: 0.0,
            received: 0,
            sent: 0,
            socket: None,
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
                } else if self.details_unavailable {
                    // A process that stalls reads of its /proc files: say why the line is missing.
                    parts.push(gettext("command line unavailable"));
                }
                parts.join(" · ")
            }
            RowKey::Unattributed(protocol) if protocol == "tunnel" => {
                gettext("Packets the kernel wraps the apps’ traffic in")
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
    /// Rows new with this update.
    pub added: Vec<RowKey>,
    /// Rows that were there before and whose values changed (every process, seen or
    /// exited, and the unattributed protocols the update carried).
    pub updated: Vec<RowKey>,
}

impl Changes {
    /// Adds the `later` changes to these, so that showing the sum once (after a pause)
    /// brings every row as far as showing each in turn would; no key is listed twice.
    pub fn absorb(&mut self, later: Changes) {
        let mut known: HashSet<RowKey> = self.added.iter().chain(&self.updated).cloned().collect();
        for key in later.added {
            if known.insert(key.clone()) {
                self.added.push(key);
            }
        }
        for key in later.updated {
            if known.insert(key.clone()) {
                self.updated.push(key);
            }
        }
    }
}

/// Finds an application's display name from its app id (desktop file), if any.
pub type AppNames<'a> = &'a dyn Fn(&str) -> Option<String>;

#[derive(Debug)]
pub struct ProcessTable {
    processes: BTreeMap<u32, RowData>,
    unattributed: BTreeMap<String, RowData>,
    summary: Summary,
    /// Uid of whoever looks at the table (the GUI's real uid): application rows of other
    /// users are titled with their user's name.
    viewer: u32,
}

impl Default for ProcessTable {
    /// A table for the user running this process.
    fn default() -> Self {
        Self::for_viewer(rustix::process::getuid().as_raw())
    }
}

impl ProcessTable {
    /// A table as user `viewer` sees it.
    pub fn for_viewer(viewer: u32) -> Self {
        Self {
            processes: BTreeMap::new(),
            unattributed: BTreeMap::new(),
            summary: Summary::default(),
            viewer,
        }
    }

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
            row.uid = Some(p.uid);
            row.user = p.user.clone();
            row.exited = p.exited;
            row.details_unavailable = p.details_unavailable;
            row.download_rate = finite(p.received_rate);
            row.upload_rate = finite(p.sent_rate);
            row.received = p.received_bytes;
            row.sent = p.sent_bytes;
            row.socket = p
                .socket_counters
                .then_some((p.socket_sent_bytes, p.socket_received_bytes));
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

        // Every row they may touch is in `changes` already: the update's and the exited.
        self.take_command_lines(&update.command_lines);

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

    /// Takes command lines the helper sent apart from an update (asked for); returns the
    /// rows that changed.
    pub fn set_command_lines(&mut self, lines: &HashMap<u32, String>) -> Changes {
        Changes {
            added: Vec::new(),
            updated: self.take_command_lines(lines),
        }
    }

    /// Sets the command lines of the rows `lines` names (the helper sends each once, apart
    /// from the rows); returns the keys of the rows whose line changed.
    fn take_command_lines(&mut self, lines: &HashMap<u32, String>) -> Vec<RowKey> {
        let mut changed = Vec::new();
        for (pid, line) in lines {
            if let Some(row) = self.processes.get_mut(pid) {
                if row.cmdline != *line {
                    row.cmdline.clone_from(line);
                    changed.push(row.key.clone());
                }
            }
        }
        changed
    }

    /// Whether the row of `pid` has yet to learn its command line.
    pub fn lacks_command_line(&self, pid: u32) -> bool {
        self.processes
            .get(&pid)
            .is_some_and(|r| r.cmdline.is_empty())
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

    /// Application rows: processes grouped by user and app id (or name when they have
    /// none), with summed rates, totals and histories; their members' pids sorted. Another
    /// user's rows say whose they are in their title ("Firefox (bob)").
    pub fn applications(&self, app_names: AppNames) -> BTreeMap<AppKey, (RowData, Vec<u32>)> {
        let mut groups: BTreeMap<AppKey, Vec<&RowData>> = BTreeMap::new();
        for row in self.processes.values() {
            groups.entry(group_key(row)).or_default().push(row);
        }
        groups
            .into_iter()
            .map(|(key, members)| {
                let first = members[0];
                let name = if first.app_id.is_empty() {
                    first.title.clone()
                } else {
                    app_names(&first.app_id).unwrap_or_else(|| first.app_id.clone())
                };
                let title = if key.uid == self.viewer {
                    name
                } else {
                    title_of_another_user(&name, &first.user, key.uid)
                };
                let mut row = RowData::new(RowKey::Application(key.clone()), title);
                row.app_id = first.app_id.clone();
                row.uid = Some(key.uid);
                row.user = first.user.clone();
                row.process_count = members.len();
                row.exited = members.iter().all(|m| m.exited);
                for m in &members {
                    row.download_rate += m.download_rate;
                    row.upload_rate += m.upload_rate;
                    row.received += m.received;
                    row.sent += m.sent;
                    if let Some((sent, received)) = m.socket {
                        let (s, r) = row.socket.get_or_insert((0, 0));
                        *s = s.saturating_add(sent);
                        *r = r.saturating_add(received);
                    }
                }
                row.history = RateHistory::sum(SPARKLINE_LEN, members.iter().map(|m| &m.history));
                let pids = members.iter().filter_map(|m| m.pid).collect();
                (key, (row, pids))
            })
            .collect()
    }
}

/// The application a process row belongs to: its user's, by app id or else by name.
pub fn group_key(row: &RowData) -> AppKey {
    let group = if row.app_id.is_empty() {
        format!("process:{}", row.title)
    } else {
        row.app_id.clone()
    };
    AppKey {
        // Process rows always carry their uid; u32::MAX (no such user) keeps a row
        // without one apart from everyone's.
        uid: row.uid.unwrap_or(u32::MAX),
        group,
    }
}

/// "Firefox (bob)": an application row of another user names them (by uid when the
/// helper found no name).
fn title_of_another_user(name: &str, user: &str, uid: u32) -> String {
    let user = if user.is_empty() {
        uid.to_string()
    } else {
        user.to_owned()
    };
    // Translators: an application of another user, e.g. "Firefox (bob)".
    gettext("{app} ({user})")
        .replacen("{app}", name, 1)
        .replacen("{user}", &user, 1)
}

fn unattributed_title(protocol: &str) -> String {
    match protocol {
        "tcp" => gettext("Unknown TCP"),
        "udp" => gettext("Unknown UDP"),
        "icmp" => gettext("Unknown ICMP"),
        // The outer packets of a tunnel the kernel runs (VXLAN, GRE, IPsec…), which no
        // app sends: the apps' own traffic inside it is counted on the tunnel's device.
        "tunnel" => gettext("Kernel Tunnels"),
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
mod tests;
