//! The History tab's widgets set from the model on every change ([`render`]); [`dump`]
//! writes what they show, for the GUI tests.

use adw::prelude::*;
use gettextrs::gettext;
use gtk::gio;

use super::app_list;
use super::chart::ChartData;
use super::period::{format_date, local_time, Bucket, PeriodKind, Slots};
use super::series::{gaps, summarise, AppTotal, Summary, Usage};
use super::view::{HistoryInput, HistoryPage, HistoryWidgets, State};
use crate::widgets::rate_chart::nice_ceiling;

/// Sets every widget from the model.
pub(super) fn render(page: &HistoryPage, widgets: &HistoryWidgets) {
    let name = match page.state {
        State::Connecting => "connecting",
        State::Off => "off",
        State::On => "on",
        State::Unavailable => "unavailable",
    };
    widgets.stack.set_visible_child_name(name);

    let mut about = gettext(
        "History needs the Sockeye recorder, a system service that counts how many bytes each app sends and receives, hour by hour, and keeps these totals in a database on this computer. It records no addresses and no contents. You see your own apps; other users’ apps are shown only as one sum, unless an administrator allows more.",
    );
    if page.flatpak {
        about.push_str("\n\n");
        about.push_str(&gettext(
            "Turning history on needs Sockeye installed from your distribution’s packages: an app in a Flatpak cannot install a system service. If the recorder runs on this computer, its history shows here.",
        ));
    }
    widgets.off_page.set_description(Some(&about));
    widgets.turn_on.set_visible(!page.flatpak);
    widgets.turn_on.set_sensitive(!page.busy);
    widgets
        .unavailable_page
        .set_description(Some(&page.unavailable));

    let kind_index = PeriodKind::ALL
        .iter()
        .position(|k| *k == page.period.kind)
        .unwrap_or(0) as u32;
    if widgets.kinds.selected() != kind_index {
        widgets.kinds.set_selected(kind_index);
    }
    widgets.next.set_sensitive(page.period.offset < 0);
    widgets.previous.set_sensitive(true);

    let Some(slots) = &page.slots else {
        return;
    };
    widgets.title.set_label(&page.period.title(slots));

    // The selected app's rows split by executable, or every app.
    let selected_total = page
        .selected
        .as_ref()
        .and_then(|app| page.summary.apps.iter().find(|a| &a.app == app));
    let (summary, selected_name) = match (&page.selected, selected_total) {
        (Some(_), Some(total)) => (
            summarise(page.executables.iter().map(Usage::from), slots),
            Some(page.icons.describe(total).0),
        ),
        (Some(app), None) => (Summary::default(), Some(app.clone())),
        (None, _) => (page.summary.clone(), None),
    };
    widgets.back.set_visible(selected_name.is_some());
    widgets
        .app_title
        .set_label(selected_name.as_deref().unwrap_or_default());
    let (received, sent) = selected_total
        .map(|t| (t.received, t.sent))
        .unwrap_or((summary.received, summary.sent));
    widgets.totals.set_label(
        &gettext("{received} received, {sent} sent")
            .replacen("{received}", &page.numbers.amount(received, page.units), 1)
            .replacen("{sent}", &page.numbers.amount(sent, page.units), 1),
    );

    let now = glib_now();
    // Before the first recording there is nothing to miss: only later gaps are hatched.
    let gap_list = page
        .data
        .as_ref()
        .map(|d| {
            let first = match d.status.recording_since {
                0 => d.status.running_since,
                since => since,
            };
            let from = slots.start().max(i64::try_from(first).unwrap_or(i64::MAX));
            gaps(&d.spans, from, now.min(slots.end()))
        })
        .unwrap_or_default();
    widgets
        .gap_note
        .set_visible(!gap_list.is_empty() && page.data.is_some());
    widgets
        .chart
        .set_data(chart_data(page, slots, &summary, gap_list));
    // Also what screen readers get: GTK 4.8's Rust bindings cannot set an accessible label.
    widgets.chart.set_tooltip_text(Some(&match slots.bucket {
        Bucket::Hour => gettext("Received above the line, sent below, per hour and app"),
        Bucket::Day => gettext("Received above the line, sent below, per day and app"),
    }));

    // The list.
    while let Some(child) = widgets.list.first_child() {
        widgets.list.remove(&child);
    }
    let total = summary.received.saturating_add(summary.sent);
    widgets.list_title.set_label(&if selected_name.is_some() {
        gettext("Programs")
    } else {
        gettext("Apps")
    });
    for entry in &summary.apps {
        let row = if selected_name.is_some() {
            let icon = gio::ThemedIcon::new("application-x-executable").upcast();
            let row = app_list::row(
                entry,
                &entry.name,
                &icon,
                total,
                &page.numbers,
                page.units,
                None,
            );
            row.set_subtitle(&format!(
                "{}\n{}",
                row.subtitle().unwrap_or_default(),
                gtk::glib::markup_escape_text(&entry.app)
            ));
            row
        } else {
            let (name, icon) = page.icons.describe(entry);
            let select = page.sender_for(entry);
            app_list::row(
                entry,
                &name,
                &icon,
                total,
                &page.numbers,
                page.units,
                Some(select),
            )
        };
        widgets.list.append(&row);
    }
    let has_rows = !summary.apps.is_empty();
    widgets.list.set_visible(has_rows);
    widgets.list_title.set_visible(has_rows);
    widgets.empty.set_visible(!has_rows && page.data.is_some());

    widgets.status.set_label(&status_line(page));
}

/// Now, in seconds since the epoch.
fn glib_now() -> i64 {
    gtk::glib::real_time() / 1_000_000
}

fn chart_data(
    page: &HistoryPage,
    slots: &Slots,
    summary: &Summary,
    gap_list: Vec<(i64, i64)>,
) -> ChartData {
    let received_peak = summary
        .stacks
        .iter()
        .map(|s| s.received.iter().sum::<u64>())
        .max()
        .unwrap_or(0);
    let sent_peak = summary
        .stacks
        .iter()
        .map(|s| s.sent.iter().sum::<u64>())
        .max()
        .unwrap_or(0);
    let received_max = nice_ceiling(received_peak.max(1000) as f64) as u64;
    let sent_max = nice_ceiling(sent_peak.max(1000) as f64) as u64;
    let format = match (slots.bucket, page.period.kind) {
        // Translators: the hour under a bar of the history chart, as GLib's strftime format.
        (Bucket::Hour, _) => gettext("%H"),
        // Translators: the weekday under a bar of the history chart (a week), strftime format.
        (_, PeriodKind::ThisWeek | PeriodKind::Last7Days) => gettext("%a"),
        // Translators: the day of the month under a bar of the history chart, strftime format.
        _ => gettext("%e"),
    };
    let x_labels = (0..slots.len())
        .map(|i| {
            slots
                .local(i)
                .map(|d| format_date(&d, &format).trim().to_owned())
                .unwrap_or_default()
        })
        .collect();
    ChartData {
        stacks: summary.stacks.clone(),
        starts: slots.starts.clone(),
        gaps: gap_list,
        x_labels,
        received_max,
        sent_max,
        received_label: format!("↓ {}", page.numbers.amount(received_max, page.units)),
        sent_label: format!("↑ {}", page.numbers.amount(sent_max, page.units)),
    }
}

/// "Recording since 5 December 2026 · database 12 MB".
fn status_line(page: &HistoryPage) -> String {
    let Some(data) = &page.data else {
        return String::new();
    };
    let status = &data.status;
    let since = i64::try_from(status.recording_since)
        .ok()
        .filter(|t| *t > 0)
        .and_then(|t| local_time(t, &gtk::glib::TimeZone::local()))
        .map(|d| format_date(&d, "%x"));
    let mut line = match since {
        Some(since) => gettext("Recording since {since}, database {size}, kept {days} days")
            .replacen("{since}", &since, 1),
        None => gettext("Nothing recorded yet, database {size}, kept {days} days"),
    };
    line = line
        .replacen(
            "{size}",
            &page
                .numbers
                .amount(status.database_bytes, crate::format::Units::Bytes),
            1,
        )
        .replacen("{days}", &status.retention_days.to_string(), 1);
    if !status.sees_all {
        line.push_str(". ");
        line.push_str(&gettext("Other users’ apps are summed."));
    }
    line
}

impl HistoryPage {
    /// What activating an app's row does: select it.
    fn sender_for(&self, entry: &AppTotal) -> Box<dyn Fn()> {
        let app = entry.app.clone();
        let sender = self.input.clone();
        Box::new(move || {
            let _ = sender.send(HistoryInput::SelectApp(Some(app.clone())));
        })
    }
}

/// For the GUI tests: the visible page, the title and totals, and each list row's title,
/// subtitle and share, tab-separated, one per line.
pub(super) fn dump(widgets: &HistoryWidgets, path: &std::path::Path) {
    let mut text = format!(
        "page\t{}\n",
        widgets.stack.visible_child_name().unwrap_or_default()
    );
    if widgets.turn_on.is_visible() && widgets.turn_on.is_sensitive() {
        text.push_str(&format!(
            "button\t{}\n",
            widgets.turn_on.label().unwrap_or_default()
        ));
    }
    text.push_str(&format!("title\t{}\n", widgets.title.label()));
    text.push_str(&format!("totals\t{}\n", widgets.totals.label()));
    let mut child = widgets.list.first_child();
    while let Some(widget) = child {
        if let Some(row) = widget.downcast_ref::<adw::ActionRow>() {
            let share = row_suffix_label(row).unwrap_or_default();
            text.push_str(&format!(
                "row\t{}\t{}\t{}\n",
                row.title(),
                row.subtitle().unwrap_or_default().replace('\n', " "),
                share
            ));
        }
        child = widget.next_sibling();
    }
    // Written whole, then renamed, so a test never reads half a file.
    let partial = path.with_extension("partial");
    if std::fs::write(&partial, text).is_ok() {
        let _ = std::fs::rename(&partial, path);
    }
}

/// The share label at the end of a row.
fn row_suffix_label(row: &adw::ActionRow) -> Option<String> {
    let mut found = None;
    let mut stack = vec![row.clone().upcast::<gtk::Widget>()];
    while let Some(widget) = stack.pop() {
        if let Some(label) = widget.downcast_ref::<gtk::Label>() {
            if label.has_css_class("numeric") {
                found = Some(label.label().to_string());
            }
        }
        let mut child = widget.first_child();
        while let Some(c) = child {
            stack.push(c.clone());
            child = c.next_sibling();
        }
    }
    found
}
