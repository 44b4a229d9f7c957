//! `sockeye --json` / `sockeye --trace`: run the helper's terminal modes through the launcher.

use std::ffi::OsString;
use std::process::ExitCode;

/// A terminal mode asked for on the command line.
pub enum Mode {}

/// Whether the command line asks for a terminal mode (then GTK is never initialised).
pub fn requested(args: &[OsString]) -> Option<Mode> {
    let _ = args;
    None
}

pub fn run(mode: Mode) -> ExitCode {
    match mode {}
}
