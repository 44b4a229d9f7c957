//! The details pane for the selected row: its figures, a larger chart of the last minute
//! and its connections (protocol, local → remote, bytes each way, rate).

use adw::prelude::*;
use gettextrs::gettext;
use sockeye_protocol::Connection;

use super::row_object::TrafficRow;
use crate::format::{NumberFormat, Units};
use crate::models::process_table::{RowKey, SPARKLINE_LEN};
use crate::widgets::RateChart;

/// Connections listed at most (the busiest first).
const MAX_CONNECTIONS: usize = 50;

pub struct DetailsPane {
    pub root: gtk::ScrolledWindow,
    pub close: gtk::Button,
    icon: gtk::Image,
    title: gtk::Label,
    subtitle: gtk::Label,
    chart: RateChart,
    download: gtk::Label,
    upload: gtk::Label,
    totals: gtk::Label,
    connections: adw::PreferencesGroup,
    connection_rows: Vec<adw::ActionRow>,
    no_connections: adw::ActionRow,
}

impl DetailsPane {
    pub fn new() -> Self {
        let content = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(18)
            .margin_top(18)
            .margin_bottom(18)
            .margin_start(18)
            .margin_end(18)
            .build();

        let header = gtk::Box::builder().spacing(12).build();
        let icon = gtk::Image::builder().pixel_size(48).build();
        let title = gtk::Label::builder()
            .xalign(0.0)
            .wrap(true)
            .css_classes(["title-3"])
            .build();
        let subtitle = gtk::Label::builder()
            .xalign(0.0)
            .wrap(true)
            .wrap_mode(gtk::pango::WrapMode::WordChar)
            .selectable(true)
            .css_classes(["caption", "dim-label"])
            .build();
        let text = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .valign(gtk::Align::Center)
            .hexpand(true)
            .spacing(2)
            .build();
        text.append(&title);
        text.append(&subtitle);
        let close = gtk::Button::builder()
            .icon_name("window-close-symbolic")
            .valign(gtk::Align::Start)
            .tooltip_text(gettext("Close Details"))
            .css_classes(["flat", "circular"])
            .build();
        header.append(&icon);
        header.append(&text);
        header.append(&close);
        content.append(&header);

        let card = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(8)
            .css_classes(["card", "chart-card"])
            .build();
        let figures = gtk::Box::builder().spacing(18).homogeneous(true).build();
        let download = figure_label("download-rate");
        let upload = figure_label("upload-rate");
        figures.append(&download);
        figures.append(&upload);
        card.append(&figures);
        let chart = RateChart::new(SPARKLINE_LEN, false);
        chart.set_height_request(110);
        card.append(&chart);
        let totals = gtk::Label::builder()
            .xalign(0.0)
            .wrap(true)
            .css_classes(["caption", "dim-label", "numeric"])
            .build();
        card.append(&totals);
        content.append(&card);

        let connections = adw::PreferencesGroup::builder()
            .title(gettext("Connections"))
            .build();
        let no_connections = adw::ActionRow::builder()
            .title(gettext("No open connections"))
            .css_classes(["dim-label"])
            .build();
        connections.add(&no_connections);
        content.append(&connections);

        let root = gtk::ScrolledWindow::builder()
            .hscrollbar_policy(gtk::PolicyType::Never)
            .child(&content)
            .width_request(320)
            .css_classes(["details-pane", "view"])
            .build();
        Self {
            root,
            close,
            icon,
            title,
            subtitle,
            chart,
            download,
            upload,
            totals,
            connections,
            connection_rows: Vec::new(),
            no_connections,
        }
    }

    /// Shows `row`'s figures and chart.
    pub fn show_row(&self, row: &TrafficRow, numbers: &NumberFormat, units: Units) {
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
    pub fn show_connections(
        &mut self,
        mut connections: Vec<Connection>,
        numbers: &NumberFormat,
        units: Units,
    ) {
        connections.sort_by(|a, b| {
            (b.sent_rate + b.received_rate)
                .total_cmp(&(a.sent_rate + a.received_rate))
                .then_with(|| {
                    (b.sent_bytes + b.received_bytes).cmp(&(a.sent_bytes + a.received_bytes))
                })
        });
        connections.truncate(MAX_CONNECTIONS);
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
        for (row, c) in self.connection_rows.iter().zip(&connections) {
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

fn figure_label(class: &str) -> gtk::Label {
    gtk::Label::builder()
        .xalign(0.0)
        .css_classes(["title-2", "numeric", class])
        .build()
}
