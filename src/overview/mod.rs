//! The Overview tab (no privileges): whole-machine download and upload rates with a chart
//! of the last five minutes, one row per interface, and the system's IP totals since boot.

mod interface_rows;
mod sampler;

use adw::prelude::*;
use gettextrs::gettext;
use gtk::glib;
use relm4::prelude::*;
use std::cell::RefCell;
use std::time::Duration;

use crate::format::{NumberFormat, Units};
use crate::models::overview::{OverviewModel, HISTORY_LEN};
use crate::settings::Preferences;
use crate::widgets::RateChart;
use interface_rows::InterfaceRows;
use sampler::Sampler;

#[derive(Debug)]
pub enum OverviewInput {
    /// Take a sample (every refresh interval).
    Sample,
    PreferencesChanged(Preferences),
}

/// The page's model: the readings and how to show them. `update` takes samples and applies
/// preferences; `update_view` renders all of it.
pub struct OverviewPage {
    model: OverviewModel,
    sampler: Sampler,
    units: Units,
    numbers: NumberFormat,
    interval_ms: u32,
    timer: Option<glib::SourceId>,
    /// Interfaces gone since the last render, whose rows `update_view` removes (a row per
    /// interface is kept in place, so this is the one change the readings cannot say).
    vanished: RefCell<Vec<String>>,
}

pub struct OverviewWidgets {
    download: gtk::Label,
    upload: gtk::Label,
    chart: RateChart,
    chart_caption: gtk::Label,
    rows: InterfaceRows,
    ip_received: ValueRow,
    ip_sent: ValueRow,
}

impl Component for OverviewPage {
    type Init = Preferences;
    type Input = OverviewInput;
    type Output = ();
    type CommandOutput = ();
    type Root = gtk::ScrolledWindow;
    type Widgets = OverviewWidgets;

    fn init_root() -> Self::Root {
        gtk::ScrolledWindow::builder()
            .hscrollbar_policy(gtk::PolicyType::Never)
            .vexpand(true)
            .build()
    }

    fn init(
        prefs: Preferences,
        root: Self::Root,
        sender: ComponentSender<Self>,
    ) -> ComponentParts<Self> {
        let page = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(24)
            .margin_top(24)
            .margin_bottom(24)
            .margin_start(12)
            .margin_end(12)
            .build();

        let (card, download, upload, chart, chart_caption) = build_rates_card();
        page.append(&card);

        let interfaces_group = adw::PreferencesGroup::builder()
            .title(gettext("Interfaces"))
            .build();
        page.append(&interfaces_group);

        let totals_group = adw::PreferencesGroup::builder()
            .title(gettext("Since Boot"))
            .description(gettext(
                "All IP traffic of this computer, every interface included",
            ))
            .build();
        let ip_received = ValueRow::new(&gettext("Received"), "go-down-symbolic");
        let ip_sent = ValueRow::new(&gettext("Sent"), "go-up-symbolic");
        totals_group.add(&ip_received.row);
        totals_group.add(&ip_sent.row);
        page.append(&totals_group);

        let clamp = adw::Clamp::builder().maximum_size(900).child(&page).build();
        root.set_child(Some(&clamp));

        let mut model = OverviewPage {
            model: OverviewModel::default(),
            sampler: Sampler::default(),
            units: prefs.units,
            numbers: NumberFormat::from_locale(),
            interval_ms: prefs.refresh_interval_ms,
            timer: None,
            vanished: RefCell::default(),
        };
        model.restart_timer(&sender);
        // First reading now, so the rows are there before the first interval ends.
        model.take_sample();
        let mut widgets = OverviewWidgets {
            download,
            upload,
            chart,
            chart_caption,
            rows: InterfaceRows::new(interfaces_group),
            ip_received,
            ip_sent,
        };
        model.update_view(&mut widgets, sender);
        ComponentParts { model, widgets }
    }

    fn update(&mut self, message: Self::Input, sender: ComponentSender<Self>, _: &Self::Root) {
        match message {
            OverviewInput::Sample => self.take_sample(),
            OverviewInput::PreferencesChanged(prefs) => {
                self.units = prefs.units;
                if prefs.refresh_interval_ms != self.interval_ms {
                    self.interval_ms = prefs.refresh_interval_ms;
                    self.restart_timer(&sender);
                }
            }
        }
    }

    /// Removes the rows of vanished interfaces, then shows the readings in the current units.
    fn update_view(&self, widgets: &mut Self::Widgets, _: ComponentSender<Self>) {
        widgets.rows.remove(&self.vanished.take());
        let (down, up) = self.model.machine_rates();
        widgets
            .download
            .set_label(&self.numbers.rate(down, self.units));
        widgets.upload.set_label(&self.numbers.rate(up, self.units));
        let history = self.model.machine_history();
        widgets.chart.set_samples(history.samples());
        // Translators: under the chart; {} is a rate such as "2 MB/s".
        widgets
            .chart_caption
            .set_label(&gettext("Last 5 minutes · scale {}").replacen(
                "{}",
                &self.numbers.rate(widgets.chart.scale_max(), self.units),
                1,
            ));
        for interface in self.model.interfaces() {
            widgets.rows.update(interface, &self.numbers, self.units);
        }
        match self.model.ip_totals() {
            Some(ip) => {
                widgets
                    .ip_received
                    .set_value(&self.numbers.amount(ip.in_octets, self.units));
                widgets
                    .ip_sent
                    .set_value(&self.numbers.amount(ip.out_octets, self.units));
            }
            None => {
                let unknown = gettext("Unknown");
                widgets.ip_received.set_value(&unknown);
                widgets.ip_sent.set_value(&unknown);
            }
        }
    }
}

impl OverviewPage {
    fn restart_timer(&mut self, sender: &ComponentSender<Self>) {
        if let Some(id) = self.timer.take() {
            id.remove();
        }
        let sender = sender.clone();
        self.timer = Some(glib::timeout_add_local(
            Duration::from_millis(u64::from(self.interval_ms)),
            move || {
                sender.input(OverviewInput::Sample);
                glib::ControlFlow::Continue
            },
        ));
    }

    fn take_sample(&mut self) {
        let sample = self.sampler.read();
        let changes = self.model.apply(sample);
        self.vanished.get_mut().extend(changes.vanished);
    }
}

/// The card at the top: the two big figures and the chart.
fn build_rates_card() -> (gtk::Box, gtk::Label, gtk::Label, RateChart, gtk::Label) {
    let card = gtk::Box::builder()
        .orientation(gtk::Orientation::Vertical)
        .spacing(12)
        .css_classes(["card", "chart-card"])
        .build();
    let figures = gtk::Box::builder()
        .orientation(gtk::Orientation::Horizontal)
        .spacing(24)
        .homogeneous(true)
        .build();
    let (download_box, download) = figure(&gettext("Download"), "legend-download", "download-rate");
    let (upload_box, upload) = figure(&gettext("Upload"), "legend-upload", "upload-rate");
    figures.append(&download_box);
    figures.append(&upload_box);
    card.append(&figures);

    let chart = RateChart::new(HISTORY_LEN, false);
    chart.set_height_request(160);
    chart.set_hexpand(true);
    card.append(&chart);
    let caption = gtk::Label::builder()
        .xalign(0.0)
        .css_classes(["caption", "dim-label", "numeric"])
        .build();
    card.append(&caption);
    (card, download, upload, chart, caption)
}

/// A caption with a colour key above a large figure.
fn figure(caption: &str, legend_class: &str, figure_class: &str) -> (gtk::Box, gtk::Label) {
    let column = gtk::Box::builder()
        .orientation(gtk::Orientation::Vertical)
        .spacing(2)
        .build();
    let header = gtk::Box::builder()
        .orientation(gtk::Orientation::Horizontal)
        .spacing(6)
        .build();
    let legend = gtk::Box::builder()
        .css_classes([legend_class])
        .valign(gtk::Align::Center)
        .build();
    header.append(&legend);
    header.append(
        &gtk::Label::builder()
            .label(caption)
            .xalign(0.0)
            .css_classes(["rate-caption", "dim-label"])
            .build(),
    );
    column.append(&header);
    let value = gtk::Label::builder()
        .xalign(0.0)
        .css_classes(["rate-figure", "numeric", figure_class])
        .build();
    column.append(&value);
    (column, value)
}

/// A row with a title and a value at its end.
struct ValueRow {
    row: adw::ActionRow,
    value: gtk::Label,
}

impl ValueRow {
    fn new(title: &str, icon: &str) -> Self {
        let row = adw::ActionRow::builder().title(title).build();
        row.add_prefix(&gtk::Image::from_icon_name(icon));
        let value = gtk::Label::builder()
            .css_classes(["numeric", "dim-label"])
            .build();
        row.add_suffix(&value);
        Self { row, value }
    }

    fn set_value(&self, text: &str) {
        self.value.set_label(text);
    }
}
