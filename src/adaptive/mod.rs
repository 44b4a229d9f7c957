//! Where the two GUI builds differ, one module per difference: the default build uses
//! libadwaita 1.2 and GTK 4.8 (Debian 12), the `adw_1_7` build (the Flatpak on the GNOME 48
//! runtime, and build-aux/trixie-root) today's widgets. Each module picks its `legacy.rs` or
//! `modern.rs` with one `cfg` and gives both the same small API, so the views above never
//! test the feature themselves.
//!
//! ```text
//! adaptive
//! ├─ about         AdwAboutWindow        │ AdwAboutDialog
//! ├─ preferences   AdwPreferencesWindow, │ AdwPreferencesDialog, AdwSwitchRow
//! │                GtkSwitch in a row    │
//! ├─ switcher      AdwViewSwitcherTitle  │ AdwViewSwitcher, bottom bar at the
//! │                                      │ breakpoint
//! ├─ toolbar       GtkBox of bars        │ AdwToolbarView (top and bottom bars)
//! ├─ error_banner  GtkRevealer with a    │ AdwBanner
//! │                label and a button    │
//! ├─ details_split GtkRevealer beside the  │ AdwOverlaySplitView, collapsed over the
//! │                table                 │ table at the breakpoint
//! ├─ spinner       GtkSpinner            │ AdwSpinner
//! ├─ confirm       AdwMessageDialog      │ AdwAlertDialog
//! ├─ save_file     GtkFileChooserNative  │ GtkFileDialog
//! └─ narrow        the window's width,   │ AdwBreakpoint (max-width 600sp)
//!                  read on resize        │
//!                  legacy.rs               modern.rs
//! ```

pub mod about;
pub mod confirm;
pub mod details_split;
pub mod error_banner;
pub mod narrow;
pub mod preferences;
pub mod save_file;
pub mod spinner;
pub mod switcher;
pub mod toolbar;
