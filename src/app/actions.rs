//! Application-wide actions and their keyboard shortcuts.

use adw::prelude::*;
use gtk::gio;

use super::WINDOW_BROKER;
use crate::window::WindowInput;

/// Adds `app.quit`, `app.preferences`, `app.about` and every accelerator of the app.
pub(super) fn install(app: &adw::Application) {
    let quit = gio::ActionEntry::builder("quit")
        .activate(|app: &adw::Application, _, _| {
            // Closing the window first lets it stop the capture and save its size.
            for window in app.windows() {
                window.close();
            }
            app.quit();
        })
        .build();
    let preferences = gio::ActionEntry::builder("preferences")
        .activate(|_: &adw::Application, _, _| WINDOW_BROKER.send(WindowInput::ShowPreferences))
        .build();
    let about = gio::ActionEntry::builder("about")
        .activate(|_: &adw::Application, _, _| WINDOW_BROKER.send(WindowInput::ShowAbout))
        .build();
    app.add_action_entries([quit, preferences, about]);

    app.set_accels_for_action("app.quit", &["<Control>q"]);
    app.set_accels_for_action("app.preferences", &["<Control>comma"]);
    app.set_accels_for_action("win.page-overview", &["<Control>1"]);
    app.set_accels_for_action("win.page-network", &["<Control>2"]);
    app.set_accels_for_action("win.page-history", &["<Control>3"]);
    app.set_accels_for_action("win.search", &["<Control>f"]);
    app.set_accels_for_action("win.pause", &["<Control>p"]);
    app.set_accels_for_action("win.show-help-overlay", &["<Control>question"]);
    app.set_accels_for_action("window.close", &["<Control>w"]);
}
