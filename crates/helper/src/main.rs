//! `sockeye-helper`: the one privileged process. `--stdio` serves the engine over a
//! peer-to-peer D-Bus connection on fd 0; `--json` and `--trace` are terminal modes.

mod cli;
mod lifecycle;
mod sandbox;
mod stdio;
mod terminal;

use sockeye_engine::privilege;
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

/// Runs a terminal mode with only the capture capabilities (see `privilege`) and inside
/// the sandbox (see `sandbox`), both set up here while the process still has a single thread.
fn with_least_privilege(mode: impl FnOnce() -> ExitCode) -> ExitCode {
    if let Err(error) = lock_down() {
        eprintln!("sockeye-helper: {error}");
        return ExitCode::FAILURE;
    }
    mode()
}

/// Why the helper refuses to start: it could not give up what it must not keep.
#[derive(Debug, thiserror::Error)]
enum LockDownError {
    #[error(transparent)]
    Privilege(#[from] privilege::PrivilegeError),
    #[error(transparent)]
    Sandbox(#[from] sandbox::SandboxError),
}

/// Gives up what the helper must not keep, in the one order that works: every mode calls
/// it once, in `main`'s thread, before serving anything (see `sandbox`).
fn lock_down() -> Result<(), LockDownError> {
    // Needs root (CAP_PERFMON), so first. Without it (no tracefs, a container, an old
    // kernel) attribution still works, minus client connections that end before their
    // first lookup.
    let _ = sockeye_engine::attribution::preopen_connect_log();
    // And the socket-layer byte counters ("sent by the app"; `--json` says whether).
    let _ = sockeye_engine::attribution::preopen_socket_bytes();
    // And the UDP sender log (short-lived senders; `--json` says whether).
    let _ = sockeye_engine::attribution::preopen_udp_senders();
    // Needs CAP_SYS_ADMIN, which the drop removes.
    let view = sandbox::read_only_view()?;
    privilege::drop_to_capture_set()?;
    sandbox::deny_system_calls(view)?;
    Ok(())
}
