//! The Network tab's widgets, built from `ui/network-page.ui`: the status pages (before
//! authorization, waiting for it, refused), the error bar, and the capture view (summary
//! line, search bar, table, details); and how they show the page's state.

use adw::prelude::*;
use gettextrs::gettext;
use gtk::gio;
use relm4::ComponentSender;

use super::row_store::RowStore;
use super::table::{self, TableView};
use super::{NetworkInput, NetworkPage};
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
    pub(super) spinner: gtk::Spinner,
    pub(super) error_bar: gtk::Revealer,
    pub(super) error_label: gtk::Label,
    pub(super) download: gtk::Label,
    pub(super) upload: gtk::Label,
    pub(super) attributed: gtk::Label,
    pub(super) dropped: gtk::Label,
    pub(super) paused: gtk::Label,
    pub(super) group_button: gtk::ToggleButton,
    /// The grouping button's `toggled` handler, blocked while the model sets the button.
    group_toggled: gtk::glib::SignalHandlerId,
    /// `network.pause`, whose state (the menu's check mark) shows the model's.
    pause_action: gio::SimpleAction,
    /// The grouping last shown: the button changes itself before the model hears of it.
    shown_group: Shown<bool>,
    pub(super) search_bar: gtk::SearchBar,
    pub(super) search_entry: gtk::SearchEntry,
    /// Whether the search bar was last shown open: GTK opens it (typing) and closes it
    /// (Escape) itself before the model hears of it.
    shown_search: Shown<bool>,
    pub(super) details_revealer: gtk::Revealer,
    pub(super) table: TableView,
    pub(super) rows: RowStore,
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
        let pause_action = install_actions(root, sender);

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

        let group_button: gtk::ToggleButton = ui.get("group_button");
        group_button.set_active(group);
        let group_toggled = {
            let sender = sender.clone();
            group_button
                .connect_toggled(move |b| sender.input(NetworkInput::SetGrouping(b.is_active())))
        };

        let table = TableView::new(show_idle);
        ui.get::<gtk::Box>("table_slot").prepend(&table.scrolled);
        let details_revealer: gtk::Revealer = ui.get("details_revealer");
        details_revealer.set_child(Some(details));
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
            spinner: ui.get("spinner"),
            error_bar: ui.get("error_bar"),
            error_label: ui.get("error_label"),
            download: ui.get("download"),
            upload: ui.get("upload"),
            attributed: ui.get("attributed"),
            dropped: ui.get("dropped"),
            paused: ui.get("paused"),
            group_button,
            group_toggled,
            pause_action,
            shown_group: Shown::default(),
            search_bar,
            search_entry,
            shown_search: Shown::default(),
            details_revealer,
            table,
            rows,
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
        if self.details_revealer.reveals_child() != shown {
            self.details_revealer.set_reveal_child(shown);
        }
    }

    /// Shows the flat or the grouped rows, and the grouping button to match (without it
    /// reporting the change back as the user's), if the model's value moved since last
    /// shown.
    pub(super) fn show_grouping(&mut self, group: bool) {
        if !self.shown_group.changed(&group) {
            return;
        }
        self.table.set_rows(if group {
            &self.rows.grouped
        } else {
            &self.rows.flat
        });
        self.group_button.block_signal(&self.group_toggled);
        self.group_button.set_active(group);
        self.group_button.unblock_signal(&self.group_toggled);
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
        if let Some(text) = &error {
            self.error_label.set_label(text);
        }
        self.error_bar.set_reveal_child(error.is_some());
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

/// `network.reset-totals`, `network.clear-exited` and `network.pause` (a check item whose
/// state follows the model's), for the page's menu; returns the last.
fn install_actions(root: &gtk::Box, sender: &ComponentSender<NetworkPage>) -> gio::SimpleAction {
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
    root.insert_action_group("network", Some(&group));
    pause
}
