//! Starts `sockeye-helper` (directly, through pkexec, or on the Flatpak host) and connects
//! to it over a private peer-to-peer D-Bus connection.
//!
//! ```text
//! launch(method) ─ socketpair (CLOEXEC) ─┬─ our end ──── zbus p2p client ─ Capture1Proxy
//!                                         └─ its end ─── child's stdin + stdout (pkexec keeps
//!                                                         only fds 0–2)
//!   child: sockeye-helper --stdio                  (Direct: already root)
//!          pkexec <helper> --stdio                 (Pkexec: native install / dev build)
//!          flatpak-spawn --host pkexec <helper> --stdio   (Flatpak)
//! ```
//!
//! # For the GUI
//!
//! ```ignore
//! let method = LaunchMethod::detect()?;          // cheap, synchronous
//! if method.may_ask_for_password() { /* wait for the user's click first */ }
//! let helper = launcher::launch(&method).await?; // may wait minutes for the password
//! helper.proxy().start(1000).await?;
//! let mut updates = helper.proxy().receive_updated().await?;
//! let died = helper.exited();                    // resolves with a HelperExit
//! // on `died`: show "Restart" with `exit.to_error(method.through_pkexec())`'s sentence.
//! drop(helper);                                  // closes the socket: the helper exits
//! ```
//!
//! - Call [`launch`] from the tokio runtime relm4 uses (zbus is built for tokio); the
//!   process is spawned from a supervisor thread of its own, so it does not matter which
//!   runtime thread calls.
//! - Errors are [`LaunchError`] variants, one per sentence: `AuthorizationDismissed` (the
//!   user cancelled — not an error to shout about), `NotAuthorized`, `HelperMissing`
//!   (says which program), `HelperUnsafe` (someone but root can modify the helper pkexec
//!   would run: install system-wide), `HelperExited`/`HelperCrashed` (with the helper's stderr
//!   tail), `ProtocolMismatch`, `DBus`, `Io`.
//! - [`LaunchMethod::detect`] documents the order: Flatpak (`/.flatpak-info`), then the
//!   helper from `$SOCKEYE_HELPER`, the build tree next to the executable, or
//!   `<libexecdir>`; direct when root, else pkexec.
//! - Method errors of the proxy convert to [`sockeye_protocol::CaptureError`] with
//!   `CaptureError::from(zbus_error)` (`PermissionDenied`, `NoCaptureDevice`,
//!   `UnknownProcess`…). An engine error that ends a running capture arrives as the
//!   `Failed(error_name, message)` signal (`receive_failed()`), with `Capturing` turning
//!   false; `CaptureError::from_parts` types it.
//! - The proxy caches properties: `receive_capturing_changed()` follows `Capturing`.
//! - Dropping [`HelperConnection`] shuts the socket down (the helper exits within a second
//!   however many proxy clones still exist), signals the child when allowed, and the
//!   supervisor thread reaps it: no zombie.

mod child;
mod error;
mod method;
mod root_only;

pub use error::{HelperExit, LaunchError, MissingProgram, STDERR_TAIL_BYTES};
pub use method::{LaunchMethod, FLATPAK_INFO, FLATPAK_INFO_ENV, HELPER_ENV, HELPER_NAME};
pub use root_only::Weakness;

use child::Supervised;
use sockeye_protocol::{Capture1Proxy, VERSION};
use std::future::Future;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// How long to wait for the exit status once the connection failed: the failure usually
/// means the process is exiting (pkexec refused), and its status says why. Milliseconds.
const EXIT_GRACE_MS: u64 = 3000;

/// A running helper: the process and the proxy to its capture object.
pub struct HelperConnection {
    proxy: Capture1Proxy<'static>,
    connection: zbus::Connection,
    child: Supervised,
    method: LaunchMethod,
    /// A duplicate of our socket end, to shut the connection down on drop.
    socket: OwnedFd,
}

impl HelperConnection {
    /// The capture object of the helper.
    pub fn proxy(&self) -> &Capture1Proxy<'static> {
        &self.proxy
    }

    /// The peer-to-peer connection (for signal streams of your own).
    pub fn connection(&self) -> &zbus::Connection {
        &self.connection
    }

    /// How the helper was started.
    pub fn method(&self) -> &LaunchMethod {
        &self.method
    }

    /// Pid of the process we started (pkexec or flatpak-spawn when they stand in front).
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Resolves when the helper process has ended (and been reaped), with its status;
    /// `exit.to_error(self.method().through_pkexec())` turns it into a sentence.
    pub fn exited(&self) -> impl Future<Output = HelperExit> + Send + 'static {
        self.child.exited()
    }

    /// How the helper ended, if it has.
    pub fn exit_status(&self) -> Option<HelperExit> {
        self.child.exit_status()
    }

    /// Closes the connection and waits (at most `timeout`) for the helper to exit.
    pub async fn close(self, timeout: Duration) -> Option<HelperExit> {
        let exited = self.child.exited();
        drop(self);
        tokio::time::timeout(timeout, exited).await.ok()
    }
}

impl Drop for HelperConnection {
    fn drop(&mut self) {
        // Other clones of the connection then see the socket closed too, and the helper
        // sees the hang-up. A socket already shut down has nothing left to do.
        let _ = rustix::net::shutdown(&self.socket, rustix::net::Shutdown::Both);
        // Dropping `child` then sends SIGTERM (refused, harmlessly, by a root helper).
    }
}

/// [`LaunchMethod::detect`] then [`launch`].
pub async fn launch_detected() -> Result<HelperConnection, LaunchError> {
    let method = LaunchMethod::detect()?;
    launch(&method).await
}

/// Starts the helper as `method` says and connects to it; see the module documentation.
pub async fn launch(method: &LaunchMethod) -> Result<HelperConnection, LaunchError> {
    // Building the command checks who can modify the helper: a few system calls here, two
    // `flatpak-spawn --host` round trips in Flatpak; off the runtime's threads either way.
    let for_command = method.clone();
    let mut command = tokio::task::spawn_blocking(move || for_command.command(&["--stdio"]))
        .await
        .map_err(|join| LaunchError::Io(std::io::Error::other(join)))??;
    let (ours, theirs) = UnixStream::pair()?;
    let theirs = OwnedFd::from(theirs);
    command
        .stdin(theirs.try_clone()?)
        .stdout(theirs)
        .env_remove(HELPER_ENV);
    let child = Supervised::spawn(command).map_err(|error| method.spawn_error(error))?;

    let socket = OwnedFd::from(ours.try_clone()?);
    ours.set_nonblocking(true)?;
    let stream = tokio::net::UnixStream::from_std(ours)?;
    let connected = tokio::select! {
        connected = connect(stream) => connected,
        exit = child.exited() => return Err(exit.to_error(method.through_pkexec())),
    };
    let (connection, proxy) = match connected {
        Ok(pair) => pair,
        Err(error) => {
            let grace = Duration::from_millis(EXIT_GRACE_MS);
            return Err(match tokio::time::timeout(grace, child.exited()).await {
                Ok(exit) => exit.to_error(method.through_pkexec()),
                Err(_) => error,
            });
        }
    };
    let helper = HelperConnection {
        proxy,
        connection,
        child,
        method: method.clone(),
        socket,
    };
    let version = helper.proxy.version().await?;
    if version != VERSION {
        return Err(LaunchError::ProtocolMismatch {
            helper: version,
            expected: VERSION.to_owned(),
        });
    }
    Ok(helper)
}

/// The client side of the handshake: EXTERNAL auth with our uid, which the helper checks
/// against the socketpair's credentials (ours).
async fn connect(
    stream: tokio::net::UnixStream,
) -> Result<(zbus::Connection, Capture1Proxy<'static>), LaunchError> {
    let connection = zbus::connection::Builder::unix_stream(stream)
        .p2p()
        .build()
        .await?;
    let proxy = Capture1Proxy::new(&connection).await?;
    Ok((connection, proxy))
}
