//! The Preferences window or dialog (`crate::adaptive::preferences`): refresh interval,
//! units, idle processes, grouping, reverse lookups of host names. Every change is saved at
//! once and reported to the window.

use adw::prelude::*;
use gtk::glib;
use std::rc::Rc;

use crate::adaptive::preferences::PreferencesShell;
use crate::format::Units;
use crate::settings::{Preferences, Settings, REFRESH_INTERVALS_MS};

/// Shows the Preferences over `parent`; `changed` runs after every change with the
/// new values (already saved in `settings`).
pub fn present(
    parent: &adw::ApplicationWindow,
    settings: Rc<Settings>,
    changed: impl Fn(Preferences) + 'static,
) {
    let current = settings.preferences();
    // Reports the preferences as saved; every handler below calls it after saving.
    let report: Rc<dyn Fn()> = {
        let settings = settings.clone();
        Rc::new(move || changed(settings.preferences()))
    };
    let shell = PreferencesShell::load();
    let ui = shell.ui();

    // Each control shows the current value first, then reports changes: setting it after
    // connecting would save the value it already has.
    let intervals: Vec<String> = REFRESH_INTERVALS_MS
        .iter()
        .map(|ms| interval_label(*ms))
        .collect();
    let interval_names: Vec<&str> = intervals.iter().map(String::as_str).collect();
    let interval_row: adw::ComboRow = ui.get("interval_row");
    interval_row.set_model(Some(&gtk::StringList::new(&interval_names)));
    interval_row.set_selected(
        REFRESH_INTERVALS_MS
            .iter()
            .position(|ms| *ms == current.refresh_interval_ms)
            .unwrap_or(1) as u32,
    );
    {
        let (settings, report) = (settings.clone(), report.clone());
        interval_row.connect_selected_notify(move |row| {
            if let Some(ms) = REFRESH_INTERVALS_MS.get(row.selected() as usize) {
                settings.set_refresh_interval_ms(*ms);
                report();
            }
        });
    }

    let units_row: adw::ComboRow = ui.get("units_row");
    units_row.set_selected(match current.units {
        Units::Bytes => 0,
        Units::Bits => 1,
    });
    {
        let (settings, report) = (settings.clone(), report.clone());
        units_row.connect_selected_notify(move |row| {
            settings.set_units(if row.selected() == 1 {
                Units::Bits
            } else {
                Units::Bytes
            });
            report();
        });
    }

    bind_switch(ui.get("group_switch"), current.group_by_application, {
        let (settings, report) = (settings.clone(), report.clone());
        move |active| {
            settings.set_group_by_application(active);
            report();
        }
    });

    bind_switch(ui.get("idle_switch"), current.show_idle, {
        let (settings, report) = (settings.clone(), report.clone());
        move |active| {
            settings.set_show_idle(active);
            report();
        }
    });

    // Reverse lookups tell the DNS server which addresses the apps talk to: the row's
    // subtitle says so, and turning it off stops them at once.
    bind_switch(ui.get("lookup_switch"), current.look_up_host_names, {
        let (settings, report) = (settings.clone(), report.clone());
        move |active| {
            settings.set_look_up_host_names(active);
            report();
        }
    });

    ui.get::<adw::PreferencesGroup>("not_persistent")
        .set_visible(!settings.is_persistent());
    shell.present(parent);
}

/// Shows `active` on `switch` (a `GtkSwitch` or an `AdwSwitchRow`: both have the boolean
/// property `active`), then calls `toggled` on every change.
fn bind_switch(switch: glib::Object, active: bool, toggled: impl Fn(bool) + 'static) {
    switch.set_property("active", active);
    switch.connect_notify_local(Some("active"), move |switch, _| {
        toggled(switch.property("active"))
    });
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
