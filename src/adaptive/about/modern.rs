//! `AdwAboutDialog`: a dialog inside the main window that becomes a bottom sheet when the
//! window is narrow.

use adw::prelude::*;

/// The About dialog; its properties are set by name (the same on both builds).
pub struct About(adw::AboutDialog);

impl About {
    pub fn new() -> Self {
        Self(adw::AboutDialog::new())
    }

    /// The object whose properties (`application-name`, `version`, …) the caller sets.
    pub fn object(&self) -> &gtk::glib::Object {
        self.0.upcast_ref()
    }

    pub fn add_link(&self, title: &str, url: &str) {
        self.0.add_link(title, url);
    }

    pub fn add_acknowledgement_section(&self, name: Option<&str>, people: &[&str]) {
        self.0.add_acknowledgement_section(name, people);
    }

    pub fn present(&self, parent: &impl IsA<gtk::Widget>) {
        self.0.present(Some(parent));
    }
}

impl Default for About {
    fn default() -> Self {
        Self::new()
    }
}
