//! Window actions behind the tab, search and pause shortcuts, and the History tab's menu.

use adw::prelude::*;
use gtk::gio;
use relm4::ComponentSender;

use super::{MainWindow, Page, WindowInput};
use crate::history::period::PeriodKind;
use crate::history::HistoryInput;
use gtk::glib;

/// Adds `win.page-overview`, `win.page-network`, `win.page-history`, `win.search`,
/// `win.pause`, and the History tab's `win.history-export`, `win.history-clear`,
/// `win.history-turn-off`, `win.history-turn-on`, `win.history-period`, `win.history-app`.
pub(super) fn install(window: &adw::ApplicationWindow, sender: &ComponentSender<MainWindow>) {
    let entries = [
        ("page-overview", WindowInputKind::Page(Page::Overview)),
        ("page-network", WindowInputKind::Page(Page::Network)),
        ("page-history", WindowInputKind::Page(Page::History)),
        ("search", WindowInputKind::Search),
        ("pause", WindowInputKind::Pause),
        (
            "history-export",
            WindowInputKind::History(HistoryAction::Export),
        ),
        (
            "history-clear",
            WindowInputKind::History(HistoryAction::Clear),
        ),
        (
            "history-turn-off",
            WindowInputKind::History(HistoryAction::TurnOff),
        ),
        (
            "history-turn-on",
            WindowInputKind::History(HistoryAction::TurnOn),
        ),
    ];
    for (name, kind) in entries {
        let action = gio::SimpleAction::new(name, None);
        let sender = sender.clone();
        action.connect_activate(move |_, _| {
            sender.input(match kind {
                WindowInputKind::Page(page) => WindowInput::ShowPage(page),
                WindowInputKind::Search => WindowInput::Search,
                WindowInputKind::Pause => WindowInput::TogglePause,
                WindowInputKind::History(action) => WindowInput::History(match action {
                    HistoryAction::Export => HistoryInput::Export,
                    HistoryAction::Clear => HistoryInput::AskClear,
                    HistoryAction::TurnOff => HistoryInput::TurnOff,
                    HistoryAction::TurnOn => HistoryInput::TurnOn,
                }),
            })
        });
        window.add_action(&action);
    }
    install_history_choices(window, sender);
}

/// `win.history-period('last-7-days')` picks a period, `win.history-app('org.example.App')`
/// shows one app (`''` every app): for links into the tab, and the GUI tests.
fn install_history_choices(window: &adw::ApplicationWindow, sender: &ComponentSender<MainWindow>) {
    let period = gio::SimpleAction::new("history-period", Some(glib::VariantTy::STRING));
    {
        let sender = sender.clone();
        period.connect_activate(move |_, parameter| {
            let kind = parameter
                .and_then(|p| p.str())
                .and_then(PeriodKind::from_name);
            if let Some(kind) = kind {
                sender.input(WindowInput::History(HistoryInput::PickPeriod(kind)));
            }
        });
    }
    window.add_action(&period);
    let app = gio::SimpleAction::new("history-app", Some(glib::VariantTy::STRING));
    {
        let sender = sender.clone();
        app.connect_activate(move |_, parameter| {
            if let Some(app) = parameter.and_then(|p| p.str()) {
                let app = (!app.is_empty()).then(|| app.to_owned());
                sender.input(WindowInput::History(HistoryInput::SelectApp(app)));
            }
        });
    }
    window.add_action(&app);
}

/// `WindowInput` is not `Copy`; this is what each action sends.
#[derive(Clone, Copy)]
enum WindowInputKind {
    Page(Page),
    Search,
    Pause,
    History(HistoryAction),
}

/// The History tab's menu entries.
#[derive(Clone, Copy)]
enum HistoryAction {
    Export,
    Clear,
    TurnOff,
    TurnOn,
}
