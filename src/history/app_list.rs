//! The list under the chart: one row per app (or, for one app, per executable) with its
//! chart colour, icon, name, bytes received and sent, and share of the period.

use adw::prelude::*;
use gettextrs::gettext;
use gtk::gio;
use sockeye_protocol::recorder::{OTHER_USERS_APP, SYSTEM_APP};
use std::cell::RefCell;
use std::collections::HashMap;

use super::series::{AppTotal, TOP_APPS};
use crate::format::{NumberFormat, Units};

/// Icon of an app without a desktop file.
const GENERIC_ICON: &str = "application-x-executable";

/// Names and icons from the installed desktop files (`gio::AppInfo::all`, read once), by
/// app id.
#[derive(Default)]
pub struct AppIcons {
    installed: RefCell<Option<HashMap<String, Installed>>>,
}

/// An installed application's name and icon.
type Installed = (String, Option<gio::Icon>);

impl AppIcons {
    /// The installed name and icon of `app` when it is an app id with a desktop file.
    fn lookup(&self, app: &str) -> Option<(String, gio::Icon)> {
        if app.starts_with('/') || app.starts_with('@') || app.is_empty() {
            return None;
        }
        let mut installed = self.installed.borrow_mut();
        let installed = installed.get_or_insert_with(|| {
            gio::AppInfo::all()
                .into_iter()
                .filter_map(|info| {
                    let id = info.id()?.to_string();
                    let id = id.strip_suffix(".desktop").unwrap_or(&id).to_owned();
                    Some((id, (info.name().to_string(), info.icon())))
                })
                .collect()
        });
        installed.get(app).map(|(name, icon)| {
            let icon = icon
                .clone()
                .unwrap_or_else(|| gio::ThemedIcon::new(GENERIC_ICON).upcast());
            (name.clone(), icon)
        })
    }

    /// Name and icon to show for an app total.
    pub fn describe(&self, app: &AppTotal) -> (String, gio::Icon) {
        let themed = |name: &str| gio::ThemedIcon::new(name).upcast::<gio::Icon>();
        match app.app.as_str() {
            OTHER_USERS_APP => (gettext("Other Users"), themed("system-users-symbolic")),
            SYSTEM_APP => (gettext("System"), themed("emblem-system-symbolic")),
            key => self.lookup(key).unwrap_or_else(|| {
                let name = if app.name.is_empty() {
                    key.rsplit('/').next().unwrap_or(key).to_owned()
                } else {
                    app.name.clone()
                };
                (name, themed(GENERIC_ICON))
            }),
        }
    }
}

/// One row: `total` is the period's bytes both ways, for the share. Activating the row
/// calls `on_activate` (none for executables).
pub fn row(
    entry: &AppTotal,
    name: &str,
    icon: &gio::Icon,
    total: u64,
    numbers: &NumberFormat,
    units: Units,
    on_activate: Option<Box<dyn Fn()>>,
) -> adw::ActionRow {
    let row = adw::ActionRow::builder()
        .title(glib_escape(name))
        .subtitle(
            // Translators: bytes received and sent in the history list, e.g. "↓ 12 MB  ↑ 3 MB".
            gettext("↓ {received}   ↑ {sent}")
                .replacen("{received}", &numbers.amount(entry.received, units), 1)
                .replacen("{sent}", &numbers.amount(entry.sent, units), 1),
        )
        .build();
    row.set_tooltip_text(Some(&entry.app));

    let swatch = gtk::Box::builder()
        .valign(gtk::Align::Center)
        .css_classes([
            "history-swatch".to_owned(),
            format!("history-layer-{}", entry.layer.min(TOP_APPS)),
        ])
        .build();
    let image = gtk::Image::from_gicon(icon);
    image.set_pixel_size(32);
    image.add_css_class("lowres-icon");
    // Prefixes are prepended: the swatch ends up first, at the row's edge.
    row.add_prefix(&image);
    row.add_prefix(&swatch);

    let share = if total == 0 {
        0.0
    } else {
        entry.total() as f64 / total as f64
    };
    let share_label = gtk::Label::builder()
        .label(numbers.percent(share))
        .css_classes(["numeric", "dim-label"])
        .build();
    row.add_suffix(&share_label);

    if let Some(on_activate) = on_activate {
        row.set_activatable(true);
        row.add_suffix(&gtk::Image::from_icon_name("go-next-symbolic"));
        row.connect_activated(move |_| on_activate());
    }
    row
}

/// ActionRow titles are markup: names from processes are not.
fn glib_escape(text: &str) -> String {
    gtk::glib::markup_escape_text(text).to_string()
}
