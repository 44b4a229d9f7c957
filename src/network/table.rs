//! The process table widget: the `GtkColumnView` of `ui/table.ui` over
//! root `ListStore` → `FilterListModel` (search, idle) → `TreeListModel` (applications and
//! their processes) → `SortListModel` (column sorters, total rate by default) →
//! `SingleSelection`. Cells bind to `TrafficRow` properties through expressions (the Name
//! cell is the template `ui/name-cell.ui`), so an update changes properties only and no
//! widget is rebuilt.

use gtk::prelude::*;
use gtk::{gio, glib};
use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use super::row_object::TrafficRow;
use crate::models::process_table::{compare, SortColumn, SPARKLINE_LEN};
use crate::ui::{Template, RESOURCE_BASE_PATH};
use crate::widgets::RateChart;

/// The Name column's width when the window is narrow, in pixels: with the Rate (96) and
/// Activity (110) columns, the cells' padding and the window's border it fits a 360-pixel
/// window (150 pushed the sparkline's right end out of it).
const NARROW_NAME_WIDTH: i32 = 136;

/// What the filter keeps.
#[derive(Debug, Default)]
struct FilterState {
    query: String,
    show_idle: bool,
    /// Processes the query finds by the names of the hosts they talk to.
    host_pids: HashSet<u32>,
}

pub struct TableView {
    pub scrolled: gtk::ScrolledWindow,
    pub selection: gtk::SingleSelection,
    filter_model: gtk::FilterListModel,
    filter: gtk::CustomFilter,
    filter_state: Rc<RefCell<FilterState>>,
    sorters: Vec<gtk::CustomSorter>,
    /// Download, Upload, Received and Sent: hidden when the window is narrow.
    wide_columns: [gtk::ColumnViewColumn; 4],
    /// Both rates in one: shown only when the window is narrow.
    rate_column: gtk::ColumnViewColumn,
    /// Given a fixed width when narrow, so its long names ellipsize instead of pushing the
    /// sparkline out of the window.
    name_column: gtk::ColumnViewColumn,
    /// Styled `narrow` at phone width (style.css lifts the Name cell's minimum width).
    column_view: gtk::ColumnView,
}

impl TableView {
    pub fn new(show_idle: bool) -> Self {
        let filter_state = Rc::new(RefCell::new(FilterState {
            query: String::new(),
            show_idle,
            host_pids: HashSet::new(),
        }));
        let filter = {
            let state = filter_state.clone();
            gtk::CustomFilter::new(move |item| {
                item.downcast_ref::<TrafficRow>()
                    .is_some_and(|row| keeps(row, &state.borrow()))
            })
        };
        let filter_model = gtk::FilterListModel::new(None::<gio::ListModel>, Some(filter.clone()));
        let tree = gtk::TreeListModel::new(filter_model.clone(), false, false, |item| {
            item.downcast_ref::<TrafficRow>()
                .and_then(TrafficRow::children)
                .map(|store| store.upcast())
        });

        let ui = Template::load("table.ui");
        let column_view: gtk::ColumnView = ui.get("column_view");
        let mut sorters = Vec::new();
        // The Name cell's template binds to TrafficRow properties: the type must exist first.
        TrafficRow::ensure_type();
        let name_cell = gtk::BuilderListItemFactory::from_resource(
            None::<&gtk::BuilderScope>,
            &format!("{RESOURCE_BASE_PATH}ui/name-cell.ui"),
        );
        let columns: [(&str, gtk::ListItemFactory, SortColumn); 7] = [
            ("name_column", name_cell.upcast(), SortColumn::Name),
            (
                "download_column",
                text_factory("download"),
                SortColumn::Download,
            ),
            ("upload_column", text_factory("upload"), SortColumn::Upload),
            ("rate_column", text_factory("rate"), SortColumn::TotalRate),
            (
                "received_column",
                text_factory("received"),
                SortColumn::Received,
            ),
            ("sent_column", text_factory("sent"), SortColumn::Sent),
            (
                "activity_column",
                sparkline_factory(),
                SortColumn::TotalRate,
            ),
        ];
        for (id, factory, sort) in columns {
            let column: gtk::ColumnViewColumn = ui.get(id);
            column.set_factory(Some(&factory));
            let sorter = row_sorter(sort);
            column.set_sorter(Some(&sorter));
            sorters.push(sorter);
        }
        let activity: gtk::ColumnViewColumn = ui.get("activity_column");

        // With no column chosen, the busiest rows come first.
        let fallback = row_sorter(SortColumn::TotalRate);
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
        let sort_model =
            gtk::SortListModel::new(Some(tree), Some(gtk::TreeListRowSorter::new(Some(sorter))));
        let selection = gtk::SingleSelection::builder()
            .model(&sort_model)
            .autoselect(false)
            .can_unselect(true)
            .build();
        column_view.set_model(Some(&selection));
        column_view.sort_by_column(Some(&activity), gtk::SortType::Descending);

        let wide_columns = [
            "download_column",
            "upload_column",
            "received_column",
            "sent_column",
        ]
        .map(|id| ui.get(id));
        Self {
            scrolled: ui.get("scrolled"),
            wide_columns,
            rate_column: ui.get("rate_column"),
            name_column: ui.get("name_column"),
            column_view,
            selection,
            filter_model,
            filter,
            filter_state,
            sorters,
        }
    }

    /// Shows `store`'s rows (flat processes, or applications with children).
    pub fn set_rows(&self, store: &gio::ListStore) {
        self.filter_model.set_model(Some(store));
    }

    /// At phone width shows the name, one combined rate and the sparkline, so nothing
    /// scrolls sideways; the four figures otherwise.
    pub fn set_narrow(&self, narrow: bool) {
        for column in &self.wide_columns {
            column.set_visible(!narrow);
        }
        self.rate_column.set_visible(narrow);
        self.name_column
            .set_fixed_width(if narrow { NARROW_NAME_WIDTH } else { -1 });
        if narrow {
            self.column_view.add_css_class("narrow");
        } else {
            self.column_view.remove_css_class("narrow");
        }
    }

    /// Re-sorts and re-filters after the rows' values changed (selection is kept).
    pub fn refresh(&self) {
        for sorter in &self.sorters {
            sorter.changed(gtk::SorterChange::Different);
        }
        self.filter.changed(gtk::FilterChange::Different);
    }

    /// Filters by `query` (a no-op when it is already the filter's, so the view can set it
    /// on every render).
    pub fn set_query(&self, query: &str) {
        if self.filter_state.borrow().query == query {
            return;
        }
        self.filter_state.borrow_mut().query = query.to_owned();
        self.filter.changed(gtk::FilterChange::Different);
    }

    /// Also keeps the processes in `pids` (those the query finds by their hosts' names); a
    /// no-op when unchanged.
    pub fn set_host_pids(&self, pids: &HashSet<u32>) {
        if self.filter_state.borrow().host_pids == *pids {
            return;
        }
        self.filter_state.borrow_mut().host_pids.clone_from(pids);
        self.filter.changed(gtk::FilterChange::Different);
    }

    /// Shows or hides idle rows (a no-op when unchanged, as [`Self::set_query`]).
    pub fn set_show_idle(&self, show: bool) {
        if self.filter_state.borrow().show_idle == show {
            return;
        }
        self.filter_state.borrow_mut().show_idle = show;
        self.filter.changed(gtk::FilterChange::Different);
    }
}

/// The row behind `selection`'s selected line, if any.
pub fn selected_row(selection: &gtk::SingleSelection) -> Option<TrafficRow> {
    selection
        .selected_item()
        .and_downcast::<gtk::TreeListRow>()
        .and_then(|r| r.item())
        .and_downcast::<TrafficRow>()
}

/// Whether the filter keeps `row`: an application is kept when it or one of its
/// processes matches; a process matches by its own fields or by its hosts' names.
fn keeps(row: &TrafficRow, state: &FilterState) -> bool {
    let matches = |r: &TrafficRow| {
        r.data().as_ref().is_some_and(|d| {
            let found =
                d.matches(&state.query) || d.pid.is_some_and(|pid| state.host_pids.contains(&pid));
            found && (state.show_idle || !d.is_idle())
        })
    };
    if matches(row) {
        return true;
    }
    row.children().is_some_and(|children| {
        children
            .iter::<TrafficRow>()
            .flatten()
            .any(|child| matches(&child))
    })
}

fn row_sorter(column: SortColumn) -> gtk::CustomSorter {
    gtk::CustomSorter::new(move |a, b| {
        let (Some(a), Some(b)) = (
            a.downcast_ref::<TrafficRow>(),
            b.downcast_ref::<TrafficRow>(),
        ) else {
            return gtk::Ordering::Equal;
        };
        match (a.data().as_ref(), b.data().as_ref()) {
            (Some(a), Some(b)) => compare(a, b, column).into(),
            _ => gtk::Ordering::Equal,
        }
    })
}

/// `list-item.item` (a `TreeListRow`) `.item` (our row) `.property`.
fn row_property(list_item: &gtk::ListItem, property: &str) -> gtk::Expression {
    list_item
        .property_expression("item")
        .chain_property::<gtk::TreeListRow>("item")
        .chain_property::<TrafficRow>(property)
        .upcast()
}

/// A right-aligned figure bound to one text property.
fn text_factory(property: &'static str) -> gtk::ListItemFactory {
    let factory = gtk::SignalListItemFactory::new();
    factory.connect_setup(move |_, item| {
        let Some(item) = item.downcast_ref::<gtk::ListItem>() else {
            return;
        };
        let label = gtk::Label::builder()
            .xalign(1.0)
            .css_classes(["numeric"])
            .build();
        item.set_child(Some(&label));
        row_property(item, property).bind(&label, "label", gtk::Widget::NONE);
        row_property(item, "opacity").bind(&label, "opacity", gtk::Widget::NONE);
    });
    factory.upcast()
}

/// The sparkline: redrawn when its row's `revision` moves on.
fn sparkline_factory() -> gtk::ListItemFactory {
    let factory = gtk::SignalListItemFactory::new();
    factory.connect_setup(|_, item| {
        if let Some(item) = item.downcast_ref::<gtk::ListItem>() {
            let chart = RateChart::new(SPARKLINE_LEN, true);
            chart.set_valign(gtk::Align::Center);
            chart.set_size_request(90, 24);
            item.set_child(Some(&chart));
        }
    });
    factory.connect_bind(|_, item| {
        let Some(item) = item.downcast_ref::<gtk::ListItem>() else {
            return;
        };
        let Some(chart) = item.child().and_downcast::<RateChart>() else {
            return;
        };
        let Some(row) = item
            .item()
            .and_downcast::<gtk::TreeListRow>()
            .and_then(|r| r.item())
            .and_downcast::<TrafficRow>()
        else {
            return;
        };
        chart.set_samples(row.history());
        let weak = chart.downgrade();
        let handler = row.connect_notify_local(Some("revision"), move |row, _| {
            if let Some(chart) = weak.upgrade() {
                chart.set_samples(row.history());
            }
        });
        chart.set_source(Some((row.upcast::<glib::Object>(), handler)));
    });
    factory.connect_unbind(|_, item| {
        if let Some(chart) = item
            .downcast_ref::<gtk::ListItem>()
            .and_then(|i| i.child())
            .and_downcast::<RateChart>()
        {
            chart.set_source(None);
        }
    });
    factory.upcast()
}
