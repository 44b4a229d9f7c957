//! The Interfaces list: one row per interface, updated in place; rows of vanished
//! interfaces are removed and new ones added.

use adw::prelude::*;
use gettextrs::gettext;
use std::collections::BTreeMap;

use crate::format::{NumberFormat, Units};
use crate::models::overview::InterfaceState;

struct Row {
    row: adw::ActionRow,
    rates: gtk::Label,
    totals: gtk::Label,
}

pub(super) struct InterfaceRows {
    group: adw::PreferencesGroup,
    rows: BTreeMap<String, Row>,
}

impl InterfaceRows {
    pub(super) fn new(group: adw::PreferencesGroup) -> Self {
        Self {
            group,
            rows: BTreeMap::new(),
        }
    }

    pub(super) fn remove(&mut self, names: &[String]) {
        for name in names {
            if let Some(row) = self.rows.remove(name) {
                self.group.remove(&row.row);
            }
        }
    }

    /// Updates the row of `interface`, creating it the first time.
    pub(super) fn update(
        &mut self,
        interface: &InterfaceState,
        numbers: &NumberFormat,
        units: Units,
    ) {
        let group = &self.group;
        let row = self
            .rows
            .entry(interface.name.clone())
            .or_insert_with(|| Row::new(group, &interface.name, interface.kind.icon_name()));

        let mut subtitle = interface.kind.label();
        let addresses: Vec<String> = interface
            .addresses
            .iter()
            .map(ToString::to_string)
            .collect();
        if !addresses.is_empty() {
            subtitle.push_str(" · ");
            subtitle.push_str(&addresses.join(", "));
        }
        row.row.set_subtitle(&glib_escape(&subtitle));
        row.rates.set_label(
            &gettext("↓ {down}   ↑ {up}")
                .replacen("{down}", &numbers.rate(interface.download_rate, units), 1)
                .replacen("{up}", &numbers.rate(interface.upload_rate, units), 1),
        );
        row.totals.set_label(
            &gettext("{received} received · {sent} sent")
                .replacen("{received}", &numbers.amount(interface.received, units), 1)
                .replacen("{sent}", &numbers.amount(interface.sent, units), 1),
        );
    }
}

impl Row {
    fn new(group: &adw::PreferencesGroup, name: &str, icon: &str) -> Self {
        let row = adw::ActionRow::builder()
            .title(glib_escape(name))
            .subtitle_lines(2)
            .build();
        row.add_prefix(&gtk::Image::from_icon_name(icon));
        let figures = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .valign(gtk::Align::Center)
            .spacing(2)
            .build();
        let rates = gtk::Label::builder()
            .xalign(1.0)
            .css_classes(["numeric"])
            .build();
        let totals = gtk::Label::builder()
            .xalign(1.0)
            .css_classes(["caption", "dim-label", "numeric"])
            .build();
        figures.append(&rates);
        figures.append(&totals);
        row.add_suffix(&figures);
        group.add(&row);
        Self { row, rates, totals }
    }
}

/// Row titles and subtitles are Pango markup: escape names we did not write.
fn glib_escape(text: &str) -> String {
    gtk::glib::markup_escape_text(text).to_string()
}
