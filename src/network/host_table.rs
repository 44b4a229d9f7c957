//! The Hosts view's table: the `GtkColumnView` of `ui/hosts-table.ui` over a `ListStore` of
//! `HostRow`s (one per host, created once and updated in place) → `FilterListModel`
//! (search) → `SortListModel` (column sorters, total rate by default) → `SingleSelection`.

use gtk::gio;
use gtk::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::host_row::HostRow;
use crate::format::{NumberFormat, Units};
use crate::models::hosts::{compare, HostChanges, HostColumn, HostTable};
use crate::ui::Template;

/// Icon of every host row.
const HOST_ICON: &str = "network-server-symbolic";

pub struct HostTableView {
    pub scrolled: gtk::ScrolledWindow,
    pub selection: gtk::SingleSelection,
    /// Host, Apps, Received and Sent: Apps, Received and Sent are hidden when narrow.
    name_column: gtk::ColumnViewColumn,
    wide_columns: Vec<gtk::ColumnViewColumn>,
    store: gio::ListStore,
    rows: HashMap<String, HostRow>,
    filter: gtk::CustomFilter,
    query: Rc<RefCell<String>>,
    sorters: Vec<gtk::CustomSorter>,
}

/// The Host column's width when the window is narrow, in pixels: with Download and Upload
/// (104 each) it fits a 360-pixel window, so nothing scrolls sideways.
const NARROW_HOST_WIDTH: i32 = 136;

impl HostTableView {
    /// At phone width shows the host and its two rates; the apps and totals otherwise.
    pub fn set_narrow(&self, narrow: bool) {
        for column in &self.wide_columns {
            column.set_visible(!narrow);
        }
        self.name_column
            .set_fixed_width(if narrow { NARROW_HOST_WIDTH } else { -1 });
    }

    pub fn new() -> Self {
        let store = gio::ListStore::new::<HostRow>();
        let query = Rc::new(RefCell::new(String::new()));
        let filter = {
            let query = query.clone();
            gtk::CustomFilter::new(move |item| {
                item.downcast_ref::<HostRow>().is_some_and(|row| {
                    row.data()
                        .as_ref()
                        .is_some_and(|d| d.matches(&query.borrow()))
                })
            })
        };
        let filter_model = gtk::FilterListModel::new(Some(store.clone()), Some(filter.clone()));

        let ui = Template::load("hosts-table.ui");
        let column_view: gtk::ColumnView = ui.get("column_view");
        let columns: [(&str, gtk::ListItemFactory, HostColumn); 6] = [
            ("name_column", name_factory(), HostColumn::Name),
            ("apps_column", text_factory("apps", 0.0), HostColumn::Apps),
            (
                "download_column",
                text_factory("download", 1.0),
                HostColumn::Download,
            ),
            (
                "upload_column",
                text_factory("upload", 1.0),
                HostColumn::Upload,
            ),
            (
                "received_column",
                text_factory("received", 1.0),
                HostColumn::Received,
            ),
            ("sent_column", text_factory("sent", 1.0), HostColumn::Sent),
        ];
        let mut sorters = Vec::new();
        for (id, factory, column) in columns {
            let view_column: gtk::ColumnViewColumn = ui.get(id);
            view_column.set_factory(Some(&factory));
            let sorter = host_sorter(column);
            view_column.set_sorter(Some(&sorter));
            sorters.push(sorter);
        }
        // With no column chosen, the busiest hosts come first.
        let fallback = host_sorter(HostColumn::TotalRate);
        let descending_fallback = gtk::CustomSorter::new({
            let fallback = fallback.clone();
            move |a, b| fallback.compare(b, a)
        });
        let sorter = gtk::MultiSorter::new();
        if let Some(view_sorter) = column_view.sorter() {
            sorter.append(view_sorter);
        }
        sorter.append(descending_fallback.clone());
        sorters.push(descending_fallback);
        let sort_model = gtk::SortListModel::new(Some(filter_model), Some(sorter));
        let selection = gtk::SingleSelection::builder()
            .model(&sort_model)
            .autoselect(false)
            .can_unselect(true)
            .build();
        column_view.set_model(Some(&selection));
        column_view.sort_by_column(
            Some(&ui.get::<gtk::ColumnViewColumn>("received_column")),
            gtk::SortType::Descending,
        );

        Self {
            scrolled: ui.get("scrolled"),
            name_column: ui.get("name_column"),
            wide_columns: ["apps_column", "received_column", "sent_column"]
                .iter()
                .map(|id| ui.get::<gtk::ColumnViewColumn>(id))
                .collect(),
            selection,
            store,
            rows: HashMap::new(),
            filter,
            query,
            sorters,
        }
    }

    /// Brings the rows in step with `table` after `changes`, then re-sorts and re-filters.
    pub fn sync(
        &mut self,
        table: &HostTable,
        changes: &HostChanges,
        numbers: &NumberFormat,
        units: Units,
    ) {
        let mut added = Vec::new();
        for key in changes.added.iter().chain(&changes.updated) {
            let Some(data) = table.host(key) else {
                continue;
            };
            match self.rows.get(key) {
                Some(row) => row.update(data.clone(), numbers, units),
                None => {
                    let row = HostRow::new(data.clone(), numbers, units);
                    self.rows.insert(key.clone(), row.clone());
                    added.push(row);
                }
            }
        }
        self.store.splice(self.store.n_items(), 0, &added);
        if !changes.removed.is_empty() {
            for key in &changes.removed {
                self.rows.remove(key);
            }
            let rows = &self.rows;
            self.store.retain(|obj| {
                obj.downcast_ref::<HostRow>()
                    .is_some_and(|r| rows.contains_key(&r.key()))
            });
        }
        self.refresh();
    }

    /// Re-formats every row (units changed).
    pub fn reformat(&self, table: &HostTable, numbers: &NumberFormat, units: Units) {
        for (key, row) in &self.rows {
            if let Some(data) = table.host(key) {
                row.update(data.clone(), numbers, units);
            }
        }
    }

    /// Re-sorts and re-filters after the rows' values changed (selection is kept).
    fn refresh(&self) {
        for sorter in &self.sorters {
            sorter.changed(gtk::SorterChange::Different);
        }
        self.filter.changed(gtk::FilterChange::Different);
    }

    /// Filters by `query` (a no-op when it is already the filter's).
    pub fn set_query(&self, query: &str) {
        if *self.query.borrow() == query {
            return;
        }
        query.clone_into(&mut self.query.borrow_mut());
        self.filter.changed(gtk::FilterChange::Different);
    }
}

/// The host row behind `selection`'s selected line, if any.
pub fn selected_host(selection: &gtk::SingleSelection) -> Option<HostRow> {
    selection.selected_item().and_downcast::<HostRow>()
}

fn host_sorter(column: HostColumn) -> gtk::CustomSorter {
    gtk::CustomSorter::new(move |a, b| {
        let (Some(a), Some(b)) = (a.downcast_ref::<HostRow>(), b.downcast_ref::<HostRow>()) else {
            return gtk::Ordering::Equal;
        };
        match (a.data().as_ref(), b.data().as_ref()) {
            (Some(a), Some(b)) => compare(a, b, column).into(),
            _ => gtk::Ordering::Equal,
        }
    })
}

/// `list-item.item` (our row) `.property`.
fn row_property(list_item: &gtk::ListItem, property: &str) -> gtk::Expression {
    list_item
        .property_expression("item")
        .chain_property::<HostRow>(property)
        .upcast()
}

/// A figure or text bound to one property, aligned by `xalign` (1: right).
fn text_factory(property: &'static str, xalign: f32) -> gtk::ListItemFactory {
    let factory = gtk::SignalListItemFactory::new();
    factory.connect_setup(move |_, item| {
        let Some(item) = item.downcast_ref::<gtk::ListItem>() else {
            return;
        };
        let label = gtk::Label::builder()
            .xalign(xalign)
            .ellipsize(gtk::pango::EllipsizeMode::End)
            .build();
        if xalign > 0.5 {
            label.add_css_class("numeric");
        }
        item.set_child(Some(&label));
        row_property(item, property).bind(&label, "label", gtk::Widget::NONE);
        row_property(item, property).bind(&label, "tooltip-text", gtk::Widget::NONE);
    });
    factory.upcast()
}

/// The Host cell: an icon, the name and, beneath, the addresses (or that no name was seen).
fn name_factory() -> gtk::ListItemFactory {
    let factory = gtk::SignalListItemFactory::new();
    factory.connect_setup(|_, item| {
        let Some(item) = item.downcast_ref::<gtk::ListItem>() else {
            return;
        };
        let icon = gtk::Image::from_icon_name(HOST_ICON);
        icon.set_pixel_size(16);
        icon.add_css_class("dim-label");
        let title = gtk::Label::builder()
            .xalign(0.0)
            .ellipsize(gtk::pango::EllipsizeMode::End)
            .build();
        let subtitle = gtk::Label::builder()
            .xalign(0.0)
            .ellipsize(gtk::pango::EllipsizeMode::End)
            .css_classes(["caption", "dim-label"])
            .build();
        let text = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .valign(gtk::Align::Center)
            .build();
        text.append(&title);
        text.append(&subtitle);
        let cell = gtk::Box::builder()
            .spacing(10)
            .margin_top(3)
            .margin_bottom(3)
            .margin_start(6)
            .width_request(180)
            .build();
        cell.append(&icon);
        cell.append(&text);
        item.set_child(Some(&cell));
        row_property(item, "title").bind(&title, "label", gtk::Widget::NONE);
        row_property(item, "title").bind(&title, "tooltip-text", gtk::Widget::NONE);
        row_property(item, "subtitle").bind(&subtitle, "label", gtk::Widget::NONE);
    });
    factory.upcast()
}
