//! Window actions behind the tab, search and pause shortcuts.

use adw::prelude::*;
use gtk::gio;
use relm4::ComponentSender;

use super::{MainWindow, Page, WindowInput};

/// Adds `win.page-overview`, `win.page-network`, `win.search` and `win.pause`.
pub(super) fn install(window: &adw::ApplicationWindow, sender: &ComponentSender<MainWindow>) {
    let entries = [
        ("page-overview", WindowInputKind::Page(Page::Overview)),
        ("page-network", WindowInputKind::Page(Page::Network)),
        ("search", WindowInputKind::Search),
        ("pause", WindowInputKind::Pause),
    ];
    for (name, kind) in entries {
        let action = gio::SimpleAction::new(name, None);
        let sender = sender.clone();
        action.connect_activate(move |_, _| {
            sender.input(match kind {
                WindowInputKind::Page(page) => WindowInput::ShowPage(page),
                WindowInputKind::Search => WindowInput::Search,
                WindowInputKind::Pause => WindowInput::TogglePause,
            })
        });
        window.add_action(&action);
    }
}

/// `WindowInput` is not `Copy`; this is what each action sends.
#[derive(Clone, Copy)]
enum WindowInputKind {
    Page(Page),
    Search,
    Pause,
}
