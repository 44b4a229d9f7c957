//! Sockeye's GUI crate as a library, so integration tests can drive the launcher and the
//! models without a display. The binary (`main.rs`) only dispatches.
//!
//! ```text
//! app ──► window ─┬─ overview   (/proc/net/dev, /proc/net/netstat; no privileges)
//!  │       (Page) ├─ network    (helper via launcher; processes, hosts, details, search)
//!  │              ├─ history    (recorder on the system bus; chart, apps, export)
//!  │              ├─ preferences, about, settings (GSettings or in-memory)
//!  │              └─ stats_export   (io.github.sockeye.Stats1 on the session bus)
//!  └─ resources: style.css, gtk/help-overlay.ui, ui/*.ui templates (read through `ui`)
//! launcher  starts sockeye-helper (directly, pkexec, flatpak-spawn) and connects to it
//! terminal  the --json / --trace modes: the helper's output, no GTK; --history (history::cli)
//! models    headless logic behind the pages, unit-tested without a display
//! format    units and locale number formatting
//! widgets   the rate chart
//! adaptive  where the libadwaita 1.2 and the adw_1_7 (GNOME runtime) builds differ
//! ```
//!
//! Imports point down this tree (and from anywhere to `models`, `format`, `ui`), never back
//! up: `window` knows nothing of `app`, a page nothing of `window`.

pub mod about;
pub mod adaptive;
pub mod app;
pub mod config;
pub mod format;
pub mod history;
pub mod launcher;
pub mod models;
pub mod network;
pub mod overview;
pub mod preferences;
pub mod settings;
pub mod stats_export;
pub mod terminal;
pub mod ui;
pub mod widgets;
pub mod window;
