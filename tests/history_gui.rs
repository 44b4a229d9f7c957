//! The History tab end to end under Xvfb, with a fake recorder on a private bus that the app
//! takes for its system bus: with no recorder the tab offers "Turn On History…"; once the
//! recorder's name gets an owner the tab shows, live, a known app with its bytes; "Export…"
//! writes the period's rows as CSV; when the name loses its owner the tab goes back to off.
//! Saves screenshots (light, dark, narrow) in `$SOCKEYE_SCREENSHOT_DIR`.
//!
//! The app binary is `$SOCKEYE_E2E_BIN`, else the one cargo built. Skipped (with a message)
//! when Xvfb is missing, except under CI.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_recorder;

use fake_recorder::{realistic, this_hour, usage, FakeRecorder, PrivateBus, Recorded};
use sockeye_protocol::recorder::{UsageRow, OTHER_USERS_APP, SYSTEM_APP};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TZ: &str = "Europe/Berlin";
/// The known app the test looks for, and its bytes in the current hour.
const KNOWN_APP: &str = "org.example.KnownApp";
const KNOWN_NAME: &str = "Known App";
const KNOWN_RECEIVED: u64 = 23_456_789;
const KNOWN_SENT: u64 = 2_345_678;

/// Stops and reaps a child when the test ends: SIGTERM, then SIGKILL after two seconds.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(pid) = i32::try_from(self.0.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(2) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for<T>(limit: Duration, what: &str, mut condition: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = condition() {
            return value;
        }
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn app_binary() -> PathBuf {
    std::env::var_os("SOCKEYE_E2E_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_sockeye")))
}

fn app_id() -> String {
    std::env::var("SOCKEYE_E2E_APP_ID").unwrap_or_else(|_| "io.github.sockeye.Sockeye".into())
}

fn screenshot_dir() -> PathBuf {
    std::env::var_os("SOCKEYE_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"))
}

/// An X server, a session bus and a private bus playing the system bus.
struct Desktop {
    display: String,
    session: PrivateBus,
    system: PrivateBus,
    _xvfb: Reaped,
}

impl Desktop {
    fn start() -> Self {
        let first = 200 + std::process::id() % 500 + 50;
        let number = (first..first + 100)
            .find(|n| !Path::new(&format!("/tmp/.X{n}-lock")).exists())
            .expect("a free X display number");
        let display = format!(":{number}");
        let xvfb = Reaped(
            Command::new("Xvfb")
                .args([&display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start Xvfb"),
        );
        let socket = format!("/tmp/.X11-unix/X{number}");
        wait_for(Duration::from_secs(10), "Xvfb", || {
            Path::new(&socket).exists().then_some(())
        });
        Self {
            display,
            session: PrivateBus::start(),
            system: PrivateBus::start(),
            _xvfb: xvfb,
        }
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env("DISPLAY", &self.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.session.address)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.system.address)
            .env("GSETTINGS_BACKEND", "memory")
            .env("TZ", TZ)
            .env("LC_ALL", "C.UTF-8")
            .env("LANGUAGE", "C");
        c
    }

    fn screenshot(&self, name: &str) {
        let dir = screenshot_dir();
        let _ = std::fs::create_dir_all(&dir);
        let status = self
            .command("import")
            .args(["-window", "root"])
            .arg(dir.join(name))
            .status();
        assert!(status.is_ok_and(|s| s.success()), "screenshot {name}");
    }

    /// Activates a window action of the app through `org.gtk.Actions`.
    fn window_action(&self, action: &str) {
        self.activate(action, "[]");
    }

    /// Activates a window action with a GVariant text parameter, e.g. `'today'`.
    fn window_action_with(&self, action: &str, parameter: &str) {
        self.activate(action, &format!("[<{parameter}>]"));
    }

    fn activate(&self, action: &str, parameters: &str) {
        let path = format!("/{}/window/1", app_id().replace('.', "/"));
        let status = self
            .command("gdbus")
            .args(["call", "--session", "-d", &app_id(), "-o", &path, "-m"])
            .args(["org.gtk.Actions.Activate", action, parameters, "{}"])
            .stdout(Stdio::null())
            .status();
        assert!(status.is_ok_and(|s| s.success()), "activate win.{action}");
    }

    fn quit(&self, app: &mut Reaped) {
        let path = format!("/{}", app_id().replace('.', "/"));
        let _ = self
            .command("gdbus")
            .args(["call", "--session", "-d", &app_id(), "-o", &path, "-m"])
            .args(["org.gtk.Actions.Activate", "quit", "[]", "{}"])
            .output();
        wait_for(Duration::from_secs(10), "the app to exit", || {
            app.0.try_wait().ok().flatten()
        });
    }
}

/// The tab as the app last rendered it (`SOCKEYE_TEST_HISTORY_DUMP`).
fn shown(dump: &Path) -> String {
    std::fs::read_to_string(dump).unwrap_or_default()
}

/// The realistic rows plus the known app in the current hour.
fn recorded() -> Recorded {
    let uid = rustix::process::getuid().as_raw();
    let mut recorded = realistic(uid);
    recorded.rows.push(usage(
        this_hour(),
        KNOWN_APP,
        KNOWN_NAME,
        uid,
        KNOWN_SENT,
        KNOWN_RECEIVED,
    ));
    recorded
}

/// What the CSV export of today must hold, written here independently of the app's code.
fn expected_csv(rows: &[UsageRow]) -> String {
    let tz = gtk::glib::TimeZone::from_identifier(Some(TZ)).unwrap();
    let now = gtk::glib::DateTime::now(&tz).unwrap();
    let midnight =
        gtk::glib::DateTime::new(&tz, now.year(), now.month(), now.day_of_month(), 0, 0, 0.0)
            .unwrap()
            .to_unix() as u64;
    let mut today: Vec<&UsageRow> = rows.iter().filter(|r| r.bucket_start >= midnight).collect();
    today.sort_by(|a, b| (a.bucket_start, &a.app, a.uid).cmp(&(b.bucket_start, &b.app, b.uid)));
    let mut csv = String::from("bucket_start,app,name,uid,received_bytes,sent_bytes\r\n");
    for r in today {
        let start = gtk::glib::DateTime::from_unix_utc(r.bucket_start as i64)
            .unwrap()
            .to_timezone(&tz)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .unwrap();
        let name = match r.app.as_str() {
            OTHER_USERS_APP => "Other Users",
            SYSTEM_APP => "System",
            _ => &r.display_name,
        };
        csv.push_str(&format!(
            "{start},{},{name},{},{},{}\r\n",
            r.app, r.uid, r.received_bytes, r.sent_bytes
        ));
    }
    csv
}

#[test]
fn history_tab_follows_the_recorder_and_exports_what_it_shows() {
    let runnable = Command::new("Xvfb").arg("-help").output().is_ok();
    assert!(
        runnable || std::env::var_os("CI").is_none(),
        "CI must run this with Xvfb"
    );
    if !runnable {
        eprintln!("skipped: needs Xvfb");
        return;
    }
    std::env::set_var("TZ", TZ);
    let desktop = Desktop::start();
    let scratch = tempfile::tempdir().unwrap();
    let dump = scratch.path().join("shown.txt");
    let export = scratch.path().join("export.csv");
    // A stand-in `sockeye-recorder` that notes what it was asked to do. As root the app runs
    // it directly; otherwise it would go through pkexec, which needs an agent.
    let calls = scratch.path().join("recorder-calls");
    let stand_in = scratch.path().join("sockeye-recorder");
    std::fs::write(
        &stand_in,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", calls.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &stand_in,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut app = Reaped(
        desktop
            .command(app_binary())
            .args(["--page", "history"])
            .env("SOCKEYE_TEST_HISTORY_DUMP", &dump)
            .env("SOCKEYE_TEST_HISTORY_EXPORT", &export)
            .env("SOCKEYE_RECORDER", &stand_in)
            .stdout(Stdio::null())
            .spawn()
            .expect("start the app"),
    );

    // No recorder: the status page with its button.
    wait_for(Duration::from_secs(30), "the Turn On state", || {
        let text = shown(&dump);
        (text.contains("page\toff\n") && text.contains("button\tTurn On History…\n")).then_some(())
    });
    desktop.screenshot("history-off.png");

    // "Turn On History…" runs the recorder's fixed command (directly, as root here).
    if rustix::process::geteuid().is_root() {
        desktop.window_action("history-turn-on");
        wait_for(
            Duration::from_secs(10),
            "the stand-in recorder's call",
            || {
                std::fs::read_to_string(&calls)
                    .ok()
                    .filter(|c| c == "--enable-service\n")
            },
        );
    }

    // The recorder starts: the tab follows without being asked.
    let recorded = recorded();
    let rows = recorded.rows.clone();
    let mut recorder = FakeRecorder::serve(&desktop.system.address, recorded);
    let row = wait_for(Duration::from_secs(30), "the known app in the list", || {
        shown(&dump)
            .lines()
            .find(|l| l.starts_with(&format!("row\t{KNOWN_NAME}\t")))
            .map(str::to_owned)
    });
    assert!(shown(&dump).contains("page\ton\n"));
    // The app's own units: 23,456,789 B is 23.5 MB, 2,345,678 B 2.3 MB.
    assert!(
        row.contains("↓ 23.5 MB") && row.contains("↑ 2.3 MB"),
        "{row}"
    );
    assert!(
        shown(&dump).contains("row\tOther Users\t"),
        "{}",
        shown(&dump)
    );
    std::thread::sleep(Duration::from_secs(1));
    desktop.screenshot("history.png");

    // Export… writes the visible period's rows.
    desktop.window_action("history-export");
    // Complete once it ends a line: the file may be seen between its creation and the write.
    let csv = wait_for(Duration::from_secs(10), "the export", || {
        std::fs::read_to_string(&export)
            .ok()
            .filter(|text| text.ends_with("\r\n"))
    });
    assert_eq!(csv, expected_csv(&rows));

    // Live: the current hour grows, and the tab shows it within its refresh period.
    {
        let mut recorded = recorder.recorded.lock().unwrap();
        let known = recorded
            .rows
            .iter_mut()
            .rev()
            .find(|r| r.app == KNOWN_APP)
            .unwrap();
        known.received_bytes += 10_000_000;
    }
    wait_for(Duration::from_secs(25), "the current hour to grow", || {
        shown(&dump)
            .contains(&format!("row\t{KNOWN_NAME}\t↓ 33.5 MB"))
            .then_some(())
    });

    // One app: its executables.
    desktop.window_action_with("history-app", "'org.mozilla.firefox'");
    wait_for(Duration::from_secs(10), "Firefox's executables", || {
        let text = shown(&dump);
        (text.contains("row\tfirefox\t") && text.contains("row\tfirefox-bin\t")).then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    desktop.screenshot("history-app.png");
    desktop.window_action_with("history-app", "''");

    // Days: the last seven, with yesterday's use.
    desktop.window_action_with("history-period", "'last-7-days'");
    wait_for(Duration::from_secs(10), "the last 7 days", || {
        let text = shown(&dump);
        (text.contains("row\tFirefox\t") && !text.contains("title\tToday\n")).then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    desktop.screenshot("history-week.png");

    // "Turn Off History" runs the other fixed command; the recorder then gives its name up.
    if rustix::process::geteuid().is_root() {
        desktop.window_action("history-turn-off");
        wait_for(Duration::from_secs(10), "the turn-off call", || {
            std::fs::read_to_string(&calls)
                .ok()
                .filter(|c| c == "--enable-service\n--disable-service\n")
        });
    }
    recorder.stop();
    wait_for(Duration::from_secs(10), "the Turn On state again", || {
        shown(&dump).contains("page\toff\n").then_some(())
    });
    desktop.quit(&mut app);

    // In a Flatpak there is no button: the tab says what turning history on needs.
    let flatpak_info = scratch.path().join("flatpak-info");
    std::fs::write(
        &flatpak_info,
        "[Application]\nname=io.github.sockeye.Sockeye\n",
    )
    .unwrap();
    let _ = std::fs::remove_file(&dump);
    let mut app = Reaped(
        desktop
            .command(app_binary())
            .args(["--page", "history"])
            .env("SOCKEYE_TEST_HISTORY_DUMP", &dump)
            .env("SOCKEYE_FLATPAK_INFO", &flatpak_info)
            .stdout(Stdio::null())
            .spawn()
            .expect("start the app"),
    );
    wait_for(Duration::from_secs(30), "the Flatpak's off state", || {
        shown(&dump).contains("page\toff\n").then_some(())
    });
    assert!(!shown(&dump).contains("button\t"), "{}", shown(&dump));
    std::thread::sleep(Duration::from_secs(1));
    desktop.screenshot("history-off-flatpak.png");
    desktop.quit(&mut app);

    // Dark and narrow, with the recorder running again.
    let _recorder = FakeRecorder::serve(&desktop.system.address, recorded_again());
    screenshot_session(
        &desktop,
        &[("ADW_DEBUG_COLOR_SCHEME", "prefer-dark")],
        "-dark",
    );
    let config = tempfile::tempdir().unwrap();
    let keyfile = config.path().join("glib-2.0/settings");
    std::fs::create_dir_all(&keyfile).unwrap();
    std::fs::write(
        keyfile.join("keyfile"),
        "[io/github/sockeye/Sockeye]\nwindow-width=360\nwindow-height=720\n",
    )
    .unwrap();
    let config_home = config.path().to_string_lossy().into_owned();
    screenshot_session(
        &desktop,
        &[
            ("GSETTINGS_BACKEND", "keyfile"),
            ("XDG_CONFIG_HOME", &config_home),
        ],
        "-narrow",
    );
}

fn recorded_again() -> Recorded {
    recorded()
}

/// Starts the app on the History tab with `env`, waits for the known app, saves
/// `history<suffix>.png`, quits.
fn screenshot_session(desktop: &Desktop, env: &[(&str, &str)], suffix: &str) {
    let scratch = tempfile::tempdir().unwrap();
    let dump = scratch.path().join("shown.txt");
    let mut command = desktop.command(app_binary());
    command
        .args(["--page", "history"])
        .env("SOCKEYE_TEST_HISTORY_DUMP", &dump)
        .stdout(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut app = Reaped(command.spawn().expect("start the app"));
    wait_for(Duration::from_secs(30), "the known app", || {
        shown(&dump)
            .contains(&format!("row\t{KNOWN_NAME}\t"))
            .then_some(())
    });
    std::thread::sleep(Duration::from_millis(800));
    desktop.screenshot(&format!("history{suffix}.png"));
    desktop.quit(&mut app);
}
