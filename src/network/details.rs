//! The details pane for the selected process, application or host, a child component built
//! from `ui/details-pane.ui`: its figures, a larger chart of the last minute, a host's apps,
//! and the connections — a process's grouped by host (a header per host, the busiest
//! first), a host's each with the process that holds it. A connection row names its
//! service (else its port) and protocol; its subtitle gives the remote `address:port` and
//! the bytes each way.

use adw::prelude::*;
use gettextrs::gettext;
use gtk::gio;
use relm4::prelude::*;
use sockeye_protocol::Connection;
use std::collections::HashMap;

use super::row_object::TrafficRow;
use crate::format::{NumberFormat, Units};
use crate::models::connection_groups::{group_by_host, service_label, HostGroup};
use crate::models::hosts::HostData;
use crate::models::process_table::{RowKey, SPARKLINE_LEN};
use crate::ui::Template;
use crate::widgets::RateChart;

/// Connections listed at most (the busiest first).
const MAX_CONNECTIONS: usize = 50;
/// Icon of a host in the pane's header.
const HOST_ICON: &str = "network-server-symbolic";

/// One app using a host, as the host's details list it.
#[derive(Debug, Clone)]
pub struct AppLine {
    pub name: String,
    /// "2 processes", or the process's pid and user.
    pub detail: String,
    pub icon: gio::Icon,
}

/// What the pane is about.
#[derive(Debug)]
enum Subject {
    Nothing,
    Row(TrafficRow),
    Host(Box<HostData>, Vec<AppLine>),
}

/// The connections the pane lists.
#[derive(Debug)]
enum Listing {
    /// A process's or application's, by host, with the names reverse lookups found
    /// (address → name).
    ByHost(Vec<HostGroup>, HashMap<String, String>),
    /// A host's, each with the name of the process holding it.
    OfHost(Vec<(String, Connection)>),
}

/// What the pane shows.
pub struct DetailsPane {
    numbers: NumberFormat,
    units: Units,
    subject: Subject,
    listing: Listing,
}

#[derive(Debug)]
pub enum DetailsInput {
    /// Show this row's figures and chart (again, after an update), in these units.
    ShowRow(TrafficRow, Units),
    /// Show this host's figures, chart and apps, in these units.
    ShowHost(Box<HostData>, Vec<AppLine>, Units),
    /// The selected row's connections, as the helper listed them, and the names reverse
    /// lookups found for their addresses (address → name).
    ShowConnections(Vec<Connection>, HashMap<String, String>),
    /// The selected host's connections, each with the name of its process.
    ListHostConnections(Vec<(String, Connection)>),
}

#[derive(Debug)]
pub enum DetailsOutput {
    /// The close button was clicked.
    CloseRequested,
}

/// One host's connections: a header and a boxed list, reused from one listing to the next.
struct GroupWidgets {
    root: gtk::Box,
    header: gtk::Box,
    title: gtk::Label,
    description: gtk::Label,
    list: gtk::ListBox,
    rows: Vec<adw::ActionRow>,
}

impl GroupWidgets {
    fn new() -> Self {
        let title = gtk::Label::builder()
            .xalign(0.0)
            .ellipsize(gtk::pango::EllipsizeMode::End)
            .css_classes(["heading"])
            .build();
        let description = gtk::Label::builder()
            .xalign(0.0)
            .wrap(true)
            .css_classes(["caption", "dim-label", "numeric"])
            .build();
        let header = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(2)
            .build();
        header.append(&title);
        header.append(&description);
        let list = gtk::ListBox::builder()
            .selection_mode(gtk::SelectionMode::None)
            .css_classes(["boxed-list"])
            .build();
        let root = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(6)
            .build();
        root.append(&header);
        root.append(&list);
        Self {
            root,
            header,
            title,
            description,
            list,
            rows: Vec::new(),
        }
    }

    /// Sets the rows' (title, subtitle), reusing the rows already there.
    fn set_rows(&mut self, lines: &[(String, String)]) {
        while self.rows.len() > lines.len() {
            if let Some(row) = self.rows.pop() {
                self.list.remove(&row);
            }
        }
        while self.rows.len() < lines.len() {
            let row = adw::ActionRow::builder().subtitle_lines(3).build();
            row.add_css_class("numeric");
            self.list.append(&row);
            self.rows.push(row);
        }
        for (row, (title, subtitle)) in self.rows.iter().zip(lines) {
            // Row titles and subtitles are markup; names come from the network.
            row.set_title(&gtk::glib::markup_escape_text(title));
            row.set_subtitle(&gtk::glib::markup_escape_text(subtitle));
        }
    }
}

pub struct DetailsWidgets {
    icon: gtk::Image,
    title: gtk::Label,
    subtitle: gtk::Label,
    chart: RateChart,
    download: gtk::Label,
    upload: gtk::Label,
    totals: gtk::Label,
    /// What the app itself wrote to and read from its sockets (payload), under the wire
    /// totals; hidden when the helper's kernel does not report it, and for hosts.
    socket_totals: gtk::Label,
    apps: adw::PreferencesGroup,
    /// App rows reused from one listing to the next, each with its icon.
    app_rows: Vec<(adw::ActionRow, gtk::Image)>,
    connections: gtk::Box,
    no_connections: gtk::ListBox,
    groups: Vec<GroupWidgets>,
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
        let chart_card: gtk::Box = ui.get("chart_card");
        chart.insert_before(&chart_card, Some(&totals));
        let socket_totals = gtk::Label::builder()
            .xalign(0.0)
            .wrap(true)
            .visible(false)
            .css_classes(["caption", "dim-label", "numeric"])
            .build();
        socket_totals.insert_after(&chart_card, Some(&totals));
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
            socket_totals,
            apps: ui.get("apps"),
            app_rows: Vec::new(),
            connections: ui.get("connections"),
            no_connections: ui.get("no_connections"),
            groups: Vec::new(),
        };
        let model = DetailsPane {
            numbers,
            units: Units::Bytes,
            subject: Subject::Nothing,
            listing: Listing::OfHost(Vec::new()),
        };
        ComponentParts { model, widgets }
    }

    fn update(&mut self, message: DetailsInput, _: ComponentSender<Self>, _: &Self::Root) {
        match message {
            DetailsInput::ShowRow(row, units) => {
                self.subject = Subject::Row(row);
                self.units = units;
            }
            DetailsInput::ShowHost(host, apps, units) => {
                self.subject = Subject::Host(host, apps);
                self.units = units;
            }
            DetailsInput::ShowConnections(connections, looked_up) => {
                let mut groups = group_by_host(connections);
                // The busiest hosts' connections, at most MAX_CONNECTIONS in all.
                let mut room = MAX_CONNECTIONS;
                groups.retain_mut(|g| {
                    g.connections.truncate(room);
                    room -= g.connections.len();
                    !g.connections.is_empty()
                });
                self.listing = Listing::ByHost(groups, looked_up);
            }
            DetailsInput::ListHostConnections(mut connections) => {
                connections.sort_by(|(_, a), (_, b)| {
                    (b.sent_bytes.saturating_add(b.received_bytes))
                        .cmp(&a.sent_bytes.saturating_add(a.received_bytes))
                        .then_with(|| a.remote.cmp(&b.remote))
                });
                connections.truncate(MAX_CONNECTIONS);
                self.listing = Listing::OfHost(connections);
            }
        }
    }

    fn update_view(&self, widgets: &mut DetailsWidgets, _: ComponentSender<Self>) {
        match &self.subject {
            Subject::Nothing => {}
            Subject::Row(row) => widgets.show_row(row, &self.numbers, self.units),
            Subject::Host(host, apps) => widgets.show_host(host, apps, &self.numbers, self.units),
        }
        widgets.show_listing(&self.listing, &self.numbers, self.units);
    }
}

/// Two lines for one connection: "↓ 1 kB/s ↑ 20 B/s", then "3 MB received · 20 kB sent".
fn traffic_lines(c: &Connection, numbers: &NumberFormat, units: Units) -> String {
    let rates = format!(
        "↓ {} ↑ {}",
        numbers.rate(c.received_rate, units),
        numbers.rate(c.sent_rate, units)
    );
    let totals = gettext("{received} received · {sent} sent")
        .replacen("{received}", &numbers.amount(c.received_bytes, units), 1)
        .replacen("{sent}", &numbers.amount(c.sent_bytes, units), 1);
    format!("{rates}\n{totals}")
}

/// "https · TCP": the service (else the port) and the protocol.
fn service_title(c: &Connection) -> String {
    let service = service_label(c);
    let protocol = c.protocol.to_uppercase();
    if service.is_empty() {
        protocol
    } else {
        format!("{service} · {protocol}")
    }
}

impl DetailsWidgets {
    /// Shows the header and chart: icon, title, subtitle, rates and totals.
    #[allow(clippy::too_many_arguments)]
    fn show_header(
        &self,
        icon: &gio::Icon,
        title: &str,
        subtitle: &str,
        rates: (f64, f64),
        totals: (u64, u64),
        samples: impl IntoIterator<Item = (f64, f64)>,
        numbers: &NumberFormat,
        units: Units,
    ) {
        self.icon.set_from_gicon(icon);
        self.title.set_label(title);
        self.subtitle.set_label(subtitle);
        self.download
            .set_label(&format!("↓ {}", numbers.rate(rates.0, units)));
        self.upload
            .set_label(&format!("↑ {}", numbers.rate(rates.1, units)));
        self.totals.set_label(
            &gettext("{received} received · {sent} sent on the wire since capture started")
                .replacen("{received}", &numbers.amount(totals.0, units), 1)
                .replacen("{sent}", &numbers.amount(totals.1, units), 1),
        );
        self.chart.set_samples(samples);
    }

    /// Shows `row`'s figures and chart.
    fn show_row(&self, row: &TrafficRow, numbers: &NumberFormat, units: Units) {
        let data = row.data();
        let Some(data) = data.as_ref() else { return };
        self.show_header(
            &row.property::<gio::Icon>("icon"),
            &data.title,
            &data.subtitle(),
            (data.download_rate, data.upload_rate),
            (data.received, data.sent),
            data.history.samples(),
            numbers,
            units,
        );
        match data.socket {
            Some((sent, received)) => {
                self.socket_totals.set_label(
                    // Translators: what the app itself wrote to and read from its network
                    // sockets, without the protocol headers the wire figures include.
                    &gettext(
                        "{received} received · {sent} sent by the app (payload, without headers)",
                    )
                    .replacen("{received}", &numbers.amount(received, units), 1)
                    .replacen("{sent}", &numbers.amount(sent, units), 1),
                );
                self.socket_totals.set_visible(true);
            }
            None => self.socket_totals.set_visible(false),
        }
        self.apps.set_visible(false);
        self.connections
            .set_visible(!matches!(data.key, RowKey::Unattributed(_)));
    }

    /// Shows `host`'s figures, chart and apps.
    fn show_host(
        &mut self,
        host: &HostData,
        apps: &[AppLine],
        numbers: &NumberFormat,
        units: Units,
    ) {
        let addresses = host.address_list();
        let subtitle = if host.looked_up.is_some() && host.name.is_empty() {
            // Translators: an address whose name came from a reverse DNS lookup.
            gettext("{} (name from a reverse lookup)").replacen("{}", &addresses, 1)
        } else if host.title() == addresses {
            gettext("No name seen in the apps’ DNS answers")
        } else {
            addresses
        };
        self.show_header(
            &gio::ThemedIcon::new(HOST_ICON).upcast(),
            host.title(),
            &subtitle,
            (host.download_rate, host.upload_rate),
            (host.received, host.sent),
            host.history.samples(),
            numbers,
            units,
        );
        self.socket_totals.set_visible(false);
        self.show_apps(apps);
        self.connections.set_visible(true);
    }

    /// Lists a host's apps, reusing the rows already there.
    fn show_apps(&mut self, apps: &[AppLine]) {
        while self.app_rows.len() > apps.len() {
            if let Some((row, _)) = self.app_rows.pop() {
                self.apps.remove(&row);
            }
        }
        while self.app_rows.len() < apps.len() {
            let icon = gtk::Image::builder().pixel_size(32).build();
            let row = adw::ActionRow::new();
            row.add_prefix(&icon);
            self.apps.add(&row);
            self.app_rows.push((row, icon));
        }
        for ((row, icon), app) in self.app_rows.iter().zip(apps) {
            row.set_title(&gtk::glib::markup_escape_text(&app.name));
            row.set_subtitle(&gtk::glib::markup_escape_text(&app.detail));
            icon.set_from_gicon(&app.icon);
        }
        self.apps.set_visible(!apps.is_empty());
    }

    /// Lists the connections: a group per host, or one for a host's.
    fn show_listing(&mut self, listing: &Listing, numbers: &NumberFormat, units: Units) {
        // (header title and description, or none; rows' title and subtitle)
        type Group = (Option<(String, String)>, Vec<(String, String)>);
        let groups: Vec<Group> = match listing {
            Listing::ByHost(groups, looked_up) => groups
                .iter()
                .map(|g| {
                    let title = g.title(looked_up.get(&g.address).map(String::as_str));
                    let description = gettext("{received} received · {sent} sent")
                        .replacen("{received}", &numbers.amount(g.received, units), 1)
                        .replacen("{sent}", &numbers.amount(g.sent, units), 1);
                    let rows = g
                        .connections
                        .iter()
                        .map(|c| {
                            (
                                service_title(c),
                                format!("{}\n{}", c.remote, traffic_lines(c, numbers, units)),
                            )
                        })
                        .collect();
                    (Some((title, description)), rows)
                })
                .collect(),
            Listing::OfHost(connections) if connections.is_empty() => Vec::new(),
            Listing::OfHost(connections) => vec![(
                None,
                connections
                    .iter()
                    .map(|(who, c)| {
                        (
                            format!("{who} · {}", service_title(c)),
                            format!("{}\n{}", c.remote, traffic_lines(c, numbers, units)),
                        )
                    })
                    .collect(),
            )],
        };
        while self.groups.len() > groups.len() {
            if let Some(group) = self.groups.pop() {
                self.connections.remove(&group.root);
            }
        }
        while self.groups.len() < groups.len() {
            let group = GroupWidgets::new();
            self.connections.append(&group.root);
            self.groups.push(group);
        }
        for (widgets, (header, rows)) in self.groups.iter_mut().zip(&groups) {
            match header {
                Some((title, description)) => {
                    widgets.title.set_label(title);
                    widgets.title.set_tooltip_text(Some(title));
                    widgets.description.set_label(description);
                    widgets.header.set_visible(true);
                }
                None => widgets.header.set_visible(false),
            }
            widgets.set_rows(rows);
        }
        self.no_connections.set_visible(groups.is_empty());
    }
}
