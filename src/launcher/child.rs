//! The helper's process: spawned and reaped by a supervisor thread of its own, with its
//! stderr teed to ours and its tail kept for error messages.
//!
//! Why a thread per child: the helper sets `PR_SET_PDEATHSIG`, which fires when the
//! *thread* that forked it ends. Spawning from a runtime thread that may exit later (tokio's
//! blocking pool retires idle threads after 10 s) would kill the helper for no reason; the
//! supervisor thread lives exactly as long as the child.

use super::error::{HelperExit, STDERR_TAIL_BYTES};
use rustix::process::{self, Pid, PidfdFlags, Signal, WaitId, WaitIdOptions};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
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
    /// True once the child has exited. Held while signalling by pid: the supervisor sets it
    /// (under the lock) before it reaps, so `kill` only ever reaches our own child, alive
    /// or a zombie, never a process that got its pid afterwards.
    ended: Arc<Mutex<bool>>,
    exit: watch::Receiver<Option<HelperExit>>,
}

impl Supervised {
    /// Spawns `command` (its stderr is replaced by a pipe) on a new supervisor thread.
    pub fn spawn(mut command: Command) -> io::Result<Supervised> {
        command.stderr(Stdio::piped());
        let (spawned_sender, spawned) = mpsc::channel::<io::Result<(u32, Option<OwnedFd>)>>();
        let (exit_sender, exit) = watch::channel(None);
        let ended = Arc::new(Mutex::new(false));
        let supervisor_ended = Arc::clone(&ended);
        std::thread::Builder::new()
            .name("sockeye-helper-supervisor".into())
            .spawn(move || supervise(command, spawned_sender, supervisor_ended, exit_sender))?;
        let (pid, pidfd) = spawned
            .recv()
            .map_err(|_| io::Error::other("the supervisor thread ended before spawning"))??;
        Ok(Supervised {
            pid,
            pidfd,
            ended,
            exit,
        })
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
    pub fn signal(&self, signal: Signal) {
        let ended = lock(&self.ended);
        if *ended {
            return;
        }
        // Refused or failed: nothing more to do (see above).
        let _ = match &self.pidfd {
            Some(pidfd) => process::pidfd_send_signal(pidfd, signal),
            // Our own child, not reaped while `ended` is locked and false, so the pid is
            // still its own.
            None => match pid_of(self.pid) {
                Some(pid) => process::kill_process(pid, signal),
                None => Ok(()),
            },
        };
    }
}

impl Drop for Supervised {
    /// A launch abandoned half-way (the caller dropped the future while pkexec waits for a
    /// password) must not leave pkexec behind: it still runs with our real uid, so this
    /// signal reaches it. The supervisor thread reaps it.
    fn drop(&mut self) {
        self.signal(Signal::TERM);
    }
}

/// Locks `mutex`, whose plain data stays valid even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn unknown_exit() -> HelperExit {
    HelperExit {
        code: None,
        signal: None,
        stderr_tail: String::new(),
    }
}

/// A process id as rustix takes it (`None` for 0 or one beyond `i32`).
fn pid_of(pid: u32) -> Option<Pid> {
    Pid::from_raw(i32::try_from(pid).ok()?)
}

fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    process::pidfd_open(pid_of(pid)?, PidfdFlags::empty()).ok()
}

/// The supervisor thread: spawn, report the pid, tee stderr, wait, report the exit.
fn supervise(
    mut command: Command,
    spawned: mpsc::Sender<io::Result<(u32, Option<OwnedFd>)>>,
    ended: Arc<Mutex<bool>>,
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
    wait_without_reaping(pid);
    *lock(&ended) = true;
    let status = child.wait();
    let _ = drained.recv_timeout(Duration::from_millis(STDERR_DRAIN_MS));
    let stderr_tail = {
        let tail = lock(&tail);
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

/// Blocks until our child `pid` has exited, leaving it a zombie so that its pid is not
/// reused before `Child::wait` reaps it. Returns at once on an error (then `wait` reports).
fn wait_without_reaping(pid: u32) {
    let Some(pid) = pid_of(pid) else { return };
    loop {
        match process::waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            _ => return,
        }
    }
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
        let mut tail = lock(tail);
        tail.extend(chunk);
        let excess = tail.len().saturating_sub(STDERR_TAIL_BYTES);
        tail.drain(..excess);
    }
}
