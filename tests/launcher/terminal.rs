//! `sockeye --json` / `--trace`: the helper's terminal modes through the launcher, output
//! streamed through, signals passed on, its exit status ours.

use crate::common::{self, helper_binary};
use rustix::process::{Pid, Signal};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const SOCKEYE: &str = env!("CARGO_BIN_EXE_sockeye");

#[test]
fn help_lists_the_terminal_modes_without_starting_gtk() {
    let output = Command::new(SOCKEYE)
        .arg("--help")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("--json") && text.contains("--trace"),
        "{text}"
    );
}

#[test]
fn json_runs_the_helper_mode_with_our_stdout_and_exits_with_its_status() {
    let helper = helper_binary();
    let direct = Command::new(&helper)
        .args(["--json", "--duration", "1"])
        .output()
        .unwrap();
    let through_sockeye = Command::new(SOCKEYE)
        .args(["--json", "--duration", "1"])
        .env("SOCKEYE_HELPER", &helper)
        .env_remove("DISPLAY")
        .output()
        .unwrap();
    assert_eq!(through_sockeye.status.code(), direct.status.code());
    assert_eq!(
        through_sockeye.stdout.is_empty(),
        direct.stdout.is_empty(),
        "output streams through: {}",
        String::from_utf8_lossy(&through_sockeye.stdout)
    );
}

/// A stand-in helper that says "ready", then exits with 42 on SIGINT and 43 on SIGTERM.
fn signal_reporting_helper(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("sockeye-helper");
    common::script(
        &path,
        "trap 'exit 42' INT\ntrap 'exit 43' TERM\necho ready\nwhile :; do sleep 0.05; done",
    );
    path
}

fn signal_is_passed_on(signal: Signal, expected_code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let mut sockeye = Command::new(SOCKEYE)
        .arg("--json")
        .env("SOCKEYE_HELPER", signal_reporting_helper(dir.path()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(sockeye.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n", "the helper's stdout is ours");
    let pid = Pid::from_raw(sockeye.id() as i32).expect("a child pid");
    rustix::process::kill_process(pid, signal).expect("signal our child");
    let mut status = None;
    assert!(common::poll_until(Duration::from_secs(5), || {
        status = sockeye.try_wait().unwrap();
        status.is_some()
    }));
    assert_eq!(status.and_then(|s| s.code()), Some(expected_code));
}

#[test]
fn a_sigint_sent_to_sockeye_reaches_the_helper_and_its_status_is_ours() {
    signal_is_passed_on(Signal::INT, 42);
}

#[test]
fn a_sigterm_sent_to_sockeye_reaches_the_helper() {
    signal_is_passed_on(Signal::TERM, 43);
}
