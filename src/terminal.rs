//! `sockeye --json` / `sockeye --trace`: run the helper's terminal modes through the
//! launcher (directly when root, else pkexec or `flatpak-spawn --host pkexec`), with our
//! stdin, stdout and stderr, before GTK is ever initialised.

use crate::launcher::{LaunchError, LaunchMethod};
use rustix::process::{Pid, Signal};
use std::ffi::OsString;
use std::process::ExitCode;
use tokio::signal::unix::{signal, SignalKind};

/// Shown for `sockeye --help`.
pub const USAGE: &str = "\
Usage: sockeye                      open the window
       sockeye --json  [OPTIONS]    print one JSON line per interval (needs administrator rights)
       sockeye --trace [OPTIONS]    print a table of processes per interval (same)

Options of --json and --trace (passed on to sockeye-helper):
  --interval MS      length of one interval, in milliseconds (default 1000)
  --duration S       stop after this many seconds (default: until Ctrl-C)
  --interface NAME   capture only on this interface (repeatable; default: all)

       sockeye --history [--since 24h|7d|2026-12-01] [--by hour|day] [--csv|--json]
                                    what each app used, as recorded by sockeye-recorder
";

/// A terminal mode asked for on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Run `sockeye-helper` with these arguments (the first is `--json` or `--trace`).
    Helper(Vec<OsString>),
    /// Print the recorder's history (`--history` and the arguments after it).
    History(Vec<OsString>),
    /// Print [`USAGE`].
    Help,
}

/// Whether the command line asks for a terminal mode (then GTK is never initialised).
/// `args` is the whole command line, program name first.
pub fn requested(args: &[OsString]) -> Option<Mode> {
    let first = args.get(1)?;
    match first.to_str()? {
        "--json" | "--trace" => Some(Mode::Helper(args[1..].to_vec())),
        "--history" => Some(Mode::History(args[2..].to_vec())),
        "--help" | "-h" => Some(Mode::Help),
        _ => None,
    }
}

pub fn run(mode: Mode) -> ExitCode {
    match mode {
        Mode::Help => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Mode::History(args) => crate::history::cli::run(&args),
        Mode::Helper(args) => match run_helper(&args) {
            Ok(code) => code,
            Err(error) => {
                eprintln!("sockeye: {error}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Runs the helper in the foreground and exits with its status: the code it exited with,
/// or 128 + the signal that killed it (as a shell reports it).
fn run_helper(args: &[OsString]) -> Result<ExitCode, LaunchError> {
    let method = LaunchMethod::detect()?;
    let command = method.command(args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut hangup = signal(SignalKind::hangup())?;
        let mut child = tokio::process::Command::from(command)
            .spawn()
            .map_err(|error| method.spawn_error(error))?;
        let pid = child.id();
        loop {
            tokio::select! {
                status = child.wait() => {
                    let status = status?;
                    return Ok(exit_code(&method, status));
                }
                _ = interrupt.recv() => {
                    // Ctrl-C in the terminal reaches the helper already (same process
                    // group); a SIGINT sent to us alone is passed on.
                    if !in_terminal_foreground() {
                        forward(pid, Signal::INT);
                    }
                }
                _ = terminate.recv() => {
                    if !forward(pid, Signal::TERM) {
                        // pkexec made it root: our exit delivers its PR_SET_PDEATHSIG.
                        return Ok(ExitCode::from(128 + Signal::TERM.as_raw() as u8));
                    }
                }
                _ = hangup.recv() => {
                    if !forward(pid, Signal::HUP) {
                        return Ok(ExitCode::from(128 + Signal::HUP.as_raw() as u8));
                    }
                }
            }
        }
    })
}

/// Sends `signal` to the child; `false` when it is not allowed (the child runs as root).
fn forward(pid: Option<u32>, signal: Signal) -> bool {
    let Some(pid) = pid.and_then(|p| Pid::from_raw(i32::try_from(p).ok()?)) else {
        return true;
    };
    // Our own child, which tokio has not reaped (we are still waiting): the pid is its own.
    rustix::process::kill_process(pid, signal).is_ok()
}

/// Whether our process group owns the terminal on stdin (then Ctrl-C signals us all).
fn in_terminal_foreground() -> bool {
    rustix::termios::tcgetpgrp(std::io::stdin())
        .is_ok_and(|foreground| foreground == rustix::process::getpgrp())
}

fn exit_code(method: &LaunchMethod, status: std::process::ExitStatus) -> ExitCode {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        if method.through_pkexec() && (code == 126 || code == 127) {
            let exit = crate::launcher::HelperExit {
                code: Some(code),
                signal: None,
                stderr_tail: String::new(),
            };
            eprintln!("sockeye: {}", exit.to_error(true));
        }
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let signal = status.signal().unwrap_or(0);
    ExitCode::from(u8::try_from(128 + signal).unwrap_or(255))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn json_and_trace_pass_every_argument_to_the_helper() {
        assert_eq!(
            requested(&args(&["sockeye", "--json", "--duration", "2"])),
            Some(Mode::Helper(args(&["--json", "--duration", "2"])))
        );
        assert_eq!(
            requested(&args(&["sockeye", "--trace"])),
            Some(Mode::Helper(args(&["--trace"])))
        );
    }

    #[test]
    fn no_argument_or_gtk_arguments_open_the_window() {
        assert_eq!(requested(&args(&["sockeye"])), None);
        assert_eq!(
            requested(&args(&["sockeye", "--gapplication-service"])),
            None
        );
    }

    #[test]
    fn history_takes_the_arguments_after_it() {
        assert_eq!(
            requested(&args(&["sockeye", "--history", "--since", "7d", "--json"])),
            Some(Mode::History(args(&["--since", "7d", "--json"])))
        );
    }

    #[test]
    fn help_lists_the_terminal_modes() {
        assert_eq!(requested(&args(&["sockeye", "--help"])), Some(Mode::Help));
        assert!(USAGE.contains("--json") && USAGE.contains("--trace"));
    }
}
