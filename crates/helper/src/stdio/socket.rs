//! The one connection the helper accepts: fd 0, which must be a connected Unix stream
//! socket (one end of the socketpair the GUI made), and nothing else.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::fs::FileType;
use rustix::net::{AddressFamily, SocketType};

/// Why fd 0 cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("standard input is not open: {0}")]
    NotOpen(#[source] io::Error),
    #[error("standard input is not a socket (start sockeye-helper --stdio from Sockeye)")]
    NotASocket,
    #[error("standard input is not a Unix stream socket")]
    WrongSocketType,
    #[error("standard input is a listening socket: the helper serves one connected peer only")]
    Listening,
    #[error("cannot set up the socket: {0}")]
    Setup(#[source] io::Error),
}

/// Checks that `fd` is a connected Unix stream socket (`fstat` says socket, `SO_DOMAIN` is
/// `AF_UNIX`, `SO_TYPE` is `SOCK_STREAM`, and it is not listening: a listening socket would
/// let others connect).
pub fn check_unix_stream(fd: BorrowedFd<'_>) -> Result<(), SocketError> {
    let stat = rustix::fs::fstat(fd).map_err(|errno| SocketError::NotOpen(errno.into()))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::Socket {
        return Err(SocketError::NotASocket);
    }
    let domain = rustix::net::sockopt::socket_domain(fd).map_err(|_| SocketError::NotASocket)?;
    let kind = rustix::net::sockopt::socket_type(fd).map_err(|_| SocketError::NotASocket)?;
    if domain != AddressFamily::UNIX || kind != SocketType::STREAM {
        return Err(SocketError::WrongSocketType);
    }
    if rustix::net::sockopt::socket_acceptconn(fd)
        .map_err(|errno| SocketError::Setup(errno.into()))?
    {
        return Err(SocketError::Listening);
    }
    Ok(())
}

/// The sockets the server uses: the connection (fd 0 moved to a new close-on-exec fd) and a
/// duplicate that only watches for the peer hanging up.
pub struct StdioSocket {
    pub connection: std::os::unix::net::UnixStream,
    pub hangup_watch: OwnedFd,
}

/// Checks fd 0, takes it over, points fd 1 at `/dev/null` (the launcher passes the same
/// socket as stdout: a stray print must never corrupt the D-Bus stream) and closes every fd
/// above 2 that was inherited by accident.
pub fn take_stdin() -> Result<StdioSocket, SocketError> {
    // Fd 0 stays open for the whole process: it is only ever replaced by /dev/null.
    let stdin = rustix::stdio::stdin();
    check_unix_stream(stdin)?;
    close_inherited_fds();
    let connection = dup_cloexec(stdin)?;
    let hangup_watch = dup_cloexec(stdin)?;
    silence_stdin_and_stdout().map_err(SocketError::Setup)?;
    let connection = std::os::unix::net::UnixStream::from(connection);
    connection
        .set_nonblocking(true)
        .map_err(SocketError::Setup)?;
    Ok(StdioSocket {
        connection,
        hangup_watch,
    })
}

/// A close-on-exec duplicate of `fd` numbered 3 or above, so that it never takes the place
/// of a standard fd.
fn dup_cloexec(fd: BorrowedFd<'_>) -> Result<OwnedFd, SocketError> {
    rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(|errno| SocketError::Setup(errno.into()))
}

/// Closes fds 3 and up (the launcher's CLOEXEC should have done so; pkexec does), so that
/// a root helper holds nothing its starter leaked: with `close_range`, or on kernels before
/// 5.9 (no `close_range`) each fd that `/proc/self/fd` lists.
fn close_inherited_fds() {
    // rustix has no close_range.
    // SAFETY: close_range(2) takes integer arguments only. Closing fds 3 and up cannot break
    // Rust's ownership in this process: it is still single-threaded, and nothing in it has
    // opened an fd of its own above 2 yet.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if rc == 0 {
        return;
    }
    let Ok(listing) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    // The listing's own fd is closed when the iterator is dropped, at the end of this
    // statement; closing its number again below fails harmlessly (nothing opens in between).
    let inherited: Vec<std::os::fd::RawFd> = listing
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    for fd in inherited {
        // SAFETY: as for close_range above, no owner of these fds exists in this process;
        // one already closed (the listing's own) only yields EBADF, which close ignores.
        unsafe { rustix::io::close(fd) };
    }
}

/// Points fds 0 and 1 at `/dev/null`, so that only our own dups hold the socket.
fn silence_stdin_and_stdout() -> io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    rustix::stdio::dup2_stdin(&null)?;
    rustix::stdio::dup2_stdout(&null)?;
    Ok(())
}
