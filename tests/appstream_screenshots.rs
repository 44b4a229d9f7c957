//! The AppStream screenshots (data/screenshots, what Flathub and GNOME Software show), taken
//! from the build users get — `--features adw_1_7,fake-helper`, in build-aux/trixie-root,
//! as its `test` runs it — with realistic data: the fake helper's eight applications, each
//! with a desktop file of its own name and icon (Adwaita's full-colour legacy icons), in a
//! window of Flathub's recommended size. Light Network and Overview, and a dark Network.
//!
//! Written to `$SOCKEYE_SCREENSHOT_DIR/appstream/` (copy them to data/screenshots to publish).
//! Needs Xvfb, `import` and `gdbus`: under `CI` it must run, not skip. Built only with the
//! `fake-helper` feature, which build-aux/trixie-root's `test` turns on for it.
#![cfg(feature = "fake-helper")]
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The window's size, in pixels: within what Flathub recommends for screenshots.
const WIDTH: u32 = 1000;
const HEIGHT: u32 = 640;
/// Processes the fake helper invents: each of its applications once.
const PROCESSES: &str = "8";
/// The fake helper's application ids, with the name and icon their desktop files give. The
/// icons are files: by name, Adwaita's monochrome icons would win over the legacy colour ones.
const APPS: [(&str, &str, &str); 7] = [
    ("org.mozilla.firefox", "Firefox", "web-browser"),
    ("org.gnome.Evolution", "Evolution", "mail-send-receive"),
    ("org.telegram.desktop", "Telegram", "applications-internet"),
    (
        "com.github.zocker_160.SyncThingy",
        "Syncthing",
        "preferences-system-sharing",
    ),
    ("org.gnome.Software", "Software", "system-software-install"),
    ("org.gnome.Geary", "Geary", "mail-unread"),
    (
        "com.transmissionbt.Transmission",
        "Transmission",
        "emblem-downloads",
    ),
];
/// Where the full-colour legacy icons are (Debian's adwaita-icon-theme-legacy).
const LEGACY_ICONS: &str = "/usr/share/icons/AdwaitaLegacy/48x48/legacy";

/// Stops and reaps a child when the test ends: SIGTERM, then SIGKILL after two seconds.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let pid = i32::try_from(self.0.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
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

/// Polls `condition` every 100 ms until it holds or `limit` passes.
fn wait_for(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn output_dir() -> PathBuf {
    std::env::var_os("SOCKEYE_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"))
        .join("appstream")
}

/// A home for the app: desktop files with names and icons for the fake applications, and
/// settings giving the window its size.
fn make_home(dir: &Path) {
    let applications = dir.join("data/applications");
    std::fs::create_dir_all(&applications).unwrap();
    for (id, name, icon) in APPS {
        std::fs::write(
            applications.join(format!("{id}.desktop")),
            format!(
                "[Desktop Entry]\nType=Application\nName={name}\nIcon={LEGACY_ICONS}/{icon}.png\nExec=true\n"
            ),
        )
        .unwrap();
    }
    let settings = dir.join("config/glib-2.0/settings");
    std::fs::create_dir_all(&settings).unwrap();
    std::fs::write(
        settings.join("keyfile"),
        format!(
            "[io/github/sockeye/Sockeye]\nwindow-width={WIDTH}\nwindow-height={HEIGHT}\nrefresh-interval=500\n"
        ),
    )
    .unwrap();
}

struct Session {
    display: String,
    bus_address: String,
    home: PathBuf,
    _xvfb: Reaped,
    _bus: Reaped,
}

impl Session {
    fn start(home: &Path) -> Session {
        let first = 700 + std::process::id() % 200;
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
        wait_for(Duration::from_secs(10), "Xvfb", || {
            Path::new(&socket).exists()
        });
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Session {
            display,
            bus_address: line.trim().to_owned(),
            home: home.to_owned(),
            _xvfb: xvfb,
            _bus: Reaped(bus),
        }
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env("DISPLAY", &self.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
            .env("GSETTINGS_BACKEND", "keyfile")
            .env("XDG_CONFIG_HOME", self.home.join("config"))
            .env("XDG_DATA_HOME", self.home.join("data"))
            .env("SOCKEYE_FAKE_HELPER", PROCESSES)
            .env("LANG", "C.UTF-8");
        c
    }

    /// The window (at the screen's top left corner, no window manager) and its shadow.
    fn screenshot(&self, path: &Path) {
        let status = self
            .command("import")
            .args(["-window", "root", "-crop"])
            .arg(format!("{WIDTH}x{HEIGHT}+0+0"))
            .arg(path)
            .status();
        assert!(status.is_ok_and(|s| s.success()), "screenshot {path:?}");
    }

    /// Whether the app's Network tab captures (its `Stats1.Capturing`).
    fn capturing(&self) -> bool {
        self.command("gdbus")
            .args([
                "call",
                "--session",
                "-d",
                "io.github.sockeye.Sockeye",
                "-o",
                "/io/github/sockeye/Stats",
                "-m",
                "org.freedesktop.DBus.Properties.Get",
                "io.github.sockeye.Stats1",
                "Capturing",
            ])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("true"))
    }
}

/// Starts the app on the Network tab with `env`, lets a few updates draw the sparklines,
/// saves `network<suffix>.png`, then (when asked) `overview<suffix>.png`.
fn shoot(session: &Session, dir: &Path, env: &[(&str, &str)], suffix: &str, overview: bool) {
    let app = env!("CARGO_BIN_EXE_sockeye");
    let mut command = session.command(app);
    command
        .args(["--page", "network"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let _app = Reaped(command.spawn().unwrap());
    wait_for(Duration::from_secs(30), "capture to start", || {
        session.capturing()
    });
    // A sparkline's sixty updates of half a second: the charts are full.
    std::thread::sleep(Duration::from_secs(31));
    session.screenshot(&dir.join(format!("network{suffix}.png")));
    if overview {
        let status = session.command(app).args(["--page", "overview"]).status();
        assert!(status.is_ok_and(|s| s.success()));
        std::thread::sleep(Duration::from_secs(3));
        session.screenshot(&dir.join(format!("overview{suffix}.png")));
    }
}

#[test]
fn appstream_screenshots_show_distinct_applications() {
    let runnable = Command::new("Xvfb").arg("-help").output().is_ok();
    assert!(
        runnable || std::env::var_os("CI").is_none(),
        "CI must run this with Xvfb"
    );
    if !runnable {
        eprintln!("skipped: needs Xvfb");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    make_home(home.path());
    let dir = output_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let session = Session::start(home.path());
    shoot(&session, &dir, &[], "", true);
    shoot(
        &session,
        &dir,
        &[("ADW_DEBUG_COLOR_SCHEME", "prefer-dark")],
        "-dark",
        false,
    );
    for name in ["network.png", "overview.png", "network-dark.png"] {
        let size = std::fs::metadata(dir.join(name))
            .map(|m| m.len())
            .unwrap_or(0);
        // A blank or failed grab is a few kB; a window with rows and charts is far more.
        assert!(size > 20_000, "{name} is {size} bytes: nothing drawn?");
    }
}
