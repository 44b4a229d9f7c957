//! Where the Network tab's data comes from: the real helper (through the launcher) or, in
//! builds with the `fake-helper` feature and only when `SOCKEYE_FAKE_HELPER=<processes>` is
//! set, a fake helper for the GUI cost benchmark and screenshots.

use sockeye_protocol::{Connection, Host};
use std::collections::HashMap;
use std::sync::Arc;

#[cfg(feature = "fake-helper")]
use super::fake_helper::FakeHelper;
use super::helper_link::HelperLink;
use super::SourceEvent;
use crate::models::capture_state::LaunchFailure;

/// A running source of updates; cheap to clone into async commands.
#[derive(Clone)]
pub enum Backend {
    Helper(Arc<HelperLink>),
    #[cfg(feature = "fake-helper")]
    Fake(Arc<FakeHelper>),
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Helper(_) => "Backend::Helper",
            #[cfg(feature = "fake-helper")]
            Backend::Fake(_) => "Backend::Fake",
        })
    }
}

/// How many fake processes `SOCKEYE_FAKE_HELPER` asks for, if set.
#[cfg(feature = "fake-helper")]
fn fake_requested() -> Option<usize> {
    FakeHelper::requested()
}

/// Without the feature the variable is ignored; say so, or a benchmark would silently
/// measure the authorization page.
#[cfg(not(feature = "fake-helper"))]
fn fake_requested() -> Option<usize> {
    if std::env::var_os("SOCKEYE_FAKE_HELPER").is_some() {
        eprintln!(
            "sockeye: SOCKEYE_FAKE_HELPER ignored: this build has no fake helper \
             (cargo feature fake-helper)"
        );
    }
    None
}

impl Backend {
    /// Whether starting needs no password (then the page starts by itself when shown).
    pub fn launches_without_prompt() -> bool {
        fake_requested().is_some() || HelperLink::launches_without_prompt()
    }

    /// Starts the helper (asking for authorization) or the fake one.
    pub async fn launch() -> Result<Backend, LaunchFailure> {
        #[cfg(feature = "fake-helper")]
        if let Some(processes) = fake_requested() {
            return Ok(Backend::Fake(Arc::new(FakeHelper::new(processes))));
        }
        HelperLink::launch()
            .await
            .map(|l| Backend::Helper(Arc::new(l)))
    }

    /// Starts capturing; `interval_ms` is the update period in milliseconds.
    pub async fn start(&self, interval_ms: u32) -> Result<(), String> {
        match self {
            Backend::Helper(h) => h.start(interval_ms).await,
            #[cfg(feature = "fake-helper")]
            Backend::Fake(f) => {
                f.start(interval_ms);
                Ok(())
            }
        }
    }

    pub async fn stop(&self) -> Result<(), String> {
        match self {
            Backend::Helper(h) => h.stop().await,
            #[cfg(feature = "fake-helper")]
            Backend::Fake(f) => {
                f.stop();
                Ok(())
            }
        }
    }

    pub async fn reset_totals(&self) -> Result<(), String> {
        match self {
            Backend::Helper(h) => h.reset_totals().await,
            #[cfg(feature = "fake-helper")]
            Backend::Fake(f) => {
                f.reset_totals();
                Ok(())
            }
        }
    }

    /// The connections of each of `pids`, concatenated. A pid the helper has no connections
    /// for (exited, never seen, capture stopped) simply adds none: the details pane then
    /// says "No open connections" rather than showing an error every second.
    pub async fn connections(&self, pids: Vec<u32>) -> Vec<Connection> {
        let mut all = Vec::new();
        for pid in pids {
            match self {
                Backend::Helper(h) => all.extend(h.connections(pid).await.unwrap_or_default()),
                #[cfg(feature = "fake-helper")]
                Backend::Fake(f) => all.extend(f.connections(pid)),
            }
        }
        all
    }

    /// The connections of each of `pids`, apart (a pid with none gets an empty list).
    pub async fn connections_by_pid(&self, pids: Vec<u32>) -> Vec<(u32, Vec<Connection>)> {
        let mut all = Vec::with_capacity(pids.len());
        for pid in pids {
            let connections = match self {
                Backend::Helper(h) => h.connections(pid).await.unwrap_or_default(),
                #[cfg(feature = "fake-helper")]
                Backend::Fake(f) => f.connections(pid),
            };
            all.push((pid, connections));
        }
        all
    }

    /// Every remote host of the capture (`GetHosts`), or why the helper could not say.
    pub async fn hosts(&self) -> Result<Vec<Host>, String> {
        match self {
            Backend::Helper(h) => h.hosts().await,
            #[cfg(feature = "fake-helper")]
            Backend::Fake(f) => Ok(f.hosts()),
        }
    }

    /// pid → command line of those of `pids` the helper knows; none on an error (the row
    /// keeps waiting for its line in the updates).
    pub async fn command_lines(&self, pids: Vec<u32>) -> HashMap<u32, String> {
        match self {
            Backend::Helper(h) => h.command_lines(&pids).await.unwrap_or_default(),
            #[cfg(feature = "fake-helper")]
            Backend::Fake(f) => f.command_lines(&pids),
        }
    }

    /// Calls `emit` with every event until the source ends; returns why it ended.
    pub async fn run_updates(&self, emit: impl Fn(SourceEvent) + Send + Sync) -> String {
        match self {
            Backend::Helper(h) => h.run_updates(emit).await,
            #[cfg(feature = "fake-helper")]
            Backend::Fake(f) => f.run_updates(|u| emit(SourceEvent::Update(u))).await,
        }
    }
}
