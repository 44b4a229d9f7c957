//! Terminal modes: `--json` lines and the human `--trace` table, each printed once per
//! interval until Ctrl-C, SIGTERM or `--duration`, then once more with the final totals.

mod format;
mod signals;

use crate::cli::TerminalOptions;
use sockeye_engine::{Capture, CaptureOptions, EngineError, HostStats, Snapshot};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Instant;

/// How a snapshot is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Json,
    /// The table, clearing the screen first when stdout is a terminal; of the remote
    /// hosts instead of the processes with `hosts`.
    Trace {
        clear: bool,
        hosts: bool,
    },
}

/// What wakes the main loop.
enum Event {
    /// Boxed: a snapshot's fixed part is some 200 bytes, a signal none.
    Update(Box<Result<Snapshot, EngineError>>),
    Signal,
}

pub fn run_json(options: TerminalOptions) -> ExitCode {
    run(options, Output::Json)
}

pub fn run_trace(options: TerminalOptions) -> ExitCode {
    let clear = std::io::stdout().is_terminal();
    let hosts = options.hosts;
    run(options, Output::Trace { clear, hosts })
}

fn run(options: TerminalOptions, output: Output) -> ExitCode {
    let (events, received) = mpsc::channel();
    let (signals, signalled) = mpsc::channel();
    if let Err(error) = signals::forward_termination(signals) {
        eprintln!("sockeye-helper: cannot handle Ctrl-C: {error}");
        return ExitCode::FAILURE;
    }
    let signal_events = events.clone();
    std::thread::spawn(move || {
        for _ in signalled {
            if signal_events.send(Event::Signal).is_err() {
                break;
            }
        }
    });

    let capture_options = CaptureOptions {
        interval: options.interval,
        interfaces: options.interfaces.clone(),
    };
    let capture = match Capture::start(capture_options, move |update| {
        let _ = events.send(Event::Update(Box::new(update)));
    }) {
        Ok(capture) => capture,
        Err(error) => return report_start_error(&error),
    };

    let deadline = options.duration.map(|d| Instant::now() + d);
    loop {
        let event = match deadline {
            Some(deadline) => {
                match received.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(event) => event,
                    Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            None => match received.recv() {
                Ok(event) => event,
                Err(_) => break,
            },
        };
        match event {
            Event::Update(update) => match *update {
                Ok(snapshot) => {
                    if !print(&snapshot, &capture.hosts(), output) {
                        // stdout closed (e.g. `| head`): stop quietly.
                        let _ = capture.stop();
                        return ExitCode::SUCCESS;
                    }
                }
                Err(error) => {
                    eprintln!("sockeye-helper: {error}");
                    let _ = capture.stop();
                    return ExitCode::FAILURE;
                }
            },
            Event::Signal => break,
        }
    }
    match capture.stop_with_hosts() {
        Ok((last, hosts)) => {
            print(&last, &hosts, output);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("sockeye-helper: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Writes one snapshot, with the remote hosts as of it; false when stdout is gone.
fn print(snapshot: &Snapshot, hosts: &[HostStats], output: Output) -> bool {
    let text = match output {
        Output::Json => match format::json_line(snapshot, hosts) {
            Ok(line) => line + "\n",
            Err(error) => {
                eprintln!("sockeye-helper: cannot serialise a snapshot: {error}");
                return false;
            }
        },
        Output::Trace {
            clear,
            hosts: by_host,
        } => {
            let table = if by_host {
                format::hosts_table(snapshot, hosts)
            } else {
                format::trace_table(snapshot)
            };
            if clear {
                format!("{}{table}", format::CLEAR_SCREEN)
            } else {
                table + "\n"
            }
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).is_ok() && stdout.flush().is_ok()
}

/// Explains why capture could not start; exit status 1 (2 for an unknown interface,
/// which is a bad argument).
fn report_start_error(error: &EngineError) -> ExitCode {
    match error {
        EngineError::PermissionDenied(_) => {
            eprintln!(
                "sockeye-helper: {error}\n\
                 Run it as root (for example `sudo sockeye-helper --json`) or give it the \
                 CAP_NET_RAW and CAP_NET_ADMIN capabilities."
            );
            ExitCode::FAILURE
        }
        EngineError::NoSuchInterface(_) => {
            eprintln!("sockeye-helper: {error}");
            ExitCode::from(2)
        }
        _ => {
            eprintln!("sockeye-helper: {error}");
            ExitCode::FAILURE
        }
    }
}
