//! The acceptance test's hook (only with the `sandbox-probe` feature, which release and
//! meson builds never enable): with `SOCKEYE_SANDBOX_PROBE=1`, right after the sandbox
//! goes on, try from inside the helper what it must deny and what it must still do, and
//! print one line: `sockeye-helper: sandbox probe: {JSON}`.
//!
//! Each attempt is reported as the errno it failed with, 0 when it succeeded. They are
//! chosen to be harmless if the sandbox were missing and to fail differently without it:
//! the created file and directory are removed again; `/etc/passwd` is opened for appending
//! and `/dev/null` and `/proc/sys/kernel/hostname` for writing, none written; the
//! process_vm calls name address 0 of the other process (`EFAULT` if allowed); the signal
//! is signal 0; `PTRACE_SEIZE` does not stop its tracee (and is made on pid 1 and on the
//! test's own process named by `SOCKEYE_SANDBOX_PROBE_TARGET`, since some machines let no
//! one trace pid 1); `mount` targets a path that does not exist (`ENOENT` if allowed);
//! `bpf`, `keyctl` and `perf_event_open` get invalid arguments (`EINVAL`, `EOPNOTSUPP`,
//! `EFAULT`), `setns` a bad descriptor (`EBADF`), `TIOCSTI` a pipe (`ENOTTY`); the Unix
//! socket goes to the system bus (accepted, or refused without one). So an `EPERM`,
//! `EROFS` or `EACCES` comes from the sandbox, not from the missing capabilities.
//!
//! It runs on a thread started after the sandbox went on: what it shows holds for the
//! threads the helper starts later (the runtime's, the capture thread).

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io;

use super::Sandbox;

/// The environment variable that asks for the probe.
const ASK: &str = "SOCKEYE_SANDBOX_PROBE";
/// The environment variable naming a process of the test's to reach into besides pid 1.
const TARGET: &str = "SOCKEYE_SANDBOX_PROBE_TARGET";

/// 0 for success, else the errno of `result`.
fn code<T>(result: io::Result<T>) -> i32 {
    match result {
        Ok(_) => 0,
        Err(error) => error.raw_os_error().unwrap_or(-1),
    }
}

/// 0 when a raw system call returned `ret` ≥ 0, else errno.
fn raw(ret: libc::c_long) -> i32 {
    if ret < 0 {
        io::Error::last_os_error().raw_os_error().unwrap_or(-1)
    } else {
        0
    }
}

/// A descriptor a raw call returned, closed at once.
fn close_if_opened(ret: libc::c_long) -> i32 {
    if let Ok(fd) = i32::try_from(ret) {
        if fd >= 0 {
            // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
            unsafe { libc::close(fd) };
        }
    }
    raw(ret)
}

/// Reaching into process `pid` (named `who` in the report): seize it as its tracer, read
/// and write its memory, get a pidfd, send it signal 0.
fn process_attempts(results: &mut BTreeMap<String, i32>, who: &str, pid: libc::pid_t) {
    // SAFETY: integer arguments only; PTRACE_SEIZE takes no memory of ours.
    let seized = unsafe { libc::syscall(libc::SYS_ptrace, libc::PTRACE_SEIZE, pid, 0, 0) };
    results.insert(format!("ptrace_seize_{who}"), raw(seized));
    let mut byte = [0u8; 1];
    let local = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: byte.len(),
    };
    let remote = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 1,
    };
    // SAFETY: `local` points at `byte`, alive for the call; the remote address is the
    // target's unmapped page 0, which the kernel checks.
    let read = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    results.insert(format!("process_vm_readv_{who}"), raw(read as libc::c_long));
    // SAFETY: as above; nothing can be written at address 0.
    let written = unsafe { libc::process_vm_writev(pid, &local, 1, &remote, 1, 0) };
    results.insert(
        format!("process_vm_writev_{who}"),
        raw(written as libc::c_long),
    );
    // SAFETY: integer arguments only.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    results.insert(format!("pidfd_open_{who}"), close_if_opened(pidfd));
    let signalled = rustix::process::Pid::from_raw(pid)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))
        .and_then(|target| Ok(rustix::process::test_kill_process(target)?));
    results.insert(format!("signal_{who}"), code(signalled));
}

/// The pid the test gives in [`TARGET`]: a process of its own that, unlike pid 1 on some
/// machines, root may trace, so that each attempt on it succeeds without the sandbox.
fn target() -> Option<libc::pid_t> {
    std::env::var(TARGET)
        .ok()?
        .parse()
        .ok()
        .filter(|&pid| pid > 1)
}

/// Attempts that the sandbox must refuse, by name.
fn denied_attempts(pid: u32) -> BTreeMap<String, i32> {
    let mut results = BTreeMap::new();
    let created = format!("/etc/sockeye-sandbox-probe-{pid}");
    results.insert(
        "etc_create_file".into(),
        code(
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&created)
                .inspect(|_| {
                    let _ = std::fs::remove_file(&created);
                }),
        ),
    );
    results.insert(
        "etc_open_for_writing".into(),
        code(std::fs::OpenOptions::new().append(true).open("/etc/passwd")),
    );
    let directory = format!("/etc/sockeye-sandbox-probe-{pid}.d");
    results.insert(
        "etc_mkdir".into(),
        code(std::fs::create_dir(&directory).inspect(|_| {
            let _ = std::fs::remove_dir(&directory);
        })),
    );
    process_attempts(&mut results, "pid1", 1);
    if let Some(target) = target() {
        process_attempts(&mut results, "target", target);
    }
    results.insert(
        "execve".into(),
        code(std::process::Command::new("/bin/true").status()),
    );
    results.insert("mount".into(), mount_nowhere());
    // SAFETY: integer arguments only.
    results.insert(
        "setns".into(),
        raw(unsafe { libc::syscall(libc::SYS_setns, -1, 0) }),
    );
    // SAFETY: integer arguments only (no flag: a no-op if it were allowed).
    results.insert(
        "unshare".into(),
        raw(unsafe { libc::syscall(libc::SYS_unshare, 0) }),
    );
    // SAFETY: an unknown command with no attribute block (size 0).
    let bpf = unsafe { libc::syscall(libc::SYS_bpf, 0xffff, std::ptr::null::<u8>(), 0) };
    results.insert("bpf".into(), raw(bpf));
    // SAFETY: a null attribute pointer, which the kernel checks.
    let perf = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            std::ptr::null::<u8>(),
            0,
            -1,
            -1,
            0,
        )
    };
    results.insert("perf_event_open".into(), close_if_opened(perf));
    // SAFETY: integer arguments only.
    let uffd = unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC) };
    results.insert("userfaultfd".into(), close_if_opened(uffd));
    // SAFETY: a bad descriptor and a null handle, which the kernel checks.
    let by_handle =
        unsafe { libc::syscall(libc::SYS_open_by_handle_at, -1, std::ptr::null::<u8>(), 0) };
    results.insert("open_by_handle_at".into(), close_if_opened(by_handle));
    // SAFETY: an unknown operation, integer arguments only.
    results.insert(
        "keyctl".into(),
        raw(unsafe { libc::syscall(libc::SYS_keyctl, 0xffff, 0, 0, 0, 0) }),
    );
    results.insert("tiocsti".into(), tiocsti_on_a_pipe());
    results.insert(
        "unix_socket_connect".into(),
        code(std::os::unix::net::UnixStream::connect(
            "/run/dbus/system_bus_socket",
        )),
    );
    results.insert(
        "dev_open_for_writing".into(),
        code(std::fs::OpenOptions::new().write(true).open("/dev/null")),
    );
    results.insert(
        "proc_sys_open_for_writing".into(),
        code(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/proc/sys/kernel/hostname"),
        ),
    );
    results
}

/// `mount("none", "/nonexistent…", "tmpfs")`: `ENOENT` if mounting were allowed at all.
fn mount_nowhere() -> i32 {
    let (Ok(source), Ok(target), Ok(kind)) = (
        CString::new("none"),
        CString::new("/nonexistent-sockeye-sandbox-probe"),
        CString::new("tmpfs"),
    ) else {
        return -1;
    };
    // SAFETY: three NUL-terminated strings alive for the call, no flags, no data.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount,
            source.as_ptr(),
            target.as_ptr(),
            kind.as_ptr(),
            0,
            std::ptr::null::<u8>(),
        )
    };
    raw(ret)
}

/// `TIOCSTI` on a pipe: `ENOTTY` if the ioctl were allowed.
fn tiocsti_on_a_pipe() -> i32 {
    let Ok((reader, _writer)) = rustix::pipe::pipe() else {
        return -1;
    };
    let byte = b'x';
    // SAFETY: `reader` is our open pipe; the argument points at `byte`, alive for the call.
    let ret = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&reader),
            libc::TIOCSTI,
            &byte,
        )
    };
    raw(libc::c_long::from(ret))
}

/// What the helper must still do after start-up, by name.
fn allowed_attempts() -> BTreeMap<&'static str, i32> {
    let mut results = BTreeMap::new();
    results.insert("etc_passwd_read", code(std::fs::read("/etc/passwd")));
    results.insert("proc_1_status_read", code(std::fs::read("/proc/1/status")));
    // Listing pid 1's descriptors needs ptrace-read access: CAP_SYS_PTRACE still works
    // for /proc while the ptrace system call is denied.
    results.insert(
        "proc_1_fd_list",
        code(std::fs::read_dir("/proc/1/fd").map(|entries| entries.count())),
    );
    // Who the socket behind a descriptor belongs to, of a process with more capabilities
    // (the one that started the helper): what CAP_SYS_PTRACE is kept for.
    let parent = rustix::process::getppid().map_or(1, |pid| pid.as_raw_nonzero().get());
    results.insert(
        "proc_parent_fd_readlink",
        code(std::fs::read_link(format!("/proc/{parent}/fd/0"))),
    );
    results.insert("udp_socket", code(std::net::UdpSocket::bind("127.0.0.1:0")));
    results
}

/// Runs the probe on a new thread and prints its line on stderr, when asked.
pub fn run_if_asked(sandbox: &Sandbox) {
    if std::env::var_os(ASK).is_none_or(|value| value != "1") {
        return;
    }
    let pid = std::process::id();
    let probed = std::thread::Builder::new()
        .name("sandbox-probe".into())
        .spawn(move || (denied_attempts(pid), allowed_attempts()))
        .map_err(|error| error.to_string())
        .and_then(|thread| thread.join().map_err(|_| "probe thread panicked".into()));
    let line = match probed {
        Ok((denied, allowed)) => serde_json::json!({
            "filesystem": sandbox.filesystem.label(),
            "syscalls": sandbox.syscalls.label(),
            "denied": denied,
            "allowed": allowed,
        }),
        Err(error) => serde_json::json!({ "error": error }),
    };
    eprintln!("sockeye-helper: sandbox probe: {line}");
}
