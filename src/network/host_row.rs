//! `SockeyeHostRow`: the GObject behind one line of the Hosts view (a remote host). The
//! cells bind to its read-only properties; `update` changes them in place and notifies only
//! what changed, as `TrafficRow` does for the process table.

use gettextrs::gettext;
use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;
use std::cell::{Ref, RefCell};

use crate::format::{NumberFormat, Units};
use crate::models::hosts::HostData;

glib::wrapper! {
    pub struct HostRow(ObjectSubclass<imp::HostRow>);
}

/// The strings a host row shows, derived from its `HostData`.
#[derive(Debug, Clone, Default, PartialEq)]
struct Shown {
    title: String,
    subtitle: String,
    apps: String,
    download: String,
    upload: String,
    received: String,
    sent: String,
}

impl HostRow {
    pub fn new(data: HostData, numbers: &NumberFormat, units: Units) -> Self {
        let row: Self = glib::Object::new();
        row.update(data, numbers, units);
        row
    }

    /// The host's key (its DNS name, else its address).
    pub fn key(&self) -> String {
        self.imp()
            .data
            .borrow()
            .as_ref()
            .map(|d| d.key.clone())
            .unwrap_or_default()
    }

    /// The host's current data (for sorting, filtering and the details pane).
    pub fn data(&self) -> Ref<'_, Option<HostData>> {
        self.imp().data.borrow()
    }

    /// Replaces the data, re-formats the figures and notifies the properties that changed.
    pub fn update(&self, data: HostData, numbers: &NumberFormat, units: Units) {
        let subtitle = if data.title() == data.address_list() {
            gettext("No name seen")
        } else {
            data.address_list()
        };
        let shown = Shown {
            title: data.title().to_owned(),
            subtitle,
            apps: data.apps.join(", "),
            download: numbers.rate(data.download_rate, units),
            upload: numbers.rate(data.upload_rate, units),
            received: numbers.amount(data.received, units),
            sent: numbers.amount(data.sent, units),
        };
        let imp = self.imp();
        imp.data.replace(Some(data));
        let old = imp.shown.replace(shown.clone());
        let _guard = self.freeze_notify();
        for (name, changed) in [
            ("title", old.title != shown.title),
            ("subtitle", old.subtitle != shown.subtitle),
            ("apps", old.apps != shown.apps),
            ("download", old.download != shown.download),
            ("upload", old.upload != shown.upload),
            ("received", old.received != shown.received),
            ("sent", old.sent != shown.sent),
        ] {
            if changed {
                self.notify(name);
            }
        }
    }
}

mod imp {
    use super::*;
    use std::sync::OnceLock;

    #[derive(Default)]
    pub struct HostRow {
        pub(super) data: RefCell<Option<HostData>>,
        pub(super) shown: RefCell<Shown>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for HostRow {
        const NAME: &'static str = "SockeyeHostRow";
        type Type = super::HostRow;
    }

    impl ObjectImpl for HostRow {
        fn properties() -> &'static [glib::ParamSpec] {
            static PROPERTIES: OnceLock<Vec<glib::ParamSpec>> = OnceLock::new();
            PROPERTIES.get_or_init(|| {
                [
                    "title", "subtitle", "apps", "download", "upload", "received", "sent",
                ]
                .iter()
                .map(|name| {
                    glib::ParamSpecString::builder(name)
                        .read_only()
                        .explicit_notify()
                        .build()
                })
                .collect()
            })
        }

        fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
            let shown = self.shown.borrow();
            match pspec.name() {
                "title" => shown.title.to_value(),
                "subtitle" => shown.subtitle.to_value(),
                "apps" => shown.apps.to_value(),
                "download" => shown.download.to_value(),
                "upload" => shown.upload.to_value(),
                "received" => shown.received.to_value(),
                "sent" => shown.sent.to_value(),
                // GObject only asks for the properties registered above.
                _ => glib::Value::from_type(pspec.value_type()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::hosts::HostTable;
    use sockeye_protocol::Host;
    use std::cell::Cell;
    use std::rc::Rc;

    fn data(name: &str, address: &str, received: u64) -> HostData {
        let mut table = HostTable::default();
        table.apply(
            &[Host {
                name: name.into(),
                addresses: vec![address.into()],
                received_bytes: received,
                pids: vec![1],
                ..Default::default()
            }],
            &|_| Some("Firefox".into()),
        );
        let key = if name.is_empty() { address } else { name };
        table.host(key).cloned().expect("the host")
    }

    #[test]
    fn a_host_row_notifies_only_the_figures_that_changed() {
        let numbers = NumberFormat::default();
        let row = HostRow::new(data("github.com", "192.0.2.1", 100), &numbers, Units::Bytes);
        assert_eq!(row.property::<String>("title"), "github.com");
        assert_eq!(row.property::<String>("subtitle"), "192.0.2.1");
        assert_eq!(row.property::<String>("apps"), "Firefox");
        let (received, title) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        for (name, count) in [("received", received.clone()), ("title", title.clone())] {
            row.connect_notify_local(Some(name), move |_, _| count.set(count.get() + 1));
        }
        row.update(data("github.com", "192.0.2.1", 300), &numbers, Units::Bytes);
        assert_eq!(row.property::<String>("received"), "300 B");
        assert_eq!((received.get(), title.get()), (1, 0));
    }

    #[test]
    fn an_unnamed_host_says_no_name_was_seen() {
        let row = HostRow::new(
            data("", "2001:db8::5", 1),
            &NumberFormat::default(),
            Units::Bytes,
        );
        assert_eq!(row.property::<String>("title"), "2001:db8::5");
        assert_eq!(row.property::<String>("subtitle"), "No name seen");
        assert_eq!(row.key(), "2001:db8::5");
    }
}
