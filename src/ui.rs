//! The GtkBuilder templates in the GResource bundle (`data/resources/ui/*.ui`), and typed
//! access to their objects by id.

use gtk::prelude::*;

/// Where the bundle's files live (the same for the Devel app id): GTK finds `style.css` and
/// `gtk/help-overlay.ui` there by itself, the templates below it in `ui/`.
pub const RESOURCE_BASE_PATH: &str = "/io/github/sockeye/Sockeye/";

/// One parsed template.
pub struct Template {
    name: &'static str,
    builder: gtk::Builder,
}

impl Template {
    /// Parses `ui/<name>` from the bundle (registered by `app::run`).
    pub fn load(name: &'static str) -> Self {
        Self {
            name,
            builder: gtk::Builder::from_resource(&format!("{RESOURCE_BASE_PATH}ui/{name}")),
        }
    }

    /// The object with `id`. The templates are compiled into the binary and checked by every
    /// start of the app, so a missing or mistyped id is a bug in this build, not a runtime
    /// condition: it panics, naming both.
    pub fn get<T: IsA<gtk::glib::Object>>(&self, id: &str) -> T {
        self.builder
            .object(id)
            .unwrap_or_else(|| panic!("template {} has no {id} of the expected type", self.name))
    }
}
