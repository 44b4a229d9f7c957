//! The app's preferences, stored in GSettings when its schema can be found, else kept in
//! memory with the schema's defaults (plain `cargo run` from a build tree without the schema).

use gtk::gio;
use gtk::gio::prelude::*;
use std::cell::RefCell;

use crate::format::Units;

/// Schema id; shared by the default and the development profile.
pub const SCHEMA_ID: &str = "io.github.sockeye.Sockeye";

/// The refresh intervals the preferences offer, in milliseconds.
pub const REFRESH_INTERVALS_MS: [u32; 4] = [500, 1000, 2000, 5000];

/// A snapshot of every preference (the defaults are the schema's).
#[derive(Debug, Clone, PartialEq)]
pub struct Preferences {
    /// Refresh period, in milliseconds.
    pub refresh_interval_ms: u32,
    pub units: Units,
    pub group_by_application: bool,
    pub show_idle: bool,
    /// Ask the DNS server for the names of addresses no DNS answer named (reverse lookups).
    pub look_up_host_names: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            refresh_interval_ms: 1000,
            units: Units::Bytes,
            group_by_application: true,
            show_idle: false,
            look_up_host_names: true,
        }
    }
}

/// Main window geometry, in logical pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowState {
    pub width: i32,
    pub height: i32,
    pub maximized: bool,
}

impl Default for WindowState {
    fn default() -> Self {
        Self {
            width: 1120,
            height: 720,
            maximized: false,
        }
    }
}

/// Preferences storage: GSettings when available, otherwise this process's memory.
#[derive(Debug)]
pub struct Settings {
    gsettings: Option<gio::Settings>,
    memory: RefCell<(Preferences, WindowState)>,
}

impl Default for Settings {
    fn default() -> Self {
        Self::open()
    }
}

impl Settings {
    /// Opens the installed schema, or the compiled copy next to the build, or none.
    pub fn open() -> Self {
        Self {
            gsettings: lookup_schema().map(|schema| {
                gio::Settings::new_full(&schema, None::<&gio::SettingsBackend>, None)
            }),
            memory: RefCell::default(),
        }
    }

    /// Whether the values are persisted (a schema was found).
    pub fn is_persistent(&self) -> bool {
        self.gsettings.is_some()
    }

    pub fn preferences(&self) -> Preferences {
        match &self.gsettings {
            Some(s) => Preferences {
                refresh_interval_ms: s.uint("refresh-interval").clamp(100, 60_000),
                units: Units::from_nick(&s.string("units")),
                group_by_application: s.boolean("group-by-application"),
                show_idle: s.boolean("show-idle"),
                look_up_host_names: s.boolean("look-up-host-names"),
            },
            None => self.memory.borrow().0.clone(),
        }
    }

    pub fn set_refresh_interval_ms(&self, ms: u32) {
        self.write(
            |p| p.refresh_interval_ms = ms,
            |s| s.set_uint("refresh-interval", ms),
        );
    }

    pub fn set_units(&self, units: Units) {
        self.write(|p| p.units = units, |s| s.set_string("units", units.nick()));
    }

    pub fn set_group_by_application(&self, group: bool) {
        self.write(
            |p| p.group_by_application = group,
            |s| s.set_boolean("group-by-application", group),
        );
    }

    pub fn set_show_idle(&self, show: bool) {
        self.write(|p| p.show_idle = show, |s| s.set_boolean("show-idle", show));
    }

    pub fn set_look_up_host_names(&self, look_up: bool) {
        self.write(
            |p| p.look_up_host_names = look_up,
            |s| s.set_boolean("look-up-host-names", look_up),
        );
    }

    pub fn window_state(&self) -> WindowState {
        match &self.gsettings {
            Some(s) => WindowState {
                width: s.int("window-width"),
                height: s.int("window-height"),
                maximized: s.boolean("window-maximized"),
            },
            None => self.memory.borrow().1,
        }
    }

    pub fn set_window_state(&self, state: WindowState) {
        match &self.gsettings {
            Some(s) => {
                // A failed write (read-only backend) only loses the window size.
                let _ = s.set_int("window-width", state.width);
                let _ = s.set_int("window-height", state.height);
                let _ = s.set_boolean("window-maximized", state.maximized);
            }
            None => self.memory.borrow_mut().1 = state,
        }
    }

    fn write(
        &self,
        in_memory: impl FnOnce(&mut Preferences),
        persisted: impl FnOnce(&gio::Settings) -> Result<(), gtk::glib::BoolError>,
    ) {
        match &self.gsettings {
            Some(s) => {
                if let Err(err) = persisted(s) {
                    eprintln!("sockeye: could not save a preference: {err}");
                }
            }
            None => in_memory(&mut self.memory.borrow_mut().0),
        }
    }
}

/// The installed schema, else the copy `build.rs` compiled (only exists in a build tree).
fn lookup_schema() -> Option<gio::SettingsSchema> {
    if let Some(found) =
        gio::SettingsSchemaSource::default().and_then(|src| src.lookup(SCHEMA_ID, true))
    {
        return Some(found);
    }
    let dir = concat!(env!("OUT_DIR"), "/schemas");
    if !std::path::Path::new(dir).join("gschemas.compiled").exists() {
        return None;
    }
    let parent = gio::SettingsSchemaSource::default();
    gio::SettingsSchemaSource::from_directory(dir, parent.as_ref(), false)
        .ok()
        .and_then(|src| src.lookup(SCHEMA_ID, false))
}
