//! The recorder as the History tab and `sockeye --history` see it: whether
//! `io.github.sockeye.Recorder` has an owner on the system bus (followed live through
//! `NameOwnerChanged`), its rows for a period, and the fixed administrator commands that
//! turn the service on and off.

use futures_util::StreamExt;
use gettextrs::gettext;
use sockeye_protocol::recorder::{
    ExecutableUsageRow, Recorder1Proxy, RecorderStatus, UsageRow, RECORDER_BUS_NAME,
};
use std::path::PathBuf;

use crate::config;

/// The recorder's program name in libexecdir.
pub const RECORDER_NAME: &str = "sockeye-recorder";
/// Environment variable naming another `sockeye-recorder` (development, tests). Not a
/// privilege boundary, for the reason `launcher::HELPER_ENV` gives.
pub const RECORDER_ENV: &str = "SOCKEYE_RECORDER";

/// What went wrong talking to the recorder.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("no system bus: {0}")]
    NoSystemBus(#[source] zbus::Error),
    #[error("no recorder runs on the system bus")]
    NotRunning,
    #[error("the recorder refused: {0}")]
    Call(#[source] zbus::Error),
    #[error("could not start pkexec: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("{program} failed with exit status {code}: {stderr}")]
    CommandFailed {
        program: String,
        code: i32,
        stderr: String,
    },
}

impl HistoryError {
    /// A sentence for a toast or the terminal.
    pub fn message(&self) -> String {
        match self {
            HistoryError::NoSystemBus(err) => {
                gettext("Cannot reach the system bus: {}").replacen("{}", &err.to_string(), 1)
            }
            HistoryError::NotRunning => gettext("History is off: the recorder is not running."),
            HistoryError::Call(zbus::Error::MethodError(_, Some(text), _)) => {
                gettext("The recorder refused: {}").replacen("{}", text, 1)
            }
            HistoryError::Call(err) => {
                gettext("The recorder refused: {}").replacen("{}", &err.to_string(), 1)
            }
            HistoryError::Spawn(err) => gettext("Could not ask for administrator rights: {}")
                .replacen("{}", &err.to_string(), 1),
            HistoryError::CommandFailed { stderr, code, .. } => {
                let detail = if stderr.trim().is_empty() {
                    code.to_string()
                } else {
                    stderr.trim().to_owned()
                };
                gettext("Changing the history service failed: {}").replacen("{}", &detail, 1)
            }
        }
    }
}

/// A connection to the recorder's object on the system bus.
#[derive(Clone, Debug)]
pub struct RecorderClient {
    proxy: Recorder1Proxy<'static>,
}

/// One period's rows, with the spans the recorder ran and its status.
#[derive(Debug, Clone, Default)]
pub struct PeriodData {
    pub rows: Vec<UsageRow>,
    pub spans: Vec<(u64, u64)>,
    pub status: RecorderStatus,
}

impl RecorderClient {
    /// Connects to the system bus (`DBUS_SYSTEM_BUS_ADDRESS` when set). Needs a tokio
    /// runtime. The recorder need not run yet.
    pub async fn connect() -> Result<Self, HistoryError> {
        let connection = zbus::Connection::system()
            .await
            .map_err(HistoryError::NoSystemBus)?;
        let proxy = Recorder1Proxy::builder(&connection)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .map_err(HistoryError::NoSystemBus)?;
        Ok(Self { proxy })
    }

    /// Whether the recorder's name has an owner now.
    pub async fn is_running(&self) -> Result<bool, HistoryError> {
        let bus = zbus::fdo::DBusProxy::new(self.proxy.inner().connection())
            .await
            .map_err(HistoryError::NoSystemBus)?;
        let name = zbus::names::BusName::try_from(RECORDER_BUS_NAME)
            .map_err(|e| HistoryError::NoSystemBus(e.into()))?;
        bus.name_has_owner(name)
            .await
            .map_err(|e| HistoryError::NoSystemBus(e.into()))
    }

    /// Calls `changed(running)` now and whenever the recorder's name gains or loses its
    /// owner, until the bus connection ends.
    pub async fn watch(&self, mut changed: impl FnMut(bool)) -> Result<(), HistoryError> {
        let mut stream = self
            .proxy
            .inner()
            .receive_owner_changed()
            .await
            .map_err(HistoryError::NoSystemBus)?;
        // Subscribed first, then asked: no change between the two is missed.
        changed(self.is_running().await?);
        while let Some(owner) = stream.next().await {
            changed(owner.is_some());
        }
        Ok(())
    }

    /// Rows, spans and status for `[from, to)` in buckets of `bucket_s` seconds.
    pub async fn period(
        &self,
        from: u64,
        to: u64,
        bucket_s: u32,
    ) -> Result<PeriodData, HistoryError> {
        let rows = self.usage(from, to, bucket_s).await?;
        let spans = self.proxy.get_spans(from, to).await.map_err(call_error)?;
        let status = self.proxy.get_status().await.map_err(call_error)?;
        Ok(PeriodData {
            rows,
            spans,
            status,
        })
    }

    pub async fn usage(
        &self,
        from: u64,
        to: u64,
        bucket_s: u32,
    ) -> Result<Vec<UsageRow>, HistoryError> {
        self.proxy
            .get_usage(from, to, bucket_s)
            .await
            .map_err(call_error)
    }

    /// One app's rows split by executable.
    pub async fn app_usage(
        &self,
        app: &str,
        from: u64,
        to: u64,
        bucket_s: u32,
    ) -> Result<Vec<ExecutableUsageRow>, HistoryError> {
        self.proxy
            .get_app_usage(app, from, to, bucket_s)
            .await
            .map_err(call_error)
    }

    /// Deletes the caller's rows (every row for an administrator).
    pub async fn clear(&self) -> Result<(), HistoryError> {
        self.proxy.clear().await.map_err(call_error)
    }
}

/// A call to a name nobody owns is "not running", anything else the recorder's answer.
fn call_error(err: zbus::Error) -> HistoryError {
    match &err {
        zbus::Error::MethodError(name, _, _)
            if name.as_str() == "org.freedesktop.DBus.Error.ServiceUnknown"
                || name.as_str() == "org.freedesktop.DBus.Error.NameHasNoOwner" =>
        {
            HistoryError::NotRunning
        }
        _ => HistoryError::Call(err),
    }
}

/// The fixed administrator commands of `sockeye-recorder`: nothing else can be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceCommand {
    Enable,
    Disable,
}

impl ServiceCommand {
    fn argument(self) -> &'static str {
        match self {
            ServiceCommand::Enable => "--enable-service",
            ServiceCommand::Disable => "--disable-service",
        }
    }
}

/// How a [`ServiceCommand`] ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceOutcome {
    Done,
    /// The user dismissed the authentication dialog (pkexec's status 126): a normal answer.
    Dismissed,
}

/// `<libexecdir>/sockeye-recorder`, or `$SOCKEYE_RECORDER` (absolute, as pkexec needs).
pub fn recorder_path() -> PathBuf {
    match std::env::var_os(RECORDER_ENV).filter(|p| !p.is_empty()) {
        Some(path) => {
            let path = PathBuf::from(path);
            std::path::absolute(&path).unwrap_or(path)
        }
        None => PathBuf::from(config::LIBEXECDIR).join(RECORDER_NAME),
    }
}

/// Whether we run inside a Flatpak sandbox, which cannot install a host service:
/// `/.flatpak-info` exists (or the file `SOCKEYE_FLATPAK_INFO` names, as for the launcher).
pub fn in_flatpak() -> bool {
    let info = std::env::var_os(crate::launcher::FLATPAK_INFO_ENV)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(crate::launcher::FLATPAK_INFO));
    info.exists()
}

/// Runs `pkexec <recorder> --enable-service` or `--disable-service` (directly when root).
pub async fn run_service_command(command: ServiceCommand) -> Result<ServiceOutcome, HistoryError> {
    let recorder = recorder_path();
    let mut process = if rustix::process::geteuid().is_root() {
        tokio::process::Command::new(&recorder)
    } else {
        let mut pkexec = tokio::process::Command::new("pkexec");
        pkexec.arg(&recorder);
        pkexec
    };
    let output = process
        .arg(command.argument())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(HistoryError::Spawn)?;
    match output.status.code() {
        Some(0) => Ok(ServiceOutcome::Done),
        Some(126) => Ok(ServiceOutcome::Dismissed),
        code => Err(HistoryError::CommandFailed {
            program: recorder.display().to_string(),
            code: code.unwrap_or(-1),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }),
    }
}
