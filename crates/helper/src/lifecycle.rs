//! Never left behind: the helper dies with its parent, and notices at once when the other
//! end of its socket is closed, however the GUI went away (quit, crash, SIGKILL).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// Asks the kernel to send SIGTERM when the parent dies, and exits when the parent died
/// while the request was being made (the parent pid changed between the two reads).
///
/// A parent that died earlier, between our `fork` and the first read, cannot be told
/// apart from a live one: the pid read is already the reaper's (often a session's
/// subreaper, not 1). `--stdio` covers that window anyway: the dead parent's end of the
/// socket is closed, so [`wait_for_hangup`] returns at once.
///
/// Under pkexec the parent is the GUI itself (pkexec execs the helper in place); the
/// capability drop that follows keeps the signal armed (it shrinks the permitted set,
/// which the kernel does not treat as a credential gain).
pub fn die_with_parent() {
    // SAFETY: getppid and prctl with integer arguments only.
    unsafe {
        let parent = libc::getppid();
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGTERM as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        );
        if libc::getppid() != parent {
            libc::_exit(0);
        }
    }
}

/// Blocks until the peer of the stream socket `socket` has closed its end (`POLLHUP` or
/// `POLLRDHUP`), without reading from it: the D-Bus connection owns the reading.
///
/// Runs on a plain thread; returns an error only when `poll` itself fails.
pub fn wait_for_hangup(socket: &OwnedFd) -> io::Result<()> {
    loop {
        let mut pollfd = libc::pollfd {
            fd: socket.as_raw_fd(),
            events: libc::POLLRDHUP,
            revents: 0,
        };
        // SAFETY: one valid pollfd; -1 waits without a timeout.
        let rc = unsafe { libc::poll(&mut pollfd, 1, -1) };
        if rc < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        if pollfd.revents & (libc::POLLHUP | libc::POLLRDHUP | libc::POLLERR | libc::POLLNVAL) != 0
        {
            return Ok(());
        }
    }
}
