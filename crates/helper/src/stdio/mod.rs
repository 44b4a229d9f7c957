//! `--stdio`: serve `io.github.sockeye.Capture1` over a peer-to-peer D-Bus connection on fd 0.

use std::process::ExitCode;

pub fn run() -> ExitCode {
    eprintln!("sockeye-helper: --stdio is not implemented yet");
    ExitCode::FAILURE
}
