//! `AdwAboutWindow`, a window of its own, transient for the main window.

use adw::prelude::*;

/// The About window; its properties are set by name (the same on both builds).
pub struct About(adw::AboutWindow);

impl About {
    pub fn new() -> Self {
        Self(adw::AboutWindow::builder().modal(true).build())
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

    pub fn present(&self, parent: &impl IsA<gtk::Window>) {
        self.0.set_transient_for(Some(parent));
        self.0.present();
    }
}

impl Default for About {
    fn default() -> Self {
        Self::new()
    }
}
