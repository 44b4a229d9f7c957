//! The helper's process: spawned and reaped by a supervisor thread of its own, with its
//! stderr teed to ours and its tail kept for error messages.
//!
//! Why a thread per child: the helper sets `PR_SET_PDEATHSIG`, which fires when the
//! *thread* that forked it ends. Spawning from a runtime thread that may exit later (tokio's
//! blocking pool retires idle threads after 10 s) would kill the helper for no reason; the
//! supervisor thread lives exactly as long as the child.

use super::error::{HelperExit, STDERR_TAIL_BYTES};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How long the supervisor waits for the stderr reader after the child exited (a
/// grandchild may still hold the pipe), in milliseconds.
const STDERR_DRAIN_MS: u64 = 500;

/// A spawned helper process (or pkexec / flatpak-spawn in front of it).
pub struct Supervised {
    pid: u32,
    /// A pidfd, so signalling can never hit a recycled pid; `None` on kernels before 5.3.
    pidfd: Option<OwnedFd>,
    exit: watch::Receiver<Option<HelperExit>>,
}

impl Supervised {
    /// Spawns `command` (its stderr is replaced by a pipe) on a new supervisor thread.
    pub fn spawn(mut command: Command) -> io::Result<Supervised> {
        command.stderr(Stdio::piped());
        let (spawned_sender, spawned) = mpsc::channel::<io::Result<(u32, Option<OwnedFd>)>>();
        let (exit_sender, exit) = watch::channel(None);
        std::thread::Builder::new()
            .name("sockeye-helper-supervisor".into())
            .spawn(move || supervise(command, spawned_sender, exit_sender))?;
        let (pid, pidfd) = spawned
            .recv()
            .map_err(|_| io::Error::other("the supervisor thread ended before spawning"))??;
        Ok(Supervised { pid, pidfd, exit })
    }

    /// Process id of the process we started.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// How it ended, if it has.
    pub fn exit_status(&self) -> Option<HelperExit> {
        self.exit.borrow().clone()
    }

    /// Resolves with how the process ended (at once when it already has).
    pub fn exited(&self) -> impl std::future::Future<Output = HelperExit> + Send + 'static {
        let mut exit = self.exit.clone();
        async move {
            // The supervisor always sends before it ends; an error cannot lose the value.
            let _ = exit.wait_for(Option::is_some).await;
            let status = exit.borrow().clone();
            status.unwrap_or_else(unknown_exit)
        }
    }

    /// Sends `signal`; a process running as another user (pkexec made it root) refuses,
    /// which is fine: it exits on its own when its socket closes.
    pub fn signal(&self, signal: libc::c_int) {
        if self.exit.borrow().is_some() {
            return;
        }
        match &self.pidfd {
            // SAFETY: pidfd_send_signal on a pidfd we own, no siginfo.
            Some(pidfd) => unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    pidfd.as_raw_fd(),
                    signal,
                    std::ptr::null::<libc::siginfo_t>(),
                    0u32,
                );
            },
            // SAFETY: kill on our own, not yet reaped child (the exit check above).
            None => unsafe {
                libc::kill(self.pid as libc::pid_t, signal);
            },
        }
    }
}

impl Drop for Supervised {
    /// A launch abandoned half-way (the caller dropped the future while pkexec waits for a
    /// password) must not leave pkexec behind: it still runs with our real uid, so this
    /// signal reaches it. The supervisor thread reaps it.
    fn drop(&mut self) {
        self.signal(libc::SIGTERM);
    }
}

fn unknown_exit() -> HelperExit {
    HelperExit {
        code: None,
        signal: None,
        stderr_tail: String::new(),
    }
}

fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0u32) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a fresh fd that nobody else owns.
    Some(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// The supervisor thread: spawn, report the pid, tee stderr, wait, report the exit.
fn supervise(
    mut command: Command,
    spawned: mpsc::Sender<io::Result<(u32, Option<OwnedFd>)>>,
    exit: watch::Sender<Option<HelperExit>>,
) {
    let mut child: Child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            let _ = spawned.send(Err(error));
            return;
        }
    };
    // Close our copies of the fds given to the child (its end of the socketpair).
    drop(command);
    let pid = child.id();
    let _ = spawned.send(Ok((pid, pidfd_open(pid))));

    let tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL_BYTES)));
    let (drained_sender, drained) = mpsc::channel::<()>();
    if let Some(stderr) = child.stderr.take() {
        let tail = Arc::clone(&tail);
        let spawned = std::thread::Builder::new()
            .name("sockeye-helper-stderr".into())
            .spawn(move || {
                tee_stderr(stderr, &tail);
                let _ = drained_sender.send(());
            });
        if spawned.is_err() {
            // Without a reader the pipe fills up; the helper writes little, so only warn.
            eprintln!("sockeye: cannot read the helper's error output");
        }
    }
    let status = child.wait();
    let _ = drained.recv_timeout(Duration::from_millis(STDERR_DRAIN_MS));
    let stderr_tail = {
        let tail = tail.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let bytes: Vec<u8> = tail.iter().copied().collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let helper_exit = match status {
        Ok(status) => exit_of(status, stderr_tail),
        Err(error) => HelperExit {
            code: None,
            signal: None,
            stderr_tail: format!("{stderr_tail}cannot wait for the helper: {error}"),
        },
    };
    let _ = exit.send(Some(helper_exit));
}

fn exit_of(status: ExitStatus, stderr_tail: String) -> HelperExit {
    HelperExit {
        code: status.code(),
        signal: status.signal(),
        stderr_tail,
    }
}

/// Copies the child's stderr to ours and keeps its last [`STDERR_TAIL_BYTES`] bytes.
fn tee_stderr(mut stderr: impl Read, tail: &Mutex<VecDeque<u8>>) {
    let mut buffer = [0u8; 1024];
    loop {
        let read = match stderr.read(&mut buffer) {
            Ok(0) => return,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let chunk = &buffer[..read];
        let _ = io::stderr().write_all(chunk);
        let mut tail = tail.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        tail.extend(chunk);
        let excess = tail.len().saturating_sub(STDERR_TAIL_BYTES);
        tail.drain(..excess);
    }
}
