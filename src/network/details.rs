//! The details pane for the selected row, a child component built from
//! `ui/details-pane.ui`: its figures, a larger chart of the last minute and its connections
//! (protocol, local → remote, bytes each way, rate).

use adw::prelude::*;
use gettextrs::gettext;
use relm4::prelude::*;
use sockeye_protocol::Connection;

use super::row_object::TrafficRow;
use crate::format::{NumberFormat, Units};
use crate::models::process_table::{RowKey, SPARKLINE_LEN};
use crate::ui::Template;
use crate::widgets::RateChart;

/// Connections listed at most (the busiest first).
const MAX_CONNECTIONS: usize = 50;

/// What the pane shows.
pub struct DetailsPane {
    numbers: NumberFormat,
    units: Units,
    row: Option<TrafficRow>,
    /// The busiest first, at most [`MAX_CONNECTIONS`].
    connections: Vec<Connection>,
}

#[derive(Debug)]
pub enum DetailsInput {
    /// Show this row's figures and chart (again, after an update), in these units.
    ShowRow(TrafficRow, Units),
    /// The selected row's connections, as the helper listed them.
    ShowConnections(Vec<Connection>),
}

#[derive(Debug)]
pub enum DetailsOutput {
    /// The close button was clicked.
    CloseRequested,
}

pub struct DetailsWidgets {
    icon: gtk::Image,
    title: gtk::Label,
    subtitle: gtk::Label,
    chart: RateChart,
    download: gtk::Label,
    upload: gtk::Label,
    totals: gtk::Label,
    connections: adw::PreferencesGroup,
    /// Rows reused from one listing to the next.
    connection_rows: Vec<adw::ActionRow>,
    no_connections: adw::ActionRow,
}

impl Component for DetailsPane {
    type Init = NumberFormat;
    type Input = DetailsInput;
    type Output = DetailsOutput;
    type CommandOutput = ();
    type Root = adw::Bin;
    type Widgets = DetailsWidgets;

    fn init_root() -> Self::Root {
        adw::Bin::new()
    }

    fn init(
        numbers: NumberFormat,
        root: Self::Root,
        sender: ComponentSender<Self>,
    ) -> ComponentParts<Self> {
        let ui = Template::load("details-pane.ui");
        root.set_child(Some(&ui.get::<gtk::ScrolledWindow>("root")));
        let chart = RateChart::new(SPARKLINE_LEN, false);
        chart.set_height_request(110);
        let totals: gtk::Label = ui.get("totals");
        chart.insert_before(&ui.get::<gtk::Box>("chart_card"), Some(&totals));
        ui.get::<gtk::Button>("close").connect_clicked(move |_| {
            let _ = sender.output(DetailsOutput::CloseRequested);
        });
        let widgets = DetailsWidgets {
            icon: ui.get("icon"),
            title: ui.get("title"),
            subtitle: ui.get("subtitle"),
            chart,
            download: ui.get("download"),
            upload: ui.get("upload"),
            totals,
            connections: ui.get("connections"),
            connection_rows: Vec::new(),
            no_connections: ui.get("no_connections"),
        };
        let model = DetailsPane {
            numbers,
            units: Units::Bytes,
            row: None,
            connections: Vec::new(),
        };
        ComponentParts { model, widgets }
    }

    fn update(&mut self, message: DetailsInput, _: ComponentSender<Self>, _: &Self::Root) {
        match message {
            DetailsInput::ShowRow(row, units) => {
                self.row = Some(row);
                self.units = units;
            }
            DetailsInput::ShowConnections(mut connections) => {
                connections.sort_by(|a, b| {
                    (b.sent_rate + b.received_rate)
                        .total_cmp(&(a.sent_rate + a.received_rate))
                        .then_with(|| {
                            (b.sent_bytes + b.received_bytes)
                                .cmp(&(a.sent_bytes + a.received_bytes))
                        })
                });
                connections.truncate(MAX_CONNECTIONS);
                self.connections = connections;
            }
        }
    }

    fn update_view(&self, widgets: &mut DetailsWidgets, _: ComponentSender<Self>) {
        if let Some(row) = &self.row {
            widgets.show_row(row, &self.numbers, self.units);
        }
        widgets.show_connections(&self.connections, &self.numbers, self.units);
    }
}

impl DetailsWidgets {
    /// Shows `row`'s figures and chart.
    fn show_row(&self, row: &TrafficRow, numbers: &NumberFormat, units: Units) {
        let data = row.data();
        let Some(data) = data.as_ref() else { return };
        self.icon
            .set_from_gicon(&row.property::<gtk::gio::Icon>("icon"));
        self.title.set_label(&data.title);
        self.subtitle.set_label(&data.subtitle());
        self.download
            .set_label(&format!("↓ {}", numbers.rate(data.download_rate, units)));
        self.upload
            .set_label(&format!("↑ {}", numbers.rate(data.upload_rate, units)));
        self.totals.set_label(
            &gettext("{received} received · {sent} sent since capture started")
                .replacen("{received}", &numbers.amount(data.received, units), 1)
                .replacen("{sent}", &numbers.amount(data.sent, units), 1),
        );
        self.chart.set_samples(data.history.samples());
        self.connections
            .set_visible(!matches!(data.key, RowKey::Unattributed(_)));
    }

    /// Lists `connections`, reusing the rows already there.
    fn show_connections(
        &mut self,
        connections: &[Connection],
        numbers: &NumberFormat,
        units: Units,
    ) {
        while self.connection_rows.len() > connections.len() {
            if let Some(row) = self.connection_rows.pop() {
                self.connections.remove(&row);
            }
        }
        while self.connection_rows.len() < connections.len() {
            let row = adw::ActionRow::builder().subtitle_lines(2).build();
            row.add_css_class("numeric");
            self.connections.add(&row);
            self.connection_rows.push(row);
        }
        self.no_connections.set_visible(connections.is_empty());
        for (row, c) in self.connection_rows.iter().zip(connections) {
            row.set_title(&gtk::glib::markup_escape_text(&format!(
                "{}  {} → {}",
                c.protocol.to_uppercase(),
                c.local,
                c.remote
            )));
            row.set_subtitle(&gtk::glib::markup_escape_text(
                &gettext("↓ {down} ↑ {up} · {received} received · {sent} sent")
                    .replacen("{down}", &numbers.rate(c.received_rate, units), 1)
                    .replacen("{up}", &numbers.rate(c.sent_rate, units), 1)
                    .replacen("{received}", &numbers.amount(c.received_bytes, units), 1)
                    .replacen("{sent}", &numbers.amount(c.sent_bytes, units), 1),
            ));
        }
    }
}
