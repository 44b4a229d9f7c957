//! `recorder.conf`: how often to flush, how long to keep rows, how often to sample. TOML;
//! a missing file means the defaults, an unknown key is an error that names it.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where the unit (and a hand-started recorder) reads the configuration from.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/sockeye/recorder.conf";
/// Where the database lives when systemd sets no `$STATE_DIRECTORY`.
pub const DEFAULT_STATE_DIRECTORY: &str = "/var/lib/sockeye";
/// The database's file name inside the state directory.
pub const DATABASE_FILE: &str = "history.sqlite";

/// The recorder's settings, with the defaults the issue asks for.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Seconds between writes to the database; what a SIGKILL can lose at most.
    pub flush_seconds: u32,
    /// Days hourly rows are kept; older hours are only in day rows.
    pub hourly_days: u32,
    /// Days any row is kept.
    pub retention_days: u32,
    /// The engine's accounting interval, in milliseconds.
    pub interval_ms: u32,
    /// Most rows kept in memory while the database cannot be written (a full disk); past it
    /// rows are merged into fewer (hours into days, then apps into one per user and day).
    pub max_pending_rows: u32,
    /// The Prometheus exporter's `[metrics]` table; without it nothing listens.
    pub metrics: Option<sockeye_metrics::MetricsConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            flush_seconds: 60,
            hourly_days: 90,
            retention_days: 730,
            interval_ms: 1000,
            max_pending_rows: 200_000,
            metrics: None,
        }
    }
}

/// Why the configuration cannot be used; the message names the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Reads `path`; a file that does not exist gives the defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text).map_err(|message| ConfigError::Invalid {
                path: path.to_owned(),
                message,
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Parses and checks the ranges; the error is a sentence for the journal.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|error| error.to_string())?;
        if config.flush_seconds == 0 {
            return Err("flush_seconds must be at least 1".into());
        }
        if config.interval_ms < 100 {
            return Err("interval_ms must be at least 100".into());
        }
        if config.hourly_days == 0 {
            return Err("hourly_days must be at least 1".into());
        }
        if config.retention_days < config.hourly_days {
            return Err(format!(
                "retention_days ({}) must not be less than hourly_days ({})",
                config.retention_days, config.hourly_days
            ));
        }
        if config.max_pending_rows < 1000 {
            return Err("max_pending_rows must be at least 1000".into());
        }
        Ok(config)
    }
}

/// The state directory: systemd's `$STATE_DIRECTORY` (its first entry), else
/// [`DEFAULT_STATE_DIRECTORY`].
pub fn state_directory() -> PathBuf {
    std::env::var_os("STATE_DIRECTORY")
        .and_then(|value| {
            let first = value.to_string_lossy().split(':').next()?.to_owned();
            (!first.is_empty()).then(|| PathBuf::from(first))
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIRECTORY))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_empty_file_gives_the_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn a_missing_file_gives_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::load(&dir.path().join("none.conf")).unwrap();
        assert_eq!(config.flush_seconds, 60);
        assert_eq!(config.hourly_days, 90);
        assert_eq!(config.retention_days, 730);
    }

    #[test]
    fn an_unknown_key_is_an_error_that_names_it() {
        let error = Config::parse("flush_second = 5\n").unwrap_err();
        assert!(error.contains("flush_second"), "{error}");
    }

    #[test]
    fn the_metrics_table_is_accepted() {
        let config =
            Config::parse("flush_seconds = 1\n[metrics]\nlisten = \"127.0.0.1:9\"\n").unwrap();
        assert_eq!(config.flush_seconds, 1);
        assert!(config.metrics.is_some());
    }

    #[test]
    fn a_bad_metrics_table_is_an_error_that_names_the_key() {
        let error =
            Config::parse("[metrics]\nlisten = \"127.0.0.1:9\"\ntop_app = 5\n").unwrap_err();
        assert!(error.contains("top_app"), "{error}");
    }

    #[test]
    fn no_metrics_table_means_no_exporter() {
        let config = Config::parse("flush_seconds = 1\n").unwrap();
        assert!(config.metrics.is_none());
    }

    #[test]
    fn retention_shorter_than_hourly_days_is_refused() {
        let error = Config::parse("hourly_days = 10\nretention_days = 5\n").unwrap_err();
        assert!(error.contains("retention_days"), "{error}");
    }
}
