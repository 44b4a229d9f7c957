//! `sockeye-helper`: the one privileged process. `--stdio` serves the engine over a
//! peer-to-peer D-Bus connection on fd 0; `--json` and `--trace` are terminal modes.

mod cli;
mod lifecycle;
mod privilege;
mod stdio;
mod terminal;

use std::process::ExitCode;

fn main() -> ExitCode {
    // First of all: a helper whose parent is gone must not keep running as root.
    lifecycle::die_with_parent();
    match cli::parse(std::env::args_os().skip(1)) {
        Ok(cli::Mode::Stdio) => stdio::run(),
        Ok(cli::Mode::Json(options)) => with_least_privilege(|| terminal::run_json(options)),
        Ok(cli::Mode::Trace(options)) => with_least_privilege(|| terminal::run_trace(options)),
        Ok(cli::Mode::Help) => {
            print!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Ok(cli::Mode::Version) => {
            println!("sockeye-helper {}", sockeye_protocol::VERSION);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("sockeye-helper: {error}\n\n{}", cli::USAGE);
            ExitCode::from(2)
        }
    }
}

/// Runs a terminal mode with only the capture capabilities (see `privilege`), dropped here
/// while the process still has a single thread.
fn with_least_privilege(mode: impl FnOnce() -> ExitCode) -> ExitCode {
    if let Err(error) = privilege::drop_to_capture_set() {
        eprintln!("sockeye-helper: {error}");
        return ExitCode::FAILURE;
    }
    mode()
}
