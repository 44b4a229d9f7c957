//! Never left behind: the helper dies with its parent, and notices at once when the other
//! end of its socket is closed, however the GUI went away (quit, crash, SIGKILL).

use std::io;
use std::os::fd::OwnedFd;

use rustix::event::{PollFd, PollFlags};
use rustix::process::Signal;

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
    let parent = rustix::process::getppid();
    // It fails only for an invalid signal number; SIGTERM is valid. The hangup watch of
    // `--stdio` still ends the helper if it ever did fail.
    let _ = rustix::process::set_parent_process_death_signal(Some(Signal::TERM));
    if rustix::process::getppid() != parent {
        // Nothing has been written or started yet: no buffer to flush, no thread to stop.
        std::process::exit(0);
    }
}

/// Blocks until the peer of the stream socket `socket` has closed its end (`POLLHUP` or
/// `POLLRDHUP`), without reading from it: the D-Bus connection owns the reading.
///
/// Runs on a plain thread; returns an error only when `poll` itself fails.
pub fn wait_for_hangup(socket: &OwnedFd) -> io::Result<()> {
    let hangup = PollFlags::HUP | PollFlags::RDHUP | PollFlags::ERR | PollFlags::NVAL;
    loop {
        let mut fds = [PollFd::new(socket, PollFlags::RDHUP)];
        // No timeout: wait for as long as the connection lasts.
        match rustix::event::poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
        if fds[0].revents().intersects(hangup) {
            return Ok(());
        }
    }
}
