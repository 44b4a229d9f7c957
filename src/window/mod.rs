//! The main window: header bar with the view switcher, the Overview, Network and History
//! pages in an `AdwViewStack`, a bottom view switcher on narrow widths, and the primary menu.
//! The frame and the switcher differ between the libadwaita 1.2 and the `adw_1_7` build
//! (`crate::adaptive`: a box or an AdwToolbarView; a switcher title or a breakpoint).
//!
//! ```text
//! AdwApplicationWindow
//! └─ AdwToastOverlay
//!    └─ GtkBox (vertical) │ AdwToolbarView (adw_1_7)
//!       ├─ AdwHeaderBar ─ AdwViewSwitcherTitle │ AdwViewSwitcher, primary menu
//!       ├─ AdwViewStack ─┬─ "overview" ─ OverviewPage (no privileges)
//!       │                ├─ "network"  ─ NetworkPage (helper; visible ⇒ capturing)
//!       │                └─ "history"  ─ HistoryPage (recorder on the system bus)
//!       └─ AdwViewSwitcherBar (revealed when the title has no room for the switcher, or
//!          at the narrow breakpoint)
//! ```

mod actions;
mod header;
mod page;

use adw::prelude::*;
use gettextrs::gettext;
use relm4::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::history::{HistoryInput, HistoryOutput, HistoryPage};
use crate::network::{NetworkInput, NetworkOutput, NetworkPage};
use crate::overview::{OverviewInput, OverviewPage};
use crate::settings::{Preferences, Settings, WindowState};
use crate::stats_export::StatsExport;
use crate::ui::Shown;

pub use page::Page;

/// Messages to the main window.
#[derive(Debug)]
pub enum WindowInput {
    /// Switch to a tab (Ctrl+1/2/3, `--page`).
    ShowPage(Page),
    /// The stack's visible page changed (by any means: the switcher, or the model).
    PageShown(Page),
    ShowPreferences,
    ShowAbout,
    PreferencesChanged(Preferences),
    /// Ctrl+F: show the Network tab with its search bar open.
    Search,
    TogglePause,
    /// For the History tab (its menu's window actions).
    History(HistoryInput),
    /// Show a short message at the bottom of the window.
    Toast(String),
    /// The window is closing: stop capturing, save the geometry.
    Closing,
    /// The Network tab's grouping toggle changed.
    GroupingChanged(bool),
    /// What the session-bus `Stats1` object should serve now.
    Published {
        capturing: bool,
        stats: HashMap<u32, (u64, u64)>,
    },
}

/// The window's model: which tab is shown and the toasts still to show; the pages are
/// child components. `update` changes these (and talks to the pages, the settings and
/// the session bus); `update_view` shows the tab and the toasts.
pub struct MainWindow {
    /// The tab the window shows.
    page: Page,
    /// Toasts not shown yet; `update_view` shows and drains them.
    toasts: RefCell<Vec<String>>,
    settings: Rc<Settings>,
    overview: Controller<OverviewPage>,
    network: Controller<NetworkPage>,
    history: Controller<HistoryPage>,
    /// `io.github.sockeye.Stats1` on the session bus (none without a session bus).
    stats: Option<StatsExport>,
}

pub struct MainWindowWidgets {
    stack: adw::ViewStack,
    /// The switcher changes the stack itself, then reports it.
    shown_page: Shown<Page>,
    toasts: adw::ToastOverlay,
}

/// Sends to a child page; after the window closed the page may be gone, which is fine.
trait SendToPage<M> {
    fn send(&self, message: M);
}

impl<C: Component> SendToPage<C::Input> for Controller<C> {
    fn send(&self, message: C::Input) {
        let _ = self.sender().send(message);
    }
}

impl Component for MainWindow {
    type Init = ();
    type Input = WindowInput;
    type Output = ();
    type CommandOutput = ();
    type Root = adw::ApplicationWindow;
    type Widgets = MainWindowWidgets;

    fn init_root() -> Self::Root {
        adw::ApplicationWindow::builder()
            .title(gettext("Sockeye"))
            .width_request(360)
            .height_request(294)
            .build()
    }

    fn init(_: (), root: Self::Root, sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let settings = Rc::new(Settings::open());
        let geometry = settings.window_state();
        root.set_default_size(geometry.width, geometry.height);
        if geometry.maximized {
            root.maximize();
        }
        if crate::config::PROFILE == "development" {
            root.add_css_class("devel");
        }

        let prefs = settings.preferences();
        let overview = OverviewPage::builder().launch(prefs.clone()).detach();
        let network = NetworkPage::builder()
            .launch(prefs)
            .forward(sender.input_sender(), |out| match out {
                NetworkOutput::Toast(text) => WindowInput::Toast(text),
                NetworkOutput::GroupingChanged(group) => WindowInput::GroupingChanged(group),
                NetworkOutput::Published { capturing, stats } => {
                    WindowInput::Published { capturing, stats }
                }
            });

        let history = HistoryPage::builder()
            .launch(settings.preferences())
            .forward(sender.input_sender(), |out| match out {
                HistoryOutput::Toast(text) => WindowInput::Toast(text),
            });

        let stack = adw::ViewStack::new();
        stack.set_vexpand(true);
        let overview_page = stack.add_titled(
            overview.widget(),
            Some(Page::Overview.name()),
            &gettext("Overview"),
        );
        overview_page.set_icon_name(Some("view-grid-symbolic"));
        let network_page = stack.add_titled(
            network.widget(),
            Some(Page::Network.name()),
            &gettext("Network"),
        );
        network_page.set_icon_name(Some("network-transmit-receive-symbolic"));
        let history_page = stack.add_titled(
            history.widget(),
            Some(Page::History.name()),
            &gettext("History"),
        );
        history_page.set_icon_name(Some("document-open-recent-symbolic"));

        let (header, switcher) = header::build(&stack);
        let content = crate::adaptive::toolbar::frame(&header, &stack, &switcher.bar);
        let toasts = adw::ToastOverlay::new();
        toasts.set_child(Some(&content));
        {
            let network = network.sender().clone();
            crate::adaptive::narrow::watch(&root, move |narrow| {
                switcher.set_narrow(narrow);
                let _ = network.send(NetworkInput::SetNarrow(narrow));
            });
        }
        root.set_content(Some(&toasts));

        {
            let sender = sender.clone();
            stack.connect_visible_child_name_notify(move |stack| {
                // Only the three pages are ever added, so every name is one of theirs.
                if let Some(page) = stack
                    .visible_child_name()
                    .and_then(|name| Page::from_name(&name))
                {
                    sender.input(WindowInput::PageShown(page));
                }
            });
        }
        {
            let sender = sender.clone();
            root.connect_close_request(move |_| {
                sender.input(WindowInput::Closing);
                gtk::glib::Propagation::Proceed
            });
        }
        actions::install(&root, &sender);

        let stats = relm4::main_application()
            .dbus_connection()
            .and_then(|connection| match StatsExport::register(connection) {
                Ok(export) => Some(export),
                Err(err) => {
                    eprintln!("sockeye: could not export Stats1 on the session bus: {err}");
                    None
                }
            });
        let model = MainWindow {
            // The first page added is the one the stack shows.
            page: Page::Overview,
            toasts: RefCell::default(),
            settings,
            overview,
            network,
            history,
            stats,
        };
        let widgets = MainWindowWidgets {
            stack,
            shown_page: Shown::default(),
            toasts,
        };
        ComponentParts { model, widgets }
    }

    /// Dialogs, `present` and the geometry read on closing need the window itself, which
    /// relm4 hands to `update` for that: they are requests to GTK, not state to render.
    fn update(&mut self, message: Self::Input, sender: ComponentSender<Self>, root: &Self::Root) {
        match message {
            WindowInput::ShowPage(page) => {
                self.page = page;
                // A forwarded `--page` should bring the window forward too.
                root.present();
            }
            WindowInput::PageShown(page) => {
                self.page = page;
                self.network
                    .send(NetworkInput::SetVisible(page == Page::Network));
                self.history
                    .send(HistoryInput::SetVisible(page == Page::History));
            }
            WindowInput::ShowPreferences => {
                let sender = sender.clone();
                crate::preferences::present(root, self.settings.clone(), move |prefs| {
                    sender.input(WindowInput::PreferencesChanged(prefs))
                });
            }
            WindowInput::ShowAbout => crate::about::present(root),
            WindowInput::PreferencesChanged(prefs) => {
                self.overview
                    .send(OverviewInput::PreferencesChanged(prefs.clone()));
                self.history
                    .send(HistoryInput::PreferencesChanged(prefs.clone()));
                self.network.send(NetworkInput::PreferencesChanged(prefs));
            }
            WindowInput::Search => {
                self.page = Page::Network;
                self.network.send(NetworkInput::ToggleSearch);
            }
            WindowInput::TogglePause => self.network.send(NetworkInput::TogglePause),
            WindowInput::History(message) => self.history.send(message),
            WindowInput::Toast(text) => self.toasts.get_mut().push(text),
            WindowInput::GroupingChanged(group) => self.settings.set_group_by_application(group),
            WindowInput::Published { capturing, stats } => {
                if let Some(export) = &self.stats {
                    export.publish(capturing, stats);
                }
            }
            WindowInput::Closing => {
                self.network.send(NetworkInput::SetVisible(false));
                self.history.send(HistoryInput::SetVisible(false));
                let (width, height) = root.default_size();
                self.settings.set_window_state(WindowState {
                    width,
                    height,
                    maximized: root.is_maximized(),
                });
            }
        }
    }

    /// Shows the model's tab (when the model moved; the stack then reports `PageShown`) and
    /// the pending toasts.
    fn update_view(&self, widgets: &mut Self::Widgets, _: ComponentSender<Self>) {
        if widgets.shown_page.changed(&self.page)
            && widgets.stack.visible_child_name().as_deref() != Some(self.page.name())
        {
            widgets.stack.set_visible_child_name(self.page.name());
        }
        for text in self.toasts.take() {
            widgets.toasts.add_toast(adw::Toast::new(&text));
        }
    }
}
