//! The Network tab's widgets, built from `ui/network-page.ui`: the status pages (before
//! authorization, waiting for it, refused), the error bar, and the capture view (summary
//! line with the Processes/Hosts switch, search bar, the process table or the hosts table,
//! details); and how they show the page's state.

use adw::prelude::*;
use gettextrs::gettext;
use gtk::gio;
use relm4::ComponentSender;

use super::host_table::{self, HostTableView};
use super::row_store::RowStore;
use super::table::{self, TableView};
use super::{NetworkInput, NetworkPage, NetworkView};
use crate::adaptive::details_split::{DetailsSplit, SplitWidgets};
use crate::adaptive::error_banner::{ErrorBanner, ErrorBarWidgets};
use crate::adaptive::spinner::Spinner;
use crate::format::{NumberFormat, Units};
use crate::models::capture_state::{CaptureState, Failure, Refusal};
use crate::models::process_table::Summary;
use crate::ui::{Shown, Template};

/// `gtk::Stack` child names.
pub(super) const IDLE: &str = "idle";
pub(super) const AUTHORIZING: &str = "authorizing";
pub(super) const REFUSED: &str = "refused";
pub(super) const CAPTURE: &str = "capture";

pub struct NetworkWidgets {
    pub(super) stack: gtk::Stack,
    pub(super) refused: adw::StatusPage,
    pub(super) spinner: Spinner,
    pub(super) error_banner: ErrorBanner,
    pub(super) download: gtk::Label,
    pub(super) upload: gtk::Label,
    pub(super) attributed: gtk::Label,
    pub(super) dropped: gtk::Label,
    pub(super) paused: gtk::Label,
    /// `network.group`, whose state (the menu's check mark) shows the model's grouping.
    group_action: gio::SimpleAction,
    /// `network.pause`, whose state (the menu's check mark) shows the model's.
    pause_action: gio::SimpleAction,
    /// The grouping last shown: the button changes itself before the model hears of it.
    shown_group: Shown<bool>,
    pub(super) search_bar: gtk::SearchBar,
    pub(super) search_entry: gtk::SearchEntry,
    /// Whether the search bar was last shown open: GTK opens it (typing) and closes it
    /// (Escape) itself before the model hears of it.
    shown_search: Shown<bool>,
    details_split: DetailsSplit,
    pub(super) table: TableView,
    pub(super) rows: RowStore,
    /// "processes" (the table) or "hosts" (`hosts_stack`).
    views: gtk::Stack,
    /// The view switch: active shows the hosts.
    hosts_button: gtk::ToggleButton,
    /// Its `toggled` handler, blocked while the model sets the button.
    hosts_toggled: gtk::glib::SignalHandlerId,
    /// The view last shown: the switch changes itself before the model hears of it.
    shown_view: Shown<NetworkView>,
    pub(super) host_table: HostTableView,
    /// "list" (the hosts table) or "error" (`hosts_error`).
    hosts_stack: gtk::Stack,
    hosts_error: adw::StatusPage,
}

impl NetworkWidgets {
    /// Builds the page into `root`, with `details` (the details pane's widget) beside the
    /// table.
    pub(super) fn build(
        root: &gtk::Box,
        details: &impl IsA<gtk::Widget>,
        sender: &ComponentSender<NetworkPage>,
        group: bool,
        show_idle: bool,
    ) -> Self {
        let ui = Template::load("network-page.ui");
        root.append(&ui.get::<gtk::Box>("content"));
        let (pause_action, group_action) = install_actions(root, sender, group);

        for id in ["start_button", "try_again_button", "restart_button"] {
            let sender = sender.clone();
            ui.get::<gtk::Button>(id)
                .connect_clicked(move |_| sender.input(NetworkInput::StartCapture));
        }

        let search_bar: gtk::SearchBar = ui.get("search_bar");
        let search_entry: gtk::SearchEntry = ui.get("search_entry");
        search_bar.connect_entry(&search_entry);
        search_bar.set_key_capture_widget(Some(root));
        {
            let sender = sender.clone();
            search_entry.connect_search_changed(move |e| {
                sender.input(NetworkInput::Search(e.text().to_string()))
            });
        }
        {
            let sender = sender.clone();
            search_bar.connect_search_mode_enabled_notify(move |bar| {
                sender.input(NetworkInput::SetSearchMode(bar.is_search_mode()))
            });
        }

        let table = TableView::new(show_idle);
        let host_table = HostTableView::new();
        let hosts_error = adw::StatusPage::builder()
            .icon_name("network-server-symbolic")
            .title(gettext("Hosts Unavailable"))
            .build();
        let hosts_stack = gtk::Stack::new();
        hosts_stack.add_named(&host_table.scrolled, Some("list"));
        hosts_stack.add_named(&hosts_error, Some("error"));
        // Sized by the page shown: the hosts table must not widen the process table's
        // narrow layout (measured together, the window asked for 486 px at 390).
        let views = gtk::Stack::builder()
            .hexpand(true)
            .hhomogeneous(false)
            .transition_type(gtk::StackTransitionType::Crossfade)
            .build();
        views.add_named(&table.scrolled, Some("processes"));
        views.add_named(&hosts_stack, Some("hosts"));
        let hosts_button: gtk::ToggleButton = ui.get("hosts_button");
        let hosts_toggled = {
            let sender = sender.clone();
            hosts_button.connect_toggled(move |b| {
                sender.input(NetworkInput::ShowView(if b.is_active() {
                    NetworkView::Hosts
                } else {
                    NetworkView::Processes
                }))
            })
        };
        {
            let sender = sender.clone();
            host_table
                .selection
                .connect_selection_changed(move |selection, _, _| {
                    let key = selection
                        .downcast_ref::<gtk::SingleSelection>()
                        .and_then(host_table::selected_host)
                        .map(|row| row.key());
                    sender.input(NetworkInput::HostSelectionChanged(key))
                });
        }
        let details_split = {
            let sender = sender.clone();
            DetailsSplit::new(
                SplitWidgets {
                    slot: ui.get("table_slot"),
                    revealer: ui.get("details_revealer"),
                    table: views.upcast_ref(),
                    details: details.upcast_ref(),
                },
                move || sender.input(NetworkInput::CloseDetails),
            )
        };
        {
            let sender = sender.clone();
            table
                .selection
                .connect_selection_changed(move |selection, _, _| {
                    let key = selection
                        .downcast_ref::<gtk::SingleSelection>()
                        .and_then(table::selected_row)
                        .map(|row| row.key());
                    sender.input(NetworkInput::SelectionChanged(key))
                });
        }

        let rows = RowStore::default();
        table.set_rows(if group { &rows.grouped } else { &rows.flat });
        Self {
            stack: ui.get("stack"),
            refused: ui.get("refused"),
            spinner: Spinner::new(ui.get("spinner")),
            error_banner: ErrorBanner::new(ErrorBarWidgets {
                revealer: ui.get("error_bar"),
                label: ui.get("error_label"),
                button: ui.get("restart_button"),
            }),
            download: ui.get("download"),
            upload: ui.get("upload"),
            attributed: ui.get("attributed"),
            dropped: ui.get("dropped"),
            paused: ui.get("paused"),
            group_action,
            pause_action,
            shown_group: Shown::default(),
            search_bar,
            search_entry,
            shown_search: Shown::default(),
            details_split,
            table,
            rows,
            views,
            hosts_button,
            hosts_toggled,
            shown_view: Shown::default(),
            host_table,
            hosts_stack,
            hosts_error,
        }
    }

    /// Shows the processes or the hosts, the switch to match, and the grouping button only
    /// where it applies, if the model's value moved since last shown.
    pub(super) fn show_view(&mut self, view: NetworkView) {
        if !self.shown_view.changed(&view) {
            return;
        }
        let hosts = view == NetworkView::Hosts;
        self.views
            .set_visible_child_name(if hosts { "hosts" } else { "processes" });
        self.hosts_button.block_signal(&self.hosts_toggled);
        self.hosts_button.set_active(hosts);
        self.hosts_button.unblock_signal(&self.hosts_toggled);
        // Grouping applies to processes only.
        self.group_action
            .set_enabled(view == NetworkView::Processes);
    }

    /// Shows why the helper could not list its hosts, or the hosts.
    pub(super) fn show_hosts_error(&self, error: Option<&str>) {
        match error {
            Some(error) => {
                self.hosts_error.set_description(Some(error));
                self.hosts_stack.set_visible_child_name("error");
            }
            None => self.hosts_stack.set_visible_child_name("list"),
        }
    }

    /// Shows whether the display is paused: the menu's check mark, and "Paused" in the
    /// attributed share's place, so the line keeps its width.
    pub(super) fn show_paused(&self, paused: bool) {
        self.pause_action.set_state(&paused.to_variant());
        self.paused.set_visible(paused);
        self.attributed.set_visible(!paused);
    }

    /// Opens or closes the search bar, focusing the entry when it opens, if the model's
    /// value moved since last shown.
    pub(super) fn show_search(&mut self, open: bool) {
        if self.shown_search.changed(&open) && self.search_bar.is_search_mode() != open {
            self.search_bar.set_search_mode(open);
            if open {
                self.search_entry.grab_focus();
            }
        }
    }

    /// Shows the details pane or hides it.
    pub(super) fn show_details(&self, shown: bool) {
        self.details_split.show(shown);
    }

    /// At phone width the table shows less, and the details pane (`adw_1_7`) lies over it.
    pub(super) fn set_narrow(&self, narrow: bool) {
        self.table.set_narrow(narrow);
        self.host_table.set_narrow(narrow);
        self.details_split.set_narrow(narrow);
    }

    /// Shows the flat or the grouped rows, and the menu's check mark to match, if the
    /// model's value moved since last shown.
    pub(super) fn show_grouping(&mut self, group: bool) {
        if !self.shown_group.changed(&group) {
            return;
        }
        self.table.set_rows(if group {
            &self.rows.grouped
        } else {
            &self.rows.flat
        });
        self.group_action.set_state(&group.to_variant());
    }

    /// Shows the page that goes with `state`.
    pub(super) fn show_state(&self, state: &CaptureState, has_data: bool) {
        let (page, error) = match state {
            CaptureState::Idle => (IDLE, None),
            CaptureState::Authorizing => (AUTHORIZING, None),
            CaptureState::Connected { .. } => (CAPTURE, None),
            CaptureState::Refused(reason) => {
                let (title, description) = refusal_text(reason);
                self.refused.set_title(&title);
                self.refused.set_description(Some(&description));
                (REFUSED, None)
            }
            CaptureState::Failed(failure) => (
                if has_data { CAPTURE } else { IDLE },
                Some(failure_text(failure)),
            ),
        };
        self.stack.set_visible_child_name(page);
        self.spinner.set_spinning(page == AUTHORIZING);
        self.error_banner.show(error.as_deref());
    }

    /// The summary line above the table.
    pub(super) fn show_summary(&self, summary: &Summary, numbers: &NumberFormat, units: Units) {
        self.download
            .set_label(&format!("↓ {}", numbers.rate(summary.download_rate, units)));
        self.upload
            .set_label(&format!("↑ {}", numbers.rate(summary.upload_rate, units)));
        match summary.attributed_share {
            Some(share) => self.attributed.set_label(
                // Translators: {} is a percentage such as "99.8%".
                &gettext("{} attributed").replacen("{}", &numbers.percent(share), 1),
            ),
            None => self.attributed.set_label(""),
        }
        self.dropped.set_visible(summary.dropped > 0);
        if summary.dropped > 0 {
            self.dropped.set_label(
                &gettextrs::ngettext(
                    "{} packet dropped",
                    "{} packets dropped",
                    u32::try_from(summary.dropped).unwrap_or(u32::MAX),
                )
                .replacen("{}", &numbers.count(summary.dropped), 1),
            );
        }
    }
}

fn refusal_text(reason: &Refusal) -> (String, String) {
    match reason {
        Refusal::Dismissed => (
            gettext("Authorization Cancelled"),
            gettext("Capture needs administrator rights. Try again when you are ready to enter the password."),
        ),
        Refusal::NotAuthorized => (
            gettext("Not Authorized"),
            gettext("The system did not allow this account to capture network traffic."),
        ),
        Refusal::HelperMissing(detail) => (
            gettext("Capture Helper Missing"),
            gettext("Sockeye’s capture helper could not be found ({}). Reinstalling Sockeye should fix this.")
                .replacen("{}", detail, 1),
        ),
        Refusal::HelperUnsafe(detail) => (
            gettext("Install Sockeye System-Wide"),
            gettext("Sockeye’s capture helper can be changed by programs running as you ({}), so asking for the administrator password to run it would let them take over this computer. Install Sockeye system-wide, for all users, to capture network traffic.")
                .replacen("{}", detail, 1),
        ),
    }
}

fn failure_text(failure: &Failure) -> String {
    match failure {
        Failure::HelperExited(detail) => {
            gettext("The capture helper stopped unexpectedly: {}").replacen("{}", detail, 1)
        }
        Failure::CaptureFailed(detail) => gettext("Capture stopped: {}").replacen("{}", detail, 1),
        Failure::ProtocolMismatch(detail) => gettext(
            "The capture helper is a different version ({}). Restart Sockeye after updating it.",
        )
        .replacen("{}", detail, 1),
    }
}

/// `network.reset-totals`, `network.clear-exited`, and `network.pause` and `network.group`
/// (check items whose state follows the model's), for the page's menu; returns the last two.
fn install_actions(
    root: &gtk::Box,
    sender: &ComponentSender<NetworkPage>,
    group_by_application: bool,
) -> (gio::SimpleAction, gio::SimpleAction) {
    let group = gio::SimpleActionGroup::new();
    for (name, input) in [("reset-totals", true), ("clear-exited", false)] {
        let action = gio::SimpleAction::new(name, None);
        let sender = sender.clone();
        action.connect_activate(move |_, _| {
            sender.input(if input {
                NetworkInput::ResetTotals
            } else {
                NetworkInput::ClearExited
            })
        });
        group.add_action(&action);
    }
    // Pausing freezes the display only; capture and accounting go on.
    let pause = gio::SimpleAction::new_stateful("pause", None, &false.to_variant());
    {
        let sender = sender.clone();
        pause.connect_activate(move |_, _| sender.input(NetworkInput::TogglePause));
    }
    group.add_action(&pause);
    // A check item too (in the menu, so the summary line keeps room for the view switch in
    // a 360 px window); activating it asks for the opposite of what it shows.
    let grouping =
        gio::SimpleAction::new_stateful("group", None, &group_by_application.to_variant());
    {
        let sender = sender.clone();
        grouping.connect_activate(move |action, _| {
            let grouped = action
                .state()
                .and_then(|s| s.get::<bool>())
                .unwrap_or(false);
            sender.input(NetworkInput::SetGrouping(!grouped))
        });
    }
    group.add_action(&grouping);
    root.insert_action_group("network", Some(&group));
    (pause, grouping)
}
