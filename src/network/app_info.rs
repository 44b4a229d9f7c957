//! Application names and icons from the installed desktop files (`gio::AppInfo::all`, read
//! once), looked up by app id.

use gtk::gio;
use gtk::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;

use crate::models::process_table::{RowData, RowKey};

/// Icon for processes without a known application.
const PROCESS_ICON: &str = "application-x-executable";
/// Icon for traffic that matched no socket.
const UNATTRIBUTED_ICON: &str = "dialog-question-symbolic";
/// The icon of the kernel tunnels' row: known traffic, only not an app's.
const TUNNEL_ICON: &str = "network-vpn-symbolic";

/// An installed application's name and icon.
type Installed = (String, Option<gio::Icon>);

#[derive(Default)]
pub struct AppInfoCache {
    /// Desktop file id without `.desktop` → (name, icon); filled on first use.
    installed: RefCell<Option<HashMap<String, Installed>>>,
}

impl AppInfoCache {
    fn lookup(&self, app_id: &str) -> Option<(String, gio::Icon)> {
        if app_id.is_empty() {
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
        installed.get(app_id).map(|(name, icon)| {
            let icon = icon
                .clone()
                .unwrap_or_else(|| gio::ThemedIcon::new(PROCESS_ICON).upcast());
            (name.clone(), icon)
        })
    }

    /// The application's name from its desktop file.
    pub fn name(&self, app_id: &str) -> Option<String> {
        self.lookup(app_id).map(|(name, _)| name)
    }

    /// The icon a row shows.
    pub fn icon_for(&self, data: &RowData) -> gio::Icon {
        if let RowKey::Unattributed(protocol) = &data.key {
            let icon = if protocol == "tunnel" {
                TUNNEL_ICON
            } else {
                UNATTRIBUTED_ICON
            };
            return gio::ThemedIcon::new(icon).upcast();
        }
        match self.lookup(&data.app_id) {
            Some((_, icon)) => icon,
            None => gio::ThemedIcon::new(PROCESS_ICON).upcast(),
        }
    }
}
