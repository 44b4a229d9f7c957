//! The Network tab: per-process and per-application traffic from the capture helper.
//!
//! ```text
//! NetworkPage (relm4 component: `update` changes the model, `update_view` renders it)
//! ├─ CaptureMachine   (models::capture_state) decides: launch, Start, Stop, drop
//! ├─ Backend          helper_link: the helper through the launcher (or, with the
//! │                   `fake-helper` feature, fake_helper for the benchmark); both report
//! │                   a SourceEvent
//! ├─ ProcessTable     (models::process_table) updates → rows, summary, stats
//! ├─ HostTable      (models::hosts) GetHosts answers → host rows; hosts_page asks for
//! │                   them while the Hosts view shows (or a search needs them)
//! ├─ ReverseNames     (models::reverse_dns) PTR lookups of unnamed addresses through
//! │                   host_names' GioResolver, when the preference allows
//! ├─ DetailsPane      child component (ui/details-pane.ui): selected row's or host's chart,
//! │                   a host's apps, connections (a process's grouped by host)
//! └─ NetworkWidgets   (ui/network-page.ui) status pages, error bar, summary line, search,
//!    │                the Processes/Hosts view switch
//!    ├─ TableView     (ui/table.ui) ColumnView over RowStore's GObject rows, updated in
//!    │                place
//!    ├─ RowStore      one TrafficRow per process, protocol and application, brought
//!    │                up to date from the model's RowWork (rows changed, removed)
//!    └─ HostTableView (ui/hosts-table.ui) ColumnView over one HostRow per host
//! ```

mod app_info;
mod backend;
mod details;
#[cfg(feature = "fake-helper")]
mod fake_helper;
mod helper_link;
mod host_names;
mod host_row;
mod host_table;
mod hosts_page;
mod row_object;
mod row_store;
mod row_work;
mod table;
mod view;

use relm4::prelude::*;
use sockeye_protocol::{Connection, Host, Update};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::rc::Rc;

use crate::format::NumberFormat;
use crate::models::capture_state::{CaptureEvent, CaptureMachine, Effect, LaunchFailure};
use crate::models::hosts::HostTable;
use crate::models::process_table::{Changes, ProcessTable, RowKey, Summary};
use crate::models::reverse_dns::{AddressResolver, ReverseNames};
use crate::settings::Preferences;
use app_info::AppInfoCache;
use backend::Backend;
use details::{DetailsInput, DetailsOutput, DetailsPane};
use row_work::RowWork;
use view::NetworkWidgets;

/// What a running source of updates (the helper or the fake one) reports; shared by
/// `backend` and `helper_link`.
#[derive(Debug)]
pub enum SourceEvent {
    Update(Update),
    /// The capture stopped on an error; the sentence says which.
    CaptureFailed(String),
}

/// The tab's two views of the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkView {
    /// Processes and applications (the table).
    Processes,
    /// The remote hosts they talk to.
    Hosts,
}

#[derive(Debug)]
pub enum NetworkInput {
    /// The tab became visible (true) or hidden (false, also when the window closes).
    SetVisible(bool),
    /// "Start Capture", "Try Again" or "Restart".
    StartCapture,
    PreferencesChanged(Preferences),
    ToggleSearch,
    /// The search bar opened or closed (GTK does so itself on typing and Escape).
    SetSearchMode(bool),
    Search(String),
    /// Freeze or unfreeze the display (capture and accounting go on).
    TogglePause,
    SetGrouping(bool),
    ResetTotals,
    ClearExited,
    /// The table's selection changed: the selected row's key, if any.
    SelectionChanged(Option<RowKey>),
    CloseDetails,
    /// The view switch moved.
    ShowView(NetworkView),
    /// The Hosts view's selection changed: the selected host's key, if any.
    HostSelectionChanged(Option<String>),
    /// A reverse lookup answered: the address's name, if it has one.
    HostNameFound(IpAddr, Option<String>),
    /// The window became narrow (phone width) or wide again.
    SetNarrow(bool),
}

#[derive(Debug)]
pub enum NetworkOutput {
    Toast(String),
    /// The grouping toggle changed: remember it.
    GroupingChanged(bool),
    /// What the session-bus `Stats1` object serves: pid → (bytes sent, bytes received),
    /// empty when not capturing.
    Published {
        capturing: bool,
        stats: HashMap<u32, (u64, u64)>,
    },
}

#[derive(Debug)]
pub enum NetworkCommand {
    Launched(Result<Backend, LaunchFailure>),
    /// An update from the source of `generation`.
    Updated(u64, Update),
    /// The capture of the source of `generation` stopped on an error (helper still up).
    CaptureFailed(u64, String),
    /// The source of `generation` ended, with the reason.
    HelperDied(u64, String),
    Connections(RowKey, Vec<Connection>),
    /// The helper's hosts (`GetHosts`), asked for by the source of `generation`.
    Hosts(u64, Result<Vec<Host>, String>),
    /// The connections of the selected host's processes, by pid.
    HostConnections(String, Vec<(u32, Vec<Connection>)>),
    /// Command lines asked for, of rows the updates have not brought one for yet.
    CommandLines(HashMap<u32, String>),
    CallDone(Result<(), String>),
}

/// The page's model. What the view shows is decided here: the capture state (hence the
/// status page), the summary, search, pause, grouping and the selected row (hence the
/// details pane); `update_view` renders it, and does the `row_work` left for it.
pub struct NetworkPage {
    machine: CaptureMachine,
    backend: Option<Backend>,
    updates_task: Option<relm4::JoinHandle<()>>,
    /// Counts launches, so updates from a dropped helper are ignored.
    generation: u64,
    table: ProcessTable,
    prefs: Preferences,
    numbers: NumberFormat,
    /// The display is frozen (capture and accounting go on).
    paused: bool,
    /// Changes held back while the display is paused.
    held: Changes,
    /// What the summary line shows; none before the first update is shown.
    summary: Option<Summary>,
    /// The search bar is open.
    search_open: bool,
    /// The search entry's text, which filters the table.
    query: String,
    /// The selected row, whose details the pane shows (hidden when none).
    selected: Option<RowKey>,
    /// An update arrived since the helper started, so a failure keeps the table shown.
    has_data: bool,
    /// The window is narrow: the table shows one combined rate instead of four figures.
    narrow: bool,
    /// Work on the rows left for the next `update_view`.
    row_work: RefCell<RowWork>,
    details: Controller<DetailsPane>,
    /// The view the tab shows.
    view: NetworkView,
    /// The remote hosts, as the helper last listed them.
    hosts: HostTable,
    /// Pids the search finds by their hosts' names (kept by the Processes view's filter).
    host_pids: HashSet<u32>,
    /// The selected host, whose details the pane shows in the Hosts view.
    selected_host: Option<String>,
    /// A `GetHosts` call is on its way.
    hosts_pending: bool,
    /// Why the last `GetHosts` failed (shown in the Hosts view).
    hosts_error: Option<String>,
    /// Names of the apps using a host (the table's rows have their own cache, in the view).
    app_info: AppInfoCache,
    /// Reverse lookups: cache and limits.
    reverse: ReverseNames,
    resolver: Rc<dyn AddressResolver>,
}

impl Component for NetworkPage {
    type Init = Preferences;
    type Input = NetworkInput;
    type Output = NetworkOutput;
    type CommandOutput = NetworkCommand;
    type Root = gtk::Box;
    type Widgets = NetworkWidgets;

    fn init_root() -> Self::Root {
        gtk::Box::new(gtk::Orientation::Vertical, 0)
    }

    fn init(
        prefs: Preferences,
        root: Self::Root,
        sender: ComponentSender<Self>,
    ) -> ComponentParts<Self> {
        let numbers = NumberFormat::from_locale();
        let details =
            DetailsPane::builder()
                .launch(numbers.clone())
                .forward(sender.input_sender(), |out| match out {
                    DetailsOutput::CloseRequested => NetworkInput::CloseDetails,
                });
        let mut widgets = NetworkWidgets::build(
            &root,
            details.widget(),
            &sender,
            prefs.group_by_application,
            prefs.show_idle,
        );
        let model = NetworkPage {
            machine: CaptureMachine::new(Backend::launches_without_prompt()),
            backend: None,
            updates_task: None,
            generation: 0,
            table: ProcessTable::default(),
            prefs,
            numbers,
            paused: false,
            held: Changes::default(),
            summary: None,
            search_open: false,
            query: String::new(),
            selected: None,
            has_data: false,
            narrow: false,
            row_work: RefCell::default(),
            details,
            view: NetworkView::Processes,
            hosts: HostTable::default(),
            host_pids: HashSet::new(),
            selected_host: None,
            hosts_pending: false,
            hosts_error: None,
            app_info: AppInfoCache::default(),
            reverse: ReverseNames::default(),
            resolver: Rc::new(host_names::GioResolver),
        };
        model.update_view(&mut widgets, sender);
        ComponentParts { model, widgets }
    }

    fn update(&mut self, message: Self::Input, sender: ComponentSender<Self>, _: &Self::Root) {
        match message {
            NetworkInput::SetVisible(visible) => {
                let event = if visible {
                    CaptureEvent::Shown
                } else {
                    CaptureEvent::Hidden
                };
                self.handle(event, &sender);
            }
            NetworkInput::StartCapture => self.handle(CaptureEvent::StartRequested, &sender),
            NetworkInput::PreferencesChanged(prefs) => self.apply_preferences(prefs, &sender),
            NetworkInput::ToggleSearch => self.search_open = !self.search_open,
            NetworkInput::SetSearchMode(open) => self.search_open = open,
            NetworkInput::Search(query) => {
                self.query = query;
                self.host_pids = self.hosts.pids_matching(&self.query);
                self.fetch_hosts(&sender);
            }
            NetworkInput::TogglePause => {
                self.paused = !self.paused;
                if !self.paused {
                    let held = std::mem::take(&mut self.held);
                    self.show_changes(held, &sender);
                }
            }
            NetworkInput::SetGrouping(group) => {
                if group != self.prefs.group_by_application {
                    self.prefs.group_by_application = group;
                    let _ = sender.output(NetworkOutput::GroupingChanged(group));
                }
            }
            NetworkInput::ResetTotals => {
                if let Some(backend) = self.backend.clone() {
                    sender.oneshot_command(async move {
                        NetworkCommand::CallDone(backend.reset_totals().await)
                    });
                }
            }
            NetworkInput::ClearExited => {
                let removed = self.table.clear_exited();
                self.row_work.get_mut().remove(removed);
            }
            NetworkInput::SelectionChanged(key) => {
                self.selected = key;
                if self.selected.is_some() {
                    self.row_work.get_mut().details = true;
                    self.fetch_connections(&sender);
                }
            }
            NetworkInput::CloseDetails => {
                // The table's selection follows, then reports `SelectionChanged(None)`.
                if self.view == NetworkView::Hosts {
                    self.selected_host = None;
                    self.row_work.get_mut().unselect_host = true;
                } else {
                    self.selected = None;
                    self.row_work.get_mut().unselect = true;
                }
            }
            NetworkInput::ShowView(view) => {
                if view != self.view {
                    self.view = view;
                    let work = self.row_work.get_mut();
                    work.details = self.selected.is_some();
                    work.host_details = self.selected_host.is_some();
                    self.fetch_hosts(&sender);
                    self.fetch_connections(&sender);
                    self.fetch_host_connections(&sender);
                }
            }
            NetworkInput::HostSelectionChanged(key) => {
                self.selected_host = key;
                if self.selected_host.is_some() {
                    self.row_work.get_mut().host_details = true;
                    self.fetch_host_connections(&sender);
                }
            }
            NetworkInput::HostNameFound(address, name) => {
                self.host_name_found(address, name, &sender)
            }
            NetworkInput::SetNarrow(narrow) => self.narrow = narrow,
        }
    }

    fn update_cmd(
        &mut self,
        message: Self::CommandOutput,
        sender: ComponentSender<Self>,
        _: &Self::Root,
    ) {
        match message {
            NetworkCommand::Launched(Ok(backend)) => {
                self.generation += 1;
                let generation = self.generation;
                let commands = sender.command_sender().clone();
                let source = backend.clone();
                self.updates_task = Some(relm4::spawn(async move {
                    let reason = source
                        .run_updates(|event| {
                            commands.emit(match event {
                                SourceEvent::Update(u) => NetworkCommand::Updated(generation, u),
                                SourceEvent::CaptureFailed(m) => {
                                    NetworkCommand::CaptureFailed(generation, m)
                                }
                            })
                        })
                        .await;
                    commands.emit(NetworkCommand::HelperDied(generation, reason));
                }));
                self.backend = Some(backend);
                self.handle(CaptureEvent::Authorized, &sender);
            }
            NetworkCommand::Launched(Err(failure)) => {
                self.handle(CaptureEvent::LaunchFailed(failure), &sender)
            }
            NetworkCommand::Updated(generation, update) if generation == self.generation => {
                let changes = self.table.apply(&update);
                self.has_data = true;
                if self.paused {
                    self.held.absorb(changes);
                } else {
                    self.show_changes(changes, &sender);
                }
                self.publish(&sender);
            }
            NetworkCommand::HelperDied(generation, reason) if generation == self.generation => {
                self.handle(CaptureEvent::HelperDied(reason), &sender)
            }
            NetworkCommand::CaptureFailed(generation, reason) if generation == self.generation => {
                self.handle(CaptureEvent::CaptureFailed(reason), &sender)
            }
            NetworkCommand::Updated(..)
            | NetworkCommand::HelperDied(..)
            | NetworkCommand::CaptureFailed(..) => {}
            NetworkCommand::Connections(key, connections) => {
                if self.selected.as_ref() == Some(&key) && self.view == NetworkView::Processes {
                    let names = self.looked_up_names(&connections, &sender);
                    self.details
                        .emit(DetailsInput::ShowConnections(connections, names));
                }
            }
            NetworkCommand::Hosts(generation, result) => {
                if generation == self.generation {
                    self.take_hosts(result, &sender);
                } else {
                    self.hosts_pending = false;
                }
            }
            NetworkCommand::HostConnections(key, by_pid) => {
                if self.view == NetworkView::Hosts {
                    self.show_host_connections(&key, by_pid);
                }
            }
            NetworkCommand::CommandLines(lines) => {
                let changes = self.table.set_command_lines(&lines);
                if self.paused {
                    self.held.absorb(changes);
                } else if !changes.updated.is_empty() {
                    let work = self.row_work.get_mut();
                    work.show(changes);
                    work.details = self.selected.is_some();
                }
            }
            NetworkCommand::CallDone(Ok(())) => {}
            NetworkCommand::CallDone(Err(err)) => {
                let _ = sender.output(NetworkOutput::Toast(err));
            }
        }
    }

    /// Does the row work first (the details pane shows a row as the store has it), then
    /// shows the rest of the model; every setter below is a no-op when nothing changed.
    fn update_view(&self, widgets: &mut Self::Widgets, _: ComponentSender<Self>) {
        let work = self.row_work.take();
        let units = self.prefs.units;
        if let Some(removed) = &work.removed {
            widgets
                .rows
                .remove(removed, &self.table, &self.numbers, units);
            widgets.table.refresh();
        }
        if let Some(changes) = &work.changes {
            widgets
                .rows
                .sync(&self.table, changes, &self.numbers, units);
            widgets.table.refresh();
        }
        if work.reformat {
            widgets.rows.reformat(&self.table, &self.numbers, units);
            widgets
                .host_table
                .reformat(&self.hosts, &self.numbers, units);
        }
        if let Some(changes) = &work.hosts {
            widgets
                .host_table
                .sync(&self.hosts, changes, &self.numbers, units);
        }

        widgets.show_state(self.machine.state(), self.has_data);
        if let Some(summary) = &self.summary {
            widgets.show_summary(summary, &self.numbers, units);
        }
        widgets.show_paused(self.paused);
        widgets.show_grouping(self.prefs.group_by_application);
        widgets.table.set_show_idle(self.prefs.show_idle);
        widgets.table.set_query(&self.query);
        widgets.table.set_host_pids(&self.host_pids);
        widgets.host_table.set_query(&self.query);
        widgets.set_narrow(self.narrow);
        widgets.show_search(self.search_open);
        widgets.show_view(self.view);
        widgets.show_hosts_error(self.hosts_error.as_deref());

        if work.unselect {
            widgets
                .table
                .selection
                .set_selected(gtk::INVALID_LIST_POSITION);
        }
        if work.unselect_host {
            widgets
                .host_table
                .selection
                .set_selected(gtk::INVALID_LIST_POSITION);
        }
        match self.view {
            NetworkView::Processes => {
                widgets.show_details(self.selected.is_some());
                if work.details {
                    if let Some(row) = self.selected.as_ref().and_then(|k| widgets.rows.row(k)) {
                        self.details.emit(DetailsInput::ShowRow(row.clone(), units));
                    }
                }
            }
            NetworkView::Hosts => {
                widgets.show_details(self.selected_host.is_some());
                if work.host_details {
                    if let Some(host) = self.selected_host.as_ref().and_then(|k| self.hosts.host(k))
                    {
                        self.details.emit(DetailsInput::ShowHost(
                            Box::new(host.clone()),
                            self.host_apps(host),
                            units,
                        ));
                    }
                }
            }
        }
    }
}

impl NetworkPage {
    /// Feeds the state machine and carries out its effects.
    fn handle(&mut self, event: CaptureEvent, sender: &ComponentSender<Self>) {
        for effect in self.machine.handle(event) {
            match effect {
                Effect::Launch => sender
                    .oneshot_command(async { NetworkCommand::Launched(Backend::launch().await) }),
                Effect::Start => {
                    self.call(sender, |b, interval| async move { b.start(interval).await })
                }
                Effect::Stop => self.call(sender, |b, _| async move { b.stop().await }),
                Effect::Disconnect => {
                    if let Some(task) = self.updates_task.take() {
                        task.abort();
                    }
                    // Dropping the last handle closes the socket: the helper exits.
                    self.backend = None;
                }
            }
        }
        self.publish(sender);
    }

    /// Runs one call on the backend in the background; errors become a toast.
    fn call<F, Fut>(&self, sender: &ComponentSender<Self>, call: F)
    where
        F: FnOnce(Backend, u32) -> Fut,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        if let Some(backend) = self.backend.clone() {
            let fut = call(backend, self.prefs.refresh_interval_ms);
            sender.oneshot_command(async move { NetworkCommand::CallDone(fut.await) });
        }
    }

    /// Shows `changes` (and the summary as it is now), and the selected row again with
    /// its connections.
    fn show_changes(&mut self, changes: Changes, sender: &ComponentSender<Self>) {
        let work = self.row_work.get_mut();
        work.show(changes);
        self.summary = Some(self.table.summary());
        if self.selected.is_some() {
            work.details = true;
            self.fetch_connections(sender);
        }
        self.fetch_hosts(sender);
    }

    /// Asks the helper for the selected row's connections, if the table still has that row.
    fn fetch_connections(&self, sender: &ComponentSender<Self>) {
        let (Some(key), Some(backend)) = (self.selected.clone(), self.backend.clone()) else {
            return;
        };
        if self.view != NetworkView::Processes {
            return;
        }
        let pids: Vec<u32> = match &key {
            RowKey::Process(pid) if self.table.row(&key).is_some() => vec![*pid],
            RowKey::Application(app) => {
                let applications = self.table.applications(&|_| None);
                let Some((_, pids)) = applications.get(app) else {
                    return;
                };
                pids.iter().take(20).copied().collect()
            }
            RowKey::Process(_) | RowKey::Unattributed(_) => return,
        };
        // A row shown before its command line came (the helper sends lines within a byte
        // budget, so a burst of new processes has them spread over the next updates).
        let lacking: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|pid| self.table.lacks_command_line(*pid))
            .collect();
        if !lacking.is_empty() {
            let backend = backend.clone();
            sender.oneshot_command(async move {
                NetworkCommand::CommandLines(backend.command_lines(lacking).await)
            });
        }
        sender.oneshot_command(async move {
            NetworkCommand::Connections(key, backend.connections(pids).await)
        });
    }

    fn apply_preferences(&mut self, prefs: Preferences, sender: &ComponentSender<Self>) {
        let old = std::mem::replace(&mut self.prefs, prefs);
        if !self.prefs.look_up_host_names {
            // Lookups already asked still answer; no new one starts.
            self.reverse.cancel_queued();
        }
        if old.units != self.prefs.units {
            self.row_work.get_mut().reformat = true;
            // Shown in the new units even while paused.
            self.summary = Some(self.table.summary());
        }
        // Grouping (already saved by the preferences window: no GroupingChanged) and idle
        // rows follow `prefs` in `update_view`.
        if old.refresh_interval_ms != self.prefs.refresh_interval_ms && self.machine.is_capturing()
        {
            // Restart so the helper takes the new period (Start alone may keep the old one).
            self.call(sender, |b, interval| async move {
                b.stop().await?;
                b.start(interval).await
            });
        }
    }

    fn publish(&self, sender: &ComponentSender<Self>) {
        let capturing = self.machine.is_capturing();
        let stats = if capturing {
            self.table.stats()
        } else {
            HashMap::new()
        };
        let _ = sender.output(NetworkOutput::Published { capturing, stats });
    }
}
