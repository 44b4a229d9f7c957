//! `GET /metrics` over HTTP/1.1, on TCP or a unix socket, served by hyper on a small tokio
//! runtime in a thread of its own: the recorder's capture loop never waits for a scraper,
//! and the exporter works the same whatever runtime (if any) its caller has.
//!
//! Limits, so that a slow or hostile client can neither block scrapes nor grow memory:
//! - a request head of at most [`MAX_REQUEST_HEAD`] bytes, read within [`HEAD_TIMEOUT`]
//!   (the same timeout closes an idle kept-alive connection); a body is never read;
//! - a connection lives at most [`CONNECTION_LIFETIME`] (then it finishes its request and
//!   closes, or is dropped [`SHUTDOWN_GRACE`] later: a client that stops reading the
//!   response holds nothing for long);
//! - at most [`MAX_CONNECTIONS`] at once: one more closes the oldest, so a client holding
//!   many idle connections delays a scraper by nothing.

use crate::config::ListenAddress;
use crate::exposition::Format;
use crate::registry::Registry;
use crate::MetricsError;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ACCEPT, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

/// Most bytes of a request line and headers (hyper's smallest read buffer).
pub const MAX_REQUEST_HEAD: usize = 8192;
/// Time a client has to send its request head, and most time a connection stays idle.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest life of one connection.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Time a connection has to finish its request once asked to close.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 16;
/// Pause after a failed accept (out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Least time between two log lines about failed accepts.
const ACCEPT_LOG_PERIOD: Duration = Duration::from_secs(60);

type Shared = Arc<Mutex<Registry>>;

/// A listening socket, bound before the server thread starts so that errors reach the
/// caller of `Exporter::start`.
pub enum BoundListener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// Binds `address`; returns the listener and the address as bound (the port the system
/// chose for port 0). A stale unix socket file is replaced; a live one, or any other file,
/// is an error.
pub fn bind(address: &ListenAddress) -> Result<(BoundListener, ListenAddress), MetricsError> {
    let failed = |source| MetricsError::Bind {
        address: address.to_string(),
        source,
    };
    match address {
        ListenAddress::Tcp(socket) => {
            let listener = std::net::TcpListener::bind(socket).map_err(failed)?;
            let bound = listener.local_addr().map_err(failed)?;
            listener.set_nonblocking(true).map_err(failed)?;
            Ok((BoundListener::Tcp(listener), ListenAddress::Tcp(bound)))
        }
        ListenAddress::Unix(path) => {
            remove_stale_socket(path)?;
            let listener = std::os::unix::net::UnixListener::bind(path).map_err(failed)?;
            // Like the loopback port, any local user (a Prometheus agent's) may connect;
            // the directory's permissions restrict that when wanted.
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
                .map_err(failed)?;
            listener.set_nonblocking(true).map_err(failed)?;
            Ok((BoundListener::Unix(listener), address.clone()))
        }
    }
}

/// Removes a socket file that no one listens on any more (a recorder that was killed).
fn remove_stale_socket(path: &Path) -> Result<(), MetricsError> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(MetricsError::Bind {
                address: format!("unix:{}", path.display()),
                source,
            })
        }
    };
    if !metadata.file_type().is_socket() {
        return Err(MetricsError::NotASocket(path.to_owned()));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(MetricsError::SocketInUse(path.to_owned()));
    }
    std::fs::remove_file(path).map_err(|source| MetricsError::Bind {
        address: format!("unix:{}", path.display()),
        source,
    })
}

/// The server thread; dropping it stops serving, closes every connection and removes the
/// unix socket file.
pub struct Server {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    unix_path: Option<PathBuf>,
}

impl Server {
    /// Starts serving `registry` on `listener`.
    pub fn spawn(
        listener: BoundListener,
        unix_path: Option<PathBuf>,
        registry: Shared,
    ) -> Result<Server, MetricsError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(MetricsError::Runtime)?;
        let (shutdown, stop) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("sockeye-metrics".into())
            .spawn(move || runtime.block_on(serve(listener, registry, stop)))
            .map_err(MetricsError::Runtime)?;
        Ok(Server {
            shutdown: Some(shutdown),
            thread: Some(thread),
            unix_path,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(path) = &self.unix_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A listener of the runtime.
enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

/// The accept loop, until `stop` fires (or its sender is dropped).
async fn serve(listener: BoundListener, registry: Shared, mut stop: oneshot::Receiver<()>) {
    let listener = match listener {
        BoundListener::Tcp(l) => tokio::net::TcpListener::from_std(l).map(Listener::Tcp),
        BoundListener::Unix(l) => tokio::net::UnixListener::from_std(l).map(Listener::Unix),
    };
    let listener = match listener {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("sockeye metrics: cannot serve: {error}");
            return;
        }
    };
    let mut connections: VecDeque<AbortHandle> = VecDeque::new();
    let mut last_accept_log: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => break,
            accepted = accept(&listener, &registry) => accepted,
        };
        match accepted {
            Ok(connection) => {
                connections.retain(|c| !c.is_finished());
                if connections.len() >= MAX_CONNECTIONS {
                    if let Some(oldest) = connections.pop_front() {
                        oldest.abort();
                    }
                }
                connections.push_back(connection);
            }
            Err(error) => {
                if last_accept_log.is_none_or(|at| at.elapsed() >= ACCEPT_LOG_PERIOD) {
                    eprintln!("sockeye metrics: cannot accept a connection: {error}");
                    last_accept_log = Some(Instant::now());
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    for connection in connections {
        connection.abort();
    }
}

/// Accepts one connection and starts serving it in a task of its own.
async fn accept(listener: &Listener, registry: &Shared) -> std::io::Result<AbortHandle> {
    let registry = Arc::clone(registry);
    Ok(match listener {
        Listener::Tcp(l) => {
            let (stream, _) = l.accept().await?;
            tokio::spawn(serve_connection(stream, registry)).abort_handle()
        }
        Listener::Unix(l) => {
            let (stream, _) = l.accept().await?;
            tokio::spawn(serve_connection(stream, registry)).abort_handle()
        }
    })
}

/// Serves the requests of one connection within its limits.
async fn serve_connection<S>(stream: S, registry: Shared)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let response = respond(&request, &registry);
        async move { Ok::<_, Infallible>(response) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_REQUEST_HEAD)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = tokio::time::sleep(CONNECTION_LIFETIME) => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
        }
    }
}

/// The answer to one request: the metrics for `GET /metrics`, 404 for any other path,
/// 405 for another method.
fn respond(request: &Request<Incoming>, registry: &Shared) -> Response<Full<Bytes>> {
    if request.uri().path() != "/metrics" {
        return plain(
            StatusCode::NOT_FOUND,
            "Not found: the metrics are at /metrics\n",
        );
    }
    if request.method() != Method::GET {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "Only GET is allowed on /metrics\n",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    let format = Format::from_accept(
        request
            .headers()
            .get(ACCEPT)
            .and_then(|value| value.to_str().ok()),
    );
    let body = registry
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .render(format);
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
