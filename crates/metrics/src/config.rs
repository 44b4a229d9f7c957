//! The recorder config's `[metrics]` table: where `GET /metrics` is served and how many
//! applications get series of their own. No table, no metrics: nothing listens.
//!
//! ```toml
//! [metrics]
//! listen = "127.0.0.1:9741"    # or "unix:/run/sockeye/metrics.sock"
//! top_apps = 200
//! ```

use serde::Deserialize;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

/// The port `listen` defaults to, and the one the examples use.
pub const DEFAULT_PORT: u16 = 9741;
/// Applications (with their user) that get series of their own unless `top_apps` says
/// otherwise.
pub const DEFAULT_TOP_APPS: usize = 200;
/// Most `top_apps` accepted: each named application costs two series in every scrape and
/// in Prometheus's index, so the bound stays one a server can hold for every machine.
pub const MAX_TOP_APPS: usize = 10_000;
/// Most bytes of a unix socket path (`sun_path` holds 108, one is the terminating NUL).
const MAX_UNIX_PATH: usize = 107;

/// The `[metrics]` table. Embed it in the recorder's config as
/// `metrics: Option<MetricsConfig>` (with `#[serde(default)]`): an absent table is `None`,
/// metrics off. Unknown keys are errors, so a typo is not silently ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where to serve `/metrics`; loopback port 9741 when the table leaves it out.
    #[serde(default)]
    pub listen: ListenAddress,
    /// How many (application, user) pairs get series of their own; the rest are summed
    /// in `app="other"`.
    #[serde(default)]
    pub top_apps: TopApps,
}

/// A TCP address and port, or a unix socket path (`unix:/run/sockeye/metrics.sock`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum ListenAddress {
    Tcp(SocketAddr),
    /// An absolute path; a stale socket file left there is replaced.
    Unix(PathBuf),
}

impl Default for ListenAddress {
    fn default() -> Self {
        ListenAddress::Tcp(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            DEFAULT_PORT,
        ))
    }
}

impl ListenAddress {
    /// Whether only this machine can connect: a loopback address or a unix socket.
    pub fn is_local_only(&self) -> bool {
        match self {
            ListenAddress::Tcp(address) => address.ip().to_canonical().is_loopback(),
            ListenAddress::Unix(_) => true,
        }
    }

    /// What to log when the address reaches beyond this machine (it was written in the
    /// config, never a default).
    pub fn warning(&self) -> Option<String> {
        (!self.is_local_only()).then(|| {
            format!(
                "metrics are served on {self}, which other machines can reach: anyone who can \
                 connect sees which applications and users use the network here (protect the \
                 port with a firewall, or listen on 127.0.0.1)"
            )
        })
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddress::Tcp(address) => write!(f, "{address}"),
            ListenAddress::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Why the `[metrics]` table cannot be used, worded for the person editing the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "metrics.listen is empty: write an address and port such as \"127.0.0.1:9741\", or \
         \"unix:/run/sockeye/metrics.sock\""
    )]
    EmptyListen,
    #[error(
        "metrics.listen: \"{0}\" has no port: write it as \"{0}:9741\" (IPv6 as \"[{0}]:9741\")"
    )]
    MissingPort(String),
    #[error(
        "metrics.listen: \"{0}\" is neither an IP address with a port (\"127.0.0.1:9741\", \
         \"[::1]:9741\") nor a unix socket (\"unix:/run/sockeye/metrics.sock\")"
    )]
    BadListen(String),
    #[error(
        "metrics.listen: the unix socket path \"{0}\" must be absolute, such as \
         \"unix:/run/sockeye/metrics.sock\""
    )]
    RelativeUnixPath(String),
    #[error(
        "metrics.listen: the unix socket path \"{path}\" is {length} bytes long; at most \
         {MAX_UNIX_PATH} fit in a socket address"
    )]
    UnixPathTooLong { path: String, length: usize },
    #[error(
        "metrics.top_apps must be at least 1: it is how many applications get series of \
         their own (the rest are summed in app=\"other\")"
    )]
    NoTopApps,
    #[error(
        "metrics.top_apps is {0}; at most {MAX_TOP_APPS} are allowed, so that the number of \
         series Prometheus stores per machine stays bounded"
    )]
    TooManyTopApps(u64),
}

impl FromStr for ListenAddress {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, ConfigError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ConfigError::EmptyListen);
        }
        if let Some(path) = text.strip_prefix("unix:") {
            if !path.starts_with('/') {
                return Err(ConfigError::RelativeUnixPath(path.to_owned()));
            }
            if path.len() > MAX_UNIX_PATH {
                return Err(ConfigError::UnixPathTooLong {
                    path: path.to_owned(),
                    length: path.len(),
                });
            }
            return Ok(ListenAddress::Unix(PathBuf::from(path)));
        }
        if let Ok(address) = text.parse::<SocketAddr>() {
            return Ok(ListenAddress::Tcp(address));
        }
        // "localhost" is the one host name taken: it never needs a resolver.
        if let Some(port) = text.strip_prefix("localhost:") {
            if let Ok(port) = port.parse::<u16>() {
                return Ok(ListenAddress::Tcp(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::LOCALHOST),
                    port,
                )));
            }
        }
        let bare = text.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<IpAddr>().is_ok() || bare == "localhost" {
            return Err(ConfigError::MissingPort(bare.to_owned()));
        }
        Err(ConfigError::BadListen(text.to_owned()))
    }
}

impl TryFrom<String> for ListenAddress {
    type Error = ConfigError;

    fn try_from(text: String) -> Result<Self, ConfigError> {
        text.parse()
    }
}

/// How many (application, user) pairs get series of their own: 1 to [`MAX_TOP_APPS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u64")]
pub struct TopApps(usize);

impl TopApps {
    pub fn get(self) -> usize {
        self.0
    }
}

impl Default for TopApps {
    fn default() -> Self {
        TopApps(DEFAULT_TOP_APPS)
    }
}

impl TryFrom<u64> for TopApps {
    type Error = ConfigError;

    fn try_from(value: u64) -> Result<Self, ConfigError> {
        match usize::try_from(value) {
            Ok(0) => Err(ConfigError::NoTopApps),
            Ok(n) if n <= MAX_TOP_APPS => Ok(TopApps(n)),
            _ => Err(ConfigError::TooManyTopApps(value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorder's config as it embeds the table.
    #[derive(Debug, Deserialize)]
    struct RecorderConfig {
        #[serde(default)]
        metrics: Option<MetricsConfig>,
    }

    fn parse(text: &str) -> Result<Option<MetricsConfig>, String> {
        toml::from_str::<RecorderConfig>(text)
            .map(|c| c.metrics)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn an_absent_table_means_metrics_off() {
        assert_eq!(parse("").unwrap(), None);
    }

    #[test]
    fn an_empty_table_listens_on_loopback_with_200_apps() {
        let config = parse("[metrics]\n").unwrap().unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:9741");
        assert_eq!(config.top_apps.get(), 200);
        assert!(config.listen.warning().is_none());
    }

    #[test]
    fn tcp_and_unix_addresses_are_read() {
        let config = parse("[metrics]\nlisten = \"[::1]:9100\"\ntop_apps = 5\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            config.listen,
            ListenAddress::Tcp("[::1]:9100".parse().unwrap())
        );
        assert_eq!(config.top_apps.get(), 5);
        let config = parse("[metrics]\nlisten = \"unix:/run/sockeye/metrics.sock\"\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            config.listen,
            ListenAddress::Unix(PathBuf::from("/run/sockeye/metrics.sock"))
        );
        assert!(config.listen.is_local_only());
        assert_eq!(
            "localhost:9741".parse::<ListenAddress>().unwrap(),
            ListenAddress::default()
        );
    }

    #[test]
    fn a_non_loopback_address_is_accepted_with_a_warning() {
        for text in ["0.0.0.0:9741", "[::]:9741", "192.0.2.7:9741"] {
            let address: ListenAddress = text.parse().unwrap();
            let warning = address.warning().expect("a warning");
            assert!(warning.contains(text), "{warning}");
        }
        let mapped: ListenAddress = "[::ffff:127.0.0.1]:9741".parse().unwrap();
        assert!(
            mapped.warning().is_none(),
            "IPv4-mapped loopback is loopback"
        );
    }

    #[test]
    fn mistakes_get_sentences_naming_the_key_and_a_fix() {
        let cases = [
            ("listen = \"\"", "metrics.listen is empty"),
            ("listen = \"127.0.0.1\"", "\"127.0.0.1:9741\""),
            ("listen = \"::1\"", "\"[::1]:9741\""),
            ("listen = \"localhost\"", "has no port"),
            ("listen = \"example.org:9741\"", "neither an IP address"),
            ("listen = \"unix:metrics.sock\"", "must be absolute"),
            ("top_apps = 0", "at least 1"),
            ("top_apps = 1000000", "at most 10000"),
            ("top_apps = -3", "top_apps"),
            ("top_app = 3", "unknown field `top_app`"),
            ("listen = 9741", "listen"),
        ];
        for (line, expected) in cases {
            let error = parse(&format!("[metrics]\n{line}\n")).unwrap_err();
            assert!(error.contains(expected), "{line}: {error}");
        }
        let long = format!("unix:/{}", "a".repeat(200));
        assert!(matches!(
            long.parse::<ListenAddress>(),
            Err(ConfigError::UnixPathTooLong { length: 201, .. })
        ));
    }
}
