//! The Network tab's error line (the helper stopped, capture failed) with its Restart
//! button: the template's hand-made bar (a revealer holding an icon, a label and a button)
//! or an `AdwBanner` in its place.

#[cfg_attr(feature = "adw_1_7", path = "error_banner/modern.rs")]
#[cfg_attr(not(feature = "adw_1_7"), path = "error_banner/legacy.rs")]
mod imp;

pub use imp::ErrorBanner;

/// The template's widgets of the error bar.
pub struct ErrorBarWidgets {
    /// Reveals the bar.
    pub revealer: gtk::Revealer,
    /// The sentence.
    pub label: gtk::Label,
    /// "Restart", whose `clicked` handler starts the helper again.
    pub button: gtk::Button,
}
