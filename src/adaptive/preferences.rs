//! The Preferences window (libadwaita 1.2, `ui/preferences.ui`: switches in action rows) or
//! dialog (`adw_1_7`, `ui/preferences-dialog.ui`: `AdwSwitchRow`s). Both templates have the
//! same ids, and their switches the same `active` property, so `crate::preferences` binds
//! them with one code.

#[cfg_attr(feature = "adw_1_7", path = "preferences/modern.rs")]
#[cfg_attr(not(feature = "adw_1_7"), path = "preferences/legacy.rs")]
mod imp;

pub use imp::PreferencesShell;
