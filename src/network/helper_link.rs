//! The connection to the real `sockeye-helper`, started through the launcher.

use sockeye_protocol::{Capture1Proxy, Connection, Update};

use crate::models::capture_state::LaunchFailure;

/// A connected helper: its `Capture1` proxy.
pub struct HelperLink {
    proxy: Capture1Proxy<'static>,
}

impl HelperLink {
    /// Running as root: the helper is started directly, no password is asked.
    pub fn launches_without_prompt() -> bool {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() == 0 }
    }

    pub async fn launch() -> Result<HelperLink, LaunchFailure> {
        Err(LaunchFailure::HelperMissing(
            "the launcher is not available in this build".into(),
        ))
    }

    pub async fn start(&self, interval_ms: u32) -> Result<(), String> {
        self.proxy
            .start(interval_ms)
            .await
            .map_err(|e| e.to_string())
    }

    pub async fn stop(&self) -> Result<(), String> {
        self.proxy.stop().await.map_err(|e| e.to_string())
    }

    pub async fn reset_totals(&self) -> Result<(), String> {
        self.proxy.reset_totals().await.map_err(|e| e.to_string())
    }

    pub async fn connections(&self, pid: u32) -> Result<Vec<Connection>, String> {
        self.proxy
            .get_connections(pid)
            .await
            .map_err(|e| e.to_string())
    }

    pub async fn run_updates(&self, emit: impl Fn(Update) + Send) -> String {
        use futures_util::StreamExt;
        let mut updates = match self.proxy.receive_updated().await {
            Ok(stream) => stream,
            Err(err) => return err.to_string(),
        };
        while let Some(signal) = updates.next().await {
            match signal.args() {
                Ok(args) => emit(args.update),
                Err(err) => {
                    return gettextrs::gettext("The helper sent an unreadable update: {}").replacen(
                        "{}",
                        &err.to_string(),
                        1,
                    )
                }
            }
        }
        gettextrs::gettext("The helper closed its connection.")
    }
}
