//! The connection to the real `sockeye-helper`, started through the launcher, and the
//! translation of the launcher's and the helper's errors into the Network tab's terms.

use gettextrs::gettext;
use sockeye_protocol::{CaptureError, Connection, Host};
use std::collections::HashMap;

use super::SourceEvent;
use crate::launcher::{self, HelperConnection, LaunchError, LaunchMethod};
use crate::models::capture_state::LaunchFailure;

/// How long to wait for the helper's exit status once its connection closed.
const EXIT_STATUS_WAIT: std::time::Duration = std::time::Duration::from_millis(1000);

/// A connected helper; dropping it closes the socket and the helper exits.
pub struct HelperLink {
    connection: HelperConnection,
}

impl HelperLink {
    /// Whether starting the helper asks for no password (running as root).
    pub fn launches_without_prompt() -> bool {
        LaunchMethod::detect().is_ok_and(|m| !m.may_ask_for_password())
    }

    pub async fn launch() -> Result<HelperLink, LaunchFailure> {
        let method = LaunchMethod::detect().map_err(failure)?;
        launcher::launch(&method)
            .await
            .map(|connection| HelperLink { connection })
            .map_err(failure)
    }

    pub async fn start(&self, interval_ms: u32) -> Result<(), String> {
        self.connection
            .proxy()
            .start(interval_ms)
            .await
            .map_err(call_error)
    }

    pub async fn stop(&self) -> Result<(), String> {
        self.connection.proxy().stop().await.map_err(call_error)
    }

    pub async fn reset_totals(&self) -> Result<(), String> {
        self.connection
            .proxy()
            .reset_totals()
            .await
            .map_err(call_error)
    }

    pub async fn command_lines(&self, pids: &[u32]) -> Result<HashMap<u32, String>, String> {
        self.connection
            .proxy()
            .get_command_lines(pids)
            .await
            .map_err(call_error)
    }

    pub async fn connections(&self, pid: u32) -> Result<Vec<Connection>, String> {
        self.connection
            .proxy()
            .get_connections(pid)
            .await
            .map_err(call_error)
    }

    pub async fn hosts(&self) -> Result<Vec<Host>, String> {
        self.connection
            .proxy()
            .get_hosts()
            .await
            .map_err(call_error)
    }

    /// Forwards `Updated` and `Failed` signals until the helper goes away; returns why.
    pub async fn run_updates(&self, emit: impl Fn(SourceEvent) + Send + Sync) -> String {
        use futures_util::StreamExt;
        let proxy = self.connection.proxy();
        let (mut updates, mut failures) =
            match tokio::try_join!(proxy.receive_updated(), proxy.receive_failed()) {
                Ok(streams) => streams,
                Err(err) => return err.to_string(),
            };
        let exited = self.connection.exited();
        tokio::pin!(exited);
        loop {
            tokio::select! {
                signal = updates.next() => match signal {
                    Some(signal) => match signal.args() {
                        Ok(args) => emit(SourceEvent::Update(args.update)),
                        Err(err) => return gettext("The helper sent an unreadable update: {}")
                            .replacen("{}", &err.to_string(), 1),
                    },
                    // The socket usually closes just before the exit status arrives: wait
                    // a moment for it, it says more (signal, status, stderr).
                    None => {
                        return match tokio::time::timeout(EXIT_STATUS_WAIT, &mut exited).await {
                            Ok(exit) => exit
                                .to_error(self.connection.method().through_pkexec())
                                .to_string(),
                            Err(_) => gettext("The connection to the helper closed."),
                        };
                    }
                },
                signal = failures.next() => {
                    if let Some(args) = signal.as_ref().and_then(|s| s.args().ok()) {
                        let error = CaptureError::from_parts(&args.error_name, args.message.clone());
                        emit(SourceEvent::CaptureFailed(capture_error_sentence(&error)));
                    }
                }
                exit = &mut exited => {
                    return exit.to_error(self.connection.method().through_pkexec()).to_string();
                }
            }
        }
    }
}

/// What the state machine needs to know about a launch error.
fn failure(error: LaunchError) -> LaunchFailure {
    match error {
        LaunchError::AuthorizationDismissed => LaunchFailure::Dismissed,
        LaunchError::NotAuthorized { .. } => LaunchFailure::NotAuthorized,
        LaunchError::HelperMissing { program, path } => {
            LaunchFailure::HelperMissing(format!("{program}: {}", path.display()))
        }
        // The weakness names the component at fault (the helper itself or a directory above).
        LaunchError::HelperUnsafe { weakness, .. } => {
            LaunchFailure::HelperUnsafe(weakness.to_string())
        }
        LaunchError::ProtocolMismatch { helper, expected } => LaunchFailure::ProtocolMismatch(
            gettext("helper {helper}, Sockeye {expected}")
                .replacen("{helper}", &helper, 1)
                .replacen("{expected}", &expected, 1),
        ),
        other => LaunchFailure::HelperExited(other.to_string()),
    }
}

fn call_error(error: zbus::Error) -> String {
    capture_error_sentence(&CaptureError::from(error))
}

/// A sentence for an error the helper reported.
fn capture_error_sentence(error: &CaptureError) -> String {
    match error {
        CaptureError::PermissionDenied(m) => {
            gettext("The capture helper lacks the privileges to capture ({}).").replacen("{}", m, 1)
        }
        CaptureError::NoCaptureDevice(_) => {
            gettext("No network interface that can be captured on is up.")
        }
        CaptureError::NoSuchInterface(m) => {
            gettext("A network interface disappeared ({}).").replacen("{}", m, 1)
        }
        CaptureError::CaptureFailed(m) => gettext("Capturing failed: {}").replacen("{}", m, 1),
        CaptureError::SystemTables(m) => {
            gettext("The system’s socket or process tables could not be read ({}).")
                .replacen("{}", m, 1)
        }
        CaptureError::UnknownProcess(m) | CaptureError::NotCapturing(m) => m.clone(),
        CaptureError::ZBus(err) => err.to_string(),
    }
}
