//! The `--page network|overview` option. GApplication parses it in whichever process was
//! started and forwards it to the running instance, which switches its window's tab.

use adw::prelude::*;
use gettextrs::gettext;
use gtk::glib;

use super::WINDOW_BROKER;
use crate::window::WindowInput;

/// The window's two tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Overview,
    Network,
}

impl Page {
    /// The `AdwViewStack` child name, also the `--page` value.
    pub fn name(self) -> &'static str {
        match self {
            Page::Overview => "overview",
            Page::Network => "network",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "overview" => Some(Page::Overview),
            "network" => Some(Page::Network),
            _ => None,
        }
    }
}

/// Registers `--page` and the handler that runs in the primary instance.
pub(super) fn install(app: &adw::Application) {
    app.add_main_option(
        "page",
        glib::Char::from(b'p'),
        glib::OptionFlags::NONE,
        glib::OptionArg::String,
        &gettext("Open the given tab: “overview” or “network”"),
        Some(&gettext("PAGE")),
    );
    // Runs in the process that was started: reject a bad value before it is forwarded.
    app.connect_handle_local_options(|_, options| {
        let requested = options.lookup::<String>("page").ok().flatten();
        match requested {
            Some(name) if Page::from_name(&name).is_none() => {
                eprintln!(
                    "{}",
                    gettext("Unknown page “{}”: use “overview” or “network”.")
                        .replacen("{}", &name, 1)
                );
                std::ops::ControlFlow::Break(glib::ExitCode::FAILURE)
            }
            _ => std::ops::ControlFlow::Continue(()),
        }
    });
    // Runs in the primary instance, for its own start and for every forwarded one.
    app.connect_command_line(|app, command_line| {
        let requested = command_line
            .options_dict()
            .lookup::<String>("page")
            .ok()
            .flatten();
        if let Some(page) = requested.as_deref().and_then(Page::from_name) {
            WINDOW_BROKER.send(WindowInput::ShowPage(page));
        }
        app.activate();
        glib::ExitCode::SUCCESS
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_names_round_trip() {
        for page in [Page::Overview, Page::Network] {
            assert_eq!(Page::from_name(page.name()), Some(page));
        }
        assert_eq!(Page::from_name("settings"), None);
    }
}
