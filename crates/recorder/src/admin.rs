//! The fixed administrator commands behind the GUI's "Turn On History" and "Turn Off
//! History": `pkexec sockeye-recorder --enable-service` runs exactly
//! `systemctl enable --now sockeye-recorder.service` and nothing else — no argument of the
//! caller reaches systemctl.

use sockeye_protocol::recorder::RECORDER_UNIT;
use std::process::ExitCode;

/// Whether to turn the service on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceChange {
    Enable,
    Disable,
}

/// The argument vector given to `systemctl`.
pub fn systemctl_arguments(change: ServiceChange) -> [&'static str; 3] {
    match change {
        ServiceChange::Enable => ["enable", "--now", RECORDER_UNIT],
        ServiceChange::Disable => ["disable", "--now", RECORDER_UNIT],
    }
}

/// Runs systemctl and passes its exit status on.
pub fn run(change: ServiceChange) -> ExitCode {
    match std::process::Command::new("systemctl")
        .args(systemctl_arguments(change))
        .status()
    {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("sockeye-recorder: systemctl failed: {status}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("sockeye-recorder: cannot run systemctl: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commands_are_fixed() {
        assert_eq!(
            systemctl_arguments(ServiceChange::Enable),
            ["enable", "--now", "sockeye-recorder.service"]
        );
        assert_eq!(
            systemctl_arguments(ServiceChange::Disable),
            ["disable", "--now", "sockeye-recorder.service"]
        );
    }
}
