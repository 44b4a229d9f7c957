//! `AdwPreferencesWindow` from `ui/preferences.ui`, transient for the main window.

use gtk::prelude::*;

use crate::ui::Template;

pub struct PreferencesShell {
    ui: Template,
    window: adw::PreferencesWindow,
}

impl PreferencesShell {
    pub fn load() -> Self {
        let ui = Template::load("preferences.ui");
        let window = ui.get("window");
        Self { ui, window }
    }

    /// The template, for the rows by id.
    pub fn ui(&self) -> &Template {
        &self.ui
    }

    pub fn present(&self, parent: &impl IsA<gtk::Window>) {
        self.window.set_transient_for(Some(parent));
        self.window.present();
    }
}
