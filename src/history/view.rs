//! The History tab (relm4): whether the recorder runs decides between the status page that
//! offers to turn history on and the history itself; the model owns the period, the rows
//! and the selection, `update_view` renders them.

use gettextrs::gettext;
use gtk::gio::prelude::FileExt;
use gtk::glib;
use relm4::prelude::*;
use sockeye_protocol::recorder::ExecutableUsageRow;
use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Duration;

use super::app_list::AppIcons;
use super::chart::HistoryChart;
use super::client::{
    in_flatpak, run_service_command, HistoryError, PeriodData, RecorderClient, ServiceCommand,
    ServiceOutcome,
};
use super::export::write_csv;
use super::period::{format_date, Period, PeriodKind, Slots};
use super::series::{summarise, Summary, Usage};
use crate::format::{NumberFormat, Units};
use crate::settings::Preferences;

/// How often the shown period is fetched again while the tab is visible, so the current
/// hour grows.
const REFRESH: Duration = Duration::from_secs(10);
/// Tests only: "Export…" writes here instead of asking with the file chooser.
pub const EXPORT_PATH_ENV: &str = "SOCKEYE_TEST_HISTORY_EXPORT";
/// Tests only: after each render, what the tab shows is written to this file.
pub const DUMP_PATH_ENV: &str = "SOCKEYE_TEST_HISTORY_DUMP";

#[derive(Debug)]
pub enum HistoryInput {
    SetVisible(bool),
    PreferencesChanged(Preferences),
    PickPeriod(PeriodKind),
    /// Previous (-1) or next (+1) period.
    Shift(i32),
    Refresh,
    /// Show one app's chart and executables, or every app again.
    SelectApp(Option<String>),
    TurnOn,
    TurnOff,
    /// Ask before clearing.
    AskClear,
    Clear,
    Export,
    ExportTo(PathBuf),
}

#[derive(Debug)]
pub enum HistoryOutput {
    Toast(String),
}

#[derive(Debug)]
pub enum HistoryCommand {
    Connected(Result<RecorderClient, HistoryError>),
    Running(bool),
    Fetched(u64, Result<PeriodData, HistoryError>),
    AppFetched(u64, Result<Vec<ExecutableUsageRow>, HistoryError>),
    ServiceDone(Result<ServiceOutcome, HistoryError>),
    Cleared(Result<(), HistoryError>),
}

/// What the tab shows as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Not known yet (connecting to the system bus).
    Connecting,
    /// No recorder: the status page.
    Off,
    On,
    /// No system bus.
    Unavailable,
}

pub struct HistoryPage {
    /// Where the list rows send their clicks.
    pub(super) input: relm4::Sender<HistoryInput>,
    pub(super) client: Option<RecorderClient>,
    pub(super) state: State,
    /// Why the system bus could not be reached.
    pub(super) unavailable: String,
    pub(super) flatpak: bool,
    pub(super) visible: bool,
    /// A service command is running (buttons are insensitive).
    pub(super) busy: bool,
    pub(super) period: Period,
    pub(super) slots: Option<Slots>,
    pub(super) data: Option<PeriodData>,
    pub(super) summary: Summary,
    pub(super) selected: Option<String>,
    pub(super) executables: Vec<ExecutableUsageRow>,
    /// The last fetch error shown, so the 10 s refresh does not repeat the same toast.
    pub(super) last_error: Option<String>,
    /// Bumped for every fetch, so an answer for an older period is dropped.
    pub(super) generation: u64,
    /// Bumped when what the view shows changed.
    pub(super) revision: u64,
    pub(super) units: Units,
    pub(super) numbers: NumberFormat,
    pub(super) icons: AppIcons,
    /// Kept while the file chooser is open.
    pub(super) chooser: RefCell<Option<crate::adaptive::save_file::Pending>>,
}

pub struct HistoryWidgets {
    pub(super) stack: gtk::Stack,
    pub(super) off_page: adw::StatusPage,
    pub(super) turn_on: gtk::Button,
    pub(super) unavailable_page: adw::StatusPage,
    pub(super) kinds: gtk::DropDown,
    pub(super) previous: gtk::Button,
    pub(super) next: gtk::Button,
    pub(super) title: gtk::Label,
    pub(super) totals: gtk::Label,
    pub(super) back: gtk::Button,
    pub(super) app_title: gtk::Label,
    pub(super) chart: HistoryChart,
    pub(super) gap_note: gtk::Box,
    pub(super) list_title: gtk::Label,
    pub(super) list: gtk::ListBox,
    pub(super) empty: gtk::Label,
    pub(super) status: gtk::Label,
    /// The revision last rendered.
    pub(super) rendered: u64,
}

impl Component for HistoryPage {
    type Init = Preferences;
    type Input = HistoryInput;
    type Output = HistoryOutput;
    type CommandOutput = HistoryCommand;
    type Root = gtk::Stack;
    type Widgets = HistoryWidgets;

    fn init_root() -> Self::Root {
        gtk::Stack::builder().vexpand(true).build()
    }

    fn init(
        prefs: Preferences,
        root: Self::Root,
        sender: ComponentSender<Self>,
    ) -> ComponentParts<Self> {
        let widgets = super::layout::build(&root, &sender);
        let model = HistoryPage {
            input: sender.input_sender().clone(),
            client: None,
            state: State::Connecting,
            unavailable: String::new(),
            flatpak: in_flatpak(),
            visible: false,
            busy: false,
            period: Period::current(PeriodKind::Today),
            slots: None,
            data: None,
            summary: Summary::default(),
            selected: None,
            executables: Vec::new(),
            last_error: None,
            generation: 0,
            revision: 1,
            units: prefs.units,
            numbers: NumberFormat::from_locale(),
            icons: AppIcons::default(),
            chooser: RefCell::default(),
        };
        sender
            .oneshot_command(async { HistoryCommand::Connected(RecorderClient::connect().await) });
        let timer_sender = sender.clone();
        glib::timeout_add_local(REFRESH, move || {
            if timer_sender
                .input_sender()
                .send(HistoryInput::Refresh)
                .is_err()
            {
                return glib::ControlFlow::Break;
            }
            glib::ControlFlow::Continue
        });
        ComponentParts { model, widgets }
    }

    fn update(&mut self, message: Self::Input, sender: ComponentSender<Self>, root: &Self::Root) {
        match message {
            HistoryInput::SetVisible(visible) => {
                self.visible = visible;
                if visible {
                    self.fetch(&sender);
                }
            }
            HistoryInput::PreferencesChanged(prefs) => {
                self.units = prefs.units;
                self.revision += 1;
            }
            HistoryInput::PickPeriod(kind) => {
                if kind != self.period.kind || self.period.offset != 0 {
                    self.period = Period::current(kind);
                    self.fetch(&sender);
                }
            }
            HistoryInput::Shift(by) => {
                let period = self.period.shifted(by);
                if period != self.period {
                    self.period = period;
                    self.fetch(&sender);
                }
            }
            HistoryInput::Refresh => {
                if self.visible && self.period.offset == 0 {
                    self.fetch(&sender);
                }
            }
            HistoryInput::SelectApp(app) => {
                self.selected = app;
                self.executables.clear();
                self.revision += 1;
                self.fetch(&sender);
            }
            HistoryInput::TurnOn => self.run_service(ServiceCommand::Enable, &sender),
            HistoryInput::TurnOff => self.run_service(ServiceCommand::Disable, &sender),
            HistoryInput::AskClear => ask_clear(root, &sender),
            HistoryInput::Clear => {
                if let Some(client) = self.client.clone() {
                    sender.oneshot_command(
                        async move { HistoryCommand::Cleared(client.clear().await) },
                    );
                }
            }
            HistoryInput::Export => match std::env::var_os(EXPORT_PATH_ENV) {
                Some(path) => sender.input(HistoryInput::ExportTo(path.into())),
                None => self.choose_export_file(root, &sender),
            },
            HistoryInput::ExportTo(path) => {
                let message = match self.export(&path) {
                    Ok(()) => gettext("History exported to {}").replacen(
                        "{}",
                        &path.display().to_string(),
                        1,
                    ),
                    Err(err) => gettext("Could not export the history: {}").replacen(
                        "{}",
                        &err.to_string(),
                        1,
                    ),
                };
                let _ = sender.output(HistoryOutput::Toast(message));
            }
        }
    }

    fn update_cmd(
        &mut self,
        message: Self::CommandOutput,
        sender: ComponentSender<Self>,
        _: &Self::Root,
    ) {
        match message {
            HistoryCommand::Connected(Ok(client)) => {
                let watcher = client.clone();
                let commands = sender.command_sender().clone();
                relm4::spawn(async move {
                    let watched = watcher
                        .watch(|running| commands.emit(HistoryCommand::Running(running)))
                        .await;
                    if let Err(err) = watched {
                        eprintln!("sockeye: lost track of the recorder: {err}");
                    }
                });
                self.client = Some(client);
            }
            HistoryCommand::Connected(Err(err)) => {
                self.state = State::Unavailable;
                self.unavailable = err.message();
                self.revision += 1;
            }
            HistoryCommand::Running(running) => {
                let state = if running { State::On } else { State::Off };
                if state != self.state {
                    self.state = state;
                    self.revision += 1;
                    if running {
                        self.fetch(&sender);
                    } else {
                        self.data = None;
                        self.summary = Summary::default();
                    }
                }
            }
            HistoryCommand::Fetched(generation, result) if generation == self.generation => {
                match result {
                    Ok(data) => {
                        self.last_error = None;
                        if let Some(slots) = &self.slots {
                            self.summary = summarise(data.rows.iter().map(Usage::from), slots);
                        }
                        self.data = Some(data);
                    }
                    Err(HistoryError::NotRunning) => {}
                    Err(err) => {
                        let message = err.message();
                        if self.last_error.as_ref() != Some(&message) {
                            let _ = sender.output(HistoryOutput::Toast(message.clone()));
                            self.last_error = Some(message);
                        }
                    }
                }
                self.revision += 1;
            }
            HistoryCommand::AppFetched(generation, result) if generation == self.generation => {
                match result {
                    Ok(rows) => self.executables = rows,
                    Err(err) => {
                        let _ = sender.output(HistoryOutput::Toast(err.message()));
                    }
                }
                self.revision += 1;
            }
            HistoryCommand::Fetched(..) | HistoryCommand::AppFetched(..) => {}
            HistoryCommand::ServiceDone(result) => {
                self.busy = false;
                self.revision += 1;
                // Done shows by itself (the recorder's name gains or loses its owner); a
                // dismissed password dialog is the user's answer, not an error.
                if let Err(err) = result {
                    let _ = sender.output(HistoryOutput::Toast(err.message()));
                }
            }
            HistoryCommand::Cleared(result) => {
                let message = match result {
                    Ok(()) => gettext("History cleared"),
                    Err(err) => err.message(),
                };
                let _ = sender.output(HistoryOutput::Toast(message));
                self.fetch(&sender);
            }
        }
    }

    fn update_view(&self, widgets: &mut Self::Widgets, _: ComponentSender<Self>) {
        if widgets.rendered == self.revision {
            return;
        }
        widgets.rendered = self.revision;
        super::render::render(self, widgets);
        if let Some(path) = std::env::var_os(DUMP_PATH_ENV) {
            super::render::dump(widgets, &PathBuf::from(path));
        }
    }
}

impl HistoryPage {
    /// Fetches the shown period (and the selected app's executables) when the recorder runs
    /// and the tab is visible.
    fn fetch(&mut self, sender: &ComponentSender<Self>) {
        let Some(client) = self.client.clone() else {
            return;
        };
        if self.state != State::On || !self.visible {
            return;
        }
        let slots = glib::DateTime::now_local()
            .ok()
            .and_then(|now| self.period.slots(&now).ok());
        let Some(slots) = slots else {
            return;
        };
        self.generation += 1;
        let generation = self.generation;
        let from = u64::try_from(slots.start()).unwrap_or(0);
        let to = u64::try_from(slots.end()).unwrap_or(0);
        let bucket = slots.bucket.seconds();
        if self.slots.as_ref().map(|s| &s.starts) != Some(&slots.starts) {
            // Another period: the old bars would mislead until the answer comes.
            self.data = None;
            self.summary = Summary::default();
            self.revision += 1;
        }
        self.slots = Some(slots);
        let period_client = client.clone();
        sender.oneshot_command(async move {
            HistoryCommand::Fetched(generation, period_client.period(from, to, bucket).await)
        });
        if let Some(app) = self.selected.clone() {
            sender.oneshot_command(async move {
                HistoryCommand::AppFetched(
                    generation,
                    client.app_usage(&app, from, to, bucket).await,
                )
            });
        }
    }

    fn run_service(&mut self, command: ServiceCommand, sender: &ComponentSender<Self>) {
        if self.busy {
            return;
        }
        if self.flatpak {
            // The sandbox can neither see nor start the host's recorder program.
            let _ = sender.output(HistoryOutput::Toast(gettext(
                "Turning history on or off needs Sockeye installed from your distribution’s packages.",
            )));
            return;
        }
        self.busy = true;
        self.revision += 1;
        sender.oneshot_command(async move {
            HistoryCommand::ServiceDone(run_service_command(command).await)
        });
    }

    fn choose_export_file(&self, root: &gtk::Stack, sender: &ComponentSender<Self>) {
        let sender = sender.clone();
        let request = crate::adaptive::save_file::SaveRequest {
            title: gettext("Export History"),
            accept: gettext("_Export"),
            suggested_name: self.export_file_name(),
        };
        let pending = crate::adaptive::save_file::ask_save_path(root, &request, move |path| {
            sender.input(HistoryInput::ExportTo(path));
        });
        self.chooser.replace(Some(pending));
    }

    /// `sockeye-history-2026-12-07.csv`: the first day of the period.
    fn export_file_name(&self) -> String {
        let day = self
            .slots
            .as_ref()
            .and_then(|s| s.local(0))
            .map(|d| format_date(&d, "%Y-%m-%d"))
            .unwrap_or_default();
        format!("sockeye-history-{day}.csv")
    }

    /// Writes the shown period's rows (the selected app's only, when one is selected).
    fn export(&self, path: &std::path::Path) -> std::io::Result<()> {
        let (Some(data), Some(slots)) = (&self.data, &self.slots) else {
            return Err(std::io::Error::other(gettext("nothing to export yet")));
        };
        let rows: Vec<_> = data
            .rows
            .iter()
            .filter(|r| self.selected.as_ref().is_none_or(|app| &r.app == app))
            .cloned()
            .collect();
        let mut csv = Vec::new();
        write_csv(&rows, &slots.tz, &mut csv)?;
        // GIO writes a temporary file beside it and renames it over `path`: a reader never
        // sees half a file, and a failed write leaves an earlier export as it was.
        gtk::gio::File::for_path(path)
            .replace_contents(
                &csv,
                None,
                false,
                gtk::gio::FileCreateFlags::NONE,
                gtk::gio::Cancellable::NONE,
            )
            .map(|_| ())
            .map_err(|error| std::io::Error::other(error.message().to_owned()))
    }
}

/// "Clear History?"; clearing is sent as `HistoryInput::Clear`.
fn ask_clear(root: &gtk::Stack, sender: &ComponentSender<HistoryPage>) {
    let question = crate::adaptive::confirm::Question {
        heading: gettext("Clear History?"),
        body: gettext(
            "The recorded use of your apps is deleted from the recorder’s database. This cannot be undone.",
        ),
        cancel: gettext("_Cancel"),
        action: gettext("_Clear"),
    };
    let sender = sender.clone();
    crate::adaptive::confirm::confirm_destructive(root, &question, move || {
        sender.input(HistoryInput::Clear);
    });
}
