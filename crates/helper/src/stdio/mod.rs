//! `--stdio`: serve `io.github.sockeye.Capture1` over a peer-to-peer D-Bus connection on fd 0.
//!
//! ```text
//! main ─ die_with_parent ─ take_stdin (fd 0 must be a Unix stream socket)
//!      ─ lock_down: drop_to_capture_set, sandbox (before any thread) ─ tokio (current thread)
//!          ├─ zbus server, EXTERNAL auth against the socketpair's creator ─ CaptureService
//!          │                                              (+ BusShim: Hello for gdbus/busctl)
//!          ├─ report forwarder: engine snapshots ─► Delivered (what is new to the
//!          │                     client, within the byte budget) ─► Updated signal
//!          └─ exit on: peer hang-up (poll thread) │ SIGTERM │ SIGINT │ SIGHUP
//!                       ─► stop capture (closes every pcap handle) ─► exit 0
//! ```
//!
//! The helper is the D-Bus *server*: both ends of a socketpair carry the credentials of
//! the process that made it (the GUI, unprivileged), so the root helper checks the GUI's
//! EXTERNAL uid against them; a root client would fail that check.

mod bus_shim;
mod convert;
mod delivered;
mod error;
mod service;
mod session;
mod socket;
mod wire_size;

use crate::lifecycle;
use delivered::Delivered;
use service::CaptureService;
use session::{Report, Session};
use sockeye_protocol::CAPTURE_PATH;
use std::process::ExitCode;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot};
use zbus::object_server::SignalEmitter;

/// How long the client may take to authenticate before the helper gives up, in seconds.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a failed handshake waits for the hang-up that usually caused it, in ms.
const HANGUP_GRACE_MS: u64 = 200;

/// How long the shutdown waits for the capture to stop, and then for blocking calls still
/// running, before the process exits anyway: a capture thread stuck in the kernel (reading
/// `/proc/PID/cmdline` of a process whose arguments sit on a FUSE mapping blocks until its
/// owner answers) must not keep a root helper alive after its client left. Seconds.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
enum ServeError {
    #[error("cannot set up the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("D-Bus connection failed: {0}")]
    DBus(#[from] zbus::Error),
    #[error("the client did not authenticate within {} s", HANDSHAKE_TIMEOUT.as_secs())]
    HandshakeTimeout,
}

pub fn run() -> ExitCode {
    let socket = match socket::take_stdin() {
        Ok(socket) => socket,
        Err(error) => {
            eprintln!("sockeye-helper: {error}");
            return ExitCode::from(2);
        }
    };
    if let Err(error) = crate::lock_down() {
        eprintln!("sockeye-helper: {error}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("sockeye-helper: {}", ServeError::Runtime(error));
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(serve(socket));
    // Dropping the runtime would wait for every blocking call without limit.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sockeye-helper: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Serves until the peer hangs up or a SIGTERM/SIGINT/SIGHUP arrives, then stops the
/// capture.
async fn serve(socket: socket::StdioSocket) -> Result<(), ServeError> {
    let mut terminate = signal(SignalKind::terminate()).map_err(ServeError::Runtime)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(ServeError::Runtime)?;
    let mut sighup = signal(SignalKind::hangup()).map_err(ServeError::Runtime)?;
    let hangup = watch_for_hangup(socket.hangup_watch);
    tokio::pin!(hangup);

    let (session, reports) = Session::new();
    let stream =
        tokio::net::UnixStream::from_std(socket.connection).map_err(ServeError::Runtime)?;
    let build = zbus::connection::Builder::unix_stream(stream)
        .server(zbus::Guid::generate())?
        .p2p()
        .serve_at(
            CAPTURE_PATH,
            CaptureService {
                session: session.clone(),
            },
        )?
        .serve_at("/org/freedesktop/DBus", bus_shim::BusShim)?
        .build();
    let built = tokio::select! {
        built = tokio::time::timeout(HANDSHAKE_TIMEOUT, build) => built,
        _ = &mut hangup => return Ok(()),
        _ = terminate.recv() => return Ok(()),
        _ = interrupt.recv() => return Ok(()),
        _ = sighup.recv() => return Ok(()),
    };
    let connection = match built {
        Ok(Ok(connection)) => connection,
        Ok(Err(error)) => {
            // A client that went away mid-handshake is a normal end, not a failure.
            let grace = Duration::from_millis(HANGUP_GRACE_MS);
            if tokio::time::timeout(grace, &mut hangup).await.is_ok() {
                return Ok(());
            }
            return Err(error.into());
        }
        Err(_) => return Err(ServeError::HandshakeTimeout),
    };

    let forwarder = tokio::spawn(forward_reports(
        connection.clone(),
        session.clone(),
        reports,
    ));
    tokio::select! {
        _ = &mut hangup => {}
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
        _ = sighup.recv() => {}
    }
    forwarder.abort();
    // Closes every pcap handle before the process exits (which closes them anyway).
    let stop = tokio::task::spawn_blocking(move || session.stop());
    if tokio::time::timeout(SHUTDOWN_GRACE, stop).await.is_err() {
        eprintln!(
            "sockeye-helper: the capture did not stop within {} s; exiting anyway",
            SHUTDOWN_GRACE.as_secs()
        );
    }
    Ok(())
}

/// Resolves when the peer closes its end of the socket; a plain thread polls for it.
async fn watch_for_hangup(fd: std::os::fd::OwnedFd) {
    let (sender, receiver) = oneshot::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("hangup-watch".into())
        .spawn(move || {
            // A poll error means the fd is unusable: treat it as a hang-up.
            let _ = lifecycle::wait_for_hangup(&fd);
            let _ = sender.send(());
        });
    if spawned.is_ok() {
        // Either the thread reported or it is gone: both mean stop serving.
        let _ = receiver.await;
    }
}

/// Turns each report of the capture thread into an `Updated` signal, or into `Failed` plus
/// a `Capturing` change when an engine error ended the capture. A signal that cannot be
/// sent is logged and its news go with the next one: the forwarder carries on.
async fn forward_reports(
    connection: zbus::Connection,
    session: Session,
    mut reports: mpsc::Receiver<Report>,
) {
    let Ok(emitter) = SignalEmitter::new(&connection, CAPTURE_PATH) else {
        return;
    };
    let mut delivered = Delivered::default();
    while let Some(report) = reports.recv().await {
        let generation = report.generation;
        // Composing walks every process (hashing up to 4 KiB a command line): off the
        // thread that serves the connection.
        let accepted = tokio::task::spawn_blocking({
            let session = session.clone();
            move || {
                let accepted = session.accept(report);
                let composed = match &accepted {
                    Some(Ok(snapshot)) => Some(delivered.compose(generation, snapshot)),
                    _ => None,
                };
                (delivered, accepted.map(|a| a.map(|_| ())), composed)
            }
        })
        .await;
        let Ok((returned, accepted, composed)) = accepted else {
            // The task panicked and took the state with it: start again from nothing.
            delivered = Delivered::default();
            continue;
        };
        delivered = returned;
        match (accepted, composed) {
            (Some(Ok(())), Some(composed)) => {
                if let Some(warning) = composed.warning {
                    eprintln!("sockeye-helper: {warning}");
                }
                let sent = CaptureService::updated(&emitter, &composed.update).await;
                if let Some(line) = delivered.record(composed.receipt, &sent) {
                    eprintln!("sockeye-helper: {line}");
                }
            }
            (Some(Err(engine_error)), _) => {
                let error = error::capture_error(&engine_error);
                let name = zbus::DBusError::name(&error).to_string();
                let message = engine_error.to_string();
                let _ = CaptureService::failed(&emitter, &name, &message).await;
                if let Ok(iface) = connection
                    .object_server()
                    .interface::<_, CaptureService>(CAPTURE_PATH)
                    .await
                {
                    let _ = iface.get().await.capturing_changed(&emitter).await;
                }
            }
            _ => {}
        }
    }
}
