//! The About window (libadwaita 1.2) or dialog (1.5+): one type, [`About`], for both.

#[cfg_attr(feature = "adw_1_7", path = "about/modern.rs")]
#[cfg_attr(not(feature = "adw_1_7"), path = "about/legacy.rs")]
mod imp;

pub use imp::About;
