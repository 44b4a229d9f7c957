//! Ctrl-C and SIGTERM as a message: both signals are blocked in every thread and a
//! dedicated thread waits for them with sigwait(2), so no handler runs in signal context.

use std::io;
use std::sync::mpsc::Sender;

/// Blocks SIGINT and SIGTERM for this thread and the threads it starts afterwards, then
/// starts a thread that calls `on_signal` with the signal number each time one arrives.
/// Call before starting any other thread.
pub fn forward_termination(on_signal: Sender<i32>) -> io::Result<()> {
    let set = termination_set()?;
    // SAFETY: `set` is an initialised sigset_t; the old mask is not requested.
    let result = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if result != 0 {
        return Err(io::Error::from_raw_os_error(result));
    }
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || loop {
            let mut signal: libc::c_int = 0;
            // SAFETY: `set` is initialised and `signal` is a valid place for the result.
            if unsafe { libc::sigwait(&set, &mut signal) } == 0 && on_signal.send(signal).is_err() {
                break;
            }
        })?;
    Ok(())
}

fn termination_set() -> io::Result<libc::sigset_t> {
    // SAFETY: sigemptyset/sigaddset initialise and fill a sigset_t we own.
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
