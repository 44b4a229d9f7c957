//! The helper never outlives its client: socket hang-up, SIGTERM/SIGINT, parent death.

use crate::common::{self, connect, spawn_helper};
use rustix::process::{Pid, Signal, WaitOptions};
use std::io::{BufRead, BufReader};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::process::{Command, Stdio};
use std::time::Duration;

const ONE_SECOND: Duration = Duration::from_secs(1);

#[test]
fn helper_exits_within_one_second_after_its_client_is_sigkilled() {
    let (client_end, helper_end) = UnixStream::pair().unwrap();
    let mut helper = spawn_helper(helper_end.into());
    // The client is another process holding the only other end of the pair.
    let mut client = Command::new("sleep")
        .arg("60")
        .stdin(std::os::fd::OwnedFd::from(client_end))
        .spawn()
        .unwrap();
    assert!(common::is_running(helper.pid()));
    client.kill().unwrap();
    client.wait().unwrap();
    let (status, took) = helper
        .wait_exit(ONE_SECOND)
        .expect("helper gone within 1 s of the client's SIGKILL");
    assert!(status.success(), "{status:?}");
    eprintln!("helper exit after client SIGKILL: {took:?}");
}

#[tokio::test]
async fn helper_exits_within_one_second_after_the_client_closes_the_connection() {
    let mut session = connect().await;
    let _ = session.proxy.start(200).await;
    drop(session.proxy);
    drop(session.connection);
    let (status, took) = session
        .helper
        .wait_exit(ONE_SECOND)
        .expect("helper gone within 1 s of the connection closing");
    assert!(status.success(), "{status:?}");
    eprintln!("helper exit after connection close: {took:?}");
}

fn exits_cleanly_on(signal: Signal) -> Duration {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut session = runtime.block_on(async {
        let session = connect().await;
        // Capture running (or failing on a stub engine): the exit must be clean either way.
        let _ = session.proxy.start(200).await;
        session
    });
    let pid = Pid::from_raw(session.helper.pid() as i32).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
    let (status, took) = session
        .helper
        .wait_exit(ONE_SECOND)
        .expect("helper gone within 1 s of the signal");
    assert_eq!(status.code(), Some(0), "clean exit, not killed: {status:?}");
    drop(session);
    took
}

#[test]
fn sigterm_stops_the_capture_and_exits_with_status_zero() {
    let took = exits_cleanly_on(Signal::TERM);
    eprintln!("helper exit after SIGTERM: {took:?}");
}

#[test]
fn sigint_exits_with_status_zero() {
    exits_cleanly_on(Signal::INT);
}

/// The parent (a shell that started the helper) is SIGKILLed while the client still holds
/// the socket: PR_SET_PDEATHSIG must end the helper anyway.
#[test]
fn helper_dies_with_its_parent() {
    // Orphans are re-parented to us, so we can reap the helper and see how it ended.
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).unwrap();
    let (_client_end, helper_end) = UnixStream::pair().unwrap();
    let mut shell = Command::new("bash")
        .arg("-c")
        // An explicit redirection: bash gives background jobs /dev/null as stdin otherwise.
        .arg(r#"exec 3<&0; "$0" --stdio <&3 >&3 3<&- & echo $!; wait"#)
        .arg(common::HELPER)
        .stdin(std::os::fd::OwnedFd::from(helper_end))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(shell.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let helper_pid: u32 = line.trim().parse().unwrap();
    assert!(common::poll_until(ONE_SECOND, || common::handles_sigterm(
        helper_pid
    )));
    shell.kill().unwrap();
    shell.wait().unwrap();

    let started = std::time::Instant::now();
    let helper = Pid::from_raw(helper_pid as i32).unwrap();
    let mut status = None;
    let reaped = common::poll_until(ONE_SECOND, || {
        status = rustix::process::waitpid(Some(helper), WaitOptions::NOHANG)
            .unwrap()
            .map(|(_, status)| status);
        status.is_some()
    });
    assert!(reaped, "helper gone within 1 s of its parent's death");
    let status = status.unwrap();
    assert_eq!(
        status.exit_status(),
        Some(0),
        "clean exit, wait status {status:?}"
    );
    eprintln!("helper exit after parent death: {:?}", started.elapsed());
}

fn stdio_refused_with(stdin: Stdio) -> String {
    let output = Command::new(common::HELPER)
        .arg("--stdio")
        .stdin(stdin)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn stdio_refuses_a_stdin_that_is_not_a_socket() {
    assert!(stdio_refused_with(Stdio::null()).contains("not a socket"));
    assert!(stdio_refused_with(Stdio::piped()).contains("not a socket"));
}

#[test]
fn stdio_refuses_a_datagram_socket() {
    let (_ours, theirs) = UnixDatagram::pair().unwrap();
    let message = stdio_refused_with(std::os::fd::OwnedFd::from(theirs).into());
    assert!(message.contains("not a Unix stream socket"), "{message}");
}

#[test]
fn stdio_refuses_a_listening_socket() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::os::unix::net::UnixListener::bind(dir.path().join("l.sock")).unwrap();
    let message = stdio_refused_with(std::os::fd::OwnedFd::from(listener).into());
    assert!(message.contains("listening socket"), "{message}");
}

#[test]
fn sighup_exits_with_status_zero() {
    exits_cleanly_on(Signal::HUP);
}
