//! The Network tab's widgets: the status pages (before authorization, waiting for it,
//! refused), the error bar, and the capture view (summary line, search bar, table, details).

use adw::prelude::*;
use gettextrs::gettext;
use gtk::gio;
use relm4::ComponentSender;

use super::details::DetailsPane;
use super::row_store::RowStore;
use super::table::TableView;
use super::{NetworkInput, NetworkPage};
use crate::format::{NumberFormat, Units};
use crate::models::capture_state::{CaptureState, Failure, Refusal};
use crate::models::process_table::Summary;

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
    pub(super) search_bar: gtk::SearchBar,
    pub(super) search_entry: gtk::SearchEntry,
    pub(super) details_revealer: gtk::Revealer,
    pub(super) table: TableView,
    pub(super) details: DetailsPane,
    pub(super) rows: RowStore,
}

impl NetworkWidgets {
    pub(super) fn build(
        root: &gtk::Box,
        sender: &ComponentSender<NetworkPage>,
        group: bool,
        show_idle: bool,
    ) -> Self {
        let (error_bar, error_label) = error_bar(sender);
        root.append(&error_bar);

        let stack = gtk::Stack::builder()
            .transition_type(gtk::StackTransitionType::Crossfade)
            .vexpand(true)
            .build();
        stack.add_named(&idle_page(sender), Some(IDLE));
        let (authorizing, spinner) = authorizing_page();
        stack.add_named(&authorizing, Some(AUTHORIZING));
        let refused = adw::StatusPage::builder()
            .icon_name("dialog-password-symbolic")
            .child(&pill_button(&gettext("_Try Again"), sender))
            .build();
        stack.add_named(&refused, Some(REFUSED));

        let capture = gtk::Box::new(gtk::Orientation::Vertical, 0);
        let search_entry = gtk::SearchEntry::builder()
            .placeholder_text(gettext("Search by name, pid, user or command line"))
            .hexpand(true)
            .build();
        let search_bar = gtk::SearchBar::builder()
            .child(
                &adw::Clamp::builder()
                    .maximum_size(600)
                    .child(&search_entry)
                    .build(),
            )
            .show_close_button(true)
            .build();
        search_bar.connect_entry(&search_entry);
        search_bar.set_key_capture_widget(Some(root));
        {
            let sender = sender.clone();
            search_entry.connect_search_changed(move |e| {
                sender.input(NetworkInput::Search(e.text().to_string()))
            });
        }
        capture.append(&search_bar);

        let summary = gtk::Box::builder()
            .spacing(6)
            .css_classes(["capture-summary"])
            .build();
        let download = summary_label(&["heading", "numeric", "download-rate"]);
        let upload = summary_label(&["heading", "numeric", "upload-rate"]);
        let attributed = summary_label(&["dim-label", "numeric"]);
        attributed.set_ellipsize(gtk::pango::EllipsizeMode::End);
        attributed.set_tooltip_text(Some(&gettext(
            "Share of the captured bytes that Sockeye matched to a process",
        )));
        let dropped = summary_label(&["warning", "numeric"]);
        dropped.set_ellipsize(gtk::pango::EllipsizeMode::End);
        dropped.set_visible(false);
        let paused = summary_label(&["paused-label"]);
        paused.set_label(&gettext("Paused"));
        paused.set_visible(false);
        let spacer = gtk::Box::builder().hexpand(true).build();
        // Everything in the line may shorten, so the window fits 360 px (HIG minimum).
        // The rates keep room for "↓ 999 kB/s"; the attributed share gives way first.
        for rate in [&download, &upload] {
            rate.set_ellipsize(gtk::pango::EllipsizeMode::End);
            rate.set_width_chars(9);
            rate.set_xalign(0.0);
        }
        for w in [&download, &upload, &attributed, &dropped] {
            summary.append(w);
        }
        summary.append(&spacer);
        summary.append(&paused);

        let search_button = gtk::ToggleButton::builder()
            .icon_name("system-search-symbolic")
            .tooltip_text(gettext("Search (Ctrl+F)"))
            .css_classes(["flat"])
            .build();
        search_button
            .bind_property("active", &search_bar, "search-mode-enabled")
            .bidirectional()
            .sync_create()
            .build();
        let group_button = gtk::ToggleButton::builder()
            .icon_name("view-app-grid-symbolic")
            .tooltip_text(gettext("Group by Application"))
            .active(group)
            .css_classes(["flat"])
            .build();
        let group_toggled = {
            let sender = sender.clone();
            group_button
                .connect_toggled(move |b| sender.input(NetworkInput::SetGrouping(b.is_active())))
        };
        let menu = gio::Menu::new();
        // A check item (stateful action); in the menu rather than a button so the line
        // fits a 360 px window.
        menu.append(Some(&gettext("_Pause Display")), Some("network.pause"));
        menu.append(
            Some(&gettext("_Reset Totals")),
            Some("network.reset-totals"),
        );
        menu.append(
            Some(&gettext("_Clear Exited Processes")),
            Some("network.clear-exited"),
        );
        let more = gtk::MenuButton::builder()
            .icon_name("view-more-symbolic")
            .menu_model(&menu)
            .tooltip_text(gettext("More Actions"))
            .css_classes(["flat"])
            .build();
        for w in [
            search_button.upcast_ref::<gtk::Widget>(),
            group_button.upcast_ref(),
            more.upcast_ref(),
        ] {
            summary.append(w);
        }
        capture.append(&summary);
        capture.append(&gtk::Separator::new(gtk::Orientation::Horizontal));

        let table = TableView::new(show_idle);
        let details = DetailsPane::new();
        {
            let sender = sender.clone();
            details
                .close
                .connect_clicked(move |_| sender.input(NetworkInput::CloseDetails));
        }
        // Table and details side by side; the details slide in when a row is selected.
        let details_revealer = gtk::Revealer::builder()
            .transition_type(gtk::RevealerTransitionType::SlideLeft)
            .child(&details.root)
            .reveal_child(false)
            .build();
        let body = gtk::Box::builder()
            .css_classes(["process-table"])
            .vexpand(true)
            .build();
        body.append(&table.scrolled);
        body.append(&details_revealer);
        capture.append(&body);
        stack.add_named(&capture, Some(CAPTURE));
        root.append(&stack);

        {
            let sender = sender.clone();
            table.selection.connect_selection_changed(move |_, _, _| {
                sender.input(NetworkInput::SelectionChanged)
            });
        }

        let rows = RowStore::default();
        table.set_rows(if group { &rows.grouped } else { &rows.flat });
        Self {
            stack,
            refused,
            spinner,
            error_bar,
            error_label,
            download,
            upload,
            attributed,
            dropped,
            paused,
            group_button,
            group_toggled,
            search_bar,
            search_entry,
            details_revealer,
            table,
            details,
            rows,
        }
    }

    /// Shows the flat or the grouped rows, and the grouping button to match (without it
    /// reporting the change back as the user's).
    pub(super) fn show_grouping(&self, group: bool) {
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

fn summary_label(classes: &[&str]) -> gtk::Label {
    gtk::Label::builder().css_classes(classes.to_vec()).build()
}

fn pill_button(label: &str, sender: &ComponentSender<NetworkPage>) -> gtk::Button {
    let button = gtk::Button::builder()
        .label(label)
        .use_underline(true)
        .halign(gtk::Align::Center)
        .css_classes(["pill", "suggested-action"])
        .build();
    let sender = sender.clone();
    button.connect_clicked(move |_| sender.input(NetworkInput::StartCapture));
    button
}

fn idle_page(sender: &ComponentSender<NetworkPage>) -> adw::StatusPage {
    adw::StatusPage::builder()
        .icon_name("network-transmit-receive-symbolic")
        .title(gettext("See Which Apps Use the Network"))
        .description(gettext(
            "Seeing the traffic of every process needs administrator rights. Only Sockeye’s small capture helper gets them, and it stops when you leave this tab or close the window.",
        ))
        .child(&pill_button(&gettext("_Start Capture"), sender))
        .build()
}

/// The page shown while waiting for authorization, and its spinner (which must spin only
/// while shown: a spinning GtkSpinner keeps the frame clock running even when hidden).
fn authorizing_page() -> (adw::StatusPage, gtk::Spinner) {
    let spinner = gtk::Spinner::builder()
        .width_request(32)
        .height_request(32)
        .halign(gtk::Align::Center)
        .build();
    let page = adw::StatusPage::builder()
        .title(gettext("Starting Capture…"))
        .description(gettext("Waiting for authorization"))
        .child(&spinner)
        .build();
    (page, spinner)
}

fn error_bar(sender: &ComponentSender<NetworkPage>) -> (gtk::Revealer, gtk::Label) {
    let bar = gtk::Box::builder()
        .spacing(12)
        .css_classes(["error-bar"])
        .build();
    bar.append(&gtk::Image::from_icon_name("dialog-warning-symbolic"));
    let label = gtk::Label::builder()
        .xalign(0.0)
        .wrap(true)
        .hexpand(true)
        .build();
    bar.append(&label);
    let restart = gtk::Button::builder()
        .label(gettext("_Restart"))
        .use_underline(true)
        .valign(gtk::Align::Center)
        .css_classes(["suggested-action"])
        .build();
    {
        let sender = sender.clone();
        restart.connect_clicked(move |_| sender.input(NetworkInput::StartCapture));
    }
    bar.append(&restart);
    let revealer = gtk::Revealer::builder()
        .child(&bar)
        .reveal_child(false)
        .build();
    (revealer, label)
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
