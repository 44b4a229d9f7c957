//! The Network tab: per-process and per-application traffic from the capture helper.
//!
//! ```text
//! NetworkPage (relm4 component)
//! ├─ CaptureMachine   (models::capture_state) decides: launch, Start, Stop, drop
//! ├─ Backend          helper_link: the helper through the launcher (or, with the
//! │                   `fake-helper` feature, fake_helper for the benchmark); both report
//! │                   a SourceEvent
//! ├─ ProcessTable     (models::process_table) updates → rows, summary, stats
//! ├─ DetailsPane      child component (ui/details-pane.ui): selected row's chart and
//! │                   connections
//! └─ NetworkWidgets   (ui/network-page.ui) status pages, error bar, summary line, search
//!    ├─ TableView     (ui/table.ui) ColumnView over RowStore's GObject rows, updated in
//!    │                place
//!    └─ RowStore      one TrafficRow per process, protocol and application
//! ```

mod app_info;
mod backend;
mod details;
#[cfg(feature = "fake-helper")]
mod fake_helper;
mod helper_link;
mod row_object;
mod row_store;
mod table;
mod view;

use gtk::prelude::*;
use relm4::prelude::*;
use sockeye_protocol::{Connection, Update};
use std::collections::HashMap;

use crate::format::NumberFormat;
use crate::models::capture_state::{CaptureEvent, CaptureMachine, Effect, LaunchFailure};
use crate::models::process_table::{Changes, ProcessTable, RowKey};
use crate::settings::Preferences;
use backend::Backend;
use details::{DetailsInput, DetailsOutput, DetailsPane};
use view::NetworkWidgets;

/// What a running source of updates (the helper or the fake one) reports; shared by
/// `backend` and `helper_link`.
#[derive(Debug)]
pub enum SourceEvent {
    Update(Update),
    /// The capture stopped on an error; the sentence says which.
    CaptureFailed(String),
}

#[derive(Debug)]
pub enum NetworkInput {
    /// The tab became visible (true) or hidden (false, also when the window closes).
    SetVisible(bool),
    /// "Start Capture", "Try Again" or "Restart".
    StartCapture,
    PreferencesChanged(Preferences),
    ToggleSearch,
    Search(String),
    /// Freeze or unfreeze the display (capture and accounting go on).
    TogglePause,
    SetGrouping(bool),
    ResetTotals,
    ClearExited,
    SelectionChanged,
    CloseDetails,
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
    CallDone(Result<(), String>),
}

pub struct NetworkPage {
    machine: CaptureMachine,
    backend: Option<Backend>,
    updates_task: Option<relm4::JoinHandle<()>>,
    /// Counts launches, so updates from a dropped helper are ignored.
    generation: u64,
    table: ProcessTable,
    prefs: Preferences,
    numbers: NumberFormat,
    paused: bool,
    /// Changes held back while the display is paused.
    pending: Changes,
    selected: Option<RowKey>,
    has_data: bool,
    details: Controller<DetailsPane>,
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
        let widgets = NetworkWidgets::build(
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
            pending: Changes::default(),
            selected: None,
            has_data: false,
            details,
        };
        widgets.show_state(model.machine.state(), false);
        ComponentParts { model, widgets }
    }

    fn update_with_view(
        &mut self,
        widgets: &mut Self::Widgets,
        message: Self::Input,
        sender: ComponentSender<Self>,
        _root: &Self::Root,
    ) {
        match message {
            NetworkInput::SetVisible(visible) => {
                let event = if visible {
                    CaptureEvent::Shown
                } else {
                    CaptureEvent::Hidden
                };
                self.handle(event, widgets, &sender);
            }
            NetworkInput::StartCapture => {
                self.handle(CaptureEvent::StartRequested, widgets, &sender)
            }
            NetworkInput::PreferencesChanged(prefs) => {
                self.apply_preferences(prefs, widgets, &sender)
            }
            NetworkInput::ToggleSearch => {
                let on = !widgets.search_bar.is_search_mode();
                widgets.search_bar.set_search_mode(on);
                if on {
                    widgets.search_entry.grab_focus();
                }
            }
            NetworkInput::Search(query) => widgets.table.set_query(&query),
            NetworkInput::TogglePause => {
                self.paused = !self.paused;
                widgets.show_paused(self.paused);
                if !self.paused {
                    let pending = std::mem::take(&mut self.pending);
                    self.show_changes(&pending, widgets, &sender);
                }
            }
            NetworkInput::SetGrouping(group) => {
                if group != self.prefs.group_by_application {
                    self.prefs.group_by_application = group;
                    widgets.show_grouping(group);
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
                widgets
                    .rows
                    .remove(&removed, &self.table, &self.numbers, self.prefs.units);
                widgets.table.refresh();
            }
            NetworkInput::SelectionChanged => {
                let row = widgets.table.selected_row();
                self.selected = row.as_ref().map(|r| r.key());
                match row {
                    Some(row) => {
                        self.details
                            .emit(DetailsInput::ShowRow(row, self.prefs.units));
                        widgets.details_revealer.set_reveal_child(true);
                        self.fetch_connections(&sender);
                    }
                    None => widgets.details_revealer.set_reveal_child(false),
                }
            }
            NetworkInput::CloseDetails => {
                widgets
                    .table
                    .selection
                    .set_selected(gtk::INVALID_LIST_POSITION);
                widgets.details_revealer.set_reveal_child(false);
            }
        }
    }

    fn update_cmd_with_view(
        &mut self,
        widgets: &mut Self::Widgets,
        message: Self::CommandOutput,
        sender: ComponentSender<Self>,
        _root: &Self::Root,
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
                self.handle(CaptureEvent::Authorized, widgets, &sender);
            }
            NetworkCommand::Launched(Err(failure)) => {
                self.handle(CaptureEvent::LaunchFailed(failure), widgets, &sender)
            }
            NetworkCommand::Updated(generation, update) if generation == self.generation => {
                let changes = self.table.apply(&update);
                self.has_data = true;
                if self.paused {
                    self.pending.absorb(changes);
                } else {
                    self.show_changes(&changes, widgets, &sender);
                }
                self.publish(&sender);
            }
            NetworkCommand::HelperDied(generation, reason) if generation == self.generation => {
                self.handle(CaptureEvent::HelperDied(reason), widgets, &sender)
            }
            NetworkCommand::CaptureFailed(generation, reason) if generation == self.generation => {
                self.handle(CaptureEvent::CaptureFailed(reason), widgets, &sender)
            }
            NetworkCommand::Updated(..)
            | NetworkCommand::HelperDied(..)
            | NetworkCommand::CaptureFailed(..) => {}
            NetworkCommand::Connections(key, connections) => {
                if self.selected.as_ref() == Some(&key) {
                    self.details
                        .emit(DetailsInput::ShowConnections(connections));
                }
            }
            NetworkCommand::CallDone(Ok(())) => {}
            NetworkCommand::CallDone(Err(err)) => {
                let _ = sender.output(NetworkOutput::Toast(err));
            }
        }
    }
}

impl NetworkPage {
    /// Feeds the state machine and carries out its effects.
    fn handle(
        &mut self,
        event: CaptureEvent,
        widgets: &mut NetworkWidgets,
        sender: &ComponentSender<Self>,
    ) {
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
        widgets.show_state(self.machine.state(), self.has_data);
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

    /// Brings the widgets up to date with `changes`.
    fn show_changes(
        &mut self,
        changes: &Changes,
        widgets: &mut NetworkWidgets,
        sender: &ComponentSender<Self>,
    ) {
        widgets
            .rows
            .sync(&self.table, changes, &self.numbers, self.prefs.units);
        widgets.table.refresh();
        widgets.show_summary(&self.table.summary(), &self.numbers, self.prefs.units);
        if let Some(row) = self.selected.as_ref().and_then(|k| widgets.rows.row(k)) {
            self.details
                .emit(DetailsInput::ShowRow(row.clone(), self.prefs.units));
            self.fetch_connections(sender);
        }
    }

    /// Asks the helper for the selected row's connections.
    fn fetch_connections(&self, sender: &ComponentSender<Self>) {
        let (Some(key), Some(backend)) = (self.selected.clone(), self.backend.clone()) else {
            return;
        };
        let pids: Vec<u32> = match &key {
            RowKey::Process(pid) => vec![*pid],
            RowKey::Application(app) => self
                .table
                .applications(&|_| None)
                .get(app)
                .map(|(_, pids)| pids.iter().take(20).copied().collect())
                .unwrap_or_default(),
            RowKey::Unattributed(_) => return,
        };
        sender.oneshot_command(async move {
            NetworkCommand::Connections(key, backend.connections(pids).await)
        });
    }

    fn apply_preferences(
        &mut self,
        prefs: Preferences,
        widgets: &mut NetworkWidgets,
        sender: &ComponentSender<Self>,
    ) {
        let old = std::mem::replace(&mut self.prefs, prefs.clone());
        if old.units != prefs.units {
            widgets
                .rows
                .reformat(&self.table, &self.numbers, prefs.units);
            widgets.show_summary(&self.table.summary(), &self.numbers, prefs.units);
        }
        if old.show_idle != prefs.show_idle {
            widgets.table.set_show_idle(prefs.show_idle);
        }
        if old.group_by_application != prefs.group_by_application {
            // Already saved by the preferences window: no GroupingChanged.
            widgets.show_grouping(prefs.group_by_application);
        }
        if old.refresh_interval_ms != prefs.refresh_interval_ms && self.machine.is_capturing() {
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
