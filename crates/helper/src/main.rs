//! `sockeye-helper`: the one privileged process. `--stdio` serves the engine over a
//! peer-to-peer D-Bus connection on fd 0; `--json` and `--trace` are terminal modes.

fn main() -> std::process::ExitCode {
    eprintln!("sockeye-helper: not implemented yet");
    std::process::ExitCode::from(2)
}
