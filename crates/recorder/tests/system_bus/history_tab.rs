//! The History tab against the real recorder: the recorder as its unit runs it on the
//! private system bus with polkitd, a known process (this test's traffic script, run as
//! root, the user the app runs as here) sends loopback traffic that tcpdump counts, and the
//! app, under Xvfb with that bus as its system bus, lists the process's executable with the
//! bytes tcpdump saw. Then the recorder stops and the tab goes back to "Turn On History…".
//!
//! The app is `$SOCKEYE_E2E_BIN` (what `build-aux/dev test` installs), else the workspace's
//! `target/debug/sockeye`; without either, or without Xvfb, the test is skipped with a
//! message, except under CI.

use crate::fixture::{self, Bus, Recorder, TestUser, Traffic};
use crate::{within, FROM};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The traffic's loopback port (the other tests use 41_001–41_004).
const PORT: u16 = 41_031;
/// Payload the traffic script sends to itself, in bytes.
const PAYLOAD: u64 = 2_500_000;

/// A child stopped (SIGTERM, then SIGKILL) and reaped when the test ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(pid) = i32::try_from(self.0.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let stopped = fixture::poll(Duration::from_secs(2), || {
            self.0.try_wait().ok().flatten().map(|_| ())
        });
        if stopped.is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn app_binary() -> Option<PathBuf> {
    std::env::var_os("SOCKEYE_E2E_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/sockeye");
            built.exists().then_some(built)
        })
}

fn app_id() -> String {
    std::env::var("SOCKEYE_E2E_APP_ID").unwrap_or_else(|_| "io.github.sockeye.Sockeye".into())
}

/// An amount as the app prints it in the C locale ("3.2 MB", "812 kB", "17 B"), in bytes.
fn parse_amount(text: &str) -> Option<f64> {
    let (value, unit) = text.trim().split_once(' ')?;
    let scale = match unit {
        "B" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        _ => return None,
    };
    Some(value.replace(',', "").parse::<f64>().ok()? * scale)
}

/// The amount after `arrow` ("↓" or "↑") in a row's subtitle.
fn amount_after(subtitle: &str, arrow: &str) -> Option<f64> {
    let rest = subtitle.split(arrow).nth(1)?;
    let mut words = rest.split_whitespace();
    let value = words.next()?;
    let unit = words.next()?;
    parse_amount(&format!("{value} {unit}"))
}

/// Xvfb on a free display and a session bus, for the app.
struct Desktop {
    display: String,
    session: String,
    _session_bus: Reaped,
    _xvfb: Reaped,
}

impl Desktop {
    fn start() -> Desktop {
        let first = 600 + std::process::id() % 300;
        let number = (first..first + 100)
            .find(|n| !Path::new(&format!("/tmp/.X{n}-lock")).exists())
            .unwrap();
        let display = format!(":{number}");
        let xvfb = Reaped(
            Command::new("Xvfb")
                .args([&display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let socket = format!("/tmp/.X11-unix/X{number}");
        assert!(
            fixture::poll(Duration::from_secs(10), || Path::new(&socket)
                .exists()
                .then_some(()))
            .is_some(),
            "Xvfb never listened"
        );
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(bus.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        Desktop {
            display,
            session: line.trim().to_owned(),
            _session_bus: Reaped(bus),
            _xvfb: xvfb,
        }
    }

    fn app(&self, binary: &Path, system_bus: &str, dump: &Path) -> Reaped {
        Reaped(
            Command::new(binary)
                .args(["--page", "history"])
                .env("DISPLAY", &self.display)
                .env("DBUS_SESSION_BUS_ADDRESS", &self.session)
                .env("DBUS_SYSTEM_BUS_ADDRESS", system_bus)
                .env("GSETTINGS_BACKEND", "memory")
                .env("LC_ALL", "C.UTF-8")
                .env("LANGUAGE", "C")
                .env("SOCKEYE_TEST_HISTORY_DUMP", dump)
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }

    fn screenshot(&self, name: &str) {
        let dir = std::env::var_os("SOCKEYE_SCREENSHOT_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"));
        let _ = std::fs::create_dir_all(&dir);
        let status = Command::new("import")
            .env("DISPLAY", &self.display)
            .args(["-window", "root"])
            .arg(dir.join(name))
            .status();
        assert!(status.is_ok_and(|s| s.success()), "screenshot {name}");
    }

    /// Quits the app through its `quit` action and waits for it to exit.
    fn quit(&self, app: &mut Reaped) {
        let path = format!("/{}", app_id().replace('.', "/"));
        let _ = Command::new("gdbus")
            .env("DBUS_SESSION_BUS_ADDRESS", &self.session)
            .args(["call", "--session", "-d", &app_id(), "-o", &path, "-m"])
            .args(["org.gtk.Actions.Activate", "quit", "[]", "{}"])
            .output();
        let _ = fixture::poll(Duration::from_secs(10), || {
            app.0.try_wait().ok().flatten().map(|_| ())
        });
    }
}

#[test]
fn history_tab_lists_a_known_process_with_the_bytes_the_real_recorder_stored() {
    let xvfb = Command::new("Xvfb").arg("-help").output().is_ok();
    let binary = app_binary();
    let runnable = xvfb && binary.is_some() && rustix::process::geteuid().is_root();
    assert!(
        runnable || std::env::var_os("CI").is_none(),
        "CI must run this as root with Xvfb and SOCKEYE_E2E_BIN"
    );
    let Some(binary) = binary.filter(|_| runnable) else {
        eprintln!("skipped: needs root, Xvfb and the app (SOCKEYE_E2E_BIN or target/debug)");
        return;
    };
    let bus = Bus::start();
    let recorder = Recorder::start(&bus, None);
    let root = TestUser {
        name: "root".into(),
        uid: 0,
        gid: 0,
    };
    let traffic = Traffic::run(&root, PORT, PAYLOAD);
    let seen = traffic.tcpdump_bytes();
    eprintln!("tcpdump: {seen} B");
    assert!(seen > PAYLOAD);
    // The recorder has stored it (its own view, over D-Bus) before the app is asked.
    let stored = fixture::poll(Duration::from_secs(20), || {
        let rows = bus.usage_as(&root, FROM, crate::to(), 86_400);
        let sent: u64 = rows
            .iter()
            .filter(|r| r.uid == 0 && r.app.starts_with("/usr/bin/python3"))
            .map(|r| r.sent_bytes)
            .sum();
        within(sent, seen).then_some(rows)
    })
    .unwrap_or_else(|| panic!("the recorder never stored tcpdump's {seen} B"));
    let python = stored
        .iter()
        .find(|r| r.uid == 0 && r.app.starts_with("/usr/bin/python3"))
        .unwrap();
    let name = python.display_name.clone();
    eprintln!("stored: {python:?}");

    let desktop = Desktop::start();
    let scratch = tempfile::tempdir().unwrap();
    let dump = scratch.path().join("shown.txt");
    let shown = || std::fs::read_to_string(&dump).unwrap_or_default();
    let mut app = desktop.app(&binary, &bus.address, &dump);
    let mut last = String::new();
    let row = fixture::poll(Duration::from_secs(40), || {
        last = shown();
        last.lines()
            .find(|l| l.starts_with(&format!("row\t{name}\t")))
            .map(str::to_owned)
    })
    .unwrap_or_else(|| panic!("{name} never appeared in the History tab: {last}"));
    eprintln!("shown: {row}");
    let subtitle = row.split('\t').nth(2).unwrap_or_default();
    // The tab rounds to three digits (2.7 MB): tcpdump's bytes within 2 %, plus that.
    for arrow in ["↓", "↑"] {
        let amount = amount_after(subtitle, arrow)
            .unwrap_or_else(|| panic!("no {arrow} amount in {subtitle:?}"));
        assert!(
            (amount - seen as f64).abs() <= seen as f64 * 0.02 + 50_000.0,
            "{arrow} {amount} B shown, tcpdump saw {seen} B: {row}"
        );
    }
    assert!(shown().contains("page\ton\n"), "{}", shown());
    std::thread::sleep(Duration::from_millis(800));
    desktop.screenshot("history-real-recorder.png");

    // The recorder stops: the tab offers to turn history on again.
    drop(recorder);
    assert!(
        fixture::poll(Duration::from_secs(15), || shown()
            .contains("page\toff\n")
            .then_some(()))
        .is_some(),
        "the tab never went back to off: {}",
        shown()
    );
    assert!(
        shown().contains("button\tTurn On History…\n"),
        "{}",
        shown()
    );
    desktop.quit(&mut app);
}

#[test]
fn amounts_parse_as_the_app_prints_them() {
    assert_eq!(parse_amount("3.2 MB"), Some(3_200_000.0));
    assert_eq!(parse_amount("812 kB"), Some(812_000.0));
    assert_eq!(parse_amount("17 B"), Some(17.0));
    assert_eq!(parse_amount("3.2 MiB"), None);
    assert_eq!(amount_after("↓ 2.7 MB · ↑ 2.6 MB", "↑"), Some(2_600_000.0));
}
