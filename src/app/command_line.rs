//! The `--page overview|network|history` option. GApplication parses it in whichever process was
//! started and forwards it to the running instance, which switches its window's tab.

use adw::prelude::*;
use gettextrs::gettext;
use gtk::{gio, glib};

use super::WINDOW_BROKER;
use crate::window::{Page, WindowInput};

thread_local! {
    /// The command line was refused (the process must exit with a failure status).
    static REFUSED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the command line was refused.
pub(super) fn refused() -> bool {
    REFUSED.get()
}

/// Registers `--page` and the handler that runs in the primary instance.
pub(super) fn install(app: &adw::Application) {
    app.add_main_option(
        "page",
        glib::Char::from(b'p'),
        glib::OptionFlags::NONE,
        glib::OptionArg::String,
        &gettext("Open the given tab: “overview”, “network” or “history”"),
        Some(&gettext("PAGE")),
    );
    // Runs in the process that was started: reject a bad value before it is forwarded.
    app.connect_handle_local_options(|app, options| {
        let requested = options.lookup::<String>("page").ok().flatten();
        match requested {
            Some(name) if Page::from_name(&name).is_none() => {
                eprintln!(
                    "{}",
                    gettext("Unknown page “{}”: use “overview”, “network” or “history”.")
                        .replacen("{}", &name, 1)
                );
                REFUSED.set(true);
                wake_after_run();
                std::ops::ControlFlow::Break(glib::ExitCode::FAILURE)
            }
            _ => {
                // Registering now tells whether this process only forwards its command line.
                if app.register(gio::Cancellable::NONE).is_err() || app.is_remote() {
                    wake_after_run();
                }
                std::ops::ControlFlow::Continue(())
            }
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

/// relm4 ends `RelmApp::run` with one blocking main-context iteration, which nothing wakes
/// up in a process that never ran its own window (forwarded or refused command line).
fn wake_after_run() {
    glib::timeout_add_local(std::time::Duration::from_millis(50), || {
        glib::ControlFlow::Continue
    });
}
