//! Never left behind: the helper dies with its parent, and notices at once when the other
//! end of its socket is closed, however the GUI went away (quit, crash, SIGKILL).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// Asks the kernel to send SIGTERM when the parent dies, and exits at once when it already
/// has (the parent may die between our `fork` and this call: then we were re-parented).
///
/// Under pkexec the parent is the GUI itself (pkexec execs the helper in place).
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
