//! Command-line parsing for the helper's modes.

use std::ffi::OsString;
use std::time::Duration;

pub const USAGE: &str = "\
Usage: sockeye-helper --stdio
       sockeye-helper --json  [--interval MS] [--duration S] [--interface NAME]...
       sockeye-helper --trace [--interval MS] [--duration S] [--interface NAME]...
";

/// Options of the terminal modes.
#[derive(Debug, Clone, PartialEq)]
pub struct TerminalOptions {
    pub interval: Duration,
    /// Stop after this long; run until Ctrl-C when `None`.
    pub duration: Option<Duration>,
    pub interfaces: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Stdio,
    Json(TerminalOptions),
    Trace(TerminalOptions),
    Help,
    Version,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CliError {
    #[error("no mode given")]
    NoMode,
    #[error("unknown argument {0:?}")]
    Unknown(String),
}

pub fn parse(args: impl Iterator<Item = OsString>) -> Result<Mode, CliError> {
    let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    match args.first().map(String::as_str) {
        Some("--stdio") => Ok(Mode::Stdio),
        Some("--help") | Some("-h") => Ok(Mode::Help),
        Some("--version") => Ok(Mode::Version),
        Some(other) => Err(CliError::Unknown(other.to_owned())),
        None => Err(CliError::NoMode),
    }
}
