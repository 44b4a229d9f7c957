//! The command line: `--config PATH`, or one of the fixed administrator modes.

use crate::admin::ServiceChange;
use std::ffi::OsString;
use std::path::PathBuf;

pub const USAGE: &str = "\
Usage: sockeye-recorder [--config PATH]
       sockeye-recorder --enable-service | --disable-service

Records how much each application uses the network, per hour and per user, into
$STATE_DIRECTORY/history.sqlite (/var/lib/sockeye when unset), and serves it on the
system bus as io.github.sockeye.Recorder. Normally run by sockeye-recorder.service.

  --config PATH       settings (default /etc/sockeye/recorder.conf; missing = defaults)
  --enable-service    run `systemctl enable --now sockeye-recorder.service`
  --disable-service   run `systemctl disable --now sockeye-recorder.service`
  --help, --version
";

#[derive(Debug, PartialEq, Eq)]
pub enum Mode {
    Record { config: PathBuf },
    Service(ServiceChange),
    Help,
    Version,
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Mode, String> {
    let mut args = args.into_iter();
    let mut config = PathBuf::from(crate::config::DEFAULT_CONFIG_PATH);
    let mut mode = None;
    let mut seen_config = false;
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--config") => {
                config = args.next().ok_or("--config needs a path")?.into();
                seen_config = true;
            }
            Some("--enable-service") if mode.is_none() => {
                mode = Some(Mode::Service(ServiceChange::Enable));
            }
            Some("--disable-service") if mode.is_none() => {
                mode = Some(Mode::Service(ServiceChange::Disable));
            }
            Some("--help" | "-h") => return Ok(Mode::Help),
            Some("--version") => return Ok(Mode::Version),
            _ => return Err(format!("unexpected argument {}", arg.to_string_lossy())),
        }
    }
    match mode {
        // The administrator modes take nothing else: nothing to parameterise.
        Some(_) if seen_config => {
            Err("--enable-service and --disable-service take no other argument".into())
        }
        Some(mode) => Ok(mode),
        None => Ok(Mode::Record { config }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<Mode, String> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn modes_parse_and_admin_modes_take_nothing_else() {
        assert_eq!(
            parse_str(&[]),
            Ok(Mode::Record {
                config: "/etc/sockeye/recorder.conf".into()
            })
        );
        assert_eq!(
            parse_str(&["--config", "/tmp/x.conf"]),
            Ok(Mode::Record {
                config: "/tmp/x.conf".into()
            })
        );
        assert_eq!(
            parse_str(&["--enable-service"]),
            Ok(Mode::Service(ServiceChange::Enable))
        );
        assert!(parse_str(&["--enable-service", "--config", "x"]).is_err());
        assert!(parse_str(&["--enable-service", "--disable-service"]).is_err());
        assert!(parse_str(&["--enable-service", "foo.service"]).is_err());
    }
}
