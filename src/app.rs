//! The relm4 application: window, tabs, actions.

use std::process::ExitCode;

pub fn run(args: Vec<std::ffi::OsString>) -> ExitCode {
    let _ = args;
    ExitCode::SUCCESS
}
