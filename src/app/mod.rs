//! The application: the `AdwApplication`, its actions and shortcuts, the `--page` option,
//! and the main window started through relm4.

mod actions;
mod command_line;

use gtk::gio;
use gtk::prelude::*;
use relm4::{MessageBroker, RelmApp};
use std::process::ExitCode;

use crate::config;
use crate::ui::RESOURCE_BASE_PATH;
use crate::window::{MainWindow, WindowInput};

/// Lets the application (actions, forwarded command lines) talk to the main window.
pub(crate) static WINDOW_BROKER: MessageBroker<WindowInput> = MessageBroker::new();

/// Runs the GUI until its window is closed.
pub fn run(args: Vec<std::ffi::OsString>) -> ExitCode {
    gio::resources_register_include!("sockeye.gresource")
        .unwrap_or_else(|err| eprintln!("sockeye: bundled resources missing: {err}"));

    let app = adw::Application::builder()
        .application_id(config::APP_ID)
        .flags(gio::ApplicationFlags::HANDLES_COMMAND_LINE)
        .resource_base_path(RESOURCE_BASE_PATH)
        .build();
    command_line::install(&app);
    actions::install(&app);
    app.connect_startup(|_| gtk::Window::set_default_icon_name(config::APP_ID));

    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    RelmApp::from_app(app)
        .with_broker(&WINDOW_BROKER)
        .with_args(args)
        .run::<MainWindow>(());
    if command_line::refused() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
