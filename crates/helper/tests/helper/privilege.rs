//! Least privilege, read back from `/proc/<helper>/status` of every thread: the capability
//! sets, no_new_privs, and the sandbox's seccomp filter (mode 2, one filter).

use crate::common::connect;
use std::time::Duration;

/// CAP_DAC_READ_SEARCH (2), CAP_NET_RAW (13), CAP_SYS_PTRACE (19): the documented set.
const KEPT: u64 = (1 << 2) | (1 << 13) | (1 << 19);

fn field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("{name} in status"))
        .trim()
        .to_owned()
}

fn mask(status: &str, name: &str) -> u64 {
    u64::from_str_radix(&field(status, name), 16).unwrap()
}

fn assert_least_privilege(pid: u32) {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    let mut threads = 0;
    for task in tasks {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        assert_eq!(mask(&status, "CapEff"), KEPT, "CapEff\n{status}");
        assert_eq!(mask(&status, "CapPrm"), KEPT, "CapPrm");
        assert_eq!(mask(&status, "CapBnd"), KEPT, "CapBnd");
        assert_eq!(mask(&status, "CapInh"), 0, "CapInh");
        assert_eq!(mask(&status, "CapAmb"), 0, "CapAmb");
        assert_eq!(field(&status, "NoNewPrivs"), "1");
        assert_eq!(field(&status, "Seccomp"), "2", "filter mode");
        assert_eq!(field(&status, "Seccomp_filters"), "1");
        threads += 1;
    }
    assert!(threads >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_keeps_only_the_documented_capabilities_in_every_thread() {
    let session = connect().await;
    assert_least_privilege(session.helper.pid());
    // Threads started later (the engine's capture thread, tokio's blocking pool) inherit
    // the reduced sets.
    if session.proxy.start(100).await.is_ok() {
        let mut updates = session.proxy.receive_updated().await.unwrap();
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            futures_lite::StreamExt::next(&mut updates),
        )
        .await;
        assert_least_privilege(session.helper.pid());
        session.proxy.stop().await.unwrap();
    }
    assert_least_privilege(session.helper.pid());
}

#[test]
fn terminal_modes_keep_only_the_documented_capabilities_too() {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(crate::common::HELPER)
        .args(["--json", "--interval", "100"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with('{'), "a JSON line: {line}");
    assert_least_privilege(child.id());
    let _ = child.kill();
    let _ = child.wait();
}

/// A file descriptor the starter leaked (not close-on-exec, at fd 7) is closed before the
/// helper serves: a root helper must hold nothing but its socket, pipes and own files.
#[tokio::test]
async fn a_descriptor_leaked_by_whoever_started_the_helper_is_closed_before_serving() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let leaked = tempfile::NamedTempFile::new().unwrap();
    let leaked_fd = leaked.as_file().as_raw_fd();
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let theirs = std::os::fd::OwnedFd::from(theirs);
    let mut command = std::process::Command::new(crate::common::HELPER);
    command
        .arg("--stdio")
        .stdin(theirs.try_clone().unwrap())
        .stdout(theirs);
    // SAFETY: the closure runs in the forked child before exec and only calls dup2, which
    // is async-signal-safe and allocates nothing; `leaked_fd` stays open in the parent (and
    // so in the child) until `spawn` returns. The new fd 7 is not close-on-exec, as a
    // careless starter's would be. (libc, not rustix: rustix's dup2 wants an `OwnedFd` for
    // fd 7, which the child does not have.)
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(leaked_fd, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let helper = crate::common::Helper {
        child: command.spawn().unwrap(),
    };
    // Connected means fd 0 was taken over, which closes the inherited fds first.
    let (_connection, proxy) = crate::common::client(ours).await;
    assert!(!proxy.version().await.unwrap().is_empty());
    let fds = std::fs::read_dir(format!("/proc/{}/fd", helper.pid())).unwrap();
    for fd in fds {
        let fd = fd.unwrap();
        let target = std::fs::read_link(fd.path()).unwrap_or_default();
        assert_ne!(
            target,
            leaked.path(),
            "fd {:?} of the helper is the leaked file",
            fd.file_name()
        );
    }
}
