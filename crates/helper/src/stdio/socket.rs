//! The one connection the helper accepts: fd 0, which must be a connected Unix stream
//! socket (one end of the socketpair the GUI made), and nothing else.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

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

fn socket_option(fd: BorrowedFd<'_>, option: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len describe a c_int buffer, as getsockopt expects for these options.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}

/// Checks that `fd` is a connected Unix stream socket (`fstat` says socket, `SO_DOMAIN` is
/// `AF_UNIX`, `SO_TYPE` is `SOCK_STREAM`, and it is not listening: a listening socket would
/// let others connect).
pub fn check_unix_stream(fd: BorrowedFd<'_>) -> Result<(), SocketError> {
    // SAFETY: an all-zero stat is a valid buffer for fstat to fill.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on a borrowed fd into a stat buffer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut stat) } != 0 {
        return Err(SocketError::NotOpen(io::Error::last_os_error()));
    }
    if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(SocketError::NotASocket);
    }
    let domain = socket_option(fd, libc::SO_DOMAIN).map_err(|_| SocketError::NotASocket)?;
    let kind = socket_option(fd, libc::SO_TYPE).map_err(|_| SocketError::NotASocket)?;
    if domain != libc::AF_UNIX || kind != libc::SOCK_STREAM {
        return Err(SocketError::WrongSocketType);
    }
    if socket_option(fd, libc::SO_ACCEPTCONN).map_err(SocketError::Setup)? != 0 {
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
    // SAFETY: fd 0 stays open for the whole process; the borrow ends before it is moved.
    let stdin = unsafe { BorrowedFd::borrow_raw(0) };
    check_unix_stream(stdin)?;
    close_inherited_fds();
    let connection = dup_cloexec(stdin).map_err(SocketError::Setup)?;
    let hangup_watch = dup_cloexec(stdin).map_err(SocketError::Setup)?;
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

fn dup_cloexec(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new fd that we own, or -1.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a fresh fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Closes fds 3 and up (the launcher's CLOEXEC should have done so; pkexec does).
fn close_inherited_fds() {
    // SAFETY: close_range on fds nobody in this single-threaded process uses yet.
    // A failure (old kernel) leaves them open, which is no worse than before.
    unsafe {
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
    }
}

/// Points fds 0 and 1 at `/dev/null`, so that only our own dups hold the socket.
fn silence_stdin_and_stdout() -> io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for target in [0, 1] {
        // SAFETY: dup2 onto the standard fds, which we own.
        if unsafe { libc::dup2(null.as_raw_fd(), target) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
