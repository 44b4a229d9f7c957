//! Command-line parsing for the helper's modes.

use std::ffi::OsString;
use std::time::Duration;

pub const USAGE: &str = "\
Usage: sockeye-helper --stdio
       sockeye-helper --json  [--interval MS] [--duration S] [--interface NAME]...
       sockeye-helper --trace [--hosts] [--interval MS] [--duration S] [--interface NAME]...

  --json            print one JSON object per interval (totals since start, rates in B/s)
  --trace           show a table refreshed each interval
  --hosts           with --trace: a table of remote hosts (DNS name, addresses, pids)
                    instead of processes
  --interval MS     length of an interval, in milliseconds (default 1000)
  --duration S      stop after S seconds (default: run until Ctrl-C)
  --interface NAME  capture only on NAME (repeatable; default: every interface that is up)
";

/// Default interval of the terminal modes.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// Shortest interval accepted, in milliseconds.
const MIN_INTERVAL_MS: u64 = 10;
/// Longest interval accepted, in milliseconds: the D-Bus `Start` call's bound.
const MAX_INTERVAL_MS: u64 = sockeye_protocol::MAX_INTERVAL_MS as u64;
/// Longest `--duration` accepted, in seconds (a year): far beyond any use, and far from
/// the clock arithmetic that an unbounded value overflowed (a panic at start).
const MAX_DURATION_S: f64 = 366.0 * 24.0 * 3600.0;

/// Options of the terminal modes.
#[derive(Debug, Clone, PartialEq)]
pub struct TerminalOptions {
    pub interval: Duration,
    /// Stop after this long; run until Ctrl-C when `None`.
    pub duration: Option<Duration>,
    pub interfaces: Vec<String>,
    /// `--trace` shows the remote hosts instead of the processes.
    pub hosts: bool,
}

impl Default for TerminalOptions {
    fn default() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            duration: None,
            interfaces: Vec::new(),
            hosts: false,
        }
    }
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
    #[error("no mode given (one of --stdio, --json, --trace)")]
    NoMode,
    #[error("unknown argument {0:?}")]
    Unknown(String),
    #[error("{0} and {1} cannot be used together")]
    Conflict(String, String),
    #[error("{0} needs a value")]
    MissingValue(String),
    #[error("invalid value {value:?} for {option}: {reason}")]
    BadValue {
        option: String,
        value: String,
        reason: &'static str,
    },
    #[error("{0} only applies to --json and --trace")]
    NotForStdio(String),
    #[error("--hosts only applies to --trace (--json always has the hosts)")]
    HostsOnlyForTrace,
}

pub fn parse(args: impl Iterator<Item = OsString>) -> Result<Mode, CliError> {
    let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    let mut mode: Option<String> = None;
    let mut options = TerminalOptions::default();
    let mut option_given: Option<String> = None;
    let mut rest = args.into_iter();
    while let Some(arg) = rest.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        match name.as_str() {
            "--help" | "-h" => return Ok(Mode::Help),
            "--version" => return Ok(Mode::Version),
            "--stdio" | "--json" | "--trace" => {
                if let Some(previous) = mode.replace(name.clone()) {
                    return Err(CliError::Conflict(previous, name));
                }
            }
            "--hosts" if inline.is_none() => {
                option_given.get_or_insert(name.clone());
                options.hosts = true;
            }
            "--interval" | "--duration" | "--interface" => {
                let value = match inline {
                    Some(value) => value,
                    None => rest
                        .next()
                        .ok_or_else(|| CliError::MissingValue(name.clone()))?,
                };
                option_given.get_or_insert(name.clone());
                apply_option(&mut options, &name, value)?;
            }
            _ => return Err(CliError::Unknown(arg)),
        }
    }
    match mode.as_deref() {
        Some("--stdio") => match option_given {
            Some(option) => Err(CliError::NotForStdio(option)),
            None => Ok(Mode::Stdio),
        },
        Some("--json") if options.hosts => Err(CliError::HostsOnlyForTrace),
        Some("--json") => Ok(Mode::Json(options)),
        Some("--trace") => Ok(Mode::Trace(options)),
        _ => Err(CliError::NoMode),
    }
}

fn apply_option(options: &mut TerminalOptions, name: &str, value: String) -> Result<(), CliError> {
    let bad = |reason| CliError::BadValue {
        option: name.to_owned(),
        value: value.clone(),
        reason,
    };
    match name {
        "--interval" => {
            let ms: u64 = value
                .parse()
                .map_err(|_| bad("not a whole number of milliseconds"))?;
            if ms < MIN_INTERVAL_MS {
                return Err(bad("must be at least 10 ms"));
            }
            if ms > MAX_INTERVAL_MS {
                return Err(bad("must be at most 60000 ms (a minute)"));
            }
            options.interval = Duration::from_millis(ms);
        }
        "--duration" => {
            let seconds: f64 = value.parse().map_err(|_| bad("not a number of seconds"))?;
            if seconds > MAX_DURATION_S {
                return Err(bad("must be at most 31622400 seconds (a year)"));
            }
            let duration = Duration::try_from_secs_f64(seconds)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| bad("must be a positive number of seconds"))?;
            options.duration = Some(duration);
        }
        _ => {
            if value.is_empty() || value.contains('/') {
                return Err(bad("not an interface name"));
            }
            options.interfaces.push(value);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<Mode, CliError> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn json_mode_takes_interval_duration_and_repeated_interfaces() {
        let mode = parse_str(&[
            "--json",
            "--interval",
            "500",
            "--duration=2.5",
            "--interface",
            "lo",
            "--interface",
            "eth0",
        ]);
        assert_eq!(
            mode,
            Ok(Mode::Json(TerminalOptions {
                interval: Duration::from_millis(500),
                duration: Some(Duration::from_millis(2500)),
                interfaces: vec!["lo".into(), "eth0".into()],
                hosts: false,
            }))
        );
    }

    #[test]
    fn trace_mode_defaults_to_one_second_until_interrupted() {
        assert_eq!(
            parse_str(&["--trace"]),
            Ok(Mode::Trace(TerminalOptions::default()))
        );
    }

    #[test]
    fn hosts_goes_with_trace_only() {
        assert_eq!(
            parse_str(&["--trace", "--hosts"]),
            Ok(Mode::Trace(TerminalOptions {
                hosts: true,
                ..TerminalOptions::default()
            }))
        );
        assert_eq!(
            parse_str(&["--hosts", "--json"]),
            Err(CliError::HostsOnlyForTrace)
        );
        assert_eq!(
            parse_str(&["--stdio", "--hosts"]),
            Err(CliError::NotForStdio("--hosts".into()))
        );
        assert_eq!(
            parse_str(&["--trace", "--hosts=yes"]),
            Err(CliError::Unknown("--hosts=yes".into()))
        );
    }

    #[test]
    fn options_may_come_before_the_mode() {
        assert!(matches!(
            parse_str(&["--interval", "100", "--json"]),
            Ok(Mode::Json(_))
        ));
    }

    #[test]
    fn stdio_mode_stays_plain() {
        assert_eq!(parse_str(&["--stdio"]), Ok(Mode::Stdio));
        assert_eq!(
            parse_str(&["--stdio", "--interval", "500"]),
            Err(CliError::NotForStdio("--interval".into()))
        );
    }

    #[test]
    fn bad_arguments_are_named_in_the_error() {
        assert_eq!(parse_str(&[]), Err(CliError::NoMode));
        assert_eq!(
            parse_str(&["--json", "--bogus"]),
            Err(CliError::Unknown("--bogus".into()))
        );
        assert_eq!(
            parse_str(&["--json", "--trace"]),
            Err(CliError::Conflict("--json".into(), "--trace".into()))
        );
        assert_eq!(
            parse_str(&["--json", "--interval"]),
            Err(CliError::MissingValue("--interval".into()))
        );
        assert!(matches!(
            parse_str(&["--json", "--interval", "fast"]),
            Err(CliError::BadValue { .. })
        ));
        assert!(matches!(
            parse_str(&["--json", "--interval", "0"]),
            Err(CliError::BadValue { .. })
        ));
        assert!(matches!(
            parse_str(&["--json", "--duration", "-1"]),
            Err(CliError::BadValue { .. })
        ));
    }

    #[test]
    fn huge_intervals_and_durations_are_refused_with_the_bound() {
        let refused = |args: &[&str]| match parse_str(args) {
            Err(CliError::BadValue { reason, .. }) => reason,
            other => panic!("{args:?} gave {other:?}"),
        };
        assert!(refused(&["--json", "--interval", "60001"]).contains("60000"));
        assert!(refused(&["--json", "--interval", "18446744073709551615"]).contains("60000"));
        assert!(refused(&["--json", "--duration", "1e300"]).contains("a year"));
        assert!(refused(&["--json", "--duration", "40000000"]).contains("a year"));
        assert!(parse_str(&["--json", "--interval", "60000", "--duration", "31622400"]).is_ok());
    }
}
