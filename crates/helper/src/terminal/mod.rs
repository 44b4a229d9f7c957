//! Terminal modes: `--json` lines and the human `--trace` table.

use crate::cli::TerminalOptions;
use std::process::ExitCode;

pub fn run_json(options: TerminalOptions) -> ExitCode {
    let _ = options;
    eprintln!("sockeye-helper: --json is not implemented yet");
    ExitCode::FAILURE
}

pub fn run_trace(options: TerminalOptions) -> ExitCode {
    let _ = options;
    eprintln!("sockeye-helper: --trace is not implemented yet");
    ExitCode::FAILURE
}
