//! `AdwPreferencesDialog` from `ui/preferences-dialog.ui`, inside the main window.

use adw::prelude::*;

use crate::ui::Template;

pub struct PreferencesShell {
    ui: Template,
    dialog: adw::PreferencesDialog,
}

impl PreferencesShell {
    pub fn load() -> Self {
        let ui = Template::load("preferences-dialog.ui");
        let dialog = ui.get("dialog");
        Self { ui, dialog }
    }

    /// The template, for the rows by id.
    pub fn ui(&self) -> &Template {
        &self.ui
    }

    pub fn present(&self, parent: &impl IsA<gtk::Widget>) {
        self.dialog.present(Some(parent));
    }
}
