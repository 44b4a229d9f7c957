//! An `AdwOverlaySplitView` in the template's box (its revealer stays hidden): the table as
//! content, the details pane as the end sidebar, collapsed over the table when narrow.

use adw::prelude::*;
use std::cell::Cell;
use std::rc::Rc;

use super::SplitWidgets;

/// Sidebar width, in pixels: the pane's own width request.
const SIDEBAR_WIDTH: f64 = 360.0;

pub struct DetailsSplit {
    split: adw::OverlaySplitView,
    /// Whether the model wants the pane shown: a sidebar the split hid itself (collapsed,
    /// closed by a click beside it) is reported once through `closed`.
    wanted: Rc<Cell<bool>>,
}

impl DetailsSplit {
    /// Builds the split; `closed` runs when the split hides the pane itself.
    pub fn new(widgets: SplitWidgets<'_>, closed: impl Fn() + 'static) -> Self {
        let split = adw::OverlaySplitView::builder()
            .content(widgets.table)
            .sidebar(widgets.details)
            .sidebar_position(gtk::PackType::End)
            .min_sidebar_width(SIDEBAR_WIDTH)
            .max_sidebar_width(SIDEBAR_WIDTH)
            .show_sidebar(false)
            .hexpand(true)
            .build();
        widgets.revealer.set_visible(false);
        widgets.slot.prepend(&split);
        let wanted = Rc::new(Cell::new(false));
        {
            let wanted = wanted.clone();
            split.connect_show_sidebar_notify(move |split| {
                if !split.shows_sidebar() && wanted.replace(false) {
                    closed();
                }
            });
        }
        Self { split, wanted }
    }

    /// Shows the details pane or hides it.
    pub fn show(&self, shown: bool) {
        self.wanted.set(shown);
        if self.split.shows_sidebar() != shown {
            self.split.set_show_sidebar(shown);
        }
    }

    /// Collapsed at phone width: the pane lies over the table.
    pub fn set_narrow(&self, narrow: bool) {
        if self.split.is_collapsed() != narrow {
            self.split.set_collapsed(narrow);
        }
    }
}
