//! An eventfd that wakes the capture thread's poll(2) when a control message arrives, so
//! `stop()` and queries are answered at once instead of at the next poll timeout.

use rustix::event::{eventfd, EventfdFlags};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

#[derive(Debug)]
pub struct Waker {
    fd: OwnedFd,
}

impl Waker {
    pub fn new() -> io::Result<Self> {
        let fd = eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC)?;
        Ok(Self { fd })
    }

    /// Makes the descriptor readable until [`Waker::drain`].
    pub fn wake(&self) {
        // A full counter (EAGAIN) still leaves it readable, which is all we need, so the
        // result is ignored.
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    /// Resets the descriptor to not readable.
    pub fn drain(&self) {
        // Non-blocking: EAGAIN when already empty.
        let mut value = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut value);
    }
}

impl AsFd for Waker {
    /// The descriptor poll(2) reports readable once woken.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
