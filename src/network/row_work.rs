//! What `update` leaves for `update_view` to do to the table's rows: the `RowStore` keeps
//! one GObject per row and updates it in place, so the view needs to know which rows
//! changed, not only what the `ProcessTable` holds now.

use crate::models::hosts::HostChanges;
use crate::models::process_table::{Changes, RowKey};

/// Row work pending for the next render; `update_view` takes it all at once.
#[derive(Debug, Default, PartialEq)]
pub(super) struct RowWork {
    /// Rows to bring up to date; `Some` even when empty, since showing an update also
    /// regroups the applications and re-sorts.
    pub changes: Option<Changes>,
    /// Rows removed from the table ("Clear Exited").
    pub removed: Option<Vec<RowKey>>,
    /// The units changed: every row is formatted again.
    pub reformat: bool,
    /// Show the selected row in the details pane again (newly selected, or updated).
    pub details: bool,
    /// Clear the table's selection (the details pane's close button).
    pub unselect: bool,
    /// Host rows to bring up to date (Hosts view).
    pub hosts: Option<HostChanges>,
    /// Show the selected host in the details pane again.
    pub host_details: bool,
    /// Clear the Hosts view's selection.
    pub unselect_host: bool,
}

impl RowWork {
    /// Adds `changes` to the rows to bring up to date.
    pub fn show(&mut self, changes: Changes) {
        match &mut self.changes {
            Some(pending) => pending.absorb(changes),
            None => self.changes = Some(changes),
        }
    }

    /// Adds `changes` to the host rows to bring up to date.
    pub fn show_hosts(&mut self, changes: HostChanges) {
        match &mut self.hosts {
            Some(pending) => {
                pending.added.extend(changes.added);
                pending.updated.extend(changes.updated);
                pending.removed.extend(changes.removed);
            }
            None => self.hosts = Some(changes),
        }
    }

    /// Adds `keys` to the rows to remove.
    pub fn remove(&mut self, keys: Vec<RowKey>) {
        self.removed.get_or_insert_with(Vec::new).extend(keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_shown_twice_before_a_render_are_rendered_once_each_row() {
        let mut work = RowWork::default();
        work.show(Changes {
            added: vec![RowKey::Process(1)],
            updated: vec![],
        });
        work.show(Changes {
            added: vec![RowKey::Process(2)],
            updated: vec![RowKey::Process(1)],
        });
        assert_eq!(
            work.changes,
            Some(Changes {
                added: vec![RowKey::Process(1), RowKey::Process(2)],
                updated: vec![],
            })
        );
    }

    #[test]
    fn host_changes_before_a_render_add_up() {
        let mut work = RowWork::default();
        work.show_hosts(HostChanges {
            added: vec!["github.com".into()],
            ..Default::default()
        });
        work.show_hosts(HostChanges {
            updated: vec!["github.com".into()],
            removed: vec!["192.0.2.1".into()],
            ..Default::default()
        });
        assert_eq!(
            work.hosts,
            Some(HostChanges {
                added: vec!["github.com".into()],
                updated: vec!["github.com".into()],
                removed: vec!["192.0.2.1".into()],
            })
        );
    }

    #[test]
    fn an_empty_update_still_asks_for_a_render() {
        let mut work = RowWork::default();
        work.show(Changes::default());
        assert_eq!(work.changes, Some(Changes::default()));
    }
}
