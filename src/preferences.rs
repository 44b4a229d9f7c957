//! The Preferences window: refresh interval, units, idle processes, grouping, style.

use adw::prelude::*;
use gettextrs::gettext;
use std::rc::Rc;

use crate::format::Units;
use crate::settings::{Preferences, Settings, REFRESH_INTERVALS_MS};

/// Shows the Preferences window over `parent`; `changed` runs after every change with the
/// new values (already saved in `settings`).
pub fn present(
    parent: &impl IsA<gtk::Window>,
    settings: Rc<Settings>,
    changed: impl Fn(Preferences) + 'static,
) {
    let current = settings.preferences();
    let changed = Rc::new(changed);

    let window = adw::PreferencesWindow::builder()
        .transient_for(parent)
        .modal(true)
        .search_enabled(false)
        .default_width(520)
        .default_height(520)
        .build();
    let page = adw::PreferencesPage::new();

    // Display
    let display = adw::PreferencesGroup::builder()
        .title(gettext("Display"))
        .build();

    let intervals: Vec<String> = REFRESH_INTERVALS_MS
        .iter()
        .map(|ms| interval_label(*ms))
        .collect();
    let interval_names: Vec<&str> = intervals.iter().map(String::as_str).collect();
    let interval_row = adw::ComboRow::builder()
        .title(gettext("Refresh Interval"))
        .subtitle(gettext("How often figures and charts are updated"))
        .model(&gtk::StringList::new(&interval_names))
        .selected(
            REFRESH_INTERVALS_MS
                .iter()
                .position(|ms| *ms == current.refresh_interval_ms)
                .unwrap_or(1) as u32,
        )
        .build();
    {
        let settings = settings.clone();
        let changed = changed.clone();
        interval_row.connect_selected_notify(move |row| {
            if let Some(ms) = REFRESH_INTERVALS_MS.get(row.selected() as usize) {
                settings.set_refresh_interval_ms(*ms);
                changed(settings.preferences());
            }
        });
    }
    display.add(&interval_row);

    let units_row = adw::ComboRow::builder()
        .title(gettext("Units"))
        .subtitle(gettext("Show amounts and rates in bytes or bits"))
        .model(&gtk::StringList::new(&[
            &gettext("Bytes (MB/s)"),
            &gettext("Bits (Mbit/s)"),
        ]))
        .selected(match current.units {
            Units::Bytes => 0,
            Units::Bits => 1,
        })
        .build();
    {
        let settings = settings.clone();
        let changed = changed.clone();
        units_row.connect_selected_notify(move |row| {
            let units = if row.selected() == 1 {
                Units::Bits
            } else {
                Units::Bytes
            };
            settings.set_units(units);
            changed(settings.preferences());
        });
    }
    display.add(&units_row);
    page.add(&display);

    // Network tab
    let network = adw::PreferencesGroup::builder()
        .title(gettext("Network Tab"))
        .build();
    let group_row = switch_row(
        &gettext("Group by Application"),
        &gettext("Show processes beneath the application they belong to"),
        current.group_by_application,
        {
            let settings = settings.clone();
            let changed = changed.clone();
            move |on| {
                settings.set_group_by_application(on);
                changed(settings.preferences());
            }
        },
    );
    network.add(&group_row);
    let idle_row = switch_row(
        &gettext("Show Idle Processes"),
        &gettext("Also list processes that have not sent or received anything yet"),
        current.show_idle,
        {
            let settings = settings.clone();
            let changed = changed.clone();
            move |on| {
                settings.set_show_idle(on);
                changed(settings.preferences());
            }
        },
    );
    network.add(&idle_row);
    page.add(&network);

    if !settings.is_persistent() {
        let note = adw::PreferencesGroup::builder()
            .description(gettext(
                "The settings schema is not installed: changes last until Sockeye quits.",
            ))
            .build();
        page.add(&note);
    }

    window.add(&page);
    window.present();
}

/// "0.5 seconds", "1 second", … for an interval in milliseconds.
fn interval_label(ms: u32) -> String {
    let seconds = f64::from(ms) / 1000.0;
    let number = crate::format::NumberFormat::from_locale()
        .number(seconds, if ms.is_multiple_of(1000) { 0 } else { 1 });
    // ngettext needs an integer; fractions take the plural form ("0.5 seconds").
    let n = if ms.is_multiple_of(1000) {
        ms / 1000
    } else {
        2
    };
    gettextrs::ngettext("{} second", "{} seconds", n).replacen("{}", &number, 1)
}

/// An action row with a switch at the end, the whole row activating the switch.
fn switch_row(
    title: &str,
    subtitle: &str,
    active: bool,
    on_toggle: impl Fn(bool) + 'static,
) -> adw::ActionRow {
    let switch = gtk::Switch::builder()
        .active(active)
        .valign(gtk::Align::Center)
        .build();
    switch.connect_active_notify(move |s| on_toggle(s.is_active()));
    let row = adw::ActionRow::builder()
        .title(title)
        .subtitle(subtitle)
        .activatable_widget(&switch)
        .build();
    row.add_suffix(&switch);
    row
}
