//! Defence in depth after the capability drop: the helper is still uid 0 with
//! `CAP_NET_RAW`, `CAP_SYS_PTRACE` and `CAP_DAC_READ_SEARCH` (see `privilege`), so code
//! running in it through a bug in the engine, libpcap or zbus could write root-owned files
//! or ptrace pid 1. The sandbox takes that away before the first request is served:
//!
//! ```text
//! main ─ die_with_parent ─ lock_down:
//!      │    ├─ preopen the connect log, the socket-byte counters and the UDP sender log
//!      │    │                       (perf_event_open, a detached tracefs mount)
//!      │    ├─ read_only_view       mounts::read_only_view: own mount namespace, every
//!      │    │                       mount read-only, nodev, nosuid (needs CAP_SYS_ADMIN)
//!      │    ├─ drop_to_capture_set  privilege: NET_RAW, SYS_PTRACE, DAC_READ_SEARCH
//!      │    └─ deny_system_calls    syscalls::deny, seccomp on every thread, → EPERM:
//!      │                            ptrace, process_vm_*, pidfd_*, execve, mount family,
//!      │                            setns/unshare, bpf, perf_event_open, modules, kexec,
//!      │                            keyctl, userfaultfd, io_uring, open_by_handle_at,
//!      │                            set*id, new Unix sockets, signals to other processes,
//!      │                            TIOCSTI
//!      └─ serve (D-Bus) │ capture (--json, --trace)
//! ```
//!
//! What is left, and why: the helper stays uid 0 (a dedicated uid would need an account
//! made at install time, and with `CAP_DAC_READ_SEARCH` it would read the same files); it
//! still reads every `/proc` file and any file on the system (attribution reads
//! `/proc/PID/{fd,net,ns,cmdline,status,cgroup,root/.flatpak-info}`, `/etc/passwd`,
//! `/run/netns`), and what it reads can reach its client as the D-Bus interface allows;
//! it still holds `CAP_SYS_PTRACE`, which `readlink(/proc/PID/fd/N)` of other users' and
//! root daemons' processes needs (the ptrace and process_vm calls themselves are denied);
//! it can still open `AF_PACKET`, netlink and IP sockets (capture opens a handle when an
//! interface appears) and so send raw packets; mounts the host makes later appear
//! writable in its namespace.
//!
//! Best effort across kernels and builds: without `CAP_SYS_ADMIN` (an unprivileged
//! development run), without `mount_setattr` (Linux before 5.12), in a chroot whose root is
//! no mount point, or without a seccomp filter for the architecture, the helper says so on
//! stderr and serves without that half.

mod mounts;
#[cfg(feature = "sandbox-probe")]
mod probe;
mod syscalls;

use std::io;

/// Why the helper refuses to serve: a sandbox the kernel supports could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot tell how many threads run: {0}")]
    Threads(#[source] io::Error),
    #[error("the sandbox must go on while one thread runs, but {0} run")]
    NotAlone(usize),
    #[error(transparent)]
    Mounts(#[from] mounts::MountError),
    #[error(transparent)]
    Seccomp(#[from] syscalls::FilterError),
}

/// What the sandbox enforces; each half may be unavailable on this kernel or build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    pub filesystem: mounts::Outcome,
    pub syscalls: syscalls::Outcome,
}

/// Fails unless the process has exactly one thread (entries of `/proc/self/task`): both
/// halves apply to the calling thread's context and what it starts later.
fn ensure_single_thread() -> Result<(), SandboxError> {
    let threads = std::fs::read_dir("/proc/self/task")
        .map_err(SandboxError::Threads)?
        .count();
    if threads != 1 {
        return Err(SandboxError::NotAlone(threads));
    }
    Ok(())
}

/// First half, before the capability drop (it needs `CAP_SYS_ADMIN`): the read-only
/// mount namespace. Says on stderr when it is unavailable.
pub fn read_only_view() -> Result<mounts::Outcome, SandboxError> {
    ensure_single_thread()?;
    let view = mounts::read_only_view()?;
    if let mounts::Outcome::Unavailable { why } = &view {
        eprintln!("sockeye-helper: no read-only filesystem view: {why}; going on without it");
    }
    Ok(view)
}

/// Second half, after the capability drop and before any thread starts: the seccomp
/// filter. Says on stderr when it is unavailable.
///
/// In a build with the `sandbox-probe` feature and `SOCKEYE_SANDBOX_PROBE=1` in the
/// environment, it then tries what the sandbox must deny and prints the outcome (the
/// acceptance test's hook; never in a release build).
pub fn deny_system_calls(view: mounts::Outcome) -> Result<Sandbox, SandboxError> {
    ensure_single_thread()?;
    let sandbox = Sandbox {
        filesystem: view,
        syscalls: syscalls::deny()?,
    };
    if let syscalls::Outcome::Unavailable { why } = &sandbox.syscalls {
        eprintln!("sockeye-helper: no system call filter: {why}; going on without it");
    }
    #[cfg(feature = "sandbox-probe")]
    probe::run_if_asked(&sandbox);
    Ok(sandbox)
}
