//! The "waiting for authorization" spinner: `GtkSpinner` (started and stopped by hand) or
//! `AdwSpinner` (animates only while mapped, and scales with its page).

#[cfg_attr(feature = "adw_1_7", path = "spinner/modern.rs")]
#[cfg_attr(not(feature = "adw_1_7"), path = "spinner/legacy.rs")]
mod imp;

pub use imp::Spinner;
