//! Ctrl-C and SIGTERM as a message: both signals are blocked in every thread and a
//! dedicated thread waits for them with sigwait(2), so no handler runs in signal context.
//!
//! Through libc: rustix offers signal masks and sigwait only in its unstable `runtime`
//! feature, meant for implementing a libc, not for use beside one.

use std::io;
use std::sync::mpsc::Sender;

/// Blocks SIGINT and SIGTERM for this thread and the threads it starts afterwards, then
/// starts a thread that calls `on_signal` with the signal number each time one arrives.
/// Call before starting any other thread.
pub fn forward_termination(on_signal: Sender<i32>) -> io::Result<()> {
    let set = termination_set()?;
    // SAFETY: pthread_sigmask only reads `set`, an initialised sigset_t that outlives the
    // call; a null old-mask pointer is allowed (the old mask is not requested).
    let result = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if result != 0 {
        return Err(io::Error::from_raw_os_error(result));
    }
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || loop {
            let mut signal: libc::c_int = 0;
            // SAFETY: sigwait only reads `set` (initialised, moved into this thread) and
            // writes one c_int to `signal`, a live local.
            if unsafe { libc::sigwait(&set, &mut signal) } == 0 && on_signal.send(signal).is_err() {
                break;
            }
        })?;
    Ok(())
}

fn termination_set() -> io::Result<libc::sigset_t> {
    // SAFETY: an all-zero sigset_t is a valid value of this plain C struct; sigemptyset
    // and sigaddset write only into `set`, a local we own, and SIGINT and SIGTERM are
    // valid signal numbers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        if libc::sigemptyset(&mut set) != 0
            || libc::sigaddset(&mut set, libc::SIGINT) != 0
            || libc::sigaddset(&mut set, libc::SIGTERM) != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(set)
    }
}
