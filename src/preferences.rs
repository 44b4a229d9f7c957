//! The Preferences window, built from `ui/preferences.ui`: refresh interval, units, idle
//! processes, grouping. Every change is saved at once and reported to the window.

use adw::prelude::*;
use std::rc::Rc;

use crate::format::Units;
use crate::settings::{Preferences, Settings, REFRESH_INTERVALS_MS};
use crate::ui::Template;

/// Shows the Preferences window over `parent`; `changed` runs after every change with the
/// new values (already saved in `settings`).
pub fn present(
    parent: &impl IsA<gtk::Window>,
    settings: Rc<Settings>,
    changed: impl Fn(Preferences) + 'static,
) {
    let current = settings.preferences();
    // Reports the preferences as saved; every handler below calls it after saving.
    let report: Rc<dyn Fn()> = {
        let settings = settings.clone();
        Rc::new(move || changed(settings.preferences()))
    };
    let ui = Template::load("preferences.ui");
    let window: adw::PreferencesWindow = ui.get("window");
    window.set_transient_for(Some(parent));

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

    let group_switch: gtk::Switch = ui.get("group_switch");
    group_switch.set_active(current.group_by_application);
    {
        let (settings, report) = (settings.clone(), report.clone());
        group_switch.connect_active_notify(move |s| {
            settings.set_group_by_application(s.is_active());
            report();
        });
    }

    let idle_switch: gtk::Switch = ui.get("idle_switch");
    idle_switch.set_active(current.show_idle);
    {
        let (settings, report) = (settings.clone(), report.clone());
        idle_switch.connect_active_notify(move |s| {
            settings.set_show_idle(s.is_active());
            report();
        });
    }

    ui.get::<adw::PreferencesGroup>("not_persistent")
        .set_visible(!settings.is_persistent());
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
