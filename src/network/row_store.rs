//! Keeps the table's `TrafficRow` objects in step with the `ProcessTable`: one object per
//! process, unattributed protocol and application, created once and updated in place.
//! Two root stores share them: flat (processes + unattributed) and grouped (applications,
//! each with its processes as children, + unattributed).

use gtk::gio;
use gtk::prelude::*;
use std::collections::HashMap;

use super::app_info::AppInfoCache;
use super::row_object::TrafficRow;
use crate::format::{NumberFormat, Units};
use crate::models::process_table::{AppKey, Changes, ProcessTable, RowKey};

pub struct RowStore {
    pub flat: gio::ListStore,
    pub grouped: gio::ListStore,
    rows: HashMap<RowKey, TrafficRow>,
    apps: HashMap<AppKey, TrafficRow>,
    /// pid → the application key whose children hold it.
    membership: HashMap<u32, AppKey>,
    pub app_info: AppInfoCache,
}

impl Default for RowStore {
    fn default() -> Self {
        Self {
            flat: gio::ListStore::new::<TrafficRow>(),
            grouped: gio::ListStore::new::<TrafficRow>(),
            rows: HashMap::new(),
            apps: HashMap::new(),
            membership: HashMap::new(),
            app_info: AppInfoCache::default(),
        }
    }
}

impl RowStore {
    /// Applies `changes` (rows added or updated) and regroups the applications.
    pub fn sync(
        &mut self,
        table: &ProcessTable,
        changes: &Changes,
        numbers: &NumberFormat,
        units: Units,
    ) {
        let mut new_flat = Vec::new();
        let mut new_unattributed = Vec::new();
        for key in changes.added.iter().chain(&changes.updated) {
            let Some(data) = table.row(key) else { continue };
            match self.rows.get(key) {
                Some(row) => row.update(data.clone(), numbers, units),
                None => {
                    let icon = self.app_info.icon_for(data);
                    let row = TrafficRow::new(data.clone(), icon, numbers, units);
                    if matches!(key, RowKey::Unattributed(_)) {
                        new_unattributed.push(row.clone());
                    }
                    new_flat.push(row.clone());
                    self.rows.insert(key.clone(), row);
                }
            }
        }
        // One splice per store: one items-changed signal instead of one per row.
        self.flat.splice(self.flat.n_items(), 0, &new_flat);
        self.grouped
            .splice(self.grouped.n_items(), 0, &new_unattributed);
        self.regroup(table, numbers, units);
    }

    /// Rebuilds the application rows' values and moves processes between applications.
    fn regroup(&mut self, table: &ProcessTable, numbers: &NumberFormat, units: Units) {
        let cache = &self.app_info;
        let applications = table.applications(&|id| cache.name(id));
        let mut new_apps = Vec::new();
        for (app_key, (data, pids)) in &applications {
            let app_row = match self.apps.get(app_key) {
                Some(row) => {
                    row.update(data.clone(), numbers, units);
                    row.clone()
                }
                None => {
                    let row =
                        TrafficRow::new(data.clone(), self.app_info.icon_for(data), numbers, units);
                    row.set_children(Some(gio::ListStore::new::<TrafficRow>()));
                    self.apps.insert(app_key.clone(), row.clone());
                    new_apps.push(row.clone());
                    row
                }
            };
            let Some(children) = app_row.children() else {
                continue;
            };
            for pid in pids {
                if self.membership.get(pid) == Some(app_key) {
                    continue;
                }
                if let Some(old) = self.membership.insert(*pid, app_key.clone()) {
                    self.remove_child(&old, *pid);
                }
                if let Some(row) = self.rows.get(&RowKey::Process(*pid)) {
                    children.append(row);
                }
            }
        }
        self.grouped.splice(self.grouped.n_items(), 0, &new_apps);
        let gone: Vec<AppKey> = self
            .apps
            .keys()
            .filter(|k| !applications.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(row) = self.apps.remove(&key) {
                if let Some(pos) = self.grouped.find(&row) {
                    self.grouped.remove(pos);
                }
            }
        }
    }

    fn remove_child(&self, app_key: &AppKey, pid: u32) {
        let (Some(app), Some(row)) = (self.apps.get(app_key), self.rows.get(&RowKey::Process(pid)))
        else {
            return;
        };
        if let Some(children) = app.children() {
            if let Some(pos) = children.find(row) {
                children.remove(pos);
            }
        }
    }

    /// Removes rows (exited processes after "Clear Exited"), then regroups.
    pub fn remove(
        &mut self,
        keys: &[RowKey],
        table: &ProcessTable,
        numbers: &NumberFormat,
        units: Units,
    ) {
        for key in keys {
            if let RowKey::Process(pid) = key {
                if let Some(app_key) = self.membership.remove(pid) {
                    self.remove_child(&app_key, *pid);
                }
            }
            self.rows.remove(key);
        }
        let rows = &self.rows;
        self.flat.retain(|obj| {
            obj.downcast_ref::<TrafficRow>()
                .is_some_and(|r| rows.contains_key(&r.key()))
        });
        self.regroup(table, numbers, units);
    }

    /// Re-formats every row (units changed).
    pub fn reformat(&mut self, table: &ProcessTable, numbers: &NumberFormat, units: Units) {
        for (key, row) in &self.rows {
            if let Some(data) = table.row(key) {
                row.update(data.clone(), numbers, units);
            }
        }
        self.regroup(table, numbers, units);
    }

    pub fn row(&self, key: &RowKey) -> Option<&TrafficRow> {
        match key {
            RowKey::Application(app) => self.apps.get(app),
            _ => self.rows.get(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockeye_protocol::{Process, Update};

    fn update(processes: &[(u32, &str, u64)]) -> Update {
        Update {
            interval_ms: 1000,
            processes: processes
                .iter()
                .map(|(pid, name, received)| Process {
                    pid: *pid,
                    name: (*name).into(),
                    received_bytes: *received,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn apply(table: &mut ProcessTable, store: &mut RowStore, u: Update) {
        let changes = table.apply(&u);
        store.sync(table, &changes, &NumberFormat::default(), Units::Bytes);
    }

    #[test]
    fn a_process_row_is_created_once_and_then_updated_in_place() {
        let (mut table, mut store) = (ProcessTable::default(), RowStore::default());
        apply(&mut table, &mut store, update(&[(10, "curl", 100)]));
        let first = store.row(&RowKey::Process(10)).cloned().expect("row");
        apply(&mut table, &mut store, update(&[(10, "curl", 300)]));
        let again = store.row(&RowKey::Process(10)).expect("row");
        assert_eq!(&first, again, "the same GObject");
        assert_eq!(store.flat.n_items(), 1);
        assert_eq!(first.property::<String>("received"), "300 B");
    }

    #[test]
    fn processes_sit_beneath_their_application_in_the_grouped_store() {
        let (mut table, mut store) = (ProcessTable::default(), RowStore::default());
        apply(
            &mut table,
            &mut store,
            update(&[(1, "curl", 1), (2, "curl", 2), (3, "wget", 3)]),
        );
        assert_eq!(store.flat.n_items(), 3);
        assert_eq!(store.grouped.n_items(), 2);
        let curl = store
            .row(&RowKey::Application(AppKey {
                uid: 0,
                group: "process:curl".into(),
            }))
            .expect("application row");
        assert_eq!(curl.children().map(|c| c.n_items()), Some(2));
        assert_eq!(curl.property::<String>("received"), "3 B");
    }

    #[test]
    fn clearing_exited_processes_removes_their_rows_everywhere() {
        let (mut table, mut store) = (ProcessTable::default(), RowStore::default());
        apply(
            &mut table,
            &mut store,
            update(&[(1, "curl", 1), (2, "wget", 2)]),
        );
        apply(&mut table, &mut store, update(&[(2, "wget", 2)]));
        let exited = store.row(&RowKey::Process(1)).expect("exited row");
        assert_eq!(exited.property::<f64>("opacity"), 0.5, "dimmed");
        let removed = table.clear_exited();
        store.remove(&removed, &table, &NumberFormat::default(), Units::Bytes);
        assert!(store.row(&RowKey::Process(1)).is_none());
        assert_eq!(store.flat.n_items(), 1);
        assert_eq!(
            store.grouped.n_items(),
            1,
            "curl's application row is gone too"
        );
    }
}
