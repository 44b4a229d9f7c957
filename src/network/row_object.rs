//! `SockeyeTrafficRow`: the GObject behind one line of the Network table (a process, an
//! application or unattributed traffic). The table's cells bind to its read-only
//! properties; `update` changes them in place and notifies only what changed.

use gtk::gio;
use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;
use std::cell::{Ref, RefCell};

use crate::format::{NumberFormat, Units};
use crate::models::process_table::{RowData, RowKey};

glib::wrapper! {
    pub struct TrafficRow(ObjectSubclass<imp::TrafficRow>);
}

/// The strings and flags a row shows, derived from its `RowData`.
#[derive(Debug, Clone, Default, PartialEq)]
struct Shown {
    title: String,
    subtitle: String,
    download: String,
    upload: String,
    /// Download and upload together, the one rate the narrow table shows.
    rate: String,
    received: String,
    sent: String,
    opacity: f64,
}

impl TrafficRow {
    pub fn new(data: RowData, icon: gio::Icon, numbers: &NumberFormat, units: Units) -> Self {
        let row: Self = glib::Object::new();
        row.imp().icon.replace(Some(icon));
        row.update(data, numbers, units);
        row
    }

    pub fn key(&self) -> RowKey {
        self.imp()
            .data
            .borrow()
            .as_ref()
            .map(|d| d.key.clone())
            .unwrap_or(RowKey::Process(0))
    }

    /// The row's current data (for sorting, filtering and the details pane).
    pub fn data(&self) -> Ref<'_, Option<RowData>> {
        self.imp().data.borrow()
    }

    /// Child rows of an application row (processes), for the tree.
    pub fn children(&self) -> Option<gio::ListStore> {
        self.imp().children.borrow().clone()
    }

    pub fn set_children(&self, children: Option<gio::ListStore>) {
        self.imp().children.replace(children);
    }

    /// Replaces the data, re-formats the figures and notifies the properties that changed;
    /// `revision` always moves on so the sparkline redraws.
    pub fn update(&self, data: RowData, numbers: &NumberFormat, units: Units) {
        let shown = Shown {
            title: data.title.clone(),
            subtitle: data.subtitle(),
            download: numbers.rate(data.download_rate, units),
            upload: numbers.rate(data.upload_rate, units),
            rate: numbers.rate(data.download_rate + data.upload_rate, units),
            received: numbers.amount(data.received, units),
            sent: numbers.amount(data.sent, units),
            opacity: if data.exited { 0.5 } else { 1.0 },
        };
        let imp = self.imp();
        imp.data.replace(Some(data));
        let old = imp.shown.replace(shown.clone());
        let _guard = self.freeze_notify();
        for (name, changed) in [
            ("title", old.title != shown.title),
            ("subtitle", old.subtitle != shown.subtitle),
            ("download", old.download != shown.download),
            ("upload", old.upload != shown.upload),
            ("rate", old.rate != shown.rate),
            ("received", old.received != shown.received),
            ("sent", old.sent != shown.sent),
            ("opacity", old.opacity != shown.opacity),
        ] {
            if changed {
                self.notify(name);
            }
        }
        imp.revision.set(imp.revision.get().wrapping_add(1));
        self.notify("revision");
    }

    /// The (download, upload) history for the sparkline, oldest first.
    pub fn history(&self) -> Vec<(f64, f64)> {
        self.imp()
            .data
            .borrow()
            .as_ref()
            .map(|d| d.history.samples().collect())
            .unwrap_or_default()
    }
}

mod imp {
    use super::*;
    use std::cell::Cell;
    use std::sync::OnceLock;

    #[derive(Default)]
    pub struct TrafficRow {
        pub(super) data: RefCell<Option<RowData>>,
        pub(super) shown: RefCell<Shown>,
        pub(super) icon: RefCell<Option<gio::Icon>>,
        pub(super) children: RefCell<Option<gio::ListStore>>,
        pub(super) revision: Cell<u64>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for TrafficRow {
        const NAME: &'static str = "SockeyeTrafficRow";
        type Type = super::TrafficRow;
    }

    impl ObjectImpl for TrafficRow {
        fn properties() -> &'static [glib::ParamSpec] {
            static PROPERTIES: OnceLock<Vec<glib::ParamSpec>> = OnceLock::new();
            PROPERTIES.get_or_init(|| {
                let text = |name: &str| {
                    glib::ParamSpecString::builder(name)
                        .read_only()
                        .explicit_notify()
                        .build()
                };
                vec![
                    text("title"),
                    text("subtitle"),
                    text("download"),
                    text("upload"),
                    text("rate"),
                    text("received"),
                    text("sent"),
                    glib::ParamSpecDouble::builder("opacity")
                        .minimum(0.0)
                        .maximum(1.0)
                        .default_value(1.0)
                        .read_only()
                        .explicit_notify()
                        .build(),
                    glib::ParamSpecObject::builder::<gio::Icon>("icon")
                        .read_only()
                        .build(),
                    glib::ParamSpecUInt64::builder("revision")
                        .read_only()
                        .explicit_notify()
                        .build(),
                ]
            })
        }

        fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
            let shown = self.shown.borrow();
            match pspec.name() {
                "title" => shown.title.to_value(),
                "subtitle" => shown.subtitle.to_value(),
                "download" => shown.download.to_value(),
                "upload" => shown.upload.to_value(),
                "rate" => shown.rate.to_value(),
                "received" => shown.received.to_value(),
                "sent" => shown.sent.to_value(),
                "opacity" => shown.opacity.to_value(),
                "icon" => self.icon.borrow().to_value(),
                "revision" => self.revision.get().to_value(),
                // GObject only asks for the properties registered above.
                _ => glib::Value::from_type(pspec.value_type()),
            }
        }
    }
}
