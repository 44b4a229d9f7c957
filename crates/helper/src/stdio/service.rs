//! The `io.github.sockeye.Capture1` object at `/io/github/sockeye/Capture`: validates every
//! argument, runs engine calls off the async thread and never panics on client input.

use super::error::MethodError;
use super::session::{NoConnections, Session, Started};
use super::{convert, wire_size};
use sockeye_protocol::{
    CaptureError, Connection, Host, Interface, Process, Unattributed, Update, MAX_INTERVAL_MS,
    MAX_UPDATE_BYTES, VERSION,
};
use std::collections::HashMap;
use std::time::Duration;
use zbus::object_server::SignalEmitter;

/// The served object; all state lives in the shared [`Session`].
pub struct CaptureService {
    pub session: Session,
}

/// Runs a blocking session call (opening or closing pcap handles, joining the capture
/// thread) on tokio's blocking pool so the connection keeps being served meanwhile.
async fn blocking<T: Send + 'static>(
    session: &Session,
    call: impl FnOnce(&Session) -> T + Send + 'static,
) -> Result<T, MethodError> {
    let session = session.clone();
    tokio::task::spawn_blocking(move || call(&session))
        .await
        .map_err(|error| {
            MethodError::Capture(CaptureError::CaptureFailed(format!(
                "the capture task failed: {error}"
            )))
        })
}

#[zbus::interface(name = "io.github.sockeye.Capture1")]
impl CaptureService {
    /// Starts capturing with one update every `interval_ms` milliseconds (1..=60000);
    /// when already capturing, only changes the interval.
    async fn start(
        &self,
        interval_ms: u32,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), MethodError> {
        if interval_ms == 0 || interval_ms > MAX_INTERVAL_MS {
            return Err(MethodError::InvalidArgs(format!(
                "interval_ms must be between 1 and {MAX_INTERVAL_MS} milliseconds, not {interval_ms}"
            )));
        }
        let interval = Duration::from_millis(u64::from(interval_ms));
        let started = blocking(&self.session, move |s| s.start(interval)).await??;
        if started == Started::New {
            // Only a lost connection makes this fail, and then nobody is listening.
            let _ = self.capturing_changed(&emitter).await;
        }
        Ok(())
    }

    /// Stops capturing and closes every pcap handle; harmless when stopped.
    async fn stop(
        &self,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), MethodError> {
        let stopped = blocking(&self.session, Session::stop).await?;
        if stopped {
            let _ = self.capturing_changed(&emitter).await;
        }
        Ok(())
    }

    /// pid → (bytes sent, bytes received) since the capture started (libgtop netstats).
    async fn get_stats(&self) -> HashMap<u32, (u64, u64)> {
        convert::stats(&self.session.latest())
    }

    /// Every process seen since the capture started, as of the last interval; command lines
    /// while they fit in `MAX_UPDATE_BYTES` (running processes' first), empty past it (ask
    /// `GetCommandLines`).
    async fn get_processes(&self) -> Vec<Process> {
        let latest = self.session.latest();
        let mut processes: Vec<Process> = latest.processes.iter().map(convert::row).collect();
        let mut room = MAX_UPDATE_BYTES.saturating_sub(
            wire_size::FRAME + processes.iter().map(wire_size::process).sum::<usize>(),
        );
        // Rows are in the snapshot's order; lines go to running processes first.
        let mut order: Vec<usize> = (0..processes.len()).collect();
        order.sort_by_key(|&i| latest.processes[i].exited);
        for i in order {
            let line = &latest.processes[i].cmdline;
            if let Some(left) = room.checked_sub(line.len()) {
                room = left;
                processes[i].cmdline.clone_from(line);
            }
        }
        processes
    }

    /// pid → command line of the given pids, as of the last interval (pids not seen, and
    /// those past `MAX_COMMAND_LINE_BYTES_PER_REPLY`, are left out). The GUI asks for the
    /// lines an update has not brought yet.
    async fn get_command_lines(&self, pids: Vec<u32>) -> HashMap<u32, String> {
        let session = self.session.clone();
        // Walks every process: off the thread that serves the connection.
        tokio::task::spawn_blocking(move || session.command_lines(&pids))
            .await
            .unwrap_or_default()
    }

    /// Connections of one process, as of now.
    async fn get_connections(&self, pid: u32) -> Result<Vec<Connection>, MethodError> {
        let connections = blocking(&self.session, move |s| s.connections(pid)).await?;
        match connections {
            Ok(list) => Ok(list.iter().map(convert::connection).collect()),
            Err(NoConnections::NotCapturing) => Err(CaptureError::NotCapturing(
                "no capture is running: call Start first".to_owned(),
            )
            .into()),
            Err(NoConnections::UnknownProcess) => Err(CaptureError::UnknownProcess(format!(
                "no process with pid {pid} has been seen by this capture"
            ))
            .into()),
        }
    }

    /// Every remote host talked to since the capture started (its DNS name, else one
    /// address), the busiest first, as of the last interval; kept after `Stop`.
    async fn get_hosts(&self) -> Vec<Host> {
        self.session.hosts().iter().map(convert::host).collect()
    }

    /// Per-interface totals and pcap drops, as of the last interval.
    async fn get_interfaces(&self) -> Vec<Interface> {
        let latest = self.session.latest();
        latest.interfaces.iter().map(convert::interface).collect()
    }

    /// Traffic that matched no socket, by protocol, as of the last interval.
    async fn get_unattributed(&self) -> Vec<Unattributed> {
        let latest = self.session.latest();
        latest
            .unattributed
            .iter()
            .map(convert::unattributed)
            .collect()
    }

    /// Sets every total back to zero.
    async fn reset_totals(&self) -> Result<(), MethodError> {
        blocking(&self.session, Session::reset_totals).await
    }

    /// Sent at the end of every interval while capturing.
    #[zbus(signal)]
    pub async fn updated(emitter: &SignalEmitter<'_>, update: &Update) -> zbus::Result<()>;

    /// Sent when an engine error ends the capture.
    #[zbus(signal)]
    pub async fn failed(
        emitter: &SignalEmitter<'_>,
        error_name: &str,
        message: &str,
    ) -> zbus::Result<()>;

    /// Whether a capture runs.
    #[zbus(property)]
    async fn capturing(&self) -> bool {
        self.session.is_capturing()
    }

    /// Whether short-lived UDP senders are traced (the kernel's route-lookup tracepoints
    /// are read), as of the last interval: without, a sender whose socket closed before
    /// its first packet was looked up counts as unknown UDP. False while no capture ran.
    #[zbus(property(emits_changed_signal = "false"))]
    async fn sender_log(&self) -> bool {
        self.session.latest().totals.sender_log
    }

    /// Route lookups the sender log missed because the kernel's ring was full, since
    /// the capture started, as of the last interval.
    #[zbus(property(emits_changed_signal = "false"))]
    async fn sender_events_lost(&self) -> u64 {
        self.session.latest().totals.sender_events_lost
    }

    /// `sockeye_protocol::VERSION` of this helper; the GUI refuses a different one.
    #[zbus(property)]
    async fn version(&self) -> String {
        VERSION.to_owned()
    }
}
