//! The table, then the revealer holding the details pane, in the template's box. At phone
//! width the open pane takes the whole width (the table is hidden until it closes): beside
//! a 360-pixel pane the table would be a sliver.

use gtk::prelude::*;
use std::cell::Cell;

use super::SplitWidgets;

pub struct DetailsSplit {
    revealer: gtk::Revealer,
    table: gtk::Widget,
    shown: Cell<bool>,
    narrow: Cell<bool>,
}

impl DetailsSplit {
    /// Builds the split; `closed` is for a pane closed by the split itself, which this one
    /// never does (only the pane's close button closes it).
    pub fn new(widgets: SplitWidgets<'_>, _closed: impl Fn() + 'static) -> Self {
        widgets.slot.prepend(widgets.table);
        widgets.revealer.set_child(Some(widgets.details));
        Self {
            revealer: widgets.revealer,
            table: widgets.table.clone(),
            shown: Cell::new(false),
            narrow: Cell::new(false),
        }
    }

    /// Shows the details pane or hides it.
    pub fn show(&self, shown: bool) {
        self.shown.set(shown);
        if self.revealer.reveals_child() != shown {
            self.revealer.set_reveal_child(shown);
        }
        self.layout();
    }

    /// At phone width the open pane replaces the table.
    pub fn set_narrow(&self, narrow: bool) {
        self.narrow.set(narrow);
        self.layout();
    }

    fn layout(&self) {
        let alone = self.shown.get() && self.narrow.get();
        if self.table.is_visible() == alone {
            self.table.set_visible(!alone);
            self.revealer.set_hexpand(alone);
        }
    }
}
